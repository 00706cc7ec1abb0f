//! What a job is: its identity, its inputs, its result, how it can fail, and its lifecycle.
//!
//! The leaf of the crate's module graph: engines, the queue, the store and the bot all
//! speak in these types, and this module imports none of them.
//! - [`state`]: the one state machine every transition goes through;
//! - [`journal`]: where applied transitions are persisted (the store implements it);
//! - [`ledger`]: the owner of every live job's current state, which applies events, has
//!   them journalled by one writer in order, and publishes them.

pub mod journal;
pub mod ledger;
pub mod state;

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;

use crate::input_image::{ImageLimits, InputImage, InputImageError};

pub use journal::{JobJournal, NoJournal, Transition};
pub use ledger::{ApplyError, Ledger, Recorded};
pub use state::{InvalidTransition, JobEvent, JobState, StateName};

/// Identifies one job; stable across restarts once the store assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who a job is for (a Telegram user id; 0 for the CLI): the queue gives owners turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(pub i64);

impl Owner {
    /// Jobs nobody in particular sent (the CLI, benchmarks).
    pub const ANYONE: Owner = Owner(0);
}

/// One place an engine runs jobs: RunningHub account N is lane N. Stable across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneId(pub u16);

impl fmt::Display for LaneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The id a provider gave the task it runs for a job (RunningHub's 19-digit `taskId`),
/// kept as a string whatever form it arrived in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteTaskId(pub String);

impl fmt::Display for RemoteTaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one of a job's images lives: in memory (CLI, tests) or on disk (the bot's store).
#[derive(Clone, Debug)]
pub enum ImageSource {
    Memory(InputImage),
    File(PathBuf),
}

impl ImageSource {
    /// Reads (if needed) and checks the image.
    pub async fn load(&self) -> Result<InputImage, FailReason> {
        match self {
            Self::Memory(image) => Ok(image.clone()),
            Self::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| FailReason::Internal(format!("reading {}: {e}", path.display())))?;
                InputImage::parse(bytes, &ImageLimits::default()).map_err(FailReason::from)
            }
        }
    }
}

/// The two images of a job.
#[derive(Clone, Debug)]
pub struct JobInput {
    pub product: ImageSource,
    pub background: ImageSource,
}

/// The finished picture, encoded (PNG, JPEG or WebP as the engine produced it).
#[derive(Clone, Debug)]
pub struct JobOutput {
    pub image: Bytes,
    /// File extension matching `image`'s encoding (`png`, `jpg`, `webp`).
    pub extension: &'static str,
}

/// Why a job failed, in terms the bot can turn into plain words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FailReason {
    /// The provider ran the workflow and it failed (RunningHub 805), with its reason.
    #[error("the generation failed on the provider: {0}")]
    Provider(String),
    /// The provider finished without producing an image.
    #[error("the provider returned no image")]
    NoOutput,
    /// The hard deadline passed; the task was cancelled on the provider.
    #[error("the generation took longer than {0} s")]
    Timeout(u64),
    /// An input image was refused (unreadable, too large, not a photo).
    #[error("input refused: {0}")]
    BadInput(String),
    /// The built-in engine could not cut the product out: its background is not plain.
    #[error("the product's background is not plain enough to cut out")]
    BackgroundNotPlain,
    /// Every account is out of rotation (refused keys, empty wallets) or misconfigured.
    #[error("no account can run the job: {0}")]
    NoCapacity(String),
    /// The provider could not be reached or kept answering with errors.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The result exists but can never reach its user (the bot was blocked, the chat is
    /// gone, or the delivery deadline passed).
    #[error("the result could not be delivered: {0}")]
    Undeliverable(String),
    /// A bug or an unexpected state on our side (including a panic in the job's task).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<InputImageError> for FailReason {
    /// An image refusal is the user's to fix: it is told in plain words.
    fn from(e: InputImageError) -> Self {
        Self::BadInput(e.to_string())
    }
}

impl FailReason {
    /// A short, stable name of the kind of failure, for the store and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Provider(_) => "provider",
            Self::NoOutput => "no_output",
            Self::Timeout(_) => "timeout",
            Self::BadInput(_) => "bad_input",
            Self::BackgroundNotPlain => "background_not_plain",
            Self::NoCapacity(_) => "no_capacity",
            Self::Unavailable(_) => "unavailable",
            Self::Undeliverable(_) => "undeliverable",
            Self::Internal(_) => "internal",
        }
    }

    /// Whether another attempt on the same images can succeed (a provider hiccup can pass;
    /// a busy background or an unusable image stays what it is).
    pub fn worth_retrying(&self) -> bool {
        !matches!(self, Self::BadInput(_) | Self::BackgroundNotPlain | Self::Undeliverable(_))
    }

    /// The detail text that goes with the kind (empty when the kind says it all).
    pub fn detail(&self) -> String {
        match self {
            Self::Provider(s)
            | Self::BadInput(s)
            | Self::NoCapacity(s)
            | Self::Unavailable(s)
            | Self::Undeliverable(s)
            | Self::Internal(s) => s.clone(),
            Self::Timeout(secs) => secs.to_string(),
            Self::NoOutput | Self::BackgroundNotPlain => String::new(),
        }
    }

    /// Rebuilds a reason from what [`kind`](Self::kind) and [`detail`](Self::detail) stored.
    pub fn from_stored(kind: &str, detail: &str) -> Self {
        let detail = detail.to_owned();
        match kind {
            "provider" => Self::Provider(detail),
            "no_output" => Self::NoOutput,
            "timeout" => Self::Timeout(detail.parse().unwrap_or(0)),
            "bad_input" => Self::BadInput(detail),
            "background_not_plain" => Self::BackgroundNotPlain,
            "no_capacity" => Self::NoCapacity(detail),
            "unavailable" => Self::Unavailable(detail),
            "undeliverable" => Self::Undeliverable(detail),
            _ => Self::Internal(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_reasons_survive_the_store() {
        for r in [
            FailReason::Provider("TypeError: x".into()),
            FailReason::NoOutput,
            FailReason::Timeout(600),
            FailReason::BadInput("b".into()),
            FailReason::BackgroundNotPlain,
            FailReason::NoCapacity("c".into()),
            FailReason::Unavailable("u".into()),
            FailReason::Undeliverable("blocked".into()),
            FailReason::Internal("i".into()),
        ] {
            assert_eq!(FailReason::from_stored(r.kind(), &r.detail()), r);
        }
    }
}
