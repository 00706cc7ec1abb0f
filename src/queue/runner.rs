//! One job's run on its lane: the deadline, cancel and suspend, panics, and what the
//! engine's answer means for the job and the lane.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;

use super::{Shared, SlotGuard};
use crate::engine::{EngineError, JobInput, LaneId, RunContext, RunListener};
use crate::job::{FailReason, JobEvent, JobId, JobOutput, JobState, RemoteTaskId};

/// Everything a started job needs to run.
pub(super) struct Run {
    pub shared: Arc<Shared>,
    pub id: JobId,
    pub lane: LaneId,
    pub input: JobInput,
    pub resume: Option<RemoteTaskId>,
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

impl Run {
    #[tracing::instrument(name = "job", skip_all, fields(job = %self.id, lane = %self.lane))]
    pub async fn execute(self) {
        let Run { shared, id, lane, input, resume, cancel, slot } = self;
        let started = Instant::now();
        if resume.is_none() {
            let state =
                JobState::Running { lane, remote_task: None, started_at: std::time::SystemTime::now() };
            shared.journal.record(id, &state).await;
        }
        let listener: Arc<dyn RunListener> = shared.clone();
        let ctx =
            RunContext::new(id, lane, input, resume, cancel.clone(), shared.suspend.clone(), listener, slot);
        let engine = Arc::clone(&shared.engine);
        // Its own task, so that a panic in the engine is an error here, not a lost job.
        let mut run = tokio::spawn(async move { engine.run(ctx).await });

        let deadline = tokio::time::sleep(shared.config.deadline);
        let stop = tokio::select! {
            biased;
            result = &mut run => return finish(&shared, id, lane, Stop::Finished, result, started).await,
            () = deadline => Stop::Deadline,
            () = cancel.cancelled() => Stop::Cancelled,
            () = shared.suspend.cancelled() => Stop::Suspended,
        };
        // Let the engine cancel (or leave) the provider task, then stop waiting.
        if matches!(stop, Stop::Deadline) {
            cancel.cancel();
        }
        let result = match tokio::time::timeout(shared.config.grace, &mut run).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!("the engine did not stop within the grace period; aborting it");
                run.abort();
                run.await
            }
        };
        finish(&shared, id, lane, stop, result, started).await;
    }
}

async fn finish(
    shared: &Shared,
    id: JobId,
    lane: LaneId,
    stop: Stop,
    result: Result<Result<JobOutput, EngineError>, JoinError>,
    started: Instant,
) {
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
        (_, Ok(Err(EngineError::LaneBusy { retry_after }))) => {
            tracing::info!(?retry_after, "lane busy on the provider; requeued");
            shared.lock().pool.back_off(lane, Instant::now() + retry_after);
            return shared.requeue(id).await;
        }
        (_, Ok(Err(EngineError::LaneRefused(why)))) => {
            tracing::error!(%why, "lane refused by the provider: taken out of rotation");
            shared.lock().pool.refuse(lane, why);
            return shared.requeue(id).await;
        }
        (_, Ok(Err(EngineError::Failed(reason)))) => JobEvent::Failed(reason),
        (_, Err(e)) => {
            tracing::error!("the job's task died: {e}");
            JobEvent::Failed(FailReason::Internal("the job's task stopped unexpectedly".into()))
        }
    };
    tracing::info!(?elapsed, outcome = event.name(), "job ended");
    shared.end(id, event).await;
}
