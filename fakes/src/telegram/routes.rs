//! HTTP side of the fake Bot API: `POST|GET /bot<token>/<method>` and
//! `GET /file/bot<token>/<file_path>`.
//!
//! Every call is logged before anything else, then a scripted fault (if any) is applied,
//! then the method runs. `getUpdates` long-polls on a `Notify` so the bot neither spins
//! nor waits longer than needed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use super::Shared;
use super::calls::{Call, TgFault};
use super::methods::{self, ApiError, bad_request};
use super::params::{self, Params};

type Shr = AxState<Arc<Shared>>;

/// Longest hold of one getUpdates call, whatever `timeout` the client asks for.
const MAX_LONG_POLL: Duration = Duration::from_secs(30);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/file/{bot}/{*path}", get(download))
        .route("/{bot}/{method}", any(method))
        // sendDocument accepts up to 50 MB.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

fn ok(result: Value) -> Response {
    (StatusCode::OK, axum::Json(json!({ "ok": true, "result": result }))).into_response()
}

fn fail(e: &ApiError) -> Response {
    let mut body = json!({ "ok": false, "error_code": e.code, "description": e.description });
    if let Some(r) = e.retry_after {
        body["parameters"] = json!({ "retry_after": r });
    }
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

fn not_found() -> ApiError {
    ApiError { code: 404, description: "Not Found".into(), retry_after: None }
}

async fn method(AxState(shared): Shr, Path((bot, name)): Path<(String, String)>, req: Request) -> Response {
    let Some(token) = bot.strip_prefix("bot") else { return fail(&not_found()) };
    let at = Instant::now();
    let params = params::parse(req).await;
    let canonical = methods::canonical(&name);
    let method_name = canonical.map_or(name.clone(), str::to_owned);

    // Log the call (with the bytes it uploads) and take a scripted fault, in one lock.
    let (idx, fault) = {
        let mut state = shared.lock();
        if !state.tokens.iter().any(|t| t == token) {
            state.tokens.push(token.to_owned());
        }
        let field = match canonical {
            Some("SendPhoto") => Some("photo"),
            Some("SendDocument") => Some("document"),
            _ => None,
        };
        let file = match field {
            Some(f) => methods::input_file(&state, &params, f).ok().flatten(),
            // editMessageMedia names its file inside the `media` object.
            None if canonical == Some("EditMessageMedia") => params
                .object("media")
                .and_then(|m| m.get("media").and_then(Value::as_str).map(str::to_owned))
                .and_then(|src| src.strip_prefix("attach://").and_then(|n| params.files.get(n).cloned())),
            None => None,
        }
        .map(|part| part.bytes.to_vec());
        state.calls.push(Call {
            method: method_name.clone(),
            token: token.to_owned(),
            chat_id: params.i64("chat_id"),
            params: Value::Object(params.fields.clone()),
            file,
            at,
            ok: false,
            error_code: None,
        });
        let idx = state.calls.len() - 1;
        let fault = state.faults.get_mut(&name.to_ascii_lowercase()).and_then(|q| q.pop_front());
        if canonical.is_none() {
            state.unknown_methods.push(name.clone());
        }
        (idx, fault)
    };

    if fault == Some(TgFault::Hang) {
        // Dropped with the connection when the client dies; bounded otherwise.
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    }
    let result = if let Some(fault) = fault {
        Err(match fault {
            TgFault::Hang => ApiError { code: 504, description: "Gateway Timeout".into(), retry_after: None },
            TgFault::TooManyRequests { retry_after } => ApiError {
                code: 429,
                description: format!("Too Many Requests: retry after {retry_after}"),
                retry_after: Some(retry_after),
            },
            TgFault::Error { code, description } => ApiError { code, description, retry_after: None },
        })
    } else {
        match canonical {
            None => Err(ApiError {
                code: 404,
                description: "Not Found: method not found".into(),
                retry_after: None,
            }),
            Some("GetUpdates") => get_updates(&shared, &params).await,
            Some(m) => methods::handle(&mut shared.lock(), m, &params),
        }
    };

    {
        let mut state = shared.lock();
        if let Some(call) = state.calls.get_mut(idx) {
            call.ok = result.is_ok();
            call.error_code = result.as_ref().err().map(|e| e.code);
        }
    }
    match result {
        Ok(v) => ok(v),
        Err(e) => fail(&e),
    }
}

/// Long poll: confirms updates below `offset`, then returns pending ones at once or waits
/// for one up to `timeout` seconds (capped).
async fn get_updates(shared: &Shared, p: &Params) -> Result<Value, ApiError> {
    let offset = p.i64("offset").unwrap_or(0);
    let limit = p.i64("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(p.i64("timeout").unwrap_or(0).max(0) as u64).min(MAX_LONG_POLL);
    let deadline = tokio::time::Instant::now() + timeout;
    if p.fields.get("offset").is_some_and(|v| !v.is_null()) && p.i64("offset").is_none() {
        return Err(bad_request("invalid offset"));
    }
    if !shared.lock().webhook_url.is_empty() {
        return Err(ApiError {
            code: 409,
            description: "Conflict: can't use getUpdates method while webhook is active; \
                          use deleteWebhook to delete the webhook first"
                .into(),
            retry_after: None,
        });
    }
    loop {
        let notified = shared.updates_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = shared.lock();
            if offset > 0 {
                while state.updates.front().is_some_and(|(id, _)| *id < offset) {
                    state.updates.pop_front();
                }
            }
            let batch: Vec<Value> = state
                .updates
                .iter()
                .filter(|(id, _)| *id >= offset)
                .take(limit)
                .map(|(_, u)| u.clone())
                .collect();
            if !batch.is_empty() {
                return Ok(Value::Array(batch));
            }
        }
        let mut stop = shared.stop.clone();
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(json!([])),
            _ = stop.wait_for(|s| *s) => return Ok(json!([])),
        }
    }
}

async fn download(AxState(shared): Shr, Path((bot, path)): Path<(String, String)>) -> Response {
    if !bot.starts_with("bot") {
        return fail(&not_found());
    }
    // axum already percent-decoded the path; decode again only if an encoded slash
    // survived (a client that double-encodes).
    let path =
        if path.contains("%2F") || path.contains("%2f") { params::percent_decode(&path) } else { path };
    let state = shared.lock();
    let file = state.file_by_path.get(&path).and_then(|id| state.files.get(id));
    match file {
        Some(f) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], f.bytes.clone())
            .into_response(),
        None => fail(&not_found()),
    }
}
