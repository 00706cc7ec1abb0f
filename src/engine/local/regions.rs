//! Connected regions of a binary mask: flood fills and component labelling.
//!
//! The product is a connected thing: it is whatever the backdrop, flooding in from the
//! frame, cannot reach. Labelling then drops specks and finds enclosed holes.

/// Calls `f` with the index of each 4-neighbour of (x, y) inside the frame. Walks keep
/// coordinates (no division per visited pixel).
#[inline(always)]
fn neighbours(x: usize, y: usize, w: usize, h: usize, mut f: impl FnMut(usize, usize, usize)) {
    let i = y * w + x;
    if x > 0 {
        f(i - 1, x - 1, y);
    }
    if x + 1 < w {
        f(i + 1, x + 1, y);
    }
    if y > 0 {
        f(i - w, x, y - 1);
    }
    if y + 1 < h {
        f(i + w, x, y + 1);
    }
}

/// Indices of the frame's border pixels, each once.
fn border(w: usize, h: usize) -> impl Iterator<Item = (usize, usize)> {
    let top_bottom = (0..w).flat_map(move |x| [(x, 0), (x, h - 1)]);
    let sides = (1..h.saturating_sub(1)).flat_map(move |y| [(0, y), (w - 1, y)]);
    top_bottom.chain(sides).filter(move |_| w > 0 && h > 0)
}

/// Pixels reachable from the frame's border through `passable` pixels (4-connected),
/// where a step may not go to a pixel whose `level` is lower
/// than the current one by more than `tolerance`. With `level` = shadow darkness, the
/// flood can run from the backdrop into a shadow (darker and darker towards the product)
/// but not on from the shadow's core into a product that is merely a little darker than
/// the backdrop (white on white).
pub fn flood_from_border_monotone(
    passable: &[bool],
    level: &[f32],
    tolerance: f32,
    w: usize,
    h: usize,
) -> Vec<bool> {
    let mut reached = vec![false; w * h];
    if passable.len() < w * h || level.len() < w * h {
        return reached;
    }
    // Scanline fill: a stack of runs (x0..=x1 on row y) already reached. Each run grows
    // sideways, then seeds the runs of the rows above and below that it can step to;
    // every pixel is then read a few times, in row order, instead of pushed and popped.
    let step = |from: usize, to: usize| passable[to] && level[to] >= level[from] - tolerance;
    let mut stack: Vec<(u32, u32, u32)> = Vec::new();
    for (x, y) in border(w, h) {
        let i = y * w + x;
        if passable[i] && !reached[i] {
            reached[i] = true;
            stack.push((x as u32, x as u32, y as u32));
        }
    }
    while let Some((x0, x1, y)) = stack.pop() {
        let (mut x0, mut x1, y) = (x0 as usize, x1 as usize, y as usize);
        let row = y * w;
        while x0 > 0 && !reached[row + x0 - 1] && step(row + x0, row + x0 - 1) {
            x0 -= 1;
            reached[row + x0] = true;
        }
        while x1 + 1 < w && !reached[row + x1 + 1] && step(row + x1, row + x1 + 1) {
            x1 += 1;
            reached[row + x1] = true;
        }
        for yy in [y.wrapping_sub(1), y + 1] {
            if yy >= h {
                continue;
            }
            let other = yy * w;
            let mut run: Option<usize> = None;
            for x in x0..=x1 {
                let j = other + x;
                if !reached[j] && step(row + x, j) {
                    reached[j] = true;
                    run.get_or_insert(x);
                } else if let Some(start) = run.take() {
                    stack.push((start as u32, x as u32 - 1, yy as u32));
                }
            }
            if let Some(start) = run {
                stack.push((start as u32, x1 as u32, yy as u32));
            }
        }
    }
    reached
}

/// Grows `region` by at most `steps` rings into pixels where `allowed` holds.
pub fn grow_into(region: &mut [bool], w: usize, h: usize, allowed: impl Fn(usize) -> bool, steps: usize) {
    if region.len() < w * h {
        return;
    }
    // The region's pixels next to the outside.
    let mut front: Vec<(u32, u32)> = Vec::new();
    for y in 0..h {
        let row = &region[y * w..(y + 1) * w];
        // Outside the frame counts as region: repeating the row there changes nothing.
        let up = if y > 0 { &region[(y - 1) * w..y * w] } else { row };
        let down = if y + 1 < h { &region[(y + 1) * w..(y + 2) * w] } else { row };
        for x in 0..w {
            let inner = row[x.saturating_sub(1)] && row[(x + 1).min(w - 1)] && up[x] && down[x];
            if row[x] && !inner {
                front.push((x as u32, y as u32));
            }
        }
    }
    // Breadth-first, one ring per step.
    let mut next = Vec::new();
    for _ in 0..steps {
        if front.is_empty() {
            break;
        }
        for &(x, y) in &front {
            neighbours(x as usize, y as usize, w, h, |j, xx, yy| {
                if !region[j] && allowed(j) {
                    region[j] = true;
                    next.push((xx as u32, yy as u32));
                }
            });
        }
        std::mem::swap(&mut front, &mut next);
        next.clear();
    }
}

/// 4-connected components of `mask`: a label per pixel (0 = outside) and each
/// component's pixel list (label `k` is `components[k - 1]`).
pub fn components(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<Vec<usize>>) {
    let mut labels = vec![0u32; w * h];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let label = comps.len() as u32 + 1;
        let mut pixels = Vec::new();
        labels[start] = label;
        stack.push(((start % w) as u32, (start / w) as u32));
        while let Some((x, y)) = stack.pop() {
            let (x, y) = (x as usize, y as usize);
            pixels.push(y * w + x);
            neighbours(x, y, w, h, |j, xx, yy| {
                if mask[j] && labels[j] == 0 {
                    labels[j] = label;
                    stack.push((xx as u32, yy as u32));
                }
            });
        }
        comps.push(pixels);
    }
    (labels, comps)
}

/// Calls `f` with each 4-neighbour outside component `label` of each pixel of `pixels`
/// (a pixel of the rim once per side it touches): how the tests of a region ("how much of
/// its outline is edge, product, open backdrop?") look at what surrounds it.
pub fn for_each_rim(
    pixels: &[usize],
    labels: &[u32],
    label: u32,
    w: usize,
    h: usize,
    mut f: impl FnMut(usize),
) {
    for &i in pixels {
        neighbours(i % w, i / w, w, h, |j, _, _| {
            if labels[j] != label {
                f(j);
            }
        });
    }
}

/// A horizontal run of mask pixels in row `y`: `x0..x1`.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub y: usize,
    pub x0: usize,
    pub x1: usize,
}

/// 4-connected components of `mask` as row runs: each run, its component (index into
/// the sizes), and each component's pixel count. Runs are few (a product spans a row in a
/// handful of runs), so this is far cheaper than walking pixels when only sizes matter.
pub fn run_components(mask: &[bool], w: usize, h: usize) -> (Vec<(Run, usize)>, Vec<usize>) {
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = vec![0usize; h + 1];
    for y in 0..h.min(mask.len() / w.max(1)) {
        row_start[y] = runs.len();
        let row = &mask[y * w..(y + 1) * w];
        let mut x = 0;
        while x < w {
            if row[x] {
                let x0 = x;
                while x < w && row[x] {
                    x += 1;
                }
                runs.push(Run { y, x0, x1: x });
            } else {
                x += 1;
            }
        }
        row_start[y + 1] = runs.len();
    }
    // Union-find over runs: runs in adjacent rows that share a column are connected.
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for y in 1..h {
        let (prev, cur) = (row_start[y - 1]..row_start[y], row_start[y]..row_start[y + 1]);
        let (mut a, mut b) = (prev.start, cur.start);
        while a < prev.end && b < cur.end {
            let (ra, rb) = (runs[a], runs[b]);
            if ra.x0 < rb.x1 && rb.x0 < ra.x1 {
                let (pa, pb) = (root(&mut parent, a), root(&mut parent, b));
                if pa != pb {
                    parent[pa.max(pb)] = pa.min(pb);
                }
            }
            // Advance whichever run ends first.
            if ra.x1 <= rb.x1 {
                a += 1;
            } else {
                b += 1;
            }
        }
    }
    let mut id = vec![usize::MAX; runs.len()];
    let mut sizes = Vec::new();
    let mut labelled = Vec::with_capacity(runs.len());
    for k in 0..runs.len() {
        let r = root(&mut parent, k);
        if id[r] == usize::MAX {
            id[r] = sizes.len();
            sizes.push(0);
        }
        sizes[id[r]] += runs[k].x1 - runs[k].x0;
        labelled.push((runs[k], id[r]));
    }
    (labelled, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flood as a plain pixel walk: the definition the scanline fill must match.
    fn flood_by_pixels(passable: &[bool], level: &[f32], tolerance: f32, w: usize, h: usize) -> Vec<bool> {
        let mut reached = vec![false; w * h];
        let mut stack: Vec<usize> = Vec::new();
        for (x, y) in border(w, h) {
            if passable[y * w + x] && !reached[y * w + x] {
                reached[y * w + x] = true;
                stack.push(y * w + x);
            }
        }
        while let Some(i) = stack.pop() {
            neighbours(i % w, i / w, w, h, |j, _, _| {
                if !reached[j] && passable[j] && level[j] >= level[i] - tolerance {
                    reached[j] = true;
                    stack.push(j);
                }
            });
        }
        reached
    }

    #[test]
    fn the_scanline_flood_reaches_what_a_pixel_walk_reaches() {
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        for (w, h) in [(1, 1), (1, 9), (9, 1), (23, 17), (64, 48)] {
            for _ in 0..20 {
                let passable: Vec<bool> = (0..w * h).map(|_| next() % 10 < 7).collect();
                // Smooth-ish levels with steps, so the monotone rule both allows and blocks.
                let level: Vec<f32> = (0..w * h).map(|_| (next() % 8) as f32 * 0.03).collect();
                assert_eq!(
                    flood_from_border_monotone(&passable, &level, 0.05, w, h),
                    flood_by_pixels(&passable, &level, 0.05, w, h),
                    "{w}x{h}"
                );
            }
        }
    }

    #[test]
    fn runs_find_the_same_components_as_pixels() {
        let (w, h) = (31, 19);
        let mask: Vec<bool> = (0..w * h).map(|i| (i * 7919 % 13) < 6 || (i % w > 20 && i / w > 5)).collect();
        let (_, mut by_pixels) = components(&mask, w, h);
        let (_, mut by_runs) = run_components(&mask, w, h);
        let mut pixel_sizes: Vec<usize> = by_pixels.iter_mut().map(|c| c.len()).collect();
        pixel_sizes.sort();
        by_runs.sort();
        assert_eq!(pixel_sizes, by_runs);
    }
}
