//! Fits a result into what `sendPhoto` and `sendDocument` accept.
//!
//! `sendPhoto` takes at most 10 MB, width + height at most 10000 and an aspect ratio of at
//! most 20. Most results already fit and are sent as they are; larger ones are scaled
//! down and re-encoded as JPEG. The original goes as a document, which Telegram takes up
//! to 50 MB: a larger one (a ComfyUI result may be 100 MiB) is re-encoded as JPEG, and
//! scaled down only if that is not enough. This is CPU-bound: call [`photo_for`] and
//! [`document_for`] from `spawn_blocking`.

use std::io::Cursor;

use bytes::Bytes;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader};

/// sendPhoto's size limit.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// sendPhoto's limit on width + height.
pub const MAX_PHOTO_SIDES: u32 = 10_000;
/// sendPhoto's limit on the ratio of the long side to the short one.
pub const MAX_PHOTO_ASPECT: f64 = 20.0;

/// sendDocument's size limit (bots on the public Bot API server).
pub const MAX_DOCUMENT_BYTES: usize = 50 * 1024 * 1024;

/// The long side of a re-encoded preview: plenty for a phone screen, far below the limits.
const PREVIEW_LONG_SIDE: u32 = 4096;

/// What to send as the photo.
#[derive(Debug)]
pub enum Photo {
    /// The result fits sendPhoto as it is.
    Original,
    /// A scaled-down JPEG of the result.
    Preview(Bytes),
    /// No photo can show it (extreme aspect ratio, unreadable): the document alone.
    None,
}

/// Decides (and if needed makes) the photo for a result.
pub fn photo_for(result: &[u8]) -> Photo {
    let Ok(reader) = ImageReader::new(Cursor::new(result)).with_guessed_format() else {
        return Photo::None;
    };
    let Ok((w, h)) = reader.into_dimensions() else {
        return Photo::None;
    };
    if w == 0 || h == 0 {
        return Photo::None;
    }
    let aspect = f64::from(w.max(h)) / f64::from(w.min(h));
    if aspect > MAX_PHOTO_ASPECT {
        return Photo::None;
    }
    if result.len() <= MAX_PHOTO_BYTES && w + h <= MAX_PHOTO_SIDES && is_photo_format(result) {
        return Photo::Original;
    }
    let Ok(image) = image::load_from_memory(result) else {
        return Photo::None;
    };
    match shrink(&image) {
        Some(bytes) => Photo::Preview(bytes),
        None => Photo::None,
    }
}

/// Scales down to the preview size and encodes JPEG, lowering quality until it fits.
fn shrink(image: &DynamicImage) -> Option<Bytes> {
    let (w, h) = (image.width(), image.height());
    let scaled = if w.max(h) > PREVIEW_LONG_SIDE {
        image.resize(PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE, FilterType::Triangle)
    } else {
        image.clone()
    };
    // JPEG has no alpha: flatten onto white, the usual backdrop of product shots.
    let rgb = flatten(&scaled);
    for quality in [90u8, 80, 65, 50] {
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
        if rgb.write_with_encoder(encoder).is_err() {
            return None;
        }
        if out.len() <= MAX_PHOTO_BYTES {
            return Some(Bytes::from(out));
        }
    }
    None
}

fn flatten(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    rgb
}

/// The document for a result: the result itself when it fits `limit` bytes, else a JPEG
/// of it (quality 92, then scaled down by steps of 3/4 until it fits). `None` when the
/// result cannot be read or made to fit.
pub fn document_for(result: Bytes, extension: &'static str, limit: usize) -> Option<(Bytes, &'static str)> {
    if result.len() <= limit {
        return Some((result, extension));
    }
    let image = image::load_from_memory(&result).ok()?;
    let mut rgb = flatten(&image);
    for _ in 0..8 {
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92);
        rgb.write_with_encoder(encoder).ok()?;
        if out.len() <= limit {
            return Some((Bytes::from(out), "jpg"));
        }
        let (w, h) = (rgb.width() * 3 / 4, rgb.height() * 3 / 4);
        if w == 0 || h == 0 {
            return None;
        }
        rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
    }
    None
}

/// The file name of the full-resolution document.
pub fn document_name(extension: &str) -> String {
    format!("backdrop.{extension}")
}

/// Whether `bytes` is a format every Telegram client shows as a photo (WebP is not).
fn is_photo_format(bytes: &[u8]) -> bool {
    matches!(image::guess_format(bytes), Ok(ImageFormat::Jpeg | ImageFormat::Png))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(w, h, image::Rgb([200, 100, 50]))
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_normal_result_goes_as_it_is() {
        assert!(matches!(photo_for(&png(64, 48)), Photo::Original));
    }

    #[test]
    fn too_many_pixels_are_scaled_down() {
        let Photo::Preview(jpeg) = photo_for(&png(9000, 2000)) else { panic!("expected a preview") };
        let (w, h) = image::load_from_memory(&jpeg).unwrap().into_rgb8().dimensions();
        assert_eq!((w, h), (4096, 910));
        assert!(jpeg.len() <= MAX_PHOTO_BYTES);
    }

    #[test]
    fn a_document_over_the_limit_is_re_encoded_to_fit() {
        let original = Bytes::from(png(300, 200));
        let (same, ext) = document_for(original.clone(), "png", original.len()).unwrap();
        assert_eq!((same.len(), ext), (original.len(), "png"), "a document that fits goes as it is");
        // Noise compresses badly: the JPEG must also be scaled down to fit.
        let noise = image::RgbImage::from_fn(600, 400, |x, y| {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).to_le_bytes();
            image::Rgb([v[0], v[1], v[2]])
        });
        let mut big = Vec::new();
        noise.write_to(&mut Cursor::new(&mut big), ImageFormat::Png).unwrap();
        let limit = big.len() / 6;
        let (fitted, ext) = document_for(Bytes::from(big), "png", limit).expect("made to fit");
        assert!(fitted.len() <= limit && ext == "jpg", "{} > {limit}", fitted.len());
        assert!(document_for(Bytes::from_static(b"not an image"), "png", 3).is_none());
    }

    #[test]
    fn extreme_strips_and_garbage_go_as_documents_only() {
        assert!(matches!(photo_for(&png(2100, 100)), Photo::None));
        assert!(matches!(photo_for(b"not an image"), Photo::None));
    }
}
