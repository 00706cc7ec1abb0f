//! The job queue: first come, first served, over the engine's lanes.
//!
//! One scheduler task starts jobs whenever a slot is free; each started job runs in a task
//! of its own ([`runner`]) that holds the slot, enforces the deadline and turns the
//! engine's answer into the job's end. Every state change is applied through the
//! [`Ledger`], which journals it (the store) and publishes it on the job's `watch` channel
//! (the bot's status message, the CLI's progress). Handlers only ever submit and return.
//! At start-up [`recovery`] puts what the store had in flight back through the same doors.

pub mod leases;
mod line;
mod pool;
mod positions;
pub mod recovery;
mod runner;
mod slot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use pool::{LaneLoad, LeaseUse};
pub use recovery::{Recovered, recover};

use crate::engine::Engine;
use crate::job::{
    ApplyError, FailReason, JobEvent, JobId, JobInput, JobState, LaneId, Ledger, Owner, RemoteTaskId,
};
use crate::shutdown::ShutdownMode;
use line::Line;
use pool::Pool;
use positions::Positions;
use slot::SlotGuard;

/// How the queue runs jobs.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Hard deadline of one run (`RUNNINGHUB_TASK_TIMEOUT_S`); the job then fails.
    pub deadline: Duration,
    /// How long an engine may take to wind down after cancel or suspend before its run is
    /// aborted.
    pub grace: Duration,
    /// Times a job may be sent back to the queue by busy or refused lanes before it fails
    /// (`MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { deadline: Duration::from_secs(600), grace: Duration::from_secs(5), max_attempts: 5 }
    }
}

/// Why a job was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("the queue is shutting down")]
    ShuttingDown,
    #[error("job {0} is already in the queue")]
    Duplicate(JobId),
}

/// A handle to the queue; cheap to clone.
#[derive(Clone)]
pub struct JobQueue {
    shared: Arc<Scheduler>,
}

pub(crate) struct Scheduler {
    state: Mutex<Schedule>,
    /// Wakes the scheduler: a job arrived, a slot came free, a lane changed.
    wake: Notify,
    engine: Arc<dyn Engine>,
    ledger: Ledger,
    config: QueueConfig,
    next_id: AtomicU64,
    /// The scheduler and every job's runner, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Stops the scheduler.
    stop: CancellationToken,
    /// Tells running jobs to leave their provider tasks running (shutdown with `keep`).
    suspend: CancellationToken,
    /// Create requests sent and not yet answered: shutdown waits for them.
    creates_in_flight: AtomicUsize,
    /// A task slot came free (for jobs that uploaded ahead).
    task_slot_freed: Notify,
    /// The slots this process needs may have changed (replicas' lease keeper).
    demand_changed: Notify,
}

struct Schedule {
    jobs: HashMap<JobId, Entry>,
    /// Queued jobs, next first.
    waiting: Line,
    /// What the queued jobs were told of their positions.
    positions: Positions,
    pool: Pool,
    accepting: bool,
}

/// A job the queue is responsible for: waiting, or started and not yet settled.
struct Entry {
    owner: Owner,
    input: JobInput,
    cancel: CancellationToken,
    /// Times the job was sent back by its lane.
    requeued: u32,
    /// Creates of earlier runs whose answer was lost (a restart in between).
    unconfirmed_creates: u32,
    /// When it came into the queue (for the queue-wait metric).
    queued_at: Instant,
}

impl JobQueue {
    /// Starts the scheduler on the current runtime.
    pub fn start(engine: Arc<dyn Engine>, ledger: Ledger, config: QueueConfig) -> Self {
        let pool = Pool::new(engine.lanes());
        let shared = Arc::new(Scheduler {
            state: Mutex::new(Schedule {
                jobs: HashMap::new(),
                waiting: Line::default(),
                positions: Positions::default(),
                pool,
                accepting: true,
            }),
            wake: Notify::new(),
            engine,
            ledger,
            config,
            next_id: AtomicU64::new(1),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            suspend: CancellationToken::new(),
            creates_in_flight: AtomicUsize::new(0),
            task_slot_freed: Notify::new(),
            demand_changed: Notify::new(),
        });
        shared.tasks.spawn(schedule(Arc::clone(&shared)));
        Self { shared }
    }

    /// An id no job of this queue has used (for callers without a store of their own).
    pub fn next_id(&self) -> JobId {
        JobId(self.shared.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Puts a job nobody in particular sent at the back of the queue (the CLI, tests).
    pub fn submit(&self, id: JobId, input: JobInput) -> Result<watch::Receiver<JobState>, SubmitError> {
        self.submit_for(Owner::ANYONE, id, input)
    }

    /// Puts `owner`'s job at the back of its queue: owners take turns. Its state can be
    /// watched at once.
    pub fn submit_for(
        &self,
        owner: Owner,
        id: JobId,
        input: JobInput,
    ) -> Result<watch::Receiver<JobState>, SubmitError> {
        self.enqueue(owner, id, input, 0)
    }

    /// Puts back a job whose earlier runs sent `unconfirmed_creates` creates that were never
    /// answered (the process stopped meanwhile): its engine decides whether another create
    /// is safe.
    pub fn submit_unconfirmed(
        &self,
        owner: Owner,
        id: JobId,
        input: JobInput,
        unconfirmed_creates: u32,
    ) -> Result<watch::Receiver<JobState>, SubmitError> {
        self.enqueue(owner, id, input, unconfirmed_creates)
    }

    fn enqueue(
        &self,
        owner: Owner,
        id: JobId,
        input: JobInput,
        unconfirmed_creates: u32,
    ) -> Result<watch::Receiver<JobState>, SubmitError> {
        let shared = &self.shared;
        shared.next_id.fetch_max(id.0 + 1, Ordering::Relaxed);
        let rx = {
            let mut state = shared.lock();
            if !state.accepting {
                return Err(SubmitError::ShuttingDown);
            }
            if state.jobs.contains_key(&id) {
                return Err(SubmitError::Duplicate(id));
            }
            let position = state.waiting.len() + 1;
            let rx = shared
                .ledger
                .admit(id, JobState::Queued { position })
                .map_err(|_| SubmitError::Duplicate(id))?;
            let cancel = CancellationToken::new();
            let entry =
                Entry { owner, input, cancel, requeued: 0, unconfirmed_creates, queued_at: Instant::now() };
            state.jobs.insert(id, entry);
            state.waiting.push_back(owner, id);
            // A new owner's first job goes ahead of others' later ones.
            shared.publish_positions(&mut state);
            rx
        };
        tracing::debug!(job = %id, "queued");
        shared.wake.notify_one();
        shared.demand_changed.notify_one();
        Ok(rx)
    }

    /// Takes up a job whose provider task was created before a restart: it holds a slot on
    /// `lane` at once (the task is already running there) and is polled, never re-created.
    pub fn resume(
        &self,
        id: JobId,
        input: JobInput,
        lane: LaneId,
        task: RemoteTaskId,
    ) -> Result<watch::Receiver<JobState>, SubmitError> {
        let shared = &self.shared;
        shared.next_id.fetch_max(id.0 + 1, Ordering::Relaxed);
        let (rx, cancel, held) = {
            let mut state = shared.lock();
            if !state.accepting {
                return Err(SubmitError::ShuttingDown);
            }
            if state.jobs.contains_key(&id) {
                return Err(SubmitError::Duplicate(id));
            }
            let running = JobState::Running {
                lane,
                task: Some(task.clone()),
                started_at: std::time::SystemTime::now(),
            };
            let rx = shared.ledger.admit(id, running).map_err(|_| SubmitError::Duplicate(id))?;
            let cancel = CancellationToken::new();
            // Running with its task: it is never sent back, so whose turn it is does not matter.
            let entry = Entry {
                owner: Owner::ANYONE,
                input: input.clone(),
                cancel: cancel.clone(),
                requeued: 0,
                unconfirmed_creates: 0,
                queued_at: Instant::now(),
            };
            state.jobs.insert(id, entry);
            // The task runs already: it counts against the lane even beyond its capacity.
            let held = state.pool.acquire(lane);
            (rx, cancel, held)
        };
        tracing::info!(job = %id, %lane, %task, "resuming a provider task");
        let slot = SlotGuard::new(Arc::downgrade(shared), lane, held);
        let run = runner::Run {
            shared: Arc::clone(shared),
            id,
            lane,
            input,
            resume: Some(task),
            unconfirmed_creates: 0,
            cancel,
            slot,
        };
        shared.tasks.spawn(run.execute());
        Ok(rx)
    }

    /// Watches a live job's state; `None` once it has ended (or was never here).
    pub fn subscribe(&self, id: JobId) -> Option<watch::Receiver<JobState>> {
        self.shared.ledger.subscribe(id)
    }

    /// The ledger the queue applies its jobs' transitions through (the bot applies
    /// delivery there).
    pub fn ledger(&self) -> &Ledger {
        &self.shared.ledger
    }

    /// Cancels a job. A queued job ends at once and never reaches the provider; a running
    /// one ends once its engine has cancelled the provider task. Returns whether the job
    /// was live.
    pub fn cancel(&self, id: JobId) -> bool {
        let shared = &self.shared;
        let mut state = shared.lock();
        if !state.jobs.contains_key(&id) {
            return false;
        }
        if state.waiting.remove(id) {
            state.positions.forget(id);
        } else {
            // Started: its runner stops the engine, which cancels the provider task.
            if let Some(entry) = state.jobs.get(&id) {
                entry.cancel.cancel();
            }
            return true;
        }
        state.jobs.remove(&id);
        shared.apply(id, JobEvent::Cancelled);
        shared.publish_positions(&mut state);
        true
    }

    /// From now on this process uses only the task slots it holds leases for
    /// ([`JobQueue::grant`]): replicas share the provider's limits through the store.
    /// Called before any job is submitted.
    pub fn use_leases(&self) {
        self.shared.lock().pool.use_leases();
    }

    /// One more leased task slot on `lane`: a job may start, or one that uploaded ahead
    /// create its task.
    pub fn grant(&self, lane: LaneId) {
        self.shared.lock().pool.grant(lane, 1);
        self.shared.task_slot_freed.notify_waiters();
        self.shared.wake.notify_one();
    }

    /// Gives up leased slots of `lane` that no job here holds or waits for; how many.
    /// Never while jobs wait in the queue (they would take them at once), nor once the
    /// queue is stopping: tasks left running hold them, and they pass with their jobs to
    /// whoever carries them on.
    pub fn take_back(&self, lane: LaneId) -> usize {
        let mut state = self.shared.lock();
        if !state.waiting.is_empty() || !state.accepting {
            return 0;
        }
        state.pool.take_back(lane, usize::MAX)
    }

    /// Each lane's leases and their use, and how many jobs wait for a slot.
    pub fn lease_use(&self) -> (Vec<LeaseUse>, usize) {
        let state = self.shared.lock();
        (state.pool.lease_use(), state.waiting.len())
    }

    /// Resolves when the slots this process needs may have changed.
    pub async fn demand_changed(&self) {
        self.shared.demand_changed.notified().await;
    }

    /// Each lane's current load.
    pub fn lanes(&self) -> Vec<LaneLoad> {
        self.shared.lock().pool.loads()
    }

    /// How many jobs wait for a slot.
    pub fn waiting(&self) -> usize {
        self.shared.lock().waiting.len()
    }

    /// Stops taking and starting jobs, then deals with running ones per `mode` and waits
    /// (bounded by the grace period) until every runner has recorded how its job ended.
    /// Queued jobs stay queued (in the store, for the next start).
    pub async fn shutdown(&self, mode: ShutdownMode) {
        let shared = &self.shared;
        {
            let mut state = shared.lock();
            state.accepting = false;
            if mode == ShutdownMode::Cancel {
                for entry in state.jobs.values() {
                    entry.cancel.cancel();
                }
            }
        }
        shared.stop.cancel();
        if mode == ShutdownMode::Keep {
            shared.suspend.cancel();
        }
        shared.tasks.close();
        let limit = shared.config.grace + Duration::from_secs(1);
        if tokio::time::timeout(limit, shared.tasks.wait()).await.is_ok() {
            return;
        }
        // A create sent is never abandoned: its task may exist and be billed.
        let creates = shared.creates_in_flight.load(Ordering::Relaxed);
        if creates > 0 {
            tracing::warn!(creates, "waiting for the answers of create requests on their way");
            let _ = tokio::time::timeout(runner::CREATE_ANSWER_BOUND, shared.tasks.wait()).await;
        }
        if !shared.tasks.is_empty() {
            tracing::warn!("some jobs did not stop in time");
        }
    }
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, Schedule> {
        // A panic never happens while the lock is held; if one did, the state is still
        // consistent enough to keep serving the other jobs.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn release_slot(&self, lane: LaneId, held: pool::Held) {
        self.lock().pool.release(lane, held);
        if held == pool::Held::Task {
            // Jobs that uploaded ahead on this lane may create now.
            self.task_slot_freed.notify_waiters();
        }
        self.wake.notify_one();
        self.demand_changed.notify_one();
    }

    /// Starts as many queued jobs as there are free slots; returns when to look again if
    /// a backed-off lane is the only thing in the way.
    fn dispatch(self: &Arc<Self>) -> Option<Instant> {
        let mut runs = Vec::new();
        let wake_at = {
            let mut state = self.lock();
            if !state.accepting {
                return None;
            }
            if !state.waiting.is_empty() && !state.pool.any_usable() {
                tracing::error!(jobs = state.waiting.len(), "no lane can run jobs: failing the queued ones");
                while let Some(id) = state.waiting.pop_front() {
                    state.positions.forget(id);
                    state.jobs.remove(&id);
                    let reason = FailReason::NoCapacity("every account is out of rotation".into());
                    self.apply(id, JobEvent::Failed(reason));
                }
            }
            let now = Instant::now();
            while let Some(id) = state.waiting.front() {
                let Some(lane) = state.pool.pick(now) else {
                    break;
                };
                state.waiting.pop_front();
                state.positions.forget(id);
                let Some(entry) = state.jobs.get(&id) else {
                    continue;
                };
                if entry.cancel.is_cancelled() {
                    // Cancelled while it was being put back in the queue.
                    state.jobs.remove(&id);
                    self.apply(id, JobEvent::Cancelled);
                    continue;
                }
                let (input, cancel) = (entry.input.clone(), entry.cancel.clone());
                let unconfirmed_creates = entry.unconfirmed_creates;
                metrics::histogram!(crate::telemetry::QUEUE_WAIT).record(entry.queued_at.elapsed());
                if !self.apply(id, JobEvent::Started { lane }) {
                    state.jobs.remove(&id);
                    continue;
                }
                let held = state.pool.acquire(lane);
                let slot = SlotGuard::new(Arc::downgrade(self), lane, held);
                runs.push(runner::Run {
                    shared: Arc::clone(self),
                    id,
                    lane,
                    input,
                    resume: None,
                    unconfirmed_creates,
                    cancel,
                    slot,
                });
            }
            let full_pass_due = state.positions.next_full_pass().is_some_and(|at| at <= Instant::now());
            if !runs.is_empty() || full_pass_due {
                self.publish_positions(&mut state);
            }
            let lanes = if state.waiting.is_empty() { None } else { state.pool.next_wake(now) };
            [lanes, state.positions.next_full_pass()].into_iter().flatten().min()
        };
        if !runs.is_empty() {
            self.demand_changed.notify_one();
        }
        for run in runs {
            self.tasks.spawn(run.execute());
        }
        wake_at
    }

    /// Applies `event` through the ledger without waiting for the record; `false` (and a
    /// log line) if the ledger refuses it.
    fn apply(&self, id: JobId, event: JobEvent) -> bool {
        match self.ledger.apply(id, event) {
            Ok(_recorded) => true,
            Err(e) => {
                tracing::error!("{e}");
                false
            }
        }
    }

    /// Applies an event of a started job and waits until it is recorded.
    async fn record(&self, id: JobId, event: JobEvent) -> Result<(), ApplyError> {
        self.ledger.apply(id, event)?.await;
        Ok(())
    }

    /// Settles a started job (its result stored, or its end) and forgets it; returns once
    /// the store has it.
    async fn end(&self, id: JobId, event: JobEvent) {
        self.lock().jobs.remove(&id);
        if let Err(e) = self.record(id, event).await {
            tracing::error!("{e}");
        }
    }

    /// Puts a job whose lane could not take it back at the front of the queue: the store
    /// has it queued again before the scheduler may start it anew.
    async fn requeue(&self, id: JobId) {
        let requeued = {
            let mut state = self.lock();
            state.jobs.get_mut(&id).map(|entry| {
                entry.requeued += 1;
                entry.requeued
            })
        };
        let Some(requeued) = requeued else { return };
        if requeued > self.config.max_attempts {
            tracing::warn!(job = %id, requeued, "sent back too many times: failed");
            let reason = FailReason::NoCapacity(format!(
                "no account could take the job in {requeued} attempts (MAX_ATTEMPTS {})",
                self.config.max_attempts
            ));
            return self.end(id, JobEvent::Failed(reason)).await;
        }
        if let Err(e) = self.record(id, JobEvent::Requeued { position: 1 }).await {
            tracing::error!("{e}");
            let reason = FailReason::Internal("the job could not be put back in the queue".into());
            return self.end(id, JobEvent::Failed(reason)).await;
        }
        {
            let mut state = self.lock();
            let Some(owner) = state.jobs.get(&id).map(|entry| entry.owner) else { return };
            state.waiting.push_front(owner, id);
            self.publish_positions(&mut state);
        }
        self.wake.notify_one();
        self.demand_changed.notify_one();
    }

    /// Tells the queued jobs whose position changed visibly.
    fn publish_positions(&self, state: &mut Schedule) {
        let Schedule { waiting, positions, .. } = state;
        positions.publish(waiting, &self.ledger);
    }
}

/// The scheduler: starts jobs whenever something changed, until shutdown.
async fn schedule(shared: Arc<Scheduler>) {
    loop {
        let wake_at = shared.dispatch();
        let backoff = async {
            match wake_at {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.stop.cancelled() => break,
            () = shared.wake.notified() => {}
            () = backoff => {}
        }
    }
    tracing::debug!("scheduler stopped");
}
