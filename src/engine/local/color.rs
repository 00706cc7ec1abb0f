//! Colour spaces: sRGB <-> linear light, and CIELAB for perceptual distances.
//!
//! The cut decision compares colours the way the eye does (Lab), while unmixing, shadows
//! and white balance are physical and happen in linear light.

use std::sync::OnceLock;

/// sRGB byte -> linear light in [0, 1], by table (the hot loops see every pixel).
pub fn srgb_to_linear_lut() -> &'static [f32; 256] {
    static LUT: OnceLock<[f32; 256]> = OnceLock::new();
    LUT.get_or_init(|| {
        let mut t = [0.0f32; 256];
        for (i, v) in t.iter_mut().enumerate() {
            *v = srgb_to_linear(i as f32 / 255.0);
        }
        t
    })
}

pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

pub fn linear_to_srgb(c: f32) -> f32 {
    let c = c.clamp(0.0, 1.0);
    if c <= 0.003_130_8 { c * 12.92 } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 }
}

/// Linear sRGB byte-value (0..255 float, any precision) -> linear [0,1] via the table.
#[inline]
pub fn lin_of(v: f32) -> f32 {
    let lut = srgb_to_linear_lut();
    let i = v.clamp(0.0, 255.0);
    let i0 = i as usize;
    let i1 = (i0 + 1).min(255);
    let t = i - i0 as f32;
    lut[i0] * (1.0 - t) + lut[i1] * t
}

/// Relative luminance of linear RGB.
#[inline]
pub fn luminance(lin: [f32; 3]) -> f32 {
    0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
}

/// Linear RGB in [0,1] -> CIELAB (D65).
#[inline]
pub fn linear_to_lab(lin: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = lin;
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| if t > 0.008_856 { fast_cbrt(t) } else { 7.787 * t + 16.0 / 116.0 };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Cube root for positive inputs: exponent trick plus two Newton steps (relative error
/// about 1e-5), several times faster than libm's, and Lab needs three per pixel.
#[inline]
fn fast_cbrt(x: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = f32::from_bits(x.to_bits() / 3 + 709_921_077);
    y -= (y * y * y - x) / (3.0 * y * y);
    y -= (y * y * y - x) / (3.0 * y * y);
    y
}

#[inline]
pub fn delta_e(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d0 = a[0] - b[0];
    let d1 = a[1] - b[1];
    let d2 = a[2] - b[2];
    (d0 * d0 + d1 * d1 + d2 * d2).sqrt()
}

/// Darkest a cast shadow is assumed to make the backdrop (fraction of its luminance).
pub const DARKEST_SHADOW: f32 = 0.15;

/// Below this Lab distance a pixel is backdrop whatever the shadow analysis says.
pub const SURELY_BACKDROP: f32 = 3.0;

/// Perceptual distance of a pixel to the backdrop, forgiving a cast shadow: the pixel is
/// compared with the backdrop dimmed to the pixel's luminance, plus a small cost for the
/// dimming. A shadow (same chromaticity, darker) therefore stays "background", while a
/// coloured or very dark product does not.
#[inline]
pub fn shadow_aware_distance(pixel_lin: [f32; 3], pixel_lab: [f32; 3], bg_lin: [f32; 3], bg_lab: [f32; 3]) -> f32 {
    let plain = delta_e(pixel_lab, bg_lab);
    if plain < SURELY_BACKDROP {
        return plain;
    }
    let yp = luminance(pixel_lin);
    let yb = luminance(bg_lin).max(1e-4);
    let s = yp / yb;
    if !(DARKEST_SHADOW..1.0).contains(&s) {
        return plain;
    }
    let dimmed = linear_to_lab([bg_lin[0] * s, bg_lin[1] * s, bg_lin[2] * s]);
    // A shadow keeps the backdrop's chromaticity; an off-white product does not, so
    // chroma differences count double here.
    let dl = pixel_lab[0] - dimmed[0];
    let da = 2.0 * (pixel_lab[1] - dimmed[1]);
    let db = 2.0 * (pixel_lab[2] - dimmed[2]);
    ((dl * dl + da * da + db * db).sqrt() + (1.0 - s)).min(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_cube_root_is_accurate() {
        for x in [1e-4f32, 0.01, 0.2, 0.5, 0.9, 1.0] {
            assert!((fast_cbrt(x) - x.cbrt()).abs() < 1e-5 * x.cbrt().max(1.0), "{x}");
        }
    }
}
