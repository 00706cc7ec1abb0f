//! The full-resolution matte: a binary cut becomes soft edges without a halo.
//!
//! The working-resolution mask is upsampled, and only a thin band around its boundary is
//! refined at full resolution. There each pixel is unmixed as `p = a F + (1 - a) B`, with
//! `B` the backdrop known from nearby backdrop pixels (shadow included) and `F` the
//! product's colour spread from just inside. The edge pixel's colour is then
//! decontaminated (the backdrop's share removed) so no fringe of the old backdrop remains.

use image::{RgbImage, RgbaImage};
use rayon::prelude::*;

use super::blur::{box_blur, normalized_spread};
use super::raster::Plane;
use super::segment::{Segmentation, norm_coord};

/// Below this squared RGB distance between product and backdrop, unmixing is noise.
const UNMIX_MIN: f32 = 15.0 * 15.0;
/// Above this squared distance, unmixing is fully trusted.
const UNMIX_FULL: f32 = 50.0 * 50.0;

/// Working-resolution planes that the full-resolution refinement samples.
struct EdgeModel {
    /// Where the band is (anything strictly between 0 and 1).
    band: Plane,
    /// Soft fallback alpha where colours cannot be unmixed.
    soft: Plane,
    fg: [Plane; 3],
    bg: [Plane; 3],
}

fn edge_model(seg: &Segmentation) -> EdgeModel {
    let (w, h) = (seg.width, seg.height);
    let hard = Plane { width: w, height: h, data: seg.mask.iter().map(|m| if *m { 1.0 } else { 0.0 }).collect() };
    let soft = box_blur(&hard, 1);
    let band = box_blur(&hard, 2);
    let sure_fg = Plane { width: w, height: h, data: soft.data.iter().map(|v| if *v > 0.999 { 1.0 } else { 0.0 }).collect() };
    let sure_bg = Plane { width: w, height: h, data: soft.data.iter().map(|v| if *v < 0.001 { 1.0 } else { 0.0 }).collect() };
    let model_rgb: Vec<[f32; 3]> = (0..w * h)
        .into_par_iter()
        .map(|i| seg.model.at(norm_coord((i % w) as f32 + 0.5, w), norm_coord((i / w) as f32 + 0.5, h)))
        .collect();
    let model_planes: [Plane; 3] =
        [0, 1, 2].map(|c| Plane { width: w, height: h, data: model_rgb.iter().map(|m| m[c]).collect() });
    let fg = [0, 1, 2].map(|c| normalized_spread(&seg.rgb[c], &sure_fg, 3, &seg.rgb[c]));
    let bg = [0, 1, 2].map(|c| normalized_spread(&seg.rgb[c], &sure_bg, 3, &model_planes[c]));
    EdgeModel { band, soft, fg, bg }
}

#[inline]
fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The product on a transparent background at `full`'s resolution.
pub fn refine(full: &RgbImage, seg: &Segmentation) -> RgbaImage {
    let (fw, fh) = (full.width() as usize, full.height() as usize);
    let em = edge_model(seg);
    let sx = seg.width as f32 / fw.max(1) as f32;
    let sy = seg.height as f32 / fh.max(1) as f32;
    let src = full.as_raw();
    let mut out = vec![0u8; fw * fh * 4];
    // Working rows with no band at all: a full-resolution row between two of them is
    // plain backdrop (bilinear sampling cannot exceed its inputs), so skip the sampling.
    let (bw, bh) = (em.band.width, em.band.height);
    let empty_row: Vec<bool> = (0..bh).map(|y| em.band.data[y * bw..(y + 1) * bw].iter().all(|v| *v <= 0.002)).collect();
    out.par_chunks_mut(fw * 4).enumerate().for_each(|(y, row)| {
        let fy = (y as f32 + 0.5) * sy;
        let wy = (fy - 0.5).clamp(0.0, bh.saturating_sub(1) as f32) as usize;
        if empty_row.get(wy).copied().unwrap_or(false) && empty_row.get((wy + 1).min(bh.saturating_sub(1))).copied().unwrap_or(false) {
            for (o, p) in row.chunks_exact_mut(4).zip(src[y * fw * 3..(y + 1) * fw * 3].chunks_exact(3)) {
                o.copy_from_slice(&[p[0], p[1], p[2], 0]);
            }
            return;
        }
        for x in 0..fw {
            let fx = (x as f32 + 0.5) * sx;
            let i = (y * fw + x) * 3;
            let p = [f32::from(src[i]), f32::from(src[i + 1]), f32::from(src[i + 2])];
            let o = &mut row[x * 4..x * 4 + 4];
            let band = em.band.sample(fx, fy);
            if band <= 0.002 {
                o.copy_from_slice(&[src[i], src[i + 1], src[i + 2], 0]);
                continue;
            }
            if band >= 0.998 {
                o.copy_from_slice(&[src[i], src[i + 1], src[i + 2], 255]);
                continue;
            }
            let (alpha, colour) = unmix(&em, p, fx, fy);
            let a8 = (alpha * 255.0 + 0.5) as u8;
            o.copy_from_slice(&[colour[0], colour[1], colour[2], a8]);
        }
    });
    // The buffer length matches the dimensions by construction.
    RgbaImage::from_raw(fw as u32, fh as u32, out).unwrap_or_else(|| RgbaImage::new(fw as u32, fh as u32))
}

fn unmix(em: &EdgeModel, p: [f32; 3], fx: f32, fy: f32) -> (f32, [u8; 3]) {
    let f = [em.fg[0].sample(fx, fy), em.fg[1].sample(fx, fy), em.fg[2].sample(fx, fy)];
    let b = [em.bg[0].sample(fx, fy), em.bg[1].sample(fx, fy), em.bg[2].sample(fx, fy)];
    let fb = [f[0] - b[0], f[1] - b[1], f[2] - b[2]];
    let pb = [p[0] - b[0], p[1] - b[1], p[2] - b[2]];
    let den = fb[0] * fb[0] + fb[1] * fb[1] + fb[2] * fb[2];
    let soft = smoothstep(0.15, 0.85, em.soft.sample(fx, fy));
    let trust = smoothstep(UNMIX_MIN, UNMIX_FULL, den);
    let unmixed = if den > 1e-3 { (pb[0] * fb[0] + pb[1] * fb[1] + pb[2] * fb[2]) / den } else { soft };
    let mut alpha = (trust * unmixed.clamp(0.0, 1.0) + (1.0 - trust) * soft).clamp(0.0, 1.0);
    if alpha < 0.03 {
        alpha = 0.0;
    } else if alpha > 0.97 {
        alpha = 1.0;
    }
    // Decontaminate: remove the backdrop's share, fade to the inner colour where the
    // pixel is mostly backdrop and its own colour cannot be trusted.
    let mut colour = [0u8; 3];
    let keep = smoothstep(0.3, 0.9, alpha);
    for c in 0..3 {
        let own = if alpha > 0.01 { (p[c] - (1.0 - alpha) * b[c]) / alpha } else { f[c] };
        let v = f[c] * (1.0 - keep) + own.clamp(0.0, 255.0) * keep;
        colour[c] = v.clamp(0.0, 255.0).round() as u8;
    }
    (alpha, colour)
}
