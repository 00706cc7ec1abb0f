//! The preview of the preset scenes: one picture with a tile per scene, laid out two to a
//! row like the scene buttons under it, so a seller sees what each button gives.
//!
//! Made once per process on a blocking thread (decoding a dozen scenes is CPU work), then
//! kept; sent only when a user asks for it (the Previews button), so the usual request for
//! a background stays a short text.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

use crate::bot::keyboards::MAX_SCENE_BUTTONS;
use crate::scenes::SceneCatalog;

/// One tile's size: enough to tell marble from concrete on a phone.
const TILE: (u32, u32) = (360, 270);
/// The white between tiles.
const GAP: u32 = 8;

/// The sheet as a JPEG, tiles in the order of the scene buttons; a scene that cannot be
/// read is a grey tile (its button still works or explains).
pub fn render(catalog: &SceneCatalog) -> Vec<u8> {
    let names: Vec<String> = catalog.iter().take(MAX_SCENE_BUTTONS).map(|s| s.name.clone()).collect();
    let rows = names.len().div_ceil(2).max(1) as u32;
    let (w, h) = (2 * TILE.0 + 3 * GAP, rows * TILE.1 + (rows + 1) * GAP);
    let mut sheet = RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for (i, name) in names.iter().enumerate() {
        let tile = catalog
            .image(name)
            .ok()
            .and_then(|image| image.decode().ok())
            .map(|image| image.resize_to_fill(TILE.0, TILE.1, FilterType::Triangle).to_rgb8())
            .unwrap_or_else(|| RgbImage::from_pixel(TILE.0, TILE.1, image::Rgb([200, 200, 200])));
        let (col, row) = ((i % 2) as u32, (i / 2) as u32);
        let (x, y) = (GAP + col * (TILE.0 + GAP), GAP + row * (TILE.1 + GAP));
        image::imageops::replace(&mut sheet, &tile, i64::from(x), i64::from(y));
    }
    let mut jpeg = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85);
    if let Err(e) = DynamicImage::ImageRgb8(sheet).write_with_encoder(encoder) {
        tracing::error!("encoding the scene previews: {e}");
    }
    jpeg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tile_per_built_in_scene_two_to_a_row() {
        let jpeg = render(&SceneCatalog::built_in());
        let sheet = image::load_from_memory(&jpeg).expect("a JPEG");
        let rows = SceneCatalog::built_in().iter().count().div_ceil(2) as u32;
        assert_eq!(sheet.width(), 2 * TILE.0 + 3 * GAP);
        assert_eq!(sheet.height(), rows * TILE.1 + (rows + 1) * GAP);
        // The first tile is a scene, not the white around it.
        let inside = sheet.to_rgb8().get_pixel(GAP + TILE.0 / 2, GAP + TILE.1 / 2).0;
        assert_ne!(inside, [255, 255, 255]);
    }
}
