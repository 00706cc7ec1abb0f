//! Hundreds of jobs over several accounts of the fake RunningHub, with random durations,
//! failures, hangs, provider faults and cancels: limits hold, every job ends exactly once,
//! every slot comes back.

mod support;

use std::time::Duration;

use backdrop::job::{JobId, JobState};
use backdrop_fakes::runninghub::{Endpoint, Fault, TaskScript};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{input, key, spawn_runninghub};

const JOBS: u64 = 300;
const SLOTS: [usize; 3] = [2, 3, 4];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_jobs_over_several_accounts_keep_every_rule() {
    let seed: u64 = std::env::var("STRESS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    println!("seed {seed} (set STRESS_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);
    let h = spawn_runninghub(&SLOTS, Duration::from_millis(10), Duration::from_secs(2)).await;

    // One script per created task, in creation order; more than enough of them.
    for _ in 0..JOBS * 2 {
        let run = Duration::from_millis(rng.random_range(5..150));
        let queued = Duration::from_millis(rng.random_range(0..30));
        let script = match rng.random_range(0..100) {
            0..75 => TaskScript { queued_for: queued, ..TaskScript::succeed(run) },
            75..87 => TaskScript::fail(run, "CUDA out of memory"),
            87..95 => TaskScript::no_output(run),
            _ => TaskScript::never_finish(),
        };
        h.fake.push_script(script);
    }
    // Provider trouble: the account is full after all, 5xx, broken JSON, hangs.
    h.fake.inject(Endpoint::Create, Fault::Code(421, "TASK_QUEUE_MAXED".into()), 10);
    h.fake.inject(Endpoint::Outputs, Fault::Http500, 20);
    h.fake.inject(Endpoint::Outputs, Fault::MalformedJson, 10);
    h.fake.inject(Endpoint::Upload, Fault::Http500, 5);
    // Polls that never answer: the client's timeout (2 s here) and retries take over.
    h.fake.inject(Endpoint::Outputs, Fault::Hang, 3);

    let mut receivers = Vec::new();
    for i in 1..=JOBS {
        receivers.push(h.queue.submit(JobId(i), input()).expect("accepted"));
        if rng.random_ratio(1, 4) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..5))).await;
        }
    }
    // Cancel some jobs, queued or running, at random moments.
    let mut cancelled = Vec::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
        let id = JobId(rng.random_range(1..=JOBS));
        if h.queue.cancel(id) {
            cancelled.push(id);
        }
    }

    let mut ended = [0usize; 3];
    for (i, rx) in receivers.iter_mut().enumerate() {
        let state = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(JobState::is_settled))
            .await
            .unwrap_or_else(|_| panic!("job {} ends in time", i + 1))
            .expect("queue alive")
            .clone();
        match state {
            JobState::Delivering(_) => ended[0] += 1,
            JobState::Failed(_) => ended[1] += 1,
            _ => ended[2] += 1,
        }
    }
    println!(
        "done {}, failed {}, cancelled {} (cancel asked for {})",
        ended[0],
        ended[1],
        ended[2],
        cancelled.len()
    );

    for (i, &max) in SLOTS.iter().enumerate() {
        let k = key(i + 1);
        assert_eq!(h.fake.over_limit_attempts(&k), 0, "{k} was sent more tasks than its limit");
        assert!(h.fake.max_running_seen(&k) <= max, "{k}");
        assert!(h.fake.max_running_seen(&k) >= 1, "{k} was used");
    }
    for i in 1..=JOBS {
        assert_eq!(h.journal.endings(JobId(i)), 1, "job {i} ends exactly once");
    }
    assert!(h.fake.tasks().len() as u64 <= JOBS, "at most one provider task per job");
    assert!(h.queue.lanes().iter().all(|l| l.running == 0), "every slot is free: {:?}", h.queue.lanes());
    assert_eq!(h.queue.waiting(), 0);
    // Timed-out and cancelled jobs were cancelled on the provider too.
    let leftover: usize = (1..=SLOTS.len()).map(|i| h.fake.running(&key(i))).sum();
    assert_eq!(leftover, 0, "no task left running on the provider");
    assert!(ended.iter().all(|&n| n > 0), "the mix covers every ending: {ended:?}");
}
