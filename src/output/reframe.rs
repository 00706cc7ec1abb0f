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
    let edges = Edges::of(image);
    let (iw, ih) = (i64::from(image.width()), i64::from(image.height()));
    let canvas = RgbImage::from_fn(rw, rh, |x, y| {
        let (sx, sy) = (x0 + i64::from(x), y0 + i64::from(y));
        if (0..iw).contains(&sx) && (0..ih).contains(&sy) {
            return *image.get_pixel(sx as u32, sy as u32);
        }
        edges.extended(sx, sy)
    });
    resize_rgb_crop(&canvas, Rect { x: 0, y: 0, w: rw, h: rh }, fw, fh)
}

/// Running sums along the picture's four edges: a pixel beyond an edge is the mean of
/// the edge around it, over a window that widens with the distance, so an extension
/// fades into a soft continuation of the floor or wall instead of hard streaks.
struct Edges {
    width: i64,
    height: i64,
    /// Prefix sums (per channel) of the top and bottom rows, the left and right columns.
    top: Vec<[u64; 3]>,
    bottom: Vec<[u64; 3]>,
    left: Vec<[u64; 3]>,
    right: Vec<[u64; 3]>,
}

impl Edges {
    fn of(image: &RgbImage) -> Self {
        let (w, h) = image.dimensions();
        let sums = |pixels: &mut dyn Iterator<Item = [u8; 3]>| {
            let mut acc = [0u64; 3];
            let mut out = vec![acc];
            for p in pixels {
                for c in 0..3 {
                    acc[c] += u64::from(p[c]);
                }
                out.push(acc);
            }
            out
        };
        Self {
            width: i64::from(w),
            height: i64::from(h),
            top: sums(&mut (0..w).map(|x| image.get_pixel(x, 0).0)),
            bottom: sums(&mut (0..w).map(|x| image.get_pixel(x, h - 1).0)),
            left: sums(&mut (0..h).map(|y| image.get_pixel(0, y).0)),
            right: sums(&mut (0..h).map(|y| image.get_pixel(w - 1, y).0)),
        }
    }

    /// The colour at (x, y) outside the picture.
    fn extended(&self, x: i64, y: i64) -> image::Rgb<u8> {
        let beyond_x = if x < 0 { -x } else { (x - self.width + 1).max(0) };
        let beyond_y = if y < 0 { -y } else { (y - self.height + 1).max(0) };
        // The edge it lies furthest beyond, and where along that edge.
        let (line, at, len, beyond) = if beyond_y >= beyond_x {
            (if y < 0 { &self.top } else { &self.bottom }, x, self.width, beyond_y)
        } else {
            (if x < 0 { &self.left } else { &self.right }, y, self.height, beyond_x)
        };
        let radius = beyond / 2;
        let lo = (at - radius).clamp(0, len - 1);
        let hi = (at + radius).clamp(0, len - 1) + 1;
        let n = (hi - lo).max(1) as u64;
        let (a, b) = (line[lo as usize], line[hi as usize]);
        image::Rgb([0, 1, 2].map(|c| ((b[c] - a[c]) / n) as u8))
    }
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
