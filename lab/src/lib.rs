//! Backdrop's lab: what measures the built-in engine, kept out of the product.
//!
//! The `backdrop` library holds only what the bot and the CLI run. How good the cut is
//! gets measured here, on inputs whose right answer is known:
//! - [`testset`] renders product shots with their exact mattes (same seed, same set);
//! - [`evaluate`] scores a predicted matte against the exact one (IoU, boundary F, SAD);
//! - [`scenes`] renders the preset scenes the product embeds (`scenes/`).
//!
//! The `backdrop-lab` binary (`cargo run -p backdrop-lab -- --help`) writes sets and
//! scores the built-in cut-out (or another tool's mattes) on them; `backdrop`'s tests
//! and benches use the same shots and scores as a dev-dependency.

pub mod evaluate;
pub mod scenes;
pub mod testset;
