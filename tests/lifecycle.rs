//! The lifecycle as a property: random scripts, provider faults, cancels, duplicate
//! callbacks and a restart at a random moment, on the real engine, queue, ledger and
//! SQLite store against the fake RunningHub. Whatever happens: every job settles exactly
//! once in the store, no provider task is created twice, no account runs more than its
//! limit, every slot comes back and nothing is left running on the provider.
//! `PROPTEST_CASES` sets how many scenarios run (default 6; each takes a few seconds).

mod support;

use std::sync::Arc;
use std::time::Duration;

use backdrop::engine::Engine;
use backdrop::engine::runninghub::RunningHubSettings;
use backdrop::job::{JobState, Ledger, Owner, StateName};
use backdrop::queue::{JobQueue, QueueConfig, recover};
use backdrop::shutdown::ShutdownMode;
use backdrop::store::Store;
use backdrop_fakes::runninghub::{Endpoint, FakeRunningHub, Fault, TaskScript};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{engine_on, key};

const JOBS: usize = 6;
const SLOTS: usize = 2;

fn config() -> QueueConfig {
    QueueConfig { deadline: Duration::from_secs(8), grace: Duration::from_secs(2), max_attempts: 5 }
}

fn settings() -> RunningHubSettings {
    RunningHubSettings { poll_interval: Duration::from_millis(15), ..RunningHubSettings::default() }
}

/// One process's life on `dir`: the store, a ledger journalling into it, the queue.
async fn start(dir: &std::path::Path, fake: &FakeRunningHub) -> (Store, Ledger, JobQueue, Arc<dyn Engine>) {
    let store =
        Store::open(&backdrop::store::DatabaseUrl::sqlite_in(dir), dir).await.expect("the store opens");
    let ledger = Ledger::start(Arc::new(store.clone()));
    let engine: Arc<dyn Engine> = engine_on(fake, &[SLOTS], settings());
    let queue = JobQueue::start(Arc::clone(&engine), ledger.clone(), config());
    (store, ledger, queue, engine)
}

async fn scenario(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("a data directory");
    let fake = FakeRunningHub::start().await;
    fake.add_account(&key(1), SLOTS);
    for _ in 0..JOBS * 2 {
        let run = Duration::from_millis(rng.random_range(20..400));
        fake.push_script(match rng.random_range(0..10) {
            0 => TaskScript::fail(run, "CUDA out of memory"),
            _ => TaskScript::succeed(run),
        });
    }
    if rng.random_bool(0.5) {
        fake.inject(Endpoint::Create, Fault::Code(421, "TASK_QUEUE_MAXED".into()), rng.random_range(1..3));
    }
    fake.inject(Endpoint::Outputs, Fault::Http500, rng.random_range(0..4));
    fake.inject(Endpoint::Outputs, Fault::Code(1011, "RATE_LIMIT".into()), rng.random_range(0..4));

    let (store, ledger, queue, engine) = start(dir.path(), &fake).await;
    let image = backdrop::input_image::InputImage::parse(support::png(8, 6), &Default::default()).unwrap();
    let new = support::new_job();
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        let (id, input) = store.create_job(&new, &image, &image).await.expect("stored");
        queue.submit_for(Owner(1 + (id.0 as i64 % 3)), id, input).expect("queued");
        ids.push(id);
    }
    // Until the "crash": cancels and duplicate callbacks at random moments.
    let restart_at = tokio::time::Instant::now() + Duration::from_millis(rng.random_range(50..900));
    while tokio::time::Instant::now() < restart_at {
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..60))).await;
        match rng.random_range(0..4) {
            0 => {
                queue.cancel(ids[rng.random_range(0..JOBS)]);
            }
            1 => {
                for task in fake.tasks() {
                    engine.hint_task_ended(&backdrop::job::RemoteTaskId(task.id.clone()), None);
                    engine.hint_task_ended(&backdrop::job::RemoteTaskId(task.id), None);
                }
            }
            _ => {}
        }
    }
    queue.shutdown(ShutdownMode::Keep).await;
    ledger.flush().await;
    store.close().await;
    drop((queue, ledger, engine));

    // The next start picks up what the store has.
    let (store, ledger, queue, _engine) = start(dir.path(), &fake).await;
    let mut recovered = recover(store.unfinished().await.expect("readable"), &queue).await;
    for (job, rx) in &mut recovered.live {
        let settled = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(JobState::is_settled)).await;
        assert!(settled.is_ok(), "seed {seed}: job {} never settled", job.id);
    }
    ledger.flush().await;
    for id in &ids {
        let stored = store.job(*id).await.expect("readable").expect("stored");
        let settled = [StateName::Delivering, StateName::Failed, StateName::Cancelled];
        assert!(settled.contains(&stored.state), "seed {seed}: job {id} stayed {}", stored.state);
    }
    let tasks = fake.tasks();
    assert!(tasks.len() <= JOBS, "seed {seed}: {} tasks for {JOBS} jobs: one was created twice", tasks.len());
    assert_eq!(fake.over_limit_attempts(&key(1)), 0, "seed {seed}");
    assert!(fake.max_running_seen(&key(1)) <= SLOTS, "seed {seed}");
    assert!(queue.lanes().iter().all(|l| l.running == 0), "seed {seed}: a slot was not given back");
    assert_eq!(fake.running(&key(1)), 0, "seed {seed}: a task was left running on the provider");
    assert_eq!(
        queue.ledger().len(),
        recovered.live.iter().filter(|(_, rx)| rx.borrow().name() == StateName::Delivering).count(),
        "seed {seed}: only stored results wait for Telegram"
    );
    store.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(6), ..ProptestConfig::default() })]

    #[test]
    fn a_restart_at_any_moment_loses_nothing_and_pays_nothing_twice(seed in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(scenario(seed));
    }
}
