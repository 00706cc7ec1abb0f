//! Where a prompt is, read from `/history` and `/queue`.
//!
//! ComfyUI has no per-prompt status endpoint: a prompt is in the queue (pending or
//! running) until it ends, then it is in the history. [`PromptState`] is that answer in one
//! type, and [`PromptOutcome::from_history`] reads how a finished prompt ended.

use super::wire::{HistoryEntry, ImageRef};

/// Where a prompt is on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptState {
    /// Waiting in the server's queue.
    Pending,
    /// Being executed.
    Running,
    /// In the history: it ended.
    Finished(PromptOutcome),
    /// Neither queued nor in the history: deleted, or the server restarted (its queue and
    /// history live in memory).
    Unknown,
}

/// How a finished prompt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptOutcome {
    /// Ran to the end; the images of its output nodes, files saved by SaveImage first.
    Succeeded(Vec<ImageRef>),
    /// A node raised: its `exception_message`, with the node that raised it.
    Failed(String),
    /// Stopped by `/interrupt`.
    Interrupted,
    /// Ran to the end without producing any image.
    NoOutput,
}

impl PromptOutcome {
    /// Reads a history entry: the status decides, then the outputs.
    pub fn from_history(entry: &HistoryEntry) -> Self {
        if let Some(status) = &entry.status {
            if let Some(error) = status.message("execution_error") {
                let text = |key: &str| error.get(key).and_then(|v| v.as_str()).map(str::trim).unwrap_or("");
                let message = text("exception_message");
                let message = if message.is_empty() { "the workflow failed" } else { message };
                return Self::Failed(match (text("node_id"), text("node_type")) {
                    ("", "") => message.to_owned(),
                    (id, "") => format!("{message} (node {id})"),
                    (id, kind) => format!("{message} (node {id}, {kind})"),
                });
            }
            if status.message("execution_interrupted").is_some() {
                return Self::Interrupted;
            }
            if status.status_str.as_deref() == Some("error") {
                return Self::Failed("the workflow failed without a reason".to_owned());
            }
        }
        let images = output_images(entry);
        if images.is_empty() { Self::NoOutput } else { Self::Succeeded(images) }
    }
}

/// Every image of every output node, saved files (`output`) before previews (`temp`), each
/// group in node-id order.
fn output_images(entry: &HistoryEntry) -> Vec<ImageRef> {
    let all = entry.outputs.values().flat_map(|o| o.images.iter());
    let (mut saved, previews): (Vec<ImageRef>, Vec<ImageRef>) =
        all.cloned().partition(|image| image.kind == "output");
    saved.extend(previews);
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(value: serde_json::Value) -> HistoryEntry {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn success_lists_saved_images_before_previews() {
        let e = entry(json!({
            "outputs": {
                "10": {"images": [{"filename": "prev.png", "subfolder": "", "type": "temp"}]},
                "9": {"images": [{"filename": "saved.png", "subfolder": "x", "type": "output"}]}
            },
            "status": {"status_str": "success", "completed": true, "messages": []}
        }));
        let PromptOutcome::Succeeded(images) = PromptOutcome::from_history(&e) else { panic!() };
        assert_eq!(images[0].filename, "saved.png");
        assert_eq!(images[1].filename, "prev.png");
    }

    #[test]
    fn an_execution_error_carries_its_exception_message() {
        let e = entry(json!({
            "outputs": {},
            "status": {"status_str": "error", "completed": false, "messages": [
                ["execution_start", {"prompt_id": "p"}],
                ["execution_error", {"prompt_id": "p", "node_id": "5", "node_type": "KSampler",
                  "exception_message": "CUDA out of memory\n", "exception_type": "torch.OutOfMemoryError",
                  "traceback": [], "current_inputs": {}, "current_outputs": []}]
            ]}
        }));
        assert_eq!(
            PromptOutcome::from_history(&e),
            PromptOutcome::Failed("CUDA out of memory (node 5, KSampler)".into())
        );
    }

    #[test]
    fn interrupts_errors_without_reason_and_empty_successes() {
        let interrupted = entry(json!({"outputs": {}, "status": {"status_str": "error", "completed": false,
            "messages": [["execution_interrupted", {"prompt_id": "p", "node_id": "5", "node_type": "KSampler", "executed": []}]]}}));
        assert_eq!(PromptOutcome::from_history(&interrupted), PromptOutcome::Interrupted);
        let bare_error = entry(
            json!({"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": []}}),
        );
        assert!(matches!(PromptOutcome::from_history(&bare_error), PromptOutcome::Failed(_)));
        let empty = entry(
            json!({"outputs": {"9": {"text": ["x"]}}, "status": {"status_str": "success", "completed": true, "messages": []}}),
        );
        assert_eq!(PromptOutcome::from_history(&empty), PromptOutcome::NoOutput);
        // Old servers: no status at all.
        let old = entry(json!({"outputs": {"9": {"images": [{"filename": "a.png"}]}}}));
        let PromptOutcome::Succeeded(images) = PromptOutcome::from_history(&old) else { panic!() };
        assert_eq!(images[0].kind, "output");
    }
}
