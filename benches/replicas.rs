//! Three `backdrop bot` replicas on one PostgreSQL database, in webhook mode behind one
//! round-robin load balancer, sharing a fake RunningHub of 10 accounts x 5 slots; 1,000
//! users send a product, then (once asked) a background.
//!
//! `cargo bench --bench replicas` (add `--profile dev` for a quick run). Prints the
//! provider-side utilisation (slots busy over first create to last task end), how long a
//! freed slot waited for its account's next task while jobs were waiting (p50/p99), the
//! most tasks any account ran at once against its limit, and the database transactions
//! per job (each statement outside a transaction is one; a lower bound on round trips).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use backdrop::bot::messages::{self, Lang};
use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use backdrop_fakes::{FakeTelegram, LoadBalancer, MessageKind, TestPostgres};
use sqlx::Connection;

const REPLICAS: usize = 3;
const ACCOUNTS: usize = 10;
const SLOTS: usize = 5;
const USERS: usize = 1000;
const TASK: Duration = Duration::from_millis(3000);
const POLL: Duration = Duration::from_millis(100);
const WORKFLOW: &str = "1871659613585305601";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "conditions: {} cores, {} build, {REPLICAS} replicas (processes) on one PostgreSQL 15, webhook mode behind \
         a round-robin balancer, {ACCOUNTS} accounts x {SLOTS} slots, {USERS} users, tasks of {} ms, poll interval \
         {} ms, fakes on loopback in the bench's process",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "optimised" },
        TASK.as_millis(),
        POLL.as_millis(),
    );
    runtime.block_on(run());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn transactions(url: &str) -> i64 {
    let mut conn = sqlx::postgres::PgConnection::connect(url).await.expect("the database");
    sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::BIGINT FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("statistics")
}

async fn run() {
    let url = TestPostgres::shared().fresh_database().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.set_default_script(TaskScript::succeed(TASK));
    let keys: Vec<String> = (1..=ACCOUNTS).map(|n| format!("bench-key-{n}")).collect();
    for key in &keys {
        rh.add_account(key, SLOTS);
    }
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let balancer =
        LoadBalancer::start(ports.iter().map(|p| SocketAddr::from(([127, 0, 0, 1], *p))).collect()).await;
    let mut children = Vec::new();
    for &port in &ports {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_backdrop"));
        command
            .arg("bot")
            .env_clear()
            .env("BOT_TOKEN", "123456:BENCH-token")
            .env("TELEGRAM_API_URL", tg.url())
            .env("RUNNINGHUB_API_URL", rh.url())
            .env("RUNNINGHUB_POLL_INTERVAL_MS", POLL.as_millis().to_string())
            .env("DATABASE_URL", &url)
            .env("DATA_DIR", dir.path().join(port.to_string()))
            .env("WEBHOOK_URL", balancer.url())
            .env("WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
            .env("WEBHOOK_SECRET", "bench-webhook-secret-0123456789")
            .env("RUST_LOG", "error")
            .kill_on_drop(true);
        for (n, key) in keys.iter().enumerate() {
            command
                .env(format!("RUNNINGHUB_API_KEY_{}", n + 1), key)
                .env(format!("RUNNINGHUB_MAX_JOBS_{}", n + 1), SLOTS.to_string())
                .env(format!("RUNNINGHUB_WORKFLOW_PRODUCT_{}", n + 1), WORKFLOW);
        }
        children.push(command.spawn().expect("the backdrop binary starts"));
    }
    for &port in &ports {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "a replica never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let before = transactions(&url).await;

    let people: Vec<_> = (0..USERS).map(|i| tg.user(10_000 + i as i64, Some("en"))).collect();
    // Each product its own width, so that a task can be traced back to its chat.
    for (i, user) in people.iter().enumerate() {
        user.send_photo(solid_png(64 + i as u32, 48, [200, 30, 30]));
    }
    // Products go to one replica and backgrounds maybe to another: each background only
    // once its product's step is in the database (the user was asked).
    let mut sent: Vec<Option<Instant>> = vec![None; USERS];
    let deadline = Instant::now() + Duration::from_secs(300);
    while sent.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, user) in people.iter().enumerate() {
            let asked = || {
                tg.messages(user.chat_id())
                    .iter()
                    .any(|m| m.text_or_caption == messages::ask_background(Lang::En))
            };
            if sent[i].is_none() && asked() {
                user.send_photo(solid_png(80, 60, [30, 30, 200]));
                sent[i] = Some(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let results = |tg: &FakeTelegram| {
        people
            .iter()
            .filter(|u| tg.messages(u.chat_id()).iter().any(|m| m.kind == MessageKind::Document))
            .count()
    };
    let bound = Duration::from_secs(300) + TASK * (USERS / (ACCOUNTS * SLOTS) + 2) as u32;
    let all = tg.wait_for(|tg| results(tg) == USERS, bound).await;
    assert!(all, "every user got a result ({} of {USERS})", results(&tg));
    // PostgreSQL publishes its counters shortly after each transaction.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = transactions(&url).await;

    let tasks = rh.tasks();
    assert_eq!(tasks.len(), USERS, "one task per job");
    let first_create = tasks.iter().map(|t| t.created_at).min().expect("tasks");
    let last_end = tasks.iter().filter_map(|t| t.ended_at).max().expect("tasks");
    let busy: Duration = tasks.iter().filter_map(|t| Some(t.ended_at? - t.created_at)).sum();
    let span = last_end - first_create;
    let utilisation = busy.as_secs_f64() / (span.as_secs_f64() * (ACCOUNTS * SLOTS) as f64);
    let ideal = TASK * USERS.div_ceil(ACCOUNTS * SLOTS) as u32;
    println!(
        "\n{USERS} jobs: provider span {:.2} s (ideal {:.2} s) -> slots busy {utilisation:.3} of first create to last end",
        span.as_secs_f64(),
        ideal.as_secs_f64(),
    );
    // When each job could have started: its background sent.
    let mut ready = HashMap::new();
    for task in &tasks {
        let product = task.node_inputs.iter().find(|n| n.node_id == "2").expect("product node");
        let bytes = rh.uploaded_file(&product.field_value).expect("uploaded");
        let width = image::load_from_memory(&bytes).expect("an image").width();
        ready.insert(task.id.clone(), sent[(width - 64) as usize].expect("sent"));
    }
    let waiting_at = |t: Instant| tasks.iter().any(|task| ready[&task.id] < t && task.created_at > t);
    let gaps = slot_gaps(&tasks, waiting_at);
    if !gaps.is_empty() {
        let mut gaps = gaps;
        gaps.sort();
        let at = |q: f64| gaps[((gaps.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
        println!(
            "slot freed -> its account's next task created, while a job waited ({} cases): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            gaps.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    let peak = keys.iter().map(|k| rh.max_running_seen(k)).max().unwrap_or(0);
    let refused: usize = keys.iter().map(|k| rh.over_limit_attempts(k)).sum();
    println!(
        "most tasks at once on one account: {peak} (limit {SLOTS}); creates refused over the limit: {refused}"
    );
    println!(
        "database transactions per job: {:.1} ({} over {USERS} jobs, intake, dialogue steps, journal, leases, heartbeats)",
        (after - before) as f64 / USERS as f64,
        after - before
    );
    println!("requests per replica through the balancer: {:?}", balancer.served());
    for child in &mut children {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
    for child in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    }
}

/// For each account: each create that found all its slots taken before, the time since
/// the earliest of them ended, if a job was waiting at that moment (its background sent,
/// its task not yet created): the time a free slot was wasted.
fn slot_gaps(tasks: &[backdrop_fakes::TaskRecord], waiting_at: impl Fn(Instant) -> bool) -> Vec<Duration> {
    let mut by_account: HashMap<&str, Vec<&backdrop_fakes::TaskRecord>> = HashMap::new();
    for task in tasks {
        by_account.entry(&task.api_key).or_default().push(task);
    }
    let mut gaps = Vec::new();
    for (_, mut tasks) in by_account {
        tasks.sort_by_key(|t| t.created_at);
        let mut ends: Vec<Instant> = Vec::new();
        for task in tasks {
            ends.retain(|end| *end > task.created_at - Duration::from_secs(3600));
            if ends.len() >= SLOTS {
                ends.sort();
                let freed = ends.remove(0);
                if waiting_at(freed) {
                    gaps.push(task.created_at.saturating_duration_since(freed));
                }
            }
            if let Some(end) = task.ended_at {
                ends.push(end);
            }
        }
    }
    gaps
}
