//! An image a user gave us, checked once at the door ("parse, don't validate").
//!
//! The bytes decide what a file is, never its name or declared MIME type: the format is
//! sniffed from the magic bytes and the dimensions read from the header before anything
//! is decoded, so a 30000x30000 picture or a PDF is refused without allocating for it.

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

/// What an input image may be. Defaults are the bot's intake limits.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
    pub max_side: u32,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self { max_bytes: 20 * 1024 * 1024, max_pixels: 50_000_000, max_side: 12_000 }
    }
}

/// Why an image was refused. Each variant maps to one plain-words answer for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputImageError {
    #[error("the file is {bytes} bytes, more than the {max} allowed")]
    FileTooLarge { bytes: usize, max: usize },
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("the image is {width}x{height}, larger than allowed")]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image is empty (0 pixels)")]
    Empty,
    #[error("the image is damaged and cannot be read: {0}")]
    Broken(String),
}

/// A JPEG, PNG or WebP image within the limits, with its header already read.
#[derive(Clone, Debug)]
pub struct InputImage {
    bytes: Bytes,
    format: ImageFormat,
    width: u32,
    height: u32,
}

impl InputImage {
    /// Sniffs the format and reads the dimensions from the header; decodes nothing.
    pub fn parse(bytes: impl Into<Bytes>, limits: &ImageLimits) -> Result<Self, InputImageError> {
        let bytes = bytes.into();
        if bytes.len() > limits.max_bytes {
            return Err(InputImageError::FileTooLarge { bytes: bytes.len(), max: limits.max_bytes });
        }
        let format = image::guess_format(&bytes).map_err(|_| InputImageError::NotAnImage)?;
        if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) {
            return Err(InputImageError::NotAnImage);
        }
        let (width, height) = ImageReader::with_format(Cursor::new(&bytes[..]), format)
            .into_dimensions()
            .map_err(|e| InputImageError::Broken(e.to_string()))?;
        if width == 0 || height == 0 {
            return Err(InputImageError::Empty);
        }
        if width > limits.max_side
            || height > limits.max_side
            || u64::from(width) * u64::from(height) > limits.max_pixels
        {
            return Err(InputImageError::TooManyPixels { width, height });
        }
        Ok(Self { bytes, format, width, height })
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// Dimensions as stored in the file (before EXIF orientation).
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The file extension that matches the bytes.
    pub fn extension(&self) -> &'static str {
        match self.format {
            ImageFormat::Png => "png",
            ImageFormat::WebP => "webp",
            _ => "jpg",
        }
    }

    /// Decodes the pixels with EXIF orientation applied. CPU-bound: call it from
    /// `spawn_blocking` or rayon, never on the async runtime.
    pub fn decode(&self) -> Result<DynamicImage, InputImageError> {
        let broken = |e: image::ImageError| InputImageError::Broken(e.to_string());
        let reader = ImageReader::with_format(Cursor::new(&self.bytes[..]), self.format);
        let mut decoder = reader.into_decoder().map_err(broken)?;
        let orientation = decoder.orientation().map_err(broken)?;
        let mut image = DynamicImage::from_decoder(decoder).map_err(broken)?;
        image.apply_orientation(orientation);
        Ok(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(w, h).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn accepts_a_png_and_reads_its_size() {
        let img = InputImage::parse(png(3, 2), &ImageLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.decode().unwrap().width(), 3);
    }

    #[test]
    fn refuses_a_pdf() {
        let err = InputImage::parse(&b"%PDF-1.7\n1 0 obj"[..], &ImageLimits::default()).unwrap_err();
        assert_eq!(err, InputImageError::NotAnImage);
    }

    #[test]
    fn refuses_a_gigantic_picture_from_its_header() {
        // A real JPEG whose frame header (SOF0) claims 30000x30000: refused from the
        // header alone, before any pixel is decoded.
        let mut bytes = Vec::new();
        image::RgbImage::new(1, 1).write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg).unwrap();
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG");
        bytes[sof + 5..sof + 7].copy_from_slice(&30000u16.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&30000u16.to_be_bytes());
        let err = InputImage::parse(bytes, &ImageLimits::default()).unwrap_err();
        assert!(matches!(err, InputImageError::TooManyPixels { width: 30000, .. }), "{err:?}");
    }

    #[test]
    fn a_truncated_image_fails_to_decode_cleanly() {
        let bytes = png(64, 64);
        let img = InputImage::parse(bytes[..bytes.len() / 2].to_vec(), &ImageLimits::default());
        match img {
            Ok(img) => assert!(matches!(img.decode(), Err(InputImageError::Broken(_)))),
            Err(e) => assert!(matches!(e, InputImageError::Broken(_))),
        }
    }
}
