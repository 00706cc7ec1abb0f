//! How a fake prompt behaves once it executes.
//!
//! The fake runs prompts one at a time like ComfyUI; a script says how long a prompt
//! executes (after it leaves the queue) and how it ends, so every client path (success,
//! execution error, no image, never finishing) can be reached deterministically.

use std::time::Duration;

/// The scripted execution of one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptScript {
    /// Execution time, counted from the moment the prompt leaves the queue.
    pub run_for: Duration,
    /// How it ends.
    pub outcome: PromptOutcome,
}

/// How a scripted prompt ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptOutcome {
    /// `status_str: success` with one image per SaveImage/PreviewImage node.
    Succeed,
    /// `status_str: error` with an `execution_error` carrying this `exception_message`.
    Fail(String),
    /// `status_str: success` without any image.
    NoOutput,
    /// Executes until interrupted; the prompts behind it wait.
    NeverFinish,
}

impl PromptScript {
    /// Executes for `run_for`, then succeeds.
    pub fn succeed(run_for: Duration) -> Self {
        Self { run_for, outcome: PromptOutcome::Succeed }
    }

    /// Executes for `run_for`, then fails with `message`.
    pub fn fail(run_for: Duration, message: &str) -> Self {
        Self { run_for, outcome: PromptOutcome::Fail(message.to_owned()) }
    }

    /// Executes for `run_for`, then ends with no image.
    pub fn no_output(run_for: Duration) -> Self {
        Self { run_for, outcome: PromptOutcome::NoOutput }
    }

    /// Never finishes on its own.
    pub fn never_finish() -> Self {
        Self { run_for: Duration::ZERO, outcome: PromptOutcome::NeverFinish }
    }

    /// Execution time to the natural end (`None` for [`PromptOutcome::NeverFinish`]).
    pub fn total(&self) -> Option<Duration> {
        match self.outcome {
            PromptOutcome::NeverFinish => None,
            _ => Some(self.run_for),
        }
    }
}

impl Default for PromptScript {
    /// 50 ms of execution, then success.
    fn default() -> Self {
        Self::succeed(Duration::from_millis(50))
    }
}
