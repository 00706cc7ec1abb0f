//! A cut-out product on pure white (Amazon's main image): every pixel outside the product
//! and its soft contact shadow is exactly RGB 255, and the product's longer side fills
//! [`WHITE_FILL`](super::format::WHITE_FILL) of the frame, centred.

use image::{Rgb, RgbImage, RgbaImage};

use super::reframe::{alpha_box, resize_rgba_crop};

/// How a variant stages the product on white: all within Amazon's rules.
#[derive(Clone, Copy, Debug)]
pub struct WhiteStaging {
    /// Share of the frame's side the product's longer side takes (0.85-0.875).
    pub fill: f64,
    /// Horizontal shift of the product, as a share of the frame (small: margins stay).
    pub shift: f64,
    /// Where the light comes from: the shadow's offset under the product, as a share of
    /// the product's width (negative: light from the right).
    pub light: f32,
}

impl WhiteStaging {
    /// The staging of `variant`: the usual one, then smaller and larger within the
    /// marketplace's fill, slightly off centre, lit from either side.
    pub fn of_variant(variant: super::Variant) -> Self {
        let usual = Self::default();
        match variant.0 % 4 {
            0 => usual,
            1 => Self { fill: 0.852, shift: -0.015, light: 1.0 },
            2 => Self { fill: 0.872, shift: 0.012, light: -1.0 },
            _ => Self { fill: 0.865, shift: 0.006, light: 0.5 },
        }
    }
}

impl Default for WhiteStaging {
    fn default() -> Self {
        Self { fill: super::format::WHITE_FILL, shift: 0.0, light: 0.0 }
    }
}

/// Darkness of the shadow's core.
const SHADOW_PEAK: f32 = 0.28;
/// The shadow's half-height, as a share of the frame's side: a contact shadow, not a cast.
const SHADOW_REACH: f32 = 0.008;

/// The product of `cutout` (alpha = matte) on a `side` x `side` white frame; `None` if
/// nothing in it is opaque.
pub fn on_white(cutout: &RgbaImage, side: u32, staging: WhiteStaging) -> Option<RgbImage> {
    let bbox = alpha_box(cutout, 8)?;
    let target = staging.fill * f64::from(side);
    let scale = target / f64::from(bbox.w.max(bbox.h));
    let pw = ((f64::from(bbox.w) * scale).round() as u32).clamp(1, side);
    let ph = ((f64::from(bbox.h) * scale).round() as u32).clamp(1, side);
    let product = resize_rgba_crop(cutout, bbox, pw, ph);
    let ry = SHADOW_REACH * side as f32;
    // Product and shadow together are centred; the shadow lies under the base.
    let group_h = ph as f32 + 1.6 * ry;
    let x0 = ((f64::from(side - pw) / 2.0) + staging.shift * f64::from(side)).round() as i64;
    let y0 = ((side as f32 - group_h) / 2.0).round().max(0.0) as i64;
    let mut frame = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
    // The shadow: an ellipse under the base, narrower than the product so it never
    // widens what the marketplace measures.
    let rx = (0.3 * pw as f32).max(1.0);
    let cx = x0 as f32 + pw as f32 / 2.0 + staging.light * pw as f32 * 0.12;
    let cy = y0 as f32 + ph as f32 - 0.3 * ry;
    // Clipped to the product's columns: the shadow never widens what is measured.
    let (px0, px1) = (x0.max(0) as f32, (x0 + i64::from(pw)).min(i64::from(side)) as f32);
    let (sx0, sx1) = ((cx - 1.6 * rx).max(px0) as u32, ((cx + 1.6 * rx).min(px1)) as u32);
    let (sy0, sy1) = ((cy - 1.6 * ry).max(0.0) as u32, ((cy + 1.6 * ry) as u32).min(side));
    for y in sy0..sy1 {
        for x in sx0..sx1 {
            let e = ((x as f32 + 0.5 - cx) / rx).powi(2) + ((y as f32 + 0.5 - cy) / ry).powi(2);
            let d = SHADOW_PEAK * (-2.0 * e).exp();
            let v = (255.0 * (1.0 - d)).round();
            // Below half a level the pixel stays exactly white.
            if v < 255.0 {
                frame.put_pixel(x, y, Rgb([v as u8; 3]));
            }
        }
    }
    for (px, py, p) in product.enumerate_pixels() {
        let a = u16::from(p[3]);
        if a == 0 {
            continue;
        }
        let (x, y) = (x0 + i64::from(px), y0 + i64::from(py));
        if x < 0 || y < 0 || x >= i64::from(side) || y >= i64::from(side) {
            continue;
        }
        let under = frame.get_pixel_mut(x as u32, y as u32);
        for c in 0..3 {
            under[c] = ((u16::from(p[c]) * a + u16::from(under[c]) * (255 - a) + 127) / 255) as u8;
        }
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_around_the_product_and_the_fill_is_kept() {
        let mut cut = RgbaImage::new(100, 200);
        for y in 20..180 {
            for x in 30..70 {
                cut.put_pixel(x, y, image::Rgba([40, 60, 200, 255]));
            }
        }
        let out = on_white(&cut, 500, WhiteStaging::default()).unwrap();
        let not_white: Vec<(u32, u32)> =
            out.enumerate_pixels().filter(|(_, _, p)| p.0 != [255; 3]).map(|(x, y, _)| (x, y)).collect();
        let (y0, y1) =
            (not_white.iter().map(|p| p.1).min().unwrap(), not_white.iter().map(|p| p.1).max().unwrap());
        let fill = f64::from(y1 - y0 + 1) / 500.0;
        assert!((0.85..=0.9).contains(&fill), "{fill}");
        assert_eq!(out.get_pixel(0, 0).0, [255; 3]);
        assert!(on_white(&RgbaImage::new(10, 10), 100, WhiteStaging::default()).is_none());
    }

    #[test]
    fn a_wide_product_lit_from_the_side_keeps_its_box_in_every_variant() {
        let mut cut = RgbaImage::new(300, 100);
        for y in 10..90 {
            for x in 10..290 {
                cut.put_pixel(x, y, image::Rgba([120, 30, 20, 255]));
            }
        }
        for v in 0..4 {
            let out = on_white(&cut, 1000, WhiteStaging::of_variant(super::super::Variant(v))).unwrap();
            let xs: Vec<u32> =
                out.enumerate_pixels().filter(|(_, _, p)| p.0 != [255; 3]).map(|(x, _, _)| x).collect();
            let width = xs.iter().max().unwrap() - xs.iter().min().unwrap() + 1;
            let fill = f64::from(width) / 1000.0;
            assert!((0.85..=0.88).contains(&fill), "variant {v}: {fill}");
        }
    }
}
