//! `/healthz`, `/readyz` and `/metrics` of the real `backdrop bot` binary (its own process,
//! so the counters are this test's alone), scraped after it ran jobs against the fake
//! Telegram and the fake RunningHub.

use std::path::Path;
use std::time::Duration;

use backdrop::bot::messages::{self, Lang};
use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::runninghub::{Endpoint, FakeRunningHub, TaskScript};
use backdrop_fakes::{FakeTelegram, MessageKind};
use tokio::process::{Child, Command};

const KEY: &str = "key-1";
const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_bot(dir: &Path, tg: &FakeTelegram, rh: &FakeRunningHub, metrics: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_backdrop"))
        .arg("bot")
        .current_dir(dir)
        .env_clear()
        .env("BOT_TOKEN", "123456:TEST-token")
        .env("TELEGRAM_API_URL", tg.url())
        .env("RUNNINGHUB_API_URL", rh.url())
        .env("RUNNINGHUB_API_KEY_1", KEY)
        .env("RUNNINGHUB_MAX_JOBS_1", "2")
        .env("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1871659613585305601")
        .env("RUNNINGHUB_POLL_INTERVAL_MS", "20")
        .env("DATA_DIR", dir.join("data"))
        .env("METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the backdrop binary starts")
}

async fn get(url: &str) -> Option<(u16, String)> {
    let answer = reqwest::get(url).await.ok()?;
    let status = answer.status().as_u16();
    Some((status, answer.text().await.ok()?))
}

/// The value of the sample `name` (with its labels, as rendered) in a scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics_count_what_the_bot_did() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 2);
    rh.push_script(TaskScript::succeed(Duration::from_millis(100)));
    rh.push_script(TaskScript::fail(Duration::from_millis(100), "OOM"));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut bot = start_bot(dir.path(), &tg, &rh, port);

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if get(&format!("{base}/readyz")).await.is_some_and(|(status, _)| status == 200) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ready in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&format!("{base}/healthz")).await.map(|(s, _)| s), Some(200));

    for (n, user) in [tg.user(1, Some("en")), tg.user(2, Some("en"))].iter().enumerate() {
        user.send_photo(solid_png(64, 48, [200, 30, 30]));
        let chat = user.chat_id();
        let asked = |tg: &FakeTelegram| {
            tg.messages(chat).iter().any(|m| m.text_or_caption == messages::ask_background(Lang::En))
        };
        assert!(tg.wait_for(asked, WAIT).await, "user {n} asked for the background");
        user.send_photo(solid_png(80, 60, [30, 30, 200]));
        // One after the other: the first task gets the first script.
        let ended = |tg: &FakeTelegram| {
            tg.messages(chat)
                .iter()
                .any(|m| m.kind == MessageKind::Document || m.text_or_caption.starts_with("❌"))
        };
        assert!(tg.wait_for(ended, WAIT).await, "user {n}'s job ended:\n{}", tg.dump_all());
    }

    let (status, scrape) = get(&format!("{base}/metrics")).await.expect("scraped");
    assert_eq!(status, 200);
    let value = |name: &str| sample(&scrape, name).unwrap_or_else(|| panic!("{name} in\n{scrape}"));
    assert_eq!(value(r#"backdrop_jobs_total{outcome="succeeded"}"#), 1.0);
    assert_eq!(value(r#"backdrop_jobs_total{outcome="failed"}"#), 1.0);
    assert_eq!(value("backdrop_queue_depth"), 0.0);
    assert_eq!(value(r#"backdrop_slots_total{account="1"}"#), 2.0);
    assert_eq!(value(r#"backdrop_slots_busy{account="1"}"#), 0.0);
    assert_eq!(value("backdrop_job_duration_seconds_count"), 2.0);
    assert_eq!(value("backdrop_queue_wait_seconds_count"), 2.0);
    let creates = value(r#"backdrop_provider_requests_total{endpoint="create",code="0"}"#);
    assert_eq!(creates as usize, rh.calls(Endpoint::Create), "every create counted");
    assert!(value(r#"backdrop_provider_request_seconds_count{endpoint="outputs"}"#) >= 2.0);
    assert!(!scrape.contains(KEY), "accounts by number, never by key");
    assert_eq!(get(&format!("{base}/nothing")).await.map(|(s, _)| s), Some(404));

    bot.start_kill().unwrap();
    let _ = bot.wait().await;
}

#[test]
fn the_grafana_dashboard_asks_only_for_metrics_the_bot_exports() {
    use backdrop::telemetry as m;
    let exported = [
        m::JOBS_TOTAL,
        m::QUEUE_DEPTH,
        m::SLOTS_BUSY,
        m::SLOTS_TOTAL,
        m::JOB_DURATION,
        m::QUEUE_WAIT,
        m::PROVIDER_REQUESTS,
        m::PROVIDER_LATENCY,
        m::TELEGRAM_ERRORS,
        m::DELIVERY_RETRIES,
    ];
    let dashboard =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json"))
            .expect("the dashboard is in the repository");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    let mut asked = 0;
    for (start, _) in dashboard.match_indices("backdrop_") {
        let name: String =
            dashboard[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let base = name.trim_end_matches("_bucket").trim_end_matches("_count").trim_end_matches("_sum");
        assert!(exported.contains(&base), "the dashboard asks for {name}, which the bot does not export");
        asked += 1;
    }
    assert!(asked >= 10, "every panel has a query");
}
