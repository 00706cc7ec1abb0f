//! Fake RunningHub: the legacy "openapi" of runninghub-api.md on a loopback HTTP server,
//! with its AI app runs and the v2 API (Bearer key, flat answers) of
//! `docs/runninghub-modes.md`: a client that sends the key, the app id or the header
//! wrongly is refused as the real service refuses it.
//!
//! It exists so the RunningHub client and the job scheduler can be tested end to end —
//! uploads, task creation, the concurrency limit (421), every outputs variant (813, 804,
//! 805, empty), cancels, webhooks, faults — with exact, scriptable timing and without an
//! account or network. Start it with [`FakeRunningHub::start`] and point the client's base
//! URL at [`FakeRunningHub::url`].

mod faults;
mod routes;
mod script;
mod state;
mod webhook;
mod wire;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

pub use faults::{Endpoint, Fault};
pub use script::{Outcome, TaskScript};
pub use state::{NodeInput, TaskEnd, TaskRecord, WebhookDelivery};

use crate::rng::SplitMix64;
use crate::server::ServerHandle;
use state::{Account, HubState, Phase};

/// HubState shared by the handlers, the webhook timers and the test-facing handle.
pub(crate) struct Shared {
    state: Mutex<HubState>,
    stop: watch::Receiver<bool>,
    http: reqwest::Client,
}

impl Shared {
    /// Locks the state; a panic elsewhere never poisons the fake for later calls.
    pub(crate) fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake RunningHub server. Cheap to clone; the server stops when the last clone
/// is dropped or [`FakeRunningHub::shutdown`] is called.
#[derive(Clone)]
pub struct FakeRunningHub {
    shared: Arc<Shared>,
    server: Arc<ServerHandle>,
    url: String,
}

impl std::fmt::Debug for FakeRunningHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRunningHub").field("url", &self.url).finish()
    }
}

impl FakeRunningHub {
    /// Starts a fake on `127.0.0.1:<ephemeral>` with no accounts and the default script
    /// (runs 100 ms, succeeds). Must be called inside a tokio runtime.
    pub async fn start() -> FakeRunningHub {
        let (listener, addr) = ServerHandle::bind().await;
        let url = format!("http://{addr}");
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(HubState::new(url.clone())),
            stop: stop_rx,
            http: reqwest::Client::new(),
        });
        let router = routes::router(shared.clone());
        let server = ServerHandle::serve(listener, router, stop_tx);
        FakeRunningHub { shared, server: Arc::new(server), url }
    }

    /// Base URL, without a trailing slash (e.g. `http://127.0.0.1:40123`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops the server; held requests (long polls, `Hang`) are released.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.shared.lock()
    }

    // ---- accounts -------------------------------------------------------------------

    /// Registers an account that may run `max_concurrent` unfinished tasks at once
    /// (re-adding a key updates its limit and keeps its counters).
    pub fn add_account(&self, api_key: &str, max_concurrent: usize) {
        let mut state = self.lock();
        state.accounts.entry(api_key.to_owned()).and_modify(|a| a.max_concurrent = max_concurrent).or_insert(
            Account {
                max_concurrent,
                error: None,
                uploads: 0,
                max_running_seen: 0,
                over_limit_attempts: 0,
                remain_coins: 177_814,
                workflows: None,
                apps: None,
            },
        );
    }

    /// Makes every call made with `api_key` answer `{"code":code,"msg":msg,"data":null}`
    /// (e.g. 416 wallet empty, 801 key not allowed).
    pub fn set_account_error(&self, api_key: &str, code: i64, msg: &str) {
        if let Some(a) = self.lock().accounts.get_mut(api_key) {
            a.error = Some((code, msg.to_owned()));
        }
    }

    /// Undoes [`FakeRunningHub::set_account_error`].
    pub fn clear_account_error(&self, api_key: &str) {
        if let Some(a) = self.lock().accounts.get_mut(api_key) {
            a.error = None;
        }
    }

    /// Restricts the workflow ids that exist for `api_key`; others answer 380
    /// WORKFLOW_NOT_EXISTS. By default any non-empty id is accepted.
    pub fn set_workflows(&self, api_key: &str, workflow_ids: &[&str]) {
        if let Some(a) = self.lock().accounts.get_mut(api_key) {
            a.workflows = Some(workflow_ids.iter().map(|s| s.to_string()).collect());
        }
    }

    /// Restricts the AI app ids that exist for `api_key` (legacy runs answer 380
    /// WEBAPP_NOT_EXISTS, v2 runs errorCode "404"). By default any non-empty id is accepted.
    pub fn set_apps(&self, api_key: &str, app_ids: &[&str]) {
        if let Some(a) = self.lock().accounts.get_mut(api_key) {
            a.apps = Some(app_ids.iter().map(|s| s.to_string()).collect());
        }
    }

    /// Sets the balance reported by accountStatus (default 177814).
    pub fn set_remain_coins(&self, api_key: &str, coins: u64) {
        if let Some(a) = self.lock().accounts.get_mut(api_key) {
            a.remain_coins = coins;
        }
    }

    // ---- behaviour ------------------------------------------------------------------

    /// The script of every task created while the FIFO of [`FakeRunningHub::push_script`]
    /// is empty.
    pub fn set_default_script(&self, script: TaskScript) {
        self.lock().default_script = script;
    }

    /// Queues a script for the next successful create (first in, first out).
    pub fn push_script(&self, script: TaskScript) {
        self.lock().scripts.push_back(script);
    }

    /// Turns on random (seeded) use of the documented wire variants.
    pub fn set_quirks(&self, on: bool) {
        self.lock().quirks.on = on;
    }

    /// Reseeds the quirks generator (the default seed is fixed, so runs are reproducible).
    pub fn set_seed(&self, seed: u64) {
        self.lock().quirks.rng = SplitMix64::new(seed);
    }

    /// The bytes served for every successful task's output (default: a 64x48 PNG).
    pub fn set_result_image(&self, bytes: Vec<u8>) {
        self.lock().result_image = Bytes::from(bytes);
    }

    /// Uploads above this size answer 809 APIKEY_FILE_SIZE_EXCEEDED (default 30 MB).
    pub fn set_max_upload_bytes(&self, max: usize) {
        self.lock().max_upload_bytes = max;
    }

    /// When off, TASK_END callbacks are silently not sent (a lost webhook).
    pub fn set_webhooks_enabled(&self, on: bool) {
        self.lock().webhooks_enabled = on;
    }

    /// The next `times` calls to `endpoint` get `fault` instead of their answer. Faulty
    /// create calls create no task.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: usize) {
        let mut state = self.lock();
        let queue = state.faults.entry(endpoint).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    // ---- observation ----------------------------------------------------------------

    /// Every task created so far, in creation order.
    pub fn tasks(&self) -> Vec<TaskRecord> {
        let now = Instant::now();
        self.lock().tasks.iter().map(|t| t.record(now)).collect()
    }

    /// One task by id.
    pub fn task(&self, task_id: &str) -> Option<TaskRecord> {
        self.lock().task(task_id).map(|t| t.record(Instant::now()))
    }

    /// Unfinished (queued or running) tasks of `api_key` right now.
    pub fn running(&self, api_key: &str) -> usize {
        self.lock().running(api_key, Instant::now())
    }

    /// The highest number of simultaneously unfinished tasks `api_key` ever had.
    pub fn max_running_seen(&self, api_key: &str) -> usize {
        self.lock().accounts.get(api_key).map_or(0, |a| a.max_running_seen)
    }

    /// How many creates of `api_key` were refused with 421 (a well-behaved client whose
    /// limit matches the account's causes none).
    pub fn over_limit_attempts(&self, api_key: &str) -> usize {
        self.lock().accounts.get(api_key).map_or(0, |a| a.over_limit_attempts)
    }

    /// Calls made to `endpoint`, faulty ones included.
    pub fn calls(&self, endpoint: Endpoint) -> usize {
        self.lock().calls.get(&endpoint).copied().unwrap_or(0)
    }

    /// Successful outputs polls of one task.
    pub fn polls(&self, task_id: &str) -> usize {
        self.lock().polls.get(task_id).copied().unwrap_or(0)
    }

    /// Successful uploads made with `api_key`.
    pub fn uploads(&self, api_key: &str) -> usize {
        self.lock().accounts.get(api_key).map_or(0, |a| a.uploads)
    }

    /// The bytes uploaded under a `fileName` the fake returned (e.g. `api/….png`).
    pub fn uploaded_file(&self, file_name: &str) -> Option<Vec<u8>> {
        self.lock().uploads.get(file_name).map(|u| u.bytes.to_vec())
    }

    /// Ids of tasks cancelled before they finished, in creation order.
    pub fn cancelled_tasks(&self) -> Vec<String> {
        let now = Instant::now();
        self.lock()
            .tasks
            .iter()
            .filter(|t| t.phase(now) == Phase::Done(TaskEnd::Cancelled))
            .map(|t| t.id.clone())
            .collect()
    }

    /// The instant the fake considers `task_id` finished (its scripted end, or the cancel),
    /// once that instant has passed. Used to measure the latency the client adds.
    pub fn finished_at(&self, task_id: &str) -> Option<Instant> {
        self.lock().task(task_id).and_then(|t| t.ended_at(Instant::now()))
    }

    /// Every webhook POST made so far.
    pub fn webhooks(&self) -> Vec<WebhookDelivery> {
        self.lock().webhooks.clone()
    }

    /// Polls `cond` every 10 ms until it holds (true) or `timeout` passes (false).
    pub async fn wait_until(&self, mut cond: impl FnMut(&FakeRunningHub) -> bool, timeout: Duration) -> bool {
        crate::wait::poll_until(|| cond(self), timeout).await
    }
}
