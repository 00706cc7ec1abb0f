//! A single-channel float raster: the working currency of the engine.
//!
//! Distances, masks, mattes and shadow maps are all "one float per pixel"; keeping them
//! in one small type makes the blur, the sampling and the bounds checks live in one place.

/// A `width x height` grid of `f32`, row-major.
#[derive(Clone, Debug)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize, value: f32) -> Self {
        Self { width, height, data: vec![value; width * height] }
    }

    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                data.push(f(x, y));
            }
        }
        Self { width, height, data }
    }

    /// Bilinear sample at continuous coordinates (pixel centres at `i + 0.5`), clamped to
    /// the edges, so a coarse plane can be read at any finer resolution.
    #[inline]
    pub fn sample(&self, fx: f32, fy: f32) -> f32 {
        if self.width == 0 || self.height == 0 {
            return 0.0;
        }
        let max_x = (self.width - 1) as f32;
        let max_y = (self.height - 1) as f32;
        let x = (fx - 0.5).clamp(0.0, max_x);
        let y = (fy - 0.5).clamp(0.0, max_y);
        // Both are clamped to >= 0, where truncation is the floor (and much cheaper).
        let x0 = x as usize;
        let y0 = y as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let tx = x - x0 as f32;
        let ty = y - y0 as f32;
        let row0 = y0 * self.width;
        let row1 = y1 * self.width;
        let top = self.data[row0 + x0] * (1.0 - tx) + self.data[row0 + x1] * tx;
        let bottom = self.data[row1 + x0] * (1.0 - tx) + self.data[row1 + x1] * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// Runs `f` on bands of rows of several `width`-wide planes at once, in parallel: `f`
/// gets the band's first row and the band's slice of each plane. Per-row work that fills
/// several planes then needs no per-row buffers or copies. The per-pixel loops this runs
/// are the engine's heaviest, so they are [`vectorized`].
pub fn par_row_bands<const K: usize>(
    planes: [&mut [f32]; K],
    width: usize,
    height: usize,
    f: impl Fn(usize, [&mut [f32]; K]) + Sync,
) {
    if width == 0 || height == 0 || planes.iter().any(|p| p.len() < width * height) {
        return;
    }
    // A few bands per thread balance uneven rows without much scheduling overhead.
    let rows = height.div_ceil(rayon::current_num_threads() * 4).max(1);
    let mut rest = planes;
    rayon::scope(|scope| {
        let f = &f;
        let mut y0 = 0;
        while y0 < height {
            let take = rows.min(height - y0) * width;
            let band: [&mut [f32]; K] = std::array::from_fn(|k| {
                let (head, tail) = std::mem::take(&mut rest[k]).split_at_mut(take);
                rest[k] = tail;
                head
            });
            let start = y0;
            scope.spawn(move |_| vectorized(|| f(start, band)));
            y0 += rows;
        }
    });
}

/// Runs `f` compiled for AVX2 when the CPU has it (the per-pixel colour loops vectorize
/// eight lanes wide instead of four), as plain code otherwise. The arithmetic is the same
/// either way (no fused multiply-add), so results do not depend on the machine.
#[inline(always)]
fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Normalized coordinate of pixel centre `i` in a span of `n` pixels: [-1, 1].
#[inline]
pub fn norm_coord(i: f32, n: usize) -> f32 {
    2.0 * i / n.max(1) as f32 - 1.0
}
