//! How a fake task behaves over time.
//!
//! Tests decide, per task, how long it waits in the provider's queue, how long it runs and
//! how it ends, so every client path (success, 805 failure, empty output, timeout) can be
//! reached deterministically.

use std::time::Duration;

/// The scripted life of one task: queued for `queued_for`, then running for `run_for`,
/// then ending with `outcome` (at `created_at + queued_for + run_for`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskScript {
    /// Time spent answering 813 APIKEY_TASK_IS_QUEUED.
    pub queued_for: Duration,
    /// Time spent answering "running" after the queue.
    pub run_for: Duration,
    /// How the task ends.
    pub outcome: Outcome,
}

/// How a scripted task ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `code 0` with one output image.
    Succeed,
    /// `805 APIKEY_TASK_STATUS_ERROR` with this `exception_message` in `failedReason`.
    Fail(String),
    /// `code 0` with `data: []` (finished but produced nothing).
    NoOutput,
    /// Runs forever (until cancelled): exercises the client's deadline.
    NeverFinish,
}

impl TaskScript {
    /// A task with explicit timings and outcome.
    pub fn new(queued_for: Duration, run_for: Duration, outcome: Outcome) -> Self {
        TaskScript { queued_for, run_for, outcome }
    }

    /// Runs at once for `run_for`, then succeeds.
    pub fn succeed(run_for: Duration) -> Self {
        Self::new(Duration::ZERO, run_for, Outcome::Succeed)
    }

    /// Runs at once for `run_for`, then fails with `message`.
    pub fn fail(run_for: Duration, message: &str) -> Self {
        Self::new(Duration::ZERO, run_for, Outcome::Fail(message.to_owned()))
    }

    /// Runs at once for `run_for`, then finishes with no output.
    pub fn no_output(run_for: Duration) -> Self {
        Self::new(Duration::ZERO, run_for, Outcome::NoOutput)
    }

    /// Never finishes.
    pub fn never_finish() -> Self {
        Self::new(Duration::ZERO, Duration::ZERO, Outcome::NeverFinish)
    }

    /// Time from creation to the end (`None` for [`Outcome::NeverFinish`]).
    pub fn total(&self) -> Option<Duration> {
        match self.outcome {
            Outcome::NeverFinish => None,
            _ => Some(self.queued_for + self.run_for),
        }
    }
}

impl Default for TaskScript {
    /// No queue, 100 ms of running, success: quick enough for any test.
    fn default() -> Self {
        Self::succeed(Duration::from_millis(100))
    }
}
