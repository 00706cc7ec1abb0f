//! What every handler and status task shares: the queue, the job store and registry, the
//! pacer, the bot's settings, and the tracker that lets shutdown wait for status tasks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::shutdown::Shutdown;
use tokio_util::task::TaskTracker;

use crate::bot::dialogue::DialogueStorage;
use crate::bot::jobs::JobRegistry;
use crate::bot::pacer::Pacer;
use crate::input_image::ImageLimits;
use crate::output::Looks;
use crate::queue::JobQueue;
use crate::scenes::SceneCatalog;
use crate::store::Store;

/// Shared by the whole bot; handlers get it as `Arc<BotContext>`.
pub struct BotContext {
    pub queue: JobQueue,
    /// How each job's result is to come out (the user's `/settings` format), read by the
    /// engine.
    pub looks: Looks,
    /// The preset scenes a user may pick instead of sending a background.
    pub scenes: Arc<SceneCatalog>,
    /// Every accepted job, its images and how far its user was told; dialogues.
    pub store: Store,
    /// The engine's name, recorded with each job.
    pub engine: &'static str,
    /// Telegram user ids allowed to use `/stats`.
    pub admin_ids: Vec<i64>,
    /// Queued and running jobs one user may have.
    pub max_jobs_per_user: usize,
    pub jobs: JobRegistry,
    pub pacer: Pacer,
    pub dialogues: Arc<DialogueStorage>,
    /// `DATA_DIR`: job images live under `jobs/`, products waiting for a background under
    /// `incoming/`.
    pub data_dir: PathBuf,
    pub limits: ImageLimits,
    /// Handlers taking a job, so that a stop that leaves them behind tells their users.
    pub in_flight: Arc<crate::bot::in_flight::InFlight>,
    /// Albums being collected (their parts arrive as separate messages).
    pub albums: crate::bot::albums::Albums,
    /// Permits to decode an incoming picture (`DECODE_CONCURRENCY`).
    pub decodes: tokio::sync::Semaphore,
    pub timing: StatusTiming,
    pub delivery: DeliveryPolicy,
    /// The status tasks, so shutdown can let them finish their last edit.
    pub tasks: TaskTracker,
    /// The process's stop: at [`Stage::FinishStatus`](crate::shutdown::Stage) status tasks
    /// stop following jobs that stay live across the restart (`ON_SHUTDOWN=keep`).
    pub shutdown: Shutdown,
    /// The preset scenes as one picture (`scene_sheet`), made at the first request.
    pub scene_sheet: tokio::sync::OnceCell<bytes::Bytes>,
}

impl BotContext {
    /// The user's jobs in the queue or running: here, and with replicas on every one.
    pub async fn live_jobs_of(&self, user: teloxide::types::UserId) -> Vec<crate::job::JobId> {
        let mut ids = self.jobs.live_jobs_of(user);
        if self.store.is_shared() {
            match self.store.jobs_in_queue_of(user.0 as i64).await {
                Ok(elsewhere) => ids.extend(elsewhere),
                Err(e) => tracing::warn!(%user, "counting the user's jobs: {e}"),
            }
            ids.sort();
            ids.dedup();
        }
        ids
    }

    /// Cancels a job wherever it runs: here at once; on another replica by asking it
    /// through the store (it cancels within a heartbeat). Whether the job was live.
    pub async fn cancel(&self, id: crate::job::JobId) -> bool {
        if self.queue.cancel(id) {
            return true;
        }
        if !self.store.is_shared() {
            return false;
        }
        match self.store.request_cancel(id).await {
            Ok(asked) => asked,
            Err(e) => {
                tracing::warn!(job = %id, "asking for a cancel: {e}");
                false
            }
        }
    }
}

/// How often the status task talks to Telegram.
#[derive(Clone, Copy, Debug)]
pub struct StatusTiming {
    /// At most one edit of a status message per this interval.
    pub edit_interval: Duration,
    /// At most one edit per this interval when only the elapsed time changed: with
    /// many jobs generating, ticking clocks must not eat the overall message budget.
    pub elapsed_interval: Duration,
    /// How often "sending a photo" is repeated while generating (Telegram shows it ~5 s).
    pub chat_action_interval: Duration,
}

impl Default for StatusTiming {
    fn default() -> Self {
        Self {
            edit_interval: Duration::from_millis(2000),
            elapsed_interval: Duration::from_secs(5),
            chat_action_interval: Duration::from_millis(4500),
        }
    }
}

/// How long and how often a result is offered to Telegram.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryPolicy {
    /// The wait before the first retry; it doubles with each failure.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub longest_wait: Duration,
    /// After this long without Telegram accepting it, the delivery fails.
    pub deadline: Duration,
    /// Refusals that are neither transient nor final (an unexpected `400`) are tried this
    /// many times.
    pub odd_refusals: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(2),
            longest_wait: Duration::from_secs(300),
            deadline: Duration::from_secs(24 * 3600),
            odd_refusals: 5,
        }
    }
}
