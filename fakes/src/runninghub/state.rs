//! The fake RunningHub's bookkeeping: accounts, uploads, tasks, faults and counters.
//!
//! Everything lives in one plain struct behind a `std::sync::Mutex`: every request does a
//! few hash lookups under the lock and nothing else, which keeps the fake far above the
//! ~2000 requests/s the benchmarks need. Task progress is never "ticked": a task's phase is
//! computed from `Instant::now()` against its scripted end, so timing is exact.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::faults::{Endpoint, Fault};
use super::script::{Outcome, TaskScript};
use crate::image_bytes::solid_png;
use crate::rng::SplitMix64;

/// One `nodeInfoList` entry of a create call, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInput {
    /// `nodeId`
    pub node_id: String,
    /// `fieldName`
    pub field_name: String,
    /// `fieldValue` (as a string; numbers are rendered with `to_string`)
    pub field_value: String,
}

/// How a task ended, as the fake sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    /// Finished with an output image.
    Succeeded,
    /// Finished with 805.
    Failed,
    /// Finished with `data: []`.
    NoOutput,
    /// Cancelled through `/task/openapi/cancel` before it finished.
    Cancelled,
}

/// A snapshot of one task, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The 19-digit task id.
    pub id: String,
    /// The account that created it.
    pub api_key: String,
    /// `workflowId` of the create call ("" for an AI app's task).
    pub workflow_id: String,
    /// `webappId` of an AI app's run (legacy or v2), `None` for a workflow's task.
    pub app_id: Option<String>,
    /// Whether the task was started through the v2 API (Bearer key).
    pub v2: bool,
    /// `nodeInfoList` of the create call.
    pub node_inputs: Vec<NodeInput>,
    /// `webhookUrl` of the create call, if any.
    pub webhook_url: Option<String>,
    /// When the create call was accepted.
    pub created_at: Instant,
    /// When it ended (scripted end or cancel), if that moment has passed.
    pub ended_at: Option<Instant>,
    /// How it ended, if it has.
    pub end: Option<TaskEnd>,
    /// The script it follows.
    pub script: TaskScript,
}

/// A webhook POST the fake made (or tried to make).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// The task the callback is about.
    pub task_id: String,
    /// Where it was POSTed.
    pub url: String,
    /// 1 for the first try, up to 3.
    pub attempt: u32,
    /// HTTP status answered by the receiver, `None` on a connection error.
    pub status: Option<u16>,
    /// When the POST completed.
    pub at: Instant,
    /// The JSON body that was sent.
    pub body: serde_json::Value,
}

/// Where a task is in its life at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    Running,
    Done(TaskEnd),
}

pub(crate) struct Account {
    pub(crate) max_concurrent: usize,
    pub(crate) error: Option<(i64, String)>,
    pub(crate) uploads: usize,
    pub(crate) max_running_seen: usize,
    pub(crate) over_limit_attempts: usize,
    pub(crate) remain_coins: u64,
    /// When set, only these workflow ids exist for the account (else 380).
    pub(crate) workflows: Option<HashSet<String>>,
    /// When set, only these AI app ids exist for the account (else WEBAPP_NOT_EXISTS).
    pub(crate) apps: Option<HashSet<String>>,
}

pub(crate) struct Upload {
    pub(crate) api_key: String,
    pub(crate) bytes: Bytes,
}

pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) api_key: String,
    pub(crate) workflow_id: String,
    pub(crate) app_id: Option<String>,
    pub(crate) v2: bool,
    pub(crate) node_inputs: Vec<NodeInput>,
    pub(crate) webhook_url: Option<String>,
    pub(crate) created_at: Instant,
    pub(crate) script: TaskScript,
    pub(crate) cancelled_at: Option<Instant>,
}

impl Task {
    /// The scripted end instant, ignoring cancellation.
    pub(crate) fn natural_end(&self) -> Option<Instant> {
        self.script.total().map(|d| self.created_at + d)
    }

    pub(crate) fn phase(&self, now: Instant) -> Phase {
        if self.cancelled_at.is_some() {
            return Phase::Done(TaskEnd::Cancelled);
        }
        if let Some(end) = self.natural_end()
            && now >= end
        {
            return Phase::Done(match self.script.outcome {
                Outcome::Succeed => TaskEnd::Succeeded,
                Outcome::Fail(_) => TaskEnd::Failed,
                Outcome::NoOutput => TaskEnd::NoOutput,
                Outcome::NeverFinish => unreachable!("NeverFinish has no natural end"),
            });
        }
        if now >= self.created_at + self.script.queued_for { Phase::Running } else { Phase::Queued }
    }

    /// The instant it ended, if it has ended by `now`.
    pub(crate) fn ended_at(&self, now: Instant) -> Option<Instant> {
        if let Some(c) = self.cancelled_at {
            return Some(c);
        }
        self.natural_end().filter(|end| now >= *end)
    }

    pub(crate) fn record(&self, now: Instant) -> TaskRecord {
        TaskRecord {
            id: self.id.clone(),
            api_key: self.api_key.clone(),
            workflow_id: self.workflow_id.clone(),
            app_id: self.app_id.clone(),
            v2: self.v2,
            node_inputs: self.node_inputs.clone(),
            webhook_url: self.webhook_url.clone(),
            created_at: self.created_at,
            ended_at: self.ended_at(now),
            end: match self.phase(now) {
                Phase::Done(end) => Some(end),
                _ => None,
            },
            script: self.script.clone(),
        }
    }
}

/// The quirks-mode switch and its seeded generator (kept apart from the rest of the state so
/// answers can be built while a task is borrowed).
pub(crate) struct Quirks {
    pub(crate) on: bool,
    pub(crate) rng: SplitMix64,
}

impl Quirks {
    /// A quirks-mode coin flip; always `false` when quirks are off.
    pub(crate) fn flip(&mut self) -> bool {
        self.on && self.rng.coin()
    }

    /// A quirks-mode choice in `0..n`; always 0 when quirks are off.
    pub(crate) fn pick(&mut self, n: u64) -> u64 {
        if self.on { self.rng.below(n) } else { 0 }
    }
}

/// All mutable state of one fake RunningHub.
pub(crate) struct HubState {
    pub(crate) base_url: String,
    pub(crate) accounts: HashMap<String, Account>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) task_index: HashMap<String, usize>,
    pub(crate) uploads: HashMap<String, Upload>,
    pub(crate) default_script: TaskScript,
    pub(crate) scripts: VecDeque<TaskScript>,
    pub(crate) quirks: Quirks,
    pub(crate) faults: HashMap<Endpoint, VecDeque<Fault>>,
    pub(crate) calls: HashMap<Endpoint, usize>,
    pub(crate) polls: HashMap<String, usize>,
    pub(crate) result_image: Bytes,
    pub(crate) max_upload_bytes: usize,
    pub(crate) webhooks_enabled: bool,
    pub(crate) webhooks: Vec<WebhookDelivery>,
    pub(crate) next_seq: u64,
}

/// First task id: 19 digits like the real ones.
const FIRST_TASK_ID: u64 = 1_910_246_754_753_896_450;

impl HubState {
    pub(crate) fn new(base_url: String) -> Self {
        HubState {
            base_url,
            accounts: HashMap::new(),
            tasks: Vec::new(),
            task_index: HashMap::new(),
            uploads: HashMap::new(),
            default_script: TaskScript::default(),
            scripts: VecDeque::new(),
            quirks: Quirks { on: false, rng: SplitMix64::new(0x5EED) },
            faults: HashMap::new(),
            calls: HashMap::new(),
            polls: HashMap::new(),
            result_image: Bytes::from(solid_png(64, 48, [200, 120, 40])),
            max_upload_bytes: 30 * 1024 * 1024,
            webhooks_enabled: true,
            webhooks: Vec::new(),
            next_seq: 0,
        }
    }

    /// Counts the call and pops the next scripted fault of `endpoint`, if any.
    pub(crate) fn enter(&mut self, endpoint: Endpoint) -> Option<Fault> {
        *self.calls.entry(endpoint).or_default() += 1;
        self.faults.get_mut(&endpoint).and_then(VecDeque::pop_front)
    }

    /// A fresh sequence number (task ids, file names, client ids).
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn new_task_id(&mut self) -> String {
        // Spread ids out a little so they don't look consecutive; still 19 digits.
        (FIRST_TASK_ID + self.next_seq() * 7_919).to_string()
    }

    /// Unfinished tasks of `key` at `now` (queued or running).
    pub(crate) fn running(&self, key: &str, now: Instant) -> usize {
        self.tasks.iter().filter(|t| t.api_key == key && !matches!(t.phase(now), Phase::Done(_))).count()
    }

    pub(crate) fn task(&self, id: &str) -> Option<&Task> {
        self.task_index.get(id).map(|&i| &self.tasks[i])
    }

    pub(crate) fn task_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.task_index.get(id).copied().map(move |i| &mut self.tasks[i])
    }

    /// The business error a call with `key` gets before anything else, if any.
    pub(crate) fn auth_error(&self, key: Option<&str>) -> Option<(i64, String)> {
        let Some(account) = key.and_then(|k| self.accounts.get(k)) else {
            return Some((802, "APIKEY_UNAUTHORIZED".to_owned()));
        };
        account.error.clone()
    }

    /// The next create's script: the FIFO first, then the default.
    pub(crate) fn take_script(&mut self) -> TaskScript {
        self.scripts.pop_front().unwrap_or_else(|| self.default_script.clone())
    }
}

/// Rounds a duration to whole seconds the way `taskCostTime` reports it.
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs_f64().round() as u64
}
