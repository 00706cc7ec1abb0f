//! The engine abstraction: what turns a job's two images into a result.
//!
//! An engine exposes *lanes* (a RunningHub account, the local CPU, a ComfyUI server), each
//! able to run a fixed number of jobs at once. Engines know nothing of queues or slots:
//! whoever runs a job (the queue's runner) holds the lane's slot, hands the engine a
//! [`RunContext`] with cancellation tokens, hears its [`Progress`] on a channel (a task
//! created, the provider done) and interprets the [`EngineError`] that comes back. Engines
//! never queue or retry jobs themselves.

pub mod comfyui;
pub mod formatting;
pub mod local;
pub mod runninghub;

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::job::{FailReason, JobId, JobInput, JobOutput, LaneId, RemoteTaskId};

/// A lane and how many jobs it may run at once.
#[derive(Clone, Debug)]
pub struct LaneSpec {
    pub id: LaneId,
    /// For logs and statistics: "account 2", "local CPU".
    pub label: String,
    /// Provider tasks at once (the account's limit).
    pub capacity: usize,
    /// Jobs that may upload their images ahead, while every task slot is busy, so that
    /// the next task is created the moment a slot frees (uploads do not count against the
    /// provider's task limit). 0 for engines without an upload step.
    pub upload_ahead: usize,
}

/// What an engine learns while it runs a job, before the job ends.
#[derive(Debug)]
pub enum Progress {
    /// The engine computes the job itself, with no provider task.
    Working,
    /// A create request is about to be sent: until its answer, the run must not be
    /// dropped (the task may exist and be billed). `recorded` answers once the run holds
    /// a task slot (it may have uploaded ahead) and the store counts the create, so a
    /// restart knows its answer may have been lost; dropped unanswered if the run stops
    /// first. Followed by `TaskCreated`, by another `Creating`, or by the run's end.
    Creating { recorded: oneshot::Sender<()> },
    /// The provider created the task. `recorded` answers once the task id is journalled:
    /// the engine polls only after that, so a restart resumes the task instead of paying
    /// for a second one.
    TaskCreated { task: RemoteTaskId, recorded: oneshot::Sender<()> },
    /// The provider is done with the task: the lane's slot can serve the next job while
    /// the result is downloaded.
    ProviderFinished,
}

/// Everything an engine gets for one run of one job on one lane.
pub struct RunContext {
    pub job: JobId,
    pub lane: LaneId,
    pub input: JobInput,
    /// The provider task already created for this job before a restart: poll it, never
    /// create another.
    pub resume: Option<RemoteTaskId>,
    /// Creates of earlier runs whose answer never came (a restart in between): their
    /// tasks may exist, so the engine must not create blindly.
    pub unconfirmed_creates: u32,
    /// Fires when the user cancels or the deadline passes; the engine then cancels the
    /// provider task (if any) and returns [`EngineError::Cancelled`].
    pub cancel: CancellationToken,
    /// Fires when the process is stopping and provider tasks are to be kept: the engine
    /// leaves the task running and returns [`EngineError::Suspended`] at a point where no
    /// request is half-sent (between polls, before create). A restart resumes the task.
    pub suspend: CancellationToken,
    /// Where [`Progress`] goes; `None` when nobody listens (the CLI's `cutout`, tests).
    progress: Option<mpsc::UnboundedSender<Progress>>,
}

impl RunContext {
    /// A context whose progress goes to `progress`.
    pub fn new(
        job: JobId,
        lane: LaneId,
        input: JobInput,
        resume: Option<RemoteTaskId>,
        cancel: CancellationToken,
        suspend: CancellationToken,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Self {
        Self { job, lane, input, resume, unconfirmed_creates: 0, cancel, suspend, progress: Some(progress) }
    }

    /// A context nobody listens to (engine tests, one-off runs).
    pub fn detached(job: JobId, lane: LaneId, input: JobInput) -> Self {
        Self {
            job,
            lane,
            input,
            resume: None,
            unconfirmed_creates: 0,
            cancel: CancellationToken::new(),
            suspend: CancellationToken::new(),
            progress: None,
        }
    }

    /// Reports that the engine works on the job itself.
    pub fn working(&self) {
        if let Some(progress) = &self.progress {
            let _ = progress.send(Progress::Working);
        }
    }

    /// Asks to send a create request: returns once the run holds a task slot on its lane
    /// and the create is recorded; `false` if the run is being stopped meanwhile (then no
    /// create may be sent).
    pub async fn creating(&self) -> bool {
        match &self.progress {
            Some(progress) => {
                let (recorded, done) = oneshot::channel();
                progress.send(Progress::Creating { recorded }).is_ok() && done.await.is_ok()
            }
            None => true,
        }
    }

    /// Reports that the provider created the task; returns once it is recorded (or once
    /// nobody is left to record it: the run is being stopped).
    pub async fn task_created(&self, task: RemoteTaskId) {
        if let Some(progress) = &self.progress {
            let (recorded, done) = oneshot::channel();
            if progress.send(Progress::TaskCreated { task, recorded }).is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Reports that the provider is done with the task (what is left, downloading the
    /// result, does not use the account's concurrency).
    pub fn provider_finished(&self) {
        if let Some(progress) = &self.progress {
            let _ = progress.send(Progress::ProviderFinished);
        }
    }
}

/// How a run ended when it did not produce an image.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The lane had no room on the provider after all (RunningHub 421, 415) and no task
    /// was created: the queue puts the job back at the front and prefers another lane.
    #[error("the lane is busy on the provider; retry after {retry_after:?}")]
    LaneBusy { retry_after: Duration },
    /// The lane cannot run anything (refused key, empty wallet, missing workflow) and no
    /// task was created: the queue takes the lane out of rotation and requeues the job.
    #[error("the lane was refused by the provider: {0}")]
    LaneRefused(String),
    /// The run stopped because `cancel` fired; the provider task (if any) was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The run stopped because `suspend` fired; the provider task keeps running.
    #[error("suspended for shutdown")]
    Suspended,
    /// The job failed for good.
    #[error(transparent)]
    Failed(#[from] FailReason),
}

/// Turns a job's images into a result picture.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// `runninghub`, `local` or `comfyui`.
    fn name(&self) -> &'static str;

    /// The lanes and their capacities; fixed for the engine's life.
    fn lanes(&self) -> Vec<LaneSpec>;

    /// Whether the lanes' limits belong to a provider that every replica shares (accounts
    /// of a service, one server), so that replicas lease its slots from the store; `false`
    /// for work done on this machine.
    fn shared_limits(&self) -> bool {
        false
    }

    /// Runs one job on `ctx.lane`. Must return soon after `ctx.cancel` fires.
    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError>;

    /// A provider's callback says remote task `task` ended: look at it now instead of at
    /// the next poll. Only a hint (callbacks are unsigned); engines that do not poll a
    /// provider ignore it.
    fn hint_task_ended(&self, _task: &RemoteTaskId, _job: Option<JobId>) {}
}
