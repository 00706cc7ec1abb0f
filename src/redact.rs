//! Error texts that are safe to log and show: no URL (which may hold a token or an id),
//! no excerpt of a response body (which may echo a key), but every cause.

/// A reqwest error as text, without its URL and with its causes.
pub(crate) fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A JSON error as text: its category and position only (serde_json's messages may quote
/// values from the document).
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column())
}
