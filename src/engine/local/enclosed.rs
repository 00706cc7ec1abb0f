//! Parts of the product that the backdrop flood took through a gap in its outline.
//!
//! The flood stops at edges, but a white product on a white backdrop has stretches of
//! outline with no contrast at all (vignetting can make a face exactly the backdrop's
//! colour, and a grey mug's body looks like the backdrop in shadow). Through such a gap
//! the flood runs on into the face and takes it. Such a region sits *inside* the product:
//! it has product on its left and right in its row and above and below in its column,
//! and it borders product, not backdrop, all around. A genuine hole (a mug's handle) sits
//! inside too, but it shows the backdrop's colour and a closed outline surrounds it; a
//! lost face is bounded on one side by the rest of the face, with no edge between them.

use super::hull::row_intervals;
use super::regions::{components, for_each_rim};

/// A region bordering the open backdrop on more than this share of its rim is a
/// concavity of the product's silhouette, not a part of it.
const MAX_OPEN_SHARE: f32 = 0.1;

/// Share of the rim on an edge above which a backdrop-coloured region is a genuine hole.
pub const HOLE_OUTLINE_SHARE: f32 = 0.85;

/// Gaps in the outline up to about twice this (working pixels) are bridged.
const GAP_BRIDGE: usize = 6;

/// Per-pixel evidence the decision needs.
pub struct Evidence<'a> {
    /// Lab distance to the backdrop model.
    pub plain: &'a [f32],
    /// Pixels on (or next to) a step edge.
    pub near_edge: &'a [bool],
    /// Below this mean `plain` distance a region shows the backdrop itself.
    pub hole_distance: f32,
}

/// Pixels outside `body` that are enclosed by it and belong to it (see the module doc).
pub fn enclosed_parts(body: &[bool], w: usize, h: usize, ev: &Evidence) -> Vec<bool> {
    let n = w * h;
    let mut fill = vec![false; n];
    if n == 0 || body.len() < n || ev.plain.len() < n || ev.near_edge.len() < n {
        return fill;
    }
    // Row and column spans of the body: inside both means product on all four sides.
    let mut row_span = vec![(usize::MAX, 0usize); h];
    let mut col_span = vec![(usize::MAX, 0usize); w];
    for y in 0..h {
        for x in 0..w {
            if body[y * w + x] {
                let r = &mut row_span[y];
                *r = (r.0.min(x), r.1.max(x));
                let c = &mut col_span[x];
                *c = (c.0.min(y), c.1.max(y));
            }
        }
    }
    // A gap in the outline leaves a column (or row) without product on one side; the
    // neighbouring spans bridge it.
    let row_span = bridge(&row_span, GAP_BRIDGE);
    let col_span = bridge(&col_span, GAP_BRIDGE);
    let mut inside = vec![false; n];
    for (y, (row, body_row)) in inside.chunks_exact_mut(w).zip(body.chunks_exact(w)).enumerate() {
        let (lo, hi) = row_span[y];
        // An empty span is (MAX, 0): the range is then empty too.
        for x in lo.saturating_add(1)..hi {
            row[x] = !body_row[x] && col_span[x].0 < y && y < col_span[x].1;
        }
    }
    let (labels, comps) = components(&inside, w, h);
    let min_size = (n / 2000).max(16);
    for (k, comp) in comps.iter().enumerate() {
        if comp.len() < min_size {
            continue;
        }
        let label = k as u32 + 1;
        let (mut rim, mut open, mut outlined) = (0usize, 0usize, 0usize);
        for_each_rim(comp, &labels, label, w, h, |j| {
            rim += 1;
            open += usize::from(!body[j]);
            outlined += usize::from(ev.near_edge[j]);
        });
        if open as f32 >= MAX_OPEN_SHARE * rim as f32 {
            continue;
        }
        let mean = comp.iter().map(|&i| ev.plain[i]).sum::<f32>() / comp.len() as f32;
        let genuine_hole = mean < ev.hole_distance && outlined as f32 >= HOLE_OUTLINE_SHARE * rim as f32;
        if !genuine_hole {
            for &i in comp {
                fill[i] = true;
            }
        }
    }
    fill
}

/// Widest span among the `radius` neighbours on either side (empty spans are ignored).
fn bridge(spans: &[(usize, usize)], radius: usize) -> Vec<(usize, usize)> {
    (0..spans.len())
        .map(|k| {
            let lo = k.saturating_sub(radius);
            let hi = (k + radius + 1).min(spans.len());
            spans[lo..hi].iter().fold((usize::MAX, 0), |acc, s| {
                if s.0 > s.1 { acc } else { (acc.0.min(s.0), acc.1.max(s.1)) }
            })
        })
        .collect()
}

/// Share of a region's border with the body that must be soft (no edge) for a region in
/// the hull to be a lost face: the backdrop stops at the product's outline, a lost face
/// fades into the rest of the face.
const MIN_SOFT_SHARE: f32 = 0.25;

/// A lost face may border the world outside the hull along its missing outline, but a
/// region mostly open to it is a concavity of the silhouette.
const MAX_HULL_OPEN_SHARE: f32 = 0.4;

/// Pixels outside `body` within its convex hull that belong to it: a face lost along a
/// whole side with no outline. The flood stops at a product's outline (an edge), so
/// regions of real backdrop in the hull (a concavity, the room beside a handle) border
/// the body on edges; a lost face borders the rest of the face softly.
pub fn within_hull(body: &[bool], w: usize, h: usize, ev: &Evidence) -> Vec<bool> {
    let n = w * h;
    let mut fill = vec![false; n];
    if n == 0 || body.len() < n || ev.plain.len() < n || ev.near_edge.len() < n {
        return fill;
    }
    let rows = row_intervals(body, w, h);
    let mut inside = vec![false; n];
    for (y, (row, body_row)) in inside.chunks_exact_mut(w).zip(body.chunks_exact(w)).enumerate() {
        let Some((a, b)) = rows[y] else { continue };
        // x in [a, b] for integer x: from ceil(a) to floor(b), within the frame.
        let (lo, hi) = (a.max(0.0).ceil() as usize, b.min((w - 1) as f32).floor());
        if hi < 0.0 {
            continue;
        }
        for x in lo..=(hi as usize) {
            row[x] = !body_row[x];
        }
    }
    let (labels, comps) = components(&inside, w, h);
    let min_size = (n / 500).max(16);
    for (k, comp) in comps.iter().enumerate() {
        if comp.len() < min_size {
            continue;
        }
        let label = k as u32 + 1;
        let (mut rim, mut open, mut soft) = (0usize, 0usize, 0usize);
        for_each_rim(comp, &labels, label, w, h, |j| {
            rim += 1;
            open += usize::from(!body[j]);
            soft += usize::from(body[j] && !ev.near_edge[j]);
        });
        let bordered = rim - open;
        if (open as f32) < MAX_HULL_OPEN_SHARE * rim as f32 && soft as f32 >= MIN_SOFT_SHARE * bordered as f32
        {
            for &i in comp {
                fill[i] = true;
            }
        }
    }
    fill
}
