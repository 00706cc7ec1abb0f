//! Contact shadows: reuse the product's own cast shadow from the source photo when it has
//! one, otherwise synthesise a soft one from the product's footprint.
//!
//! A product without a shadow floats; a borrowed shadow is the most natural because it
//! came with the product's real shape and light.

use super::blur::gaussian_like;
use super::raster::Plane;

/// Where the placed product sits in the scene, and how it maps back to the source photo.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// Top-left of the placed product in the scene.
    pub x: i64,
    pub y: i64,
    /// Placed size.
    pub w: u32,
    pub h: u32,
    /// The product's bounding box in the source photo (full resolution).
    pub src_x: u32,
    pub src_y: u32,
    /// Scene pixels per source pixel.
    pub scale: f64,
}

/// A darkening layer over a rectangle of the scene.
pub struct ShadowLayer {
    pub x0: i64,
    pub y0: i64,
    pub plane: Plane,
    /// Pixels of the layer's plane per scene pixel (the layer is computed coarse).
    pub step: f32,
}

impl ShadowLayer {
    /// Darkness at scene pixel (x, y).
    #[inline]
    pub fn at(&self, x: i64, y: i64) -> f32 {
        let fx = (x - self.x0) as f32 / self.step + 0.5 / self.step;
        let fy = (y - self.y0) as f32 / self.step + 0.5 / self.step;
        if fx < 0.0 || fy < 0.0 || fx > self.plane.width as f32 || fy > self.plane.height as f32 {
            return 0.0;
        }
        self.plane.sample(fx, fy)
    }
}

/// The rectangle around the product's base that a shadow may cover.
fn layer_frame(p: &Placement) -> (i64, i64, usize, usize, f32) {
    let pad_x = i64::from(p.w) / 3 + 4;
    let x0 = p.x - pad_x;
    let y0 = p.y + i64::from(p.h) / 2;
    let w = i64::from(p.w) + 2 * pad_x;
    let h = i64::from(p.h) / 2 + i64::from(p.h) / 4 + 4;
    // Work at most ~400 px wide: shadows are soft.
    let step = (w as f32 / 400.0).max(1.0);
    (x0, y0, ((w as f32 / step).ceil() as usize).max(1), ((h as f32 / step).ceil() as usize).max(1), step)
}

/// The source photo's own shadow, mapped onto the scene, if it is strong enough to use.
/// `source` is the shadow plane at working resolution of a `src_full` sized photo.
pub fn borrowed(p: &Placement, source: &Plane, src_full: (u32, u32)) -> Option<ShadowLayer> {
    let (x0, y0, w, h, step) = layer_frame(p);
    let kx = source.width as f64 / f64::from(src_full.0.max(1));
    let ky = source.height as f64 / f64::from(src_full.1.max(1));
    let base = p.y as f64 + f64::from(p.h);
    let plane = Plane::from_fn(w, h, |i, j| {
        let sx = x0 as f64 + (i as f64 + 0.5) * f64::from(step);
        let sy = y0 as f64 + (j as f64 + 0.5) * f64::from(step);
        // Scene -> source full resolution -> source working resolution.
        let fx = f64::from(p.src_x) + (sx - p.x as f64) / p.scale;
        let fy = f64::from(p.src_y) + (sy - p.y as f64) / p.scale;
        // Only the shadow near the base: fade out what lies far below it.
        let below = ((sy - base) / (0.2 * f64::from(p.h).max(1.0))).max(0.0);
        let fade = (1.0 - below).clamp(0.0, 1.0) as f32;
        source.sample((fx * kx) as f32, (fy * ky) as f32) * fade
    });
    let peak = plane.data.iter().copied().fold(0.0f32, f32::max);
    let mass: f32 = plane.data.iter().sum::<f32>() * step * step;
    // A real contact shadow is clearly darker than noise and covers some of the base.
    let enough = peak > 0.12 && mass > 0.02 * f64::from(p.w) as f32 * f64::from(p.h) as f32 * 0.05;
    enough.then_some(ShadowLayer { x0, y0, plane, step })
}

/// A soft synthetic shadow: a tight contact line under the footprint plus a wide ellipse.
/// `footprint[i]` is the bottom row (in placed-product pixels) of column `i` of the placed
/// product, if that column has any product. `light` moves the soft part of the shadow
/// sideways (share of the product's width): the light comes from the other side.
pub fn synthetic(p: &Placement, footprint: &[Option<u32>], light: f32) -> ShadowLayer {
    let (x0, y0, w, h, step) = layer_frame(p);
    let mut contact = Plane::new(w, h, 0.0);
    let reach = (f64::from(p.h) * 0.012).max(2.0) as f32 / step;
    for (i, bottom) in footprint.iter().enumerate() {
        let Some(bottom) = bottom else { continue };
        let sx = p.x + i as i64;
        let sy = p.y + i64::from(*bottom);
        let lx = ((sx - x0) as f32 / step) as usize;
        let ly = ((sy - y0) as f32 / step).max(0.0);
        if lx >= w {
            continue;
        }
        for j in (ly as usize)..h {
            let d = (j as f32 - ly) / reach.max(0.5);
            let v = (-d).exp() * 0.6;
            let cell = &mut contact.data[j * w + lx];
            *cell = cell.max(v);
        }
    }
    let contact = gaussian_like(&contact, ((reach * 0.7) as usize).max(1));
    let cx = (p.x as f32 + p.w as f32 * (0.5 + light) - x0 as f32) / step;
    let cy = (p.y as f32 + p.h as f32 - y0 as f32) / step;
    let rx = (p.w as f32 * 0.55 / step).max(1.0);
    let ry = (p.h as f32 * 0.05 / step).max(1.0);
    let data = contact
        .data
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let (i, j) = ((k % w) as f32 + 0.5, (k / w) as f32 + 0.5);
            let e = ((i - cx) / rx).powi(2) + ((j - cy) / ry).powi(2);
            let ellipse = 0.35 * (-2.0 * e).exp();
            1.0 - (1.0 - c) * (1.0 - ellipse)
        })
        .collect();
    ShadowLayer { x0, y0, plane: Plane { width: w, height: h, data }, step }
}
