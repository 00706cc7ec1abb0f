//! HTTP handlers of the fake ComfyUI, shaped like `server.py`.
//!
//! Validation mimics ComfyUI's: unknown node classes and workflows without an output node
//! are refused with HTTP 400 and an `error` object; a LoadImage whose file was never
//! uploaded is refused with `node_errors` for that node (`value_not_in_list`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::Shared;
use super::state::{Endpoint, Entry, PromptPhase, PromptRecord, UploadRecord, output_nodes};

type Shr = AxState<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/upload/image", post(upload))
        .route("/prompt", post(prompt))
        .route("/history/{prompt_id}", get(history))
        .route("/queue", get(queue).post(queue_post))
        .route("/interrupt", post(interrupt))
        .route("/view", get(view))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Counts the call; the scripted status's answer if one was queued for it.
fn enter(shared: &Shared, endpoint: Endpoint) -> Option<Response> {
    let fault = shared.lock().enter(endpoint)?;
    let status = StatusCode::from_u16(fault).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some((status, "500 Internal Server Error\n\nServer got itself in trouble").into_response())
}

async fn upload(AxState(shared): Shr, mut form: Multipart) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Upload) {
        return r;
    }
    let (mut image, mut file_name, mut kind, mut subfolder, mut overwrite) = (None, None, None, None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let original = field.file_name().map(str::to_owned);
                let Ok(data) = field.bytes().await else { return StatusCode::BAD_REQUEST.into_response() };
                let text = || String::from_utf8_lossy(&data).into_owned();
                match name.as_str() {
                    "image" => {
                        file_name = original;
                        image = Some(data);
                    }
                    "type" => kind = Some(text()),
                    "subfolder" => subfolder = Some(text()),
                    "overwrite" => overwrite = Some(text()),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    }
    // As server.py: no image part or no file name is a bare 400.
    let (Some(bytes), Some(mut name)) = (image, file_name.filter(|n| !n.is_empty())) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if name.contains("..") || name.starts_with('/') {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let kind = kind.unwrap_or_else(|| "input".to_owned());
    let subfolder = subfolder.unwrap_or_default();
    let mut state = shared.lock();
    let replace = matches!(overwrite.as_deref(), Some("true") | Some("1"));
    if !replace {
        // server.py renames instead of overwriting: "name (1).png".
        let (stem, ext) = name
            .rsplit_once('.')
            .map_or((name.clone(), String::new()), |(s, e)| (s.to_owned(), format!(".{e}")));
        let mut i = 1;
        while state.inputs.contains(&stored(&subfolder, &name)) {
            name = format!("{stem} ({i}){ext}");
            i += 1;
        }
    }
    state.inputs.insert(stored(&subfolder, &name));
    state.uploads.push(UploadRecord {
        name: name.clone(),
        subfolder: subfolder.clone(),
        kind: kind.clone(),
        overwrite,
        bytes,
    });
    json_response(StatusCode::OK, json!({"name": name, "subfolder": subfolder, "type": kind}))
}

/// How a LoadImage refers to an uploaded file: `subfolder/name` or `name`.
fn stored(subfolder: &str, name: &str) -> String {
    if subfolder.is_empty() { name.to_owned() } else { format!("{subfolder}/{name}") }
}

fn invalid(kind: &str, message: &str, details: &str, node_errors: Value) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"error": {"type": kind, "message": message, "details": details, "extra_info": {}}, "node_errors": node_errors}),
    )
}

async fn prompt(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Prompt) {
        return r;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "no prompt", "node_errors": []}));
    };
    let Some(Value::Object(nodes)) = body.get("prompt") else {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "no prompt", "node_errors": []}));
    };
    let mut state = shared.lock();
    for (id, node) in nodes {
        let class = node.get("class_type").and_then(Value::as_str);
        let Some(class) = class.filter(|c| state.node_classes.contains(*c)) else {
            let shown = class.unwrap_or("None");
            return invalid(
                "invalid_prompt",
                &format!("Cannot execute because node {shown} does not exist."),
                &format!("Node ID '#{id}'"),
                json!({}),
            );
        };
        if !node.get("inputs").is_some_and(Value::is_object) {
            return invalid("invalid_prompt", &format!("Node {id} ({class}) has no inputs"), "", json!({}));
        }
    }
    let outputs = output_nodes(&Value::Object(nodes.clone()));
    if outputs.is_empty() {
        return invalid("prompt_no_outputs", "Prompt has no outputs", "", json!({}));
    }
    let mut node_errors = Map::new();
    for (id, node) in nodes {
        if node.get("class_type").and_then(Value::as_str) != Some("LoadImage") {
            continue;
        }
        let image = node["inputs"].get("image").and_then(Value::as_str).unwrap_or("");
        if !state.inputs.contains(image) {
            let mut files: Vec<&String> = state.inputs.iter().collect();
            files.sort();
            node_errors.insert(
                id.clone(),
                json!({
                    "errors": [{
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": format!("image: '{image}' not in {files:?}"),
                        "extra_info": {"input_name": "image", "received_value": image}
                    }],
                    "dependent_outputs": outputs,
                    "class_type": "LoadImage"
                }),
            );
        }
    }
    if !node_errors.is_empty() {
        return invalid(
            "prompt_outputs_failed_validation",
            "Prompt outputs failed validation",
            "",
            Value::Object(node_errors),
        );
    }
    state.next_number += 1;
    let number = state.next_number;
    let id = fake_uuid(number);
    let now = Instant::now();
    state.advance(now);
    let script = state.take_script();
    let body = Value::Object(body);
    state.prompts.push(PromptRecord { prompt_id: id.clone(), number, body: body.clone() });
    state.phases.insert(id.clone(), PromptPhase::Pending);
    state.pending.push_back(Entry { id: id.clone(), number, body, script, queued_at: now });
    state.advance(now);
    json_response(StatusCode::OK, json!({"prompt_id": id, "number": number, "node_errors": {}}))
}

/// A UUID-shaped id, deterministic per fake.
fn fake_uuid(n: u64) -> String {
    let mut rng = crate::rng::SplitMix64::new(n ^ 0xC0FF_EE00);
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

async fn history(AxState(shared): Shr, Path(prompt_id): Path<String>) -> Response {
    if let Some(r) = enter(&shared, Endpoint::History) {
        return r;
    }
    let mut state = shared.lock();
    state.advance(Instant::now());
    let body = match state.history.get(&prompt_id) {
        Some(entry) => json!({ prompt_id: entry }),
        None => json!({}),
    };
    json_response(StatusCode::OK, body)
}

async fn queue(AxState(shared): Shr) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Queue) {
        return r;
    }
    let mut state = shared.lock();
    state.advance(Instant::now());
    json_response(StatusCode::OK, state.queue_json())
}

async fn queue_post(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::QueueDelete) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut state = shared.lock();
    state.advance(Instant::now());
    if body.get("clear").and_then(Value::as_bool) == Some(true) {
        let cleared: Vec<String> = state.pending.drain(..).map(|e| e.id).collect();
        for id in cleared {
            state.phases.insert(id, PromptPhase::Deleted);
        }
    }
    if let Some(ids) = body.get("delete").and_then(Value::as_array) {
        for id in ids.iter().filter_map(Value::as_str) {
            state.deletes.push(id.to_owned());
            if let Some(pos) = state.pending.iter().position(|e| e.id == id) {
                state.pending.remove(pos);
                state.phases.insert(id.to_owned(), PromptPhase::Deleted);
            }
        }
    }
    StatusCode::OK.into_response()
}

async fn interrupt(AxState(shared): Shr, body: Bytes) -> Response {
    if let Some(r) = enter(&shared, Endpoint::Interrupt) {
        return r;
    }
    // server.py tolerates an empty or non-JSON body: a global interrupt.
    let target = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("prompt_id").and_then(Value::as_str).map(str::to_owned));
    let now = Instant::now();
    let mut state = shared.lock();
    state.advance(now);
    state.interrupts.push(target.clone());
    let hits = match (&state.running, &target) {
        (Some(run), Some(id)) => run.entry.id == *id,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if hits {
        state.finish(now, true);
    }
    StatusCode::OK.into_response()
}

async fn view(AxState(shared): Shr, Query(query): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = enter(&shared, Endpoint::View) {
        return r;
    }
    let Some(filename) = query.get("filename") else { return StatusCode::NOT_FOUND.into_response() };
    if filename.contains("..") || filename.starts_with('/') {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let subfolder = query.get("subfolder").cloned().unwrap_or_default();
    let kind = query.get("type").cloned().unwrap_or_else(|| "output".to_owned());
    let state = shared.lock();
    if !state.outputs.contains(&(filename.clone(), subfolder, kind)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], state.result_image.clone()).into_response()
}
