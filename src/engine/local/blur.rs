//! Separable box blurs (three passes approximate a Gaussian).
//!
//! Used for soft masks, light wrap and shadows. Running sums keep the cost independent of
//! the radius.

use rayon::prelude::*;

use super::raster::Plane;

/// Box blur of radius `r` along rows then columns, edges clamped.
pub fn box_blur(plane: &Plane, r: usize) -> Plane {
    if r == 0 || plane.width == 0 || plane.height == 0 {
        return plane.clone();
    }
    let (w, h) = (plane.width, plane.height);
    let mut rows = vec![0.0f32; w * h];
    rows.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        blur_line(&plane.data[y * w..(y + 1) * w], out, r);
    });
    // Columns: one running sum per column, swept down the rows (cache-friendly).
    let out = blur_columns(&rows, w, h, r);
    Plane { width: w, height: h, data: out }
}

/// Three box passes: close to a Gaussian with sigma about `r`.
pub fn gaussian_like(plane: &Plane, r: usize) -> Plane {
    let a = box_blur(plane, r);
    let b = box_blur(&a, r);
    box_blur(&b, r)
}

fn blur_columns(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w * h];
    let mut sum = vec![0.0f32; w];
    let row = |k: isize| -> usize { (k.max(0) as usize).min(h - 1) };
    let r_i = r as isize;
    for k in -r_i..=r_i {
        let base = row(k) * w;
        for (s, v) in sum.iter_mut().zip(&src[base..base + w]) {
            *s += *v;
        }
    }
    let norm = 1.0 / (2 * r + 1) as f32;
    for y in 0..h {
        for (o, s) in out[y * w..(y + 1) * w].iter_mut().zip(&sum) {
            *o = *s * norm;
        }
        let add = row(y as isize + r_i + 1) * w;
        let sub = row(y as isize - r_i) * w;
        for x in 0..w {
            sum[x] += src[add + x] - src[sub + x];
        }
    }
    out
}

fn blur_line(src: &[f32], dst: &mut [f32], r: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let last = n - 1;
    let at = |i: isize| -> f32 { src[(i.max(0) as usize).min(last)] };
    let r_i = r as isize;
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut sum: f32 = (-r_i..=r_i).map(at).sum();
    for i in 0..n {
        dst[i] = sum * norm;
        let ii = i as isize;
        sum += at(ii + r_i + 1) - at(ii - r_i);
    }
}
