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

/// Tunes the allocator for a long-running process. It must run before the first
/// allocation, which Rust's runtime makes before `main`: the binary calls it from
/// `.init_array`.
///
/// mimalloc commits its whole first arena's touched segments up front on Linux
/// (`arena_eager_commit` = 2): an idle bot then holds ~11 MB more than it uses (measured
/// 15.4 MB of anonymous memory against 4.1 MB with it off). Committing on demand costs
/// a page fault where memory is first used, which the engine's reuse of planes amortises.
pub extern "C" fn tune_allocator() {
    /// `mi_option_arena_eager_commit` in mimalloc.h's `mi_option_e` (the sys crate names
    /// the options' type and setter, not this one).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
}
