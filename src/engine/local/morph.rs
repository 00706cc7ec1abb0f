//! Binary morphology with square structuring elements.
//!
//! Dilating `r` times by 3x3 is one dilation by a (2r+1) square, and a square is
//! separable: a pass along the rows then one along the columns, each an OR (or AND) of a
//! few shifted slices, which vectorizes. The frame's outside is ignored (as if the
//! border pixels repeated).

/// Pixels within `r` (chessboard distance) of a `true` pixel.
pub fn dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    square(mask, w, h, r, true)
}

/// Pixels whose whole (2r+1) square is `true` (clipped to the frame).
pub fn erode(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    square(mask, w, h, r, false)
}

/// OR (`any`) or AND (`!any`) over the (2r+1) square around each pixel.
fn square(mask: &[bool], w: usize, h: usize, r: usize, any: bool) -> Vec<bool> {
    let n = w * h;
    if n == 0 || mask.len() < n {
        return vec![false; n];
    }
    let combine = |o: &mut [bool], s: &[bool]| {
        if any {
            o.iter_mut().zip(s).for_each(|(o, s)| *o |= *s);
        } else {
            o.iter_mut().zip(s).for_each(|(o, s)| *o &= *s);
        }
    };
    let mut rows = mask[..n].to_vec();
    for (out, src) in rows.chunks_exact_mut(w).zip(mask.chunks_exact(w)) {
        for d in 1..=r.min(w - 1) {
            combine(&mut out[..w - d], &src[d..]);
            combine(&mut out[d..], &src[..w - d]);
        }
    }
    let mut out = rows.clone();
    for y in 0..h {
        let row = &mut out[y * w..(y + 1) * w];
        for d in 1..=r.min(h - 1) {
            if y >= d {
                combine(row, &rows[(y - d) * w..(y - d + 1) * w]);
            }
            if y + d < h {
                combine(row, &rows[(y + d) * w..(y + d + 1) * w]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: 3x3 steps, repeated.
    fn dilate_by_steps(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
        (0..r).fold(mask.to_vec(), |m, _| {
            (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as isize, (i / w) as isize);
                    (-1..=1).any(|dy| {
                        (-1..=1).any(|dx| {
                            let (xx, yy) = (x + dx, y + dy);
                            xx >= 0
                                && yy >= 0
                                && xx < w as isize
                                && yy < h as isize
                                && m[yy as usize * w + xx as usize]
                        })
                    })
                })
                .collect()
        })
    }

    #[test]
    fn matches_repeated_three_by_three_steps() {
        let (w, h) = (23, 17);
        let mask: Vec<bool> = (0..w * h).map(|i| (i * 7919 % 31) < 4 || (i % w > 15 && i / w > 10)).collect();
        for r in 1..4 {
            assert_eq!(dilate(&mask, w, h, r), dilate_by_steps(&mask, w, h, r), "dilate {r}");
            let inverted: Vec<bool> = mask.iter().map(|m| !m).collect();
            let eroded: Vec<bool> = dilate_by_steps(&inverted, w, h, r).iter().map(|m| !m).collect();
            assert_eq!(erode(&mask, w, h, r), eroded, "erode {r}");
        }
    }
}
