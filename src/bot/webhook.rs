//! Webhook mode (`WEBHOOK_URL`): Telegram pushes updates instead of being polled, and
//! RunningHub calls back when a task ends. One HTTP server on `WEBHOOK_LISTEN` takes both.
//!
//! Telegram's route is teloxide's own: it registers the URL with a fresh secret token
//! (`setWebhook`), refuses posts without that token, and calls `deleteWebhook` when the
//! listener stops, so updates that arrive while the bot is down wait at Telegram for the
//! next start. RunningHub's callback is unsigned, so it is only a hint: it makes the engine
//! poll that task now, and polling stays the source of truth.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use teloxide::update_listeners::UpdateListener;
use teloxide::update_listeners::webhooks::{Options, axum_to_router};

use super::{BotError, TgBot};
use crate::config::WebhookConfig;
use crate::engine::Engine;
use crate::runninghub_api::parse_webhook;

/// Binds `hook.listen`, registers the webhook with Telegram and serves both routes until
/// the returned listener is stopped (the dispatcher's shutdown).
pub async fn listen(
    bot: TgBot,
    hook: &WebhookConfig,
    engine: Arc<dyn Engine>,
) -> Result<impl UpdateListener<Err = Infallible>, BotError> {
    // Bind first: never register with Telegram a webhook that nothing serves.
    let tcp = tokio::net::TcpListener::bind(hook.listen)
        .await
        .map_err(|source| BotError::WebhookListen { address: hook.listen, source })?;
    let options = Options::new(hook.listen, hook.telegram_url());
    let (updates, stopped, telegram) = axum_to_router(bot, options).await.map_err(BotError::Telegram)?;
    let runninghub =
        Router::new().route(hook.runninghub_url().path(), post(runninghub_callback)).with_state(engine);
    let routes = telegram.merge(runninghub);
    tracing::info!(address = %hook.listen, url = %hook.public_url, "taking updates by webhook");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(tcp, routes).with_graceful_shutdown(stopped).await {
            tracing::error!(%error, "the webhook server stopped");
        }
    });
    Ok(updates)
}

/// `POST …/runninghub`: a task ended, says RunningHub. Answered at once (RunningHub
/// retries slow answers); an unreadable body is refused and changes nothing.
async fn runninghub_callback(State(engine): State<Arc<dyn Engine>>, body: Bytes) -> StatusCode {
    match parse_webhook(&body) {
        Ok(event) => {
            engine.hint_task_ended(&event.task_id);
            StatusCode::OK
        }
        Err(error) => {
            tracing::warn!(%error, "a RunningHub callback that cannot be read");
            StatusCode::BAD_REQUEST
        }
    }
}
