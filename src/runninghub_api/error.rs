//! Everything that can go wrong talking to RunningHub, and what to do about each.
//!
//! RunningHub reports most business errors as HTTP 200 with a non-zero `code`, and some
//! servers put the truth in `msg` while `code` says 0. [`RhError::action`] turns any error
//! into one [`ErrorAction`] so the retry loop and the engine decide from one table (the
//! table of `shared/runninghub-api.md`) instead of scattering code numbers.
//!
//! No variant ever carries a request body, a URL with parameters or the API key.

use std::time::Duration;

use crate::provider_http::provider_error;

/// An error from one RunningHub call, after the client's own retries.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RhError {
    /// A business error: HTTP 200 with a non-zero `code` (or a `msg` that means one).
    #[error("RunningHub answered code {code}: {msg}")]
    Api { code: i64, msg: String },
    /// A non-2xx HTTP status.
    #[error("RunningHub answered HTTP {status}")]
    Http { status: u16 },
    /// Could not connect, or the connection broke.
    #[error("could not talk to RunningHub: {0}")]
    Transport(String),
    /// No answer within the request timeout.
    #[error("RunningHub did not answer in time")]
    Timeout,
    /// An answer that is not what the API documents (malformed JSON, missing field).
    #[error("unexpected answer from RunningHub: {0}")]
    Decode(String),
    /// The workflow refused the inputs (`node_errors` in `promptTips`).
    #[error("the workflow rejected the inputs: {0}")]
    Rejected(String),
    /// A download was larger than allowed.
    #[error("the file is larger than the {limit} bytes allowed")]
    TooLarge { limit: usize },
    /// The client could not be built (bad base URL, TLS setup).
    #[error("invalid RunningHub client configuration: {0}")]
    Config(String),
    /// A create request left and its answer was lost (a timeout, a 502 or 504 after the
    /// body was sent, a broken answer): the task may exist and be paid for.
    #[error("RunningHub did not confirm the task ({0}); it may exist")]
    Unconfirmed(Box<RhError>),
}

/// What to do about an error; one row of the table in `runninghub-api.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// Transient (network, 5xx, code 500, 808): the same call may succeed if repeated.
    Retry,
    /// The account cannot take a task right now (421, 415, 1003, 1011, HTTP 429); no task
    /// was created. Try again after `retry_after`, preferably on another account.
    AccountBusy { retry_after: Duration },
    /// The account cannot run anything (bad key, empty wallet, missing or unsaved
    /// workflow, wrong node ids): take it out of rotation and alert the operator.
    AccountRefused,
    /// The task is queued or running (813, 804): poll again later.
    KeepPolling,
    /// The task ran and failed (805).
    TaskFailed,
    /// The provider does not know the task (807, 423).
    TaskNotFound,
    /// The uploaded file is too large (809): shrink it and upload again.
    FileTooLarge,
    /// Anything else (301, 433, unknown codes, 4xx): retrying will not help.
    Fatal,
}

/// The code that a known `msg` stands for. Checked before `code` because some servers
/// send `code: 0` with an error message.
pub fn code_from_msg(msg: &str) -> Option<i64> {
    let m = msg.trim().to_ascii_uppercase();
    let known: &[(&str, i64)] = &[
        ("TASK_IS_RUNNING", 804),
        ("TASK_IS_QUEUED", 813),
        ("TASK_STATUS_ERROR", 805),
        ("TASK_NOT_FOUND", 807),
        ("TASK_QUEUE_MAXED", 421),
        ("FILE_SIZE_EXCEEDED", 809),
        ("INSTANCE_MAXED", 415),
        ("WALLET", 416),
        ("INVALID_NODE_INFO", 803),
        ("UNAUTHORIZED", 802),
        ("USER_NOT_FOUND", 806),
        ("WORKFLOW_NOT_SAVED", 810),
        ("WORKFLOW_NOT_EXIST", 380),
        // An AI app id that does not exist (or is not published) for this key.
        ("WEBAPP_NOT_EXIST", 380),
        ("UPLOAD_FAILED", 808),
    ];
    known.iter().find(|(needle, _)| m.contains(needle)).map(|&(_, code)| code)
}

/// The action for a business answer, `msg` first, then `code`.
pub fn classify(code: i64, msg: &str) -> ErrorAction {
    let code = code_from_msg(msg).unwrap_or(code);
    match code {
        500 | 808 => ErrorAction::Retry,
        421 => ErrorAction::AccountBusy { retry_after: Duration::from_secs(2) },
        415 => ErrorAction::AccountBusy { retry_after: Duration::from_secs(30) },
        1003 | 1011 => ErrorAction::AccountBusy { retry_after: Duration::from_secs(5) },
        380 | 416 | 801 | 802 | 803 | 806 | 810 => ErrorAction::AccountRefused,
        804 | 813 => ErrorAction::KeepPolling,
        805 => ErrorAction::TaskFailed,
        807 | 423 => ErrorAction::TaskNotFound,
        809 => ErrorAction::FileTooLarge,
        _ => ErrorAction::Fatal,
    }
}

impl RhError {
    /// What the caller should do about this error.
    pub fn action(&self) -> ErrorAction {
        match self {
            Self::Api { code, msg } => classify(*code, msg),
            Self::Http { status: 429 } => ErrorAction::AccountBusy { retry_after: Duration::from_secs(5) },
            // A Bearer key the v2 API refuses at the door: as 802 would.
            Self::Http { status: 401 | 403 } => ErrorAction::AccountRefused,
            Self::Http { status } if *status >= 500 => ErrorAction::Retry,
            Self::Http { .. } => ErrorAction::Fatal,
            Self::Transport(_) | Self::Timeout | Self::Decode(_) => ErrorAction::Retry,
            // Never repeated blindly: the engine decides (see `RunningHubEngine::create`).
            Self::Rejected(_) | Self::TooLarge { .. } | Self::Config(_) | Self::Unconfirmed(_) => {
                ErrorAction::Fatal
            }
        }
    }

    /// `code msg` for an operator alert; the Display form for anything else.
    pub fn short(&self) -> String {
        match self {
            Self::Api { code, msg } => format!("{code} {msg}"),
            other => other.to_string(),
        }
    }
}

// Transport errors never hold the key: it travels in the body, which reqwest never echoes.
provider_error!(RhError, "RunningHub");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider_http::ProviderError;

    #[test]
    fn the_table_of_the_api_notes() {
        use ErrorAction::*;
        for code in [500, 808] {
            assert_eq!(classify(code, ""), Retry, "{code}");
        }
        for code in [421, 415, 1003, 1011] {
            assert!(matches!(classify(code, ""), AccountBusy { .. }), "{code}");
        }
        for code in [380, 416, 801, 802, 806, 810, 803] {
            assert_eq!(classify(code, ""), AccountRefused, "{code}");
        }
        for code in [804, 813] {
            assert_eq!(classify(code, ""), KeepPolling, "{code}");
        }
        assert_eq!(classify(805, "APIKEY_TASK_STATUS_ERROR"), TaskFailed);
        assert_eq!(classify(807, ""), TaskNotFound);
        assert_eq!(classify(423, ""), TaskNotFound);
        assert_eq!(classify(809, ""), FileTooLarge);
        for code in [301, 433, 12345, -1] {
            assert_eq!(classify(code, "whatever"), Fatal, "{code}");
        }
    }

    #[test]
    fn backoff_delays_per_code() {
        let after = |code| match classify(code, "") {
            ErrorAction::AccountBusy { retry_after } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(after(421), Duration::from_secs(2));
        assert_eq!(after(415), Duration::from_secs(30));
        assert_eq!(after(1003), Duration::from_secs(5));
        assert_eq!(after(1011), Duration::from_secs(5));
    }

    #[test]
    fn msg_wins_over_code() {
        assert_eq!(classify(0, "APIKEY_TASK_IS_RUNNING"), ErrorAction::KeepPolling);
        assert_eq!(classify(0, "APIKEY_TASK_IS_QUEUED"), ErrorAction::KeepPolling);
        // Older notes call 805 "queued"; the message says what it is.
        assert_eq!(classify(813, "APIKEY_TASK_STATUS_ERROR"), ErrorAction::TaskFailed);
        assert!(matches!(classify(0, "TASK_QUEUE_MAXED"), ErrorAction::AccountBusy { .. }));
        assert_eq!(classify(0, "APIKEY_TASK_NOT_FOUND"), ErrorAction::TaskNotFound);
    }

    #[test]
    fn transport_level_errors() {
        assert_eq!(RhError::Http { status: 502 }.action(), ErrorAction::Retry);
        assert_eq!(RhError::Http { status: 404 }.action(), ErrorAction::Fatal);
        assert_eq!(RhError::Http { status: 401 }.action(), ErrorAction::AccountRefused);
        assert_eq!(classify(404, "WEBAPP_NOT_EXISTS"), ErrorAction::AccountRefused);
        assert!(matches!(RhError::Http { status: 429 }.action(), ErrorAction::AccountBusy { .. }));
        assert_eq!(RhError::Timeout.action(), ErrorAction::Retry);
        assert_eq!(RhError::Transport("reset".into()).action(), ErrorAction::Retry);
        assert_eq!(RhError::Decode("eof".into()).action(), ErrorAction::Retry);
        assert_eq!(RhError::Rejected("node 2".into()).action(), ErrorAction::Fatal);
    }

    #[test]
    fn json_errors_do_not_quote_the_body() {
        let err = serde_json::from_str::<u64>("\"secret-key-123\"").unwrap_err();
        let e = RhError::from_json(&err);
        assert!(!format!("{e} {e:?}").contains("secret-key-123"));
    }
}

#[cfg(test)]
mod secrecy_tests {
    use super::*;

    #[test]
    fn no_error_prints_a_key() {
        // Every variant is built from server text or fixed words; none from our request.
        let errors = [
            RhError::Api { code: 802, msg: "APIKEY_UNAUTHORIZED".into() },
            RhError::Http { status: 500 },
            RhError::Transport("error sending request".into()),
            RhError::Timeout,
            RhError::Decode("Syntax error at line 1 column 2".into()),
            RhError::Rejected("node 2 (LoadImage): Value not in list".into()),
            RhError::TooLarge { limit: 10 },
            RhError::Config("base URL must be http or https".into()),
        ];
        for e in errors {
            let text = format!("{e} {e:?} {}", e.short());
            assert!(!text.contains("sk-secret"), "{text}");
        }
    }
}
