//! One job's run on its lane: the slot, the deadline, cancel and suspend, panics, the
//! engine's progress, and what the engine's answer means for the job and the lane.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{Scheduler, SlotGuard};
use crate::engine::{EngineError, Progress, RunContext};
use crate::job::{FailReason, JobEvent, JobId, JobInput, JobOutput, LaneId, RemoteTaskId};
use crate::telemetry;

/// Everything a started job needs to run.
pub(super) struct Run {
    pub shared: Arc<Scheduler>,
    pub id: JobId,
    pub lane: LaneId,
    pub input: JobInput,
    pub resume: Option<RemoteTaskId>,
    /// Creates of earlier runs whose answer was lost (see [`RunContext`]).
    pub unconfirmed_creates: u32,
    pub cancel: CancellationToken,
    pub slot: SlotGuard,
}

/// Why the runner stopped waiting for the engine.
enum Stop {
    Finished,
    Deadline,
    Cancelled,
    Suspended,
}

type EngineResult = Result<Result<JobOutput, EngineError>, JoinError>;

/// The engine's run and what the runner still holds for it.
struct Running {
    engine: JoinHandle<Result<JobOutput, EngineError>>,
    progress: mpsc::UnboundedReceiver<Progress>,
    /// Given back as soon as the provider is done (or when the run ends, at the latest).
    slot: Option<SlotGuard>,
    /// A create request is on its way: the run is never dropped before its answer.
    creating: bool,
}

impl Run {
    #[tracing::instrument(name = "job", skip_all, fields(job = %self.id, lane = %self.lane))]
    pub async fn execute(self) {
        let Run { shared, id, lane, input, resume, unconfirmed_creates, cancel, slot } = self;
        let started = Instant::now();
        let (progress_tx, progress) = mpsc::unbounded_channel();
        let mut ctx =
            RunContext::new(id, lane, input, resume, cancel.clone(), shared.suspend.clone(), progress_tx);
        ctx.unconfirmed_creates = unconfirmed_creates;
        let engine = Arc::clone(&shared.engine);
        // Its own task, so that a panic in the engine is an error here, not a lost job.
        let engine = tokio::spawn(async move { engine.run(ctx).await });
        let mut run = Running { engine, progress, slot: Some(slot), creating: false };

        let deadline = tokio::time::sleep(shared.config.deadline);
        let stopped = tokio::select! {
            biased;
            result = run.wait(&shared, id) => Ok(result),
            () = deadline => Err(Stop::Deadline),
            () = cancel.cancelled() => Err(Stop::Cancelled),
            () = shared.suspend.cancelled() => Err(Stop::Suspended),
        };
        let (stop, result) = match stopped {
            Ok(result) => (Stop::Finished, result),
            Err(stop) => {
                // Let the engine cancel (or leave) the provider task, then stop waiting; a
                // task it creates meanwhile is still recorded.
                if matches!(stop, Stop::Deadline) {
                    cancel.cancel();
                }
                let mut result = tokio::time::timeout(shared.config.grace, run.wait(&shared, id)).await;
                if result.is_err() && run.creating {
                    // The task may exist already: wait for the create's answer (bounded
                    // by the HTTP timeout), so it is cancelled or recorded, never orphaned.
                    tracing::warn!("a create request is on its way: waiting for its answer");
                    result = tokio::time::timeout(CREATE_ANSWER_BOUND, run.wait(&shared, id)).await;
                }
                let result = match result {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("the engine did not stop within the grace period; aborting it");
                        run.engine.abort();
                        (&mut run.engine).await
                    }
                };
                (stop, result)
            }
        };
        run.create_answered(&shared);
        // The engine is done with the lane: the next job may start while this one's end is
        // being recorded (on a lane the provider turned us away from, not before its
        // back-off is known).
        mark_lane(&shared, lane, &result);
        drop(run);
        finish(&shared, id, stop, result, started).await;
    }
}

/// Longest wait for the answer of a create request sent before a cancel or a stop (the
/// clients' request timeouts are 30 s).
pub(super) const CREATE_ANSWER_BOUND: Duration = Duration::from_secs(45);

impl Running {
    fn create_answered(&mut self, shared: &Scheduler) {
        if std::mem::take(&mut self.creating) {
            shared.creates_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Waits for the engine's answer, acting on its progress meanwhile.
    async fn wait(&mut self, shared: &Scheduler, id: JobId) -> EngineResult {
        loop {
            tokio::select! {
                biased;
                Some(progress) = self.progress.recv() => self.on_progress(shared, id, progress).await,
                result = &mut self.engine => return result,
            }
        }
    }

    async fn on_progress(&mut self, shared: &Scheduler, id: JobId, progress: Progress) {
        let applied = match progress {
            Progress::Working => shared.record(id, JobEvent::Working).await,
            Progress::Creating { recorded } => {
                // Uploaded ahead: the create waits for a task slot on the lane. A stop
                // meanwhile drops `recorded`, and the engine sends no create.
                if let Some(slot) = self.slot.as_mut() {
                    slot.task_slot().await;
                }
                if !self.creating {
                    self.creating = true;
                    shared.creates_in_flight.fetch_add(1, Ordering::Relaxed);
                }
                let applied = shared.record(id, JobEvent::CreateSent).await;
                let _ = recorded.send(());
                applied
            }
            Progress::TaskCreated { task, recorded } => {
                self.create_answered(shared);
                tracing::info!(%task, "task created");
                let applied = shared.record(id, JobEvent::TaskCreated(task)).await;
                let _ = recorded.send(());
                applied
            }
            Progress::ProviderFinished => {
                self.slot.take();
                shared.record(id, JobEvent::ProviderFinished).await
            }
        };
        if let Err(e) = applied {
            tracing::error!("{e}");
        }
    }
}

/// Backs a lane off, or takes it out of rotation, when the provider turned the job away.
fn mark_lane(shared: &Scheduler, lane: LaneId, result: &EngineResult) {
    match result {
        Ok(Err(EngineError::LaneBusy { retry_after })) => {
            tracing::info!(?retry_after, "lane busy on the provider; requeued");
            shared.lock().pool.back_off(lane, Instant::now() + *retry_after);
        }
        Ok(Err(EngineError::LaneRefused(why))) => {
            tracing::error!(%why, "lane refused by the provider: taken out of rotation");
            shared.lock().pool.refuse(lane, why.clone());
        }
        _ => {}
    }
}

async fn finish(shared: &Scheduler, id: JobId, stop: Stop, result: EngineResult, started: Instant) {
    let elapsed = started.elapsed();
    let event = match (stop, result) {
        (_, Ok(Ok(output))) => JobEvent::Succeeded(Arc::new(output)),
        (Stop::Suspended, _) | (_, Ok(Err(EngineError::Suspended))) => {
            tracing::info!("left running on the provider for the next start");
            return;
        }
        (Stop::Deadline, _) => {
            tracing::warn!(?elapsed, "deadline passed");
            JobEvent::Failed(FailReason::Timeout(shared.config.deadline.as_secs()))
        }
        (Stop::Cancelled, _) | (_, Ok(Err(EngineError::Cancelled))) => JobEvent::Cancelled,
        (_, Ok(Err(EngineError::LaneBusy { .. } | EngineError::LaneRefused(_)))) => {
            return shared.requeue(id).await;
        }
        (_, Ok(Err(EngineError::Failed(reason)))) => JobEvent::Failed(reason),
        (_, Err(e)) => {
            tracing::error!("the job's task died: {e}");
            JobEvent::Failed(FailReason::Internal("the job's task stopped unexpectedly".into()))
        }
    };
    tracing::info!(?elapsed, outcome = event.name(), "job ended");
    metrics::counter!(telemetry::JOBS_TOTAL, "outcome" => event.name()).increment(1);
    metrics::histogram!(telemetry::JOB_DURATION).record(elapsed);
    shared.end(id, event).await;
}
