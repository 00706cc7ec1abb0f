//! A create whose answer is lost (a timeout or a gateway's 504 after the body left, or a
//! restart in between) against the fake RunningHub, whose lost creates do make their
//! task: retried once at most, only with room on the account for a second task, taken up
//! by its callback when webhooks are on, and never paid for a third time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use backdrop::engine::Engine;
use backdrop::engine::runninghub::{RunningHubEngine, RunningHubSettings};
use backdrop::job::{FailReason, JobId, JobState};
use backdrop::runninghub_api::parse_webhook;
use backdrop_fakes::runninghub::{Endpoint, FakeRunningHub, Fault, TaskScript};
use support::{Harness, input, key};
use tokio::sync::OnceCell;

const POLL: Duration = Duration::from_millis(20);

async fn ended(rx: &mut tokio::sync::watch::Receiver<JobState>) -> JobState {
    support::settled_within(rx, Duration::from_secs(30)).await
}

async fn fake_with(max_jobs: usize) -> FakeRunningHub {
    let fake = FakeRunningHub::start().await;
    fake.add_account(&key(1), max_jobs);
    fake
}

fn harness(fake: FakeRunningHub, max_jobs: usize, webhook_url: Option<String>) -> Harness {
    let settings = RunningHubSettings {
        poll_interval: POLL,
        webhook_url: webhook_url.map(backdrop::secret::Secret::new),
        ..RunningHubSettings::default()
    };
    support::spawn_with(fake, &[max_jobs], settings, Duration::from_secs(30))
}

fn unavailable(state: &JobState) -> bool {
    matches!(state, JobState::Failed(FailReason::Unavailable(why)) if why.contains("charge twice"))
}

/// Relays RunningHub's callbacks (`POST /hook/<job>`) to the engine the way the bot's
/// webhook route does; returns the base URL to give the engine.
async fn callback_relay(engine: Arc<OnceCell<Arc<RunningHubEngine>>>) -> String {
    async fn hook(
        State(engine): State<Arc<OnceCell<Arc<RunningHubEngine>>>>,
        Path(job): Path<u64>,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        let (Ok(event), Some(engine)) = (parse_webhook(&body), engine.get()) else {
            return axum::http::StatusCode::BAD_REQUEST;
        };
        engine.hint_task_ended(&event.task_id, Some(JobId(job)));
        axum::http::StatusCode::OK
    }
    let app = axum::Router::new().route("/hook/{job}", axum::routing::post(hook)).with_state(engine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A harness whose engine takes the fake's callbacks for its jobs.
async fn with_webhooks(fake: FakeRunningHub, max_jobs: usize) -> Harness {
    let cell = Arc::new(OnceCell::new());
    let url = callback_relay(cell.clone()).await;
    let h = harness(fake, max_jobs, Some(url));
    cell.set(h.engine.clone()).ok().expect("set once");
    h
}

#[tokio::test]
async fn a_lost_answer_is_created_once_more_when_the_account_has_room_for_both() {
    let fake = fake_with(2).await;
    fake.set_default_script(TaskScript::succeed(Duration::from_millis(100)));
    fake.inject(Endpoint::Create, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
    let h = harness(fake, 2, None);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    assert_eq!(h.fake.calls(Endpoint::Create), 2, "the lost create was repeated once");
    assert_eq!(h.fake.calls(Endpoint::AccountStatus), 1, "after looking at the account's tasks");
    assert_eq!(h.journal.endings(JobId(1)), 1);
}

#[tokio::test]
async fn a_lost_answer_is_not_created_again_when_a_second_task_could_go_over_the_limit() {
    // One task at a time, and the lost one is running: a second create would be refused
    // at best, and could be a second paid task at worst.
    let fake = fake_with(1).await;
    fake.set_default_script(TaskScript::never_finish());
    fake.inject(Endpoint::Create, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
    let h = harness(fake, 1, None);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let state = ended(&mut rx).await;
    assert!(unavailable(&state), "{state:?}");
    assert_eq!(h.fake.calls(Endpoint::Create), 1);
    assert!(h.fake.calls(Endpoint::AccountStatus) >= 1);
}

#[tokio::test]
async fn two_lost_answers_are_never_followed_by_a_third_create() {
    let fake = fake_with(5).await;
    fake.set_default_script(TaskScript::never_finish());
    fake.inject(Endpoint::Create, Fault::AnswerLost(Box::new(Fault::Http504)), 5);
    let h = harness(fake, 5, None);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let state = ended(&mut rx).await;
    assert!(unavailable(&state), "{state:?}");
    assert_eq!(h.fake.calls(Endpoint::Create), 2, "once, then once more at most");
}

#[tokio::test]
async fn with_webhooks_the_lost_task_is_taken_up_when_its_callback_names_the_job() {
    let fake = fake_with(1).await;
    fake.set_default_script(TaskScript::succeed(Duration::from_millis(300)));
    fake.inject(Endpoint::Create, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
    let h = with_webhooks(fake, 1).await;
    let mut rx = h.queue.submit(JobId(7), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)), "the lost task's result");
    assert_eq!(h.fake.calls(Endpoint::Create), 1, "no second task");
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 1);
    assert!(
        tasks[0].webhook_url.as_deref().is_some_and(|u| u.ends_with("/hook/7")),
        "{:?}",
        tasks[0].webhook_url
    );
    assert!(h.fake.polls(&tasks[0].id) >= 1, "confirmed by polling, not by the callback alone");
}

#[tokio::test]
async fn when_both_tasks_exist_the_first_to_succeed_gives_the_result_and_the_other_is_cancelled() {
    let fake = fake_with(2).await;
    // The lost task ends soon; the second would never end.
    fake.push_script(TaskScript::succeed(Duration::from_millis(2500)));
    fake.push_script(TaskScript::never_finish());
    fake.inject(Endpoint::Create, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
    let h = with_webhooks(fake, 2).await;
    let mut rx = h.queue.submit(JobId(3), input()).unwrap();
    assert!(matches!(ended(&mut rx).await, JobState::Delivering(_)));
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 2);
    assert_eq!(h.fake.cancelled_tasks(), vec![tasks[1].id.clone()], "the twin still running is cancelled");
    assert_eq!(h.journal.endings(JobId(3)), 1, "one result");
}

/// A job store on a temporary directory.
async fn store(dir: &std::path::Path) -> backdrop::store::Store {
    backdrop::store::Store::open(&backdrop::store::DatabaseUrl::sqlite_in(dir), dir).await.unwrap()
}

/// A stored job whose create left and whose process then died: `lost` creates unanswered.
async fn job_killed_at_create(db: &backdrop::store::Store, lost: u32) -> JobId {
    use backdrop::job::{JobJournal, LaneId, Transition};
    let image = backdrop::input_image::InputImage::parse(support::png(8, 6), &Default::default()).unwrap();
    let new = support::new_job();
    let id = db.create_job(&new, &image, &image).await.unwrap().0;
    let lane = LaneId(1);
    let started_at = std::time::SystemTime::now();
    let mut batch =
        vec![Transition { job: id, event: "started", state: JobState::Uploading { lane, started_at } }];
    for _ in 0..lost {
        batch.push(Transition {
            job: id,
            event: "create_sent",
            state: JobState::Running { lane, task: None, started_at },
        });
    }
    db.record(&batch).await;
    id
}

#[tokio::test]
async fn after_a_restart_a_create_whose_answer_was_lost_counts() {
    use backdrop::queue::recover;
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path()).await;
    let once = job_killed_at_create(&db, 1).await;
    let twice = job_killed_at_create(&db, 2).await;
    let stored = db.unfinished().await.unwrap();
    assert_eq!(stored.iter().map(|j| j.unconfirmed_creates).collect::<Vec<_>>(), [1, 2]);

    let fake = fake_with(3).await;
    fake.set_default_script(TaskScript::succeed(Duration::from_millis(50)));
    let h = harness(fake, 3, None);
    let recovered = recover(stored, &h.queue).await;
    let mut by_id: std::collections::HashMap<_, _> =
        recovered.live.into_iter().map(|(job, rx)| (job.id, rx)).collect();
    // One lost create and room on the account: created once more.
    assert!(matches!(ended(by_id.get_mut(&once).unwrap()).await, JobState::Delivering(_)));
    // Already retried before the restart: never a third.
    let state = ended(by_id.get_mut(&twice).unwrap()).await;
    assert!(unavailable(&state), "{state:?}");
    assert_eq!(h.fake.calls(Endpoint::Create), 1);
}

#[tokio::test]
async fn a_job_sent_back_by_a_busy_account_has_no_lost_create_left() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path()).await;
    let id = job_killed_at_create(&db, 1).await;
    use backdrop::job::{JobJournal, Transition};
    db.record(&[Transition { job: id, event: "requeued", state: JobState::Queued { position: 1 } }]).await;
    assert_eq!(db.job(id).await.unwrap().unwrap().unconfirmed_creates, 0);
}
