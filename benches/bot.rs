//! End-to-end benchmark of the real `backdrop bot` wiring (`Application::build` from the
//! variables an operator sets, production pacing and flood limits) against the fake
//! Telegram and the fake RunningHub on loopback: N users send product and background at
//! once; measured from the last background sent to the last result accepted by Telegram.
//!
//! `cargo bench --bench bot` (add `--profile dev` for a quick run). Prints utilisation
//! (the ideal time, rounds x task length, over the measured span), where each job's time
//! went, and how long results took from the provider's end to the user, by polling and by
//! webhook.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backdrop::app::Application;
use backdrop::bot::messages::{self, Lang};
use backdrop::bot::{BotSettings, serve};
use backdrop::config::{Settings, Vars};
use backdrop::shutdown::Shutdown;
use backdrop::store::Store;
use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use backdrop_fakes::{FakeTelegram, MessageKind};

const ACCOUNTS: usize = 3;
const SLOTS: usize = 2;
const TASK: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(100);
const WORKFLOW: &str = "1871659613585305601";
/// How long a user takes to send the background once asked (no one answers faster; an
/// instant answer would also make the bot's next message wait for the chat's gap).
const THINK: Duration = Duration::from_millis(1200);

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "conditions: {} cores, {} build, {ACCOUNTS} accounts x {SLOTS} slots, tasks of {} ms, poll interval {} ms, \
         fake Telegram and RunningHub on loopback, production pacing (30 messages/s, ~1 per chat per second), \
         users answer {} ms after being asked",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "optimised" },
        TASK.as_millis(),
        POLL.as_millis(),
        THINK.as_millis(),
    );
    runtime.block_on(idle_rss());
    for (users, webhook) in [(1, false), (1, true), (30, false), (30, true), (300, false)] {
        runtime.block_on(run(users, webhook));
    }
}

/// The resident memory of the real `backdrop bot` process, idle, polling the fake Telegram.
async fn idle_rss() {
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account("bench-key-1", SLOTS);
    let data = tempfile::tempdir().expect("temporary directory");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_backdrop"))
        .arg("bot")
        .env_clear()
        .env("BOT_TOKEN", "123456:BENCH-token")
        .env("TELEGRAM_API_URL", tg.url())
        .env("RUNNINGHUB_API_URL", rh.url())
        .env("RUNNINGHUB_API_KEY_1", "bench-key-1")
        .env("RUNNINGHUB_WORKFLOW_PRODUCT_1", WORKFLOW)
        .env("DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the backdrop binary starts");
    let polling = tg
        .wait_for(
            |tg| tg.calls().iter().filter(|c| c.method == "GetUpdates").count() >= 2,
            Duration::from_secs(30),
        )
        .await;
    assert!(polling, "the bot polls");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(str::trim).unwrap_or("?");
    println!("\nidle `backdrop bot` (long polling, 1 account, empty store): RSS {rss}");
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// One job as the fakes saw it.
struct Seen {
    background_sent: Instant,
    created: Instant,
    ended: Instant,
    photo: Instant,
    document: Instant,
}

async fn run(users: usize, webhook: bool) {
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.set_default_script(TaskScript::succeed(TASK));
    let data = tempfile::tempdir().expect("temporary directory");
    let mut vars: Vec<(String, String)> = vec![
        ("BOT_TOKEN".into(), "123456:BENCH-token".into()),
        ("TELEGRAM_API_URL".into(), tg.url()),
        ("RUNNINGHUB_API_URL".into(), rh.url()),
        ("RUNNINGHUB_POLL_INTERVAL_MS".into(), POLL.as_millis().to_string()),
        ("DATA_DIR".into(), data.path().display().to_string()),
        ("MAX_JOBS_PER_USER".into(), "3".into()),
    ];
    for n in 1..=ACCOUNTS {
        let key = format!("bench-key-{n}");
        rh.add_account(&key, SLOTS);
        vars.push((format!("RUNNINGHUB_API_KEY_{n}"), key));
        vars.push((format!("RUNNINGHUB_MAX_JOBS_{n}"), SLOTS.to_string()));
        vars.push((format!("RUNNINGHUB_WORKFLOW_PRODUCT_{n}"), WORKFLOW.into()));
    }
    if webhook {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        vars.push(("WEBHOOK_URL".into(), format!("http://127.0.0.1:{port}/hook")));
        vars.push(("WEBHOOK_LISTEN".into(), format!("127.0.0.1:{port}")));
        vars.push(("WEBHOOK_SECRET".into(), "bench-webhook-secret".into()));
    }
    let settings = Settings::from_vars(&Vars::from_pairs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .expect("valid settings");
    let bot_settings = BotSettings::from_settings(&settings).expect("bot settings");
    let store = Store::open(&settings.database_url, &settings.data_dir).await.expect("store");
    let app = Application::build(settings, Arc::new(store.clone())).expect("application");
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let bot = tokio::spawn(serve(bot_settings, app, store, shutdown.clone()));

    // Everyone sends a product; once asked, the background (each product its own size, so
    // that a task can be traced back to its chat).
    let people: Vec<_> = (0..users).map(|i| tg.user(10_000 + i as i64, Some("en"))).collect();
    for (i, user) in people.iter().enumerate() {
        user.send_photo(solid_png(64 + i as u32, 48, [200, 30, 30]));
    }
    let asked = |tg: &FakeTelegram, chat: i64| {
        tg.messages(chat).iter().any(|m| m.text_or_caption == messages::ask_background(Lang::En))
    };
    let mut background_sent = vec![None; users];
    let mut asked_at = vec![None; users];
    let deadline = Instant::now() + Duration::from_secs(120);
    while background_sent.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, user) in people.iter().enumerate() {
            if asked_at[i].is_none() && asked(&tg, user.chat_id()) {
                asked_at[i] = Some(Instant::now());
            }
            if background_sent[i].is_none() && asked_at[i].is_some_and(|at: Instant| at.elapsed() >= THINK) {
                user.send_photo(solid_png(80, 60, [30, 30, 200]));
                background_sent[i] = Some(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last_background = background_sent.iter().flatten().max().copied().expect("someone was asked");
    let results = |tg: &FakeTelegram| {
        people
            .iter()
            .filter(|u| tg.messages(u.chat_id()).iter().any(|m| m.kind == MessageKind::Document))
            .count()
    };
    let bound = Duration::from_secs(60) + TASK * (users as u32 / (ACCOUNTS * SLOTS) as u32 + 2);
    let all = tg.wait_for(|tg| results(tg) == users, bound).await;
    assert!(all, "every user got a result ({} of {users})", results(&tg));

    // Trace each task back to its chat by the product's width.
    let calls = tg.calls();
    let mut seen = Vec::new();
    for task in rh.tasks() {
        let product = task.node_inputs.iter().find(|n| n.node_id == "2").expect("product node");
        let bytes = rh.uploaded_file(&product.field_value).expect("uploaded");
        let width = image::load_from_memory(&bytes).expect("an image").width();
        let i = (width - 64) as usize;
        let chat = people[i].chat_id();
        let first = |method: &str| {
            calls.iter().filter(|c| c.chat_id == Some(chat) && c.method == method).map(|c| c.at).min()
        };
        seen.push(Seen {
            background_sent: background_sent[i].expect("sent"),
            created: task.created_at,
            ended: task.ended_at.expect("ended"),
            photo: first("SendPhoto").expect("photo"),
            document: first("SendDocument").expect("document"),
        });
    }
    let last_result = seen.iter().map(|s| s.document).max().expect("results");
    let span = last_result - last_background;
    let rounds = users.div_ceil(ACCOUNTS * SLOTS) as u32;
    let ideal = TASK * rounds;
    let busy: Duration = seen.iter().map(|s| s.ended - s.created).sum();
    let first_create = seen.iter().map(|s| s.created).min().expect("tasks");
    let last_end = seen.iter().map(|s| s.ended).max().expect("tasks");
    let provider_span = last_end - first_create;
    println!(
        "\n{users} users, {}: span {:.2} s, ideal {:.2} s ({rounds} rounds) -> utilisation {:.3}; \
         slots busy {:.3} of the provider span ({:.2} s, first create to last end)",
        if webhook { "webhooks" } else { "polling" },
        span.as_secs_f64(),
        ideal.as_secs_f64(),
        ideal.as_secs_f64() / span.as_secs_f64(),
        busy.as_secs_f64() / (provider_span.as_secs_f64() * (ACCOUNTS * SLOTS) as f64),
        provider_span.as_secs_f64(),
    );
    println!(
        "  head: last background sent -> first create {:.0} ms; tail: last task end -> last result {:.0} ms",
        ms(first_create.saturating_duration_since(last_background)),
        ms(last_result - last_end),
    );
    let phase = |name: &str, mut values: Vec<Duration>| {
        if values.is_empty() {
            return;
        }
        values.sort();
        let at = |q: f64| ms(values[((values.len() - 1) as f64 * q).round() as usize]);
        println!("  {name:<44} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms", at(0.5), at(0.99), at(1.0));
    };
    phase(
        "background sent -> task created (intake, wait)",
        seen.iter().map(|s| s.created.saturating_duration_since(s.background_sent)).collect(),
    );
    phase("task (provider)", seen.iter().map(|s| s.ended - s.created).collect());
    phase(
        "task end -> photo at Telegram (poll, download)",
        seen.iter().map(|s| s.photo.saturating_duration_since(s.ended)).collect(),
    );
    phase(
        "photo -> document at Telegram",
        seen.iter().map(|s| s.document.saturating_duration_since(s.photo)).collect(),
    );
    phase("slot idle between tasks (end -> next create)", slot_gaps(&seen));

    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(30), bot).await;
}

/// For each task after the first on its account's slots: how long its slot sat idle
/// since the task before it on that slot ended (tasks are laid greedily on the slot free
/// the longest, as the provider sees them).
fn slot_gaps(seen: &[Seen]) -> Vec<Duration> {
    let mut starts: Vec<&Seen> = seen.iter().collect();
    starts.sort_by_key(|s| s.created);
    // Without the account of each job at hand, all slots are one pool: the gap is from
    // the latest end before each create, which is what a waiting job sees.
    let mut ends: Vec<Instant> = Vec::new();
    let mut gaps = Vec::new();
    for s in starts {
        if ends.len() >= ACCOUNTS * SLOTS {
            ends.sort();
            let freed = ends.remove(0);
            gaps.push(s.created.saturating_duration_since(freed));
        }
        ends.push(s.ended);
    }
    gaps
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
