//! The one place of shared test support: images, job inputs, a journal spy, waiting for a
//! job to settle, and a fake RunningHub with accounts with the real RunningHub engine and
//! queue pointed at it. Fake servers themselves live in the `backdrop-fakes` crate.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backdrop::engine::runninghub::{RunningHubAccount, RunningHubEngine, RunningHubSettings};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{
    ImageSource, JobId, JobInput, JobJournal, JobState, LaneId, Ledger, StateName, Transition,
};
use backdrop::queue::{JobQueue, QueueConfig};
use backdrop::runninghub_api::{ApiMode, ClientOptions, RetryPolicy, RunningHubClient};
use backdrop::secret::Secret;
use backdrop_fakes::runninghub::FakeRunningHub;

pub const WORKFLOW: &str = "1871659613585305601";

/// The account keys of a harness: `key-1`, `key-2`, ...
pub fn key(n: usize) -> String {
    format!("key-{n}")
}

/// A small real PNG of one colour.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    backdrop_fakes::image_bytes::solid_png(width, height, [200, 120, 40])
}

/// A job input of two small images held in memory.
pub fn input() -> JobInput {
    let image = InputImage::parse(png(8, 6), &ImageLimits::default()).expect("a valid PNG");
    JobInput { product: ImageSource::Memory(image.clone()), background: ImageSource::Memory(image) }
}

/// Keeps every transition the ledger journals, to check order and that each job settles
/// exactly once.
#[derive(Default)]
pub struct JournalSpy {
    pub records: Mutex<Vec<(JobId, &'static str, StateName)>>,
}

#[async_trait]
impl JobJournal for JournalSpy {
    async fn record(&self, batch: &[Transition]) {
        let mut records = self.records.lock().unwrap();
        records.extend(batch.iter().map(|t| (t.job, t.event, t.state.name())));
    }
}

impl JournalSpy {
    /// How many times `job` settled: its result stored, or its end (failed, cancelled).
    pub fn endings(&self, job: JobId) -> usize {
        let records = self.records.lock().unwrap();
        let settled = [StateName::Delivering, StateName::Failed, StateName::Cancelled];
        records.iter().filter(|(j, _, s)| *j == job && settled.contains(s)).count()
    }

    /// The states `job` went through, in order (queue moves left out).
    pub fn states(&self, job: JobId) -> Vec<StateName> {
        let records = self.records.lock().unwrap();
        records.iter().filter(|(j, e, _)| *j == job && *e != "moved").map(|(_, _, s)| *s).collect()
    }
}

/// A queue on `engine` with a spy journal behind its ledger.
pub fn queue_with_spy(
    engine: Arc<dyn backdrop::engine::Engine>,
    config: QueueConfig,
) -> (JobQueue, Arc<JournalSpy>) {
    let journal = Arc::new(JournalSpy::default());
    let queue = JobQueue::start(engine, Ledger::start(journal.clone()), config);
    (queue, journal)
}

/// Waits (at most `within`) until the job's engine part is over: its result stored
/// (delivering) or its end.
pub async fn settled_within(rx: &mut tokio::sync::watch::Receiver<JobState>, within: Duration) -> JobState {
    let state = tokio::time::timeout(within, rx.wait_for(JobState::is_settled))
        .await
        .expect("the job settles in time")
        .expect("the job's state channel stays open until it settles");
    state.clone()
}

/// [`settled_within`] a minute.
pub async fn settled(rx: &mut tokio::sync::watch::Receiver<JobState>) -> JobState {
    settled_within(rx, Duration::from_secs(60)).await
}

/// A fake RunningHub with one account per entry of `slots`, the engine on it and a queue.
pub struct Harness {
    pub fake: FakeRunningHub,
    pub engine: Arc<RunningHubEngine>,
    pub queue: JobQueue,
    pub journal: Arc<JournalSpy>,
}

pub async fn spawn_runninghub(slots: &[usize], poll: Duration, deadline: Duration) -> Harness {
    let fake = FakeRunningHub::start().await;
    for (i, &max_jobs) in slots.iter().enumerate() {
        fake.add_account(&key(i + 1), max_jobs);
    }
    spawn_on(fake, slots, poll, deadline)
}

/// The engine and a fresh queue on an already running fake (a "restart").
pub fn spawn_on(fake: FakeRunningHub, slots: &[usize], poll: Duration, deadline: Duration) -> Harness {
    let settings = RunningHubSettings { poll_interval: poll, ..RunningHubSettings::default() };
    spawn_with(fake, slots, settings, deadline)
}

/// The same with every engine setting chosen by the caller (a webhook URL, say).
pub fn spawn_with(
    fake: FakeRunningHub,
    slots: &[usize],
    settings: RunningHubSettings,
    deadline: Duration,
) -> Harness {
    let config = QueueConfig { deadline, grace: Duration::from_secs(3), ..QueueConfig::default() };
    spawn_with_config(fake, slots, settings, config)
}

/// The same with the queue's configuration chosen by the caller (a short grace period).
pub fn spawn_with_config(
    fake: FakeRunningHub,
    slots: &[usize],
    settings: RunningHubSettings,
    config: QueueConfig,
) -> Harness {
    let engine = engine_on(&fake, slots, settings);
    let (queue, journal) = queue_with_spy(engine.clone(), config);
    Harness { fake, engine, queue, journal }
}

/// The real RunningHub engine on `fake`'s accounts (`key-1`, ... with `slots` each), with
/// short client timeouts and retry delays.
pub fn engine_on(
    fake: &FakeRunningHub,
    slots: &[usize],
    settings: RunningHubSettings,
) -> Arc<RunningHubEngine> {
    engine_in_mode(fake, slots, settings, ApiMode::Workflow, None)
}

/// A harness whose engine speaks `mode`, every account running the AI app `app` if given
/// (`RUNNINGHUB_API_MODE`, `RUNNINGHUB_APP_ID_N`).
pub fn spawn_in_mode(
    fake: FakeRunningHub,
    slots: &[usize],
    settings: RunningHubSettings,
    deadline: Duration,
    mode: ApiMode,
    app: Option<&str>,
) -> Harness {
    let config = QueueConfig { deadline, grace: Duration::from_secs(3), ..QueueConfig::default() };
    let engine = engine_in_mode(&fake, slots, settings, mode, app);
    let (queue, journal) = queue_with_spy(engine.clone(), config);
    Harness { fake, engine, queue, journal }
}

/// [`engine_on`] with the client speaking `mode` and every account running `app`.
pub fn engine_in_mode(
    fake: &FakeRunningHub,
    slots: &[usize],
    settings: RunningHubSettings,
    mode: ApiMode,
    app: Option<&str>,
) -> Arc<RunningHubEngine> {
    let accounts = slots
        .iter()
        .enumerate()
        .map(|(i, &max_jobs)| RunningHubAccount {
            lane: LaneId(i as u16 + 1),
            api_key: Secret::new(key(i + 1)),
            max_jobs,
            workflow_id: WORKFLOW.into(),
            app_id: app.map(str::to_owned),
        })
        .collect();
    let options = ClientOptions {
        request_timeout: Duration::from_secs(2),
        transfer_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
    };
    let client = RunningHubClient::new(&reqwest::Url::parse(&fake.url()).expect("the fake's URL"), options)
        .expect("client")
        .with_mode(mode);
    Arc::new(RunningHubEngine::new(client, accounts, settings))
}

/// `backdrop bot` as its own process in `dir`, configured only through the environment:
/// the bot token and the two fakes' URLs, warnings logged, killed if the test drops it.
/// The caller adds accounts and the rest.
pub fn bot_process(
    dir: &std::path::Path,
    token: &str,
    telegram: &str,
    runninghub: &str,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_backdrop"));
    command
        .arg("bot")
        .current_dir(dir)
        .env_clear()
        .env("BOT_TOKEN", token)
        .env("TELEGRAM_API_URL", telegram)
        .env("RUNNINGHUB_API_URL", runninghub)
        .env("RUST_LOG", std::env::var("BACKDROP_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .kill_on_drop(true);
    command
}

/// Waits (bounded) until the job runs with a provider task, and gives that task.
pub async fn created_task(rx: &mut tokio::sync::watch::Receiver<JobState>) -> backdrop::job::RemoteTaskId {
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| matches!(s, JobState::Running { task: Some(_), .. })),
    )
    .await
    .expect("a task is created in time")
    .expect("queue alive")
    .clone();
    match state {
        JobState::Running { task: Some(task), .. } => task,
        _ => unreachable!("waited for a running task"),
    }
}

/// A PNG of `width` x 2, checked at the door, for the store's tests.
pub fn small_image(width: u32) -> InputImage {
    InputImage::parse(png(width, 2), &ImageLimits::default()).expect("a PNG")
}

/// A RunningHub job of user 1, in English, in the original frame.
pub fn new_job() -> backdrop::store::NewJob {
    new_job_of(1, "en")
}

/// A RunningHub job of `user` (in their private chat), in the original frame.
pub fn new_job_of(user: i64, language: &str) -> backdrop::store::NewJob {
    backdrop::store::NewJob {
        user_id: user,
        chat_id: user,
        language: language.into(),
        engine: "runninghub".into(),
        parent: None,
        output_format: None,
        variant: None,
    }
}
