//! Matte quality metrics: IoU, boundary F-measure and SAD against an exact matte.
//!
//! IoU says whether the right object was cut; the boundary F-measure whether its outline
//! is where it should be (within a few pixels); SAD (sum of absolute alpha differences,
//! in thousands, the matting literature's unit) whether the soft edges are right.

use image::GrayImage;

/// Boundary pixels within this many pixels of the true boundary count as correct.
pub const BOUNDARY_TOLERANCE: usize = 3;

/// Scores of one predicted matte.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Intersection over union of the masks (alpha >= 128): was the right object cut?
    pub iou: f64,
    /// Boundary F-measure within [`BOUNDARY_TOLERANCE`] pixels: is the outline in place?
    pub boundary_f: f64,
    /// Sum of |pred - truth| over pixels, alpha in [0, 1], divided by 1000.
    pub sad: f64,
}

/// Why two mattes cannot be compared.
#[derive(Debug, thiserror::Error)]
#[error("matte is {pred:?} but the truth is {truth:?}")]
pub struct SizeMismatch {
    pub pred: (u32, u32),
    pub truth: (u32, u32),
}

/// Scores `pred` against `truth` (both alpha, 0..255; a pixel is inside at 128 and up).
pub fn score(pred: &GrayImage, truth: &GrayImage) -> Result<Scores, SizeMismatch> {
    if pred.dimensions() != truth.dimensions() {
        return Err(SizeMismatch { pred: pred.dimensions(), truth: truth.dimensions() });
    }
    let (w, h) = (truth.width() as usize, truth.height() as usize);
    let p: Vec<bool> = pred.as_raw().iter().map(|v| *v >= 128).collect();
    let t: Vec<bool> = truth.as_raw().iter().map(|v| *v >= 128).collect();
    let inter = p.iter().zip(&t).filter(|(a, b)| **a && **b).count();
    let union = p.iter().zip(&t).filter(|(a, b)| **a || **b).count();
    let iou = if union == 0 { 1.0 } else { inter as f64 / union as f64 };
    let sad = pred
        .as_raw()
        .iter()
        .zip(truth.as_raw())
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs() / 255.0)
        .sum::<f64>()
        / 1000.0;
    let bp = boundary(&p, w, h);
    let bt = boundary(&t, w, h);
    let near_t = dilate(&bt, w, h, BOUNDARY_TOLERANCE);
    let near_p = dilate(&bp, w, h, BOUNDARY_TOLERANCE);
    let n_bp = bp.iter().filter(|b| **b).count();
    let n_bt = bt.iter().filter(|b| **b).count();
    let boundary_f = if n_bp == 0 && n_bt == 0 {
        1.0
    } else if n_bp == 0 || n_bt == 0 {
        0.0
    } else {
        let precision = bp.iter().zip(&near_t).filter(|(b, n)| **b && **n).count() as f64 / n_bp as f64;
        let recall = bt.iter().zip(&near_p).filter(|(b, n)| **b && **n).count() as f64 / n_bt as f64;
        if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) }
    };
    Ok(Scores { iou, boundary_f, sad })
}

/// Inside pixels with a 4-neighbour outside (the frame's edge is not a boundary).
fn boundary(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    (0..w * h)
        .map(|i| {
            if !mask[i] {
                return false;
            }
            let (x, y) = (i % w, i / w);
            (x > 0 && !mask[i - 1])
                || (x + 1 < w && !mask[i + 1])
                || (y > 0 && !mask[i - w])
                || (y + 1 < h && !mask[i + w])
        })
        .collect()
}

/// Square dilation of radius `r` (separable max filter).
fn dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let mut rows = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            rows[y * w + x] = (lo..=hi).any(|k| mask[y * w + k]);
        }
    }
    let mut out = vec![false; w * h];
    for y in 0..h {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        for x in 0..w {
            out[y * w + x] = (lo..=hi).any(|k| rows[k * w + x]);
        }
    }
    out
}

/// Mean and worst (lowest IoU and F, highest SAD) over a set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub mean: Scores,
    pub worst: Scores,
    pub count: usize,
}

/// The mean and worst over `all` (zeros for an empty set).
pub fn summarize(all: &[Scores]) -> Summary {
    if all.is_empty() {
        return Summary::default();
    }
    let n = all.len() as f64;
    let mean = Scores {
        iou: all.iter().map(|s| s.iou).sum::<f64>() / n,
        boundary_f: all.iter().map(|s| s.boundary_f).sum::<f64>() / n,
        sad: all.iter().map(|s| s.sad).sum::<f64>() / n,
    };
    let worst = Scores {
        iou: all.iter().map(|s| s.iou).fold(f64::INFINITY, f64::min),
        boundary_f: all.iter().map(|s| s.boundary_f).fold(f64::INFINITY, f64::min),
        sad: all.iter().map(|s| s.sad).fold(0.0, f64::max),
    };
    Summary { mean, worst, count: all.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_mattes_score_perfectly() {
        let mut m = GrayImage::new(20, 20);
        for y in 5..15 {
            for x in 5..15 {
                m.put_pixel(x, y, image::Luma([255]));
            }
        }
        let s = score(&m, &m).unwrap();
        assert_eq!((s.iou, s.boundary_f, s.sad), (1.0, 1.0, 0.0));
    }
}
