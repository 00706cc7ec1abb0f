//! Encoding results by file extension: PNG, JPEG (quality 92) or lossless WebP.

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageEncoder};

use super::LocalError;

/// JPEG quality used for every JPEG the engine writes.
pub const JPEG_QUALITY: u8 = 92;

/// Encodes `image` for the extension `ext` (case-insensitive, with or without a dot);
/// returns the bytes and the canonical extension.
pub fn encode(image: &DynamicImage, ext: &str) -> Result<(Bytes, &'static str), LocalError> {
    let lower = ext.trim_start_matches('.').to_ascii_lowercase();
    let mut out = Vec::new();
    let err = |e: image::ImageError| LocalError::Encode(e.to_string());
    let canonical = match lower.as_str() {
        "png" => {
            let (img, color) = png_ready(image);
            PngEncoder::new(&mut out)
                .write_image(img.as_bytes(), img.width(), img.height(), color)
                .map_err(err)?;
            "png"
        }
        "jpg" | "jpeg" => {
            // JPEG has no alpha: flatten over white, as a shop photo would be.
            let rgb = flatten_on_white(image);
            JpegEncoder::new_with_quality(Cursor::new(&mut out), JPEG_QUALITY)
                .write_image(rgb.as_raw(), rgb.width(), rgb.height(), image::ExtendedColorType::Rgb8)
                .map_err(err)?;
            "jpg"
        }
        "webp" => {
            let rgba = image.to_rgba8();
            WebPEncoder::new_lossless(&mut out)
                .write_image(rgba.as_raw(), rgba.width(), rgba.height(), image::ExtendedColorType::Rgba8)
                .map_err(err)?;
            "webp"
        }
        _ => return Err(LocalError::UnsupportedExtension(ext.to_string())),
    };
    Ok((Bytes::from(out), canonical))
}

/// PNG keeps 8-bit RGB or RGBA (16-bit and grayscale are converted for predictability).
fn png_ready(image: &DynamicImage) -> (DynamicImage, image::ExtendedColorType) {
    if image.color().has_alpha() {
        match image {
            DynamicImage::ImageRgba8(_) => (image.clone(), image::ExtendedColorType::Rgba8),
            _ => (DynamicImage::ImageRgba8(image.to_rgba8()), image::ExtendedColorType::Rgba8),
        }
    } else {
        match image {
            DynamicImage::ImageRgb8(_) => (image.clone(), image::ExtendedColorType::Rgb8),
            _ => (DynamicImage::ImageRgb8(image.to_rgb8()), image::ExtendedColorType::Rgb8),
        }
    }
}

fn flatten_on_white(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(p[3]);
        for c in 0..3 {
            o[c] = ((u16::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    rgb
}
