//! The RunningHub engine: runs a job as a task of the product workflow on one account.
//!
//! Each configured account is one lane. A run uploads both images, creates the task,
//! reports it to the runner (so a restart resumes it instead of paying for a second one),
//! polls `outputs` until the task ends, frees the account's slot and downloads the result.
//! A webhook only wakes the poller early; `outputs` stays the source of truth.
//! Whether the task runs the account's workflow or its AI app, through the legacy API or
//! v2, is the client's business ([`crate::runninghub_api::ApiMode`]): every step here is
//! the same in every mode.
//!
//! A create whose answer was lost (a timeout, a 502 or 504 after the body left, or a
//! restart in between) is never repeated blindly: once at most, and only when the
//! account's running-task count shows room for a second task even if the first exists.
//! Otherwise the run waits for the lost task's callback, which names the job in its URL
//! (see [`ended`]); without webhooks it fails, saying why. When both tasks exist, the one
//! that ends first gives the result and the other is cancelled.

mod ended;

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use image::{DynamicImage, RgbImage};
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, field, info, info_span, warn};

use self::ended::{EndedTasks, Listener};
use super::{Engine, EngineError, LaneSpec, RunContext};
use crate::input_image::{ImageLimits, InputImage};
use crate::job::{FailReason, JobId, JobOutput, LaneId, RemoteTaskId};
use crate::output::Looks;
use crate::runninghub_api::{
    ErrorAction, NodeInput, RhError, RunningHubClient, Target, TaskOutput, TaskProgress, WebhookEvent,
};
use crate::secret::Secret;

/// The shortest gap between two polls that webhooks brought forward.
const MIN_EARLY_POLL_GAP: Duration = Duration::from_millis(250);
/// Consecutive failed polls after which the provider counts as unavailable.
const MAX_POLL_ERRORS: u32 = 10;
/// Bound of the best-effort provider cancel when a run is cancelled or abandoned.
const CANCEL_BOUND: Duration = Duration::from_secs(5);
/// How many times an upload refused as too large (809) is shrunk and sent again.
const MAX_SHRINKS: u32 = 2;
/// JPEG quality of re-encoded uploads.
const JPEG_QUALITY: u8 = 90;
/// Creates of one job whose answer may be lost: the first, and one more at most.
const MAX_UNCONFIRMED_CREATES: u32 = 2;

/// One RunningHub account: a key, its concurrency and the workflow it runs.
#[derive(Clone, Debug)]
pub struct RunningHubAccount {
    /// Account number N (`RUNNINGHUB_API_KEY_N`), used as the lane id.
    pub lane: LaneId,
    pub api_key: Secret,
    /// Tasks the account may run at once (`RUNNINGHUB_MAX_JOBS_N`).
    pub max_jobs: usize,
    pub workflow_id: String,
    /// The published AI app the account runs instead of the workflow
    /// (`RUNNINGHUB_APP_ID_N`; `None` in workflow mode).
    pub app_id: Option<String>,
}

/// How the product workflow is driven; the same for every account.
#[derive(Clone, Debug)]
pub struct RunningHubSettings {
    /// LoadImage node of the product (`WORKFLOW_NODE_PRODUCT_PRODUCT_IMAGE`).
    pub product_node: String,
    /// LoadImage node of the background (`WORKFLOW_NODE_PRODUCT_BACKGROUND_IMAGE`).
    pub background_node: String,
    /// Delay between result polls; the first poll comes one interval after create.
    pub poll_interval: Duration,
    /// Sent with each task so RunningHub calls back on completion.
    pub webhook_url: Option<Secret>,
    /// Larger inputs are downscaled and re-encoded before upload.
    pub max_upload_bytes: usize,
    /// Larger results are refused.
    pub max_result_bytes: usize,
    /// The workflow's seed input (`RUNNINGHUB_SEED_NODE`, `RUNNINGHUB_SEED_FIELD`): set to
    /// each job's own seed so that variants of one request differ; unset, the workflow's
    /// saved seed is used.
    pub seed_node: Option<SeedNode>,
}

/// A node field of the workflow that takes the task's seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedNode {
    pub node_id: String,
    pub field_name: String,
}

/// Seeds stay below 2^53: JSON readers that go through doubles keep them exact.
const MAX_SEED: u64 = (1 << 53) - 1;

/// A fresh seed in the range every workflow accepts.
pub fn random_seed() -> u64 {
    rand::random::<u64>() & MAX_SEED
}

impl Default for RunningHubSettings {
    fn default() -> Self {
        Self {
            product_node: "2".into(),
            background_node: "32".into(),
            poll_interval: Duration::from_secs(2),
            webhook_url: None,
            max_upload_bytes: 10 * 1024 * 1024,
            max_result_bytes: 50 * 1024 * 1024,
            seed_node: None,
        }
    }
}

/// Runs jobs on RunningHub accounts, one lane per account.
pub struct RunningHubEngine {
    client: RunningHubClient,
    accounts: Vec<RunningHubAccount>,
    settings: RunningHubSettings,
    /// Pollers waiting on a task, woken early by [`RunningHubEngine::notify`].
    wakers: Arc<Mutex<HashMap<RemoteTaskId, Arc<Notify>>>>,
    /// File names of a job's images uploaded to an account whose create then said "busy":
    /// the job's next run on that account creates with them instead of uploading again.
    uploaded: Mutex<HashMap<(JobId, LaneId), (String, String)>>,
    /// Tasks that ended with nobody polling them, by the job their callback names.
    ended: EndedTasks,
    /// Each job's look: its seed goes to the seed node.
    looks: Looks,
}

impl RunningHubEngine {
    pub fn new(
        client: RunningHubClient,
        accounts: Vec<RunningHubAccount>,
        settings: RunningHubSettings,
    ) -> Self {
        Self {
            client,
            accounts,
            settings,
            wakers: Arc::default(),
            uploaded: Mutex::default(),
            ended: EndedTasks::default(),
            looks: Looks::default(),
        }
    }

    /// The engine reading each job's seed from `looks` (shared with the submitter).
    pub fn with_looks(mut self, looks: Looks) -> Self {
        self.looks = looks;
        self
    }

    /// The client, for start-up checks (account status) and the operator's balance view.
    pub fn client(&self) -> &RunningHubClient {
        &self.client
    }

    /// A webhook said `event.task_id` ended: poll it now instead of at the next tick.
    /// The poller still confirms with `outputs`; an unknown task is ignored.
    pub fn notify(&self, event: WebhookEvent, job: Option<JobId>) {
        debug!(task = %event.task_id, progress = ?event.progress, "webhook");
        self.task_ended(&event.task_id, job);
    }

    /// Wakes the task's poller; a task nobody polls goes to its job's run, if the
    /// callback named one (a task whose create answer was lost).
    fn task_ended(&self, task: &RemoteTaskId, job: Option<JobId>) {
        let waker = lock(&self.wakers).get(task).cloned();
        match (waker, job) {
            (Some(waker), _) => {
                debug!(task = %task, "waking the poller");
                waker.notify_one();
            }
            (None, Some(job)) => {
                info!(task = %task, %job, "a task nobody polls ended; telling its job");
                self.ended.report(job, task.clone());
            }
            (None, None) => debug!(task = %task, "callback for a task nobody polls here"),
        }
    }

    /// The callback URL of `job`'s tasks: the install's secret URL plus the job id.
    fn callback_url(&self, job: JobId) -> Option<String> {
        self.settings.webhook_url.as_ref().map(|base| format!("{}/{job}", base.expose()))
    }

    fn account(&self, lane: LaneId) -> Result<&RunningHubAccount, EngineError> {
        self.accounts
            .iter()
            .find(|a| a.lane == lane)
            .ok_or_else(|| FailReason::Internal(format!("lane {lane} is not a RunningHub account")).into())
    }

    async fn run_job(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        let account = self.account(ctx.lane)?;
        let mut ended = self.ended.listen(ctx.job);
        let (task, first_poll, waker) = match ctx.resume.clone() {
            // After a restart: the task exists, look at it at once.
            Some(task) => {
                info!(%task, "resuming the provider task");
                let waker = self.watch(&task);
                (task, Instant::now(), waker)
            }
            None => {
                let (task, first_poll) = self.start(&ctx, account, &mut ended).await?;
                let waker = self.watch(&task);
                ctx.task_created(task.clone()).await;
                info!(%task, "task created");
                (task, first_poll, waker)
            }
        };
        tracing::Span::current().record("task", field::display(&task));
        let outputs = self.wait(&ctx, account, &task, first_poll, &waker.notify, &mut ended).await?;
        // The provider is done with the task: the account's slot is free again.
        ctx.provider_finished();
        tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => Err(EngineError::Cancelled),
            result = self.fetch(&outputs) => result.map_err(EngineError::from),
        }
    }

    /// Uploads both images and creates the task; returns it and when to poll it first.
    /// Errors here happen before any task exists, so account trouble becomes
    /// `LaneBusy`/`LaneRefused` for the queue.
    async fn start(
        &self,
        ctx: &RunContext,
        account: &RunningHubAccount,
        ended: &mut Listener,
    ) -> Result<(RemoteTaskId, Instant), EngineError> {
        let earlier = lock(&self.uploaded).remove(&(ctx.job, ctx.lane));
        let (product_file, background_file) = match earlier {
            Some(files) => {
                debug!("creating with the files uploaded before the account was busy");
                files
            }
            None => {
                let (product, background) =
                    tokio::try_join!(ctx.input.product.load(), ctx.input.background.load())?;
                let uploads = async {
                    tokio::try_join!(
                        self.upload(account, &product, "product"),
                        self.upload(account, &background, "background"),
                    )
                };
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
                    uploaded = uploads => uploaded?,
                }
            }
        };
        if ctx.cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        if ctx.suspend.is_cancelled() {
            return Err(EngineError::Suspended);
        }
        let mut nodes = vec![
            NodeInput {
                node_id: self.settings.product_node.clone(),
                field_name: "image".into(),
                field_value: product_file,
            },
            NodeInput {
                node_id: self.settings.background_node.clone(),
                field_name: "image".into(),
                field_value: background_file,
            },
        ];
        if let Some(seed_node) = &self.settings.seed_node {
            let seed = self.looks.get(ctx.job).seed.map_or_else(random_seed, |s| s & MAX_SEED);
            nodes.push(NodeInput {
                node_id: seed_node.node_id.clone(),
                field_name: seed_node.field_name.clone(),
                field_value: seed.to_string(),
            });
        }
        let created = self.create(ctx, account, &nodes, ended).await;
        if let Err(EngineError::LaneBusy { .. }) = &created {
            // Kept for the job's next run on this account (bounded: one pair per job that
            // is waiting for this account; taken again by that run).
            let files = (nodes[0].field_value.clone(), nodes[1].field_value.clone());
            lock(&self.uploaded).insert((ctx.job, ctx.lane), files);
        } else {
            // Created, or failed for good: nothing of this job is waiting any more.
            lock(&self.uploaded).retain(|(job, _), _| *job != ctx.job);
        }
        created
    }

    /// Sends the create, and once more at most if its answer is lost and the account has
    /// room for a second task; otherwise waits for the lost task's callback. A job with a
    /// lost create never goes back to the queue: another run would create again.
    async fn create(
        &self,
        ctx: &RunContext,
        account: &RunningHubAccount,
        nodes: &[NodeInput],
        ended: &mut Listener,
    ) -> Result<(RemoteTaskId, Instant), EngineError> {
        let callback = self.callback_url(ctx.job);
        let mut unconfirmed = ctx.unconfirmed_creates;
        loop {
            if unconfirmed > 0 {
                if let Some(task) = ended.try_next() {
                    info!(%task, "the lost task's callback came already; taking it up");
                    return Ok((task, Instant::now()));
                }
                if !self.room_for_another(account, unconfirmed).await {
                    return self.adopt_lost(ctx, ended).await;
                }
            }
            // Waits for a task slot (the images may have gone up ahead) and the record.
            if !ctx.creating().await {
                return Err(if ctx.suspend.is_cancelled() {
                    EngineError::Suspended
                } else {
                    EngineError::Cancelled
                });
            }
            // Not raced with `cancel`, and the runner waits for it: dropping the request
            // halfway could leave a paid task we never learn about. The poll loop cancels
            // it right after if needed.
            // The client's mode decides the request (workflow, AI app, v2); everything
            // around it is the same in every mode.
            let target = Target::of(&account.workflow_id, account.app_id.as_deref());
            let answer = self.client.run_task(&account.api_key, target, nodes, callback.as_deref()).await;
            match answer {
                Ok(task) => return Ok((task, Instant::now() + self.settings.poll_interval)),
                Err(RhError::Unconfirmed(e)) => {
                    warn!(error = %e, "the create's answer was lost; the task may exist");
                    unconfirmed += 1;
                }
                Err(e) => match lane_error(e, "create") {
                    // This create made no task, but a lost one may exist.
                    EngineError::LaneBusy { .. } | EngineError::LaneRefused(_) if unconfirmed > 0 => {
                        return self.adopt_lost(ctx, ended).await;
                    }
                    other => return Err(other),
                },
            }
        }
    }

    /// Whether one more create is safe after `unconfirmed` lost ones: not yet retried, and
    /// the account would stay within its limit even if the lost task exists.
    async fn room_for_another(&self, account: &RunningHubAccount, unconfirmed: u32) -> bool {
        if unconfirmed >= MAX_UNCONFIRMED_CREATES {
            info!(unconfirmed, "not creating again: the lost create was already retried");
            return false;
        }
        match self.client.account_status(&account.api_key).await {
            Ok(status) => {
                let running = status.current_task_counts;
                let room = running.is_some_and(|n| n < account.max_jobs as u64);
                info!(?running, limit = account.max_jobs, room, "the account after a lost create");
                room
            }
            Err(e) => {
                warn!(error = %e, "cannot see the account's tasks; not creating again");
                false
            }
        }
    }

    /// Waits for the callback of the task whose create answer was lost; fails at once
    /// without webhooks (nothing else can name it). Bounded by the run's deadline.
    async fn adopt_lost(
        &self,
        ctx: &RunContext,
        ended: &mut Listener,
    ) -> Result<(RemoteTaskId, Instant), EngineError> {
        if self.settings.webhook_url.is_none() {
            return Err(FailReason::Unavailable(
                "RunningHub did not confirm the task, and creating it again could charge twice".into(),
            )
            .into());
        }
        info!("waiting for the callback of the task whose create answer was lost");
        tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => Err(EngineError::Cancelled),
            _ = ctx.suspend.cancelled() => Err(EngineError::Suspended),
            task = ended.next() => {
                info!(%task, "the lost task ended; taking it up");
                Ok((task, Instant::now()))
            }
        }
    }

    /// Uploads one image, shrinking it first if it is over the limit, and again if the
    /// provider still finds it too large (809).
    async fn upload(
        &self,
        account: &RunningHubAccount,
        image: &InputImage,
        stem: &str,
    ) -> Result<String, EngineError> {
        let mut limit = self.settings.max_upload_bytes;
        let mut shrinks = 0;
        loop {
            let (bytes, extension) = fit_for_upload(image, limit).await?;
            let size = bytes.len();
            let name = format!("{stem}.{extension}");
            match self.client.upload(&account.api_key, bytes, &name).await {
                Ok(file) => return Ok(file),
                Err(e) if e.action() == ErrorAction::FileTooLarge && shrinks < MAX_SHRINKS => {
                    shrinks += 1;
                    limit = limit.min(size) / 2;
                    warn!(stem, size, limit, "the provider found the upload too large; shrinking");
                }
                Err(e) if e.action() == ErrorAction::FileTooLarge => {
                    return Err(FailReason::BadInput("the image is too large for the provider".into()).into());
                }
                Err(e) => return Err(lane_error(e, "upload")),
            }
        }
    }

    /// Keeps a waker registered for `task` while the guard lives.
    fn watch(&self, task: &RemoteTaskId) -> Watch {
        let notify = Arc::new(Notify::new());
        lock(&self.wakers).insert(task.clone(), notify.clone());
        Watch { wakers: self.wakers.clone(), task: task.clone(), notify }
    }

    /// Polls until the task ends; returns its outputs or why it failed.
    async fn wait(
        &self,
        ctx: &RunContext,
        account: &RunningHubAccount,
        task: &RemoteTaskId,
        first_poll: Instant,
        waker: &Notify,
        ended: &mut Listener,
    ) -> Result<Vec<TaskOutput>, EngineError> {
        // Anchored at the create answer; `Delay` keeps the spacing after a slow poll
        // instead of firing a burst to catch up.
        let mut ticker =
            tokio::time::interval_at(first_poll, self.settings.poll_interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut errors = 0u32;
        let mut last: Option<TaskProgress> = None;
        let mut last_early: Option<Instant> = None;
        loop {
            let woken = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(self.cancel_remote(account, task, "cancelled").await),
                // Shutting down with tasks kept: a restart resumes this one.
                _ = ctx.suspend.cancelled() => return Err(EngineError::Suspended),
                _ = waker.notified() => true,
                // Our own task, named before its watch was registered, is a plain wake-up.
                twin = ended.next() => {
                    if twin == *task {
                        true
                    } else if let Some(outputs) = self.twin_result(account, &twin).await {
                        info!(%twin, "a twin task of the job succeeded first; cancelling this one");
                        self.cancel_remote(account, task, "a twin succeeded").await;
                        return Ok(outputs);
                    } else {
                        continue;
                    }
                }
                _ = ticker.tick() => false,
            };
            if woken {
                // Callbacks are hints anyone who knows the URL can send: a burst of them
                // makes at most one early poll per gap, never polls back to back.
                if let Some(at) = last_early {
                    tokio::time::sleep_until(at + MIN_EARLY_POLL_GAP).await;
                }
                last_early = Some(Instant::now());
                // The next regular poll comes one interval after this one.
                ticker.reset();
                debug!("polling early on a webhook");
            }
            let polled = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(self.cancel_remote(account, task, "cancelled").await),
                _ = ctx.suspend.cancelled() => return Err(EngineError::Suspended),
                polled = self.client.outputs(&account.api_key, task) => polled,
            };
            let progress = match polled {
                Ok(progress) => {
                    errors = 0;
                    progress
                }
                // Rate limited, account busy, queued, a 5xx, no connection: the task is
                // still there; only the deadline bounds how long we wait for it.
                Err(e) if means_wait(&e) => {
                    debug!(error = %e, "the provider says wait");
                    continue;
                }
                Err(e) => {
                    errors += 1;
                    warn!(errors, error = %e, "polling the task failed");
                    if errors >= MAX_POLL_ERRORS {
                        self.cancel_remote(account, task, "abandoned").await;
                        return Err(FailReason::Unavailable(format!(
                            "{errors} polls in a row failed, last: {e}"
                        ))
                        .into());
                    }
                    continue;
                }
            };
            match progress {
                TaskProgress::Queued | TaskProgress::Running => {
                    if last.as_ref() != Some(&progress) {
                        info!(state = ?progress, "task progress");
                        last = Some(progress);
                    }
                }
                TaskProgress::Succeeded(outputs) => return Ok(outputs),
                TaskProgress::Failed(reason) => {
                    info!(%reason, "the task failed on the provider");
                    return Err(FailReason::Provider(reason).into());
                }
                TaskProgress::NoOutput => return Err(FailReason::NoOutput.into()),
                TaskProgress::NotFound => {
                    return Err(FailReason::Provider("task vanished on the provider".into()).into());
                }
            }
        }
    }

    /// The outputs of `twin`, another task of the same job (a create whose answer was
    /// lost), if it succeeded; looked up on this account first, then on the others.
    async fn twin_result(&self, account: &RunningHubAccount, twin: &RemoteTaskId) -> Option<Vec<TaskOutput>> {
        let others = self.accounts.iter().filter(|a| a.lane != account.lane);
        for candidate in std::iter::once(account).chain(others) {
            match self.client.outputs(&candidate.api_key, twin).await {
                Ok(TaskProgress::Succeeded(outputs)) => return Some(outputs),
                Ok(TaskProgress::NotFound) => continue,
                Ok(other) => {
                    info!(%twin, state = ?other, "a twin task of the job ended without a result");
                    return None;
                }
                Err(e) => {
                    debug!(%twin, error = %e, "cannot read a twin task");
                    continue;
                }
            }
        }
        None
    }

    /// Best-effort cancel of the provider task, bounded; the run ends either way.
    async fn cancel_remote(
        &self,
        account: &RunningHubAccount,
        task: &RemoteTaskId,
        why: &str,
    ) -> EngineError {
        match tokio::time::timeout(CANCEL_BOUND, self.client.cancel(&account.api_key, task)).await {
            Ok(Ok(())) => info!(why, "provider task cancelled"),
            Ok(Err(e)) => warn!(why, error = %e, "could not cancel the provider task"),
            Err(_) => warn!(why, "cancelling the provider task timed out"),
        }
        EngineError::Cancelled
    }

    /// Downloads the first image output and checks that it is one.
    async fn fetch(&self, outputs: &[TaskOutput]) -> Result<JobOutput, FailReason> {
        let output = outputs.iter().find(|o| o.is_image()).ok_or(FailReason::NoOutput)?;
        let max = self.settings.max_result_bytes;
        let bytes = self.client.download(&output.file_url, max).await.map_err(|e| match e {
            RhError::TooLarge { limit } => {
                FailReason::Provider(format!("the result is larger than {limit} bytes"))
            }
            other => FailReason::Unavailable(format!("downloading the result: {other}")),
        })?;
        // Reads only the header: cheap enough for the runtime.
        let limits = ImageLimits { max_bytes: max, max_pixels: 400_000_000, max_side: 30_000 };
        let image = InputImage::parse(bytes, &limits)
            .map_err(|e| FailReason::Provider(format!("the result is not a usable image: {e}")))?;
        info!(bytes = image.bytes().len(), dimensions = ?image.dimensions(), "result downloaded");
        Ok(JobOutput { image: image.bytes().clone(), extension: image.extension() })
    }
}

#[async_trait]
impl Engine for RunningHubEngine {
    fn name(&self) -> &'static str {
        "runninghub"
    }

    fn shared_limits(&self) -> bool {
        true
    }

    fn hint_task_ended(&self, task: &RemoteTaskId, job: Option<JobId>) {
        self.task_ended(task, job);
    }

    fn lanes(&self) -> Vec<LaneSpec> {
        self.accounts
            .iter()
            .map(|a| LaneSpec {
                id: a.lane,
                label: format!("account {}", a.lane),
                capacity: a.max_jobs,
                upload_ahead: a.max_jobs,
            })
            .collect()
    }

    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        let span = info_span!("runninghub", job = %ctx.job, lane = %ctx.lane, task = field::Empty);
        self.run_job(ctx).instrument(span).await
    }
}

/// Unregisters a task's waker when its poller ends, however it ends.
struct Watch {
    wakers: Arc<Mutex<HashMap<RemoteTaskId, Arc<Notify>>>>,
    task: RemoteTaskId,
    notify: Arc<Notify>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut wakers = lock(&self.wakers);
        // Only our own entry: a resumed run may have registered the same task again.
        if wakers.get(&self.task).is_some_and(|n| Arc::ptr_eq(n, &self.notify)) {
            wakers.remove(&self.task);
        }
    }
}

/// A poisoned map of wakers is still a valid map: nothing in it can be half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What an error before the task exists means for the queue.
fn lane_error(e: RhError, step: &str) -> EngineError {
    match e.action() {
        ErrorAction::AccountBusy { retry_after } => {
            info!(step, error = %e, ?retry_after, "the account is busy");
            EngineError::LaneBusy { retry_after }
        }
        ErrorAction::AccountRefused => {
            warn!(step, error = %e, "the account was refused");
            EngineError::LaneRefused(e.short())
        }
        // Transient errors that outlived the client's retries.
        ErrorAction::Retry => FailReason::Unavailable(format!("{step}: {e}")).into(),
        _ => match e {
            RhError::Rejected(detail) => {
                FailReason::Provider(format!("the workflow rejected the inputs: {detail}")).into()
            }
            RhError::Api { code: 433, ref msg } => {
                FailReason::Provider(format!("the workflow refused the inputs: {msg}")).into()
            }
            other => FailReason::Internal(format!("{step}: {other}")).into(),
        },
    }
}

/// The bytes to upload and their extension: the original when it fits, else a JPEG
/// re-encoded (and halved as often as needed) off the runtime.
async fn fit_for_upload(image: &InputImage, limit: usize) -> Result<(Bytes, &'static str), FailReason> {
    if image.bytes().len() <= limit {
        return Ok((image.bytes().clone(), image.extension()));
    }
    let image = image.clone();
    let shrunk = tokio::task::spawn_blocking(move || shrink_to_fit(&image, limit))
        .await
        .map_err(|e| FailReason::Internal(format!("shrinking an upload panicked: {e}")))??;
    Ok((shrunk, "jpg"))
}

/// JPEG q90 at full size, then at half, quarter... until it fits `limit`. CPU-bound.
pub fn shrink_to_fit(image: &InputImage, limit: usize) -> Result<Bytes, FailReason> {
    let mut rgb = flatten(image.decode()?);
    loop {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), JPEG_QUALITY)
            .encode_image(&rgb)
            .map_err(|e| FailReason::Internal(format!("re-encoding an upload: {e}")))?;
        if out.len() <= limit {
            debug!(bytes = out.len(), dimensions = ?rgb.dimensions(), "upload re-encoded");
            return Ok(out.into());
        }
        let (w, h) = rgb.dimensions();
        if w < 32 || h < 32 {
            return Err(FailReason::BadInput("the image cannot be made small enough to upload".into()));
        }
        rgb = image::imageops::resize(&rgb, w / 2, h / 2, image::imageops::FilterType::Triangle);
    }
}

/// Drops transparency onto white: JPEG has no alpha, and a product cut-out on black
/// would look wrong to the workflow.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u16::from(a);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        image::Rgb([mix(r), mix(g), mix(b)])
    })
}

/// Whether a failed poll only means "not now" (and so never counts toward giving up on a
/// healthy task): rate limits, a busy account, a queued task, server errors, no
/// connection. An answer that cannot be read, or a refusal, is a real error.
fn means_wait(e: &RhError) -> bool {
    !matches!(e, RhError::Decode(_))
        && matches!(
            e.action(),
            ErrorAction::Retry | ErrorAction::AccountBusy { .. } | ErrorAction::KeepPolling
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageFormat;

    fn noisy_png(w: u32, h: u32) -> InputImage {
        // Pseudo-random pixels so the encoders cannot compress them away.
        let mut state = 12345u32;
        let img = RgbImage::from_fn(w, h, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        InputImage::parse(out, &ImageLimits::default()).unwrap()
    }

    #[test]
    fn shrinking_halves_until_it_fits() {
        let image = noisy_png(512, 512);
        let limit = 40_000;
        assert!(image.bytes().len() > limit);
        let out = shrink_to_fit(&image, limit).unwrap();
        assert!(out.len() <= limit);
        let parsed = InputImage::parse(out, &ImageLimits::default()).unwrap();
        assert_eq!(parsed.format(), ImageFormat::Jpeg);
        assert!(parsed.dimensions().0 < 512);
    }

    #[test]
    fn shrinking_gives_up_on_impossible_limits() {
        let image = noisy_png(64, 64);
        assert!(matches!(shrink_to_fit(&image, 10), Err(FailReason::BadInput(_))));
    }

    #[test]
    fn transparency_becomes_white() {
        let rgba = image::RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 0]));
        let rgb = flatten(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn lane_errors_follow_the_table() {
        let api = |code: i64, msg: &str| RhError::Api { code, msg: msg.into() };
        assert!(matches!(
            lane_error(api(421, "TASK_QUEUE_MAXED"), "create"),
            EngineError::LaneBusy { retry_after } if retry_after == Duration::from_secs(2)
        ));
        assert!(matches!(
            lane_error(api(415, ""), "create"),
            EngineError::LaneBusy { retry_after } if retry_after == Duration::from_secs(30)
        ));
        assert!(matches!(
            lane_error(api(1011, ""), "upload"),
            EngineError::LaneBusy { retry_after } if retry_after == Duration::from_secs(5)
        ));
        match lane_error(api(416, "WALLET_EMPTY"), "create") {
            EngineError::LaneRefused(why) => assert!(why.contains("416"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lane_error(RhError::Timeout, "create"),
            EngineError::Failed(FailReason::Unavailable(_))
        ));
        assert!(matches!(
            lane_error(RhError::Rejected("node 2".into()), "create"),
            EngineError::Failed(FailReason::Provider(_))
        ));
        assert!(matches!(lane_error(api(301, ""), "create"), EngineError::Failed(FailReason::Internal(_))));
    }
}
