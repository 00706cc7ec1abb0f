//! Contact and cast shadows: reuse the product's own shadow from the source photo when it
//! has one, otherwise synthesise a soft one from the product's footprint; and, when the
//! scene is lit from a side, a cast shadow of the product's silhouette falling away from
//! that light.
//!
//! A product without a shadow floats; a borrowed shadow is the most natural because it
//! came with the product's real shape. But it came with the product photo's light too:
//! against a scene lit from one side, a shadow straight under the product (or towards the
//! light) gives the paste away, so the cast part follows the scene's [`Light`].

use image::RgbaImage;

use super::blur::gaussian_like;
use super::light::Light;
use super::raster::Plane;

/// Horizontal reach of the cast shadow's tip, as a share of the product's height, for a
/// light fully from the side and fully trusted.
const CAST_REACH: f32 = 0.75;
/// How far the cast shadow climbs back towards the wall per unit of horizontal reach: a
/// floor seen from above foreshortens what falls behind the product.
const CAST_RISE: f32 = 0.22;
/// Darkness of the cast shadow at the product's base, at full confidence.
const CAST_DARKNESS: f32 = 0.5;

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

/// The directional part of a shadow, derived from the scene's light: how far the
/// silhouette is sheared along the floor, how dark and how soft it is.
#[derive(Clone, Copy, Debug)]
pub struct Cast {
    /// Horizontal shift of the shadow of a point, per unit of its height above the base
    /// (positive: to the right).
    pub shear: f32,
    /// Darkness at the base (0 = no cast shadow).
    pub darkness: f32,
    /// Blur radius as a share of the product's height: a confident, hard light casts a
    /// crisper shadow.
    pub softness: f32,
}

impl Cast {
    pub fn from_light(light: Light) -> Cast {
        let c = light.confidence.clamp(0.0, 1.0);
        Cast {
            shear: -light.from_x.clamp(-1.0, 1.0) * c * CAST_REACH,
            darkness: CAST_DARKNESS * c * light.from_x.abs().min(1.0),
            softness: 0.015 + 0.035 * (1.0 - c),
        }
    }

    fn active(&self) -> bool {
        self.darkness > 0.01 && self.shear.abs() > 0.02
    }
}

/// The rectangle around the product's base that a shadow may cover: under it, and as far
/// to the side as the cast shadow reaches.
fn layer_frame(p: &Placement, cast: &Cast) -> (i64, i64, usize, usize, f32) {
    let pad = i64::from(p.w) / 3 + 4;
    let reach = if cast.active() {
        (cast.shear.abs() * p.h as f32 + 3.0 * cast.softness * p.h as f32) as i64
    } else {
        0
    };
    let (left, right) = if cast.shear < 0.0 { (pad.max(reach), pad) } else { (pad, pad.max(reach)) };
    let x0 = p.x - left;
    let y0 = p.y + i64::from(p.h) / 2;
    let w = i64::from(p.w) + left + right;
    let h = i64::from(p.h) / 2 + i64::from(p.h) / 4 + 4;
    // Work at most ~400 px wide: shadows are soft.
    let step = (w as f32 / 400.0).max(1.0);
    (x0, y0, ((w as f32 / step).ceil() as usize).max(1), ((h as f32 / step).ceil() as usize).max(1), step)
}

/// Top and bottom row (placed-product pixels) of each column of the placed product that
/// has any product: the silhouette a cast shadow is made of.
pub fn columns(product: &RgbaImage) -> Vec<Option<(u32, u32)>> {
    let (w, h) = product.dimensions();
    let solid = |x: u32, y: u32| product.get_pixel(x, y)[3] > 128;
    (0..w)
        .map(|x| {
            let bottom = (0..h).rev().find(|&y| solid(x, y))?;
            let top = (0..=bottom).find(|&y| solid(x, y)).unwrap_or(bottom);
            Some((top, bottom))
        })
        .collect()
}

/// The silhouette sheared onto the floor, in the layer's frame: each column's shadow runs
/// from its base away from the light, fading along its length, then blurred soft.
fn cast_plane(
    p: &Placement,
    columns: &[Option<(u32, u32)>],
    cast: &Cast,
    frame: (i64, i64, usize, usize, f32),
) -> Plane {
    let (x0, y0, w, h, step) = frame;
    let mut plane = Plane::new(w, h, 0.0);
    if !cast.active() {
        return plane;
    }
    // The floor line under the product: shadows start from the lowest base, so a
    // product's inner columns (a handle, a rounded bottom) cast from the floor too.
    let floor = columns.iter().filter_map(|c| c.map(|(_, b)| b)).max().unwrap_or(0);
    let stride = (step as usize).max(1);
    for (i, column) in columns.iter().enumerate().step_by(stride) {
        let Some((top, _)) = column else { continue };
        let tall = (floor.saturating_sub(*top)) as f32;
        let length = tall * cast.shear.abs();
        let n = ((length / step).ceil() as usize).clamp(1, 4 * w);
        let sx = (p.x + i as i64) as f32;
        let sy = (p.y + i64::from(floor)) as f32;
        for k in 0..=n {
            let t = k as f32 / n as f32;
            let x = sx + cast.shear * tall * t;
            let y = sy - CAST_RISE * length * t;
            let (lx, ly) = ((x - x0 as f32) / step, (y - y0 as f32) / step);
            if lx < 0.0 || ly < 0.0 || lx >= w as f32 || ly >= h as f32 {
                continue;
            }
            let cell = &mut plane.data[ly as usize * w + lx as usize];
            *cell = cell.max(cast.darkness * (1.0 - 0.6 * t));
        }
    }
    let r = ((cast.softness * p.h as f32 / step) as usize).max(1);
    gaussian_like(&plane, r)
}

/// Darkness of two shadows over each other (multiplicative in light).
fn over(a: f32, b: f32) -> f32 {
    1.0 - (1.0 - a) * (1.0 - b)
}

/// The source photo's own shadow, mapped onto the scene, if it is strong enough to use.
/// `source` is the shadow plane at working resolution of a `src_full` sized photo.
/// With a side light the borrowed shadow is kept as the contact shadow, lighter, and the
/// cast part is added on the scene's side.
pub fn borrowed(
    p: &Placement,
    source: &Plane,
    src_full: (u32, u32),
    columns: &[Option<(u32, u32)>],
    cast: &Cast,
) -> Option<ShadowLayer> {
    let frame = layer_frame(p, cast);
    let (x0, y0, w, h, step) = frame;
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
    if !enough {
        return None;
    }
    let keep = 1.0 - 0.5 * cast.darkness / CAST_DARKNESS;
    let thrown = cast_plane(p, columns, cast, frame);
    let data = plane.data.iter().zip(&thrown.data).map(|(b, c)| over(b * keep, *c)).collect();
    Some(ShadowLayer { x0, y0, plane: Plane { width: w, height: h, data }, step })
}

/// A soft synthetic shadow: a tight contact line under the footprint plus a wide ellipse
/// (shifted and lighter under a side light), and the cast shadow. `columns[i]` is the top
/// and bottom row (in placed-product pixels) of column `i` of the placed product, if that
/// column has any product.
pub fn synthetic(p: &Placement, columns: &[Option<(u32, u32)>], cast: &Cast) -> ShadowLayer {
    let frame = layer_frame(p, cast);
    let (x0, y0, w, h, step) = frame;
    let mut contact = Plane::new(w, h, 0.0);
    let reach = (f64::from(p.h) * 0.012).max(2.0) as f32 / step;
    for (i, column) in columns.iter().enumerate() {
        let Some((_, bottom)) = column else { continue };
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
    let side = cast.darkness / CAST_DARKNESS;
    let cx = (p.x as f32 + p.w as f32 / 2.0 + 0.15 * cast.shear * p.h as f32 - x0 as f32) / step;
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
            let ellipse = 0.35 * (1.0 - 0.4 * side) * (-2.0 * e).exp();
            over(*c, ellipse)
        })
        .collect::<Vec<f32>>();
    let thrown = cast_plane(p, columns, cast, frame);
    let data = data.iter().zip(&thrown.data).map(|(a, b)| over(*a, *b)).collect();
    ShadowLayer { x0, y0, plane: Plane { width: w, height: h, data }, step }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Placement = Placement { x: 200, y: 100, w: 100, h: 200, src_x: 0, src_y: 0, scale: 1.0 };

    fn box_columns() -> Vec<Option<(u32, u32)>> {
        vec![Some((0, P.h - 1)); P.w as usize]
    }

    /// Total darkness left of, right of, and just under the product.
    fn sides(layer: &ShadowLayer) -> (f32, f32, f32) {
        let (mut left, mut right, mut under) = (0.0, 0.0, 0.0);
        let base = P.y + i64::from(P.h);
        for y in P.y..base + 60 {
            for x in 0..600 {
                let d = layer.at(x, y);
                if x < P.x {
                    left += d;
                } else if x >= P.x + i64::from(P.w) {
                    right += d;
                } else if (base..base + 4).contains(&y) {
                    under += d;
                }
            }
        }
        (left, right, under / (4.0 * P.w as f32))
    }

    #[test]
    fn a_side_light_throws_the_synthetic_shadow_to_the_other_side() {
        let from_left = Cast::from_light(Light { from_x: -1.0, confidence: 1.0 });
        let (l, r, under) = sides(&synthetic(&P, &box_columns(), &from_left));
        assert!(r > 4.0 * l && under > 0.2, "left {l} right {r} under {under}");
        let from_right = Cast::from_light(Light { from_x: 1.0, confidence: 1.0 });
        let (l, r, under) = sides(&synthetic(&P, &box_columns(), &from_right));
        assert!(l > 4.0 * r && under > 0.2, "left {l} right {r} under {under}");
        let (l, r, _) = sides(&synthetic(&P, &box_columns(), &Cast::from_light(Light::OVERHEAD)));
        assert!((l - r).abs() <= 0.01 * l.max(r), "left {l} right {r}");
    }

    #[test]
    fn a_borrowed_shadow_stays_under_the_product_and_gains_the_cast() {
        // The source photo's own shadow: a band under the base (the product's box starts
        // at the source's origin, at the scene's scale).
        let source = Plane::from_fn(600, 400, |x, y| {
            if (0..100).contains(&x) && (195..215).contains(&y) { 0.5 } else { 0.0 }
        });
        let overhead = borrowed(&P, &source, (600, 400), &box_columns(), &Cast::from_light(Light::OVERHEAD))
            .expect("a strong shadow is borrowed");
        let (l0, r0, under0) = sides(&overhead);
        let cast = Cast::from_light(Light { from_x: -1.0, confidence: 1.0 });
        let lit = borrowed(&P, &source, (600, 400), &box_columns(), &cast).expect("still borrowed");
        let (l, r, under) = sides(&lit);
        assert!(r > 4.0 * l && r > 2.0 * r0, "left {l} right {r} (overhead {l0} {r0})");
        assert!(under > 0.5 * under0 && under > 0.1, "under {under} (overhead {under0})");
    }

    #[test]
    fn tiny_placements_do_not_panic() {
        let p = Placement { x: 0, y: 0, w: 1, h: 1, src_x: 0, src_y: 0, scale: 1.0 };
        let cast = Cast::from_light(Light { from_x: 1.0, confidence: 1.0 });
        let layer = synthetic(&p, &[Some((0, 0))], &cast);
        assert!(layer.at(0, 0).is_finite());
        assert!(borrowed(&p, &Plane::new(1, 1, 0.0), (1, 1), &[None], &cast).is_none());
    }
}
