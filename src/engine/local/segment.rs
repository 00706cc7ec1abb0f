//! The cut decision at working resolution: which pixels are product, which are backdrop.
//!
//! 1. Model the backdrop from the frame's border (robust surface fit), score how plain it
//!    is, and refuse when it is not plain enough to cut reliably.
//! 2. Flood the backdrop in from the border through pixels that look like backdrop (or
//!    its shadow) and are not on an edge; whatever it cannot reach is the product. Edges
//!    stop the flood even where a white product is as bright as a white backdrop.
//! 3. Keep the product's connected body, reopen enclosed holes that really show the
//!    backdrop (a mug's handle), refit the backdrop on everything now known, and repeat
//!    once if the refit changed the model.

use super::backdrop::{BackdropModel, Sample, median};
use super::blur::box_blur;
use super::color::{delta_e, lin_of, linear_to_lab, luminance, shadow_aware_distance};
use super::enclosed::{Evidence, HOLE_OUTLINE_SHARE, enclosed_parts, within_hull};
use super::features::{Features, features};
use super::morph::{dilate, erode};
use super::raster::{Plane, norm_coord, par_row_bands};
use super::regions::{components, flood_from_border_monotone, for_each_rim, grow_into, run_components};

/// Below this uniformity score the backdrop is too busy to cut reliably.
pub const MIN_UNIFORMITY: f32 = 0.65;

/// A backdrop pixel on the border counts as plain within this Lab distance of the model.
const PLAIN_DELTA_E: f32 = 8.0;

/// The cut is redone on the refitted backdrop model only when the refit moves the model
/// by at least this much (sRGB levels, somewhere in the frame). Below it the border's
/// model was right already, and the refit, which also samples whatever the first cut got
/// wrong (a white face lost to the backdrop), can only make things worse.
const REFIT_MIN_CHANGE: f32 = 2.0;

/// How much lighter a step of the backdrop flood may get inside a shadow (see
/// [`flood_from_border_monotone`]); above pixel noise, below a white product's shading.
const SHADOW_STEP: f32 = 0.05;

/// The working-resolution result of the cut.
#[derive(Clone, Debug)]
pub struct Segmentation {
    pub width: usize,
    pub height: usize,
    /// `true` = product.
    pub mask: Vec<bool>,
    pub model: BackdropModel,
    /// Per pixel, the shadow-forgiving distance to the backdrop and the darkness (see
    /// [`distances`]): what [`Segmentation::shadow_map`] reads.
    shadowed: Vec<f32>,
    dark: Vec<f32>,
    colour_t: f32,
    /// Step-edge strength and its threshold for an edge: what [`Segmentation::lit_faces`]
    /// reads.
    gradient: Vec<f32>,
    edge_t: f32,
    /// Smoothed working image, sRGB 0..255 per channel.
    pub rgb: [Plane; 3],
    /// The backdrop is plain on the border: its shadow and lit faces can be read.
    pub plain: bool,
}

/// Why a cut was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SegmentError {
    NotPlain { score: f32 },
    NoProduct,
}

pub fn segment(rgb8: &[u8], w: usize, h: usize) -> Result<Segmentation, SegmentError> {
    if w < 3 || h < 3 || rgb8.len() < w * h * 3 {
        return Err(SegmentError::NoProduct);
    }
    let trace = super::Trace::new();
    let pixels = features(rgb8, w, h);
    let (rgb, gradient) = (&pixels.rgb, &pixels.gradient);
    trace.mark("  lab+gradient");

    // Pass 1: the backdrop seen on the border.
    let ring = border_ring(w, h);
    let samples: Vec<Sample> = ring.iter().map(|&i| sample_at(rgb, i, w, h)).collect();
    let (model, _) = BackdropModel::fit(&samples);
    trace.mark("  ring fit");
    let (plain, shadowed, dark) = distances(&pixels, &model, w, h);
    trace.mark("  distances");
    let inliers: Vec<usize> = ring.iter().copied().filter(|&i| plain[i] < PLAIN_DELTA_E).collect();
    let uniformity = inliers.len() as f32 / ring.len().max(1) as f32;
    if uniformity < MIN_UNIFORMITY {
        return Err(SegmentError::NotPlain { score: uniformity });
    }
    let noise = median(&mut inliers.iter().map(|&i| plain[i]).collect::<Vec<_>>());
    let grad_noise = median(&mut inliers.iter().map(|&i| gradient[i]).collect::<Vec<_>>());
    let t = Thresholds {
        colour: (3.0 * noise).max(4.0),
        shadow: (3.0 * noise).max(3.0),
        hole: (1.5 * noise).max(2.5),
        edge: (4.0 * grad_noise).max(1.2),
    };

    // An edge pixel blocks its 5x5 neighbourhood: one-pixel gaps in a faint outline
    // (white on white) would otherwise let the backdrop flood into the product.
    let edge: Vec<bool> = gradient.iter().map(|g| *g >= t.edge).collect();
    let near_edge = dilate(&edge, w, h, 2);
    trace.mark("  fit1");
    let mask = cut(&plain, &shadowed, &dark, &near_edge, w, h, &t);
    trace.mark("  cut1");

    // Pass 2: refit on every backdrop pixel now known (better behind the product).
    let mut samples = Vec::new();
    let stride = ((w * h) / 10_000).max(1);
    for i in (0..w * h).step_by(stride) {
        if !mask[i] && plain[i] < t.colour {
            samples.push(sample_at(rgb, i, w, h));
        }
    }
    let refit = (samples.len() > 100).then(|| BackdropModel::fit(&samples).0);
    let (model, shadowed, dark, mask) = match refit {
        Some(refit) if refit.max_difference(&model) >= REFIT_MIN_CHANGE => {
            let (plain, shadowed, dark) = distances(&pixels, &refit, w, h);
            let mask = cut(&plain, &shadowed, &dark, &near_edge, w, h, &t);
            (refit, shadowed, dark, mask)
        }
        _ => (model, shadowed, dark, mask),
    };
    trace.mark("  pass2");
    if !mask.iter().any(|m| *m) {
        return Err(SegmentError::NoProduct);
    }

    Ok(Segmentation {
        width: w,
        height: h,
        mask,
        model,
        shadowed,
        dark,
        colour_t: t.colour,
        gradient: pixels.gradient,
        edge_t: t.edge,
        rgb: pixels.rgb,
        plain: true,
    })
}

/// A segmentation around a product mask found by other means (the learned stage), with
/// the backdrop modelled on what lies outside it, so the matte, the holes and the cast
/// shadow are worked out as for a classical cut. On a busy backdrop (not plain on the
/// border) no shadow is read from it and no holes are reopened: neither can be told from
/// the texture.
pub fn around_mask(
    rgb8: &[u8],
    w: usize,
    h: usize,
    mut mask: Vec<bool>,
) -> Result<Segmentation, SegmentError> {
    if w < 3 || h < 3 || rgb8.len() < w * h * 3 || mask.len() != w * h {
        return Err(SegmentError::NoProduct);
    }
    drop_specks(&mut mask, w, h);
    let pixels = features(rgb8, w, h);
    let (rgb, gradient) = (&pixels.rgb, &pixels.gradient);
    let stride = ((w * h) / 10_000).max(1);
    let mut samples: Vec<Sample> =
        (0..w * h).step_by(stride).filter(|&i| !mask[i]).map(|i| sample_at(rgb, i, w, h)).collect();
    if samples.len() < 100 {
        samples = border_ring(w, h).into_iter().map(|i| sample_at(rgb, i, w, h)).collect();
    }
    let (model, _) = BackdropModel::fit(&samples);
    let (plain, mut shadowed, dark) = distances(&pixels, &model, w, h);
    let ring: Vec<usize> = border_ring(w, h).into_iter().filter(|&i| !mask[i]).collect();
    let inliers: Vec<usize> = ring.iter().copied().filter(|&i| plain[i] < PLAIN_DELTA_E).collect();
    let is_plain = !ring.is_empty() && inliers.len() as f32 >= MIN_UNIFORMITY * ring.len() as f32;
    let noise = median(&mut inliers.iter().map(|&i| plain[i]).collect::<Vec<_>>());
    let grad_noise = median(&mut inliers.iter().map(|&i| gradient[i]).collect::<Vec<_>>());
    let t = Thresholds {
        colour: (3.0 * noise).max(4.0),
        shadow: (3.0 * noise).max(3.0),
        hole: (1.5 * noise).max(2.5),
        edge: (4.0 * grad_noise).max(1.2),
    };
    if is_plain {
        let edge: Vec<bool> = gradient.iter().map(|g| *g >= t.edge).collect();
        let near_edge = dilate(&edge, w, h, 2);
        reopen_holes(&mut mask, &plain, &near_edge, &vec![false; w * h], w, h, &t);
    } else {
        shadowed.fill(f32::INFINITY);
    }
    if !mask.iter().any(|m| *m) {
        return Err(SegmentError::NoProduct);
    }
    Ok(Segmentation {
        width: w,
        height: h,
        mask,
        model,
        shadowed,
        dark,
        colour_t: t.colour,
        gradient: pixels.gradient,
        edge_t: t.edge,
        rgb: pixels.rgb,
        plain: is_plain,
    })
}

struct Thresholds {
    colour: f32,
    /// Shadows keep the backdrop's chromaticity: a tighter bound than `colour`.
    shadow: f32,
    hole: f32,
    edge: f32,
}

fn cut(
    plain: &[f32],
    shadowed: &[f32],
    dark: &[f32],
    near_edge: &[bool],
    w: usize,
    h: usize,
    t: &Thresholds,
) -> Vec<bool> {
    let n = w * h;
    let passable: Vec<bool> =
        (0..n).map(|i| (plain[i] < t.colour || shadowed[i] < t.shadow) && !near_edge[i]).collect();
    let mut backdrop = flood_from_border_monotone(&passable, dark, SHADOW_STEP, w, h);
    // A face whose outline has a gap (white on white) was flooded through it: give the
    // enclosed parts back to the product's body (its specks do not count as body).
    let mut body: Vec<bool> = backdrop.iter().map(|b| !b).collect();
    drop_specks(&mut body, w, h);
    let evidence = Evidence { plain, near_edge, hole_distance: t.hole };
    let mut regained = enclosed_parts(&body, w, h, &evidence);
    for (r, b) in regained.iter().zip(body.iter_mut()) {
        *b |= *r;
    }
    for (r, f) in regained.iter_mut().zip(within_hull(&body, w, h, &evidence)) {
        *r |= f;
    }
    for (b, r) in backdrop.iter_mut().zip(&regained) {
        if *r {
            *b = false;
        }
    }
    // The edge barrier keeps a rim of backdrop pixels next to the product: peel it.
    grow_into(&mut backdrop, w, h, |i| plain[i] < t.colour || shadowed[i] < t.shadow, 3);
    let mut mask: Vec<bool> = backdrop.iter().map(|b| !b).collect();

    // Thin crusts of shadow stuck to the base (the darkest core of a contact shadow on a
    // saturated backdrop) are not product: an opening removes thin protrusions, and those
    // that look like shadow go back to the backdrop.
    let opened = dilate(&erode(&mask, w, h, 3), w, h, 3);
    for i in 0..n {
        if mask[i] && !opened[i] && shadowed[i] < t.colour {
            mask[i] = false;
        }
    }

    drop_specks(&mut mask, w, h);
    reopen_holes(&mut mask, plain, near_edge, &regained, w, h, t);
    mask
}

/// Enclosed regions that look exactly like the backdrop are holes (a mug's handle), if an
/// outline surrounds them; they go back to the backdrop. `regained` marks parts the cut
/// gave back to the product, which need a nearly closed outline to be holes again.
fn reopen_holes(
    mask: &mut [bool],
    plain: &[f32],
    near_edge: &[bool],
    regained: &[bool],
    w: usize,
    h: usize,
    t: &Thresholds,
) {
    let n = w * h;
    // Enclosed regions that look exactly like the backdrop are holes (a mug's handle) -
    // if an outline surrounds them. A patch of a white product that happens to match the
    // backdrop's colour is bounded by more product, not by an edge.
    let candidate: Vec<bool> = (0..n).map(|i| mask[i] && plain[i] < t.colour && !near_edge[i]).collect();
    let (labels, holes) = components(&candidate, w, h);
    let min_hole = (n / 5000).max(6);
    let mut reopened = vec![false; n];
    for (k, hole) in holes.iter().enumerate() {
        if hole.len() < min_hole {
            continue;
        }
        let mean = hole.iter().map(|&i| plain[i]).sum::<f32>() / hole.len() as f32;
        if mean >= t.hole {
            continue;
        }
        let label = k as u32 + 1;
        let (mut rim, mut outlined) = (0usize, 0usize);
        for_each_rim(hole, &labels, label, w, h, |j| {
            rim += 1;
            outlined += usize::from(near_edge[j]);
        });
        // A region regained above is bounded by outline on most sides too (the face's
        // edges); only a nearly closed outline makes it a hole again.
        let needed = if hole.iter().any(|&i| regained[i]) { HOLE_OUTLINE_SHARE } else { 0.5 };
        if outlined as f32 >= needed * rim as f32 {
            for &i in hole {
                reopened[i] = true;
            }
        }
    }
    // The hole's own rim (held back by the edge barrier) goes with it.
    grow_into(&mut reopened, w, h, |i| mask[i] && plain[i] < t.colour, 3);
    for (m, r) in mask.iter_mut().zip(&reopened) {
        if *r {
            *m = false;
        }
    }
}

/// Keeps the product's body: drops specks far smaller than the largest part.
fn drop_specks(mask: &mut [bool], w: usize, h: usize) {
    let (runs, sizes) = run_components(mask, w, h);
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let min_keep = (largest / 10).max(w * h / 2000).max(4);
    for (run, id) in runs {
        if sizes[id] < min_keep {
            mask[run.y * w + run.x0..run.y * w + run.x1].fill(false);
        }
    }
}

/// Pixels of a border ring a few pixels wide, subsampled to a few thousand.
fn border_ring(w: usize, h: usize) -> Vec<usize> {
    let band = (w.min(h) / 60).clamp(1, 12);
    let mut ring = Vec::new();
    let stride = ((2 * (w + h) * band) / 8000).max(1);
    let mut k = 0usize;
    for y in 0..h {
        let whole_row = y < band || y + band >= h;
        let right = if whole_row { 0 } else { w.saturating_sub(band).max(band) };
        let left = if whole_row { w } else { band.min(w) };
        for x in (0..left).chain(right.max(left)..w) {
            if k.is_multiple_of(stride) {
                ring.push(y * w + x);
            }
            k += 1;
        }
    }
    ring
}

fn sample_at(rgb: &[Plane; 3], i: usize, w: usize, h: usize) -> Sample {
    let (x, y) = (i % w, i / w);
    Sample {
        u: norm_coord(x as f32 + 0.5, w),
        v: norm_coord(y as f32 + 0.5, h),
        rgb: [rgb[0].data[i], rgb[1].data[i], rgb[2].data[i]],
    }
}

/// Pixels between evaluations of the backdrop model along rows and columns (see
/// [`distances`]).
const MODEL_STEP: usize = 8;

/// Per pixel against the backdrop model: plain Lab distance, shadow-forgiving distance,
/// and darkness (how much darker than the backdrop, 0 when lighter).
fn distances(pixels: &Features, model: &BackdropModel, w: usize, h: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = w * h;
    let (mut plain, mut shadowed, mut dark) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    if n == 0 {
        return (plain, shadowed, dark);
    }
    // The model is a smooth surface: evaluate it (and its Lab, three cube roots) on a grid
    // every few pixels and interpolate, far below a Lab unit of error.
    let grid =
        |len: usize| -> Vec<usize> { (0..len).step_by(MODEL_STEP).chain(std::iter::once(len - 1)).collect() };
    let (grid_x, grid_y) = (grid(w), grid(h));
    // Per grid node: linear RGB then Lab, six values.
    let nodes: Vec<[f32; 6]> = grid_y
        .iter()
        .flat_map(|&y| {
            let v = norm_coord(y as f32 + 0.5, h);
            grid_x.iter().map(move |&x| {
                let m = model.at(norm_coord(x as f32 + 0.5, w), v);
                let lin = [lin_of(m[0]), lin_of(m[1]), lin_of(m[2])];
                let lab = linear_to_lab(lin);
                [lin[0], lin[1], lin[2], lab[0], lab[1], lab[2]]
            })
        })
        .collect();
    let gw = grid_x.len();
    // Position of coordinate `i` on a grid: segment and fraction (as the old row loop had).
    let locate = |g: &[usize], i: usize| -> (usize, f32) {
        let seg = (i / MODEL_STEP).min(g.len().saturating_sub(2));
        let (a, b) = (g[seg], g[(seg + 1).min(g.len() - 1)]);
        (seg, if b > a { (i - a) as f32 / (b - a) as f32 } else { 0.0 })
    };
    let columns: Vec<(usize, f32)> = (0..w).map(|x| locate(&grid_x, x)).collect();
    let [lr, lg, lb] = &pixels.lin;
    let [l, a, b] = &pixels.lab;
    par_row_bands([&mut plain, &mut shadowed, &mut dark], w, h, |y0, [plain, shadowed, dark]| {
        let mut row_nodes = vec![[0.0f32; 6]; gw];
        // The backdrop along the row, planar: linear RGB, Lab, luminance.
        let mut bg: [Vec<f32>; 6] = std::array::from_fn(|_| vec![0.0f32; w]);
        let mut bg_y = vec![0.0f32; w];
        let mut ratio = vec![0.0f32; w];
        for k in 0..plain.len() / w {
            let y = y0 + k;
            let (sy, ty) = locate(&grid_y, y);
            let (top, bottom) =
                (&nodes[sy * gw..(sy + 1) * gw], &nodes[(sy + 1).min(grid_y.len() - 1) * gw..][..gw]);
            for ((o, p), q) in row_nodes.iter_mut().zip(top).zip(bottom) {
                *o = std::array::from_fn(|c| p[c] + (q[c] - p[c]) * ty);
            }
            for (x, &(sx, tx)) in columns.iter().enumerate() {
                let (p, q) = (row_nodes[sx], row_nodes[(sx + 1).min(gw - 1)]);
                for c in 0..6 {
                    bg[c][x] = p[c] + (q[c] - p[c]) * tx;
                }
                bg_y[x] = luminance([bg[0][x], bg[1][x], bg[2][x]]).max(1e-4);
            }
            // Every pixel: plain distance and darkness (a branch-free loop that vectorizes).
            let row = y * w..(y + 1) * w;
            let (pl, pa, pb) = (&l[row.clone()], &a[row.clone()], &b[row.clone()]);
            let (pr, pg, pbl) = (&lr[row.clone()], &lg[row.clone()], &lb[row]);
            let out = k * w..(k + 1) * w;
            let (plain, dark) = (&mut plain[out.clone()], &mut dark[out.clone()]);
            let [_, _, _, bl, ba, bb] = &bg;
            for x in 0..w {
                plain[x] = delta_e([pl[x], pa[x], pb[x]], [bl[x], ba[x], bb[x]]);
                ratio[x] = luminance([pr[x], pg[x], pbl[x]]) / bg_y[x];
                dark[x] = (1.0 - ratio[x]).max(0.0);
            }
            // The shadow analysis only for pixels that might be a shadow (few).
            for (x, s) in shadowed[out].iter_mut().enumerate() {
                let (bg_lin, bg_lab) = ([bg[0][x], bg[1][x], bg[2][x]], [bl[x], ba[x], bb[x]]);
                *s = shadow_aware_distance(plain[x], ratio[x], [pl[x], pa[x], pb[x]], bg_lin, bg_lab);
            }
        }
    });
    (plain, shadowed, dark)
}

impl Segmentation {
    /// The mask with the lit faces that fade into the backdrop (which show only when
    /// averaged) regained, or `None` when there are none - the common case.
    pub fn lit_faces(&self) -> Option<Vec<bool>> {
        let mut mask = self.mask.clone();
        super::lit_faces::regain(
            &mut mask,
            &self.rgb,
            &self.model,
            &self.gradient,
            self.edge_t,
            self.width,
            self.height,
        );
        (mask != self.mask).then_some(mask)
    }

    /// The same segmentation with another product mask.
    pub fn with_mask(self, mask: Vec<bool>) -> Self {
        Self { mask, ..self }
    }

    /// How much the product's own cast shadow darkens the backdrop (0 = none, 1 = black),
    /// outside the product: reused when the product is placed into a new scene.
    pub fn shadow_map(&self) -> Plane {
        let data = (0..self.width * self.height)
            .map(|i| {
                if self.mask[i] || self.shadowed[i] >= self.colour_t {
                    return 0.0;
                }
                // Below a few percent it is vignetting residue or noise, not a shadow.
                (self.dark[i] - 0.04).clamp(0.0, 1.0)
            })
            .collect();
        box_blur(&Plane { width: self.width, height: self.height, data }, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_border_ring_is_the_band_along_the_frame_subsampled_in_order() {
        for (w, h) in [(3, 3), (7, 200), (640, 480), (576, 432), (2000, 90)] {
            let band = (w.min(h) / 60).clamp(1, 12);
            let stride = ((2 * (w + h) * band) / 8000).max(1);
            let expected: Vec<usize> = (0..w * h)
                .filter(|&i| {
                    let (x, y) = (i % w, i / w);
                    x < band || y < band || x + band >= w || y + band >= h
                })
                .step_by(stride)
                .collect();
            assert_eq!(border_ring(w, h), expected, "{w}x{h}");
        }
    }
}
