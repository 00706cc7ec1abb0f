//! A job's states and the only legal transitions between them.
//!
//! ```text
//! Queued{position} --Moved--> Queued{position'}
//! Queued --Started{lane}--> Uploading{lane}                 (holds a slot; no task yet)
//! Uploading | Running{None} --Requeued--> Queued            (account busy or refused)
//! Uploading --Working--> Running{task: None}                (an engine without tasks)
//! Uploading | Running{None} --CreateSent--> Running{None}   (a create left; counted)
//! Uploading | Running{None} --TaskCreated--> Running{task}  (recorded before the first poll)
//! Running --ProviderFinished--> Downloading                 (the slot is free again)
//! Uploading | Running | Downloading --Succeeded--> Delivering(output)
//! Delivering --Delivered--> Delivered                       (Telegram accepted the result)
//! any live state --Failed--> Failed;  any but Delivering --Cancelled--> Cancelled
//! ```
//! `Delivered`, `Failed` and `Cancelled` are terminal and take no event. The SQL names of
//! the states come from [`StateName`] alone.

use std::sync::Arc;
use std::time::SystemTime;

use super::{FailReason, JobOutput, LaneId, RemoteTaskId};

/// Where a job is in its life.
#[derive(Clone, Debug)]
pub enum JobState {
    /// Waiting for a slot; `position` 1 is the next job to start.
    Queued {
        position: usize,
    },
    /// Holds a slot on `lane`; the provider has no task for it yet (uploading the images).
    Uploading {
        lane: LaneId,
        started_at: SystemTime,
    },
    /// The provider works on the job: task `task` (`None` for an engine without tasks).
    Running {
        lane: LaneId,
        task: Option<RemoteTaskId>,
        started_at: SystemTime,
    },
    /// The provider is done; the result is being fetched (the slot is already free).
    Downloading {
        lane: LaneId,
        task: Option<RemoteTaskId>,
        started_at: SystemTime,
    },
    /// The result is stored and on its way to the user.
    Delivering(Arc<JobOutput>),
    Delivered,
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
    /// The engine computes the job itself (no provider task).
    Working,
    /// A create request is about to leave: until its answer the task may exist. The store
    /// counts these, so that a restart knows a create's answer was lost.
    CreateSent,
    /// The provider created the task for the job.
    TaskCreated(RemoteTaskId),
    /// The provider finished the task; what is left is fetching the result.
    ProviderFinished,
    /// The lane could not take the job after all (account busy or refused): back to the queue.
    Requeued {
        position: usize,
    },
    Succeeded(Arc<JobOutput>),
    /// Telegram accepted the result.
    Delivered,
    Failed(FailReason),
    Cancelled,
}

/// The stored name of a state: the one mapping from [`JobState`] to the store's `state`
/// column, used by every query that filters on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateName {
    Queued,
    Uploading,
    Running,
    Downloading,
    Delivering,
    Delivered,
    Failed,
    Cancelled,
}

impl StateName {
    pub const ALL: [StateName; 8] = [
        Self::Queued,
        Self::Uploading,
        Self::Running,
        Self::Downloading,
        Self::Delivering,
        Self::Delivered,
        Self::Failed,
        Self::Cancelled,
    ];
    /// Waiting for or holding a slot: what a restart puts back into the queue.
    pub const IN_QUEUE: [StateName; 4] = [Self::Queued, Self::Uploading, Self::Running, Self::Downloading];
    /// States that take no event.
    pub const TERMINAL: [StateName; 3] = [Self::Delivered, Self::Failed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Uploading => "uploading",
            Self::Running => "running",
            Self::Downloading => "downloading",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }

    /// The names as an SQL list (`'queued', 'uploading'`): constants, never user input.
    pub fn sql_list(names: &[StateName]) -> String {
        names.iter().map(|n| format!("'{}'", n.as_str())).collect::<Vec<_>>().join(", ")
    }
}

impl std::fmt::Display for StateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event that the current state does not allow (a bug in the caller, or a race lost).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("job in state {state} cannot take event {event}")]
pub struct InvalidTransition {
    pub state: StateName,
    pub event: &'static str,
}

impl JobState {
    pub fn name(&self) -> StateName {
        match self {
            Self::Queued { .. } => StateName::Queued,
            Self::Uploading { .. } => StateName::Uploading,
            Self::Running { .. } => StateName::Running,
            Self::Downloading { .. } => StateName::Downloading,
            Self::Delivering(_) => StateName::Delivering,
            Self::Delivered => StateName::Delivered,
            Self::Failed(_) => StateName::Failed,
            Self::Cancelled => StateName::Cancelled,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.name().is_terminal()
    }

    /// Whether the engine's part is over (the result is stored, or the job ended).
    pub fn is_settled(&self) -> bool {
        matches!(self, Self::Delivering(_)) || self.is_terminal()
    }

    /// The lane and start of a job that holds (or held) a slot.
    pub fn started(&self) -> Option<(LaneId, SystemTime)> {
        match self {
            Self::Uploading { lane, started_at }
            | Self::Running { lane, started_at, .. }
            | Self::Downloading { lane, started_at, .. } => Some((*lane, *started_at)),
            _ => None,
        }
    }

    /// The provider task of the job, once created.
    pub fn task(&self) -> Option<&RemoteTaskId> {
        match self {
            Self::Running { task, .. } | Self::Downloading { task, .. } => task.as_ref(),
            _ => None,
        }
    }

    /// The state after `event`, or why `event` cannot happen now.
    pub fn apply(&self, event: JobEvent) -> Result<JobState, InvalidTransition> {
        use JobEvent as E;
        use JobState as S;
        let next = match (self, event) {
            (S::Queued { .. }, E::Moved { position }) => S::Queued { position },
            (S::Queued { .. }, E::Started { lane }) => S::Uploading { lane, started_at: SystemTime::now() },
            (S::Uploading { .. } | S::Running { task: None, .. }, E::Requeued { position }) => {
                S::Queued { position }
            }
            (&S::Uploading { lane, started_at }, E::Working) => S::Running { lane, task: None, started_at },
            (
                &S::Uploading { lane, started_at } | &S::Running { lane, task: None, started_at },
                E::CreateSent,
            ) => S::Running { lane, task: None, started_at },
            (
                &S::Uploading { lane, started_at } | &S::Running { lane, task: None, started_at },
                E::TaskCreated(task),
            ) => S::Running { lane, task: Some(task), started_at },
            (S::Running { lane, task, started_at }, E::ProviderFinished) => {
                S::Downloading { lane: *lane, task: task.clone(), started_at: *started_at }
            }
            (S::Uploading { .. } | S::Running { .. } | S::Downloading { .. }, E::Succeeded(output)) => {
                S::Delivering(output)
            }
            (S::Delivering(_), E::Delivered) => S::Delivered,
            (state, E::Failed(reason)) if !state.is_terminal() => S::Failed(reason),
            (state, E::Cancelled) if !state.is_settled() => S::Cancelled,
            (state, event) => return Err(InvalidTransition { state: state.name(), event: event.name() }),
        };
        Ok(next)
    }
}

impl JobEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Moved { .. } => "moved",
            Self::Started { .. } => "started",
            Self::Working => "working",
            Self::CreateSent => "create_sent",
            Self::TaskCreated(_) => "task_created",
            Self::ProviderFinished => "provider_finished",
            Self::Requeued { .. } => "requeued",
            Self::Succeeded(_) => "succeeded",
            Self::Delivered => "delivered",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn out() -> Arc<JobOutput> {
        Arc::new(JobOutput { image: Bytes::from_static(b"x"), extension: "png" })
    }

    fn task() -> RemoteTaskId {
        RemoteTaskId("1".into())
    }

    fn run(start: JobState, events: Vec<JobEvent>) -> Result<JobState, InvalidTransition> {
        events.into_iter().try_fold(start, |s, e| s.apply(e))
    }

    #[test]
    fn a_provider_job_goes_the_whole_way() {
        let s = run(
            JobState::Queued { position: 3 },
            vec![
                JobEvent::Moved { position: 1 },
                JobEvent::Started { lane: LaneId(1) },
                JobEvent::TaskCreated(task()),
                JobEvent::ProviderFinished,
                JobEvent::Succeeded(out()),
            ],
        )
        .unwrap();
        assert_eq!(s.name(), StateName::Delivering);
        assert!(s.is_settled() && !s.is_terminal());
        assert_eq!(s.apply(JobEvent::Delivered).unwrap().name(), StateName::Delivered);
    }

    #[test]
    fn a_local_job_works_without_a_task() {
        let s = run(
            JobState::Queued { position: 1 },
            vec![JobEvent::Started { lane: LaneId(1) }, JobEvent::Working, JobEvent::Succeeded(out())],
        );
        assert_eq!(s.unwrap().name(), StateName::Delivering);
    }

    #[test]
    fn terminal_states_take_nothing() {
        let events = || {
            vec![
                JobEvent::Cancelled,
                JobEvent::Succeeded(out()),
                JobEvent::Started { lane: LaneId(1) },
                JobEvent::Failed(FailReason::NoOutput),
                JobEvent::Delivered,
                JobEvent::Moved { position: 1 },
            ]
        };
        for s in [JobState::Delivered, JobState::Failed(FailReason::NoOutput), JobState::Cancelled] {
            for e in events() {
                assert!(s.apply(e).is_err(), "{s:?}");
            }
        }
    }

    #[test]
    fn a_delivered_job_cannot_run_again() {
        let delivered = JobState::Delivering(out()).apply(JobEvent::Delivered).unwrap();
        for e in [
            JobEvent::Started { lane: LaneId(1) },
            JobEvent::Requeued { position: 1 },
            JobEvent::Succeeded(out()),
        ] {
            assert!(delivered.apply(e).is_err());
        }
    }

    #[test]
    fn a_cancelled_job_is_never_delivered() {
        let cancelled = JobState::Queued { position: 1 }.apply(JobEvent::Cancelled).unwrap();
        assert!(cancelled.apply(JobEvent::Succeeded(out())).is_err());
        assert!(cancelled.apply(JobEvent::Delivered).is_err());
    }

    #[test]
    fn a_created_task_is_never_requeued() {
        let s = run(
            JobState::Queued { position: 1 },
            vec![JobEvent::Started { lane: LaneId(2) }, JobEvent::TaskCreated(task())],
        )
        .unwrap();
        let e = s.apply(JobEvent::Requeued { position: 1 }).unwrap_err();
        assert_eq!(e, InvalidTransition { state: StateName::Running, event: "requeued" });
    }

    #[test]
    fn a_stored_result_is_not_cancelled_but_can_fail_to_arrive() {
        let s = JobState::Delivering(out());
        assert!(s.apply(JobEvent::Cancelled).is_err());
        let failed = s.apply(JobEvent::Failed(FailReason::Undeliverable("blocked".into()))).unwrap();
        assert_eq!(failed.name(), StateName::Failed);
    }

    #[test]
    fn nothing_skips_a_step() {
        let queued = JobState::Queued { position: 1 };
        for e in [
            JobEvent::Succeeded(out()),
            JobEvent::TaskCreated(task()),
            JobEvent::ProviderFinished,
            JobEvent::Delivered,
        ] {
            assert!(queued.apply(e).is_err());
        }
        let uploading = queued.apply(JobEvent::Started { lane: LaneId(1) }).unwrap();
        assert!(uploading.apply(JobEvent::ProviderFinished).is_err(), "no task has run yet");
        assert!(uploading.apply(JobEvent::Started { lane: LaneId(2) }).is_err());
    }

    #[test]
    fn every_name_parses_back() {
        for name in StateName::ALL {
            assert_eq!(StateName::parse(name.as_str()), Some(name));
        }
        assert_eq!(StateName::parse("done"), None);
    }
}
