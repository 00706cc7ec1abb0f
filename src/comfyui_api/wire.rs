//! What a ComfyUI server sends and expects on the wire, read leniently.
//!
//! Shapes follow ComfyUI's `server.py` and `execution.py`: `/prompt` answers
//! `{"prompt_id", "number", "node_errors"}` or, with HTTP 400, `{"error", "node_errors"}`
//! (where `error` is an object, or a bare string on old servers); `/queue` lists items as
//! arrays `[number, prompt_id, prompt, extra_data, outputs]`; `/history/{id}` is `{}` until
//! the prompt ends. Optional fields default so an older or newer server still parses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /prompt`.
#[derive(Clone, Debug, Serialize)]
pub struct PromptRequest<'a> {
    /// The API-format workflow, inputs already set.
    pub prompt: &'a Value,
    /// Identifies us in the server's logs and websocket events.
    pub client_id: &'a str,
}

/// The answer of an accepted `POST /prompt`.
#[derive(Clone, Debug, Deserialize)]
pub struct PromptAccepted {
    pub prompt_id: String,
    /// Queue position number; a float on some versions, so kept as a JSON number.
    #[serde(default)]
    pub number: Option<serde_json::Number>,
    /// Errors of outputs that were dropped while others stayed valid (usually `{}`).
    #[serde(default)]
    pub node_errors: Value,
}

/// The body of a refused `POST /prompt` (HTTP 400).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PromptRejection {
    /// `{"type", "message", "details", "extra_info"}`, or a string (`"no prompt"`).
    #[serde(default)]
    pub error: Value,
    /// `{"<node>": {"errors": [{"type","message","details",...}], "class_type", ...}}`.
    #[serde(default)]
    pub node_errors: Value,
}

impl PromptRejection {
    /// One line naming the error and every node error, for the user and the log.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match &self.error {
            Value::String(s) if !s.trim().is_empty() => parts.push(s.trim().to_owned()),
            Value::Object(map) => {
                let message = map.get("message").and_then(Value::as_str).unwrap_or("").trim();
                let details = map.get("details").and_then(Value::as_str).unwrap_or("").trim();
                match (message.is_empty(), details.is_empty()) {
                    (false, false) => parts.push(format!("{message}: {details}")),
                    (false, true) => parts.push(message.to_owned()),
                    (true, false) => parts.push(details.to_owned()),
                    (true, true) => {}
                }
            }
            _ => {}
        }
        if let Some(nodes) = node_errors_text(&self.node_errors) {
            parts.push(nodes);
        }
        if parts.is_empty() { "the server gave no reason".to_owned() } else { parts.join("; ") }
    }
}

/// `node 2 (LoadImage): Value not in list: image: 'x.png' not in [...]`, for every node,
/// or `None` when there are none.
pub fn node_errors_text(node_errors: &Value) -> Option<String> {
    let Value::Object(nodes) = node_errors else { return None };
    if nodes.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for (node, detail) in nodes {
        let class = detail.get("class_type").and_then(Value::as_str).unwrap_or("?");
        let messages: Vec<String> = detail
            .get("errors")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|e| {
                        let message = e.get("message").and_then(Value::as_str).unwrap_or("error");
                        match e.get("details").and_then(Value::as_str).filter(|d| !d.trim().is_empty()) {
                            Some(details) => format!("{message}: {details}"),
                            None => message.to_owned(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        parts.push(format!("node {node} ({class}): {}", messages.join(", ")));
    }
    Some(parts.join("; "))
}

/// The answer of `POST /upload/image`: what to put into a LoadImage node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct UploadedImage {
    pub name: String,
    #[serde(default)]
    pub subfolder: String,
    /// `input` for uploads.
    #[serde(default, rename = "type")]
    pub kind: String,
}

impl UploadedImage {
    /// The value of a LoadImage node's `image` input: `subfolder/name` or `name`.
    pub fn load_image_value(&self) -> String {
        let sub = self.subfolder.trim_matches('/');
        if sub.is_empty() { self.name.clone() } else { format!("{sub}/{}", self.name) }
    }
}

/// The body of `GET /queue`, reduced to the prompt ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub running: Vec<String>,
    pub pending: Vec<String>,
}

impl QueueSnapshot {
    /// Reads `{"queue_running": [[n, id, ...]], "queue_pending": [...]}`; items that are
    /// not arrays with a string id are skipped rather than failing the whole answer.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let Value::Object(map) = value else { return Err("the queue is not an object".into()) };
        let ids = |key: &str| -> Vec<String> {
            map.get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_array()?.get(1)?.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        if !map.contains_key("queue_running") && !map.contains_key("queue_pending") {
            return Err("the queue answer has neither queue_running nor queue_pending".into());
        }
        Ok(Self { running: ids("queue_running"), pending: ids("queue_pending") })
    }
}

/// One finished prompt in `GET /history/{prompt_id}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HistoryEntry {
    /// Per output node; only `images` matters here (other keys: `text`, `gifs`...).
    #[serde(default)]
    pub outputs: BTreeMap<String, NodeOutput>,
    /// Absent on very old servers, which only recorded successes.
    #[serde(default)]
    pub status: Option<HistoryStatus>,
}

/// What one output node produced.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeOutput {
    #[serde(default)]
    pub images: Vec<ImageRef>,
}

/// A file the server can serve through `/view`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ImageRef {
    pub filename: String,
    #[serde(default)]
    pub subfolder: String,
    /// `output` (SaveImage) or `temp` (PreviewImage).
    #[serde(default = "output_kind", rename = "type")]
    pub kind: String,
}

fn output_kind() -> String {
    "output".to_owned()
}

/// How the prompt ended, with the execution events.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HistoryStatus {
    /// `success` or `error`.
    #[serde(default)]
    pub status_str: Option<String>,
    #[serde(default)]
    pub completed: Option<bool>,
    /// `[[event, {...}], ...]`: `execution_start`, `execution_cached`, `execution_success`,
    /// `execution_error` (`exception_message`, `node_id`, `node_type`), `execution_interrupted`.
    #[serde(default)]
    pub messages: Vec<Value>,
}

impl HistoryStatus {
    /// The data of the first message named `event`.
    pub fn message(&self, event: &str) -> Option<&Value> {
        self.messages.iter().find_map(|m| {
            let pair = m.as_array()?;
            (pair.first()?.as_str()? == event).then(|| pair.get(1)).flatten()
        })
    }
}

/// Reads the entry of `prompt_id` from a history answer: `Ok(None)` while it is not there.
pub fn history_entry(body: &Value, prompt_id: &str) -> Result<Option<HistoryEntry>, serde_json::Error> {
    match body.get(prompt_id) {
        None | Some(Value::Null) => Ok(None),
        Some(entry) => serde_json::from_value(entry.clone()).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rejection_names_the_error_and_the_nodes() {
        let body = json!({
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {"2": {"errors": [{"type": "value_not_in_list", "message": "Value not in list", "details": "image: 'gone.png' not in []", "extra_info": {}}], "dependent_outputs": ["9"], "class_type": "LoadImage"}}
        });
        let r: PromptRejection = serde_json::from_value(body).unwrap();
        let text = r.describe();
        assert!(text.starts_with("Prompt outputs failed validation"), "{text}");
        assert!(
            text.contains("node 2 (LoadImage): Value not in list: image: 'gone.png' not in []"),
            "{text}"
        );

        let old: PromptRejection =
            serde_json::from_value(json!({"error": "no prompt", "node_errors": []})).unwrap();
        assert_eq!(old.describe(), "no prompt");
        assert_eq!(PromptRejection::default().describe(), "the server gave no reason");
    }

    #[test]
    fn accepted_prompts_parse_with_int_or_float_numbers() {
        let a: PromptAccepted =
            serde_json::from_str(r#"{"prompt_id":"abc","number":3,"node_errors":{}}"#).unwrap();
        assert_eq!(a.prompt_id, "abc");
        let b: PromptAccepted = serde_json::from_str(r#"{"prompt_id":"abc","number":-2.0}"#).unwrap();
        assert!(b.number.is_some());
        assert!(serde_json::from_str::<PromptAccepted>(r#"{"number":1}"#).is_err());
    }

    #[test]
    fn uploads_give_the_load_image_value() {
        let u: UploadedImage =
            serde_json::from_str(r#"{"name":"p.png","subfolder":"","type":"input"}"#).unwrap();
        assert_eq!(u.load_image_value(), "p.png");
        let u: UploadedImage =
            serde_json::from_str(r#"{"name":"p.png","subfolder":"backdrop/","type":"input"}"#).unwrap();
        assert_eq!(u.load_image_value(), "backdrop/p.png");
    }

    #[test]
    fn the_queue_is_read_by_prompt_id() {
        let q = QueueSnapshot::from_value(&json!({
            "queue_running": [[4, "run-1", {}, {"client_id": "x"}, ["9"]]],
            "queue_pending": [[5, "pend-1", {}, {}, ["9"]], [6.0, "pend-2", {}, {}, []], "junk", [7]]
        }))
        .unwrap();
        assert_eq!(q.running, vec!["run-1"]);
        assert_eq!(q.pending, vec!["pend-1", "pend-2"]);
        assert!(QueueSnapshot::from_value(&json!([])).is_err());
        assert!(QueueSnapshot::from_value(&json!({"other": 1})).is_err());
    }

    #[test]
    fn history_is_empty_until_the_prompt_ends() {
        assert!(history_entry(&json!({}), "p1").unwrap().is_none());
        let body = json!({"p1": {
            "prompt": [1, "p1", {}, {}, ["9"]],
            "outputs": {"9": {"images": [{"filename": "B_00001_.png", "subfolder": "", "type": "output"}]}, "12": {"text": ["hi"]}},
            "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {"prompt_id": "p1", "timestamp": 1}], ["execution_success", {"prompt_id": "p1"}]]},
            "meta": {}
        }});
        let entry = history_entry(&body, "p1").unwrap().unwrap();
        assert_eq!(entry.outputs["9"].images[0].filename, "B_00001_.png");
        assert!(entry.outputs["12"].images.is_empty());
        let status = entry.status.unwrap();
        assert_eq!(status.status_str.as_deref(), Some("success"));
        assert!(status.message("execution_success").is_some());
        assert!(status.message("execution_error").is_none());
        assert!(history_entry(&body, "other").unwrap().is_none());
    }
}
