//! The backdrop model: a smooth colour surface fitted robustly to background pixels.
//!
//! Shop backdrops are never flat: vignetting darkens corners and paper sweeps fade from
//! top to bottom. A quadratic surface per channel captures both, and a trimmed
//! least-squares fit ignores the product where it touches the frame and its shadow.

/// Background colour (sRGB, 0..255 floats) as a quadratic function of position.
#[derive(Clone, Debug)]
pub struct BackdropModel {
    coef: [[f64; 6]; 3],
}

/// One observation for the fit: normalized position in [-1, 1]^2 and its colour.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub u: f32,
    pub v: f32,
    pub rgb: [f32; 3],
}

/// The trimmed fit stops once a round moves the surface by less than this (sRGB levels).
const SETTLED: f32 = 0.05;

#[inline]
fn basis(u: f64, v: f64) -> [f64; 6] {
    [1.0, u, v, u * u, v * v, u * v]
}

impl BackdropModel {
    pub fn constant(rgb: [f32; 3]) -> Self {
        let mut coef = [[0.0; 6]; 3];
        for c in 0..3 {
            coef[c][0] = f64::from(rgb[c]);
        }
        Self { coef }
    }

    /// Colour at normalized position (u, v) in [-1, 1]^2.
    #[inline]
    pub fn at(&self, u: f32, v: f32) -> [f32; 3] {
        let b = basis(f64::from(u), f64::from(v));
        let mut out = [0.0f32; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let s: f64 = self.coef[c].iter().zip(&b).map(|(k, x)| k * x).sum();
            *o = s.clamp(0.0, 255.0) as f32;
        }
        out
    }

    /// Largest colour distance (sRGB levels) between two models over the frame, on a grid
    /// fine enough for smooth quadratic surfaces.
    pub fn max_difference(&self, other: &Self) -> f32 {
        const STEPS: usize = 8;
        let coord = |k: usize| 2.0 * k as f32 / STEPS as f32 - 1.0;
        (0..=STEPS)
            .flat_map(|i| (0..=STEPS).map(move |j| (coord(i), coord(j))))
            .map(|(u, v)| {
                let (p, q) = (self.at(u, v), other.at(u, v));
                (0..3).map(|c| (p[c] - q[c]).powi(2)).sum::<f32>().sqrt()
            })
            .fold(0.0, f32::max)
    }

    /// Trimmed least squares: start from the median colour, then refit on the samples
    /// within a few noise scales of the current surface. Returns the model and the
    /// robust noise scale of the inliers (RGB units).
    pub fn fit(samples: &[Sample]) -> (Self, f32) {
        if samples.is_empty() {
            return (Self::constant([255.0; 3]), 0.0);
        }
        let median_rgb = {
            let mut out = [0.0f32; 3];
            for (c, o) in out.iter_mut().enumerate() {
                let mut v: Vec<f32> = samples.iter().map(|s| s.rgb[c]).collect();
                *o = median(&mut v);
            }
            out
        };
        let mut model = Self::constant(median_rgb);
        // Residuals of the current model, shared by its scale and the next refit.
        let mut res: Vec<f32> = samples.iter().map(|s| residual(&model, s)).collect();
        let mut scale = robust_scale(&res, f32::INFINITY);
        for _ in 0..5 {
            let cut = (3.0 * scale).max(6.0);
            let Some(next) =
                Self::least_squares(samples.iter().zip(&res).filter(|(_, r)| **r < cut).map(|(s, _)| s))
            else {
                break;
            };
            // Converged: another round would pick (nearly) the same inliers.
            let settled = next.max_difference(&model) < SETTLED;
            model = next;
            res.clear();
            res.extend(samples.iter().map(|s| residual(&model, s)));
            scale = robust_scale(&res, cut.max(3.0 * scale));
            if settled {
                break;
            }
        }
        (model, scale)
    }

    fn least_squares<'a>(samples: impl Iterator<Item = &'a Sample>) -> Option<Self> {
        let mut ata = [[0.0f64; 6]; 6];
        let mut atb = [[0.0f64; 6]; 3];
        let mut n = 0usize;
        for s in samples {
            let b = basis(f64::from(s.u), f64::from(s.v));
            // The normal matrix is symmetric: accumulate the upper triangle only.
            for i in 0..6 {
                for j in i..6 {
                    ata[i][j] += b[i] * b[j];
                }
                for c in 0..3 {
                    atb[c][i] += b[i] * f64::from(s.rgb[c]);
                }
            }
            n += 1;
        }
        for i in 0..6 {
            for j in 0..i {
                ata[i][j] = ata[j][i];
            }
        }
        if n < 24 {
            return None;
        }
        // A touch of ridge regularisation keeps the curvature terms tame when the
        // inliers cover only part of the frame.
        for (i, row) in ata.iter_mut().enumerate().skip(1) {
            row[i] += n as f64 * 1e-3;
        }
        let mut coef = [[0.0f64; 6]; 3];
        for c in 0..3 {
            coef[c] = solve6(ata, atb[c])?;
        }
        Some(Self { coef })
    }
}

#[inline]
fn residual(model: &BackdropModel, s: &Sample) -> f32 {
    let m = model.at(s.u, s.v);
    let d0 = s.rgb[0] - m[0];
    let d1 = s.rgb[1] - m[1];
    let d2 = s.rgb[2] - m[2];
    (d0 * d0 + d1 * d1 + d2 * d2).sqrt()
}

/// Median of the residuals under `cut`, scaled to a noise sigma.
fn robust_scale(residuals: &[f32], cut: f32) -> f32 {
    let mut r: Vec<f32> = residuals.iter().copied().filter(|r| *r < cut).collect();
    if r.is_empty() {
        return f32::INFINITY;
    }
    // The norm of 3-D Gaussian noise has its median near 1.54 sigma.
    median(&mut r) / 1.54
}

pub fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// Gaussian elimination with partial pivoting; `None` when singular.
fn solve6(mut a: [[f64; 6]; 6], mut b: [f64; 6]) -> Option<[f64; 6]> {
    for col in 0..6 {
        let pivot = (col..6).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..6 {
            let f = a[row][col] / a[col][col];
            for k in col..6 {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0f64; 6];
    for row in (0..6).rev() {
        let s: f64 = (row + 1..6).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_vignette_despite_an_intruding_product() {
        let mut samples = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                let u = i as f32 / 19.5 - 1.0;
                let v = j as f32 / 19.5 - 1.0;
                let base = 230.0 - 20.0 * (u * u + v * v);
                // A dark product covers a quarter of the samples.
                let rgb = if u > 0.5 { [20.0, 30.0, 200.0] } else { [base, base, base - 5.0] };
                samples.push(Sample { u, v, rgb });
            }
        }
        let (model, _) = BackdropModel::fit(&samples);
        let c = model.at(0.0, 0.0);
        assert!((c[0] - 230.0).abs() < 2.0, "{c:?}");
        let e = model.at(-1.0, -1.0);
        assert!((e[0] - 190.0).abs() < 3.0, "{e:?}");
    }
}
