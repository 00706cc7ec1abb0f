//! Start-up recovery: what the store had in flight goes back through the queue's doors.
//!
//! Jobs whose provider task exists are resumed on their lane (polled, never created
//! again); all other unfinished jobs re-enter the queue in their original order (oldest
//! first, so jobs that had started go before those that were waiting behind them), with
//! the count of creates whose answer the stop cut off, so none is repeated blindly. Jobs
//! whose result is stored but not yet delivered are taken into the ledger as delivering;
//! jobs that failed or were cancelled while nobody was told are handed back to be told.

use std::sync::Arc;

use tokio::sync::watch;

use super::JobQueue;
use crate::job::{FailReason, JobEvent, JobState, Owner, StateName};
use crate::store::StoredJob;

/// What a start-up found in the store and did with it.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Jobs live again (queued, running, or delivering their result), with their state.
    pub live: Vec<(StoredJob, watch::Receiver<JobState>)>,
    /// Jobs that ended while nobody was told, with how they ended.
    pub untold: Vec<(StoredJob, JobState)>,
}

/// Puts `unfinished` (as [`crate::store::Store::unfinished`] returns it, oldest first)
/// back to work on `queue`.
pub async fn recover(unfinished: Vec<StoredJob>, queue: &JobQueue) -> Recovered {
    let mut recovered = Recovered::default();
    let (resumable, rest): (Vec<_>, Vec<_>) = unfinished.into_iter().partition(|job| {
        matches!(job.state, StateName::Running | StateName::Downloading)
            && job.remote_task.is_some()
            && job.lane.is_some()
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
            StateName::Queued | StateName::Uploading | StateName::Running | StateName::Downloading => {
                // A create whose answer the stop cut off: its task may exist.
                // (Zeroed whenever the job went back to the queue with every create answered.)
                let lost = job.unconfirmed_creates;
                if lost > 0 {
                    tracing::warn!(job = %job.id, lost, "a create's answer was lost in the restart");
                }
                match queue.submit_unconfirmed(Owner(job.user_id), job.id, job.input(), lost) {
                    Ok(rx) => recovered.live.push((job, rx)),
                    Err(e) => tracing::error!(job = %job.id, "cannot requeue: {e}"),
                }
            }
            StateName::Delivering => match deliver_again(&job, queue).await {
                Some(rx) => recovered.live.push((job, rx)),
                None => tracing::error!(job = %job.id, "cannot take up the delivery"),
            },
            StateName::Failed => {
                let reason = job.failure.clone().unwrap_or(FailReason::Internal(String::new()));
                recovered.untold.push((job, JobState::Failed(reason)));
            }
            StateName::Cancelled => recovered.untold.push((job, JobState::Cancelled)),
            StateName::Delivered => {}
        }
    }
    tracing::info!(
        live = recovered.live.len(),
        untold = recovered.untold.len(),
        "recovered the store's unfinished jobs"
    );
    recovered
}

/// Takes a stored, undelivered result into the ledger; a result file that is gone fails
/// the job (the user is told instead of waiting forever).
async fn deliver_again(job: &StoredJob, queue: &JobQueue) -> Option<watch::Receiver<JobState>> {
    let ledger = queue.ledger();
    match job.load_result().await {
        Ok(output) => ledger.admit(job.id, JobState::Delivering(Arc::new(output))).ok(),
        Err(e) => {
            tracing::error!(job = %job.id, "{e}");
            // Admitted as delivering only to fail it through the one door.
            let placeholder =
                Arc::new(crate::job::JobOutput { image: bytes::Bytes::new(), extension: "jpg" });
            let rx = ledger.admit(job.id, JobState::Delivering(placeholder)).ok()?;
            let reason = FailReason::Internal("the result file is missing".into());
            ledger.apply(job.id, JobEvent::Failed(reason)).ok()?.await;
            Some(rx)
        }
    }
}
