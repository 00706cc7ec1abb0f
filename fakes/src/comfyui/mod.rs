//! Fake ComfyUI: the HTTP API of ComfyUI's `server.py` on a loopback server.
//!
//! It exists so the ComfyUI client and engine can be tested end to end — uploads, prompt
//! validation (400 with `node_errors`), the one-at-a-time execution queue, history with
//! `execution_error`, deletes of pending prompts and interrupts of the running one — with
//! scripted timing and without a GPU. Start it with [`FakeComfyUi::start`] and point the
//! client at [`FakeComfyUi::url`].

mod routes;
mod script;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

pub use script::{PromptOutcome, PromptScript};
pub use state::{Endpoint, PromptPhase, PromptRecord, UploadRecord};

use crate::server::ServerHandle;
use state::ComfyState;

/// ComfyState shared by the handlers and the test-facing handle.
pub(crate) struct Shared {
    state: Mutex<ComfyState>,
}

impl Shared {
    /// Locks the state; a panic elsewhere never poisons the fake for later calls.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ComfyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake ComfyUI server. Cheap to clone; the server stops when the last clone is
/// dropped or [`FakeComfyUi::shutdown`] is called.
#[derive(Clone)]
pub struct FakeComfyUi {
    shared: Arc<Shared>,
    server: Arc<ServerHandle>,
    url: String,
}

impl std::fmt::Debug for FakeComfyUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeComfyUi").field("url", &self.url).finish()
    }
}

impl FakeComfyUi {
    /// Starts a fake on `127.0.0.1:<ephemeral>` whose prompts run 50 ms and succeed.
    /// Must be called inside a tokio runtime.
    pub async fn start() -> FakeComfyUi {
        let (listener, addr) = ServerHandle::bind().await;
        let url = format!("http://{addr}");
        let (stop_tx, _stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared { state: Mutex::new(ComfyState::new()) });
        let router = routes::router(shared.clone());
        let server = ServerHandle::serve(listener, router, stop_tx);
        FakeComfyUi { shared, server: Arc::new(server), url }
    }

    /// Base URL, without a trailing slash (e.g. `http://127.0.0.1:40123`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops the server: later connections are refused (a server that went down).
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    fn lock(&self) -> MutexGuard<'_, ComfyState> {
        let mut state = self.shared.lock();
        state.advance(Instant::now());
        state
    }

    // ---- behaviour ------------------------------------------------------------------

    /// The script of every prompt queued while the FIFO of [`FakeComfyUi::push_script`] is
    /// empty.
    pub fn set_default_script(&self, script: PromptScript) {
        self.lock().default_script = script;
    }

    /// Queues a script for the next accepted prompt (first in, first out).
    pub fn push_script(&self, script: PromptScript) {
        self.lock().scripts.push_back(script);
    }

    /// Makes `class_type` a known node (the fake knows the core image nodes only).
    pub fn add_node_class(&self, class_type: &str) {
        self.lock().node_classes.insert(class_type.to_owned());
    }

    /// The bytes `/view` serves for every output (default: a 64x48 PNG).
    pub fn set_result_image(&self, bytes: Vec<u8>) {
        self.lock().result_image = Bytes::from(bytes);
    }

    /// The next `times` calls to `endpoint` answer HTTP `status` instead.
    pub fn fail_next(&self, endpoint: Endpoint, status: u16, times: usize) {
        self.lock().faults.entry(endpoint).or_default().extend(std::iter::repeat_n(status, times));
    }

    // ---- observation ----------------------------------------------------------------

    /// Every upload received, in order.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.lock().uploads.clone()
    }

    /// Every accepted prompt, in order, with the JSON received.
    pub fn prompts(&self) -> Vec<PromptRecord> {
        self.lock().prompts.clone()
    }

    /// Prompt ids named in `POST /queue {"delete": [...]}`, in order.
    pub fn deletes(&self) -> Vec<String> {
        self.lock().deletes.clone()
    }

    /// The `prompt_id` of every `POST /interrupt` (`None`: a global interrupt).
    pub fn interrupts(&self) -> Vec<Option<String>> {
        self.lock().interrupts.clone()
    }

    /// Where a prompt is now.
    pub fn phase(&self, prompt_id: &str) -> Option<PromptPhase> {
        self.lock().phases.get(prompt_id).copied()
    }

    /// Calls made to `endpoint`, faulty ones included.
    pub fn calls(&self, endpoint: Endpoint) -> usize {
        self.lock().calls.get(&endpoint).copied().unwrap_or(0)
    }

    /// Polls `cond` every 10 ms until it holds (true) or `timeout` passes (false).
    pub async fn wait_until(&self, mut cond: impl FnMut(&FakeComfyUi) -> bool, timeout: Duration) -> bool {
        crate::wait::poll_until(|| cond(self), timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn workflow(image: &str) -> Value {
        json!({
            "2": {"class_type": "LoadImage", "inputs": {"image": image}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t"}}
        })
    }

    async fn upload(http: &reqwest::Client, url: &str, name: &str) -> Value {
        let part = reqwest::multipart::Part::bytes(vec![1, 2, 3]).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new()
            .part("image", part)
            .text("type", "input")
            .text("overwrite", "true");
        http.post(format!("{url}/upload/image")).multipart(form).send().await.unwrap().json().await.unwrap()
    }

    async fn queue_prompt(http: &reqwest::Client, url: &str, prompt: &Value) -> (u16, Value) {
        let r = http
            .post(format!("{url}/prompt"))
            .json(&json!({"prompt": prompt, "client_id": "c"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    #[tokio::test]
    async fn prompts_run_one_at_a_time_and_land_in_history() {
        let fake = FakeComfyUi::start().await;
        fake.set_default_script(PromptScript::succeed(Duration::from_millis(150)));
        let (http, url) = (reqwest::Client::new(), fake.url());
        let up = upload(&http, &url, "a.png").await;
        assert_eq!(up, json!({"name": "a.png", "subfolder": "", "type": "input"}));
        let (s1, a) = queue_prompt(&http, &url, &workflow("a.png")).await;
        let (s2, b) = queue_prompt(&http, &url, &workflow("a.png")).await;
        assert_eq!((s1, s2), (200, 200));
        let (a, b) =
            (a["prompt_id"].as_str().unwrap().to_owned(), b["prompt_id"].as_str().unwrap().to_owned());
        let queue: Value = http.get(format!("{url}/queue")).send().await.unwrap().json().await.unwrap();
        assert_eq!(queue["queue_running"][0][1], json!(a));
        assert_eq!(queue["queue_pending"][0][1], json!(b));
        let history: Value =
            http.get(format!("{url}/history/{a}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(history, json!({}));
        assert!(
            fake.wait_until(|f| f.phase(&b) == Some(PromptPhase::Succeeded), Duration::from_secs(5)).await
        );
        let history: Value =
            http.get(format!("{url}/history/{b}")).send().await.unwrap().json().await.unwrap();
        let image = &history[&b]["outputs"]["9"]["images"][0];
        assert_eq!(history[&b]["status"]["status_str"], "success");
        let view = http
            .get(format!("{url}/view"))
            .query(&[
                ("filename", image["filename"].as_str().unwrap()),
                ("subfolder", ""),
                ("type", "output"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(view.status().as_u16(), 200);
        assert!(view.bytes().await.unwrap().starts_with(&[0x89, b'P', b'N', b'G']));
    }

    #[tokio::test]
    async fn validation_failures_answer_400_like_comfyui() {
        let fake = FakeComfyUi::start().await;
        let (http, url) = (reqwest::Client::new(), fake.url());
        let (status, body) = queue_prompt(&http, &url, &workflow("never-uploaded.png")).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["type"], "prompt_outputs_failed_validation");
        assert_eq!(body["node_errors"]["2"]["errors"][0]["type"], "value_not_in_list");
        let (status, body) =
            queue_prompt(&http, &url, &json!({"1": {"class_type": "Nope", "inputs": {}}})).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["type"], "invalid_prompt");
        assert!(fake.prompts().is_empty());
    }

    #[tokio::test]
    async fn delete_and_interrupt_are_recorded_and_applied() {
        let fake = FakeComfyUi::start().await;
        fake.set_default_script(PromptScript::never_finish());
        fake.push_script(PromptScript::never_finish());
        fake.push_script(PromptScript::fail(Duration::from_millis(10), "boom"));
        let (http, url) = (reqwest::Client::new(), fake.url());
        upload(&http, &url, "a.png").await;
        let ids: Vec<String> = {
            let mut ids = Vec::new();
            for _ in 0..3 {
                let (_, body) = queue_prompt(&http, &url, &workflow("a.png")).await;
                ids.push(body["prompt_id"].as_str().unwrap().to_owned());
            }
            ids
        };
        http.post(format!("{url}/queue")).json(&json!({"delete": [ids[2]]})).send().await.unwrap();
        assert_eq!(fake.phase(&ids[2]), Some(PromptPhase::Deleted));
        // An interrupt for a prompt that is not running changes nothing.
        http.post(format!("{url}/interrupt")).json(&json!({"prompt_id": ids[1]})).send().await.unwrap();
        assert_eq!(fake.phase(&ids[0]), Some(PromptPhase::Running));
        http.post(format!("{url}/interrupt")).json(&json!({"prompt_id": ids[0]})).send().await.unwrap();
        assert_eq!(fake.phase(&ids[0]), Some(PromptPhase::Interrupted));
        assert!(
            fake.wait_until(|f| f.phase(&ids[1]) == Some(PromptPhase::Failed), Duration::from_secs(5)).await
        );
        let history: Value =
            http.get(format!("{url}/history/{}", ids[1])).send().await.unwrap().json().await.unwrap();
        let messages = &history[&ids[1]]["status"]["messages"];
        assert_eq!(messages[1][0], "execution_error");
        assert_eq!(messages[1][1]["exception_message"], "boom");
        assert_eq!(fake.deletes(), vec![ids[2].clone()]);
        assert_eq!(fake.interrupts(), vec![Some(ids[1].clone()), Some(ids[0].clone())]);
    }
}
