//! JSON bodies exactly as RunningHub writes them, including the documented variants.
//!
//! With quirks off every answer uses the first variant listed in runninghub-api.md; with
//! quirks on, each answer picks one of the documented variants from the seeded generator,
//! so a client that only handles one spelling fails a quirks test deterministically.

use std::time::Instant;

use serde_json::{Value, json};

use super::script::Outcome;
use super::state::{Phase, Quirks, Task, TaskEnd, whole_seconds};

/// `{"code":…, "msg":…, "data":…}`
pub(crate) fn envelope(code: i64, msg: &str, data: Value) -> Value {
    json!({ "code": code, "msg": msg, "data": data })
}

/// A business error: HTTP 200 with a non-zero code and `data: null`.
pub(crate) fn error(code: i64, msg: &str) -> Value {
    envelope(code, msg, Value::Null)
}

/// `"success"` envelope.
pub(crate) fn success(data: Value) -> Value {
    envelope(0, "success", data)
}

/// A number that may be sent as a JSON string (the default) or, with quirks, a number.
pub(crate) fn number(q: &mut Quirks, n: u64) -> Value {
    if q.flip() { json!(n) } else { json!(n.to_string()) }
}

/// A task id: a string by default, a JSON number with quirks.
pub(crate) fn task_id(q: &mut Quirks, id: &str) -> Value {
    match id.parse::<u64>() {
        Ok(n) if q.flip() => json!(n),
        _ => json!(id),
    }
}

/// The `failedReason` object of an 805 answer.
pub(crate) fn failed_reason(message: &str) -> Value {
    json!({
        "node_id": "276",
        "node_name": "KSampler",
        "exception_type": "RuntimeError",
        "exception_message": message,
        "traceback": format!(
            "Traceback (most recent call last):\n  File \"execution.py\", line 151, in recursive_execute\nRuntimeError: {message}"
        ),
    })
}

/// The `/task/openapi/outputs` answer for `task` at `now` (also the webhook's eventData).
pub(crate) fn outputs(q: &mut Quirks, base_url: &str, task: &Task, now: Instant) -> Value {
    match task.phase(now) {
        Phase::Queued => error(813, "APIKEY_TASK_IS_QUEUED"),
        Phase::Running => match q.pick(3) {
            0 => error(804, "APIKEY_TASK_IS_RUNNING"),
            1 => envelope(0, "APIKEY_TASK_IS_RUNNING", Value::Null),
            _ => envelope(804, "APIKEY_TASK_IS_RUNNING", json!({ "netWssUrl": null })),
        },
        Phase::Done(TaskEnd::Succeeded) => success(json!([output_item(q, base_url, task)])),
        Phase::Done(TaskEnd::NoOutput) => success(json!([])),
        Phase::Done(TaskEnd::Failed) => {
            let message = match &task.script.outcome {
                Outcome::Fail(m) => m.clone(),
                _ => String::new(),
            };
            envelope(805, "APIKEY_TASK_STATUS_ERROR", json!({ "failedReason": failed_reason(&message) }))
        }
        // What the provider reports for a task stopped by the user: a failure whose
        // reason names the cancel (the client should not be polling it anyway).
        Phase::Done(TaskEnd::Cancelled) => envelope(
            805,
            "APIKEY_TASK_STATUS_ERROR",
            json!({ "failedReason": failed_reason("Task cancelled by user") }),
        ),
    }
}

fn output_item(q: &mut Quirks, base_url: &str, task: &Task) -> Value {
    let cost = whole_seconds(task.script.queued_for + task.script.run_for);
    json!({
        "fileUrl": format!("{base_url}/files/{}.png", task.id),
        "fileType": "png",
        "taskCostTime": number(q, cost),
        "nodeId": "9",
        "consumeCoins": number(q, 17),
    })
}

/// The `/task/openapi/status` answer: a bare string in `data` (with quirks, sometimes
/// `""`, as the unmaintained endpoint does).
pub(crate) fn status(q: &mut Quirks, task: &Task, now: Instant) -> Value {
    if q.pick(4) == 3 {
        return success(json!(""));
    }
    let s = match task.phase(now) {
        Phase::Queued => "QUEUED",
        Phase::Running => "RUNNING",
        Phase::Done(TaskEnd::Succeeded | TaskEnd::NoOutput) => "SUCCESS",
        Phase::Done(TaskEnd::Failed | TaskEnd::Cancelled) => "FAILED",
    };
    success(json!(s))
}

/// The TASK_END callback body; `eventData` is a JSON string, or an object with quirks.
pub(crate) fn webhook_body(q: &mut Quirks, base_url: &str, task: &Task, now: Instant) -> Value {
    let data = outputs(q, base_url, task, now);
    let id = task_id(q, &task.id);
    let event_data = if q.flip() { data } else { json!(data.to_string()) };
    json!({ "event": "TASK_END", "taskId": id, "eventData": event_data })
}

// ---- the v2 API ------------------------------------------------------------------------

/// A v2 envelope (uploads), spelled with `message` where the legacy API says `msg`.
pub(crate) fn v2_envelope(code: i64, message: &str, data: Value) -> Value {
    json!({ "code": code, "message": message, "data": data })
}

/// The flat answer of v2 runs and queries: `errorCode` is a string, "" for none.
fn v2_flat(task_id: &str, status: &str, error: Option<(i64, &str)>, extra: Value) -> Value {
    let (code, message) = match error {
        Some((code, message)) => (code.to_string(), message.to_owned()),
        None => (String::new(), String::new()),
    };
    let mut body = json!({
        "taskId": task_id,
        "status": status,
        "errorCode": code,
        "errorMessage": message,
        "results": null,
        "clientId": "",
        "promptTips": "",
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

/// A v2 business error: HTTP 200, no task, the code in `errorCode`.
pub(crate) fn v2_error(code: i64, message: &str) -> Value {
    v2_flat("", "", Some((code, message)), json!({}))
}

/// The answer of a v2 run that created `task_id`.
pub(crate) fn v2_created(task_id: &str, client_id: &str) -> Value {
    v2_flat(
        task_id,
        "QUEUED",
        None,
        json!({
            "clientId": client_id,
            "promptTips": "{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"9\"], \"node_errors\": {}}",
        }),
    )
}

/// The `/openapi/v2/query` answer for `task` at `now`.
pub(crate) fn v2_query(base_url: &str, task: &Task, now: Instant) -> Value {
    let cost = whole_seconds(task.script.queued_for + task.script.run_for);
    let usage = json!({ "consumeMoney": null, "consumeCoins": "17", "taskCostTime": cost.to_string(),
        "thirdPartyConsumeMoney": null });
    let failed = |message: &str| {
        v2_flat(
            &task.id,
            "FAILED",
            Some((805, "APIKEY_TASK_STATUS_ERROR")),
            json!({ "failedReason": failed_reason(message), "usage": usage }),
        )
    };
    match task.phase(now) {
        Phase::Queued => v2_flat(&task.id, "QUEUED", None, json!({})),
        Phase::Running => v2_flat(&task.id, "RUNNING", None, json!({})),
        Phase::Done(TaskEnd::Succeeded) => v2_flat(
            &task.id,
            "SUCCESS",
            None,
            json!({
                "results": [{ "url": format!("{base_url}/files/{}.png", task.id), "nodeId": "9",
                    "outputType": "png", "text": null }],
                "failedReason": {},
                "usage": usage,
            }),
        ),
        Phase::Done(TaskEnd::NoOutput) => v2_flat(&task.id, "SUCCESS", None, json!({ "results": [] })),
        Phase::Done(TaskEnd::Failed) => match &task.script.outcome {
            Outcome::Fail(m) => failed(m),
            _ => failed(""),
        },
        Phase::Done(TaskEnd::Cancelled) => failed("Task cancelled by user"),
    }
}
