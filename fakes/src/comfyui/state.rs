//! The fake ComfyUI's bookkeeping: inputs, the one-at-a-time execution queue, history,
//! and what tests observe.
//!
//! Execution is never "ticked": [`ComfyState::advance`] computes, from `Instant::now()`, which
//! prompts have ended and which one executes, every time anyone looks. A prompt starts when
//! the one before it ends (or when it is queued on an idle server), as in ComfyUI.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::script::{PromptOutcome, PromptScript};
use crate::image_bytes::solid_png;

/// An endpoint of the fake ComfyUI, for call counting and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /upload/image`
    Upload,
    /// `POST /prompt`
    Prompt,
    /// `GET /history/{prompt_id}`
    History,
    /// `GET /queue`
    Queue,
    /// `POST /queue` (delete)
    QueueDelete,
    /// `POST /interrupt`
    Interrupt,
    /// `GET /view`
    View,
}

/// One upload the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// The name the fake answered (the part's file name).
    pub name: String,
    /// The `subfolder` form field ("" when absent).
    pub subfolder: String,
    /// The `type` form field (`input` when absent).
    pub kind: String,
    /// The `overwrite` form field, if sent.
    pub overwrite: Option<String>,
    pub bytes: Bytes,
}

/// One accepted `POST /prompt`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord {
    pub prompt_id: String,
    pub number: u64,
    /// The whole JSON body received (`prompt`, `client_id`, ...).
    pub body: Value,
}

impl PromptRecord {
    /// The workflow that was queued.
    pub fn workflow(&self) -> &Value {
        &self.body["prompt"]
    }

    /// `inputs.image` of node `node`, if it has one.
    pub fn image_of(&self, node: &str) -> Option<String> {
        self.workflow().get(node)?.get("inputs")?.get("image")?.as_str().map(str::to_owned)
    }
}

/// Where a prompt is, as the fake sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    NoOutput,
    Interrupted,
    /// Removed from the queue before it ran (no history, like ComfyUI).
    Deleted,
}

pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) number: u64,
    pub(crate) body: Value,
    pub(crate) script: PromptScript,
    pub(crate) queued_at: Instant,
}

pub(crate) struct Running {
    pub(crate) entry: Entry,
    pub(crate) started: Instant,
}

/// All mutable state of one fake ComfyUI.
pub(crate) struct ComfyState {
    pub(crate) pending: VecDeque<Entry>,
    pub(crate) running: Option<Running>,
    /// Ended prompts in order, as `/history` returns them.
    pub(crate) history: Map<String, Value>,
    pub(crate) phases: HashMap<String, PromptPhase>,
    pub(crate) inputs: HashSet<String>,
    pub(crate) outputs: HashSet<(String, String, String)>,
    pub(crate) uploads: Vec<UploadRecord>,
    pub(crate) prompts: Vec<PromptRecord>,
    pub(crate) deletes: Vec<String>,
    pub(crate) interrupts: Vec<Option<String>>,
    pub(crate) calls: HashMap<Endpoint, usize>,
    pub(crate) faults: HashMap<Endpoint, VecDeque<u16>>,
    pub(crate) scripts: VecDeque<PromptScript>,
    pub(crate) default_script: PromptScript,
    pub(crate) node_classes: HashSet<String>,
    pub(crate) result_image: Bytes,
    pub(crate) next_number: u64,
    pub(crate) next_file: u64,
}

/// Node classes the fake knows out of the box (others answer "does not exist").
const CORE_NODES: &[&str] = &[
    "LoadImage",
    "LoadImageMask",
    "SaveImage",
    "PreviewImage",
    "ImageScale",
    "ImageScaleBy",
    "ImageCompositeMasked",
    "InvertMask",
    "ImageInvert",
    "ImageBlend",
    "ImageToMask",
    "MaskToImage",
    "SolidMask",
];

/// Node classes whose results end up in `outputs`, and the `type` of their files.
pub(crate) fn output_kind(class: &str) -> Option<&'static str> {
    match class {
        "SaveImage" => Some("output"),
        "PreviewImage" => Some("temp"),
        _ => None,
    }
}

impl ComfyState {
    pub(crate) fn new() -> Self {
        ComfyState {
            pending: VecDeque::new(),
            running: None,
            history: Map::new(),
            phases: HashMap::new(),
            inputs: HashSet::new(),
            outputs: HashSet::new(),
            uploads: Vec::new(),
            prompts: Vec::new(),
            deletes: Vec::new(),
            interrupts: Vec::new(),
            calls: HashMap::new(),
            faults: HashMap::new(),
            scripts: VecDeque::new(),
            default_script: PromptScript::default(),
            node_classes: CORE_NODES.iter().map(|s| s.to_string()).collect(),
            result_image: Bytes::from(solid_png(64, 48, [40, 120, 200])),
            next_number: 0,
            next_file: 0,
        }
    }

    /// Counts the call and pops the next scripted HTTP status of `endpoint`, if any.
    pub(crate) fn enter(&mut self, endpoint: Endpoint) -> Option<u16> {
        *self.calls.entry(endpoint).or_default() += 1;
        self.faults.get_mut(&endpoint).and_then(VecDeque::pop_front)
    }

    /// Ends what has ended by `now` and starts what follows, one prompt at a time.
    pub(crate) fn advance(&mut self, now: Instant) {
        // Bounded: each turn ends a prompt or starts one, and there are finitely many.
        loop {
            match &self.running {
                Some(run) => {
                    let Some(end) = run.entry.script.total().map(|d| run.started + d) else { return };
                    if end > now {
                        return;
                    }
                    self.finish(end, false);
                }
                None => {
                    let Some(entry) = self.pending.pop_front() else { return };
                    // Idle server: it started when it was queued.
                    let started = entry.queued_at;
                    self.phases.insert(entry.id.clone(), PromptPhase::Running);
                    self.running = Some(Running { entry, started });
                }
            }
        }
    }

    /// Ends the running prompt at `at` (its script's outcome, or `interrupted`), and starts
    /// the next one at the same instant.
    pub(crate) fn finish(&mut self, at: Instant, interrupted: bool) {
        let Some(run) = self.running.take() else { return };
        let run_started = run.started;
        let entry = run.entry;
        let outcome = entry.script.outcome.clone();
        let id = entry.id.clone();
        let start = json!(["execution_start", {"prompt_id": id, "timestamp": 0}]);
        let (phase, outputs, status) = if interrupted {
            let node = first_worker(&entry.body["prompt"]);
            let message = json!(["execution_interrupted", {"prompt_id": id, "node_id": node.0, "node_type": node.1, "executed": []}]);
            (PromptPhase::Interrupted, json!({}), status("error", false, vec![start, message]))
        } else {
            match &outcome {
                PromptOutcome::Succeed => {
                    let outputs = self.outputs_of(&entry.body["prompt"]);
                    let done = json!(["execution_success", {"prompt_id": id, "timestamp": 0}]);
                    (PromptPhase::Succeeded, outputs, status("success", true, vec![start, done]))
                }
                PromptOutcome::NoOutput => {
                    let done = json!(["execution_success", {"prompt_id": id, "timestamp": 0}]);
                    (PromptPhase::NoOutput, json!({}), status("success", true, vec![start, done]))
                }
                PromptOutcome::Fail(message) => {
                    let node = first_worker(&entry.body["prompt"]);
                    let error = json!(["execution_error", {
                        "prompt_id": id, "node_id": node.0, "node_type": node.1, "executed": [],
                        "exception_message": message, "exception_type": "RuntimeError",
                        "traceback": ["  File \"execution.py\", line 1\n"], "current_inputs": {}, "current_outputs": []
                    }]);
                    (PromptPhase::Failed, json!({}), status("error", false, vec![start, error]))
                }
                PromptOutcome::NeverFinish => {
                    // Only an interrupt ends it: put it back.
                    self.running = Some(Running { entry, started: run_started });
                    return;
                }
            }
        };
        let client_id = entry.body.get("client_id").cloned().unwrap_or(Value::Null);
        let record = json!({
            "prompt": [entry.number, id, entry.body["prompt"], {"client_id": client_id}, output_nodes(&entry.body["prompt"])],
            "outputs": outputs,
            "status": status,
            "meta": {},
        });
        self.history.insert(id.clone(), record);
        self.phases.insert(id, phase);
        if let Some(next) = self.pending.pop_front() {
            let started = at.max(next.queued_at);
            self.phases.insert(next.id.clone(), PromptPhase::Running);
            self.running = Some(Running { entry: next, started });
        }
    }

    /// One image per output node, registered for `/view`.
    fn outputs_of(&mut self, prompt: &Value) -> Value {
        let mut outputs = Map::new();
        let Some(nodes) = prompt.as_object() else { return Value::Object(outputs) };
        for (id, node) in nodes {
            let class = node.get("class_type").and_then(Value::as_str).unwrap_or("");
            let Some(kind) = output_kind(class) else { continue };
            let prefix = node
                .get("inputs")
                .and_then(|i| i.get("filename_prefix"))
                .and_then(Value::as_str)
                .unwrap_or("ComfyUI");
            self.next_file += 1;
            let filename = format!("{prefix}_{:05}_.png", self.next_file);
            self.outputs.insert((filename.clone(), String::new(), kind.to_owned()));
            outputs.insert(
                id.clone(),
                json!({"images": [{"filename": filename, "subfolder": "", "type": kind}]}),
            );
        }
        Value::Object(outputs)
    }

    /// The queue as `GET /queue` shows it.
    pub(crate) fn queue_json(&self) -> Value {
        let item = |e: &Entry| json!([e.number, e.id, e.body["prompt"], {"client_id": e.body.get("client_id")}, output_nodes(&e.body["prompt"])]);
        json!({
            "queue_running": self.running.iter().map(|r| item(&r.entry)).collect::<Vec<_>>(),
            "queue_pending": self.pending.iter().map(item).collect::<Vec<_>>(),
        })
    }

    /// The next prompt's script: the FIFO first, then the default.
    pub(crate) fn take_script(&mut self) -> PromptScript {
        self.scripts.pop_front().unwrap_or_else(|| self.default_script.clone())
    }
}

fn status(status_str: &str, completed: bool, messages: Vec<Value>) -> Value {
    json!({"status_str": status_str, "completed": completed, "messages": messages})
}

/// Ids of the output nodes of a workflow.
pub(crate) fn output_nodes(prompt: &Value) -> Vec<String> {
    prompt
        .as_object()
        .map(|nodes| {
            nodes
                .iter()
                .filter(|(_, n)| {
                    output_kind(n.get("class_type").and_then(Value::as_str).unwrap_or("")).is_some()
                })
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The node a failure is blamed on: the first that is not a loader.
fn first_worker(prompt: &Value) -> (String, String) {
    prompt
        .as_object()
        .and_then(|nodes| {
            nodes.iter().find_map(|(id, n)| {
                let class = n.get("class_type").and_then(Value::as_str)?;
                (class != "LoadImage").then(|| (id.clone(), class.to_owned()))
            })
        })
        .unwrap_or_else(|| ("1".into(), "Unknown".into()))
}
