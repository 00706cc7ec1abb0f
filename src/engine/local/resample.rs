//! Resampling through fast_image_resize (SIMD): down to the working resolution, and the
//! product to its size in the scene.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{RgbImage, RgbaImage};

/// Dimensions fitting within `max_side` on the longest side, aspect kept, never upscaled.
pub fn fit_within(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let longest = w.max(h).max(1);
    if longest <= max_side {
        return (w.max(1), h.max(1));
    }
    let s = max_side as f64 / longest as f64;
    (((w as f64 * s).round() as u32).max(1), ((h as f64 * s).round() as u32).max(1))
}

fn resize_raw(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32, pixel: PixelType) -> Option<Vec<u8>> {
    resize_raw_with(src, (sw, sh), (dw, dh), pixel, FilterType::Bilinear)
}

fn resize_raw_with(
    src: &[u8],
    (sw, sh): (u32, u32),
    (dw, dh): (u32, u32),
    pixel: PixelType,
    filter: FilterType,
) -> Option<Vec<u8>> {
    let src = ImageRef::new(sw, sh, src, pixel).ok()?;
    let mut dst = Image::new(dw, dh, pixel);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    Resizer::new().resize(&src, &mut dst, &options).ok()?;
    Some(dst.into_vec())
}

/// Resizes an RGB image; `None` only if the library refuses the buffers (a bug).
pub fn resize_rgb(img: &RgbImage, dw: u32, dh: u32) -> Option<RgbImage> {
    if img.dimensions() == (dw, dh) {
        return Some(img.clone());
    }
    let raw = resize_raw(img.as_raw(), img.width(), img.height(), dw, dh, PixelType::U8x3)?;
    RgbImage::from_raw(dw, dh, raw)
}

/// Resizes an RGB image with Lanczos3, as the learned model's reference pipeline does
/// (its answers shift with the filter).
pub fn resize_rgb_lanczos(img: &RgbImage, dw: u32, dh: u32) -> Option<RgbImage> {
    let raw =
        resize_raw_with(img.as_raw(), img.dimensions(), (dw, dh), PixelType::U8x3, FilterType::Lanczos3)?;
    RgbImage::from_raw(dw, dh, raw)
}

/// Resizes the `crop` rectangle (x, y, w, h) of an RGBA image, without copying it first.
pub fn resize_rgba_crop(img: &RgbaImage, crop: (u32, u32, u32, u32), dw: u32, dh: u32) -> Option<RgbaImage> {
    let src = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x4).ok()?;
    let mut dst = Image::new(dw, dh, PixelType::U8x4);
    let (x, y, w, h) = crop;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)).crop(
        f64::from(x),
        f64::from(y),
        f64::from(w),
        f64::from(h),
    );
    Resizer::new().resize(&src, &mut dst, &options).ok()?;
    RgbaImage::from_raw(dw, dh, dst.into_vec())
}

/// A small copy of `img` (longest side `max_side`) for analysis, each pixel the mean of a
/// sparse grid of up to 4x4 samples in its cell: the scene's light and surface are smooth,
/// and reading all of a 12 MP photo for them would cost more than the rest of the composite.
pub fn thumbnail(img: &RgbImage, max_side: u32) -> RgbImage {
    let (sw, sh) = img.dimensions();
    let (tw, th) = fit_within(sw, sh, max_side);
    if sw == 0 || sh == 0 {
        return RgbImage::new(tw, th);
    }
    const SAMPLES: u32 = 4;
    RgbImage::from_fn(tw, th, |x, y| {
        let (cx0, cx1) = (x * sw / tw, ((x + 1) * sw / tw).max(x * sw / tw + 1).min(sw));
        let (cy0, cy1) = (y * sh / th, ((y + 1) * sh / th).max(y * sh / th + 1).min(sh));
        let (nx, ny) = ((cx1 - cx0).min(SAMPLES), (cy1 - cy0).min(SAMPLES));
        let mut sum = [0u32; 3];
        for j in 0..ny {
            for i in 0..nx {
                let px = img.get_pixel(
                    cx0 + (2 * i + 1) * (cx1 - cx0) / (2 * nx),
                    cy0 + (2 * j + 1) * (cy1 - cy0) / (2 * ny),
                );
                for c in 0..3 {
                    sum[c] += u32::from(px[c]);
                }
            }
        }
        let n = nx * ny;
        image::Rgb(sum.map(|s| ((s + n / 2) / n) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_averages_its_cells_at_any_size() {
        let halves =
            RgbImage::from_fn(
                1000,
                500,
                |x, _| if x < 500 { image::Rgb([200; 3]) } else { image::Rgb([20; 3]) },
            );
        let t = thumbnail(&halves, 100);
        assert_eq!(t.dimensions(), (100, 50));
        assert_eq!(t.get_pixel(10, 10)[0], 200);
        assert_eq!(t.get_pixel(90, 40)[0], 20);
        for (w, h) in [(1u32, 1u32), (3, 1), (1, 700)] {
            let t = thumbnail(&RgbImage::from_pixel(w, h, image::Rgb([7; 3])), 128);
            assert!(t.pixels().all(|p| p[0] == 7), "{w}x{h}");
        }
    }
}
