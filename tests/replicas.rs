//! Several `backdrop bot` processes on one PostgreSQL database, every one running jobs
//! (active-active), in webhook mode behind one load balancer, against the fake Telegram
//! and fake RunningHub: one is killed with SIGKILL mid-run, and still every result is
//! delivered once, every job has one provider task, and no account ever runs more tasks
//! than its limit across the replicas.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use backdrop::bot::messages::{self, Lang};
use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use backdrop_fakes::{FakeTelegram, FakeUser, LoadBalancer, MessageKind};
use tokio::process::Child;

const TOKEN: &str = "123456:TEST-token";
const SECRET: &str = "test-webhook-secret-0123456789";
const KEYS: [&str; 2] = ["key-1", "key-2"];
const LIMIT: usize = 2;
const WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One replica: `backdrop bot` with its own DATA_DIR and ports, configured only through
/// the environment, like the others but for those.
fn start_replica(
    dir: &Path,
    url: &str,
    tg: &FakeTelegram,
    rh: &FakeRunningHub,
    public: &str,
    listen: u16,
    extra: &[(&str, &str)],
) -> Child {
    let mut command = support::bot_process(dir, TOKEN, &tg.url(), &rh.url());
    command
        .env("RUNNINGHUB_POLL_INTERVAL_MS", "50")
        .env("DATABASE_URL", url)
        .env("DATA_DIR", dir.join(format!("data-{listen}")))
        .env("WEBHOOK_URL", public)
        .env("WEBHOOK_LISTEN", format!("127.0.0.1:{listen}"))
        .env("WEBHOOK_SECRET", SECRET)
        .env("MAX_JOBS_PER_USER", "5");
    for (n, key) in KEYS.iter().enumerate() {
        let n = n + 1;
        command
            .env(format!("RUNNINGHUB_API_KEY_{n}"), key)
            .env(format!("RUNNINGHUB_MAX_JOBS_{n}"), LIMIT.to_string())
            .env(format!("RUNNINGHUB_WORKFLOW_PRODUCT_{n}"), "1871659613585305601");
    }
    command.envs(extra.iter().copied());
    command.spawn().expect("the backdrop binary starts")
}

async fn wait(tg: &FakeTelegram, what: &str, cond: impl FnMut(&FakeTelegram) -> bool) {
    assert!(tg.wait_for(cond, WAIT).await, "waiting for: {what}\n{}", tg.dump_all());
}

fn count(tg: &FakeTelegram, chat: i64, kind: MessageKind) -> usize {
    tg.messages(chat).iter().filter(|m| m.kind == kind).count()
}

fn has_text(tg: &FakeTelegram, chat: i64, text: &str) -> bool {
    tg.messages(chat).iter().any(|m| m.text_or_caption == text)
}

/// Waits (bounded) until every replica answers on its webhook port.
async fn until_listening(ports: &[u16]) {
    let started = Instant::now();
    for &port in ports {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < WAIT, "replica on {port} never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Three replicas on a fresh database behind one balancer, against the fakes (2 accounts
/// of `LIMIT` slots, tasks as `script`), every replica listening.
struct Cluster {
    _dir: tempfile::TempDir,
    tg: FakeTelegram,
    rh: FakeRunningHub,
    balancer: LoadBalancer,
    replicas: Vec<Child>,
}

async fn three_replicas(script: TaskScript, extra: &[(&str, &str)]) -> Cluster {
    let url = backdrop_fakes::TestPostgres::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    for key in KEYS {
        rh.add_account(key, LIMIT);
    }
    rh.set_default_script(script);
    let ports = [free_port(), free_port(), free_port()];
    let backends: Vec<SocketAddr> = ports.iter().map(|p| SocketAddr::from(([127, 0, 0, 1], *p))).collect();
    let balancer = LoadBalancer::start(backends).await;
    let replicas = ports
        .iter()
        .map(|&port| start_replica(dir.path(), &url, &tg, &rh, balancer.url(), port, extra))
        .collect();
    until_listening(&ports).await;
    Cluster { _dir: dir, tg, rh, balancer, replicas }
}

/// SIGTERM to each: every one stops cleanly.
async fn stop_all(replicas: Vec<Child>) {
    for mut replica in replicas {
        let pid = replica.id().unwrap().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = tokio::time::timeout(WAIT, replica.wait()).await.expect("stops").expect("status");
        assert!(status.success(), "clean exit: {status:?}");
    }
}

/// Three replicas; 12 users each send a product and a background through the balancer;
/// one replica is killed once tasks run on it; the two left carry everything to the end.
#[tokio::test]
async fn three_replicas_one_killed_mid_run_every_result_delivered_once_within_the_limits() {
    let Cluster { tg, rh, balancer, mut replicas, _dir: _data } =
        three_replicas(TaskScript::succeed(Duration::from_millis(1500)), &[]).await;

    let users: Vec<FakeUser> = (1..=12).map(|id| tg.user(id, Some("en"))).collect();
    for user in &users {
        user.send_photo(solid_png(64, 48, [200, 30, (user.id() * 10) as u8]));
    }
    for user in &users {
        let chat = user.chat_id();
        wait(&tg, "asked for the background", |tg| has_text(tg, chat, messages::ask_background(Lang::En)))
            .await;
        user.send_photo(solid_png(80, 60, [30, 30, 200]));
    }
    // Mid-run: every job accepted (a kill while an update is being handled loses that
    // update: teloxide acknowledges it first), tasks running, more waiting for a slot.
    for user in &users {
        let chat = user.chat_id();
        wait(&tg, "the job accepted", |tg| tg.messages(chat).len() >= 2).await;
    }
    wait(&tg, "four tasks created", |_| rh.tasks().len() >= 4).await;
    assert!(rh.tasks().len() < users.len(), "killed mid-run, with jobs still waiting");
    let mut victim = replicas.remove(0);
    victim.start_kill().expect("SIGKILL");
    let _ = tokio::time::timeout(WAIT, victim.wait()).await.expect("dies");
    let killed_at = Instant::now();

    for user in &users {
        let chat = user.chat_id();
        let got = tg.wait_for(|tg| count(tg, chat, MessageKind::Photo) >= 1, WAIT).await;
        assert!(got, "chat {chat} gets its result\n{}\ntasks: {:?}", tg.dump(chat), rh.tasks());
    }
    let all_done = killed_at.elapsed();
    // Let a duplicate, if any were coming, arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for user in &users {
        let chat = user.chat_id();
        assert_eq!(count(&tg, chat, MessageKind::Photo), 1, "one photo in chat {chat}\n{}", tg.dump(chat));
        assert_eq!(count(&tg, chat, MessageKind::Document), 1, "one document in chat {chat}");
        let done = |tg: &FakeTelegram| has_text(tg, chat, messages::status_done(Lang::En));
        wait(&tg, &format!("chat {chat}'s status message says done"), done).await;
    }
    assert_eq!(rh.tasks().len(), users.len(), "one provider task per job, none created twice");
    for key in KEYS {
        assert!(rh.max_running_seen(key) <= LIMIT, "{key} ran {} at once", rh.max_running_seen(key));
        assert_eq!(rh.over_limit_attempts(key), 0, "{key} was never asked for more than its limit");
    }
    let served = balancer.served();
    assert!(served.iter().all(|&n| n > 0), "every replica took updates: {served:?}");
    eprintln!("all results {all_done:?} after the kill; requests per replica {served:?}");
    stop_all(replicas).await;
}

/// RunningHub's callbacks reach whichever replica the balancer picks; each is passed on to
/// the replica that runs the job, so results come at the callback, not at the next poll
/// (polling here only every 30 s).
#[tokio::test]
async fn a_callback_taken_by_another_replica_wakes_the_one_running_the_job() {
    let slow_polls = [("RUNNINGHUB_POLL_INTERVAL_MS", "30000")];
    let Cluster { tg, rh, replicas, balancer: _balancer, _dir: _data } =
        three_replicas(TaskScript::succeed(Duration::from_millis(300)), &slow_polls).await;
    rh.set_webhooks_enabled(true);
    let users: Vec<FakeUser> = (1..=6).map(|id| tg.user(id, Some("en"))).collect();
    for user in &users {
        user.send_photo(solid_png(64, 48, [200, 30, 30]));
    }
    for user in &users {
        let chat = user.chat_id();
        wait(&tg, "asked for the background", |tg| has_text(tg, chat, messages::ask_background(Lang::En)))
            .await;
        user.send_photo(solid_png(80, 60, [30, 30, 200]));
    }
    let started = Instant::now();
    let all = |tg: &FakeTelegram| users.iter().all(|u| count(tg, u.chat_id(), MessageKind::Photo) == 1);
    assert!(tg.wait_for(all, Duration::from_secs(15)).await, "results at the callbacks, not at 30 s polls");
    eprintln!("six results {:?} after the last background", started.elapsed());
    assert!(rh.webhooks().len() >= users.len(), "every task called back");
    stop_all(replicas).await;
}
