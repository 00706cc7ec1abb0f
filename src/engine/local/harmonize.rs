//! A partial colour and white-balance match of the product to the scene.
//!
//! The product should look lit by the scene's light, but it must keep its own colour: a
//! red bottle stays red. So only the scene's illuminant cast (its deviation from neutral)
//! and a fraction of the exposure difference are applied, with tight limits, and never
//! anything derived from the product's own hue.

use super::color::{linear_to_srgb, luminance, srgb_to_linear_lut};

/// How much of the scene's colour cast the product takes on.
const CAST_SHARE: f32 = 0.3;
/// How much of the exposure difference is corrected.
const EXPOSURE_SHARE: f32 = 0.25;

/// Per-channel lookup tables applying the grade to sRGB bytes.
pub struct Grade {
    pub lut: [[u8; 256]; 3],
}

/// `scene_lin` and `product_lin`: mean linear RGB of the scene around the product and of
/// the product (alpha-weighted).
pub fn grade(scene_lin: [f32; 3], product_lin: [f32; 3]) -> Grade {
    let scene_y = luminance(scene_lin).max(1e-4);
    let product_y = luminance(product_lin).max(1e-4);
    let exposure = (scene_y / product_y).powf(EXPOSURE_SHARE).clamp(0.88, 1.12);
    let mean = (scene_lin[0] + scene_lin[1] + scene_lin[2]) / 3.0;
    let mut gains = [1.0f32; 3];
    for (c, g) in gains.iter_mut().enumerate() {
        let cast = if mean > 1e-4 { scene_lin[c] / mean } else { 1.0 };
        *g = (cast.powf(CAST_SHARE)).clamp(0.93, 1.07) * exposure;
    }
    let to_lin = srgb_to_linear_lut();
    let mut lut = [[0u8; 256]; 3];
    for c in 0..3 {
        for v in 0..256 {
            lut[c][v] = (linear_to_srgb(to_lin[v] * gains[c]) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    Grade { lut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blue_scene_never_turns_a_red_product_blue() {
        let g = grade([0.1, 0.2, 0.6], [0.6, 0.05, 0.05]);
        // Red stays dominant in a saturated red pixel.
        let (r, b) = (g.lut[0][220], g.lut[2][30]);
        assert!(r > 190 && b < 60, "r={r} b={b}");
    }
}
