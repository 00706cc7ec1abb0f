//! The record of what the bot asked the fake, and the faults tests can script.
//!
//! Tests assert on the bot's behaviour through this log (what was sent, edited, answered,
//! and when), so every call is kept in arrival order with its parsed parameters.

use std::time::Instant;

use serde_json::Value;

/// One Bot API call made by the bot.
#[derive(Debug, Clone)]
pub struct Call {
    /// Canonical method name in teloxide's PascalCase (`"SendMessage"`, `"GetUpdates"`),
    /// whatever case the client used; unknown methods are kept as sent.
    pub method: String,
    /// The token from the URL (`/bot<token>/…`).
    pub token: String,
    /// `chat_id` when present and numeric.
    pub chat_id: Option<i64>,
    /// All non-file parameters as a JSON object (`reply_markup` parsed from its string).
    pub params: Value,
    /// Bytes of the uploaded (or re-sent by file_id) photo/document, if any.
    pub file: Option<Vec<u8>>,
    /// Arrival time.
    pub at: Instant,
    /// Whether the fake answered `"ok": true` (false for faults and API errors, and
    /// while the call — e.g. a long poll — is still in progress).
    pub ok: bool,
    /// `error_code` of a failed call.
    pub error_code: Option<u16>,
}

impl Call {
    /// Case-insensitive method comparison (`c.is("sendMessage")`).
    pub fn is(&self, method: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
    }

    /// A string parameter (`text`, `caption`, `callback_query_id`, …).
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }
}

/// A scripted failure for the next calls of one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TgFault {
    /// HTTP 429 `Too Many Requests: retry after N` with `parameters.retry_after`.
    TooManyRequests {
        /// Seconds the client must wait.
        retry_after: u32,
    },
    /// Any other error, answered with HTTP status `code` (use 5xx only on purpose:
    /// teloxide sleeps 10 s after a 5xx).
    Error {
        /// `error_code` and HTTP status.
        code: u16,
        /// `description`, e.g. `"Forbidden: bot was blocked by the user"`.
        description: String,
    },
    /// Never answers: the call is held until the client goes away (a killed bot) or ten
    /// minutes pass. Lets a test stop the bot in the middle of a call.
    Hang,
}
