//! The working image in the forms the cut decision reads: lightly blurred sRGB, its
//! linear light and Lab, and the step-edge strength.
//!
//! This is most of the per-pixel arithmetic of the decision. It is computed once per cut,
//! row-parallel and planar (one plane per channel), so the inner loops vectorize.

use super::color::{delta_e, lin_of_ninths, linear_to_lab_row};
use super::raster::{Plane, par_row_bands};

/// Per-pixel colour of the working image.
pub struct Features {
    /// 3x3 box mean of the input (JPEG noise should not decide anything), sRGB 0..255.
    pub rgb: [Plane; 3],
    /// Linear light of `rgb`, 0..1.
    pub lin: [Vec<f32>; 3],
    /// CIELAB of `rgb`: L, a, b planes.
    pub lab: [Vec<f32>; 3],
    /// Step-edge strength (see [`gradient_row`]).
    pub gradient: Vec<f32>,
}

/// `rgb8` is interleaved RGB, `w * h` pixels, `w` and `h` at least 1.
pub fn features(rgb8: &[u8], w: usize, h: usize) -> Features {
    let n = w * h;
    let lut = lin_of_ninths();
    let [mut r, mut g, mut b, mut lr, mut lg, mut lb, mut l, mut a, mut bb] =
        std::array::from_fn(|_| vec![0.0f32; n]);
    if n == 0 || rgb8.len() < 3 * n {
        let rgb = [r, g, b].map(|data| Plane { width: w, height: h, data });
        return Features { rgb, lin: [lr, lg, lb], lab: [l, a, bb], gradient: vec![0.0; n] };
    }
    par_row_bands(
        [&mut r, &mut g, &mut b, &mut lr, &mut lg, &mut lb, &mut l, &mut a, &mut bb],
        w,
        h,
        |y0, band| {
            let [r, g, b, lr, lg, lb, l, a, bb] = band;
            let (srgb, lin, mut lab) = ([r, g, b], [lr, lg, lb], [l, a, bb]);
            let mut column = vec![0u16; w];
            for k in 0..srgb[0].len() / w {
                let y = y0 + k;
                let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)]
                    .map(|yy| &rgb8[yy * w * 3..(yy + 1) * w * 3]);
                let span = k * w..(k + 1) * w;
                for c in 0..3 {
                    // The box is separable and clamps per axis: sum columns, then along the row,
                    // in integers (the sum of nine bytes indexes the linear-light table).
                    for (x, s) in column.iter_mut().enumerate() {
                        *s = rows.iter().map(|row| u16::from(row[x * 3 + c])).sum();
                    }
                    let (out, out_lin) = (&mut srgb[c][span.clone()], &mut lin[c][span.clone()]);
                    for x in 0..w {
                        let s = column[x.saturating_sub(1)] + column[x] + column[(x + 1).min(w - 1)];
                        out[x] = f32::from(s) / 9.0;
                        out_lin[x] = lut[usize::from(s)];
                    }
                }
                let [lr, lg, lb] = &lin;
                let [l, a, bb] = &mut lab;
                linear_to_lab_row(
                    [&lr[span.clone()], &lg[span.clone()], &lb[span.clone()]],
                    [&mut l[span.clone()], &mut a[span.clone()], &mut bb[span.clone()]],
                );
            }
        },
    );
    let mut gradient = vec![0.0f32; n];
    {
        let lab = [&l[..], &a[..], &bb[..]];
        par_row_bands([&mut gradient], w, h, |y0, [out]| {
            for (k, row) in out.chunks_exact_mut(w).enumerate() {
                gradient_row(lab, w, h, y0 + k, row);
            }
        });
    }
    let rgb = [r, g, b].map(|data| Plane { width: w, height: h, data });
    Features { rgb, lin: [lr, lg, lb], lab: [l, a, bb], gradient }
}

/// Lab distance between pixel `i` of row `p` and pixel `j` of row `q`.
#[inline(always)]
fn de(p: [&[f32]; 3], i: usize, q: [&[f32]; 3], j: usize) -> f32 {
    delta_e([p[0][i], p[1][i], p[2][i]], [q[0][j], q[1][j], q[2][j]])
}

/// Step-edge strength of row `y`: the fine-scale Lab difference (across 2 px) minus what
/// a smooth ramp would explain (a third of the difference across 6 px), per axis. A soft
/// shadow or a sweep is a ramp and scores about zero; a product's outline is a step and
/// scores high, even when it is faint (white on white). Edges of the frame clamp.
#[inline(always)]
fn gradient_row(lab: [&[f32]; 3], w: usize, h: usize, y: usize, out: &mut [f32]) {
    let row = |yy: usize| lab.map(|p| &p[yy * w..(yy + 1) * w]);
    let centre = row(y);
    let (up1, down1) = (row(y.saturating_sub(1)), row((y + 1).min(h - 1)));
    let (up3, down3) = (row(y.saturating_sub(3)), row((y + 3).min(h - 1)));
    let out = &mut out[..w];
    // Vertical part first, kept in `out`.
    for (x, o) in out.iter_mut().enumerate() {
        *o = (de(up1, x, down1, x) - de(up3, x, down3, x) / 3.0).max(0.0);
    }
    let combine = |ex: f32, ey: f32| (ex * ex + ey * ey).sqrt();
    let clamped = |x: usize, d: usize| -> f32 { de(centre, x.saturating_sub(d), centre, (x + d).min(w - 1)) };
    let edge_part = |x: usize| (clamped(x, 1) - clamped(x, 3) / 3.0).max(0.0);
    if w <= 6 {
        for (x, o) in out.iter_mut().enumerate() {
            *o = combine(edge_part(x), *o);
        }
        return;
    }
    for x in (0..3).chain(w - 3..w) {
        out[x] = combine(edge_part(x), out[x]);
    }
    // Interior: no clamping, equal-length slices (vectorizes).
    let m = w - 6;
    let at = |offset: usize| centre.map(|p| &p[offset..offset + m]);
    let (left3, left1, right1, right3) = (at(0), at(2), at(4), at(6));
    let inner = &mut out[3..3 + m];
    for i in 0..m {
        let ex = (de(left1, i, right1, i) - de(left3, i, right3, i) / 3.0).max(0.0);
        inner[i] = combine(ex, inner[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_an_edge_and_a_ramp_is_not() {
        let (w, h) = (40, 20);
        let mut img = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                // A gentle ramp on the left half, a step at x = 30.
                let v = if x < 30 { 100 + x as u8 } else { 200 };
                img[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[v, v, v]);
            }
        }
        let f = features(&img, w, h);
        let g = |x: usize| f.gradient[10 * w + x];
        assert!(g(10) < 0.5, "ramp {}", g(10));
        assert!(g(30) > 5.0, "step {}", g(30));
        assert!((f.rgb[0].data[10 * w + 10] - 110.0).abs() < 1e-3);
    }
}
