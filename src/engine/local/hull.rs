//! Convex hull of a mask, as one x-interval per row.
//!
//! A face lost to the backdrop along a stretch of outline with no contrast at all still
//! lies within the hull of what was kept of the product: the hull bounds where the
//! product can plausibly extend (see [`super::enclosed`]).

type Point = (f32, f32);

/// For each row, the hull's `[left, right]` x-extent, `None` where the hull misses it.
pub fn row_intervals(mask: &[bool], w: usize, h: usize) -> Vec<Option<(f32, f32)>> {
    let mut points: Vec<Point> = Vec::new();
    for y in 0..h {
        let Some(row) = mask.get(y * w..(y + 1) * w) else { break };
        if let (Some(a), Some(b)) = (row.iter().position(|&m| m), row.iter().rposition(|&m| m)) {
            points.push((a as f32, y as f32));
            points.push((b as f32, y as f32));
        }
    }
    let hull = convex_hull(points);
    (0..h).map(|y| interval_at(&hull, y as f32)).collect()
}

/// Andrew's monotone chain; counter-clockwise, no repeated end point.
fn convex_hull(mut p: Vec<Point>) -> Vec<Point> {
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: Point, a: Point, b: Point| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let chain = |points: &mut dyn Iterator<Item = Point>| {
        let mut c: Vec<Point> = Vec::new();
        for q in points {
            while c.len() >= 2 && cross(c[c.len() - 2], c[c.len() - 1], q) <= 0.0 {
                c.pop();
            }
            c.push(q);
        }
        c.pop();
        c
    };
    let mut lower = chain(&mut p.iter().copied());
    lower.extend(chain(&mut p.iter().rev().copied()));
    lower
}

/// Where the hull polygon crosses row `y`: its leftmost and rightmost x.
fn interval_at(hull: &[Point], y: f32) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let n = hull.len();
    for k in 0..n {
        let (a, b) = (hull[k], hull[(k + 1) % n]);
        if (a.1 <= y && y <= b.1) || (b.1 <= y && y <= a.1) {
            if (b.1 - a.1).abs() < 1e-6 {
                lo = lo.min(a.0.min(b.0));
                hi = hi.max(a.0.max(b.0));
            } else {
                let x = a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1);
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
    }
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triangle_fills_its_rows() {
        // Points of a right triangle: (0,0), (4,0), (0,4).
        let (w, h) = (5, 5);
        let mask: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                x + y <= 4
            })
            .collect();
        let rows = row_intervals(&mask, w, h);
        assert_eq!(rows[0], Some((0.0, 4.0)));
        assert_eq!(rows[2], Some((0.0, 2.0)));
        assert_eq!(rows[4], Some((0.0, 0.0)));
    }
}
