//! The scene's dominant light direction, estimated from the background photo.
//!
//! A pasted product whose shadow falls against the scene's light gives the composite away
//! at a glance. A photo says where its light comes from in its shading: the wall and the
//! floor are brighter on the lit side, row after row, and the brightest region leans that
//! way. Only the direction in the image plane (left or right) is estimated, with a
//! confidence; a scene that shows none (lit from the front or from above, or a flat
//! colour) gives zero confidence and keeps the overhead shadow.

use image::RgbImage;

use super::color::{linear_to_lab, srgb_to_linear_lut};

/// Relative left-to-right luminance slope (over the frame's half width, against the
/// row's mean) below which a row shows no side light: vignetting and texture reach this.
const SLOPE_FLOOR: f32 = 0.04;
/// Relative slope at which a scene counts as fully side-lit.
const SLOPE_FULL: f32 = 0.20;
/// Share of rows that must agree on the side before the estimate is trusted at all.
const AGREEMENT_FLOOR: f32 = 0.55;
/// Weight of the brightest region's side against the rows' slope.
const BRIGHT_WEIGHT: f32 = 0.3;

/// Where the scene's light comes from, in the image plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Light {
    /// Horizontal side of the light: -1 from the left, 1 from the right, 0 front or overhead.
    pub from_x: f32,
    /// How sure the estimate is, 0..1: 0 keeps the overhead shadow.
    pub confidence: f32,
}

impl Light {
    /// Overhead or frontal light: today's symmetric shadow.
    pub const OVERHEAD: Light = Light { from_x: 0.0, confidence: 0.0 };
}

/// Estimates the light from a small copy of the scene (about a hundred pixels across is
/// plenty: shading is smooth). Each row is read on its own (the wall and the floor have
/// their own brightness; only their slopes are compared) and the median slope decides, so
/// one dark object on a side does not.
pub fn estimate(thumb: &RgbImage) -> Light {
    let (w, h) = (thumb.width() as usize, thumb.height() as usize);
    if w < 8 || h < 4 {
        return Light::OVERHEAD;
    }
    let lut = srgb_to_linear_lut();
    // Lightness (L*): even steps in it look even, so a dark corner does not outweigh a wall.
    let l: Vec<f32> = thumb
        .pixels()
        .map(|p| linear_to_lab([lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]])[0])
        .collect();
    let slopes: Vec<f32> = (0..h).filter_map(|y| row_slope(&l[y * w..(y + 1) * w])).collect();
    if slopes.len() < 3 {
        return Light::OVERHEAD;
    }
    let median = median(&slopes);
    let agreeing =
        slopes.iter().filter(|s| s.signum() == median.signum() && s.abs() > SLOPE_FLOOR / 2.0).count();
    let agreement = agreeing as f32 / slopes.len() as f32;
    let bright = brightest_side(&l, w, h);
    let strength = ((median.abs() - SLOPE_FLOOR) / (SLOPE_FULL - SLOPE_FLOOR)).clamp(0.0, 1.0);
    let trust = ((agreement - AGREEMENT_FLOOR) / (0.9 - AGREEMENT_FLOOR)).clamp(0.0, 1.0);
    // The brightest region confirms or weakens the shading, never decides alone: a white
    // object is bright without being a lamp.
    let side = median.signum();
    let support = 1.0 - BRIGHT_WEIGHT + BRIGHT_WEIGHT * (bright * side).clamp(-1.0, 1.0);
    let confidence = (strength * trust * support).clamp(0.0, 1.0);
    if confidence <= 0.0 {
        return Light::OVERHEAD;
    }
    Light { from_x: side * (median.abs() / SLOPE_FULL).min(1.0), confidence }
}

/// Least-squares slope of lightness over x in [-1, 1], relative to the row's mean; `None`
/// for a row too dark to tell.
fn row_slope(row: &[f32]) -> Option<f32> {
    let n = row.len();
    let mean = row.iter().sum::<f32>() / n as f32;
    if mean < 5.0 {
        return None;
    }
    let (mut sxy, mut sxx) = (0.0f32, 0.0f32);
    for (i, v) in row.iter().enumerate() {
        let x = 2.0 * (i as f32 + 0.5) / n as f32 - 1.0;
        sxy += x * (v - mean);
        sxx += x * x;
    }
    Some(sxy / sxx.max(1e-6) / mean)
}

/// Horizontal position (-1..1) of the brightest few percent of the scene, against the
/// frame's centre, weighted by how much brighter they are than the scene.
fn brightest_side(l: &[f32], w: usize, h: usize) -> f32 {
    let mut sorted = l.to_vec();
    sorted.sort_by(f32::total_cmp);
    let top = sorted[(sorted.len() * 97 / 100).min(sorted.len() - 1)];
    let mid = sorted[sorted.len() / 2];
    if top - mid < 3.0 {
        return 0.0;
    }
    let (mut sum, mut n) = (0.0f32, 0.0f32);
    for y in 0..h {
        for x in 0..w {
            if l[y * w + x] >= top {
                sum += 2.0 * (x as f32 + 0.5) / w as f32 - 1.0;
                n += 1.0;
            }
        }
    }
    if n > 0.0 { sum / n } else { 0.0 }
}

fn median(v: &[f32]) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s[s.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(f: impl Fn(u32, u32) -> u8) -> RgbImage {
        RgbImage::from_fn(128, 96, |x, y| {
            let v = f(x, y);
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn a_scene_brighter_on_the_left_is_lit_from_the_left() {
        let left = estimate(&scene(|x, _| (230 - x * 110 / 128) as u8));
        assert!(left.from_x < -0.5 && left.confidence > 0.5, "{left:?}");
        let right = estimate(&scene(|x, _| (120 + x * 110 / 128) as u8));
        assert!(right.from_x > 0.5 && right.confidence > 0.5, "{right:?}");
    }

    #[test]
    fn a_flat_or_vertically_lit_scene_has_no_side() {
        for img in [scene(|_, _| 128), scene(|_, y| (240 - y * 2) as u8), scene(|_, _| 0)] {
            assert_eq!(estimate(&img).confidence, 0.0);
        }
    }

    #[test]
    fn noise_and_tiny_images_do_not_fool_it() {
        let noisy = scene(|x, y| (120 + ((x * 7919 + y * 104_729) % 41)) as u8);
        assert!(estimate(&noisy).confidence < 0.2, "{:?}", estimate(&noisy));
        assert_eq!(estimate(&RgbImage::new(1, 1)), Light::OVERHEAD);
    }
}
