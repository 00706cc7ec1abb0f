//! HTTP handlers of the fake RunningHub.
//!
//! Each handler counts the call, applies a scripted fault if one is queued, then answers
//! like the real service: business errors as HTTP 200 with a non-zero `code`, never a
//! panic or a 5xx on a bad request. Bodies are parsed by hand (not with axum's `Json`
//! extractor) so malformed input gets a RunningHub-style answer rather than axum's 4xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::Shared;
use super::faults::{Endpoint, Fault};
use super::state::{Account, NodeInput, Phase, Task, TaskEnd, Upload};
use super::{webhook, wire};

type Shr = AxState<Arc<Shared>>;

/// The router with every RunningHub path of runninghub-api.md plus result downloads.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/task/openapi/upload", post(upload))
        .route("/task/openapi/create", post(create))
        .route("/task/openapi/outputs", post(outputs))
        .route("/task/openapi/status", post(status))
        .route("/task/openapi/cancel", post(cancel))
        .route("/uc/openapi/accountStatus", post(account_status))
        .route("/files/{name}", get(download))
        // Uploads may be up to 30 MB (the size check answers 809 itself).
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

fn json_response(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The answer a faulty call gets.
async fn fault_response(shared: &Shared, fault: Fault) -> Response {
    match fault {
        Fault::Http500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({
                "timestamp": "2026-01-01T00:00:00.000+00:00",
                "status": 500,
                "error": "Internal Server Error",
                "path": "/task/openapi"
            })),
        )
            .into_response(),
        Fault::Hang => {
            crate::server::hold(&shared.stop, Duration::from_secs(600)).await;
            (StatusCode::SERVICE_UNAVAILABLE, "fake stopped").into_response()
        }
        Fault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"code":0,"msg":"success","data":{"taskId":"19"#,
        )
            .into_response(),
        Fault::Code(code, msg) => json_response(wire::error(code, &msg)),
        Fault::Http504 => (StatusCode::GATEWAY_TIMEOUT, "<html>504 Gateway Time-out</html>").into_response(),
        // Handled in `enter` and by the handlers: the call goes on.
        Fault::Slow(_) | Fault::AnswerLost(_) => StatusCode::OK.into_response(),
    }
}

/// Counts the call; returns the fault's answer if one was queued for it.
async fn enter(shared: &Shared, endpoint: Endpoint) -> Option<Response> {
    match enter_or_lose(shared, endpoint).await {
        Err(answer) => Some(answer),
        // Only create does its work before losing the answer; elsewhere it is a plain fault.
        Ok(Some(lost)) => Some(fault_response(shared, lost).await),
        Ok(None) => None,
    }
}

/// [`enter`] for a handler that can lose its answer: `Ok(Some(fault))` means "do the
/// work, then answer with `fault`".
async fn enter_or_lose(shared: &Shared, endpoint: Endpoint) -> Result<Option<Fault>, Response> {
    let fault = shared.lock().enter(endpoint);
    match fault {
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(Fault::AnswerLost(lost)) => Ok(Some(*lost)),
        Some(f) => Err(fault_response(shared, f).await),
        None => Ok(None),
    }
}

fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// A string field that may also have been sent as a number (task ids).
fn str_field(obj: &Map<String, Value>, name: &str) -> Option<String> {
    match obj.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn params_invalid() -> Response {
    json_response(wire::error(301, "PARAMS_INVALID"))
}

async fn upload(AxState(shared): Shr, req: Request) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Upload).await {
        return r;
    }
    let Ok(mut form) = Multipart::from_request(req, &()).await else {
        return params_invalid();
    };
    let (mut api_key, mut file, mut file_name) = (None, None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let original = field.file_name().map(str::to_owned);
                let Ok(data) = field.bytes().await else {
                    return json_response(wire::error(808, "APIKEY_UPLOAD_FAILED"));
                };
                match name.as_str() {
                    "apiKey" => api_key = Some(String::from_utf8_lossy(&data).into_owned()),
                    "file" => {
                        file = Some(data);
                        file_name = original;
                    }
                    _ => {} // fileType and anything else: accepted, not checked.
                }
            }
            Ok(None) => break,
            Err(_) => return json_response(wire::error(808, "APIKEY_UPLOAD_FAILED")),
        }
    }

    let mut state = shared.lock();
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return json_response(wire::error(code, &msg));
    }
    let api_key = api_key.unwrap_or_default();
    let Some(file) = file else { return params_invalid() };
    if file.len() > state.max_upload_bytes {
        return json_response(wire::error(809, "APIKEY_FILE_SIZE_EXCEEDED"));
    }
    let ext = file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "png".to_owned());
    let seq = state.next_seq();
    let mut hasher = crate::rng::SplitMix64::new(seq ^ 0xA11CE);
    let name = format!(
        "api/{:016x}{:016x}{:013x}.{ext}",
        hasher.next_u64(),
        hasher.next_u64(),
        hasher.next_u64() >> 12
    );
    state.uploads.insert(name.clone(), Upload { api_key: api_key.clone(), bytes: file });
    if let Some(acc) = state.accounts.get_mut(&api_key) {
        acc.uploads += 1;
    }
    let file_type = if state.quirks.flip() { "input" } else { "image" };
    json_response(wire::success(json!({ "fileName": name, "fileType": file_type })))
}

fn node_inputs(obj: &Map<String, Value>) -> Option<Vec<NodeInput>> {
    let Some(list) = obj.get("nodeInfoList") else { return Some(Vec::new()) };
    let list = match list {
        Value::Null => return Some(Vec::new()),
        Value::Array(a) => a,
        _ => return None,
    };
    list.iter()
        .map(|item| {
            let item = item.as_object()?;
            let value = match item.get("fieldValue")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(NodeInput {
                node_id: str_field(item, "nodeId")?,
                field_name: str_field(item, "fieldName")?,
                field_value: value,
            })
        })
        .collect()
}

async fn create(AxState(shared): Shr, body: Bytes) -> Response {
    let lost = match enter_or_lose(&shared, Endpoint::Create).await {
        Ok(lost) => lost,
        Err(answer) => return answer,
    };
    let answer = create_task(&shared, &body);
    match lost {
        Some(fault) => fault_response(&shared, fault).await,
        None => answer,
    }
}

fn create_task(shared: &Arc<Shared>, body: &[u8]) -> Response {
    let Some(obj) = parse_object(body) else { return params_invalid() };
    let api_key = str_field(&obj, "apiKey");

    let mut guard = shared.lock();
    let state = &mut *guard;
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return json_response(wire::error(code, &msg));
    }
    let api_key = api_key.unwrap_or_default();
    let workflow_id = str_field(&obj, "workflowId").unwrap_or_default();
    if workflow_id.trim().is_empty() {
        return params_invalid();
    }
    let account: &Account = &state.accounts[&api_key];
    if account.workflows.as_ref().is_some_and(|w| !w.contains(&workflow_id)) {
        return json_response(wire::error(380, "WORKFLOW_NOT_EXISTS"));
    }
    let Some(inputs) = node_inputs(&obj) else {
        return json_response(wire::error(803, "APIKEY_INVALID_NODE_INFO"));
    };
    // Image fields must name a file this account uploaded.
    for input in &inputs {
        let is_image = input.field_name == "image" || input.field_value.starts_with("api/");
        let known = state.uploads.get(&input.field_value).is_some_and(|u| u.api_key == api_key);
        if is_image && !known {
            return json_response(wire::error(
                803,
                &format!("APIKEY_INVALID_NODE_INFO: node {} image not found", input.node_id),
            ));
        }
    }
    let webhook_url = str_field(&obj, "webhookUrl").filter(|u| !u.trim().is_empty());

    let now = Instant::now();
    let running = state.running(&api_key, now);
    let account = state.accounts.get_mut(&api_key).expect("checked above");
    if running >= account.max_concurrent {
        account.over_limit_attempts += 1;
        return json_response(wire::error(421, "TASK_QUEUE_MAXED"));
    }
    account.max_running_seen = account.max_running_seen.max(running + 1);

    let id = state.new_task_id();
    let script = state.take_script();
    let task = Task {
        id: id.clone(),
        api_key,
        workflow_id,
        node_inputs: inputs,
        webhook_url: webhook_url.clone(),
        created_at: now,
        script,
        cancelled_at: None,
    };
    let natural_end = task.natural_end();
    state.task_index.insert(id.clone(), state.tasks.len());
    state.tasks.push(task);

    let mut h = crate::rng::SplitMix64::new(state.next_seq());
    let client_id = format!("{:016x}{:016x}", h.next_u64(), h.next_u64());
    let task_id = wire::task_id(&mut state.quirks, &id);
    drop(guard);

    if let (Some(url), Some(end)) = (webhook_url, natural_end) {
        webhook::schedule(shared.clone(), id.clone(), url, end);
    }
    json_response(wire::success(json!({
        "netWssUrl": null,
        "taskId": task_id,
        "clientId": client_id,
        "taskStatus": "QUEUED",
        "promptTips": "{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"9\"], \"node_errors\": {}}",
    })))
}

/// Shared front of outputs/status/cancel: parse, authenticate, find the task.
/// `Ok(task id)` or the error body to answer.
fn task_call(shared: &Shared, body: &[u8]) -> Result<String, Value> {
    let params_invalid = || wire::error(301, "PARAMS_INVALID");
    let Some(obj) = parse_object(body) else { return Err(params_invalid()) };
    let api_key = str_field(&obj, "apiKey");
    let state = shared.lock();
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return Err(wire::error(code, &msg));
    }
    let Some(id) = str_field(&obj, "taskId") else { return Err(params_invalid()) };
    match state.task(&id) {
        // Another account's task is "not found" for this key.
        Some(t) if Some(&t.api_key) == api_key.as_ref() => Ok(id),
        _ => Err(wire::error(807, "APIKEY_TASK_NOT_FOUND")),
    }
}

async fn outputs(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Outputs).await {
        return r;
    }
    let id = match task_call(&shared, &body) {
        Ok(id) => id,
        Err(body) => return json_response(body),
    };
    let mut guard = shared.lock();
    let state = &mut *guard;
    *state.polls.entry(id.clone()).or_default() += 1;
    let idx = state.task_index[&id];
    let body = wire::outputs(&mut state.quirks, &state.base_url, &state.tasks[idx], Instant::now());
    json_response(body)
}

async fn status(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Status).await {
        return r;
    }
    let id = match task_call(&shared, &body) {
        Ok(id) => id,
        Err(body) => return json_response(body),
    };
    let mut guard = shared.lock();
    let state = &mut *guard;
    let idx = state.task_index[&id];
    json_response(wire::status(&mut state.quirks, &state.tasks[idx], Instant::now()))
}

async fn cancel(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Cancel).await {
        return r;
    }
    let id = match task_call(&shared, &body) {
        Ok(id) => id,
        Err(body) => return json_response(body),
    };
    let mut state = shared.lock();
    let now = Instant::now();
    let task = state.task_mut(&id).expect("found by task_call");
    // Cancelling a finished task changes nothing (its end stays what it was).
    if !matches!(task.phase(now), Phase::Done(_)) {
        task.cancelled_at = Some(now);
    }
    json_response(wire::success(Value::Null))
}

async fn account_status(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::AccountStatus).await {
        return r;
    }
    let Some(obj) = parse_object(&body) else { return params_invalid() };
    // Only the lowercase `apikey` counts here, as on the real service.
    let api_key = str_field(&obj, "apikey");
    let mut guard = shared.lock();
    let state = &mut *guard;
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return json_response(wire::error(code, &msg));
    }
    let api_key = api_key.unwrap_or_default();
    let running = state.running(&api_key, Instant::now()) as u64;
    let coins = state.accounts[&api_key].remain_coins;
    let data = json!({
        "remainCoins": wire::number(&mut state.quirks, coins),
        "currentTaskCounts": wire::number(&mut state.quirks, running),
        "remainMoney": null,
        "currency": null,
        "apiType": "NORMAL",
    });
    json_response(wire::success(data))
}

async fn download(AxState(shared): Shr, Path(name): Path<String>) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Download).await {
        return r;
    }
    let state = shared.lock();
    let id = name.strip_suffix(".png").unwrap_or(&name);
    let succeeded =
        state.task(id).is_some_and(|t| t.phase(Instant::now()) == Phase::Done(TaskEnd::Succeeded));
    if !succeeded {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], state.result_image.clone()).into_response()
}
