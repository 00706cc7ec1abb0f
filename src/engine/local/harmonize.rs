//! A partial colour and white-balance match of the product to the scene.
//!
//! The product should look lit by the scene's light, but it must keep its own colour: a
//! red bottle stays red, a white box stays white. So only the scene's illuminant cast (its
//! deviation from neutral) and a fraction of the exposure difference are applied, with
//! tight limits, and never anything derived from the product's own hue. The cast is
//! further bounded by what it does to a neutral: shrunk until no grey of the product
//! gains more than [`NEUTRAL_CHROMA`] of chroma, which keeps whites and greys neutral to
//! the eye on an orange or a blue scene while the product still leans to the scene's
//! white balance. Per-channel gains this small keep saturated colours' hues.

use super::color::{linear_to_lab, linear_to_srgb, luminance, srgb_to_linear_lut};

/// How much of the scene's colour cast the product takes on (before the neutral bound).
const CAST_SHARE: f32 = 0.3;
/// How much of the exposure difference is corrected.
const EXPOSURE_SHARE: f32 = 0.25;
/// Most CIELAB chroma (C*ab) the grade may give a neutral grey of the product: below the
/// usual just-noticeable colour difference (about 2.3), so a white stays white.
pub const NEUTRAL_CHROMA: f32 = 1.5;
/// The greys (sRGB levels) the neutral bound is checked on: shadows to highlights.
const NEUTRAL_PROBES: [u8; 10] = [20, 40, 60, 90, 128, 160, 200, 230, 245, 255];
/// Bisection steps for the cast's share under the neutral bound (2^-12 precision).
const BOUND_STEPS: usize = 12;

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
    let mut cast = [1.0f32; 3];
    for (c, g) in cast.iter_mut().enumerate() {
        let ratio = if mean > 1e-4 { scene_lin[c] / mean } else { 1.0 };
        *g = ratio.powf(CAST_SHARE).clamp(0.93, 1.07);
    }
    // The cast tints, it does not brighten: that is the exposure's job.
    let cast_y = luminance(cast).max(1e-4);
    let cast = cast.map(|g| g / cast_y);
    let with_share = |share: f32| cast.map(|g| (1.0 + share * (g - 1.0)) * exposure);
    let share = if neutral_chroma(&tables(with_share(1.0))) <= NEUTRAL_CHROMA {
        1.0
    } else {
        // The exposure alone keeps greys grey (up to rounding), so a share exists.
        let (mut lo, mut hi) = (0.0f32, 1.0f32);
        for _ in 0..BOUND_STEPS {
            let mid = 0.5 * (lo + hi);
            if neutral_chroma(&tables(with_share(mid))) <= NEUTRAL_CHROMA { lo = mid } else { hi = mid }
        }
        lo
    };
    Grade { lut: tables(with_share(share)) }
}

fn tables(gains: [f32; 3]) -> [[u8; 256]; 3] {
    let to_lin = srgb_to_linear_lut();
    let mut lut = [[0u8; 256]; 3];
    for c in 0..3 {
        for v in 0..256 {
            lut[c][v] = (linear_to_srgb(to_lin[v] * gains[c]) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    lut
}

/// The most chroma the tables give any probe grey (as bytes, so rounding counts).
fn neutral_chroma(lut: &[[u8; 256]; 3]) -> f32 {
    NEUTRAL_PROBES.iter().map(|&v| chroma(lut.map(|t| t[v as usize]))).fold(0.0, f32::max)
}

/// CIELAB chroma of an sRGB byte triple.
pub fn chroma(rgb: [u8; 3]) -> f32 {
    let lut = srgb_to_linear_lut();
    let [_, a, b] = linear_to_lab(rgb.map(|v| lut[v as usize]));
    a.hypot(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIELAB hue angle of an sRGB byte triple, in degrees.
    fn hue(rgb: [u8; 3]) -> f32 {
        let lut = srgb_to_linear_lut();
        let [_, a, b] = linear_to_lab(rgb.map(|v| lut[v as usize]));
        b.atan2(a).to_degrees()
    }

    fn apply(g: &Grade, rgb: [u8; 3]) -> [u8; 3] {
        [g.lut[0][rgb[0] as usize], g.lut[1][rgb[1] as usize], g.lut[2][rgb[2] as usize]]
    }

    const ORANGE: [f32; 3] = [0.6, 0.25, 0.05];
    const BLUE: [f32; 3] = [0.08, 0.18, 0.6];

    #[test]
    fn a_blue_scene_never_turns_a_red_product_blue() {
        let g = grade([0.1, 0.2, 0.6], [0.6, 0.05, 0.05]);
        // Red stays dominant in a saturated red pixel.
        let (r, b) = (g.lut[0][220], g.lut[2][30]);
        assert!(r > 190 && b < 60, "r={r} b={b}");
    }

    #[test]
    fn whites_and_greys_stay_neutral_on_warm_and_cool_scenes() {
        for scene in [ORANGE, BLUE, [0.5, 0.5, 0.2], [0.02, 0.3, 0.05]] {
            for product in [[0.9f32, 0.9, 0.9], [0.2, 0.2, 0.2], [0.5, 0.1, 0.1]] {
                let g = grade(scene, product);
                for v in [20u8, 60, 128, 200, 245, 255] {
                    let c = chroma(apply(&g, [v, v, v]));
                    assert!(c <= NEUTRAL_CHROMA + 0.3, "{scene:?} {product:?} grey {v}: chroma {c}");
                }
            }
        }
    }

    #[test]
    fn the_scene_still_leans_the_grade_its_way() {
        // Moderately: a warm scene warms a mid grey a little, a cool one cools it.
        let warm = apply(&grade(ORANGE, [0.3, 0.3, 0.3]), [128, 128, 128]);
        let cool = apply(&grade(BLUE, [0.3, 0.3, 0.3]), [128, 128, 128]);
        assert!(warm[0] > warm[2], "{warm:?}");
        assert!(cool[2] > cool[0], "{cool:?}");
    }

    #[test]
    fn saturated_colours_keep_their_hue() {
        for scene in [ORANGE, BLUE] {
            let g = grade(scene, [0.3, 0.3, 0.3]);
            for rgb in [[200u8, 30, 30], [30, 160, 60], [40, 60, 200], [230, 200, 40], [150, 40, 160]] {
                let shift = (hue(apply(&g, rgb)) - hue(rgb) + 540.0) % 360.0 - 180.0;
                assert!(shift.abs() < 3.0, "{scene:?} {rgb:?}: hue moved {shift:.2} degrees");
            }
        }
    }
}
