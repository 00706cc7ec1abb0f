//! HTTP handlers of the fake RunningHub.
//!
//! Each handler counts the call, applies a scripted fault if one is queued, then answers
//! like the real service: business errors as HTTP 200 with a non-zero `code`, never a
//! panic or a 5xx on a bad request. Bodies are parsed by hand (not with axum's `Json`
//! extractor) so malformed input gets a RunningHub-style answer rather than axum's 4xx.
//! The v2 handlers take the key from the `Authorization: Bearer` header only, and answer
//! flat objects with a string `errorCode` (uploads: an envelope with `message`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::Shared;
use super::faults::{Endpoint, Fault};
use super::state::{HubState, NodeInput, Phase, Task, TaskEnd, Upload};
use super::{webhook, wire};

type Shr = AxState<Arc<Shared>>;

/// The router with every RunningHub path of runninghub-api.md plus result downloads.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/task/openapi/upload", post(upload))
        .route("/task/openapi/create", post(create))
        .route("/task/openapi/ai-app/run", post(app_run))
        .route("/openapi/v2/run/ai-app/{id}", post(v2_run_app))
        .route("/openapi/v2/run/workflow/{id}", post(v2_run_workflow))
        .route("/openapi/v2/query", post(v2_query))
        .route("/openapi/v2/media/upload/binary", post(v2_upload))
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

/// The multipart form of an upload: the `apiKey` field (legacy only), the file and its
/// name; `Err` is the answer for a form that cannot be read.
struct UploadForm {
    api_key: Option<String>,
    file: Option<Bytes>,
    file_name: Option<String>,
}

async fn read_upload_form(req: Request) -> Result<UploadForm, (i64, &'static str)> {
    let Ok(mut form) = Multipart::from_request(req, &()).await else {
        return Err((301, "PARAMS_INVALID"));
    };
    let mut read = UploadForm { api_key: None, file: None, file_name: None };
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let original = field.file_name().map(str::to_owned);
                let Ok(data) = field.bytes().await else {
                    return Err((808, "APIKEY_UPLOAD_FAILED"));
                };
                match name.as_str() {
                    "apiKey" => read.api_key = Some(String::from_utf8_lossy(&data).into_owned()),
                    "file" => {
                        read.file = Some(data);
                        read.file_name = original;
                    }
                    _ => {} // fileType and anything else: accepted, not checked.
                }
            }
            Ok(None) => return Ok(read),
            Err(_) => return Err((808, "APIKEY_UPLOAD_FAILED")),
        }
    }
}

/// Keeps an uploaded file of `api_key` under a fresh name (`{prefix}/….{ext}`); `Err` for
/// a missing or oversized file.
fn store_upload(
    state: &mut HubState,
    api_key: &str,
    file: Option<Bytes>,
    file_name: Option<&str>,
    prefix: &str,
) -> Result<(String, usize), (i64, &'static str)> {
    let Some(file) = file else { return Err((301, "PARAMS_INVALID")) };
    if file.len() > state.max_upload_bytes {
        return Err((809, "APIKEY_FILE_SIZE_EXCEEDED"));
    }
    let ext = file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "png".to_owned());
    let seq = state.next_seq();
    let mut hasher = crate::rng::SplitMix64::new(seq ^ 0xA11CE);
    let name = format!(
        "{prefix}/{:016x}{:016x}{:013x}.{ext}",
        hasher.next_u64(),
        hasher.next_u64(),
        hasher.next_u64() >> 12
    );
    let size = file.len();
    state.uploads.insert(name.clone(), Upload { api_key: api_key.to_owned(), bytes: file });
    if let Some(acc) = state.accounts.get_mut(api_key) {
        acc.uploads += 1;
    }
    Ok((name, size))
}

async fn upload(AxState(shared): Shr, req: Request) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Upload).await {
        return r;
    }
    let form = match read_upload_form(req).await {
        Ok(form) => form,
        Err((code, msg)) => return json_response(wire::error(code, msg)),
    };
    let mut state = shared.lock();
    if let Some((code, msg)) = state.auth_error(form.api_key.as_deref()) {
        return json_response(wire::error(code, &msg));
    }
    let api_key = form.api_key.unwrap_or_default();
    let name = match store_upload(&mut state, &api_key, form.file, form.file_name.as_deref(), "api") {
        Ok((name, _)) => name,
        Err((code, msg)) => return json_response(wire::error(code, msg)),
    };
    let file_type = if state.quirks.flip() { "input" } else { "image" };
    json_response(wire::success(json!({ "fileName": name, "fileType": file_type })))
}

/// The key of a v2 call: the `Authorization: Bearer …` header, nothing else.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

async fn v2_upload(AxState(shared): Shr, headers: HeaderMap, req: Request) -> Response {
    if let Some(r) = enter(&shared, Endpoint::V2Upload).await {
        return r;
    }
    let api_key = bearer(&headers);
    let form = match read_upload_form(req).await {
        Ok(form) => form,
        Err((code, msg)) => return json_response(wire::v2_envelope(code, msg, Value::Null)),
    };
    let mut guard = shared.lock();
    let state = &mut *guard;
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return json_response(wire::v2_envelope(code, &msg, Value::Null));
    }
    let api_key = api_key.unwrap_or_default();
    match store_upload(state, &api_key, form.file, form.file_name.as_deref(), "openapi") {
        Ok((name, size)) => json_response(wire::v2_envelope(
            0,
            "success",
            json!({
                "type": "image",
                "download_url": format!("{}/uploads/{name}", state.base_url),
                "fileName": name,
                "size": size.to_string(),
            }),
        )),
        Err((code, msg)) => json_response(wire::v2_envelope(code, msg, Value::Null)),
    }
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

/// A task a run call asks for, once its key and target were checked.
struct NewTask {
    api_key: String,
    workflow_id: String,
    app_id: Option<String>,
    v2: bool,
    inputs: Vec<NodeInput>,
    webhook_url: Option<String>,
}

/// A task the fake created: its id as the answer spells it and its client id.
struct Admitted {
    task_id: Value,
    client_id: String,
}

/// Checks a run's images and the account's limit, creates the task and schedules its
/// callback; `Err` is the business error to answer (803, 421).
fn admit(shared: &Arc<Shared>, state: &mut HubState, new: NewTask) -> Result<Admitted, (i64, String)> {
    // Image fields must name a file this account uploaded.
    for input in &new.inputs {
        let is_image = input.field_name == "image" || input.field_value.starts_with("api/");
        let known = state.uploads.get(&input.field_value).is_some_and(|u| u.api_key == new.api_key);
        if is_image && !known {
            return Err((803, format!("APIKEY_INVALID_NODE_INFO: node {} image not found", input.node_id)));
        }
    }
    let now = Instant::now();
    let running = state.running(&new.api_key, now);
    let account = state.accounts.get_mut(&new.api_key).expect("authenticated by the caller");
    if running >= account.max_concurrent {
        account.over_limit_attempts += 1;
        return Err((421, "TASK_QUEUE_MAXED".into()));
    }
    account.max_running_seen = account.max_running_seen.max(running + 1);

    let id = state.new_task_id();
    let script = state.take_script();
    let webhook_url = new.webhook_url.clone();
    let task = Task {
        id: id.clone(),
        api_key: new.api_key,
        workflow_id: new.workflow_id,
        app_id: new.app_id,
        v2: new.v2,
        node_inputs: new.inputs,
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
    // v2 answers are not quirky: their taskId is always a string.
    let task_id = if new.v2 { json!(id) } else { wire::task_id(&mut state.quirks, &id) };
    if let (Some(url), Some(end)) = (webhook_url, natural_end) {
        webhook::schedule(shared.clone(), id, url, end);
    }
    Ok(Admitted { task_id, client_id })
}

/// The legacy create answer of an admitted task.
fn created(admitted: Result<Admitted, (i64, String)>) -> Response {
    match admitted {
        Ok(Admitted { task_id, client_id }) => json_response(wire::success(json!({
            "netWssUrl": null,
            "taskId": task_id,
            "clientId": client_id,
            "taskStatus": "QUEUED",
            "promptTips": "{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"9\"], \"node_errors\": {}}",
        }))),
        Err((code, msg)) => json_response(wire::error(code, &msg)),
    }
}

/// Runs `work` for a run endpoint, then answers with it unless a lost-answer fault says
/// otherwise (the task exists either way).
async fn run_call(
    shared: &Arc<Shared>,
    endpoint: Endpoint,
    work: impl FnOnce(&Arc<Shared>) -> Response,
) -> Response {
    let lost = match enter_or_lose(shared, endpoint).await {
        Ok(lost) => lost,
        Err(answer) => return answer,
    };
    let answer = work(shared);
    match lost {
        Some(fault) => fault_response(shared, fault).await,
        None => answer,
    }
}

async fn create(AxState(shared): Shr, body: Bytes) -> Response {
    run_call(&shared, Endpoint::Create, |shared| create_task(shared, &body)).await
}

fn create_task(shared: &Arc<Shared>, body: &[u8]) -> Response {
    legacy_task(shared, body, LegacyRun::Workflow)
}

async fn app_run(AxState(shared): Shr, body: Bytes) -> Response {
    run_call(&shared, Endpoint::AppRun, |shared| app_task(shared, &body)).await
}

/// `/task/openapi/ai-app/run`: `webappId` (a string or a number) instead of a workflow,
/// the key in the body, and the create's answer.
fn app_task(shared: &Arc<Shared>, body: &[u8]) -> Response {
    legacy_task(shared, body, LegacyRun::App)
}

/// What a legacy run names: a workflow (`/task/openapi/create`) or an AI app.
#[derive(Clone, Copy, PartialEq)]
enum LegacyRun {
    Workflow,
    App,
}

/// A legacy run: the key in the body, the workflow or app it names (which the account must
/// have, if the test said which it has), the node list, the create's answer.
fn legacy_task(shared: &Arc<Shared>, body: &[u8], run: LegacyRun) -> Response {
    let Some(obj) = parse_object(body) else { return params_invalid() };
    let api_key = str_field(&obj, "apiKey");
    let mut guard = shared.lock();
    let state = &mut *guard;
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return json_response(wire::error(code, &msg));
    }
    let api_key = api_key.unwrap_or_default();
    let (field, missing) = match run {
        LegacyRun::Workflow => ("workflowId", "WORKFLOW_NOT_EXISTS"),
        LegacyRun::App => ("webappId", "WEBAPP_NOT_EXISTS"),
    };
    let id = str_field(&obj, field).unwrap_or_default();
    if id.trim().is_empty() {
        return params_invalid();
    }
    let account = &state.accounts[&api_key];
    let known = match run {
        LegacyRun::Workflow => account.workflows.as_ref(),
        LegacyRun::App => account.apps.as_ref(),
    };
    if known.is_some_and(|ids| !ids.contains(&id)) {
        return json_response(wire::error(380, missing));
    }
    let Some(inputs) = node_inputs(&obj) else {
        return json_response(wire::error(803, "APIKEY_INVALID_NODE_INFO"));
    };
    let webhook_url = str_field(&obj, "webhookUrl").filter(|u| !u.trim().is_empty());
    let (workflow_id, app_id) = match run {
        LegacyRun::Workflow => (id, None),
        LegacyRun::App => (String::new(), Some(id)),
    };
    let new = NewTask { api_key, workflow_id, app_id, v2: false, inputs, webhook_url };
    created(admit(shared, state, new))
}

async fn v2_run_app(
    AxState(shared): Shr,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_call(&shared, Endpoint::V2Run, |shared| v2_task(shared, &headers, &body, None, Some(id))).await
}

async fn v2_run_workflow(
    AxState(shared): Shr,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_call(&shared, Endpoint::V2Run, |shared| v2_task(shared, &headers, &body, Some(id), None)).await
}

/// A v2 run of a workflow or an app: the key from the Bearer header, the id from the
/// path, a flat answer.
fn v2_task(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: &[u8],
    workflow_id: Option<String>,
    app_id: Option<String>,
) -> Response {
    let error = |code: i64, msg: &str| json_response(wire::v2_error(code, msg));
    let api_key = bearer(headers);
    let mut guard = shared.lock();
    let state = &mut *guard;
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return error(code, &msg);
    }
    let api_key = api_key.unwrap_or_default();
    let Some(obj) = parse_object(body) else { return error(301, "PARAMS_INVALID") };
    let account = &state.accounts[&api_key];
    if let Some(app) = &app_id
        && account.apps.as_ref().is_some_and(|a| !a.contains(app))
    {
        return error(404, "WEBAPP_NOT_EXISTS");
    }
    if let Some(workflow) = &workflow_id
        && account.workflows.as_ref().is_some_and(|w| !w.contains(workflow))
    {
        return error(404, "WORKFLOW_NOT_EXISTS");
    }
    let Some(inputs) = node_inputs(&obj) else { return error(803, "APIKEY_INVALID_NODE_INFO") };
    let webhook_url = str_field(&obj, "webhookUrl").filter(|u| !u.trim().is_empty());
    let new = NewTask {
        api_key,
        workflow_id: workflow_id.unwrap_or_default(),
        app_id,
        v2: true,
        inputs,
        webhook_url,
    };
    match admit(shared, state, new) {
        Ok(Admitted { task_id, client_id }) => {
            json_response(wire::v2_created(task_id.as_str().unwrap_or_default(), &client_id))
        }
        Err((code, msg)) => error(code, &msg),
    }
}

async fn v2_query(AxState(shared): Shr, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::V2Query).await {
        return r;
    }
    let error = |code: i64, msg: &str| json_response(wire::v2_error(code, msg));
    let api_key = bearer(&headers);
    let mut guard = shared.lock();
    let state = &mut *guard;
    if let Some((code, msg)) = state.auth_error(api_key.as_deref()) {
        return error(code, &msg);
    }
    let Some(obj) = parse_object(&body) else { return error(301, "PARAMS_INVALID") };
    let Some(id) = str_field(&obj, "taskId") else { return error(301, "PARAMS_INVALID") };
    // Another account's task is "not found" for this key.
    let Some(&idx) =
        state.task_index.get(&id).filter(|&&i| Some(&state.tasks[i].api_key) == api_key.as_ref())
    else {
        return error(807, "APIKEY_TASK_NOT_FOUND");
    };
    *state.polls.entry(id).or_default() += 1;
    json_response(wire::v2_query(&state.base_url, &state.tasks[idx], Instant::now()))
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
