//! A job's identity, its states and the only legal transitions between them.
//!
//! Every state change of every job goes through [`JobState::apply`], so the queue, the bot
//! and the job store agree on what can happen: a job is queued, runs, and ends exactly once
//! (done, failed or cancelled). The store persists each applied transition as it is.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::engine::LaneId;

/// Identifies one job; stable across restarts once the store assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The id a provider gave the task it runs for a job (RunningHub's 19-digit `taskId`),
/// kept as a string whatever form it arrived in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteTaskId(pub String);

impl fmt::Display for RemoteTaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The finished picture, encoded (PNG, JPEG or WebP as the engine produced it).
#[derive(Clone, Debug)]
pub struct JobOutput {
    pub image: Bytes,
    /// File extension matching `image`'s encoding (`png`, `jpg`, `webp`).
    pub extension: &'static str,
}

/// Why a job failed, in terms the bot can turn into plain words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FailReason {
    /// The provider ran the workflow and it failed (RunningHub 805), with its reason.
    #[error("the generation failed on the provider: {0}")]
    Provider(String),
    /// The provider finished without producing an image.
    #[error("the provider returned no image")]
    NoOutput,
    /// The hard deadline passed; the task was cancelled on the provider.
    #[error("the generation took longer than {0} s")]
    Timeout(u64),
    /// An input image was refused (unreadable, too large, not a photo).
    #[error("input refused: {0}")]
    BadInput(String),
    /// The built-in engine could not cut the product out: its background is not plain.
    #[error("the product's background is not plain enough to cut out")]
    BackgroundNotPlain,
    /// Every account is out of rotation (refused keys, empty wallets) or misconfigured.
    #[error("no account can run the job: {0}")]
    NoCapacity(String),
    /// The provider could not be reached or kept answering with errors.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected state on our side (including a panic in the job's task).
    #[error("internal error: {0}")]
    Internal(String),
}

impl FailReason {
    /// A short, stable name of the kind of failure, for the store and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Provider(_) => "provider",
            Self::NoOutput => "no_output",
            Self::Timeout(_) => "timeout",
            Self::BadInput(_) => "bad_input",
            Self::BackgroundNotPlain => "background_not_plain",
            Self::NoCapacity(_) => "no_capacity",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// Whether another attempt on the same images can succeed (a provider hiccup can pass;
    /// a busy background or an unusable image stays what it is).
    pub fn worth_retrying(&self) -> bool {
        !matches!(self, Self::BadInput(_) | Self::BackgroundNotPlain)
    }

    /// The detail text that goes with the kind (empty when the kind says it all).
    pub fn detail(&self) -> String {
        match self {
            Self::Provider(s)
            | Self::BadInput(s)
            | Self::NoCapacity(s)
            | Self::Unavailable(s)
            | Self::Internal(s) => s.clone(),
            Self::Timeout(secs) => secs.to_string(),
            Self::NoOutput | Self::BackgroundNotPlain => String::new(),
        }
    }

    /// Rebuilds a reason from what [`kind`](Self::kind) and [`detail`](Self::detail) stored.
    pub fn from_stored(kind: &str, detail: &str) -> Self {
        let detail = detail.to_owned();
        match kind {
            "provider" => Self::Provider(detail),
            "no_output" => Self::NoOutput,
            "timeout" => Self::Timeout(detail.parse().unwrap_or(0)),
            "bad_input" => Self::BadInput(detail),
            "background_not_plain" => Self::BackgroundNotPlain,
            "no_capacity" => Self::NoCapacity(detail),
            "unavailable" => Self::Unavailable(detail),
            _ => Self::Internal(detail),
        }
    }
}

/// Where a job is in its life. Terminal states are `Done`, `Failed` and `Cancelled`.
#[derive(Clone, Debug)]
pub enum JobState {
    /// Waiting for a slot; `position` 1 is the next job to start.
    Queued {
        position: usize,
    },
    /// Holding a slot on `lane`; `remote_task` once the provider has created the task.
    Running {
        lane: LaneId,
        remote_task: Option<RemoteTaskId>,
        started_at: SystemTime,
    },
    Done(Arc<JobOutput>),
    Failed(FailReason),
    Cancelled,
}

/// Something that happens to a job; [`JobState::apply`] decides what it leads to.
#[derive(Clone, Debug)]
pub enum JobEvent {
    /// The queue moved; the job now waits at `position`.
    Moved {
        position: usize,
    },
    /// The job got a slot on a lane.
    Started {
        lane: LaneId,
    },
    /// The provider created the task for the job.
    RemoteCreated(RemoteTaskId),
    /// The lane could not take the job after all (account busy or refused): back to the queue.
    Requeued {
        position: usize,
    },
    Succeeded(Arc<JobOutput>),
    Failed(FailReason),
    Cancelled,
}

/// An event that the current state does not allow (a bug in the caller, or a race lost).
#[derive(Debug, thiserror::Error)]
#[error("job in state {state} cannot take event {event}")]
pub struct InvalidTransition {
    pub state: &'static str,
    pub event: &'static str,
}

impl JobState {
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Done(_) | Self::Failed(_) | Self::Cancelled)
    }

    /// A short name, for logs and the store.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "queued",
            Self::Running { .. } => "running",
            Self::Done(_) => "done",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state after `event`, or why `event` cannot happen now.
    pub fn apply(&self, event: JobEvent) -> Result<JobState, InvalidTransition> {
        use JobEvent as E;
        use JobState as S;
        let next = match (self, event) {
            (S::Queued { .. }, E::Moved { position }) => S::Queued { position },
            (S::Queued { .. }, E::Started { lane }) => {
                S::Running { lane, remote_task: None, started_at: SystemTime::now() }
            }
            (S::Running { lane, started_at, .. }, E::RemoteCreated(id)) => {
                S::Running { lane: *lane, remote_task: Some(id), started_at: *started_at }
            }
            (S::Running { remote_task: None, .. }, E::Requeued { position }) => S::Queued { position },
            (S::Running { .. }, E::Succeeded(out)) => S::Done(out),
            (S::Queued { .. } | S::Running { .. }, E::Failed(reason)) => S::Failed(reason),
            (S::Queued { .. } | S::Running { .. }, E::Cancelled) => S::Cancelled,
            (state, event) => {
                return Err(InvalidTransition { state: state.name(), event: event.name() });
            }
        };
        Ok(next)
    }
}

impl JobEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Moved { .. } => "moved",
            Self::Started { .. } => "started",
            Self::RemoteCreated(_) => "remote_created",
            Self::Requeued { .. } => "requeued",
            Self::Succeeded(_) => "succeeded",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> Arc<JobOutput> {
        Arc::new(JobOutput { image: Bytes::from_static(b"x"), extension: "png" })
    }

    #[test]
    fn happy_path() {
        let s = JobState::Queued { position: 3 };
        let s = s.apply(JobEvent::Moved { position: 1 }).unwrap();
        let s = s.apply(JobEvent::Started { lane: LaneId(1) }).unwrap();
        let s = s.apply(JobEvent::RemoteCreated(RemoteTaskId("1".into()))).unwrap();
        assert!(matches!(&s, JobState::Running { remote_task: Some(_), .. }));
        let s = s.apply(JobEvent::Succeeded(out())).unwrap();
        assert!(s.is_terminal());
    }

    #[test]
    fn terminal_states_take_nothing() {
        for s in [JobState::Done(out()), JobState::Failed(FailReason::NoOutput), JobState::Cancelled] {
            assert!(s.apply(JobEvent::Cancelled).is_err());
            assert!(s.apply(JobEvent::Succeeded(out())).is_err());
            assert!(s.apply(JobEvent::Started { lane: LaneId(1) }).is_err());
        }
    }

    #[test]
    fn a_created_task_is_never_requeued() {
        let s = JobState::Queued { position: 1 }.apply(JobEvent::Started { lane: LaneId(2) }).unwrap();
        let s = s.apply(JobEvent::RemoteCreated(RemoteTaskId("9".into()))).unwrap();
        assert!(s.apply(JobEvent::Requeued { position: 1 }).is_err());
    }

    #[test]
    fn fail_reasons_survive_the_store() {
        for r in [
            FailReason::Provider("TypeError: x".into()),
            FailReason::NoOutput,
            FailReason::Timeout(600),
            FailReason::BadInput("b".into()),
            FailReason::BackgroundNotPlain,
            FailReason::NoCapacity("c".into()),
            FailReason::Unavailable("u".into()),
            FailReason::Internal("i".into()),
        ] {
            assert_eq!(FailReason::from_stored(r.kind(), &r.detail()), r);
        }
    }

    #[test]
    fn queued_jobs_cannot_succeed() {
        assert!(JobState::Queued { position: 1 }.apply(JobEvent::Succeeded(out())).is_err());
    }
}
