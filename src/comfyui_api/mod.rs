//! ComfyUI, the self-hosted node-graph server that runs the same kind of product workflow
//! as RunningHub, on the operator's own GPU.
//!
//! - [`wire`]: the JSON of `server.py`'s endpoints, read leniently.
//! - [`error`]: typed errors; which are worth repeating.
//! - [`progress`]: where a prompt is and how it ended, from `/history` and `/queue`.
//! - [`workflow`]: checking the API-format workflow and filling in the LoadImage nodes.
//! - [`client`]: one method per endpoint (retries reuse `runninghub::RetryPolicy`).
//!
//! The engine that drives a job through these calls lives in `engine::comfyui`.

pub mod client;
pub mod error;
pub mod progress;
pub mod wire;
pub mod workflow;

/// Timeouts and retries, the same as the RunningHub client's.
pub use crate::provider_http::{ClientOptions, RetryPolicy};
pub use client::{CancelOutcome, ComfyUiClient};
pub use error::ComfyError;
pub use progress::{PromptOutcome, PromptState};
pub use wire::{ImageRef, QueueSnapshot, UploadedImage};
