//! The owner of every live job's state.
//!
//! Each change of a job's state is one [`Ledger::apply`]: the event is checked against
//! the current state ([`JobState::apply`]), the current state moves on at once (so the
//! next event is checked against it), and the transition goes to a single writer task.
//! The writer journals transitions in the order they were applied, in batches, and only
//! then publishes each new state on its job's `watch` channel and resolves the
//! [`Recorded`] handle of whoever applied it. So anyone who acts on a state (the bot
//! delivering a result, the scheduler re-running a requeued job) acts on something the
//! store already has. A job leaves the ledger when it reaches a terminal state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, oneshot, watch};

use super::{InvalidTransition, JobEvent, JobId, JobJournal, JobState, Transition};

/// At most this many transitions are journalled in one batch (one store transaction).
const MAX_BATCH: usize = 256;

/// Why an event was not applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("job {0} is not live")]
    Unknown(JobId),
    #[error("job {0} is already live")]
    Duplicate(JobId),
    #[error("job {job}: {source}")]
    Invalid { job: JobId, source: InvalidTransition },
}

/// Resolves once an applied transition is journalled and published.
#[must_use = "await it to act only on what the store already has"]
pub struct Recorded(Option<oneshot::Receiver<()>>);

impl Recorded {
    /// A transition with nothing to wait for (a move to the position the job already had).
    fn ready() -> Self {
        Self(None)
    }
}

impl IntoFuture for Recorded {
    type Output = ();
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if let Some(rx) = self.0 {
                // The writer only goes away with the runtime; nothing is left to wait for.
                let _ = rx.await;
            }
        })
    }
}

/// A handle to the ledger; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Mutex<HashMap<JobId, Live>>,
    writer: mpsc::UnboundedSender<Write>,
}

/// A job between its admission and its terminal state.
struct Live {
    /// The state after the last applied event (possibly not yet journalled).
    current: JobState,
    /// What subscribers see: the last journalled state.
    published: watch::Sender<JobState>,
}

enum Write {
    Transition {
        transition: Transition,
        publish: watch::Sender<JobState>,
        done: oneshot::Sender<()>,
    },
    /// Answered once everything sent before it is journalled.
    Flush(oneshot::Sender<()>),
}

impl Ledger {
    /// Starts the writer on the current runtime.
    pub fn start(journal: Arc<dyn JobJournal>) -> Self {
        let (writer, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(journal, rx));
        Self { inner: Arc::new(Inner { jobs: Mutex::new(HashMap::new()), writer }) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Live>> {
        // Nothing panics while the lock is held; a poisoned map is still consistent.
        self.inner.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a job in, in the state the store already has for it (a new queued job, or one
    /// found at start-up): nothing is journalled.
    pub fn admit(&self, job: JobId, state: JobState) -> Result<watch::Receiver<JobState>, ApplyError> {
        let mut jobs = self.lock();
        if jobs.contains_key(&job) {
            return Err(ApplyError::Duplicate(job));
        }
        let (published, rx) = watch::channel(state.clone());
        jobs.insert(job, Live { current: state, published });
        Ok(rx)
    }

    /// Applies `event` to `job`: the new state is current at once, journalled and
    /// published in order by the writer. Never blocks; callable under other locks.
    pub fn apply(&self, job: JobId, event: JobEvent) -> Result<Recorded, ApplyError> {
        let mut jobs = self.lock();
        let live = jobs.get_mut(&job).ok_or(ApplyError::Unknown(job))?;
        if let (JobState::Queued { position }, JobEvent::Moved { position: to }) = (&live.current, &event)
            && position == to
        {
            return Ok(Recorded::ready());
        }
        let event_name = event.name();
        let next = live.current.apply(event).map_err(|source| ApplyError::Invalid { job, source })?;
        tracing::debug!(%job, event = event_name, state = %next.name(), "job state");
        live.current = next.clone();
        let publish = live.published.clone();
        if next.is_terminal() {
            jobs.remove(&job);
        }
        let (done, recorded) = oneshot::channel();
        let transition = Transition { job, event: event_name, state: next };
        // The writer lives as long as the runtime; if it is gone, so is everyone waiting.
        let _ = self.inner.writer.send(Write::Transition { transition, publish, done });
        Ok(Recorded(Some(recorded)))
    }

    /// The state after the last applied event, if the job is live.
    pub fn current(&self, job: JobId) -> Option<JobState> {
        self.lock().get(&job).map(|live| live.current.clone())
    }

    /// Watches a live job's journalled state; `None` once it has ended (or was never here).
    pub fn subscribe(&self, job: JobId) -> Option<watch::Receiver<JobState>> {
        self.lock().get(&job).map(|live| live.published.subscribe())
    }

    /// How many jobs are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns once every transition applied so far is journalled (the shutdown's "drain
    /// store writes").
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.inner.writer.send(Write::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

/// The single writer: journals what was applied, in order, then publishes it.
async fn write(journal: Arc<dyn JobJournal>, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut writes = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut writes, MAX_BATCH).await > 0 {
        let batch: Vec<Transition> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Transition { transition, .. } => Some(transition.clone()),
                Write::Flush(_) => None,
            })
            .collect();
        if !batch.is_empty() {
            journal.record(&batch).await;
        }
        for write in writes.drain(..) {
            match write {
                Write::Transition { transition, publish, done } => {
                    publish.send_replace(transition.state);
                    let _ = done.send(());
                }
                Write::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::job::{FailReason, LaneId, StateName};

    /// Keeps what it was told, and lets a test hold the writer up.
    #[derive(Default)]
    struct Spy {
        seen: Mutex<Vec<(JobId, &'static str, StateName)>>,
        hold: tokio::sync::Mutex<()>,
    }

    #[async_trait]
    impl JobJournal for Spy {
        async fn record(&self, batch: &[Transition]) {
            let _held = self.hold.lock().await;
            let mut seen = self.seen.lock().unwrap();
            seen.extend(batch.iter().map(|t| (t.job, t.event, t.state.name())));
        }
    }

    #[tokio::test]
    async fn transitions_are_journalled_in_order_and_published_after() {
        let spy = Arc::new(Spy::default());
        let ledger = Ledger::start(spy.clone());
        let mut rx = ledger.admit(JobId(1), JobState::Queued { position: 2 }).unwrap();
        let held = spy.hold.lock().await;
        let moved = ledger.apply(JobId(1), JobEvent::Moved { position: 1 }).unwrap();
        let started = ledger.apply(JobId(1), JobEvent::Started { lane: LaneId(1) }).unwrap();
        assert_eq!(ledger.current(JobId(1)).unwrap().name(), StateName::Uploading, "current at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(rx.borrow_and_update().name(), StateName::Queued, "not published before it is journalled");
        drop(held);
        moved.await;
        started.await;
        assert_eq!(rx.borrow_and_update().name(), StateName::Uploading);
        let seen = spy.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![(JobId(1), "moved", StateName::Queued), (JobId(1), "started", StateName::Uploading)]
        );
    }

    #[tokio::test]
    async fn illegal_events_change_nothing() {
        let spy = Arc::new(Spy::default());
        let ledger = Ledger::start(spy.clone());
        ledger.admit(JobId(1), JobState::Queued { position: 1 }).unwrap();
        let err = ledger.apply(JobId(1), JobEvent::ProviderFinished).err().unwrap();
        assert!(matches!(err, ApplyError::Invalid { .. }));
        assert_eq!(ledger.apply(JobId(9), JobEvent::Cancelled).err(), Some(ApplyError::Unknown(JobId(9))));
        assert_eq!(ledger.admit(JobId(1), JobState::Cancelled).err(), Some(ApplyError::Duplicate(JobId(1))));
        ledger.flush().await;
        assert!(spy.seen.lock().unwrap().is_empty());
        assert_eq!(ledger.current(JobId(1)).unwrap().name(), StateName::Queued);
    }

    #[tokio::test]
    async fn a_terminal_job_leaves_and_its_watchers_see_the_end() {
        let ledger = Ledger::start(Arc::new(Spy::default()));
        let mut rx = ledger.admit(JobId(1), JobState::Queued { position: 1 }).unwrap();
        ledger.apply(JobId(1), JobEvent::Failed(FailReason::NoOutput)).unwrap().await;
        assert!(ledger.subscribe(JobId(1)).is_none());
        assert!(ledger.is_empty());
        let end = rx.wait_for(JobState::is_terminal).await.map(|s| s.name()).unwrap_or(StateName::Queued);
        assert_eq!(end, StateName::Failed);
        assert!(rx.changed().await.is_err(), "the channel closes after the end");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_transition_reaches_the_journal_exactly_once_in_its_jobs_order() {
        let spy = Arc::new(Spy::default());
        let ledger = Ledger::start(spy.clone());
        let output = Arc::new(crate::job::JobOutput { image: bytes::Bytes::new(), extension: "jpg" });
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let (ledger, output) = (ledger.clone(), output.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    let job = JobId(t * 1000 + i);
                    ledger.admit(job, JobState::Queued { position: 1 }).unwrap();
                    let task = crate::job::RemoteTaskId(job.to_string());
                    for event in [
                        JobEvent::Started { lane: LaneId(1) },
                        JobEvent::TaskCreated(task),
                        JobEvent::ProviderFinished,
                        JobEvent::Succeeded(output.clone()),
                        JobEvent::Delivered,
                    ] {
                        let _recorded = ledger.apply(job, event).unwrap();
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        ledger.flush().await;
        let seen = spy.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 4 * 50 * 5);
        let mut by_job: HashMap<JobId, Vec<StateName>> = HashMap::new();
        for (job, _, state) in seen {
            by_job.entry(job).or_default().push(state);
        }
        use StateName::*;
        assert!(by_job.values().all(|s| *s == [Uploading, Running, Downloading, Delivering, Delivered]));
        assert!(ledger.is_empty());
    }

    #[tokio::test]
    async fn moving_to_the_same_position_writes_nothing() {
        let spy = Arc::new(Spy::default());
        let ledger = Ledger::start(spy.clone());
        ledger.admit(JobId(1), JobState::Queued { position: 1 }).unwrap();
        ledger.apply(JobId(1), JobEvent::Moved { position: 1 }).unwrap().await;
        ledger.flush().await;
        assert!(spy.seen.lock().unwrap().is_empty());
    }
}
