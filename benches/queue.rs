//! Queue benchmark: slot utilisation, added latency and memory of queued jobs, through the
//! real RunningHub engine against the fake RunningHub on loopback.
//!
//! `cargo bench --bench queue`. Conditions are printed with the figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backdrop::engine::runninghub::{RunningHubAccount, RunningHubEngine, RunningHubSettings};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{ImageSource, JobId, JobInput, JobState, LaneId, Ledger, NoJournal};
use backdrop::queue::{JobQueue, QueueConfig};
use backdrop::runninghub_api::{ClientOptions, RunningHubClient};
use backdrop::secret::Secret;
use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};

const ACCOUNTS: usize = 3;
const SLOTS: usize = 5;
const TASK: Duration = Duration::from_millis(100);
const JOBS: u64 = 600;
const POLL: Duration = Duration::from_millis(20);
const QUEUED_FOR_MEMORY: u64 = 10_000;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        println!(
            "conditions: {} cores, {} build, {ACCOUNTS} accounts x {SLOTS} slots, fake tasks of {} ms, \
             {JOBS} jobs submitted at once, poll interval {} ms, fake RunningHub on loopback",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            if cfg!(debug_assertions) { "debug" } else { "release" },
            TASK.as_millis(),
            POLL.as_millis(),
        );
        throughput().await;
        memory().await;
    });
}

fn png() -> InputImage {
    let mut out = Vec::new();
    image::RgbImage::new(8, 8)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("png");
    InputImage::parse(out, &ImageLimits::default()).expect("valid")
}

async fn engine_on(fake: &FakeRunningHub) -> Arc<RunningHubEngine> {
    let accounts = (1..=ACCOUNTS)
        .map(|n| {
            let key = format!("bench-key-{n}");
            fake.add_account(&key, SLOTS);
            RunningHubAccount {
                lane: LaneId(n as u16),
                api_key: Secret::new(key),
                max_jobs: SLOTS,
                workflow_id: "1".into(),
                app_id: None,
            }
        })
        .collect();
    let client = RunningHubClient::new(
        &reqwest::Url::parse(&fake.url()).expect("the fake's URL"),
        ClientOptions::default(),
    )
    .expect("client");
    let settings = RunningHubSettings { poll_interval: POLL, ..RunningHubSettings::default() };
    Arc::new(RunningHubEngine::new(client, accounts, settings))
}

async fn throughput() {
    let fake = FakeRunningHub::start().await;
    fake.set_default_script(TaskScript::succeed(TASK));
    let engine = engine_on(&fake).await;
    let queue = JobQueue::start(engine, Ledger::start(Arc::new(NoJournal)), QueueConfig::default());
    let image = png();
    let input =
        JobInput { product: ImageSource::Memory(image.clone()), background: ImageSource::Memory(image) };

    let start = Instant::now();
    let mut watchers = Vec::new();
    for i in 1..=JOBS {
        let mut rx = queue.submit(JobId(i), input.clone()).expect("accepted");
        // Per job: its provider task and the moment its result was available here.
        watchers.push(tokio::spawn(async move {
            let mut task = None;
            loop {
                let state = rx.borrow_and_update().clone();
                match state {
                    JobState::Running { task: Some(t), .. } => task = Some(t),
                    JobState::Delivering(_) => return (task, Instant::now()),
                    s if s.is_terminal() => panic!("job {i} ended {s:?}"),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    panic!("queue stopped");
                }
            }
        }));
    }
    let mut added = Vec::new();
    let mut last = start;
    for w in watchers {
        let (task, done_at) = w.await.expect("watcher");
        last = last.max(done_at);
        let task = task.expect("a task was created");
        let finished = fake.finished_at(&task.0).expect("the fake finished the task");
        added.push(done_at.saturating_duration_since(finished));
    }
    let actual = last - start;
    let ideal = TASK * (JOBS as u32) / (ACCOUNTS * SLOTS) as u32;
    added.sort();
    let pct = |p: f64| added[((added.len() - 1) as f64 * p).round() as usize];
    let max_seen: Vec<usize> =
        (1..=ACCOUNTS).map(|n| fake.max_running_seen(&format!("bench-key-{n}"))).collect();
    println!(
        "utilisation: ideal makespan {:.2} s / actual {:.2} s = {:.3} (target >= 0.95)",
        ideal.as_secs_f64(),
        actual.as_secs_f64(),
        ideal.as_secs_f64() / actual.as_secs_f64()
    );
    println!(
        "added latency (fake finished -> result available): p50 {:.1} ms, p99 {:.1} ms (target p50 <= {:.0} ms)",
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        POLL.as_secs_f64() * 500.0 + 10.0,
    );
    println!("max concurrent tasks per account: {max_seen:?} (limit {SLOTS})");
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn memory() {
    let fake = FakeRunningHub::start().await;
    fake.set_default_script(TaskScript::never_finish());
    let engine = engine_on(&fake).await;
    let queue = JobQueue::start(engine, Ledger::start(Arc::new(NoJournal)), QueueConfig::default());
    // Fill every slot, and every slot to upload ahead, so that what follows stays queued.
    let image = png();
    let busy =
        JobInput { product: ImageSource::Memory(image.clone()), background: ImageSource::Memory(image) };
    for _ in 0..ACCOUNTS * SLOTS * 2 {
        queue.submit(queue.next_id(), busy.clone()).expect("accepted");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_bytes();
    let mut receivers = Vec::with_capacity(QUEUED_FOR_MEMORY as usize);
    // As the bot queues them: images on disk, referenced by path; one owner per job (the
    // worst case for the round-robin line).
    let on_disk = |id: JobId| {
        let dir = std::path::PathBuf::from(format!("./data/jobs/{id}"));
        JobInput {
            product: ImageSource::File(dir.join("product.jpg")),
            background: ImageSource::File(dir.join("background.jpg")),
        }
    };
    let mut line = std::collections::VecDeque::new();
    let submit = |line: &mut std::collections::VecDeque<JobId>, receivers: &mut Vec<_>| {
        let id = queue.next_id();
        receivers
            .push(queue.submit_for(backdrop::job::Owner(id.0 as i64), id, on_disk(id)).expect("accepted"));
        line.push_back(id);
    };
    for _ in 0..QUEUED_FOR_MEMORY {
        submit(&mut line, &mut receivers);
        let queued = line.len();
        if [100, 1_000, 10_000].contains(&queued) {
            // One more job in, then the first one out (positions published to those behind).
            let rounds = 200;
            let started = Instant::now();
            for _ in 0..rounds {
                submit(&mut line, &mut receivers);
            }
            let submitting = started.elapsed() / rounds;
            let started = Instant::now();
            for _ in 0..rounds {
                queue.cancel(line.pop_front().expect("queued"));
            }
            let taking = started.elapsed() / rounds;
            println!(
                "scheduling at {queued} queued (one owner each): submit one job {:.1} us; \
                 take the first out and update positions {:.1} us",
                submitting.as_secs_f64() * 1e6,
                taking.as_secs_f64() * 1e6,
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = rss_bytes();
    println!(
        "memory: {QUEUED_FOR_MEMORY} queued jobs add {:.1} MB RSS (target <= 50 MB); queue length {}",
        (after.saturating_sub(before)) as f64 / 1e6,
        queue.waiting()
    );
}
