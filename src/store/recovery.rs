//! Start-up recovery: what the store had in flight goes back into the queue.
//!
//! Jobs whose provider task exists are resumed on their lane (polled, never created
//! again); all other unfinished jobs re-enter the queue in their original order (oldest
//! first, so jobs that had started go before those that were waiting behind them). Jobs
//! that ended without their user being told are handed back for delivery.

use tokio::sync::watch;

use super::{StoredJob, StoredState};
use crate::job::JobState;
use crate::queue::JobQueue;

/// What a start-up found in the store and did with it.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Jobs back in the queue, with their state, to keep their status messages current.
    pub live: Vec<(StoredJob, watch::Receiver<JobState>)>,
    /// Jobs that ended while nobody was told: deliver the result or say how they ended.
    pub undelivered: Vec<StoredJob>,
}

/// Puts `unfinished` (as [`super::Store::unfinished`] returns it, oldest first) back into
/// `queue`.
pub fn recover(unfinished: Vec<StoredJob>, queue: &JobQueue) -> Recovered {
    let mut recovered = Recovered::default();
    let (resumable, rest): (Vec<_>, Vec<_>) = unfinished.into_iter().partition(|job| {
        job.state == StoredState::Running && job.remote_task.is_some() && job.lane.is_some()
    });
    // Provider tasks first: they already hold a slot on their account.
    for job in resumable {
        let (Some(lane), Some(task)) = (job.lane, job.remote_task.clone()) else { continue };
        match queue.resume(job.id, job.input(), lane, task) {
            Ok(rx) => recovered.live.push((job, rx)),
            Err(e) => tracing::error!(job = %job.id, "cannot resume: {e}"),
        }
    }
    for job in rest {
        match job.state {
            StoredState::Queued | StoredState::Running => match queue.submit(job.id, job.input()) {
                Ok(rx) => recovered.live.push((job, rx)),
                Err(e) => tracing::error!(job = %job.id, "cannot requeue: {e}"),
            },
            _ => recovered.undelivered.push(job),
        }
    }
    tracing::info!(
        live = recovered.live.len(),
        undelivered = recovered.undelivered.len(),
        "recovered the store's unfinished jobs"
    );
    recovered
}
