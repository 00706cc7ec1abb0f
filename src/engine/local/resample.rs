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
