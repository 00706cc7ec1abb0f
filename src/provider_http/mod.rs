//! What the RunningHub and ComfyUI clients share about calling a provider over HTTP: the
//! retry loop ([`retrying`], with [`RetryPolicy`]), one failed attempt ([`Failure`],
//! which knows whether its request ever left), bodies read within a size limit, the
//! rustls HTTP client and image MIME types.
//!
//! Which failures may be repeated stays with each client: repeating a call that creates a
//! task can cost money or a GPU's time, and only the client knows which calls do.

mod retry;

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tracing::warn;

pub use retry::{MAX_ATTEMPTS, RetryPolicy};

/// Timeouts and retries of a provider's client.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Bound of one JSON call (connect + answer).
    pub request_timeout: Duration,
    /// Bound of one upload or download, which move megabytes.
    pub transfer_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            transfer_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
        }
    }
}

/// The error type of a provider's client, as the shared plumbing builds it.
pub(crate) trait ProviderError: std::fmt::Display + Sized {
    /// The provider's name in log lines.
    const PROVIDER: &'static str;

    fn timeout() -> Self;
    fn transport(detail: String) -> Self;
    fn decode(detail: String) -> Self;
    fn http(status: u16) -> Self;
    fn too_large(limit: usize) -> Self;

    /// A transport error without the URL (it may hold ids or file names), with its causes.
    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Self::timeout();
        }
        Self::transport(crate::redact::transport_error(e))
    }

    /// A JSON error without any excerpt of the offending document.
    fn from_json(e: &serde_json::Error) -> Self {
        Self::decode(crate::redact::json_error(e))
    }
}

/// Implements [`ProviderError`] for an error enum with the variants both clients have:
/// `Timeout`, `Transport(String)`, `Decode(String)`, `Http { status }`, `TooLarge { limit }`.
macro_rules! provider_error {
    ($error:ty, $provider:literal) => {
        impl $crate::provider_http::ProviderError for $error {
            const PROVIDER: &'static str = $provider;

            fn timeout() -> Self {
                Self::Timeout
            }
            fn transport(detail: String) -> Self {
                Self::Transport(detail)
            }
            fn decode(detail: String) -> Self {
                Self::Decode(detail)
            }
            fn http(status: u16) -> Self {
                Self::Http { status }
            }
            fn too_large(limit: usize) -> Self {
                Self::TooLarge { limit }
            }
        }
    };
}
pub(crate) use provider_error;

/// One failed attempt, with what is needed to decide whether to try again.
pub(crate) struct Failure<E> {
    pub error: E,
    /// The request never left: the connection could not be made.
    pub before_sending: bool,
}

impl<E: ProviderError> From<E> for Failure<E> {
    fn from(error: E) -> Self {
        Self { error, before_sending: false }
    }
}

impl<E: ProviderError> Failure<E> {
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        Self { before_sending: e.is_connect(), error: E::from_reqwest(e) }
    }
}

/// Runs `attempt` until it succeeds, fails in a way `retryable` refuses, or the policy's
/// attempts are used; waits the policy's jittered delay in between.
pub(crate) async fn retrying<T, E, F, Fut>(
    policy: RetryPolicy,
    retryable: impl Fn(&Failure<E>) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: ProviderError,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let mut number = 1;
    loop {
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if number >= policy.attempts() || !retryable(&failure) {
            return Err(failure.error);
        }
        let delay = policy.delay(number);
        warn!(provider = E::PROVIDER, attempt = number, error = %failure.error, ?delay, "call failed; retrying");
        tokio::time::sleep(delay).await;
        number += 1;
    }
}

/// The response if its status is 2xx, else the status as an error.
pub(crate) fn success<E: ProviderError>(
    response: reqwest::Response,
) -> Result<reqwest::Response, Failure<E>> {
    let status = response.status();
    if status.is_success() { Ok(response) } else { Err(E::http(status.as_u16()).into()) }
}

/// Reads a body chunk by chunk, refusing it as soon as it passes `max_bytes` (a lying
/// `Content-Length` or a runaway stream cannot make us buffer more).
pub(crate) async fn read_limited<E: ProviderError>(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Bytes, Failure<E>> {
    if response.content_length().is_some_and(|len| len > max_bytes as u64) {
        return Err(E::too_large(max_bytes).into());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(Failure::from_reqwest)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(E::too_large(max_bytes).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The HTTP client of a provider: rustls, and a connect timeout no longer than a call's.
pub(crate) fn http_client(request_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .build()
}

/// The MIME type of an image upload, from its file name (JPEG unless PNG or WebP).
pub(crate) fn mime_of(file_name: &str) -> &'static str {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        _ => "image/jpeg",
    }
}
