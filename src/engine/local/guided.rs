//! The colour guided filter (He, Sun and Tang): a coarse probability map made to follow
//! the image's own edges.
//!
//! The learned model answers at 320x320; brought up to the working size its outline is
//! smooth and up to a few pixels off. Filtering it with the working image as the guide
//! keeps it where the image is flat and snaps its steps to the image's colour edges, so
//! the full-resolution matte starts from an outline that is already in place.

use super::blur::box_blur;
use super::raster::Plane;

/// `p` filtered with the guide `rgb` (0..255 per channel), window radius `r`, and
/// regularisation `eps` (in 0..1 colour units squared: larger smooths more).
pub fn guided_filter(rgb: &[Plane; 3], p: &Plane, r: usize, eps: f32) -> Plane {
    let (w, h) = (p.width, p.height);
    let n = w * h;
    if n == 0 || rgb.iter().any(|c| c.data.len() != n) {
        return p.clone();
    }
    let plane = |data: Vec<f32>| Plane { width: w, height: h, data };
    let i: [Plane; 3] = std::array::from_fn(|c| plane(rgb[c].data.iter().map(|v| v / 255.0).collect()));
    let mean = |x: &Plane| box_blur(x, r);
    let mean_i: [Plane; 3] = std::array::from_fn(|c| mean(&i[c]));
    let mean_p = mean(p);
    let ip: [Plane; 3] =
        std::array::from_fn(|c| mean(&plane(i[c].data.iter().zip(&p.data).map(|(a, b)| a * b).collect())));
    // The guide's covariance: rr, rg, rb, gg, gb, bb.
    const PAIRS: [(usize, usize); 6] = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)];
    let ii: [Plane; 6] = std::array::from_fn(|k| {
        let (a, b) = PAIRS[k];
        mean(&plane(i[a].data.iter().zip(&i[b].data).map(|(x, y)| x * y).collect()))
    });
    let mut a = [vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]];
    let mut b = vec![0.0f32; n];
    for k in 0..n {
        let m = [mean_i[0].data[k], mean_i[1].data[k], mean_i[2].data[k]];
        let cov_ip = [
            ip[0].data[k] - m[0] * mean_p.data[k],
            ip[1].data[k] - m[1] * mean_p.data[k],
            ip[2].data[k] - m[2] * mean_p.data[k],
        ];
        let s = |q: usize| {
            let (x, y) = PAIRS[q];
            ii[q].data[k] - m[x] * m[y]
        };
        let (rr, rg, rb, gg, gb, bb) = (s(0) + eps, s(1), s(2), s(3) + eps, s(4), s(5) + eps);
        // The symmetric 3x3 system solved by its adjugate.
        let inv = [
            gg * bb - gb * gb,
            gb * rb - rg * bb,
            rg * gb - gg * rb,
            rr * bb - rb * rb,
            rb * rg - rr * gb,
            rr * gg - rg * rg,
        ];
        let det = rr * inv[0] + rg * inv[1] + rb * inv[2];
        let coef = if det.abs() > 1e-12 {
            let d = 1.0 / det;
            [
                (inv[0] * cov_ip[0] + inv[1] * cov_ip[1] + inv[2] * cov_ip[2]) * d,
                (inv[1] * cov_ip[0] + inv[3] * cov_ip[1] + inv[4] * cov_ip[2]) * d,
                (inv[2] * cov_ip[0] + inv[4] * cov_ip[1] + inv[5] * cov_ip[2]) * d,
            ]
        } else {
            [0.0; 3]
        };
        for c in 0..3 {
            a[c][k] = coef[c];
        }
        b[k] = mean_p.data[k] - coef[0] * m[0] - coef[1] * m[1] - coef[2] * m[2];
    }
    let [a0, a1, a2] = a.map(|data| mean(&plane(data)));
    let b = mean(&plane(b));
    plane(
        (0..n)
            .map(|k| {
                let q = a0.data[k] * i[0].data[k]
                    + a1.data[k] * i[1].data[k]
                    + a2.data[k] * i[2].data[k]
                    + b.data[k];
                if q.is_finite() { q.clamp(0.0, 1.0) } else { p.data[k] }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_in_the_guide_sharpens_a_blurred_step() {
        let (w, h) = (40, 10);
        let guide = Plane::from_fn(w, h, |x, _| if x < 20 { 30.0 } else { 220.0 });
        let rgb = [guide.clone(), guide.clone(), guide];
        // The probability ramps over 10 pixels around x = 20.
        let p = Plane::from_fn(w, h, |x, _| ((x as f32 - 15.0) / 10.0).clamp(0.0, 1.0));
        let q = guided_filter(&rgb, &p, 4, 1e-4);
        let (before, after) = (q.data[5 * w + 19], q.data[5 * w + 20]);
        // The input rises by 0.1 across the guide's step; the output jumps there.
        assert!(after - before > 0.3, "{before} -> {after}");
        assert!(q.data[5 * w + 5] < 0.01 && q.data[5 * w + 35] > 0.99);
    }
}
