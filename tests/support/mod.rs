//! Shared pieces of the integration tests: a fake RunningHub with accounts, the real
//! RunningHub engine pointed at it, the queue, and a journal that counts job endings.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backdrop::engine::runninghub::{RunningHubAccount, RunningHubEngine, RunningHubSettings};
use backdrop::engine::{ImageSource, JobInput, LaneId};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{JobId, JobState};
use backdrop::queue::{JobJournal, JobQueue, QueueConfig};
use backdrop::runninghub::{ClientOptions, RetryPolicy, RunningHubClient};
use backdrop::secret::Secret;
use backdrop_fakes::runninghub::FakeRunningHub;

pub const WORKFLOW: &str = "1871659613585305601";

/// The account keys of a harness: `key-1`, `key-2`, ...
pub fn key(n: usize) -> String {
    format!("key-{n}")
}

/// A small real PNG.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([200, 120, 40]))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encoding a PNG in memory");
    out
}

pub fn input() -> JobInput {
    let image = InputImage::parse(png(8, 6), &ImageLimits::default()).expect("a valid PNG");
    JobInput { product: ImageSource::Memory(image.clone()), background: ImageSource::Memory(image) }
}

/// Counts what the queue reports, to check that each job ends exactly once.
#[derive(Default)]
pub struct CountingJournal {
    pub records: Mutex<Vec<(JobId, &'static str)>>,
}

#[async_trait]
impl JobJournal for CountingJournal {
    async fn record(&self, job: JobId, state: &JobState) {
        self.records.lock().unwrap().push((job, state.name()));
    }
}

impl CountingJournal {
    pub fn endings(&self, job: JobId) -> usize {
        let records = self.records.lock().unwrap();
        records.iter().filter(|(j, s)| *j == job && matches!(*s, "done" | "failed" | "cancelled")).count()
    }
}

/// A fake RunningHub with one account per entry of `slots`, the engine on it and a queue.
pub struct Harness {
    pub fake: FakeRunningHub,
    pub engine: Arc<RunningHubEngine>,
    pub queue: JobQueue,
    pub journal: Arc<CountingJournal>,
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
    let accounts = slots
        .iter()
        .enumerate()
        .map(|(i, &max_jobs)| RunningHubAccount {
            lane: LaneId(i as u16 + 1),
            api_key: Secret::new(key(i + 1)),
            max_jobs,
            workflow_id: WORKFLOW.into(),
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
    let client = RunningHubClient::new(&fake.url(), options).expect("client");
    let engine = Arc::new(RunningHubEngine::new(client, accounts, settings));
    let journal = Arc::new(CountingJournal::default());
    let config = QueueConfig { deadline, grace: Duration::from_secs(3) };
    let queue = JobQueue::start(engine.clone(), journal.clone(), config);
    Harness { fake, engine, queue, journal }
}
