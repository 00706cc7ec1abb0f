//! The real `backdrop bot` binary, killed and restarted on the same `DATA_DIR`, against the
//! fake Telegram and fake RunningHub: nothing accepted is lost, no provider task is created
//! twice, no slot is held by a dead job, status messages continue.

mod support;

use std::path::Path;
use std::time::Duration;

use backdrop::bot::messages::{self, Lang};
use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use backdrop_fakes::{FakeTelegram, MessageKind, TgFault};
use tokio::process::{Child, Command};

const TOKEN: &str = "123456:TEST-token";
const KEY: &str = "key-1";
const WAIT: Duration = Duration::from_secs(30);

/// Starts `backdrop bot` on `dir`, configured only through the environment.
fn start_bot(dir: &Path, tg: &FakeTelegram, rh: &FakeRunningHub, extra: &[(&str, &str)]) -> Child {
    support::bot_process(dir, TOKEN, &tg.url(), &rh.url())
        .env("RUNNINGHUB_API_KEY_1", KEY)
        .env("RUNNINGHUB_MAX_JOBS_1", "1")
        .env("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1871659613585305601")
        .env("RUNNINGHUB_POLL_INTERVAL_MS", "20")
        .env("DATA_DIR", dir.join("data"))
        .envs(extra.iter().copied())
        .spawn()
        .expect("the backdrop binary starts")
}

/// Waits (bounded) until no handler of the bot on `url` holds a picture: every answer
/// sent has been recorded.
async fn until_no_picture_in_hand(url: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("the bot's database");
    for _ in 0..200 {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pictures_in_hand").fetch_one(&mut conn).await.unwrap();
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("a picture stayed in hand");
}

/// SIGKILL: no shutdown code runs at all.
async fn kill(mut child: Child) {
    child.start_kill().expect("kill");
    tokio::time::timeout(WAIT, child.wait()).await.expect("dies").expect("status");
}

async fn terminate(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("stops in time").expect("status");
    assert!(status.success(), "clean exit: {status:?}");
}

async fn wait(tg: &FakeTelegram, what: &str, cond: impl FnMut(&FakeTelegram) -> bool) {
    assert!(tg.wait_for(cond, WAIT).await, "waiting for: {what}\n{}", tg.dump_all());
}

/// The user's product photo, then (once asked) the background.
async fn send_both(tg: &FakeTelegram, user: &backdrop_fakes::FakeUser) {
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    let chat = user.chat_id();
    wait(tg, "asked for the background", |tg| has_text(tg, chat, messages::ask_background(Lang::En))).await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
}

fn delivered(tg: &FakeTelegram, chat: i64) -> bool {
    let m = tg.messages(chat);
    m.iter().filter(|m| m.kind == MessageKind::Photo).count() == 1
        && m.iter().filter(|m| m.kind == MessageKind::Document).count() == 1
}

fn has_text(tg: &FakeTelegram, chat: i64, text: &str) -> bool {
    tg.messages(chat).iter().any(|m| m.text_or_caption == text)
}

#[tokio::test]
async fn killed_with_a_job_running_and_one_queued_every_job_is_delivered_once() {
    killed_mid_run_then_restarted(None).await
}

/// With PostgreSQL the restart may be on another machine: a new, empty DATA_DIR, and the
/// images (the jobs' and a product photo waiting for its background) come from the
/// database.
#[tokio::test]
async fn on_postgres_a_killed_bot_is_carried_on_from_an_empty_data_dir() {
    let url = backdrop_fakes::TestPostgres::shared().fresh_database().await;
    killed_mid_run_then_restarted(Some(&url)).await
}

async fn killed_mid_run_then_restarted(postgres: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let first_env: Vec<(&str, &str)> = postgres.map(|url| ("DATABASE_URL", url)).into_iter().collect();
    let elsewhere = dir.path().join("another-machine");
    let elsewhere = elsewhere.to_str().unwrap();
    let mut second_env = first_env.clone();
    if postgres.is_some() {
        second_env.push(("DATA_DIR", elsewhere));
    }
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(1500)));
    let (a, b, c) = (tg.user(1, Some("en")), tg.user(2, Some("en")), tg.user(3, None));

    let bot = start_bot(dir.path(), &tg, &rh, &first_env);
    a.send_photo(solid_png(64, 48, [200, 30, 30]));
    wait(&tg, "a asked for the background", |tg| has_text(tg, 1, messages::ask_background(Lang::En))).await;
    a.send_photo(solid_png(80, 60, [30, 30, 200]));
    wait(&tg, "a's task created", |_| rh.tasks().len() == 1).await;
    b.send_photo(solid_png(64, 48, [20, 200, 30]));
    wait(&tg, "b asked for the background", |tg| has_text(tg, 2, messages::ask_background(Lang::En))).await;
    b.send_photo(solid_png(80, 60, [30, 30, 200]));
    let queued = messages::status_queued(Lang::En, 1);
    wait(&tg, "b queued", |tg| has_text(tg, 2, &queued)).await;
    // c is half-way through the conversation.
    c.send_photo(solid_png(64, 48, [90, 90, 90]));
    wait(&tg, "c asked for the background", |tg| has_text(tg, 3, messages::ask_background(Lang::Ru))).await;
    let b_status = tg.messages(2).iter().find(|m| m.text_or_caption == queued).map(|m| m.message_id).unwrap();
    // Killed after c's handler finished (a kill between its answer and its end would have
    // c asked once more after the restart, which is not what this test is about).
    let sqlite = format!("sqlite://{}?mode=ro", dir.path().join("data").join("backdrop.db").display());
    until_no_picture_in_hand(postgres.unwrap_or(&sqlite)).await;
    kill(bot).await;

    let bot = start_bot(dir.path(), &tg, &rh, &second_env);
    c.send_photo(solid_png(80, 60, [30, 30, 200]));
    for chat in [1, 2, 3] {
        wait(&tg, &format!("chat {chat} gets its result"), |tg| delivered(tg, chat)).await;
    }
    assert_eq!(rh.tasks().len(), 3, "one provider task per job: a's was resumed, not created again");
    assert_eq!(rh.over_limit_attempts(KEY), 0);
    assert_eq!(rh.max_running_seen(KEY), 1);
    let asked =
        tg.messages(3).iter().filter(|m| m.text_or_caption == messages::ask_background(Lang::Ru)).count();
    assert_eq!(asked, 1, "c's product photo survived the restart: not asked for again");
    // The result goes first; the status message's last word right after it.
    let done = |tg: &FakeTelegram| {
        tg.messages(2)
            .iter()
            .any(|m| m.message_id == b_status && m.text_or_caption == messages::status_done(Lang::En))
    };
    wait(&tg, "b's status message continued to its end", done).await;
    terminate(bot).await;
    assert_eq!(rh.running(KEY), 0, "no task left running");
}

#[tokio::test]
async fn killed_while_sending_the_result_it_is_sent_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(100)));
    let user = tg.user(5, Some("en"));
    // The result was downloaded and stored; Telegram never answers the photo upload.
    tg.fail_next("SendPhoto", 1, TgFault::Hang);

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    send_both(&tg, &user).await;
    wait(&tg, "the result is being sent", |tg| !tg.calls_of("SendPhoto").is_empty()).await;
    kill(bot).await;
    assert!(!delivered(&tg, 5));

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    wait(&tg, "the result arrives after the restart", |tg| delivered(tg, 5)).await;
    assert_eq!(rh.tasks().len(), 1, "not generated again");
    terminate(bot).await;
    // A third start has nothing left to deliver.
    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(delivered(&tg, 5), "still exactly one result");
    terminate(bot).await;
}

#[tokio::test]
async fn on_shutdown_cancel_cancels_running_tasks_and_tells_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::never_finish());
    let user = tg.user(7, Some("en"));

    let bot = start_bot(dir.path(), &tg, &rh, &[("ON_SHUTDOWN", "cancel")]);
    send_both(&tg, &user).await;
    wait(&tg, "the task runs", |_| rh.running(KEY) == 1).await;
    terminate(bot).await;
    let task = rh.tasks()[0].id.clone();
    assert_eq!(rh.cancelled_tasks(), vec![task], "cancelled on the provider");
    assert!(has_text(&tg, 7, messages::status_cancelled(Lang::En)), "the user was told:\n{}", tg.dump(7));

    // The next start has nothing to resume.
    let bot = start_bot(dir.path(), &tg, &rh, &[("ON_SHUTDOWN", "cancel")]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(rh.tasks().len(), 1);
    terminate(bot).await;
}

#[tokio::test]
async fn a_second_bot_on_the_same_data_dir_refuses_to_start_and_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    let first = start_bot(dir.path(), &tg, &rh, &[]);
    let pid = first.id().expect("running");
    wait(&tg, "the first bot polling", |tg| !tg.calls_of("getUpdates").is_empty()).await;
    let second = Command::new(env!("CARGO_BIN_EXE_backdrop"))
        .arg("bot")
        .current_dir(dir.path())
        .env_clear()
        .env("BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", tg.url())
        .env("ENGINE", "local")
        .env("DATA_DIR", dir.path().join("data"))
        .output();
    let second = tokio::time::timeout(WAIT, second).await.expect("it stops at once").expect("it ran");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another Backdrop process") && stderr.contains(&format!("pid {pid}")),
        "{stderr}"
    );
    terminate(first).await;
}

#[tokio::test]
async fn killed_while_telegram_keeps_refusing_the_result_it_is_delivered_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(100)));
    let user = tg.user(6, Some("en"));
    let refused = || TgFault::Error { code: 400, description: "Bad Request: wrong file".into() };
    tg.fail_next("SendPhoto", 2, refused());
    tg.fail_next("SendDocument", 2, refused());

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    send_both(&tg, &user).await;
    wait(&tg, "the first attempt refused", |tg| tg.calls_of("SendDocument").len() == 1).await;
    // Killed while it waits to offer the result again.
    kill(bot).await;
    assert!(!delivered(&tg, 6));

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    wait(&tg, "the result arrives after the restart", |tg| delivered(tg, 6)).await;
    assert_eq!(rh.tasks().len(), 1, "not generated again");
    terminate(bot).await;
    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(delivered(&tg, 6), "still exactly one photo and one document");
    terminate(bot).await;
}

#[tokio::test]
async fn killed_while_a_job_waits_for_a_busy_account_it_runs_once_after_the_restart() {
    use backdrop_fakes::runninghub::{Endpoint, Fault};
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(100)));
    // The account says "queue full" for a while: the job goes back to the queue.
    rh.inject(Endpoint::Create, Fault::Code(421, "TASK_QUEUE_MAXED".into()), 2);
    let user = tg.user(7, Some("en"));

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    send_both(&tg, &user).await;
    wait(&tg, "the account said busy", |_| rh.calls(Endpoint::Create) >= 1).await;
    kill(bot).await;

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    wait(&tg, "the result arrives after the restart", |tg| delivered(tg, 7)).await;
    assert_eq!(rh.tasks().len(), 1, "one task for the job");
    assert_eq!(rh.over_limit_attempts(KEY), 0);
    terminate(bot).await;
}

#[tokio::test]
async fn killed_while_a_create_is_unanswered_it_is_never_created_blindly_again() {
    use backdrop::job::FailReason;
    use backdrop_fakes::runninghub::{Endpoint, Fault};
    // Room for two: the lost task may exist and one more still fits, so one more is made.
    // Room for one: the lost task fills the account; another create could be a second
    // paid task, so the job fails with a clear answer instead.
    for (max_jobs, tasks_after) in [("2", 2), ("1", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let tg = FakeTelegram::start().await;
        let rh = FakeRunningHub::start().await;
        rh.add_account(KEY, max_jobs.parse().unwrap());
        rh.set_default_script(TaskScript::succeed(Duration::from_secs(4)));
        // The create reaches RunningHub, which makes the task; the answer never comes.
        rh.inject(Endpoint::Create, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
        let user = tg.user(7, Some("en"));
        let env = [("RUNNINGHUB_MAX_JOBS_1", max_jobs)];

        let bot = start_bot(dir.path(), &tg, &rh, &env);
        send_both(&tg, &user).await;
        wait(&tg, "the task exists", |_| rh.tasks().len() == 1).await;
        kill(bot).await;

        let bot = start_bot(dir.path(), &tg, &rh, &env);
        if tasks_after == 2 {
            wait(&tg, "the result arrives after the restart", |tg| delivered(tg, 7)).await;
        } else {
            let failed = messages::status_failed(Lang::En, &FailReason::Unavailable(String::new()));
            wait(&tg, "the user is told", |tg| has_text(tg, 7, &failed)).await;
            assert!(!delivered(&tg, 7));
        }
        assert_eq!(rh.tasks().len(), tasks_after, "max {max_jobs}: creates after the lost one");
        assert_eq!(rh.over_limit_attempts(KEY), 0, "max {max_jobs}");
        terminate(bot).await;
    }
}

/// The HTTP status of `GET http://127.0.0.1:{port}{path}`, if it answers.
async fn status_of(port: u16, path: &str) -> Option<u16> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
    let answer = client.get(format!("http://127.0.0.1:{port}{path}")).send().await.ok()?;
    Some(answer.status().as_u16())
}

/// Waits (bounded) until `path` on `port` answers `status`; how long it took.
async fn until_status(port: u16, path: &str, status: u16) -> Duration {
    let started = std::time::Instant::now();
    for _ in 0..300 {
        if status_of(port, path).await == Some(status) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} on {port} never answered {status}");
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Two `backdrop bot`s on one fresh PostgreSQL database, each with its own DATA_DIR and
/// metrics port, against one fake Telegram and one fake RunningHub (one account, one slot,
/// tasks of `task`): `a` polls Telegram (it started first), `b` waits to (both run jobs).
struct Pair {
    url: String,
    _dir: tempfile::TempDir,
    tg: FakeTelegram,
    rh: FakeRunningHub,
    a: Child,
    b: Child,
    b_port: u16,
}

async fn runner_and_standby(task: Duration) -> Pair {
    let url = backdrop_fakes::TestPostgres::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(task));
    let (a_port, b_port) = (free_port(), free_port());
    let env = |name: &str, port: u16| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", url.clone()),
            ("DATA_DIR", dir.path().join(name).to_str().unwrap().to_owned()),
            ("METRICS_LISTEN", format!("127.0.0.1:{port}")),
        ]
    };
    let a = start_bot(dir.path(), &tg, &rh, &as_refs(&env("a", a_port)));
    until_status(a_port, "/readyz", 200).await;
    wait(&tg, "a polls Telegram", |tg| !tg.calls_of("getUpdates").is_empty()).await;
    let b = start_bot(dir.path(), &tg, &rh, &as_refs(&env("b", b_port)));
    until_status(b_port, "/healthz", 200).await;
    Pair { url, _dir: dir, tg, rh, a, b, b_port }
}

/// Two bots on one PostgreSQL database in long-polling mode, each with its own DATA_DIR:
/// both run jobs, one polls Telegram. The poller is killed: the other takes its running
/// job over (the task polled, not created again; the status message continued) and starts
/// polling within 10 s, so the product photo that waited in the database for its
/// background is taken up there.
#[tokio::test]
async fn on_postgres_a_standby_takes_over_from_a_killed_bot() {
    let Pair { tg, rh, a, b, b_port, .. } = runner_and_standby(Duration::from_millis(1500)).await;
    let (one, two) = (tg.user(1, Some("en")), tg.user(2, Some("en")));
    send_both(&tg, &one).await;
    wait(&tg, "one's task created", |_| rh.tasks().len() == 1).await;
    two.send_photo(solid_png(64, 48, [20, 200, 30]));
    wait(&tg, "two asked for the background", |tg| has_text(tg, 2, messages::ask_background(Lang::En))).await;
    assert_eq!(status_of(b_port, "/readyz").await, Some(200), "the other replica is ready: it runs jobs");
    kill(a).await;
    let killed = std::time::Instant::now();

    two.send_photo(solid_png(80, 60, [30, 30, 200]));
    let accepted = |tg: &FakeTelegram| tg.messages(2).len() >= 3;
    wait(&tg, "two's background taken by the replica left", accepted).await;
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(10), "took over the polling in {takeover:?}");
    for chat in [1, 2] {
        wait(&tg, &format!("chat {chat} gets its result"), |tg| delivered(tg, chat)).await;
    }
    assert_eq!(rh.tasks().len(), 2, "one provider task per job: one's was polled by the other replica");
    assert_eq!(rh.over_limit_attempts(KEY), 0);
    assert_eq!(rh.max_running_seen(KEY), 1);
    let done = |tg: &FakeTelegram| {
        tg.messages(1).iter().filter(|m| m.text_or_caption == messages::status_done(Lang::En)).count() == 1
    };
    wait(&tg, "one's status message continued to its end", done).await;
    terminate(b).await;
    eprintln!("the other replica polled Telegram {takeover:?} after the kill");
}

/// The runner's hold of the jobs is cut (PostgreSQL ends its connection, as a restart of
/// the server or a network cut would): it stops at once and exits non-zero, the standby
/// takes over, and the job is carried on by the standby alone: one provider task.
#[tokio::test]
async fn on_postgres_a_runner_that_loses_its_hold_stops_and_the_standby_carries_on() {
    use sqlx::Connection;

    let Pair { tg, rh, mut a, b, b_port, url, .. } = runner_and_standby(Duration::from_millis(2000)).await;
    let one = tg.user(1, Some("en"));
    send_both(&tg, &one).await;
    wait(&tg, "one's task created", |_| rh.tasks().len() == 1).await;

    let mut admin = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(ended, vec![true], "the runner's connection holds the one advisory lock");
    let status = tokio::time::timeout(WAIT, a.wait()).await.expect("the runner stops").expect("status");
    assert!(!status.success(), "and says so with its exit code: {status:?}");

    until_status(b_port, "/readyz", 200).await;
    wait(&tg, "one gets its result", |tg| delivered(tg, 1)).await;
    assert_eq!(rh.tasks().len(), 1, "the standby polled the task; nobody created another");
    assert_eq!(rh.max_running_seen(KEY), 1);
    terminate(b).await;
}

/// A job keeps the format its user chose across a kill -9: the result of the job resumed
/// after the restart is still a Wildberries card.
#[tokio::test]
async fn killed_mid_job_the_result_keeps_the_chosen_format() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(1500)));
    let user = tg.user(9, Some("en"));
    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    user.send_command("/settings");
    wait(&tg, "the settings menu", |tg| tg.messages(9).iter().any(|m| m.button_data("f:").is_some())).await;
    let menu = tg.messages(9).into_iter().find(|m| m.button_data("f:").is_some()).unwrap();
    user.press_button(menu.message_id, "f:wildberries");
    wait(&tg, "the choice shown", |tg| {
        tg.messages(9).iter().any(|m| m.text_or_caption.contains("Wildberries 3:4."))
    })
    .await;
    send_both(&tg, &user).await;
    wait(&tg, "the task created", |_| rh.tasks().len() == 1).await;
    kill(bot).await;

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    wait(&tg, "the result after the restart", |tg| delivered(tg, 9)).await;
    let document = tg.messages(9).into_iter().find(|m| m.kind == MessageKind::Document).unwrap();
    let card = image::load_from_memory(document.file.as_ref().unwrap()).unwrap();
    assert_eq!((card.width(), card.height()), (1200, 1600), "still a Wildberries card");
    assert_eq!(rh.tasks().len(), 1);
    terminate(bot).await;
}

/// Killed while it takes a picture (its file download hangs), the bot has acknowledged
/// the update to Telegram but answered nothing: after the restart the user is asked to
/// send it again, and once they do, the conversation goes on.
#[tokio::test]
async fn killed_while_taking_a_picture_the_user_is_asked_to_send_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(200)));
    let user = tg.user(1, Some("en"));
    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    wait(&tg, "the bot polls", |tg| !tg.calls_of("GetUpdates").is_empty()).await;
    tg.fail_next("GetFile", 1, TgFault::Hang);
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    wait(&tg, "the download began", |tg| !tg.calls_of("GetFile").is_empty()).await;
    assert!(tg.messages(1).is_empty(), "nothing answered yet");
    kill(bot).await;

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    let again = messages::send_again_after_restart(Lang::En);
    wait(&tg, "asked to send it again", |tg| has_text(tg, 1, again)).await;
    send_both(&tg, &user).await;
    wait(&tg, "the result", |tg| delivered(tg, 1)).await;
    assert_eq!(tg.messages(1).iter().filter(|m| m.text_or_caption == again).count(), 1, "asked once");
    terminate(bot).await;
}

/// Killed after it kept the product photo but before its question reached the user (the
/// send hangs): after the restart the user is asked for the background, and the product
/// kept before the kill is the one placed.
#[tokio::test]
async fn killed_while_asking_for_the_background_the_restart_asks_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(200)));
    let user = tg.user(1, Some("en"));
    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    wait(&tg, "the bot polls", |tg| !tg.calls_of("GetUpdates").is_empty()).await;
    tg.fail_next("SendMessage", 1, TgFault::Hang);
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    wait(&tg, "the question is being sent", |tg| !tg.calls_of("SendMessage").is_empty()).await;
    assert!(tg.messages(1).is_empty(), "nothing answered yet");
    kill(bot).await;

    let bot = start_bot(dir.path(), &tg, &rh, &[]);
    let ask = messages::ask_background(Lang::En);
    wait(&tg, "asked for the background", |tg| has_text(tg, 1, ask)).await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    wait(&tg, "the result", |tg| delivered(tg, 1)).await;
    assert!(
        !tg.messages(1).iter().any(|m| m.text_or_caption == messages::send_again_after_restart(Lang::En)),
        "the kept product is not asked for again"
    );
    assert_eq!(rh.tasks().len(), 1);
    terminate(bot).await;
}

/// A replica that waits for its turn to poll Telegram stops cleanly on SIGTERM (exit 0)
/// and never polls; the one polling goes on.
#[tokio::test]
async fn on_postgres_a_replica_waiting_to_poll_stops_cleanly() {
    let Pair { tg, rh, a, b, .. } = runner_and_standby(Duration::from_millis(200)).await;
    terminate(b).await;
    let user = tg.user(1, Some("en"));
    send_both(&tg, &user).await;
    wait(&tg, "the result", |tg| delivered(tg, 1)).await;
    assert_eq!(rh.tasks().len(), 1);
    terminate(a).await;
}
