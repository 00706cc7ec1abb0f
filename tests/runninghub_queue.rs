//! The queue driving the real RunningHub engine against the fake RunningHub: cancel,
//! deadline, failures with reasons, and what shutdown and resume do to provider tasks.

mod support;

use std::time::Duration;

use backdrop::job::{FailReason, JobId, JobState, LaneId};
use backdrop::shutdown::ShutdownMode;
use backdrop_fakes::runninghub::{Endpoint, TaskScript};
use support::{input, key, spawn_runninghub};
use tokio::sync::watch;

const POLL: Duration = Duration::from_millis(10);

async fn ended(rx: &mut watch::Receiver<JobState>) -> JobState {
    support::settled_within(rx, Duration::from_secs(20)).await
}

async fn remote_task(rx: &mut watch::Receiver<JobState>) -> String {
    support::created_task(rx).await.0
}

#[tokio::test]
async fn a_job_is_uploaded_created_polled_and_downloaded() {
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(10)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(50)));
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let JobState::Delivering(output) = ended(&mut rx).await else { panic!("done") };
    assert_eq!(output.extension, "png");
    assert!(image::load_from_memory(&output.image).is_ok());
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(h.fake.uploads(&key(1)), 2);
    let nodes: Vec<_> =
        tasks[0].node_inputs.iter().map(|n| (n.node_id.as_str(), n.field_name.as_str())).collect();
    assert_eq!(nodes, vec![("2", "image"), ("32", "image")]);
}

#[tokio::test]
async fn a_cancelled_queued_job_never_reaches_the_provider_and_a_running_one_is_cancelled_there() {
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(10)).await;
    h.fake.set_default_script(TaskScript::never_finish());
    let mut running = h.queue.submit(JobId(1), input()).unwrap();
    let task = remote_task(&mut running).await;
    // One slot: the second job uploads ahead and waits for it; the third waits in line.
    let mut ahead = h.queue.submit(JobId(2), input()).unwrap();
    let mut queued = h.queue.submit(JobId(3), input()).unwrap();
    let uploaded = async {
        while h.fake.uploads(&key(1)) < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), uploaded).await.expect("the second job uploads ahead");
    assert!(h.queue.cancel(JobId(3)));
    assert!(matches!(ended(&mut queued).await, JobState::Cancelled));
    assert!(h.queue.cancel(JobId(2)));
    assert!(matches!(ended(&mut ahead).await, JobState::Cancelled));
    assert!(h.queue.cancel(JobId(1)));
    assert!(matches!(ended(&mut running).await, JobState::Cancelled));
    assert_eq!(h.fake.cancelled_tasks(), vec![task]);
    assert_eq!(h.fake.tasks().len(), 1, "the waiting jobs created no task");
    assert_eq!(h.fake.uploads(&key(1)), 4, "and only the one ahead uploaded");
}

#[tokio::test]
async fn a_provider_failure_carries_its_reason_and_frees_the_slot() {
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(10)).await;
    h.fake.push_script(TaskScript::fail(Duration::from_millis(30), "CUDA out of memory"));
    let mut failed = h.queue.submit(JobId(1), input()).unwrap();
    let mut next = h.queue.submit(JobId(2), input()).unwrap();
    match ended(&mut failed).await {
        JobState::Failed(FailReason::Provider(reason)) => {
            assert!(reason.contains("CUDA out of memory"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(ended(&mut next).await, JobState::Delivering(_)));
}

#[tokio::test]
async fn the_deadline_fails_the_job_and_cancels_the_provider_task() {
    let h = spawn_runninghub(&[1], POLL, Duration::from_millis(300)).await;
    h.fake.set_default_script(TaskScript::never_finish());
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let task = remote_task(&mut rx).await;
    assert!(matches!(ended(&mut rx).await, JobState::Failed(FailReason::Timeout(_))));
    assert_eq!(h.fake.cancelled_tasks(), vec![task]);
    assert_eq!(h.fake.running(&key(1)), 0);
}

#[tokio::test]
async fn a_refused_key_takes_its_account_out_of_rotation() {
    let h = spawn_runninghub(&[1, 1], POLL, Duration::from_secs(10)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(20)));
    h.fake.set_account_error(&key(1), 416, "WALLET_EMPTY");
    let mut rxs: Vec<_> = (1..=3).map(|i| h.queue.submit(JobId(i), input()).unwrap()).collect();
    for rx in &mut rxs {
        assert!(matches!(ended(rx).await, JobState::Delivering(_)));
    }
    let lanes = h.queue.lanes();
    assert!(lanes[0].refused.as_deref().is_some_and(|why| why.contains("416")), "{lanes:?}");
    assert!(h.fake.tasks().iter().all(|t| t.api_key == key(2)));
}

#[tokio::test]
async fn shutdown_keeps_provider_tasks_and_a_restart_resumes_without_a_second_task() {
    let h = spawn_runninghub(&[2], POLL, Duration::from_secs(10)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(600)));
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let task = remote_task(&mut rx).await;
    let stopped = std::time::Instant::now();
    h.queue.shutdown(ShutdownMode::Keep).await;
    assert!(stopped.elapsed() < Duration::from_secs(2), "shutdown is quick");
    assert!(!rx.borrow().is_terminal(), "the job is left running for the next start");
    assert!(h.fake.cancelled_tasks().is_empty());
    assert_eq!(h.fake.running(&key(1)), 1);

    // "Restart": a new queue and engine on the same account, told about the task.
    let fake = h.fake.clone();
    let h2 = support::spawn_on(fake, &[2], POLL, Duration::from_secs(10));
    let mut rx =
        h2.queue.resume(JobId(1), input(), LaneId(1), backdrop::job::RemoteTaskId(task.clone())).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    assert_eq!(h2.fake.tasks().len(), 1, "no second task was created");
    assert!(h2.fake.polls(&task) >= 1);
}

#[tokio::test]
async fn shutdown_with_cancel_cancels_running_tasks_on_the_provider() {
    let h = spawn_runninghub(&[2], POLL, Duration::from_secs(10)).await;
    h.fake.set_default_script(TaskScript::never_finish());
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let task = remote_task(&mut rx).await;
    h.queue.shutdown(ShutdownMode::Cancel).await;
    assert!(matches!(*rx.borrow(), JobState::Cancelled));
    assert_eq!(h.fake.cancelled_tasks(), vec![task]);
    assert_eq!(h.fake.calls(Endpoint::Cancel), 1);
}

/// A job store on a temporary directory.
async fn store(dir: &std::path::Path) -> backdrop::store::Store {
    backdrop::store::Store::open(&backdrop::store::DatabaseUrl::sqlite_in(dir), dir).await.unwrap()
}

#[tokio::test]
async fn after_a_restart_the_store_resumes_running_tasks_and_requeues_the_rest_in_order() {
    use backdrop::job::{JobJournal, Transition};
    use backdrop::queue::recover;
    let dir = tempfile::tempdir().unwrap();
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(10)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(300)));
    let db = store(dir.path()).await;
    let image = backdrop::input_image::InputImage::parse(support::png(8, 6), &Default::default()).unwrap();
    let new = support::new_job();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(db.create_job(&new, &image, &image).await.unwrap().0);
    }
    // Before the "crash": job 1 got a provider task; jobs 2 and 3 were waiting.
    let stored = db.job(ids[0]).await.unwrap().unwrap();
    let mut rx = h.queue.submit(ids[0], stored.input()).unwrap();
    let task = remote_task(&mut rx).await;
    db.record(&[Transition { job: ids[0], event: "task_created", state: rx.borrow().clone() }]).await;
    h.queue.shutdown(ShutdownMode::Keep).await;
    db.close().await;

    let db = store(dir.path()).await;
    let h2 = support::spawn_on(h.fake.clone(), &[1], POLL, Duration::from_secs(10));
    let recovered = recover(db.unfinished().await.unwrap(), &h2.queue).await;
    assert_eq!(recovered.live.iter().map(|(j, _)| j.id).collect::<Vec<_>>(), ids);
    assert!(recovered.untold.is_empty());
    let mut receivers: Vec<_> = recovered.live.into_iter().map(|(_, rx)| rx).collect();
    for rx in &mut receivers {
        assert!(matches!(ended(rx).await, JobState::Delivering(_)));
    }
    let tasks = h2.fake.tasks();
    assert_eq!(tasks.len(), 3, "one task per job, the first one never created twice");
    assert_eq!(tasks[0].id, task);
    assert!(tasks[1].created_at < tasks[2].created_at, "the waiting jobs kept their order");
}

#[tokio::test]
async fn answers_that_mean_wait_never_fail_a_healthy_task() {
    use backdrop_fakes::runninghub::Fault;
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(20)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(600)));
    // More than the ten failed polls in a row that give up on a task: each of these only
    // says "not now" (421 and 1011 arrive as HTTP 200, rate limits, a 5xx).
    h.fake.inject(Endpoint::Outputs, Fault::Code(421, "TASK_QUEUE_MAXED".into()), 6);
    h.fake.inject(Endpoint::Outputs, Fault::Code(1011, "RATE_LIMIT".into()), 6);
    h.fake.inject(Endpoint::Outputs, Fault::Http500, 4);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)), "{:?}", *rx.borrow());
    assert!(h.fake.calls(Endpoint::Outputs) > 16, "every fault was met");
    assert!(h.fake.cancelled_tasks().is_empty(), "the task was never given up");
}

#[tokio::test]
async fn answers_that_cannot_be_read_still_give_up_in_the_end() {
    use backdrop_fakes::runninghub::Fault;
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(20)).await;
    h.fake.set_default_script(TaskScript::never_finish());
    h.fake.inject(Endpoint::Outputs, Fault::MalformedJson, 1000);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Failed(FailReason::Unavailable(_))));
    assert_eq!(h.fake.cancelled_tasks().len(), 1, "the abandoned task is cancelled on the provider");
}

#[tokio::test]
async fn a_stream_of_callbacks_cannot_make_polls_back_to_back() {
    use backdrop::engine::Engine;
    use backdrop::engine::runninghub::RunningHubSettings;
    let fake = backdrop_fakes::runninghub::FakeRunningHub::start().await;
    fake.add_account(&key(1), 1);
    fake.set_default_script(TaskScript::never_finish());
    let settings =
        RunningHubSettings { poll_interval: Duration::from_secs(60), ..RunningHubSettings::default() };
    let h = support::spawn_with(fake, &[1], settings, Duration::from_secs(30));
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let task = backdrop::job::RemoteTaskId(remote_task(&mut rx).await);
    let before = h.fake.polls(&task.0);
    let started = std::time::Instant::now();
    for _ in 0..60 {
        h.engine.hint_task_ended(&task, None);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let polls = h.fake.polls(&task.0) - before;
    let allowed = started.elapsed().as_millis() / 250 + 2;
    assert!(
        (1..=allowed as usize).contains(&polls),
        "{polls} polls for 60 callbacks in {:?}",
        started.elapsed()
    );
    assert!(h.queue.cancel(JobId(1)));
}

/// A harness whose engine gives up on a stopping run after only 200 ms.
fn impatient(fake: backdrop_fakes::runninghub::FakeRunningHub) -> support::Harness {
    use backdrop::engine::runninghub::RunningHubSettings;
    use backdrop::queue::QueueConfig;
    let settings = RunningHubSettings { poll_interval: POLL, ..RunningHubSettings::default() };
    let config =
        QueueConfig { deadline: Duration::from_secs(20), grace: Duration::from_millis(200), max_attempts: 5 };
    support::spawn_with_config(fake, &[1], settings, config)
}

#[tokio::test]
async fn a_create_on_its_way_when_the_user_cancels_is_answered_then_cancelled_never_orphaned() {
    use backdrop_fakes::runninghub::Fault;
    let fake = backdrop_fakes::runninghub::FakeRunningHub::start().await;
    fake.add_account(&key(1), 1);
    fake.set_default_script(TaskScript::never_finish());
    fake.inject(Endpoint::Create, Fault::Slow(Duration::from_millis(1200)), 1);
    let h = impatient(fake);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let sent = async {
        while h.fake.calls(Endpoint::Create) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), sent).await.expect("the create is sent");
    assert!(h.queue.cancel(JobId(1)));
    assert!(matches!(ended(&mut rx).await, JobState::Cancelled));
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 1, "the create was answered");
    assert_eq!(h.fake.cancelled_tasks(), vec![tasks[0].id.clone()], "and its task cancelled, not orphaned");
    assert_eq!(h.fake.running(&key(1)), 0);
}

#[tokio::test]
async fn a_create_on_its_way_at_shutdown_is_answered_and_recorded_for_the_next_start() {
    use backdrop_fakes::runninghub::Fault;
    let fake = backdrop_fakes::runninghub::FakeRunningHub::start().await;
    fake.add_account(&key(1), 1);
    fake.set_default_script(TaskScript::never_finish());
    fake.inject(Endpoint::Create, Fault::Slow(Duration::from_millis(1200)), 1);
    let h = impatient(fake);
    let _rx = h.queue.submit(JobId(1), input()).unwrap();
    let sent = async {
        while h.fake.calls(Endpoint::Create) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), sent).await.expect("the create is sent");
    h.queue.shutdown(ShutdownMode::Keep).await;
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 1, "the create was answered before the queue stopped");
    assert!(h.fake.cancelled_tasks().is_empty(), "kept for the next start");
    assert!(
        h.journal.states(JobId(1)).contains(&backdrop::job::StateName::Running),
        "its task id is recorded"
    );
}

#[tokio::test]
async fn a_job_sent_back_by_a_busy_account_is_not_uploaded_again() {
    use backdrop_fakes::runninghub::Fault;
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(20)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(50)));
    h.fake.inject(Endpoint::Create, Fault::Code(421, "TASK_QUEUE_MAXED".into()), 1);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    assert_eq!(h.fake.calls(Endpoint::Create), 2, "busy once, then created");
    assert_eq!(h.fake.uploads(&key(1)), 2, "the two images were uploaded once");
    use backdrop::job::StateName::*;
    assert_eq!(
        h.journal.states(JobId(1))[..4],
        [Uploading, Running, Queued, Uploading],
        "the create was counted, then the requeue recorded"
    );
}

#[tokio::test]
async fn the_next_job_uploads_while_the_slot_is_busy_and_creates_the_moment_it_frees() {
    let h = spawn_runninghub(&[1], POLL, Duration::from_secs(20)).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(800)));
    let mut first = h.queue.submit(JobId(1), input()).unwrap();
    let _ = remote_task(&mut first).await;
    let mut second = h.queue.submit(JobId(2), input()).unwrap();
    let uploaded_ahead = async {
        while h.fake.uploads(&key(1)) < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), uploaded_ahead).await.expect("the second job uploads");
    assert_eq!(h.fake.tasks().len(), 1, "uploaded while the first task still runs, not created");
    assert!(matches!(ended(&mut first).await, JobState::Delivering(_)));
    assert!(matches!(ended(&mut second).await, JobState::Delivering(_)));
    let tasks = h.fake.tasks();
    let freed = h.fake.finished_at(&tasks[0].id).expect("the first task ended");
    let gap = tasks[1].created_at.saturating_duration_since(freed);
    assert!(gap < Duration::from_millis(300), "created as the slot freed (poll {POLL:?}): {gap:?}");
    assert_eq!(h.fake.max_running_seen(&key(1)), 1, "never two tasks on a one-slot account");
    assert_eq!(h.fake.over_limit_attempts(&key(1)), 0);
}
