//! Connected regions of a binary mask: flood fills and component labelling.
//!
//! The product is a connected thing: it is whatever the backdrop, flooding in from the
//! frame, cannot reach. Labelling then drops specks and finds enclosed holes.

use std::collections::VecDeque;

/// Pixels reachable from the frame's border through `passable` pixels (4-connected),
/// where a step may not go to a pixel whose `level` is lower
/// than the current one by more than `tolerance`. With `level` = shadow darkness, the
/// flood can run from the backdrop into a shadow (darker and darker towards the product)
/// but not on from the shadow's core into a product that is merely a little darker than
/// the backdrop (white on white).
pub fn flood_from_border_monotone(passable: &[bool], level: &[f32], tolerance: f32, w: usize, h: usize) -> Vec<bool> {
    let mut reached = vec![false; w * h];
    // What is reachable does not depend on the visiting order: a stack is cheapest.
    let mut stack = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if (x == 0 || y == 0 || x + 1 == w || y + 1 == h) && passable[i] && !reached[i] {
                reached[i] = true;
                stack.push(i);
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        let floor = level[i] - tolerance;
        let mut visit = |j: usize| {
            if !reached[j] && passable[j] && level[j] >= floor {
                reached[j] = true;
                stack.push(j);
            }
        };
        if x > 0 {
            visit(i - 1);
        }
        if x + 1 < w {
            visit(i + 1);
        }
        if y > 0 {
            visit(i - w);
        }
        if y + 1 < h {
            visit(i + w);
        }
    }
    reached
}

/// Grows `region` by at most `steps` rings into pixels where `allowed` holds.
pub fn grow_into(region: &mut [bool], w: usize, h: usize, allowed: impl Fn(usize) -> bool, steps: usize) {
    let mut queue: VecDeque<usize> = (0..w * h).filter(|&i| region[i] && touches(region, i, w, h, false)).collect();
    spread(region, &mut queue, w, h, allowed, steps);
}

fn touches(region: &[bool], i: usize, w: usize, h: usize, value: bool) -> bool {
    let (x, y) = (i % w, i / w);
    (x > 0 && region[i - 1] == value)
        || (x + 1 < w && region[i + 1] == value)
        || (y > 0 && region[i - w] == value)
        || (y + 1 < h && region[i + w] == value)
}

/// Breadth-first spread; `steps` bounds the geodesic distance from the initial queue.
fn spread(
    region: &mut [bool],
    queue: &mut VecDeque<usize>,
    w: usize,
    h: usize,
    allowed: impl Fn(usize) -> bool,
    steps: usize,
) {
    let mut depth = 0usize;
    while !queue.is_empty() && depth < steps {
        for _ in 0..queue.len() {
            let Some(i) = queue.pop_front() else { break };
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if !region[j] && allowed(j) {
                    region[j] = true;
                    queue.push_back(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        depth += 1;
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
        stack.push(start);
        while let Some(i) = stack.pop() {
            pixels.push(i);
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if mask[j] && labels[j] == 0 {
                    labels[j] = label;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        comps.push(pixels);
    }
    (labels, comps)
}

/// 4-connected components of `mask` by size only: a label per pixel (0 = outside) and
/// each component's pixel count (label `k` counts `sizes[k - 1]`). Cheaper than
/// [`components`] when only the sizes matter.
pub fn component_sizes(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<usize>) {
    let mut labels = vec![0u32; w * h];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..(w * h).min(mask.len()) {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let label = sizes.len() as u32 + 1;
        let mut size = 0usize;
        labels[start] = label;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if mask[j] && labels[j] == 0 {
                    labels[j] = label;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        sizes.push(size);
    }
    (labels, sizes)
}
