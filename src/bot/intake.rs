//! Taking a picture from a Telegram message: find the file, fetch it, check it.
//!
//! A photo (its largest size) or any document is a candidate; the bytes decide what it
//! is. The declared size is checked before anything is downloaded, the download stops
//! once it grows past the limit, the header is checked before decoding, and a full decode
//! (off the async runtime) catches damaged files before a job is ever created for them.

use futures::StreamExt;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::FileMeta;

use crate::bot::TgBot;
use crate::bot::messages::Refusal;
use crate::input_image::{ImageLimits, InputImage};

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

/// Downloads and checks the picture of `file`.
pub async fn fetch(bot: &TgBot, file: &FileMeta, limits: &ImageLimits) -> Result<InputImage, IntakeError> {
    check_size(file.size, limits)?;
    let meta = bot
        .get_file(file.id.clone())
        .await
        .map_err(|e| IntakeError::new(Refusal::DownloadFailed, format!("getFile: {e}")))?;
    check_size(meta.size, limits)?;
    let bytes = download(bot, &meta.path, limits.max_bytes).await?;
    let image = InputImage::parse(bytes, limits).map_err(|e| IntakeError::new(Refusal::from(&e), e.to_string()))?;
    // A header can be fine while the pixels are not: decode once to be sure.
    let check = image.clone();
    let decoded = tokio::task::spawn_blocking(move || check.decode().map(|_| ()))
        .await
        .map_err(|e| IntakeError::new(Refusal::Broken, format!("decoding task: {e}")))?;
    decoded.map_err(|e| IntakeError::new(Refusal::from(&e), e.to_string()))?;
    Ok(image)
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
    let mut stream = bot.inner().download_file_stream(path);
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
}
