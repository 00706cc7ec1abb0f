//! [`Looks`]: the wanted look of each job in flight, by job id.
//!
//! A job's inputs are its two images (and that is what the store keeps); how the result is
//! to come out is said beside them, here, by whoever submits the job, and read by the
//! engine that runs it. A job with no look gets the default one (the original frame,
//! variant 0): the bot's jobs until it offers formats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::Look;
use crate::job::JobId;

/// Shared between the submitter and the engine (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct Looks(Arc<Mutex<HashMap<JobId, Look>>>);

impl Looks {
    /// Says how `job` is to come out; call before submitting it.
    pub fn set(&self, job: JobId, look: Look) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(job, look);
    }

    /// The look of `job` (the default if none was set). Read on every run, so a retried
    /// job keeps it.
    pub fn get(&self, job: JobId) -> Look {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&job).copied().unwrap_or_default()
    }

    /// Forgets `job`'s look once it ended.
    pub fn forget(&self, job: JobId) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&job);
    }
}
