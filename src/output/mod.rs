//! Seller outputs: what a finished picture must look like for the marketplace it goes to.
//!
//! Sellers do not post a scene's frame as it happens to be: Wildberries and Ozon want 3:4
//! cards, Amazon's main image a product on pure white. This module owns those rules and
//! the pixel work they need, independent of which engine made the picture:
//! - [`format`]: [`OutputFormat`], parsed once (CLI value, config value);
//! - [`look`]: one job's format and variant ([`Look`]), and how many variants a request
//!   asks for ([`VariantCount`]);
//! - [`looks`]: the looks of jobs in flight, by job id ([`Looks`]), read by the engines;
//! - [`reframe`]: a scene or a result brought to a frame's aspect and size;
//! - [`white`]: a cut-out product placed on pure white (Amazon's main image);
//! - [`jpeg`]: the seller-ready encoding (sRGB JPEG, quality 92, no metadata).
//!
//! Applying a format to an engine's result (which needs the built-in cut-out) is
//! `engine::formatting`; the built-in engine applies formats in its own pipeline.

pub mod format;
pub mod jpeg;
pub mod look;
pub mod looks;
pub mod reframe;
pub mod white;

pub use format::{OutputFormat, UnknownFormat};
pub use look::{BadVariantCount, Look, Variant, VariantCount};
pub use looks::Looks;
