//! The engine abstraction: what the queue drives to turn a job's two images into a result.
//!
//! An engine exposes *lanes* (a RunningHub account, the local CPU, a ComfyUI server), each
//! able to run a fixed number of jobs at once. The queue owns scheduling: it picks a lane
//! with a free slot, hands the engine a [`RunContext`] holding that slot, and interprets
//! the [`EngineError`] that comes back. Engines never queue or retry jobs themselves.

pub mod comfyui;
pub mod local;
pub mod runninghub;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::input_image::{ImageLimits, InputImage, InputImageError};
use crate::job::{FailReason, JobId, JobOutput, RemoteTaskId};
use crate::queue::SlotGuard;

/// One place an engine runs jobs: RunningHub account N is lane N. Stable across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneId(pub u16);

impl fmt::Display for LaneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A lane and how many jobs it may run at once.
#[derive(Clone, Debug)]
pub struct LaneSpec {
    pub id: LaneId,
    /// For logs and statistics: "account 2", "local CPU".
    pub label: String,
    pub capacity: usize,
}

/// Where one of a job's images lives: in memory (CLI, tests) or on disk (the bot's store).
#[derive(Clone, Debug)]
pub enum ImageSource {
    Memory(InputImage),
    File(PathBuf),
}

impl ImageSource {
    /// Reads (if needed) and checks the image.
    pub async fn load(&self) -> Result<InputImage, FailReason> {
        match self {
            Self::Memory(image) => Ok(image.clone()),
            Self::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| FailReason::Internal(format!("reading {}: {e}", path.display())))?;
                InputImage::parse(bytes, &ImageLimits::default()).map_err(bad_input)
            }
        }
    }
}

/// Turns an image refusal into the job failure the user is told about.
pub fn bad_input(e: InputImageError) -> FailReason {
    FailReason::BadInput(e.to_string())
}

/// The two images of a job.
#[derive(Clone, Debug)]
pub struct JobInput {
    pub product: ImageSource,
    pub background: ImageSource,
}

/// Hears what an engine learns while it runs a job, before the job ends. The queue's
/// listener records a created remote task before the engine polls it, so that a restart
/// resumes the task instead of creating a second one.
#[async_trait]
pub trait RunListener: Send + Sync {
    async fn remote_created(&self, job: JobId, task: RemoteTaskId);
}

/// Everything an engine gets for one run of one job on one lane.
pub struct RunContext {
    pub job: JobId,
    pub lane: LaneId,
    pub input: JobInput,
    /// The provider task already created for this job before a restart: poll it, never
    /// create another.
    pub resume: Option<RemoteTaskId>,
    /// Fires when the user cancels or the deadline passes; the engine then cancels the
    /// provider task (if any) and returns [`EngineError::Cancelled`].
    pub cancel: CancellationToken,
    /// Fires when the process is stopping and provider tasks are to be kept: the engine
    /// leaves the task running and returns [`EngineError::Suspended`] at a point where no
    /// request is half-sent (between polls, before create). A restart resumes the task.
    pub suspend: CancellationToken,
    listener: Option<Arc<dyn RunListener>>,
    slot: Option<SlotGuard>,
}

impl RunContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        job: JobId,
        lane: LaneId,
        input: JobInput,
        resume: Option<RemoteTaskId>,
        cancel: CancellationToken,
        suspend: CancellationToken,
        listener: Arc<dyn RunListener>,
        slot: SlotGuard,
    ) -> Self {
        Self { job, lane, input, resume, cancel, suspend, listener: Some(listener), slot: Some(slot) }
    }

    /// A context outside any queue (the CLI's `cutout`, engine unit tests): nobody listens
    /// and there is no slot to give back.
    pub fn detached(job: JobId, lane: LaneId, input: JobInput) -> Self {
        Self {
            job,
            lane,
            input,
            resume: None,
            cancel: CancellationToken::new(),
            suspend: CancellationToken::new(),
            listener: None,
            slot: None,
        }
    }

    /// Reports that the provider created the task; returns once it is recorded.
    pub async fn remote_created(&self, task: RemoteTaskId) {
        if let Some(listener) = &self.listener {
            listener.remote_created(self.job, task).await;
        }
    }

    /// Gives the lane's slot back early: the provider is done with the task and what is
    /// left (downloading the result) does not use the account's concurrency.
    pub fn release_slot(&mut self) {
        self.slot.take();
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

    /// Runs one job on `ctx.lane`. Must return soon after `ctx.cancel` fires.
    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError>;

    /// A provider's callback says remote task `task` ended: look at it now instead of at
    /// the next poll. Only a hint (callbacks are unsigned); engines that do not poll a
    /// provider ignore it.
    fn hint_task_ended(&self, _task: &RemoteTaskId) {}
}
