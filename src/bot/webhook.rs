//! Webhook mode (`WEBHOOK_URL`): Telegram pushes updates instead of being polled, and
//! RunningHub calls back when a task ends. One HTTP server on `WEBHOOK_LISTEN` takes both.
//!
//! Telegram's route is teloxide's own: it registers the URL with the webhook secret as its
//! secret token (`setWebhook`; the same for every replica), refuses posts without that
//! token, and calls `deleteWebhook` when the listener stops, so updates that arrive while
//! the bot is down wait at Telegram for the next start (not with replicas: the others
//! still serve the URL). RunningHub's callback carries the
//! secret in its path (a post without it is refused) and the job's id; it is still only a
//! hint: it makes the engine poll that task soon (or, for a task whose create answer was
//! lost, tells the job's run its id), and polling stays the source of truth. A callback for a
//! task nobody waits for is answered 200 and changes nothing.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use teloxide::prelude::*;
use teloxide::update_listeners::UpdateListener;
use teloxide::update_listeners::webhooks::{Options, axum_no_setup};

use super::{BotError, TgBot};
use crate::config::WebhookConfig;
use crate::engine::Engine;
use crate::job::JobId;
use crate::runninghub_api::parse_webhook;
use crate::secret::Secret;
use crate::store::Store;

/// Binds `hook.listen`, registers the webhook with Telegram and serves both routes until
/// the returned listener is stopped (the dispatcher's shutdown). With `replicas` (a shared
/// store: replicas behind one URL) the webhook stays registered when this process stops,
/// since the other replicas still serve it, and RunningHub's callbacks are passed on to
/// them: the job may be another's.
pub async fn listen(
    bot: TgBot,
    hook: &WebhookConfig,
    engine: Arc<dyn Engine>,
    replicas: Option<Store>,
) -> Result<impl UpdateListener<Err = Infallible>, BotError> {
    let shared = replicas.is_some();
    // Bind first: never register with Telegram a webhook that nothing serves.
    let tcp = tokio::net::TcpListener::bind(hook.listen)
        .await
        .map_err(|source| BotError::WebhookListen { address: hook.listen, source })?;
    let options =
        Options::new(hook.listen, hook.telegram_url()).secret_token(hook.secret.expose().to_owned());
    let register = bot
        .set_webhook(hook.telegram_url())
        .secret_token(hook.secret.expose().to_owned())
        .drop_pending_updates(false);
    crate::bot::retry::send(register).await.map_err(BotError::Telegram)?;
    let (updates, stop, telegram) = axum_no_setup(options);
    let stopped = async move {
        stop.await;
        if !shared {
            // Updates sent while the bot is down wait at Telegram for the next start.
            if let Err(e) = crate::bot::retry::send(bot.delete_webhook()).await {
                tracing::warn!("could not remove the webhook: {e}");
            }
        }
    };
    let callbacks = Callbacks { engine, secret: hook.secret.clone(), replicas };
    let path = hook.runninghub_path();
    let runninghub = Router::new()
        .route(&format!("{path}/{{key}}"), post(runninghub_callback))
        .route(&format!("{path}/{{key}}/{{job}}"), post(runninghub_job_callback))
        .route(&path, post(|| async { StatusCode::UNAUTHORIZED }))
        .with_state(callbacks);
    let routes = telegram.merge(runninghub);
    tracing::info!(address = %hook.listen, url = %hook.public_url, "taking updates by webhook");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(tcp, routes).with_graceful_shutdown(stopped).await {
            tracing::error!(%error, "the webhook server stopped");
        }
    });
    Ok(updates)
}

/// What RunningHub's callback route needs.
#[derive(Clone)]
struct Callbacks {
    engine: Arc<dyn Engine>,
    secret: Secret,
    replicas: Option<Store>,
}

/// `POST …/runninghub/<secret>/<job>`: a task of `job` ended, says RunningHub. The job id
/// finds a task whose create answer was lost; an id that is not a number is refused.
async fn runninghub_job_callback(
    State(callbacks): State<Callbacks>,
    Path((key, job)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    match job.parse::<u64>() {
        Ok(job) => take_callback(callbacks, &key, Some(JobId(job)), &body),
        Err(_) => StatusCode::NOT_FOUND,
    }
}

/// `POST …/runninghub/<secret>`: a task ended, says RunningHub (the URL of versions that
/// did not name the job).
async fn runninghub_callback(
    State(callbacks): State<Callbacks>,
    Path(key): Path<String>,
    body: Bytes,
) -> StatusCode {
    take_callback(callbacks, &key, None, &body)
}

/// Answered at once (RunningHub retries slow answers); a wrong secret or an unreadable
/// body is refused and changes nothing.
fn take_callback(callbacks: Callbacks, key: &str, job: Option<JobId>, body: &[u8]) -> StatusCode {
    if !same_secret(key.as_bytes(), callbacks.secret.expose().as_bytes()) {
        tracing::warn!("a RunningHub callback with a wrong secret was refused");
        return StatusCode::UNAUTHORIZED;
    }
    let engine = callbacks.engine;
    match parse_webhook(body) {
        Ok(event) => {
            engine.hint_task_ended(&event.task_id, job);
            if let Some(store) = callbacks.replicas {
                tokio::spawn(async move {
                    if let Err(e) = store.announce_task_ended(&event.task_id, job).await {
                        tracing::debug!("passing a callback on to the other replicas: {e}");
                    }
                });
            }
            StatusCode::OK
        }
        Err(error) => {
            tracing::warn!(%error, "a RunningHub callback that cannot be read");
            StatusCode::BAD_REQUEST
        }
    }
}

/// Compares in time independent of where the two differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
