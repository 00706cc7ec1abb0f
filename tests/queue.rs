//! The queue's rules against an in-process engine whose every run is scripted: order,
//! positions, slots, cancel, deadline, panics, busy and refused lanes, resume, journal.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backdrop::engine::{Engine, EngineError, LaneSpec, RunContext};
use backdrop::job::{FailReason, JobId, JobOutput, JobState, LaneId, RemoteTaskId, StateName};
use backdrop::queue::{JobQueue, QueueConfig};
use backdrop::shutdown::ShutdownMode;
use support::{JournalSpy, input, queue_with_spy, settled_within};
use tokio::sync::watch;

/// What one run of a job does.
#[derive(Clone, Debug)]
enum Step {
    Succeed(Duration),
    Fail,
    Panic,
    /// Refused by the provider with 421 the first time, then succeeds.
    BusyOnce,
    /// The lane's key is refused the first time; succeeds on another lane.
    RefuseLane(LaneId),
    /// Runs until cancelled.
    Hang,
    /// The provider finishes at once; fetching the result then takes this long.
    SlowDownload(Duration),
    /// Every lane is always busy on the provider.
    AlwaysBusy,
}

#[derive(Default)]
struct Log {
    started: Vec<(JobId, LaneId, Option<RemoteTaskId>)>,
    cancelled: Vec<JobId>,
    busy_seen: Vec<JobId>,
}

struct ScriptEngine {
    lanes: Vec<LaneSpec>,
    steps: Mutex<HashMap<JobId, Step>>,
    log: Mutex<Log>,
}

impl ScriptEngine {
    fn new(caps: &[usize]) -> Arc<Self> {
        let lanes = caps
            .iter()
            .enumerate()
            .map(|(i, &capacity)| LaneSpec {
                upload_ahead: 0,
                id: LaneId(i as u16 + 1),
                label: format!("lane {}", i + 1),
                capacity,
            })
            .collect();
        Arc::new(Self { lanes, steps: Mutex::default(), log: Mutex::default() })
    }

    fn script(&self, id: JobId, step: Step) {
        self.steps.lock().unwrap().insert(id, step);
    }

    fn started(&self) -> Vec<(JobId, LaneId, Option<RemoteTaskId>)> {
        self.log.lock().unwrap().started.clone()
    }
}

#[async_trait]
impl Engine for ScriptEngine {
    fn name(&self) -> &'static str {
        "script"
    }

    fn lanes(&self) -> Vec<LaneSpec> {
        self.lanes.clone()
    }

    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        let step = self
            .steps
            .lock()
            .unwrap()
            .get(&ctx.job)
            .cloned()
            .unwrap_or(Step::Succeed(Duration::from_millis(10)));
        self.log.lock().unwrap().started.push((ctx.job, ctx.lane, ctx.resume.clone()));
        let output = || JobOutput { image: bytes::Bytes::from_static(b"img"), extension: "png" };
        match step {
            Step::Succeed(d) => {
                if ctx.resume.is_none() {
                    ctx.task_created(RemoteTaskId(format!("t{}", ctx.job))).await;
                }
                tokio::select! {
                    () = tokio::time::sleep(d) => Ok(output()),
                    () = ctx.cancel.cancelled() => {
                        self.log.lock().unwrap().cancelled.push(ctx.job);
                        Err(EngineError::Cancelled)
                    }
                }
            }
            Step::Fail => Err(FailReason::Provider("boom".into()).into()),
            Step::Panic => panic!("engine bug"),
            Step::BusyOnce => {
                let mut log = self.log.lock().unwrap();
                if log.busy_seen.contains(&ctx.job) {
                    Ok(output())
                } else {
                    log.busy_seen.push(ctx.job);
                    Err(EngineError::LaneBusy { retry_after: Duration::from_secs(60) })
                }
            }
            Step::RefuseLane(lane) if lane == ctx.lane => {
                Err(EngineError::LaneRefused("801 key not allowed".into()))
            }
            Step::RefuseLane(_) => Ok(output()),
            Step::AlwaysBusy => Err(EngineError::LaneBusy { retry_after: Duration::from_millis(100) }),
            Step::SlowDownload(d) => {
                ctx.task_created(RemoteTaskId(format!("t{}", ctx.job))).await;
                ctx.provider_finished();
                tokio::time::sleep(d).await;
                Ok(output())
            }
            Step::Hang => {
                ctx.task_created(RemoteTaskId(format!("t{}", ctx.job))).await;
                ctx.cancel.cancelled().await;
                self.log.lock().unwrap().cancelled.push(ctx.job);
                Err(EngineError::Cancelled)
            }
        }
    }
}

fn start(engine: Arc<ScriptEngine>, config: QueueConfig) -> (JobQueue, Arc<JournalSpy>) {
    queue_with_spy(engine, config)
}

/// Until the job settles; virtual time, so an hour costs nothing unless it hangs.
async fn ended(rx: &mut watch::Receiver<JobState>) -> JobState {
    settled_within(rx, Duration::from_secs(3600)).await
}

#[tokio::test(start_paused = true)]
async fn first_come_first_served_with_positions() {
    let engine = ScriptEngine::new(&[1]);
    let (queue, journal) = start(engine.clone(), QueueConfig::default());
    let mut rxs: Vec<_> = (1..=4).map(|i| queue.submit(JobId(i), input()).unwrap()).collect();
    tokio::task::yield_now().await;
    assert!(matches!(*rxs[1].borrow(), JobState::Queued { position: 1 }), "{:?}", *rxs[1].borrow());
    assert!(matches!(*rxs[3].borrow(), JobState::Queued { position: 3 }));
    for rx in &mut rxs {
        assert!(matches!(ended(rx).await, JobState::Delivering(_)));
    }
    let order: Vec<u64> = engine.started().iter().map(|s| s.0.0).collect();
    assert_eq!(order, vec![1, 2, 3, 4]);
    for i in 1..=4 {
        assert_eq!(journal.endings(JobId(i)), 1);
    }
    assert_eq!(queue.lanes()[0].running, 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_queued_job_never_reaches_the_engine() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::Succeed(Duration::from_secs(5)));
    let (queue, journal) = start(engine.clone(), QueueConfig::default());
    let mut first = queue.submit(JobId(1), input()).unwrap();
    let mut second = queue.submit(JobId(2), input()).unwrap();
    let mut third = queue.submit(JobId(3), input()).unwrap();
    tokio::task::yield_now().await;
    assert!(queue.cancel(JobId(2)));
    assert!(matches!(ended(&mut second).await, JobState::Cancelled));
    let moved_up = third.wait_for(|s| matches!(s, JobState::Queued { position: 1 }));
    tokio::time::timeout(Duration::from_secs(1), moved_up).await.expect("third moves up").unwrap();
    assert!(matches!(ended(&mut first).await, JobState::Delivering(_)));
    assert!(matches!(ended(&mut third).await, JobState::Delivering(_)));
    assert!(engine.started().iter().all(|s| s.0 != JobId(2)));
    assert!(!queue.cancel(JobId(2)), "an ended job cannot be cancelled again");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(journal.endings(JobId(2)), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_running_job_cancels_it_in_the_engine_and_frees_the_slot() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::Hang);
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut first = queue.submit(JobId(1), input()).unwrap();
    let mut second = queue.submit(JobId(2), input()).unwrap();
    first.wait_for(|s| matches!(s, JobState::Running { task: Some(_), .. })).await.unwrap();
    assert!(queue.cancel(JobId(1)));
    assert!(matches!(ended(&mut first).await, JobState::Cancelled));
    assert_eq!(engine.log.lock().unwrap().cancelled, vec![JobId(1)]);
    assert!(matches!(ended(&mut second).await, JobState::Delivering(_)));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cancels_and_fails_the_job() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::Hang);
    let config = QueueConfig { deadline: Duration::from_secs(600), ..QueueConfig::default() };
    let (queue, _) = start(engine.clone(), config);
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Failed(FailReason::Timeout(600))));
    assert_eq!(engine.log.lock().unwrap().cancelled, vec![JobId(1)], "provider task cancelled");
    assert_eq!(queue.lanes()[0].running, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_engine_fails_the_job_and_frees_the_slot() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::Panic);
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut first = queue.submit(JobId(1), input()).unwrap();
    let mut second = queue.submit(JobId(2), input()).unwrap();
    assert!(matches!(ended(&mut first).await, JobState::Failed(FailReason::Internal(_))));
    assert!(matches!(ended(&mut second).await, JobState::Delivering(_)));
}

#[tokio::test(start_paused = true)]
async fn a_busy_lane_sends_the_job_back_to_the_front_and_to_another_lane() {
    let engine = ScriptEngine::new(&[1, 1]);
    engine.script(JobId(1), Step::BusyOnce);
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    let lanes: Vec<_> = engine.started().iter().map(|s| s.1).collect();
    assert_eq!(lanes, vec![LaneId(1), LaneId(2)], "retried on the other lane at once");
}

#[tokio::test(start_paused = true)]
async fn a_refused_lane_leaves_rotation_and_the_job_runs_elsewhere() {
    let engine = ScriptEngine::new(&[1, 1]);
    engine.script(JobId(1), Step::RefuseLane(LaneId(1)));
    let (queue, journal) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    let loads = queue.lanes();
    assert!(loads[0].refused.is_some() && loads[1].refused.is_none());
    // Lane 1 gets no more work.
    let mut rxs: Vec<_> = (2..6).map(|i| queue.submit(JobId(i), input()).unwrap()).collect();
    for rx in &mut rxs {
        assert!(matches!(ended(rx).await, JobState::Delivering(_)));
    }
    assert!(engine.started().iter().skip(1).all(|s| s.1 == LaneId(2)));
    assert_eq!(journal.endings(JobId(1)), 1);
}

#[tokio::test(start_paused = true)]
async fn with_every_lane_refused_queued_jobs_fail_with_a_reason() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::RefuseLane(LaneId(1)));
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Failed(FailReason::NoCapacity(_))));
}

#[tokio::test(start_paused = true)]
async fn failures_carry_their_reason() {
    let engine = ScriptEngine::new(&[2]);
    engine.script(JobId(1), Step::Fail);
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    match ended(&mut rx).await {
        JobState::Failed(FailReason::Provider(reason)) => assert_eq!(reason, "boom"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_resumed_job_polls_its_task_on_its_lane_and_holds_a_slot() {
    let engine = ScriptEngine::new(&[1, 1]);
    engine.script(JobId(7), Step::Succeed(Duration::from_secs(1)));
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.resume(JobId(7), input(), LaneId(2), RemoteTaskId("123".into())).unwrap();
    tokio::task::yield_now().await;
    assert_eq!(queue.lanes()[1].running, 1);
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    assert_eq!(engine.started(), vec![(JobId(7), LaneId(2), Some(RemoteTaskId("123".into())))]);
    assert_eq!(queue.next_id(), JobId(8), "fresh ids never collide with resumed ones");
}

#[tokio::test(start_paused = true)]
async fn shutdown_refuses_new_jobs_and_keeps_queued_ones_unstarted() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::Hang);
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let first = queue.submit(JobId(1), input()).unwrap();
    let _second = queue.submit(JobId(2), input()).unwrap();
    tokio::task::yield_now().await;
    queue.shutdown(ShutdownMode::Cancel).await;
    assert!(matches!(*first.borrow(), JobState::Cancelled));
    assert_eq!(engine.started().len(), 1, "the queued job was not started");
    assert!(queue.submit(JobId(3), input()).is_err());
}

#[tokio::test(start_paused = true)]
async fn every_transition_is_journalled_in_order() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::SlowDownload(Duration::from_millis(10)));
    let (queue, journal) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    use StateName::*;
    assert_eq!(journal.states(JobId(1)), vec![Uploading, Running, Downloading, Delivering]);
}

#[tokio::test(start_paused = true)]
async fn a_requeued_job_is_queued_in_the_journal_before_it_starts_again() {
    let engine = ScriptEngine::new(&[1, 1]);
    engine.script(JobId(1), Step::BusyOnce);
    let (queue, journal) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    use StateName::*;
    assert_eq!(journal.states(JobId(1)), vec![Uploading, Queued, Uploading, Delivering]);
}

#[tokio::test(start_paused = true)]
async fn the_slot_is_free_while_the_result_downloads() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::SlowDownload(Duration::from_secs(30)));
    engine.script(JobId(2), Step::Succeed(Duration::from_secs(1)));
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let mut first = queue.submit(JobId(1), input()).unwrap();
    let mut second = queue.submit(JobId(2), input()).unwrap();
    assert!(matches!(ended(&mut second).await, JobState::Delivering(_)));
    assert!(!first.borrow().is_settled(), "the second job finished while the first was still downloading");
    assert!(matches!(ended(&mut first).await, JobState::Delivering(_)));
}

#[tokio::test(start_paused = true)]
async fn a_delivered_job_leaves_the_ledger() {
    let engine = ScriptEngine::new(&[1]);
    let (queue, journal) = start(engine.clone(), QueueConfig::default());
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    assert!(queue.ledger().current(JobId(1)).is_some(), "kept until Telegram has it");
    queue.ledger().apply(JobId(1), backdrop::job::JobEvent::Delivered).unwrap().await;
    assert!(queue.ledger().current(JobId(1)).is_none());
    assert_eq!(journal.states(JobId(1)).last(), Some(&StateName::Delivered));
    assert!(!queue.cancel(JobId(1)), "a delivered job cannot be cancelled");
}

#[tokio::test(start_paused = true)]
async fn owners_take_turns_so_forty_photos_do_not_hold_others_back() {
    use backdrop::job::Owner;
    let engine = ScriptEngine::new(&[1]);
    let (queue, _) = start(engine.clone(), QueueConfig::default());
    let (seller, other) = (Owner(1), Owner(2));
    let mut rxs: Vec<_> = (1..=5).map(|i| queue.submit_for(seller, JobId(i), input()).unwrap()).collect();
    tokio::task::yield_now().await;
    let mut theirs = queue.submit_for(other, JobId(10), input()).unwrap();
    tokio::task::yield_now().await;
    let second =
        theirs.wait_for(|s| matches!(s, JobState::Queued { position: 2 } | JobState::Uploading { .. }));
    tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("the other owner's job is next but one")
        .unwrap();
    for rx in rxs.iter_mut().chain([&mut theirs]) {
        assert!(matches!(ended(rx).await, JobState::Delivering(_)));
    }
    let order: Vec<u64> = engine.started().iter().map(|s| s.0.0).collect();
    assert_eq!(order, vec![1, 2, 10, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_job_sent_back_too_often_fails_with_a_clear_reason() {
    let engine = ScriptEngine::new(&[1]);
    engine.script(JobId(1), Step::AlwaysBusy);
    let (queue, journal) = start(engine.clone(), QueueConfig { max_attempts: 2, ..QueueConfig::default() });
    let mut rx = queue.submit(JobId(1), input()).unwrap();
    match ended(&mut rx).await {
        JobState::Failed(FailReason::NoCapacity(why)) => assert!(why.contains("MAX_ATTEMPTS"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.started().len(), 3, "the first run and two more");
    assert_eq!(journal.endings(JobId(1)), 1);
    assert_eq!(queue.lanes()[0].running, 0);
}
