//! RunningHub, the cloud service that runs the product workflow (a ComfyUI graph).
//!
//! - [`wire`]: the JSON as it really arrives (lenient about strings vs numbers).
//! - [`error`]: typed errors and the table of what to do about each code.
//! - [`progress`]: reading a task's state from an outputs answer.
//! - [`webhook`]: the completion callback, a hint only.
//! - [`mode`]: which API the client speaks (workflow, AI app, v2) and what a task runs.
//! - [`client`]: one method per endpoint.
//!
//! The engine that drives a job through these calls lives in `engine::runninghub`.

pub mod client;
pub mod error;
pub mod mode;
pub mod progress;
pub mod webhook;
pub mod wire;

pub use crate::provider_http::ClientOptions;
pub use crate::provider_http::RetryPolicy;
pub use client::{AccountStatus, NodeInput, RunningHubClient};
pub use error::{ErrorAction, RhError};
pub use mode::{ApiMode, Target};
pub use progress::{TaskOutput, TaskProgress};
pub use webhook::{WebhookEvent, parse_webhook};
