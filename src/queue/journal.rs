//! Where the queue reports every state change, so the job store can persist it.

use async_trait::async_trait;

use crate::job::{JobId, JobState};

/// Hears each job's state changes in order (queue position moves are not reported: they
/// follow from the order of the queued jobs). The job store implements it; returning means
/// the change is recorded.
#[async_trait]
pub trait JobJournal: Send + Sync + 'static {
    async fn record(&self, job: JobId, state: &JobState);
}

/// Records nothing: for the CLI and for tests that do not persist jobs.
#[derive(Debug, Default)]
pub struct NoJournal;

#[async_trait]
impl JobJournal for NoJournal {
    async fn record(&self, _job: JobId, _state: &JobState) {}
}
