//! Backdrop: puts a product photo into the scene of a reference photo.
//!
//! The library is the whole product; `src/main.rs` only parses the command line.
//! - [`config`]: the environment, parsed once; [`app`]: settings -> engine -> ledger -> queue.
//! - [`job`]: what a job is, its one state machine and the ledger that owns live jobs'
//!   states; [`queue`]: first-come scheduling over lanes, and recovery at start-up.
//! - [`engine`]: what runs a job (RunningHub accounts, ComfyUI, the built-in engine);
//!   [`runninghub_api`] and [`comfyui_api`]: their HTTP clients.
//! - [`store`]: the durable job store (recovery, retention, statistics).
//! - [`output`]: seller formats (marketplace frames, pure white) and variants;
//!   [`scenes`]: the preset scenes; [`requests`]: a request's variants run to their
//!   files; [`batch`]: a folder of them.
//! - [`bot`]: the Telegram bot; [`check`]: `backdrop check`.
//! - [`input_image`]: checking user images at the door; [`secret`]: keys that never print;
//!   [`shutdown`]: stopping in a known order.

pub mod app;
pub mod batch;
pub mod bot;
pub mod check;
pub mod comfyui_api;
pub mod config;
pub mod engine;
pub mod input_image;
pub mod job;
pub mod monitoring;
pub mod output;
pub mod provider_http;
pub mod queue;
mod redact;
pub mod requests;
pub mod runninghub_api;
pub mod scenes;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;

/// The built-in engine allocates and frees megabyte planes for every image. The system
/// allocator hands them back to the kernel and faults them in again, zeroed; mimalloc
/// keeps and reuses them (measured: a fifth of the built-in cut's time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
