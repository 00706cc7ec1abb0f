//! Where applied transitions are persisted, so that a restart finds every job where it was.

use async_trait::async_trait;

use super::{JobId, JobState};

/// One applied event and the state it led to.
#[derive(Clone, Debug)]
pub struct Transition {
    pub job: JobId,
    /// [`super::JobEvent::name`] of the event applied.
    pub event: &'static str,
    pub state: JobState,
}

/// Hears every job's transitions, in the order they were applied, in batches. The job
/// store implements it; returning means the batch is recorded (or could not be, which the
/// implementation logs: recovery then repairs it at worst). Queue moves (`moved`) come too;
/// a store may skip them, since positions follow from the order of the queued jobs.
#[async_trait]
pub trait JobJournal: Send + Sync + 'static {
    async fn record(&self, batch: &[Transition]);
}

/// Records nothing: for the CLI and for tests that do not persist jobs.
#[derive(Debug, Default)]
pub struct NoJournal;

#[async_trait]
impl JobJournal for NoJournal {
    async fn record(&self, _batch: &[Transition]) {}
}
