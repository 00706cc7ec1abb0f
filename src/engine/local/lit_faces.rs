//! Lit faces whose outline fades into the backdrop: regained by averaging.
//!
//! A white box on a white sweep has a top face lit brighter than the sweep, clipped at
//! 255 against a sweep at 250. Where that face meets the backdrop the step is a few
//! levels, below pixel noise, so neither the colour threshold nor the edge detector sees
//! it and the backdrop flood takes the whole face. Averaged over an area the difference is
//! plain: the residual against the backdrop model, blurred, has noise far below a level.
//!
//! A region is regained only when it (1) is brighter than the backdrop model when
//! averaged - a cast shadow, vignetting or the fall-off of a sweep only ever darken what
//! the model predicts, so they never qualify - and (2) lies against the product over a
//! good share of its rim: a face of the product is bounded by its other faces (along a
//! crease, or softly where an earlier step regained part of the same face), while a
//! bright patch of the backdrop (a hot spot the smooth model misses) is mostly surrounded
//! by backdrop.

use super::backdrop::{BackdropModel, median};
use super::blur::box_blur;
use super::morph::dilate;
use super::raster::{Plane, norm_coord};
use super::regions::{components, for_each_rim, grow_into};

/// Radius (working pixels) of the box over which the residual is averaged: enough to
/// bring pixel noise well below a level, small against a face.
const AVERAGE_RADIUS: usize = 3;

/// Pixels between evaluations of the backdrop model along a row.
const MODEL_STEP: usize = 8;

/// A face must be at least this much brighter than the backdrop model (sRGB levels) when
/// averaged, whatever the noise; model misfit on a clean sweep stays below it.
const MIN_BRIGHTER: f32 = 1.5;

/// ... and this many times the averaged residual's own noise.
const NOISE_FACTOR: f32 = 8.0;

/// Width (working pixels) of the band of edge pixels along the product's outline.
const EDGE_BAND: usize = 3;

/// Share of a region's rim that must lie against the product.
const MIN_CONTACT_SHARE: f32 = 0.2;

/// Adds to `mask` (the product, working resolution) the regions described in the module
/// doc. `rgb` is the smoothed working image, `gradient` the step-edge strength and
/// `edge_t` its threshold for an edge.
pub fn regain(
    mask: &mut [bool],
    rgb: &[Plane; 3],
    model: &BackdropModel,
    gradient: &[f32],
    edge_t: f32,
    w: usize,
    h: usize,
) {
    let n = w * h;
    if n == 0 || mask.len() < n || gradient.len() < n || rgb.iter().any(|p| p.data.len() < n) {
        return;
    }
    let Some(win) = Window::around(mask, w, h) else { return };
    let in_mask = win.crop(mask, |m| *m);
    // Near a strong edge: the product's outline and its mixed pixels.
    let near_edge = dilate(&win.crop(gradient, |g| *g >= edge_t), win.rw, win.rh, 2);
    let (averaged, weight) = backdrop_residual(rgb, model, &win, &in_mask, &near_edge, h);
    let Some(threshold) = brighter_than_noise(&averaged, &weight) else { return };
    let candidate: Vec<bool> =
        (0..win.len()).map(|k| !in_mask[k] && averaged[k].is_some_and(|a| a > threshold)).collect();
    let gained = faces_against_the_product(&candidate, &in_mask, &near_edge, &win, (n / 2000).max(16));
    for (k, g) in gained.iter().enumerate() {
        if *g {
            mask[win.at(k % win.rw, k / win.rw)] = true;
        }
    }
}

/// The part of the working image around the product where a lit face can lie.
struct Window {
    x0: usize,
    y0: usize,
    rw: usize,
    rh: usize,
    /// Width of the whole image.
    w: usize,
}

impl Window {
    fn around(mask: &[bool], w: usize, h: usize) -> Option<Self> {
        let (x0, y0, x1, y1) = bounds(mask, w, h)?;
        let margin = (x1 - x0).max(y1 - y0) / 2 + 2 * AVERAGE_RADIUS;
        let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
        let (x1, y1) = ((x1 + margin).min(w - 1), (y1 + margin).min(h - 1));
        Some(Self { x0, y0, rw: x1 - x0 + 1, rh: y1 - y0 + 1, w })
    }

    fn len(&self) -> usize {
        self.rw * self.rh
    }

    /// Index in the whole image of window pixel (x, y).
    fn at(&self, x: usize, y: usize) -> usize {
        (self.y0 + y) * self.w + self.x0 + x
    }

    /// The window's part of a whole-image plane, mapped by `f`.
    fn crop<T, U>(&self, plane: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
        (0..self.rh).flat_map(|y| plane[self.at(0, y)..self.at(self.rw, y)].iter().map(&f)).collect()
    }
}

/// Residual against the backdrop model (mean over channels, in levels), averaged over
/// backdrop pixels only: the product and its outline must not leak into the average.
/// Returns the average (`None` where too little of the box is backdrop) and which pixels
/// are backdrop samples.
fn backdrop_residual(
    rgb: &[Plane; 3],
    model: &BackdropModel,
    win: &Window,
    in_mask: &[bool],
    near_edge: &[bool],
    h: usize,
) -> (Vec<Option<f32>>, Plane) {
    let (rw, rh) = (win.rw, win.rh);
    let mut value = Plane::new(rw, rh, 0.0);
    let mut weight = Plane::new(rw, rh, 0.0);
    for y in 0..rh {
        let v = norm_coord((win.y0 + y) as f32 + 0.5, h);
        // The model is a smooth surface: its mean over channels, evaluated every few
        // pixels and interpolated, is far within a tenth of a level.
        let anchor = |x: usize| {
            let m = model.at(norm_coord((win.x0 + x) as f32 + 0.5, win.w), v);
            (m[0] + m[1] + m[2]) / 3.0
        };
        let mut left = anchor(0);
        for start in (0..rw).step_by(MODEL_STEP) {
            let end = (start + MODEL_STEP).min(rw - 1);
            let right = anchor(end);
            let span = (end - start).max(1) as f32;
            for x in start..(start + MODEL_STEP).min(rw) {
                let (k, i) = (y * rw + x, win.at(x, y));
                if in_mask[k] || near_edge[k] {
                    continue;
                }
                let m = left + (right - left) * (x - start) as f32 / span;
                value.data[k] = (rgb[0].data[i] + rgb[1].data[i] + rgb[2].data[i]) / 3.0 - m;
                weight.data[k] = 1.0;
            }
            left = right;
        }
    }
    let num = box_blur(&value, AVERAGE_RADIUS);
    let den = box_blur(&weight, AVERAGE_RADIUS);
    // Only where most of the box is backdrop is the average meaningful.
    let averaged = num.data.iter().zip(&den.data).map(|(s, d)| (*d > 0.3).then(|| s / d)).collect();
    (averaged, weight)
}

/// The level above which an averaged residual is brighter than the backdrop's noise
/// (robustly, over a sample of the window's backdrop); `None` with too few samples.
fn brighter_than_noise(averaged: &[Option<f32>], weight: &Plane) -> Option<f32> {
    let stride = (averaged.len() / 8000).max(1);
    let mut spread: Vec<f32> = (0..averaged.len())
        .step_by(stride)
        .filter(|&k| weight.data[k] > 0.0)
        .filter_map(|k| averaged[k])
        .collect();
    if spread.len() < 16 {
        return None;
    }
    let mid = median(&mut spread.clone());
    for s in &mut spread {
        *s = (*s - mid).abs();
    }
    let sigma = 1.4826 * median(&mut spread);
    Some((NOISE_FACTOR * sigma).max(MIN_BRIGHTER) + mid.max(0.0))
}

/// The candidate regions that are faces of the product: closed (not touching the window's
/// border), no larger than the product, and against its outline for enough of their rim;
/// each with the edge band between it and the product.
fn faces_against_the_product(
    candidate: &[bool],
    in_mask: &[bool],
    near_edge: &[bool],
    win: &Window,
    min_size: usize,
) -> Vec<bool> {
    let (rw, rh) = (win.rw, win.rh);
    let mut gained = vec![false; rw * rh];
    let (labels, comps) = components(candidate, rw, rh);
    if comps.iter().all(|c| c.len() < min_size) {
        return gained;
    }
    // The product's outline keeps a band of edge pixels between a face and the rest of
    // the product; contact is measured across it.
    let mut outline = in_mask.to_vec();
    grow_into(&mut outline, rw, rh, |k| near_edge[k] && !in_mask[k], EDGE_BAND);
    let product = in_mask.iter().filter(|m| **m).count();
    for (c, comp) in comps.iter().enumerate() {
        if comp.len() < min_size {
            continue;
        }
        let label = c as u32 + 1;
        let open = comp.iter().any(|&k| {
            let (x, y) = (k % rw, k / rw);
            x == 0 || y == 0 || x + 1 == rw || y + 1 == rh
        });
        let (mut rim, mut contact) = (0usize, 0usize);
        for_each_rim(comp, &labels, label, rw, rh, |j| {
            rim += 1;
            contact += usize::from(outline[j]);
        });
        let accepted = !open && comp.len() <= product && contact as f32 >= MIN_CONTACT_SHARE * rim as f32;
        if accepted {
            for &k in comp {
                gained[k] = true;
            }
        }
    }
    // The face takes the edge band between it and the rest of the product with it.
    grow_into(&mut gained, rw, rh, |k| near_edge[k] && !in_mask[k], EDGE_BAND);
    gained
}

/// Bounding box of the set pixels: (x0, y0, x1, y1), inclusive.
fn bounds(mask: &[bool], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for (i, _) in mask.iter().take(w * h).enumerate().filter(|(_, m)| **m) {
        let (x, y) = (i % w, i / w);
        b = Some(match b {
            None => (x, y, x, y),
            Some((a, c, d, e)) => (a.min(x), c.min(y), d.max(x), e.max(y)),
        });
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 120x90 scene: backdrop 249 with noise, a detected front face (the mask) at
    /// x 40..80, y 40..80, and above it a region `level` levels off the backdrop at
    /// x 40..80, y 25..40 (a top face, or a shadow when darker).
    fn scene(level: f32) -> (Vec<bool>, [Plane; 3], Vec<f32>, usize, usize) {
        let (w, h) = (120usize, 90usize);
        let mut seed = 12345u32;
        let mut noise = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let front = |x: usize, y: usize| (40..80).contains(&x) && (40..80).contains(&y);
        let top = |x: usize, y: usize| (40..80).contains(&x) && (25..40).contains(&y);
        let plane = Plane::from_fn(w, h, |x, y| {
            if front(x, y) {
                225.0
            } else if top(x, y) {
                249.0 + level
            } else {
                249.0
            }
        });
        let noisy = Plane { width: w, height: h, data: plane.data.iter().map(|v| v + noise()).collect() };
        let mask: Vec<bool> = (0..w * h).map(|i| front(i % w, i / w)).collect();
        // The front face's outline is a strong edge; the top face's is not.
        let gradient: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let on = (39..=80).contains(&x)
                    && (39..=80).contains(&y)
                    && !((41..79).contains(&x) && (41..79).contains(&y));
                if on { 10.0 } else { 0.0 }
            })
            .collect();
        (mask, [noisy.clone(), noisy.clone(), noisy], gradient, w, h)
    }

    fn gained(level: f32) -> usize {
        let (mut mask, rgb, gradient, w, h) = scene(level);
        let before = mask.iter().filter(|m| **m).count();
        regain(&mut mask, &rgb, &BackdropModel::constant([249.0; 3]), &gradient, 1.0, w, h);
        mask.iter().filter(|m| **m).count() - before
    }

    #[test]
    fn a_face_a_few_levels_brighter_is_regained() {
        // The top face is 40 x 15 = 600 px.
        let g = gained(5.0);
        assert!((540..=700).contains(&g), "gained {g}");
    }

    #[test]
    fn a_darker_region_next_to_the_product_stays_backdrop() {
        // As dark as a soft contact shadow: never a lit face.
        assert_eq!(gained(-5.0), 0);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let model = BackdropModel::constant([249.0; 3]);
        for (w, h) in [(0usize, 0usize), (1, 1), (3, 2), (5, 5)] {
            let rgb = [0, 1, 2].map(|_| Plane::new(w, h, 255.0));
            for fill in [false, true] {
                let mut mask = vec![fill; w * h];
                regain(&mut mask, &rgb, &model, &vec![0.0; w * h], 1.0, w, h);
            }
        }
        // Mismatched lengths are ignored.
        let rgb = [0, 1, 2].map(|_| Plane::new(4, 4, 255.0));
        regain(&mut [true; 3], &rgb, &model, &[0.0; 16], 1.0, 4, 4);
    }
}
