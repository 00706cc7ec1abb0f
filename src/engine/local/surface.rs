//! Where the product stands: the scene's surface (a floor or a table top) and the line
//! where it meets the wall behind, and a plausible base and size on it.
//!
//! A product whose base is on the wall, or that is as tall as a room, looks pasted. Most
//! product scenes are a surface under a backdrop; the meeting line is a horizontal step of
//! colour or brightness across the whole width, in the middle or lower part of the frame.
//! When no such line stands out, nothing is claimed and the placement keeps its default.

use image::RgbImage;

use super::color::{delta_e, linear_to_lab, srgb_to_linear_lut};

/// Rows (as shares of the height) the horizon is looked for in: a surface's far edge is
/// rarely in the top quarter, and a step in the last rows is a frame edge or a floor board.
const SEARCH: (f32, f32) = (0.25, 0.92);
/// Colour step (Lab, averaged across the width) a surface's edge must make at least.
const MIN_STEP: f32 = 6.0;
/// ... and how far it must stand above the typical row-to-row step of the scene.
const MIN_CONTRAST: f32 = 2.5;
/// Share of the columns that must show the same step.
const ACROSS: f32 = 0.7;
/// Rows averaged on each side of a candidate line (thumbnail rows).
const BAND: usize = 3;

/// Where the product's base goes on the surface, as a share of the way from the horizon
/// to the bottom of the frame: mid-depth, clear of both.
const BASE_DEPTH: f64 = 0.55;
/// Product height as a share of the frame: large on a thin strip of table (a low camera),
/// smaller when much of the floor shows (a camera looking down from further away).
const HEIGHT_SHARE: (f64, f64) = (0.35, 0.65);
/// Least gap left above the product (share of the height): never cropped.
const TOP_MARGIN: f64 = 0.04;
/// Least gap below the base (share of the height).
const BOTTOM_MARGIN: f64 = 0.04;

/// The line where the scene's surface meets what stands behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Surface {
    /// Its height, as a share of the frame's height from the top (0..1).
    pub horizon: f32,
}

/// Where and how big the product is placed: its base row and its height, as shares of the
/// frame's height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stand {
    pub base: f64,
    pub height_share: f64,
}

impl Stand {
    /// The placement when no surface is found: most of the frame's height, above a margin.
    pub const DEFAULT: Stand = Stand { base: 0.90, height_share: 0.62 };
}

/// Finds the surface's edge in a small copy of the scene (about a hundred pixels across).
pub fn find(thumb: &RgbImage) -> Option<Surface> {
    let (w, h) = (thumb.width() as usize, thumb.height() as usize);
    if w < 4 || h < 4 * BAND {
        return None;
    }
    let lut = srgb_to_linear_lut();
    let lab: Vec<[f32; 3]> = thumb
        .pixels()
        .map(|p| linear_to_lab([lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]]))
        .collect();
    // Column-wise band means make each candidate's step robust to texture and noise.
    let band_mean = |x: usize, from: usize, to: usize| {
        let mut s = [0.0f32; 3];
        for y in from..to {
            let p = lab[y * w + x];
            for c in 0..3 {
                s[c] += p[c];
            }
        }
        let n = (to - from).max(1) as f32;
        [s[0] / n, s[1] / n, s[2] / n]
    };
    let first = ((h as f32 * SEARCH.0) as usize).max(BAND);
    let last = ((h as f32 * SEARCH.1) as usize).min(h - BAND);
    let mut steps = Vec::with_capacity(last.saturating_sub(first));
    let mut column = vec![[0.0f32; 3]; w];
    for y in first..last {
        let mut mean = [0.0f32; 3];
        for (x, d) in column.iter_mut().enumerate() {
            let (above, below) = (band_mean(x, y - BAND, y), band_mean(x, y, y + BAND));
            *d = [below[0] - above[0], below[1] - above[1], below[2] - above[2]];
            for c in 0..3 {
                mean[c] += d[c] / w as f32;
            }
        }
        let size = delta_e(mean, [0.0; 3]);
        // A surface's edge runs across the width, the same change of colour in most
        // columns; texture changes every which way and averages out, and an object's edge
        // (a product's top, a vase) covers only part of the width.
        let along = |d: &[f32; 3]| (d[0] * mean[0] + d[1] * mean[1] + d[2] * mean[2]) / size.max(1e-3);
        let agreeing = column.iter().filter(|d| along(d) > 0.5 * size).count();
        let coherent = agreeing as f32 >= ACROSS * w as f32;
        steps.push((y, size, coherent));
    }
    let &(y, best, _) = steps.iter().filter(|s| s.2).max_by(|a, b| a.1.total_cmp(&b.1))?;
    let mut all: Vec<f32> = steps.iter().map(|s| s.1).collect();
    all.sort_by(f32::total_cmp);
    let typical = all[all.len() / 2];
    (best >= MIN_STEP && best >= MIN_CONTRAST * typical.max(0.5))
        .then(|| Surface { horizon: y as f32 / h as f32 })
}

/// The base and size that make a product look as if it stood on `surface`.
pub fn stand(surface: Option<Surface>) -> Stand {
    let Some(surface) = surface else { return Stand::DEFAULT };
    let horizon = f64::from(surface.horizon).clamp(0.0, 1.0);
    let depth = 1.0 - horizon;
    let base = (horizon + BASE_DEPTH * depth).min(1.0 - BOTTOM_MARGIN);
    let wide = ((depth - 0.1) / 0.5).clamp(0.0, 1.0);
    let share = HEIGHT_SHARE.1 - (HEIGHT_SHARE.1 - HEIGHT_SHARE.0) * wide;
    Stand { base, height_share: share.min(base - TOP_MARGIN).max(0.05) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wall over a table whose edge is at `edge` (share of the height), with a little
    /// texture on both.
    fn table(edge: f32) -> RgbImage {
        RgbImage::from_fn(128, 96, |x, y| {
            let grain = ((x * 31 + y * 17) % 7) as u8;
            if (y as f32) < edge * 96.0 {
                image::Rgb([214 + grain, 208 + grain, 196 + grain])
            } else {
                image::Rgb([150 + grain, 100 + grain, 60 + grain])
            }
        })
    }

    #[test]
    fn a_table_edge_is_found_where_it_is() {
        for edge in [0.4f32, 0.55, 0.7, 0.85] {
            let s = find(&table(edge)).unwrap_or_else(|| panic!("no surface at {edge}"));
            assert!((s.horizon - edge).abs() <= 0.02, "{edge}: {s:?}");
        }
    }

    #[test]
    fn no_surface_in_flat_gradient_or_tiny_scenes() {
        let flat = RgbImage::from_pixel(128, 96, image::Rgb([128, 128, 128]));
        let sweep =
            RgbImage::from_fn(128, 96, |_, y| image::Rgb([200 - y as u8, 200 - y as u8, 210 - y as u8]));
        for img in [flat, sweep, RgbImage::new(1, 1), RgbImage::new(3, 200)] {
            assert_eq!(find(&img), None);
        }
    }

    #[test]
    fn an_object_on_a_texture_is_not_a_surface() {
        // Gravel-like noise with a box a third of the width wide: its top edge is a strong
        // step, but not across the width.
        let img = RgbImage::from_fn(128, 96, |x, y| {
            if (40..84).contains(&x) && (40..90).contains(&y) {
                image::Rgb([235, 235, 235])
            } else {
                let v = (90 + (x * 7919 + y * 104_729) % 90) as u8;
                image::Rgb([v, v, v - 10])
            }
        });
        assert_eq!(find(&img), None);
    }

    #[test]
    fn the_base_is_on_the_surface_and_the_product_fits() {
        for horizon in [0.3f32, 0.5, 0.65, 0.8, 0.95] {
            let s = stand(Some(Surface { horizon }));
            assert!(s.base > f64::from(horizon) && s.base <= 1.0 - BOTTOM_MARGIN + 1e-9, "{horizon}: {s:?}");
            assert!(s.base - s.height_share >= TOP_MARGIN - 1e-9, "{horizon}: {s:?}");
            assert!((0.05..=0.65).contains(&s.height_share), "{horizon}: {s:?}");
        }
        assert_eq!(stand(None), Stand::DEFAULT);
    }
}
