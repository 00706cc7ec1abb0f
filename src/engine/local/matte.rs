//! The full-resolution matte: a binary cut becomes soft edges without a halo.
//!
//! The working-resolution mask is upsampled, and only a thin band around its boundary is
//! refined at full resolution. There each pixel is unmixed as `p = a F + (1 - a) B`, with
//! `B` the backdrop known from nearby backdrop pixels (shadow included) and `F` the
//! product's colour spread from just inside. The edge pixel's colour is then
//! decontaminated (the backdrop's share removed) so no fringe of the old backdrop remains.
//!
//! Everything off the band is a copy with alpha 0 or 255, so the band's colour models are
//! computed only where the band is, and full-resolution pixels away from it are decided
//! by a per-cell lookup instead of sampling.

use image::{RgbImage, RgbaImage};
use rayon::prelude::*;

use super::blur::box_blur;
use super::morph::dilate;
use super::raster::{Plane, norm_coord, par_row_bands};
use super::segment::Segmentation;

/// Below this squared RGB distance between product and backdrop, unmixing is noise.
const UNMIX_MIN: f32 = 15.0 * 15.0;
/// Above this squared distance, unmixing is fully trusted.
const UNMIX_FULL: f32 = 50.0 * 50.0;

/// Band values at or below this are backdrop, at or above `1 - BAND_EPS` product.
const BAND_EPS: f32 = 0.002;

/// Reach (working pixels) of the spread of known colours into the band.
const SPREAD: usize = 3;

/// What the bilinear cell whose top-left corner is a working pixel holds.
const CELL_BACKDROP: u8 = 0;
const CELL_PRODUCT: u8 = 1;
const CELL_EDGE: u8 = 2;

/// Working-resolution planes that the full-resolution refinement samples.
struct EdgeModel {
    /// Where the band is (anything strictly between 0 and 1).
    band: Plane,
    /// Per working pixel, the class of its bilinear cell (`CELL_*`).
    cell: Vec<u8>,
    /// Soft fallback alpha where colours cannot be unmixed.
    soft: Plane,
    /// Product and backdrop colours, valid where an edge cell can read them.
    fg: [Plane; 3],
    bg: [Plane; 3],
}

fn edge_model(seg: &Segmentation) -> EdgeModel {
    let (w, h) = (seg.width, seg.height);
    let n = w * h;
    let hard =
        Plane { width: w, height: h, data: seg.mask.iter().map(|m| if *m { 1.0 } else { 0.0 }).collect() };
    let (soft, band) = rayon::join(|| box_blur(&hard, 1), || box_blur(&hard, 2));
    let cell: Vec<u8> = (0..n)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let (x1, y1) = ((x + 1).min(w - 1), (y + 1).min(h - 1));
            let corners =
                [band.data[i], band.data[y * w + x1], band.data[y1 * w + x], band.data[y1 * w + x1]];
            if corners.iter().all(|v| *v <= BAND_EPS) {
                CELL_BACKDROP
            } else if corners.iter().all(|v| *v >= 1.0 - BAND_EPS) {
                CELL_PRODUCT
            } else {
                CELL_EDGE
            }
        })
        .collect();
    // Corners of edge cells are where the colour models are read.
    let needed = dilate(&cell.iter().map(|c| *c == CELL_EDGE).collect::<Vec<_>>(), w, h, 1);
    // Sure product / sure backdrop: the 3x3 neighbourhood is all one side.
    let side: Vec<u8> = soft
        .data
        .iter()
        .map(|v| {
            if *v > 0.999 {
                1
            } else if *v < 0.001 {
                2
            } else {
                0
            }
        })
        .collect();
    let [mut f0, mut f1, mut f2, mut b0, mut b1, mut b2] = std::array::from_fn(|_| vec![0.0f32; n]);
    let rgb = &seg.rgb;
    par_row_bands([&mut f0, &mut f1, &mut f2, &mut b0, &mut b1, &mut b2], w, h, |y0, planes| {
        let [f0, f1, f2, b0, b1, b2] = planes;
        for k in 0..f0.len() / w {
            let y = y0 + k;
            for x in 0..w {
                let i = y * w + x;
                if !needed[i] {
                    continue;
                }
                let (fg, bg) = spread_at(rgb, &side, w, h, x, y);
                let fg = fg.unwrap_or([rgb[0].data[i], rgb[1].data[i], rgb[2].data[i]]);
                let bg = bg.unwrap_or_else(|| {
                    seg.model.at(norm_coord(x as f32 + 0.5, w), norm_coord(y as f32 + 0.5, h))
                });
                let o = k * w + x;
                (f0[o], f1[o], f2[o]) = (fg[0], fg[1], fg[2]);
                (b0[o], b1[o], b2[o]) = (bg[0], bg[1], bg[2]);
            }
        }
    });
    let plane = |data| Plane { width: w, height: h, data };
    EdgeModel {
        band,
        cell,
        soft,
        fg: [plane(f0), plane(f1), plane(f2)],
        bg: [plane(b0), plane(b1), plane(b2)],
    }
}

/// Mean colour of the sure-product and of the sure-backdrop pixels in the square of
/// reach [`SPREAD`] around (x, y), the frame's edge repeated (as a box blur does); `None`
/// for a side with no such pixel in reach.
fn spread_at(
    rgb: &[Plane; 3],
    side: &[u8],
    w: usize,
    h: usize,
    x: usize,
    y: usize,
) -> (Option<[f32; 3]>, Option<[f32; 3]>) {
    let mut sum = [[0.0f32; 3]; 2];
    let mut count = [0u32; 2];
    let r = SPREAD as isize;
    for dy in -r..=r {
        let yy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
        for dx in -r..=r {
            let j = yy * w + (x as isize + dx).clamp(0, w as isize - 1) as usize;
            let s = side[j];
            if s == 0 {
                continue;
            }
            let k = usize::from(s - 1);
            count[k] += 1;
            for c in 0..3 {
                sum[k][c] += rgb[c].data[j];
            }
        }
    }
    let mean = |k: usize| (count[k] > 0).then(|| sum[k].map(|s| s / count[k] as f32));
    (mean(0), mean(1))
}

#[inline]
fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The product on a transparent background at `full`'s resolution.
pub fn refine(full: &RgbImage, seg: &Segmentation) -> RgbaImage {
    let (fw, fh) = (full.width() as usize, full.height() as usize);
    let trace = super::Trace::new();
    let em = edge_model(seg);
    trace.mark("  edge model");
    let sx = seg.width as f32 / fw.max(1) as f32;
    let sy = seg.height as f32 / fh.max(1) as f32;
    let src = full.as_raw();
    let mut out = vec![0u8; fw * fh * 4];
    let (bw, bh) = (em.band.width, em.band.height);
    if bw == 0 || bh == 0 || src.len() < fw * fh * 3 {
        return RgbaImage::new(fw as u32, fh as u32);
    }
    // The working cell of each full-resolution column, as bilinear sampling finds it.
    let cell_x: Vec<usize> =
        (0..fw).map(|x| ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (bw - 1) as f32) as usize).collect();
    out.par_chunks_mut(fw * 4).enumerate().for_each(|(y, row)| {
        let fy = (y as f32 + 0.5) * sy;
        let cy = (fy - 0.5).clamp(0.0, (bh - 1) as f32) as usize;
        let cells = &em.cell[cy * bw..(cy + 1) * bw];
        let src_row = &src[y * fw * 3..(y + 1) * fw * 3];
        for (x, (o, p)) in row.chunks_exact_mut(4).zip(src_row.chunks_exact(3)).enumerate() {
            let opaque = match cells[cell_x[x]] {
                CELL_BACKDROP => false,
                CELL_PRODUCT => true,
                _ => {
                    let fx = (x as f32 + 0.5) * sx;
                    let band = em.band.sample(fx, fy);
                    if band > BAND_EPS && band < 1.0 - BAND_EPS {
                        let pf = [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])];
                        let (alpha, colour) = unmix(&em, pf, fx, fy);
                        let a8 = (alpha * 255.0 + 0.5) as u8;
                        o.copy_from_slice(&[colour[0], colour[1], colour[2], a8]);
                        continue;
                    }
                    band >= 1.0 - BAND_EPS
                }
            };
            o.copy_from_slice(&[p[0], p[1], p[2], if opaque { 255 } else { 0 }]);
        }
    });
    trace.mark("  refine");
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
