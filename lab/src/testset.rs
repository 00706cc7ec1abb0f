//! A deterministic generator of product shots with exact mattes, for measuring the cut.
//!
//! Real photos come without ground truth, so quality is measured on rendered product-like
//! objects (bottles with labels, boxes, mugs with handles, white-on-white, glossy,
//! touching the frame) on backdrops with what real sweeps have: vignetting, a gradient,
//! sensor noise, a contact shadow and JPEG compression. The alpha is the exact coverage of
//! the object's shape (4x4 supersampled at edges). Same seed, same set.
//!
//! Its generator is the workspace's one SplitMix64 ([`backdrop_fakes::rng`]): small and
//! stable, so the set cannot change when a crate updates.

use backdrop_fakes::rng::SplitMix64;
use image::{GrayImage, Luma, Rgb, RgbImage};

/// Added to every seed before it becomes the generator's state: the set has been seeded
/// this way since it existed, and changing it would change every shot.
const SEED_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The generator seeded as the set seeds its shots and scenes (`seed` mixed with
/// a constant), for callers that want noise reproducible in the same way.
pub fn seeded(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ SEED_MIX)
}

/// What kind of product shot a sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bottle,
    Box,
    Mug,
    WhiteOnWhite,
    Glossy,
    Touching,
}

impl Kind {
    /// Every kind, in the order a set cycles through them (sample `i` is `ALL[i % 6]`).
    pub const ALL: [Kind; 6] =
        [Kind::Bottle, Kind::Box, Kind::Mug, Kind::WhiteOnWhite, Kind::Glossy, Kind::Touching];

    /// The kind's name in the set's file names (`NNN_kind.jpg`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bottle => "bottle",
            Kind::Box => "box",
            Kind::Mug => "mug",
            Kind::WhiteOnWhite => "white",
            Kind::Glossy => "glossy",
            Kind::Touching => "touching",
        }
    }
}

/// One rendered product shot: the photo (before JPEG) and its exact matte.
pub struct Shot {
    pub kind: Kind,
    pub image: RgbImage,
    pub alpha: GrayImage,
    /// JPEG quality the set stores this shot with.
    pub jpeg_quality: u8,
}

/// A piece of an object: a convex polygon, a rounded rectangle, an ellipse or a ring.
#[derive(Clone, Debug)]
enum Prim {
    RRect { x0: f32, y0: f32, x1: f32, y1: f32, r: f32 },
    Ellipse { cx: f32, cy: f32, rx: f32, ry: f32 },
    Ring { cx: f32, cy: f32, rx: f32, ry: f32, thick: f32 },
    Poly(Vec<(f32, f32)>),
}

impl Prim {
    fn inside(&self, x: f32, y: f32) -> bool {
        match self {
            Prim::RRect { x0, y0, x1, y1, r } => {
                if x < *x0 || x > *x1 || y < *y0 || y > *y1 {
                    return false;
                }
                // Tiny shots can make the radius exceed half a side.
                let r = r.min((x1 - x0) / 2.0).min((y1 - y0) / 2.0).max(0.0);
                let cx = x.clamp(x0 + r, x1 - r);
                let cy = y.clamp(y0 + r, y1 - r);
                (x - cx).powi(2) + (y - cy).powi(2) <= r * r
            }
            Prim::Ellipse { cx, cy, rx, ry } => ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0,
            Prim::Ring { cx, cy, rx, ry, thick } => {
                let outer = ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0;
                let inner = ((x - cx) / (rx - thick)).powi(2) + ((y - cy) / (ry - thick)).powi(2) <= 1.0;
                outer && !inner
            }
            Prim::Poly(pts) => {
                let n = pts.len();
                let mut sign = 0.0f32;
                for i in 0..n {
                    let (ax, ay) = pts[i];
                    let (bx, by) = pts[(i + 1) % n];
                    let cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax);
                    if cross != 0.0 {
                        if sign == 0.0 {
                            sign = cross.signum();
                        } else if cross.signum() != sign {
                            return false;
                        }
                    }
                }
                true
            }
        }
    }

    fn bounds(&self) -> (f32, f32, f32, f32) {
        match self {
            Prim::RRect { x0, y0, x1, y1, .. } => (*x0, *y0, *x1, *y1),
            Prim::Ellipse { cx, cy, rx, ry } | Prim::Ring { cx, cy, rx, ry, .. } => {
                (cx - rx, cy - ry, cx + rx, cy + ry)
            }
            Prim::Poly(pts) => pts.iter().fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |b, p| {
                (b.0.min(p.0), b.1.min(p.1), b.2.max(p.0), b.3.max(p.1))
            }),
        }
    }
}

/// A shaded piece: where it is and how it is coloured (later pieces paint over earlier).
struct Piece {
    prim: Prim,
    base: [f32; 3],
    /// Cylinder-like shading across this horizontal span (centre, half width), if round.
    round: Option<(f32, f32)>,
    /// Strength of a specular highlight stripe (0 = matte).
    gloss: f32,
}

impl Piece {
    fn colour(&self, x: f32, y: f32, light_dir: f32) -> [f32; 3] {
        let mut c = self.base;
        if let Some((cx, hw)) = self.round {
            let t = ((x - cx) / hw).clamp(-1.0, 1.0);
            // Lambert on a cylinder lit from one side, with some ambient.
            let n = (1.0 - t * t).sqrt();
            let shade = 0.55 + 0.45 * (n * 0.8 + 0.2 * t * light_dir).max(0.0);
            for v in &mut c {
                *v *= shade;
            }
            if self.gloss > 0.0 {
                let h = (-((t + 0.45 * light_dir) / 0.12).powi(2)).exp() * self.gloss;
                for v in &mut c {
                    *v += (250.0 - *v) * h;
                }
            }
        } else {
            let _ = (x, y);
        }
        c
    }
}

/// A product: pieces drawn in order.
struct Object {
    pieces: Vec<Piece>,
}

impl Object {
    fn bounds(&self) -> (f32, f32, f32, f32) {
        self.pieces.iter().fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |b, p| {
            let q = p.prim.bounds();
            (b.0.min(q.0), b.1.min(q.1), b.2.max(q.2), b.3.max(q.3))
        })
    }

    /// The topmost piece covering (x, y).
    fn piece_at(&self, x: f32, y: f32) -> Option<&Piece> {
        self.pieces.iter().rev().find(|p| p.prim.inside(x, y))
    }
}

fn saturated(rng: &mut SplitMix64) -> [f32; 3] {
    let palette = [
        [200.0, 40.0, 45.0],
        [30.0, 90.0, 170.0],
        [40.0, 140.0, 80.0],
        [230.0, 170.0, 30.0],
        [120.0, 50.0, 140.0],
        [25.0, 25.0, 30.0],
        [150.0, 90.0, 50.0],
        [20.0, 150.0, 160.0],
        [235.0, 110.0, 40.0],
    ];
    let c = rng.pick(&palette);
    c.map(|v: f32| (v + rng.range(-15.0, 15.0)).clamp(5.0, 250.0))
}

fn bottle(
    rng: &mut SplitMix64,
    cx: f32,
    base: f32,
    height: f32,
    colour: [f32; 3],
    label: [f32; 3],
    gloss: f32,
) -> Object {
    let bw = height * rng.range(0.28, 0.4);
    let body_h = height * 0.62;
    let top = base - body_h;
    let neck_w = bw * rng.range(0.3, 0.4);
    let mut pieces = vec![
        Piece {
            prim: Prim::RRect { x0: cx - bw / 2.0, y0: top, x1: cx + bw / 2.0, y1: base, r: bw * 0.12 },
            base: colour,
            round: Some((cx, bw / 2.0)),
            gloss,
        },
        Piece {
            prim: Prim::Ellipse { cx, cy: top + 1.0, rx: bw / 2.0, ry: height * 0.1 },
            base: colour,
            round: Some((cx, bw / 2.0)),
            gloss,
        },
        Piece {
            prim: Prim::RRect {
                x0: cx - neck_w / 2.0,
                y0: base - height * 0.9,
                x1: cx + neck_w / 2.0,
                y1: top,
                r: 2.0,
            },
            base: colour,
            round: Some((cx, neck_w / 2.0)),
            gloss,
        },
        Piece {
            prim: Prim::RRect {
                x0: cx - neck_w * 0.6,
                y0: base - height,
                x1: cx + neck_w * 0.6,
                y1: base - height * 0.88,
                r: 3.0,
            },
            base: [30.0, 30.0, 35.0],
            round: Some((cx, neck_w * 0.6)),
            gloss: gloss * 0.5,
        },
    ];
    pieces.push(Piece {
        prim: Prim::RRect {
            x0: cx - bw / 2.0 + 1.0,
            y0: top + body_h * 0.25,
            x1: cx + bw / 2.0 - 1.0,
            y1: top + body_h * 0.7,
            r: 0.0,
        },
        base: label,
        round: Some((cx, bw / 2.0)),
        gloss: 0.0,
    });
    Object { pieces }
}

fn boxed(rng: &mut SplitMix64, cx: f32, base: f32, height: f32, colour: [f32; 3]) -> Object {
    let w = height * rng.range(0.5, 0.9);
    let depth = height * rng.range(0.12, 0.22);
    let x0 = cx - w / 2.0 - depth / 2.0;
    let front_top = base - height + depth;
    let dark = colour.map(|v| v * 0.7);
    let light = colour.map(|v| (v * 1.15).min(255.0));
    Object {
        pieces: vec![
            Piece {
                prim: Prim::RRect { x0, y0: front_top, x1: x0 + w, y1: base, r: 1.5 },
                base: colour,
                round: None,
                gloss: 0.0,
            },
            Piece {
                prim: Prim::Poly(vec![
                    (x0, front_top),
                    (x0 + depth, front_top - depth),
                    (x0 + w + depth, front_top - depth),
                    (x0 + w, front_top),
                ]),
                base: light,
                round: None,
                gloss: 0.0,
            },
            Piece {
                prim: Prim::Poly(vec![
                    (x0 + w, front_top),
                    (x0 + w + depth, front_top - depth),
                    (x0 + w + depth, base - depth),
                    (x0 + w, base),
                ]),
                base: dark,
                round: None,
                gloss: 0.0,
            },
        ],
    }
}

fn mug(rng: &mut SplitMix64, cx: f32, base: f32, height: f32, colour: [f32; 3], gloss: f32) -> Object {
    let w = height * rng.range(0.75, 0.95);
    let x1 = cx + w / 2.0;
    let hr = height * rng.range(0.28, 0.34);
    Object {
        pieces: vec![
            Piece {
                prim: Prim::Ring { cx: x1, cy: base - height * 0.5, rx: hr, ry: hr * 1.1, thick: hr * 0.28 },
                base: colour.map(|v| v * 0.9),
                round: None,
                gloss: 0.0,
            },
            Piece {
                prim: Prim::RRect { x0: cx - w / 2.0, y0: base - height, x1, y1: base, r: w * 0.06 },
                base: colour,
                round: Some((cx, w / 2.0)),
                gloss,
            },
        ],
    }
}

/// Renders sample `index` of the set with `seed` at `width x height`.
pub fn shot(seed: u64, index: usize, width: u32, height: u32) -> Shot {
    let kind = Kind::ALL[index % Kind::ALL.len()];
    let mut rng = seeded(seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
    let (w, h) = (width.max(8) as f32, height.max(8) as f32);

    let white = kind == Kind::WhiteOnWhite;
    let backdrop: [f32; 3] = if white {
        let v = rng.range(238.0, 250.0);
        [v, v, v - rng.range(0.0, 4.0)]
    } else {
        rng.pick(&[
            [242.0, 242.0, 240.0],
            [215.0, 215.0, 218.0],
            [225.0, 232.0, 245.0],
            [245.0, 228.0, 215.0],
            [212.0, 235.0, 218.0],
            [95.0, 140.0, 190.0],
            [45.0, 45.0, 50.0],
            [180.0, 180.0, 175.0],
        ])
    };
    let product = if white {
        let d = rng.range(12.0, 22.0);
        [backdrop[0] - d, backdrop[1] - d * 0.95, backdrop[2] - d * 1.2]
    } else {
        let mut c = saturated(&mut rng);
        // Keep the product distinguishable from its backdrop, as any photographer would.
        if (c[0] - backdrop[0]).abs() + (c[1] - backdrop[1]).abs() + (c[2] - backdrop[2]).abs() < 90.0 {
            c = c.map(|v| 255.0 - v);
        }
        c
    };
    let obj_h = h * rng.range(0.45, 0.72);
    let mut cx = w * rng.range(0.38, 0.62);
    let mut base = h * rng.range(0.8, 0.92);
    if kind == Kind::Touching {
        if rng.unit() < 0.5 {
            base = h + obj_h * rng.range(0.05, 0.2);
        } else {
            cx = w * 0.12;
        }
    }
    let gloss = match kind {
        Kind::Glossy => rng.range(0.7, 0.95),
        Kind::WhiteOnWhite => 0.0,
        _ => rng.range(0.0, 0.3),
    };
    let shape = match kind {
        Kind::Bottle | Kind::Glossy => 0,
        Kind::Box => 1,
        Kind::Mug => 2,
        _ => (rng.next_u64() % 3) as usize,
    };
    let label = if white { product.map(|v| v - 10.0) } else { saturated(&mut rng) };
    let object = match shape {
        0 => bottle(&mut rng, cx, base, obj_h, product, label, gloss),
        1 => boxed(&mut rng, cx, base, obj_h * 0.8, product),
        _ => mug(&mut rng, cx, base, obj_h * 0.6, product, gloss),
    };
    let light_dir = if rng.unit() < 0.5 { -1.0 } else { 1.0 };

    // Backdrop: sweep gradient and vignette, then the product's contact shadow.
    let sweep = rng.range(-0.12, 0.12);
    let vignette = rng.range(0.04, 0.22);
    let (bx0, _, bx1, _) = object.bounds();
    let shadow_strength = rng.range(0.25, 0.5);
    let shadow_cx = (bx0 + bx1) / 2.0 + light_dir * -0.08 * (bx1 - bx0);
    let shadow_rx = (bx1 - bx0) * 0.6;
    let shadow_ry = obj_h * 0.05;
    let mut image = RgbImage::new(w as u32, h as u32);
    let mut alpha = GrayImage::new(w as u32, h as u32);
    let noise_sigma = rng.range(1.0, 3.0);
    let (ox0, oy0, ox1, oy1) = object.bounds();
    for y in 0..h as u32 {
        for x in 0..w as u32 {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let u = fx / w * 2.0 - 1.0;
            let v = fy / h * 2.0 - 1.0;
            let light = (1.0 + sweep * v) * (1.0 - vignette * (u * u + v * v) / 2.0);
            let e = ((fx - shadow_cx) / shadow_rx).powi(2) + ((fy - base) / shadow_ry).powi(2);
            let shade = 1.0
                - shadow_strength * (-1.5 * e).exp() * if fy < base - shadow_ry * 3.0 { 0.0 } else { 1.0 };
            let mut px = backdrop.map(|c| c * light * shade);
            let mut cover = 0.0f32;
            if fx >= ox0 - 1.0 && fx <= ox1 + 1.0 && fy >= oy0 - 1.0 && fy <= oy1 + 1.0 {
                let (cov, colour) = coverage(&object, x as f32, y as f32, light_dir);
                cover = cov;
                if cov > 0.0 {
                    let c = colour.map(|c| c * (0.92 + 0.08 * light));
                    for k in 0..3 {
                        px[k] = c[k] * cov + px[k] * (1.0 - cov);
                    }
                }
            }
            let grain = rng.normal() * noise_sigma;
            let pixel =
                px.map(|c| (c + grain + rng.normal() * noise_sigma * 0.5).round().clamp(0.0, 255.0) as u8);
            image.put_pixel(x, y, Rgb(pixel));
            alpha.put_pixel(x, y, Luma([(cover * 255.0).round() as u8]));
        }
    }
    let jpeg_quality = (rng.range(75.0, 93.0)) as u8;
    Shot { kind, image, alpha, jpeg_quality }
}

/// The README's example: a bottle with a label on a light, near-neutral sweep.
pub fn example_product(width: u32, height: u32) -> RgbImage {
    // The backdrop and product are drawn before any pixel noise, so a thumbnail of the
    // same seed shows what the full shot will be: pick the first pleasant one.
    let pleasant = |seed: u64| {
        let thumb = shot(seed, 0, 64, 48).image;
        let c = thumb.get_pixel(2, 2);
        let (r, g, b) = (i32::from(c[0]), i32::from(c[1]), i32::from(c[2]));
        r > 190 && (r - b).abs() < 25 && (r - g).abs() < 25 && r < 248
    };
    let seed = (1..200u64).find(|s| pleasant(*s)).unwrap_or(1);
    shot(seed, 0, width, height).image
}

/// Exact coverage of a pixel by the object (4x4 supersampled where it is partial) and the
/// object's mean colour over the covered samples.
fn coverage(object: &Object, x: f32, y: f32, light_dir: f32) -> (f32, [f32; 3]) {
    let corners = [(x, y), (x + 1.0, y), (x, y + 1.0), (x + 1.0, y + 1.0), (x + 0.5, y + 0.5)];
    let hits = corners.iter().filter(|(a, b)| object.piece_at(*a, *b).is_some()).count();
    if hits == 0 {
        return (0.0, [0.0; 3]);
    }
    let (mut n, mut sum) = (0usize, [0.0f32; 3]);
    let grid = if hits == corners.len() { 1 } else { 4 };
    for j in 0..grid {
        for i in 0..grid {
            let sx = x + (i as f32 + 0.5) / grid as f32;
            let sy = y + (j as f32 + 0.5) / grid as f32;
            if let Some(piece) = object.piece_at(sx, sy) {
                let c = piece.colour(sx, sy, light_dir);
                for k in 0..3 {
                    sum[k] += c[k];
                }
                n += 1;
            }
        }
    }
    if n == 0 {
        return (0.0, [0.0; 3]);
    }
    let cov = n as f32 / (grid * grid) as f32;
    (cov, sum.map(|s| s / n as f32))
}

/// A plausible scene to place products into: a wall fading into a table top.
pub fn scene(seed: u64, variant: usize, width: u32, height: u32) -> RgbImage {
    let mut rng = seeded(seed ^ (0xABCD + variant as u64));
    let (wall, table) = match variant % 2 {
        0 => ([232.0, 226.0, 214.0], [150.0, 108.0, 72.0]),
        _ => ([196.0, 210.0, 222.0], [226.0, 226.0, 224.0]),
    };
    let horizon = height as f32 * rng.range(0.55, 0.65);
    let streaks: Vec<f32> = (0..64).map(|_| rng.range(-6.0, 6.0)).collect();
    let mut img = RgbImage::new(width.max(1), height.max(1));
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let u = fx / w * 2.0 - 1.0;
        // A soft horizon: the table edge is lit, the wall fades up into shade.
        let t = ((fy - horizon) / (h * 0.01)).clamp(-1.0, 1.0) * 0.5 + 0.5;
        let wall_light = 0.85 + 0.15 * (fy / horizon).min(1.0) - 0.06 * u * u;
        let depth = ((fy - horizon) / (h - horizon).max(1.0)).clamp(0.0, 1.0);
        let grain = streaks[((fy - horizon).max(0.0) as usize / 3 + (fx as usize / 97)) % streaks.len()]
            * (1.0 - depth * 0.5);
        let table_light = 0.9 + 0.15 * depth - 0.08 * u * u;
        let mut c = [0.0f32; 3];
        for k in 0..3 {
            let a = wall[k] * wall_light;
            let b = table[k] * table_light + grain;
            c[k] = a * (1.0 - t) + b * t;
        }
        *p = Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8));
    }
    img
}

/// JPEG bytes of an image, as the set stores its inputs.
pub fn jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(image)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a over bytes: a dependency-free fingerprint.
    fn fnv(h: &mut u64, bytes: &[u8]) {
        for b in bytes {
            *h ^= u64::from(*b);
            *h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }

    /// Quality figures in the README and the floors in `tests/local_engine.rs` were
    /// measured on these sets: the generator (and the SplitMix64 it draws from) must keep
    /// producing them bit for bit. The fingerprint was taken from the generator as it was
    /// in the library, before it moved here.
    #[test]
    fn the_set_is_unchanged() {
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        for seed in [1u64, 2, 3, 6, 8] {
            for index in 0..12 {
                let s = shot(seed, index, 120, 90);
                fnv(&mut h, s.image.as_raw());
                fnv(&mut h, s.alpha.as_raw());
                fnv(&mut h, &[s.jpeg_quality]);
            }
            for variant in 0..2 {
                fnv(&mut h, scene(seed, variant, 120, 90).as_raw());
            }
        }
        fnv(&mut h, example_product(160, 120).as_raw());
        assert_eq!(h, 0xC900_9C8F_3DA5_012C, "the generated set changed");
    }
}
