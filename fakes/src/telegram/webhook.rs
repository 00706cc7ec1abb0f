//! Webhook mode: pushing updates to the URL given by setWebhook, as Telegram does.
//!
//! Exists so the bot's webhook mode can be tested like long polling. One pusher task per
//! fake delivers queued updates in order, one at a time, with the
//! `X-Telegram-Bot-Api-Secret-Token` header; an update leaves the queue only once the
//! receiver answered 2xx (otherwise it is retried every 100 ms), as on Telegram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;

/// One webhook POST the fake made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPush {
    /// The update delivered.
    pub update_id: i64,
    /// The receiver's HTTP status (`None` on a connection error or timeout).
    pub status: Option<u16>,
    /// When the POST completed.
    pub at: Instant,
}

/// Starts the pusher; it ends when the fake stops.
pub(crate) fn spawn_pusher(shared: Arc<Shared>) {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut stop = shared.stop.clone();
        loop {
            if *stop.borrow() {
                return;
            }
            let notified = shared.updates_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let state = shared.lock();
                if state.webhook_url.is_empty() {
                    None
                } else {
                    state.updates.front().map(|(id, u)| {
                        (*id, u.clone(), state.webhook_url.clone(), state.webhook_secret.clone())
                    })
                }
            };
            let Some((id, update, url, secret)) = next else {
                // Idle: wait for an update or a setWebhook (bounded, so the loop re-checks).
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                continue;
            };
            let mut req = http.post(&url).json(&update).timeout(Duration::from_secs(10));
            if let Some(secret) = secret {
                req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
            }
            let status = tokio::select! {
                r = req.send() => r.ok().map(|r| r.status().as_u16()),
                _ = stop.wait_for(|s| *s) => return,
            };
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            {
                let mut state = shared.lock();
                state.webhook_pushes.push(WebhookPush { update_id: id, status, at: Instant::now() });
                if delivered && state.updates.front().is_some_and(|(front, _)| *front == id) {
                    state.updates.pop_front();
                }
            }
            if !delivered {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    });
}
