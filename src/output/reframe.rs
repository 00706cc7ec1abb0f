//! Bringing a picture to a format's frame without cutting the product: the built-in engine
//! fits the *scene* before it places the product ([`fit_scene`]); a provider's finished
//! result is cropped or extended around its content ([`around`]).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{RgbImage, RgbaImage};

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Share of the frame kept free on each side of the content when a result is reframed.
const MARGIN: f64 = 0.07;
/// Where a crop of a too-tall scene sits: the floor (lower part) matters more than the
/// wall, since products stand near the bottom.
const KEEP_LOWER: f64 = 0.7;

/// The scene cropped to the frame's aspect (centred across, biased to the floor up and
/// down), then scaled to the frame. The product is placed afterwards, so nothing of it
/// can be cut.
pub fn fit_scene(scene: &RgbImage, (fw, fh): (u32, u32)) -> RgbImage {
    let (w, h) = (f64::from(scene.width().max(1)), f64::from(scene.height().max(1)));
    let aspect = f64::from(fw) / f64::from(fh);
    let (cw, ch) = if w / h > aspect { (h * aspect, h) } else { (w, w / aspect) };
    let x = ((w - cw) / 2.0).round();
    let y = ((h - ch) * KEEP_LOWER).round();
    let crop =
        Rect { x: x as u32, y: y as u32, w: (cw.round() as u32).max(1), h: (ch.round() as u32).max(1) };
    resize_rgb_crop(scene, crop, fw, fh)
}

/// A finished picture brought to the frame around `content` (the product's box): cropped
/// where the picture has room, extended (its edges carried outwards) where the content
/// would otherwise be cut or touch the frame; then scaled to the frame.
pub fn around(image: &RgbImage, content: Rect, (fw, fh): (u32, u32)) -> RgbImage {
    let (w, h) = (f64::from(image.width().max(1)), f64::from(image.height().max(1)));
    let aspect = f64::from(fw) / f64::from(fh);
    let need_w = f64::from(content.w) / (1.0 - 2.0 * MARGIN);
    let need_h = f64::from(content.h) / (1.0 - 2.0 * MARGIN);
    // The largest rectangle of the aspect inside the picture, grown if the content needs it.
    let (mut rw, mut rh) = if w / h > aspect { (h * aspect, h) } else { (w, w / aspect) };
    if rw < need_w || rh < need_h {
        rw = need_w.max(need_h * aspect);
        rh = rw / aspect;
    }
    let cx = f64::from(content.x) + f64::from(content.w) / 2.0;
    let cy = f64::from(content.y) + f64::from(content.h) / 2.0;
    let place = |centre: f64, size: f64, full: f64| {
        if size <= full { (centre - size / 2.0).clamp(0.0, full - size) } else { (full - size) / 2.0 }
    };
    let (x0, y0) = (place(cx, rw, w).round() as i64, place(cy, rh, h).round() as i64);
    let (rw, rh) = ((rw.round() as u32).max(1), (rh.round() as u32).max(1));
    let inside = x0 >= 0 && y0 >= 0 && x0 + i64::from(rw) <= w as i64 && y0 + i64::from(rh) <= h as i64;
    if inside {
        return resize_rgb_crop(image, Rect { x: x0 as u32, y: y0 as u32, w: rw, h: rh }, fw, fh);
    }
    let (iw, ih) = (i64::from(image.width()) - 1, i64::from(image.height()) - 1);
    let canvas = RgbImage::from_fn(rw, rh, |x, y| {
        let sx = (x0 + i64::from(x)).clamp(0, iw) as u32;
        let sy = (y0 + i64::from(y)).clamp(0, ih) as u32;
        *image.get_pixel(sx, sy)
    });
    resize_rgb_crop(&canvas, Rect { x: 0, y: 0, w: rw, h: rh }, fw, fh)
}

/// The box of pixels whose alpha is above `threshold`, if any.
pub fn alpha_box(rgba: &RgbaImage, threshold: u8) -> Option<Rect> {
    let (w, h) = rgba.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (y, row) in rgba.as_raw().chunks_exact((w as usize * 4).max(1)).enumerate() {
        for (x, px) in row.chunks_exact(4).enumerate() {
            if px[3] > threshold {
                x0 = x0.min(x as u32);
                x1 = x1.max(x as u32);
                y0 = y0.min(y as u32);
                y1 = y1.max(y as u32);
            }
        }
    }
    (x0 <= x1 && y0 <= y1 && y1 < h).then(|| Rect { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 })
}

/// The `crop` of an RGB image scaled to `dw` x `dh` (Lanczos3: these are final pixels).
pub fn resize_rgb_crop(img: &RgbImage, crop: Rect, dw: u32, dh: u32) -> RgbImage {
    let resized = resize_crop(img.as_raw(), img.dimensions(), crop, (dw, dh), PixelType::U8x3);
    resized.and_then(|raw| RgbImage::from_raw(dw, dh, raw)).unwrap_or_else(|| {
        // Only reachable with a zero-sized buffer: nearest-neighbour is good enough then.
        image::imageops::resize(img, dw, dh, image::imageops::FilterType::Nearest)
    })
}

/// The `crop` of an RGBA image scaled to `dw` x `dh`, alpha-aware (no dark fringes).
pub fn resize_rgba_crop(img: &RgbaImage, crop: Rect, dw: u32, dh: u32) -> RgbaImage {
    let resized = resize_crop(img.as_raw(), img.dimensions(), crop, (dw, dh), PixelType::U8x4);
    resized
        .and_then(|raw| RgbaImage::from_raw(dw, dh, raw))
        .unwrap_or_else(|| image::imageops::resize(img, dw, dh, image::imageops::FilterType::Nearest))
}

fn resize_crop(
    src: &[u8],
    (sw, sh): (u32, u32),
    crop: Rect,
    (dw, dh): (u32, u32),
    pixel: PixelType,
) -> Option<Vec<u8>> {
    let src = ImageRef::new(sw, sh, src, pixel).ok()?;
    let mut dst = Image::new(dw.max(1), dh.max(1), pixel);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)).crop(
        f64::from(crop.x),
        f64::from(crop.y),
        f64::from(crop.w),
        f64::from(crop.h),
    );
    Resizer::new().resize(&src, &mut dst, &options).ok()?;
    Some(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_product_is_extended_not_cut() {
        // A 400x300 picture whose content spans nearly its whole width, to 3:4.
        let img = RgbImage::from_fn(400, 300, |x, _| image::Rgb([(x / 2) as u8, 0, 0]));
        let out = around(&img, Rect { x: 10, y: 100, w: 380, h: 150 }, (120, 160));
        assert_eq!(out.dimensions(), (120, 160));
        // The content's left and right ends are still in the frame (extended, not cropped).
        assert!(out.get_pixel(8, 80)[0] < 20 && out.get_pixel(111, 80)[0] > 180);
    }

    #[test]
    fn a_scene_is_cropped_to_the_aspect() {
        let img = RgbImage::from_pixel(1600, 1200, image::Rgb([9, 9, 9]));
        assert_eq!(fit_scene(&img, (1200, 1600)).dimensions(), (1200, 1600));
    }
}
