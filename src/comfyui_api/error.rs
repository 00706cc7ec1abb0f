//! Everything that can go wrong talking to a ComfyUI server or reading its workflow.
//!
//! ComfyUI answers plain HTTP: success is 200 with JSON, an invalid workflow is 400 with
//! `{"error": ..., "node_errors": ...}`, anything else is a status code. [`ComfyError`]
//! keeps those apart so the engine can tell "the workflow is wrong" (fail the job with the
//! reason) from "the server is down" (unavailable) without parsing messages.

use crate::provider_http::provider_error;

/// An error from one ComfyUI call (after the client's retries), or from the workflow file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ComfyError {
    /// The server refused the workflow (HTTP 400 on `/prompt`): bad node ids, values not
    /// in a list, missing nodes. Carries a short description of every reported error.
    #[error("ComfyUI rejected the workflow: {0}")]
    Rejected(String),
    /// A non-2xx HTTP status other than a workflow rejection.
    #[error("ComfyUI answered HTTP {status}")]
    Http { status: u16 },
    /// Could not connect, or the connection broke.
    #[error("could not talk to ComfyUI: {0}")]
    Transport(String),
    /// No answer within the request timeout.
    #[error("ComfyUI did not answer in time")]
    Timeout,
    /// An answer that is not what the API returns (malformed JSON, missing field).
    #[error("unexpected answer from ComfyUI: {0}")]
    Decode(String),
    /// A download was larger than allowed.
    #[error("the file is larger than the {limit} bytes allowed")]
    TooLarge { limit: usize },
    /// The workflow file is unreadable or not a usable API-format workflow.
    #[error("unusable ComfyUI workflow: {0}")]
    Workflow(String),
    /// The client or engine could not be set up (bad URL, zero capacity).
    #[error("invalid ComfyUI configuration: {0}")]
    Config(String),
}

impl ComfyError {
    /// Whether repeating the same call may succeed (network trouble, 5xx, garbled answer).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout | Self::Decode(_) => true,
            Self::Http { status } => *status >= 500 || *status == 429,
            Self::Rejected(_) | Self::TooLarge { .. } | Self::Workflow(_) | Self::Config(_) => false,
        }
    }
}

provider_error!(ComfyError, "ComfyUI");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_worth_repeating() {
        assert!(ComfyError::Timeout.is_transient());
        assert!(ComfyError::Transport("refused".into()).is_transient());
        assert!(ComfyError::Http { status: 502 }.is_transient());
        assert!(ComfyError::Http { status: 429 }.is_transient());
        assert!(!ComfyError::Http { status: 404 }.is_transient());
        assert!(!ComfyError::Rejected("node 2".into()).is_transient());
        assert!(!ComfyError::Workflow("not JSON".into()).is_transient());
    }
}
