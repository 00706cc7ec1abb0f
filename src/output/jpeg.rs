//! The seller-ready encoding: a baseline sRGB JPEG at quality [`QUALITY`], with no
//! metadata (pixels are re-encoded, so no EXIF, location or camera data survives).

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, RgbImage};

/// Marketplaces recompress; 92 keeps edges and textures clean through that.
pub const QUALITY: u8 = 92;

/// `image` as a JPEG file.
pub fn encode(image: &RgbImage) -> Result<Bytes, image::ImageError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut out), QUALITY).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(Bytes::from(out))
}
