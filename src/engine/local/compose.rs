//! Composition: the cut-out product placed naturally into the background scene.
//!
//! The product keeps its aspect, rests on the lower part of the frame with margins, gets a
//! contact shadow, a light wrap (the scene's light bleeding over its edges, which is what
//! makes a paste look photographed) and a partial colour match. Output is the scene's size.

use image::{RgbImage, RgbaImage};
use rayon::prelude::*;

use super::blur::gaussian_like;
use super::color::{lin_of, srgb_to_linear_lut};
use super::harmonize::grade;
use super::raster::Plane;
use super::resample::resize_rgba_crop;
use super::shadow::{Placement, ShadowLayer, borrowed, synthetic};
use super::{Cutout, LocalError};

/// Largest share of the scene's height and width the product may take.
const MAX_HEIGHT_SHARE: f64 = 0.62;
const MAX_WIDTH_SHARE: f64 = 0.70;
/// Gap between the product's base and the bottom of the frame.
const BOTTOM_MARGIN: f64 = 0.10;
/// Strength of the light wrap at the very edge.
const WRAP: f32 = 0.25;

/// How one variant stages the product in the scene: variant 0 is the usual picture, the
/// others move, scale and light it differently so that a request for several variants
/// gets different pictures, not copies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrangement {
    /// Multiplies the product's size in the scene.
    pub scale: f64,
    /// Horizontal position: -1 (left) .. 0 (centred) .. 1 (right) within the free width.
    pub shift: f64,
    /// Where the light comes from: the shadow's offset (share of the product's width,
    /// positive: falls to the right) and a gentle brightening of the opposite side of the
    /// scene. 0 keeps the photo's own shadow when it has one.
    pub light: f32,
}

impl Arrangement {
    /// The usual picture.
    pub const USUAL: Arrangement = Arrangement { scale: 1.0, shift: 0.0, light: 0.0 };

    /// The staging of variant `index` (0 to 3; further ones repeat).
    pub fn of_variant(index: u8) -> Self {
        match index % 4 {
            0 => Self::USUAL,
            1 => Self { scale: 0.8, shift: -0.6, light: 0.35 },
            2 => Self { scale: 0.9, shift: 0.6, light: -0.35 },
            _ => Self { scale: 1.08, shift: 0.3, light: 0.2 },
        }
    }
}

pub fn compose(cut: &Cutout, scene: RgbImage) -> Result<RgbImage, LocalError> {
    compose_arranged(cut, scene, Arrangement::USUAL)
}

/// [`compose`] with a variant's [`Arrangement`].
pub fn compose_arranged(
    cut: &Cutout,
    mut scene: RgbImage,
    arrangement: Arrangement,
) -> Result<RgbImage, LocalError> {
    let (sw, sh) = scene.dimensions();
    let bbox = alpha_bbox(&cut.rgba).ok_or(LocalError::NoProduct)?;
    let p = place(bbox, sw, sh, arrangement);
    let product = resize_rgba_crop(&cut.rgba, bbox, p.w, p.h)
        .ok_or_else(|| LocalError::Internal("resizing the product failed".into()))?;

    if arrangement.light != 0.0 {
        relight(&mut scene, arrangement.light);
    }
    // A variant with its own light direction casts its own shadow.
    let own = if arrangement.light == 0.0 { cut.shadow.as_ref() } else { None };
    let layer = own
        .and_then(|s| borrowed(&p, s, cut.rgba.dimensions()))
        .unwrap_or_else(|| synthetic(&p, &footprint(&product), arrangement.light));
    darken(&mut scene, &layer);

    let scene_mean = mean_around(&scene, &p);
    let product_mean = mean_product(&product);
    let g = grade(scene_mean, product_mean);
    let wrap = wrap_maps(&scene, &product, &p);
    blend(&mut scene, &product, &p, &g.lut, &wrap);
    Ok(scene)
}

/// Bounding box (x, y, w, h) of the visible product.
fn alpha_bbox(img: &RgbaImage) -> Option<(u32, u32, u32, u32)> {
    let (w, h) = img.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    for (y, row) in img.as_raw().chunks_exact((w as usize * 4).max(1)).enumerate() {
        for (x, px) in row.chunks_exact(4).enumerate() {
            if px[3] > 8 {
                x0 = x0.min(x as u32);
                x1 = x1.max(x as u32);
                y0 = y0.min(y as u32);
                y1 = y1.max(y as u32);
            }
        }
    }
    (x0 <= x1 && y0 <= y1 && x1 < w && y1 < h).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Scale to fit the height and width shares, centre horizontally (or shift within the
/// free width), rest on the lower part.
fn place(bbox: (u32, u32, u32, u32), sw: u32, sh: u32, arrangement: Arrangement) -> Placement {
    let (bx, by, bw, bh) = bbox;
    let scale = (MAX_HEIGHT_SHARE * f64::from(sh) / f64::from(bh.max(1)))
        .min(MAX_WIDTH_SHARE * f64::from(sw) / f64::from(bw.max(1)))
        * arrangement.scale;
    let w = ((f64::from(bw) * scale).round() as u32).clamp(1, sw.max(1));
    let h = ((f64::from(bh) * scale).round() as u32).clamp(1, sh.max(1));
    let free = (i64::from(sw) - i64::from(w)) / 2;
    // A shifted product keeps a margin of a fifth of the free width on its side.
    let x = free + (arrangement.shift.clamp(-1.0, 1.0) * 0.8 * free as f64).round() as i64;
    let bottom = (f64::from(sh) * (1.0 - BOTTOM_MARGIN)).round() as i64;
    let y = (bottom - i64::from(h)).max(0);
    Placement { x, y, w, h, src_x: bx, src_y: by, scale }
}

/// Brightens the side of the scene the light comes from and dims the other, by a few
/// percent: the light of a variant comes from elsewhere.
fn relight(scene: &mut RgbImage, light: f32) {
    let sw = scene.width().max(1) as f32;
    let row_len = scene.width() as usize * 3;
    let gains: Vec<f32> =
        (0..scene.width()).map(|x| 1.0 - 0.2 * light * (2.0 * (x as f32 + 0.5) / sw - 1.0)).collect();
    scene.as_mut().par_chunks_mut(row_len.max(1)).for_each(|row| {
        for (px, gain) in row.chunks_exact_mut(3).zip(&gains) {
            for v in px {
                *v = (f32::from(*v) * gain).round().clamp(0.0, 255.0) as u8;
            }
        }
    });
}

/// Lowest product row of each column of the placed product.
fn footprint(product: &RgbaImage) -> Vec<Option<u32>> {
    let (w, h) = product.dimensions();
    (0..w).map(|x| (0..h).rev().find(|&y| product.get_pixel(x, y)[3] > 128)).collect()
}

fn darken(scene: &mut RgbImage, layer: &ShadowLayer) {
    let (sw, sh) = scene.dimensions();
    let x_start = layer.x0.max(0);
    let x_end = (layer.x0 + (layer.plane.width as f32 * layer.step) as i64).min(i64::from(sw));
    let y_start = layer.y0.max(0) as usize;
    let y_end =
        ((layer.y0 + (layer.plane.height as f32 * layer.step) as i64).min(i64::from(sh))).max(0) as usize;
    if x_start >= x_end || y_start >= y_end {
        return;
    }
    let row_len = sw as usize * 3;
    scene.as_mut().par_chunks_mut(row_len).enumerate().skip(y_start).take(y_end - y_start).for_each(
        |(y, row)| {
            for x in x_start..x_end {
                let d = layer.at(x, y as i64).clamp(0.0, 0.95);
                if d <= 0.001 {
                    continue;
                }
                // Darkening is multiplicative in linear light; in sRGB that is about a power 1/2.2.
                let k = (1.0 - d).powf(1.0 / 2.2);
                let i = x as usize * 3;
                for c in 0..3 {
                    row[i + c] = (f32::from(row[i + c]) * k).round() as u8;
                }
            }
        },
    );
}

/// Mean linear colour of the scene around where the product stands.
fn mean_around(scene: &RgbImage, p: &Placement) -> [f32; 3] {
    let (sw, sh) = scene.dimensions();
    let x0 = (p.x - i64::from(p.w) / 2).clamp(0, i64::from(sw) - 1) as u32;
    let x1 = (p.x + i64::from(p.w) * 3 / 2).clamp(1, i64::from(sw)) as u32;
    let y0 = (p.y - i64::from(p.h) / 4).clamp(0, i64::from(sh) - 1) as u32;
    let y1 = (p.y + i64::from(p.h) * 5 / 4).clamp(1, i64::from(sh)) as u32;
    let lut = srgb_to_linear_lut();
    let mut sum = [0.0f64; 3];
    let mut n = 0.0f64;
    let step = (((x1 - x0) * (y1 - y0)) as f64 / 40_000.0).sqrt().max(1.0) as usize;
    for y in (y0..y1).step_by(step) {
        for x in (x0..x1).step_by(step) {
            let px = scene.get_pixel(x, y);
            for c in 0..3 {
                sum[c] += f64::from(lut[px[c] as usize]);
            }
            n += 1.0;
        }
    }
    let n = n.max(1.0);
    [(sum[0] / n) as f32, (sum[1] / n) as f32, (sum[2] / n) as f32]
}

fn mean_product(product: &RgbaImage) -> [f32; 3] {
    let lut = srgb_to_linear_lut();
    let mut sum = [0.0f64; 3];
    let mut n = 0.0f64;
    let step = ((product.len() / 4) / 40_000).max(1);
    for px in product.pixels().step_by(step) {
        let a = f64::from(px[3]) / 255.0;
        for c in 0..3 {
            sum[c] += f64::from(lut[px[c] as usize]) * a;
        }
        n += a;
    }
    let n = n.max(1e-6);
    [(sum[0] / n) as f32, (sum[1] / n) as f32, (sum[2] / n) as f32]
}

/// Coarse planes for the light wrap: how much wrap (inner edge) and the blurred scene.
struct Wrap {
    amount: Plane,
    scene: [Plane; 3],
    step: f32,
}

fn wrap_maps(scene: &RgbImage, product: &RgbaImage, p: &Placement) -> Wrap {
    let (pw, ph) = product.dimensions();
    let step = (pw.max(ph) as f32 / 384.0).max(1.0);
    let w = ((pw as f32 / step).ceil() as usize).max(1);
    let h = ((ph as f32 / step).ceil() as usize).max(1);
    let (sw, sh) = scene.dimensions();
    let sample_alpha = |i: usize, j: usize| {
        let x = ((i as f32 + 0.5) * step) as u32;
        let y = ((j as f32 + 0.5) * step) as u32;
        f32::from(product.get_pixel(x.min(pw - 1), y.min(ph - 1))[3]) / 255.0
    };
    let alpha = Plane::from_fn(w, h, sample_alpha);
    let r = ((w.max(h) as f32) * 0.008).max(1.0) as usize;
    let blurred = gaussian_like(&alpha, r);
    let amount = Plane {
        width: w,
        height: h,
        data: alpha
            .data
            .iter()
            .zip(&blurred.data)
            .map(|(a, b)| WRAP * a * (1.0 - b).clamp(0.0, 1.0))
            .collect(),
    };
    let scene_planes = [0usize, 1, 2].map(|c| {
        let plane = Plane::from_fn(w, h, |i, j| {
            let x = (p.x + ((i as f32 + 0.5) * step) as i64).clamp(0, i64::from(sw) - 1) as u32;
            let y = (p.y + ((j as f32 + 0.5) * step) as i64).clamp(0, i64::from(sh) - 1) as u32;
            lin_of(f32::from(scene.get_pixel(x, y)[c]))
        });
        gaussian_like(&plane, r * 2)
    });
    Wrap { amount, scene: scene_planes, step }
}

fn blend(scene: &mut RgbImage, product: &RgbaImage, p: &Placement, lut: &[[u8; 256]; 3], wrap: &Wrap) {
    let (sw, sh) = scene.dimensions();
    let (pw, ph) = product.dimensions();
    let row_len = sw as usize * 3;
    let to_lin = srgb_to_linear_lut();
    let y_start = p.y.max(0) as usize;
    let y_end = (p.y + i64::from(ph)).clamp(0, i64::from(sh)) as usize;
    if y_start >= y_end {
        return;
    }
    scene.as_mut().par_chunks_mut(row_len).enumerate().skip(y_start).take(y_end - y_start).for_each(
        |(y, row)| {
            let py = (y as i64 - p.y) as u32;
            let fy = (py as f32 + 0.5) / wrap.step;
            for px in 0..pw {
                let x = p.x + i64::from(px);
                if x < 0 || x >= i64::from(sw) {
                    continue;
                }
                let src = product.get_pixel(px, py);
                let a = f32::from(src[3]) / 255.0;
                if a <= 0.0 {
                    continue;
                }
                let fx = (px as f32 + 0.5) / wrap.step;
                let k = wrap.amount.sample(fx, fy).clamp(0.0, WRAP);
                let i = x as usize * 3;
                for c in 0..3 {
                    let graded = to_lin[lut[c][src[c] as usize] as usize];
                    let lit = graded * (1.0 - k) + wrap.scene[c].sample(fx, fy) * k;
                    let under = to_lin[row[i + c] as usize];
                    let v = lit * a + under * (1.0 - a);
                    row[i + c] = (super::color::linear_to_srgb(v) * 255.0).round() as u8;
                }
            }
        },
    );
}
