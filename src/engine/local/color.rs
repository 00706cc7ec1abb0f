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
    let [x, y, z] = xyz(lin);
    lab_of_f(lab_f(x), lab_f(y), lab_f(z))
}

/// Linear RGB -> CIE XYZ relative to the D65 white (so white is 1, 1, 1).
#[inline(always)]
fn xyz([r, g, b]: [f32; 3]) -> [f32; 3] {
    [
        (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47,
        0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b,
        (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83,
    ]
}

/// Below this XYZ value Lab's transfer function is linear instead of a cube root.
const LAB_KNEE: f32 = 0.008_856;

/// Lab's transfer function. Branch-free (a select), so loops over rows vectorize.
#[inline(always)]
fn lab_f(t: f32) -> f32 {
    let root = fast_cbrt(t.max(LAB_KNEE));
    if t > LAB_KNEE { root } else { 7.787 * t + 16.0 / 116.0 }
}

#[inline(always)]
fn lab_of_f(fx: f32, fy: f32, fz: f32) -> [f32; 3] {
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Lab of a row of linear RGB pixels given as planes (`out` = L, a, b planes); written
/// as a plain loop over equal-length slices so the compiler vectorizes it.
#[inline(always)]
pub fn linear_to_lab_row(lin: [&[f32]; 3], out: [&mut [f32]; 3]) {
    let [r, g, b] = lin;
    let [l, a, bb] = out;
    let n = r.len().min(g.len()).min(b.len()).min(l.len()).min(a.len()).min(bb.len());
    let (r, g, b) = (&r[..n], &g[..n], &b[..n]);
    let (l, a, bb) = (&mut l[..n], &mut a[..n], &mut bb[..n]);
    for i in 0..n {
        let [x, y, z] = xyz([r[i], g[i], b[i]]);
        let [vl, va, vb] = lab_of_f(lab_f(x), lab_f(y), lab_f(z));
        l[i] = vl;
        a[i] = va;
        bb[i] = vb;
    }
}

/// Cube root for positive normal inputs: exponent trick plus two Newton steps (relative
/// error about 1e-5), several times faster than libm's, and Lab needs three per pixel.
/// The first guess divides the bit pattern by three in floating point, which vectorizes
/// (an integer division does not).
#[inline(always)]
fn fast_cbrt(x: f32) -> f32 {
    let guess = (x.to_bits() as i32 as f32 * (1.0 / 3.0)) as i32 + 709_921_077;
    let mut y = f32::from_bits(guess as u32);
    y -= (y * y * y - x) / (3.0 * y * y);
    y -= (y * y * y - x) / (3.0 * y * y);
    if x > 0.0 { y } else { 0.0 }
}

/// sRGB values that are ninths of an integer (a 3x3 box mean of bytes, `sum` = 0..=2295)
/// -> linear light, by table: exactly [`lin_of`] of `sum / 9`, without its interpolation.
pub fn lin_of_ninths() -> &'static [f32] {
    static LUT: OnceLock<Vec<f32>> = OnceLock::new();
    LUT.get_or_init(|| (0..=9 * 255).map(|k| lin_of(k as f32 / 9.0)).collect())
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
///
/// `plain` is the pixel's Lab distance to the backdrop and `s` the ratio of its luminance
/// to the backdrop's: a row loop computes both for every pixel anyway.
#[inline]
pub fn shadow_aware_distance(
    plain: f32,
    s: f32,
    pixel_lab: [f32; 3],
    bg_lin: [f32; 3],
    bg_lab: [f32; 3],
) -> f32 {
    if plain < SURELY_BACKDROP || !(DARKEST_SHADOW..1.0).contains(&s) {
        return plain;
    }
    let dimmed = dimmed_lab(bg_lin, bg_lab, s);
    // A shadow keeps the backdrop's chromaticity; an off-white product does not, so
    // chroma differences count double here.
    let dl = pixel_lab[0] - dimmed[0];
    let da = 2.0 * (pixel_lab[1] - dimmed[1]);
    let db = 2.0 * (pixel_lab[2] - dimmed[2]);
    ((dl * dl + da * da + db * db).sqrt() + (1.0 - s)).min(plain)
}

/// Lab of the backdrop dimmed to `s` times its light. Dimming scales X, Y and Z alike,
/// so above Lab's knee each cube root scales by the cube root of `s`: one cube root
/// instead of three (`bg_lab` must be the Lab of `bg_lin`).
#[inline]
fn dimmed_lab(bg_lin: [f32; 3], bg_lab: [f32; 3], s: f32) -> [f32; 3] {
    let [x, y, z] = xyz(bg_lin);
    if x.min(y).min(z) * s <= LAB_KNEE {
        return linear_to_lab([bg_lin[0] * s, bg_lin[1] * s, bg_lin[2] * s]);
    }
    let c = fast_cbrt(s);
    [c * (bg_lab[0] + 16.0) - 16.0, c * bg_lab[1], c * bg_lab[2]]
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

    #[test]
    fn dimming_by_the_cube_root_matches_the_direct_lab() {
        for bg in [[0.9f32, 0.85, 0.8], [0.2, 0.5, 0.9], [0.05, 0.04, 0.03]] {
            let lab = linear_to_lab(bg);
            for s in [0.15f32, 0.4, 0.99] {
                let direct = linear_to_lab([bg[0] * s, bg[1] * s, bg[2] * s]);
                let fast = dimmed_lab(bg, lab, s);
                assert!(delta_e(direct, fast) < 1e-3, "{bg:?} {s}: {direct:?} vs {fast:?}");
            }
        }
    }

    #[test]
    fn the_row_form_matches_the_pixel_form() {
        let r = [0.0f32, 0.001, 0.2, 1.0];
        let g = [0.0f32, 0.004, 0.5, 1.0];
        let b = [0.0f32, 0.02, 0.1, 1.0];
        let mut out = [[0.0f32; 4]; 3];
        let [l, a, bb] = &mut out;
        linear_to_lab_row([&r, &g, &b], [l, a, bb]);
        for i in 0..4 {
            let one = linear_to_lab([r[i], g[i], b[i]]);
            assert!(delta_e(one, [out[0][i], out[1][i], out[2][i]]) < 1e-4);
        }
    }
}
