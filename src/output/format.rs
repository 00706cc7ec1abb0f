//! [`OutputFormat`]: the frame a seller's marketplace wants, parsed once.
//!
//! It exists so that "wildberries" means one thing everywhere (the CLI's `--format`, the
//! `OUTPUT_FORMAT` setting, later the bot's buttons): a frame size and a background rule,
//! decided here and nowhere else.

use std::fmt;
use std::str::FromStr;

/// The frame a result is delivered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum OutputFormat {
    /// The background's own frame (the engine's result as it is).
    #[default]
    Original,
    /// 1:1, 1600 x 1600.
    Square,
    /// Wildberries card: 3:4, 1200 x 1600 (at least 900 x 1200 required).
    Wildberries,
    /// Ozon card: 3:4, 1200 x 1600.
    Ozon,
    /// Amazon main image: 2000 x 2000, pure white (RGB 255) around the product, which
    /// fills 85-90 % of the frame.
    Amazon,
}

/// A format name that is not one of ours; its message lists the valid ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: use one of original, square, wildberries, ozon, amazon")]
pub struct UnknownFormat(pub String);

/// Share of the frame's side the product's longer side takes on white (Amazon asks for
/// at least 85 %; the contact shadow and edge must stay under 90 %).
pub const WHITE_FILL: f64 = 0.86;

impl OutputFormat {
    /// Every format, in the order they are documented.
    pub const ALL: [OutputFormat; 5] =
        [Self::Original, Self::Square, Self::Wildberries, Self::Ozon, Self::Amazon];

    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Square => "square",
            Self::Wildberries => "wildberries",
            Self::Ozon => "ozon",
            Self::Amazon => "amazon",
        }
    }

    /// Width and height of the delivered frame; `None` keeps the background's frame.
    pub fn frame(self) -> Option<(u32, u32)> {
        match self {
            Self::Original => None,
            Self::Square => Some((1600, 1600)),
            Self::Wildberries | Self::Ozon => Some((1200, 1600)),
            Self::Amazon => Some((2000, 2000)),
        }
    }

    /// Whether the product goes on pure white instead of into the scene.
    pub fn on_white(self) -> bool {
        self == Self::Amazon
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|f| f.name() == wanted).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_valid() {
        for f in OutputFormat::ALL {
            assert_eq!(f.name().parse::<OutputFormat>(), Ok(f));
        }
        assert_eq!(" Ozon ".parse::<OutputFormat>(), Ok(OutputFormat::Ozon));
        let e = "etsy".parse::<OutputFormat>().unwrap_err().to_string();
        assert!(e.contains("etsy") && e.contains("wildberries"), "{e}");
    }

    #[test]
    fn marketplace_frames() {
        let (w, h) = OutputFormat::Wildberries.frame().unwrap();
        assert!(w >= 900 && h >= 1200 && w * 4 == h * 3);
        assert_eq!(OutputFormat::Amazon.frame(), Some((2000, 2000)));
        assert_eq!(OutputFormat::Original.frame(), None);
    }
}
