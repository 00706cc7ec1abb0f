//! Taking a picture from a Telegram message: find the file, fetch it, check it.
//!
//! A photo (its largest size) or any document is a candidate; the bytes decide what it
//! is. The declared size is checked before anything is downloaded, the download stops
//! once it grows past the limit, the header is checked before decoding, and a full decode
//! (off the async runtime) catches damaged files before a job is ever created for them.
//! A photo whose EXIF says "rotate" is stored upright, so no engine can get it sideways.

use std::io::Cursor;

use futures::StreamExt;
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{ImageDecoder, ImageFormat, ImageReader};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::FileMeta;

use crate::bot::TgBot;
use crate::bot::messages::Refusal;
use crate::input_image::{ImageLimits, InputImage, InputImageError};

/// The file a message carries that may be a picture.
pub fn candidate(msg: &Message) -> Option<&FileMeta> {
    if let Some(sizes) = msg.photo() {
        // Sizes come smallest first.
        return sizes.last().map(|size| &size.file);
    }
    msg.document().map(|doc| &doc.file)
}

/// Why a picture was not taken, with the detail for the log.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct IntakeError {
    pub refusal: Refusal,
    pub detail: String,
}

impl IntakeError {
    fn new(refusal: Refusal, detail: impl Into<String>) -> Self {
        Self { refusal, detail: detail.into() }
    }
}

/// Downloads and checks the picture of `file`; at most as many pictures decode at once as
/// `decodes` has permits (`DECODE_CONCURRENCY`), so a crowd of uploads cannot take all the
/// memory and cores at once.
pub async fn fetch(
    bot: &TgBot,
    file: &FileMeta,
    limits: &ImageLimits,
    decodes: &tokio::sync::Semaphore,
) -> Result<InputImage, IntakeError> {
    check_size(file.size, limits)?;
    let meta = bot
        .get_file(file.id.clone())
        .await
        .map_err(|e| IntakeError::new(Refusal::DownloadFailed, format!("getFile: {e}")))?;
    check_size(meta.size, limits)?;
    let bytes = download(bot, &meta.path, limits.max_bytes).await?;
    let image =
        InputImage::parse(bytes, limits).map_err(|e| IntakeError::new(Refusal::from(&e), e.to_string()))?;
    // A header can be fine while the pixels are not: decode once to be sure, and make
    // a picture taken sideways upright while the pixels are at hand.
    let limits = *limits;
    let _decoding = decodes
        .acquire()
        .await
        .map_err(|e| IntakeError::new(Refusal::Broken, format!("decoding slots: {e}")))?;
    tokio::task::spawn_blocking(move || upright(image, &limits))
        .await
        .map_err(|e| IntakeError::new(Refusal::Broken, format!("decoding task: {e}")))?
}

/// Decodes `image` fully; if its EXIF orientation is not "as stored", returns the
/// upright pixels re-encoded (same format family) so every engine sees what the user saw.
/// CPU-bound.
fn upright(image: InputImage, limits: &ImageLimits) -> Result<InputImage, IntakeError> {
    let refused = |e: InputImageError| IntakeError::new(Refusal::from(&e), e.to_string());
    let decoded = image.decode().map_err(refused)?;
    if orientation(&image) == Orientation::NoTransforms {
        return Ok(image);
    }
    let mut out = Vec::new();
    let encoded = match image.format() {
        ImageFormat::Png | ImageFormat::WebP => {
            decoded.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        }
        _ => decoded
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, UPRIGHT_JPEG_QUALITY)),
    };
    encoded.map_err(|e| IntakeError::new(Refusal::Broken, format!("re-encoding upright: {e}")))?;
    InputImage::parse(out, limits).map_err(refused)
}

/// Quality of a JPEG re-encoded only to apply its orientation: visually lossless.
const UPRIGHT_JPEG_QUALITY: u8 = 95;

/// The EXIF orientation of `image` (none or unreadable: as stored).
fn orientation(image: &InputImage) -> Orientation {
    ImageReader::with_format(Cursor::new(&image.bytes()[..]), image.format())
        .into_decoder()
        .and_then(|mut d| d.orientation())
        .unwrap_or(Orientation::NoTransforms)
}

/// Refuses a file whose declared size is over the limit (`u32::MAX` means unknown).
fn check_size(size: u32, limits: &ImageLimits) -> Result<(), IntakeError> {
    let size = size as usize;
    if size != u32::MAX as usize && size > limits.max_bytes {
        return Err(IntakeError::new(Refusal::TooLarge, format!("declared size {size} bytes")));
    }
    Ok(())
}

/// Streams the file, giving up as soon as it is larger than `max` bytes.
async fn download(bot: &TgBot, path: &str, max: usize) -> Result<Vec<u8>, IntakeError> {
    let mut stream = bot.download_file_stream(path);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| IntakeError::new(Refusal::DownloadFailed, format!("download: {e}")))?;
        if bytes.len() + chunk.len() > max {
            return Err(IntakeError::new(Refusal::TooLarge, "download larger than the limit"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_sizes_are_checked_unless_unknown() {
        let limits = ImageLimits::default();
        assert!(check_size(1000, &limits).is_ok());
        assert_eq!(check_size(21 * 1024 * 1024, &limits).unwrap_err().refusal, Refusal::TooLarge);
        assert!(check_size(u32::MAX, &limits).is_ok());
    }

    /// A JPEG of `w`x`h` whose EXIF says orientation `o` (6: rotate 90° clockwise).
    fn jpeg_with_orientation(w: u32, h: u32, o: u8) -> Vec<u8> {
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(w, h, image::Rgb([90, 160, 30]))
            .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 90))
            .unwrap();
        backdrop_fakes::image_bytes::with_exif_orientation(&jpeg, o)
    }

    #[test]
    fn a_sideways_photo_is_stored_upright() {
        let limits = ImageLimits::default();
        let sideways = InputImage::parse(jpeg_with_orientation(40, 20, 6), &limits).unwrap();
        assert_eq!(orientation(&sideways), Orientation::Rotate90);
        let upright = upright(sideways, &limits).unwrap();
        assert_eq!(upright.dimensions(), (20, 40));
        assert_eq!(orientation(&upright), Orientation::NoTransforms);
        // Nothing to do for a photo without orientation: the very same bytes.
        let plain = InputImage::parse(jpeg_with_orientation(40, 20, 1), &limits).unwrap();
        let bytes = plain.bytes().clone();
        assert_eq!(upright_bytes(plain, &limits), bytes);
    }

    fn upright_bytes(image: InputImage, limits: &ImageLimits) -> bytes::Bytes {
        upright(image, limits).unwrap().bytes().clone()
    }
}
