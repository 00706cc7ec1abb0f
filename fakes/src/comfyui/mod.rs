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
use state::State;

/// State shared by the handlers and the test-facing handle.
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state; a panic elsewhere never poisons the fake for later calls.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
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
        let shared = Arc::new(Shared { state: Mutex::new(State::new()) });
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

    fn lock(&self) -> MutexGuard<'_, State> {
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
