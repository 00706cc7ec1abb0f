//! Composition: the cut-out product placed naturally into the background scene.
//!
//! The product keeps its aspect, stands on the scene's surface ([`surface`]; the lower
//! part of the frame when none is found), gets a contact shadow and a cast shadow away
//! from the scene's [`light`], a light wrap (the scene's light bleeding over its edges,
//! which is what makes a paste look photographed) and a partial colour match. Output is
//! the scene's size.

use image::{RgbImage, RgbaImage};
use rayon::prelude::*;

use super::blur::gaussian_like;
use super::color::{lin_of, srgb_to_linear_lut};
use super::harmonize::grade;
use super::light::Light;
use super::raster::{Plane, norm_coord};
use super::resample::{resize_rgba_crop, thumbnail};
use super::shadow::{Cast, Placement, ShadowLayer, borrowed, columns, synthetic};
use super::surface::Stand;
use super::{Cutout, LocalError, light, surface};

/// Largest share of the scene's width the product may take.
const MAX_WIDTH_SHARE: f64 = 0.70;
/// Longest side of the copy of the scene its light and surface are read from.
const THUMB_SIDE: u32 = 128;
/// Least product height on a marketplace card (square, Wildberries, Ozon), as a share of
/// the frame: a deep floor would otherwise leave it a third of the card.
pub const CARD_HEIGHT: f64 = 0.6;
/// Least gap left above the product (share of the height): never cropped.
const TOP_GAP: f64 = 0.04;
/// Strength of the light wrap at the very edge.
const WRAP: f32 = 0.25;
/// Share of the wrap a side light takes off the product's far side.
const WRAP_LEAN: f32 = 0.6;

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
    /// Least share of the frame's height the product takes (0: as the scene's depth says).
    /// A marketplace card shows the product, not the room.
    pub least_height: f64,
}

impl Arrangement {
    /// The usual picture.
    pub const USUAL: Arrangement = Arrangement { scale: 1.0, shift: 0.0, light: 0.0, least_height: 0.0 };

    /// This staging on a marketplace card ([`CARD_HEIGHT`]).
    pub fn on_card(self) -> Self {
        Self { least_height: CARD_HEIGHT, ..self }
    }

    /// The light a variant brings, or the scene's own: the shadow falls to the side
    /// `light` says, so the light comes from the other one.
    fn light_or(self, scene: Light) -> Light {
        if self.light == 0.0 {
            return scene;
        }
        Light { from_x: (-self.light / 0.35).clamp(-1.0, 1.0), confidence: 0.8 }
    }

    /// The staging of variant `index` (0 to 3; further ones repeat).
    pub fn of_variant(index: u8) -> Self {
        match index % 4 {
            0 => Self::USUAL,
            1 => Self { scale: 0.8, shift: -0.6, light: 0.35, ..Self::USUAL },
            2 => Self { scale: 0.9, shift: 0.6, light: -0.35, ..Self::USUAL },
            _ => Self { scale: 1.08, shift: 0.3, light: 0.2, ..Self::USUAL },
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
    let thumb = thumbnail(&scene, THUMB_SIDE);
    let (scene_light, surface) = (light::estimate(&thumb), surface::find(&thumb));
    let light = arrangement.light_or(scene_light);
    super::Trace::new().note(format_args!("scene: {scene_light:?}, {surface:?}, {arrangement:?}"));
    let p = place(bbox, sw, sh, surface::stand(surface), arrangement);
    let product = resize_rgba_crop(&cut.rgba, bbox, p.w, p.h)
        .ok_or_else(|| LocalError::Internal("resizing the product failed".into()))?;

    if arrangement.light != 0.0 {
        relight(&mut scene, arrangement.light);
    }
    let cast = Cast::from_light(light);
    let silhouette = columns(&product);
    // A variant with its own light direction casts its own shadow.
    let own = if arrangement.light == 0.0 { cut.shadow.as_ref() } else { None };
    let layer = own
        .and_then(|s| borrowed(&p, s, cut.rgba.dimensions(), &silhouette, &cast))
        .unwrap_or_else(|| synthetic(&p, &silhouette, &cast));
    darken(&mut scene, &layer);

    let scene_mean = mean_around(&scene, &p);
    let product_mean = mean_product(&product);
    let g = grade(scene_mean, product_mean);
    let wrap = wrap_maps(&scene, &product, &p, light);
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

/// Scale to the stand's height share (within the width share) times the variant's scale,
/// centre horizontally (or shift within the free width), base on the stand's row.
fn place(bbox: (u32, u32, u32, u32), sw: u32, sh: u32, stand: Stand, arrangement: Arrangement) -> Placement {
    let (bx, by, bw, bh) = bbox;
    let share = stand.height_share.max(arrangement.least_height.min(stand.base - TOP_GAP));
    let scale = (share * f64::from(sh) / f64::from(bh.max(1)))
        .min(MAX_WIDTH_SHARE * f64::from(sw) / f64::from(bw.max(1)))
        * arrangement.scale;
    let w = ((f64::from(bw) * scale).round() as u32).clamp(1, sw.max(1));
    let h = ((f64::from(bh) * scale).round() as u32).clamp(1, sh.max(1));
    let free = (i64::from(sw) - i64::from(w)) / 2;
    // A shifted product keeps a margin of a fifth of the free width on its side.
    let x = free + (arrangement.shift.clamp(-1.0, 1.0) * 0.8 * free as f64).round() as i64;
    let bottom = (f64::from(sh) * stand.base).round() as i64;
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

/// Under a side light the wrap is strongest on the lit side and fades on the far one.
fn wrap_maps(scene: &RgbImage, product: &RgbaImage, p: &Placement, light: light::Light) -> Wrap {
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
    let side = light.from_x.clamp(-1.0, 1.0) * light.confidence.clamp(0.0, 1.0);
    let lean = |i: usize| {
        let lit = norm_coord(i as f32 + 0.5, w) * side.signum();
        1.0 - WRAP_LEAN * side.abs() * (1.0 - lit) / 2.0
    };
    let amount = Plane {
        width: w,
        height: h,
        data: alpha
            .data
            .iter()
            .zip(&blurred.data)
            .enumerate()
            .map(|(k, (a, b))| WRAP * a * (1.0 - b).clamp(0.0, 1.0) * lean(k % w))
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
