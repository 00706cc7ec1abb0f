//! Honours `429 retry_after` on every call to Telegram: the `Pacer` keeps the limits, and
//! when Telegram still asks us to slow down, the call waits and is sent again.

use std::time::Duration;

use teloxide::RequestError;
use teloxide::requests::{Output, Payload, Request};

use crate::telemetry;

/// How many times one call is tried when Telegram keeps asking us to slow down.
const ATTEMPTS: usize = 4;
/// Never sleep longer than this for one call: a status edit is not worth a minute.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Sends `request`, waiting out `retry_after` and trying again a few times.
pub async fn send<R>(request: R) -> Result<Output<R>, RequestError>
where
    R: Request<Err = RequestError>,
{
    let mut attempt = 1;
    loop {
        match request.send_ref().await {
            Err(RequestError::RetryAfter(wait)) if attempt < ATTEMPTS => {
                metrics::counter!(telemetry::TELEGRAM_ERRORS, "method" => <R::Payload as Payload>::NAME)
                    .increment(1);
                let wait = wait.duration().min(LONGEST_WAIT);
                tracing::warn!(?wait, "Telegram asked to slow down");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => {
                metrics::counter!(telemetry::TELEGRAM_ERRORS, "method" => <R::Payload as Payload>::NAME)
                    .increment(1);
                return Err(e);
            }
            ok => return ok,
        }
    }
}
