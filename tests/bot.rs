//! The real bot, in-process, against the fake Bot API and the fake RunningHub: the whole
//! conversation as users live it, with every wait bounded.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backdrop::app::Application;
use backdrop::bot::context::DeliveryPolicy;
use backdrop::bot::context::StatusTiming;
use backdrop::bot::messages::{self, Lang, LangChoice};
use backdrop::bot::{BotError, BotSettings, serve};
use backdrop::config::{Settings, Vars, WebhookConfig};
use backdrop::job::FailReason;
use backdrop::secret::Secret;
use backdrop::shutdown::{Shutdown, Stage};
use backdrop::store::Store;
use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use backdrop_fakes::{BotMessage, FakeTelegram, FakeUser, MessageKind, TgFault};
use support::key;
use tokio::task::JoinHandle;

const TOKEN: &str = "123456:TEST-token";
/// Generous: a conversation paces its messages at about one per second.
const WAIT: Duration = Duration::from_secs(30);

/// The bot running against both fakes.
struct TestApp {
    tg: FakeTelegram,
    rh: FakeRunningHub,
    shutdown: Shutdown,
    bot: Option<JoinHandle<Result<(), BotError>>>,
    data: tempfile::TempDir,
}

/// The user id listed in `ADMIN_IDS`.
const ADMIN: i64 = 9000;

/// How a test bot is set up, in the environment variables an operator would set.
struct Setup {
    /// RunningHub accounts and their slots (`RUNNINGHUB_MAX_JOBS_N`).
    slots: Vec<usize>,
    /// `ENGINE=local` instead of RunningHub.
    local: bool,
    /// `LOCAL_SEGMENTER=classic`: the built-in engine refuses busy backgrounds.
    classic: bool,
    poll: Duration,
    /// `WEBHOOK_URL` and `WEBHOOK_LISTEN`; long polling when `None`.
    webhook: Option<WebhookConfig>,
}

impl Setup {
    fn runninghub(slots: &[usize]) -> Self {
        Self {
            slots: slots.to_vec(),
            local: false,
            classic: false,
            poll: Duration::from_millis(20),
            webhook: None,
        }
    }
}

/// Starts the fakes (RunningHub accounts with `slots` each) and the real bot on them.
async fn spawn_app(slots: &[usize]) -> TestApp {
    start_bot(FakeRunningHub::start().await, Setup::runninghub(slots)).await
}

/// The real bot, wired by [`Application::build`] from the variables of `setup` as in
/// production (the store is the journal), on `rh` and a fresh fake Bot API.
async fn start_bot(rh: FakeRunningHub, setup: Setup) -> TestApp {
    let data = tempfile::tempdir().expect("a temporary data directory");
    start_bot_on(FakeTelegram::start().await, rh, setup, data).await
}

/// [`start_bot`] on a fake Bot API and a data directory of one's own: a restart is
/// [`TestApp::stop`], then this on the same `tg` and the directory `stop` handed back.
async fn start_bot_on(
    tg: FakeTelegram,
    rh: FakeRunningHub,
    setup: Setup,
    data: tempfile::TempDir,
) -> TestApp {
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(150)));
    let mut vars: Vec<(String, String)> = [
        ("ENGINE", if setup.local { "local" } else { "runninghub" }.to_owned()),
        ("BOT_TOKEN", TOKEN.to_owned()),
        ("TELEGRAM_API_URL", tg.url()),
        ("RUNNINGHUB_API_URL", rh.url()),
        ("RUNNINGHUB_POLL_INTERVAL_MS", setup.poll.as_millis().to_string()),
        ("RUNNINGHUB_TASK_TIMEOUT_S", "120".to_owned()),
        ("DATA_DIR", data.path().display().to_string()),
        ("ADMIN_IDS", ADMIN.to_string()),
        ("ON_SHUTDOWN", "cancel".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if setup.classic {
        vars.push(("LOCAL_SEGMENTER".to_owned(), "classic".to_owned()));
    }
    for (i, &max_jobs) in setup.slots.iter().enumerate() {
        let n = i + 1;
        rh.add_account(&key(n), max_jobs);
        vars.push((format!("RUNNINGHUB_API_KEY_{n}"), key(n)));
        vars.push((format!("RUNNINGHUB_MAX_JOBS_{n}"), max_jobs.to_string()));
        vars.push((format!("RUNNINGHUB_WORKFLOW_PRODUCT_{n}"), support::WORKFLOW.to_owned()));
    }
    if let Some(hook) = &setup.webhook {
        vars.push(("WEBHOOK_URL".into(), hook.public_url.to_string()));
        vars.push(("WEBHOOK_LISTEN".into(), hook.listen.to_string()));
        vars.push(("WEBHOOK_SECRET".into(), hook.secret.expose().to_owned()));
    }
    let settings = Settings::from_vars(&Vars::from_pairs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .expect("the test's settings are valid");
    let mut bot_settings = BotSettings::from_settings(&settings).expect("bot settings");
    bot_settings.poll_timeout = Duration::from_secs(1);
    bot_settings.request_timeout = Duration::from_secs(20);
    // A little more than production's 1.1 s: a loaded CI machine may delay one request by
    // more than the 0.1 s margin, and the fake counts arrivals.
    bot_settings.chat_gap = Duration::from_millis(1200);
    bot_settings.timing = StatusTiming {
        edit_interval: Duration::from_millis(500),
        elapsed_interval: Duration::from_millis(500),
        chat_action_interval: Duration::from_millis(500),
    };
    bot_settings.delivery = DeliveryPolicy {
        first_retry: Duration::from_millis(100),
        longest_wait: Duration::from_millis(500),
        deadline: Duration::from_secs(60),
        odd_refusals: 5,
    };
    let store = Store::open(&settings.database_url, &settings.data_dir).await.expect("the job store opens");
    let app = Application::build(settings, Arc::new(store.clone())).expect("the application builds");
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let bot = tokio::spawn(serve(bot_settings, app, store, shutdown.clone()));
    TestApp { tg, rh, shutdown, bot: Some(bot), data }
}

impl TestApp {
    /// Stops the bot and checks it stopped cleanly and in time; hands back the data
    /// directory for a look at what the bot left in it.
    async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown.trigger();
        if let Some(bot) = self.bot.take() {
            let ended =
                tokio::time::timeout(Duration::from_secs(20), bot).await.expect("the bot stops in time");
            ended.expect("the bot task did not panic").expect("the bot ended without error");
        }
        self.data
    }

    async fn wait(&self, what: &str, mut cond: impl FnMut(&FakeTelegram) -> bool) {
        if !self.tg.wait_for(&mut cond, WAIT).await {
            let seen: Vec<String> = self
                .tg
                .calls()
                .iter()
                .filter(|c| !c.is("getUpdates"))
                .map(|c| format!("{} {}", c.method, c.params))
                .collect();
            panic!("timed out waiting for: {what}\ncalls:\n{}", seen.join("\n"));
        }
    }

    async fn wait_text(&self, user: &FakeUser, text: &str) {
        let chat = user.chat_id();
        self.wait(&format!("{text:?} in chat {chat}"), |tg| {
            tg.messages(chat).iter().any(|m| m.text_or_caption == text)
        })
        .await;
    }

    /// Sends product and background; returns the status message once it shows a job.
    async fn submit(&self, user: &FakeUser, lang: Lang) -> BotMessage {
        user.send_photo(solid_png(64, 48, [200, 30, 30]));
        self.wait_text(user, messages::ask_background(lang)).await;
        user.send_photo(solid_png(80, 60, [30, 30, 200]));
        let chat = user.chat_id();
        self.wait("a status message with a Cancel button", |tg| status_of(tg, chat).is_some()).await;
        status_of(&self.tg, chat).expect("just seen")
    }

    /// Waits for the result photo and document after job `job`'s status message.
    async fn wait_result(&self, user: &FakeUser, photos: usize) {
        let chat = user.chat_id();
        self.wait("the result photo and document", |tg| {
            let m = tg.messages(chat);
            count(&m, MessageKind::Photo) >= photos && count(&m, MessageKind::Document) >= photos
        })
        .await;
    }
}

/// The first status message (the one that got a Cancel button) of a chat.
fn status_of(tg: &FakeTelegram, chat: i64) -> Option<BotMessage> {
    tg.messages(chat)
        .into_iter()
        .find(|m| m.kind == MessageKind::Text && (m.button_data("x:").is_some() || m.edited > 0))
}

fn count(messages: &[BotMessage], kind: MessageKind) -> usize {
    messages.iter().filter(|m| m.kind == kind).count()
}

fn job_of(data: &str) -> &str {
    data.split_once(':').map_or("", |(_, id)| id)
}

/// The answer the bot gave to callback query `id`.
fn callback_answer(tg: &FakeTelegram, id: &str) -> Option<String> {
    tg.calls_of("answerCallbackQuery")
        .into_iter()
        .find(|c| c.param_str("callback_query_id") == Some(id))
        .map(|c| c.param_str("text").unwrap_or_default().to_owned())
}

/// A PNG whose (valid, checksummed) header claims `width`x`height`, with no pixel data:
/// what a decompression bomb looks like at the door.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut png = solid_png(1, 1, [0, 0, 0]);
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

async fn happy_path(lang: Lang, code: &str) {
    let app = spawn_app(&[2]).await;
    let user = app.tg.user(100, Some(code));
    user.send_command("/start");
    app.wait_text(&user, messages::greeting(lang)).await;
    let status = app.submit(&user, lang).await;
    let job = status.button_data("x:").expect("a Cancel button");
    app.wait_result(&user, 1).await;
    // The result goes first; the status message's last word comes right after it.
    app.wait_text(&user, messages::status_done(lang)).await;

    let all = user.messages();
    let photo = all.iter().find(|m| m.kind == MessageKind::Photo).expect("a photo");
    assert_eq!(photo.text_or_caption, messages::result_caption(lang));
    let buttons: Vec<String> = photo.buttons().into_iter().map(|(_, d)| d).collect();
    assert_eq!(buttons, vec![format!("r:{}", job_of(&job)), "n".to_owned()]);
    let document = all.iter().find(|m| m.kind == MessageKind::Document).expect("a document");
    assert_eq!(document.text_or_caption, messages::original_caption(lang));
    assert!(document.file.as_ref().is_some_and(|f| !f.is_empty()));
    // The one status message now says done, without buttons.
    let status = all.iter().find(|m| m.message_id == status.message_id).expect("the status message");
    assert_eq!(status.text_or_caption, messages::status_done(lang));
    assert!(status.buttons().is_empty());
    assert_eq!(app.rh.tasks().len(), 1);
    assert!(!app.tg.calls_of("sendChatAction").is_empty(), "upload_photo shown while working");
    assert_eq!(app.tg.tokens(), vec![TOKEN.to_owned()]);
    let commands = app.tg.commands().expect("commands registered");
    assert_eq!(commands.as_array().map(Vec::len), Some(4));
    assert!(app.tg.unanswered_callbacks().is_empty());
    // At most a result's photo and document in one second; everything else a second apart.
    assert!(app.tg.max_sends_per_second(100) <= 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_in_russian() {
    happy_path(Lang::Ru, "ru").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_in_english() {
    happy_path(Lang::En, "en-US").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_a_clear_answer_and_no_task() {
    let app = spawn_app(&[2]).await;
    let user = app.tg.user(200, Some("en"));
    let lang = Lang::En;

    user.send_text("hello");
    app.wait_text(&user, messages::hint_product(lang)).await;
    user.send_sticker();
    app.wait("a second hint", |tg| {
        tg.messages(200).iter().filter(|m| m.text_or_caption == messages::hint_product(lang)).count() == 2
    })
    .await;

    user.send_file(b"%PDF-1.7\n1 0 obj << >> endobj".to_vec(), "catalogue.pdf");
    app.wait_text(&user, messages::refusal(lang, &messages::Refusal::NotAnImage)).await;

    user.send_file(png_claiming(30000, 30000), "huge.png");
    app.wait_text(&user, messages::refusal(lang, &messages::Refusal::TooManyPixels)).await;
    // Under the side limit, over 50 megapixels: refused too.
    user.send_photo(png_claiming(8000, 7000));
    app.wait("a second size refusal", |tg| {
        let refusal = messages::refusal(lang, &messages::Refusal::TooManyPixels);
        tg.messages(200).iter().filter(|m| m.text_or_caption == refusal).count() == 2
    })
    .await;

    let png = solid_png(64, 64, [10, 200, 10]);
    user.send_photo(png[..png.len() / 2].to_vec());
    app.wait_text(&user, messages::refusal(lang, &messages::Refusal::Broken)).await;

    let get_files = app.tg.calls_of("getFile").len();
    let mut too_big = solid_png(8, 8, [1, 2, 3]);
    too_big.resize(21 * 1024 * 1024, 0);
    user.send_document(too_big, "big.png", "image/png");
    app.wait_text(&user, messages::refusal(lang, &messages::Refusal::TooLarge)).await;
    assert_eq!(
        app.tg.calls_of("getFile").len(),
        get_files,
        "an oversized file is refused before downloading"
    );

    // A wrong input while waiting for the background gets that step's hint.
    user.send_photo(solid_png(32, 32, [9, 9, 9]));
    app.wait_text(&user, messages::ask_background(lang)).await;
    user.send_text("and now?");
    app.wait_text(&user, messages::hint_background(lang)).await;

    // Still answering, and nothing reached the provider.
    user.send_command("/help");
    app.wait_text(&user, messages::help(lang)).await;
    assert_eq!(app.rh.uploads(&key(1)), 0);
    assert!(app.rh.tasks().is_empty());
    app.stop().await;
}

/// A JPEG of `w`x`h` whose EXIF says "rotate 90° clockwise" (orientation 6), as phones
/// write photos taken upright.
fn sideways_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::RgbImage::from_pixel(w, h, image::Rgb([90, 160, 30]))
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90))
        .expect("encoding a JPEG");
    backdrop_fakes::image_bytes::with_exif_orientation(&jpeg, 6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_taken_sideways_reaches_the_engine_upright() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(450, Some("en"));
    user.send_file(sideways_jpeg(60, 40), "IMG_0001.jpg");
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait_result(&user, 1).await;
    let job = user
        .messages()
        .iter()
        .find_map(|m| m.button_data("r:"))
        .map(|d| job_of(&d).to_owned())
        .expect("a Regenerate button");
    let stored = app.data.path().join("jobs").join(job).join("product.jpg");
    let (w, h) = image::image_dimensions(&stored).expect("the stored product");
    assert_eq!((w, h), (40, 60), "stored upright");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_queued_job_never_creates_its_task() {
    let app = spawn_app(&[1]).await;
    app.rh.push_script(TaskScript::never_finish());
    let first = app.tg.user(301, Some("ru"));
    let second = app.tg.user(302, Some("ru"));
    app.submit(&first, Lang::Ru).await;
    app.wait("the first task running", |_| app.rh.tasks().len() == 1).await;
    // One slot: the next job uploads its images ahead and waits for it; later ones queue.
    let ahead = app.tg.user(304, Some("en"));
    app.submit(&ahead, Lang::En).await;
    app.wait("the next job's images uploaded ahead", |_| app.rh.uploads(&key(1)) == 4).await;
    let status = app.submit(&second, Lang::Ru).await;
    assert_eq!(status.text_or_caption, messages::status_queued(Lang::Ru, 1));
    let third = app.tg.user(303, Some("en"));
    let third_status = app.submit(&third, Lang::En).await;
    assert_eq!(third_status.text_or_caption, messages::status_queued(Lang::En, 2));
    let data = status.button_data("x:").expect("Cancel");
    let press = second.press_button(status.message_id, &data);
    app.wait_text(&second, messages::status_cancelled(Lang::Ru)).await;
    // The job behind moves up, and its status says so.
    app.wait_text(&third, &messages::status_queued(Lang::En, 1)).await;
    assert_eq!(callback_answer(&app.tg, &press).as_deref(), Some(messages::answer_cancelling(Lang::Ru)));
    assert_eq!(app.rh.tasks().len(), 1, "the queued job never reached RunningHub");
    assert_eq!(app.rh.uploads(&key(1)), 4, "not even its images");
    third.send_command("/cancel");
    app.wait_text(&third, messages::status_cancelled(Lang::En)).await;
    // /cancel stops the first user's running job too.
    first.send_command("/cancel");
    app.wait_text(&first, messages::status_cancelled(Lang::Ru)).await;
    app.wait("the provider task cancelled", |_| app.rh.cancelled_tasks().len() == 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_cancels_the_provider_task() {
    let app = spawn_app(&[1]).await;
    app.rh.push_script(TaskScript::never_finish());
    let user = app.tg.user(400, Some("en"));
    let status = app.submit(&user, Lang::En).await;
    app.wait("the status saying generating", |tg| {
        status_of(tg, 400)
            .is_some_and(|m| m.text_or_caption.starts_with("🎨") && m.button_data("x:").is_some())
    })
    .await;
    let data = status.button_data("x:").expect("Cancel");
    user.press_button(status.message_id, &data);
    app.wait_text(&user, messages::status_cancelled(Lang::En)).await;
    app.wait("the provider task cancelled", |_| app.rh.cancelled_tasks().len() == 1).await;
    assert!(user.messages().iter().all(|m| m.kind == MessageKind::Text), "no result for a cancelled job");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_failure_offers_a_retry_that_works() {
    let app = spawn_app(&[1]).await;
    app.rh.push_script(TaskScript::fail(Duration::from_millis(50), "CUDA out of memory"));
    let user = app.tg.user(500, Some("ru"));
    let status = app.submit(&user, Lang::Ru).await;
    let failed = messages::status_failed(Lang::Ru, &FailReason::Provider(String::new()));
    app.wait_text(&user, &failed).await;
    let status = user.messages().into_iter().find(|m| m.message_id == status.message_id).expect("status");
    assert!(!status.text_or_caption.contains("CUDA"), "no technical detail for the user");
    let retry = status.button_data("t:").expect("a Retry button");
    let uploads = app.rh.uploads(&key(1));
    let get_files = app.tg.calls_of("getFile").len();
    user.press_button(status.message_id, &retry);
    app.wait_result(&user, 1).await;
    assert_eq!(app.rh.tasks().len(), 2);
    assert_eq!(app.tg.calls_of("getFile").len(), get_files, "Retry never asks for the images again");
    assert!(app.rh.uploads(&key(1)) > uploads);
    let status = user.messages().into_iter().find(|m| m.message_id == status.message_id).expect("status");
    assert!(status.buttons().is_empty(), "Retry is pressed once");
    // A second press (a stale client) starts nothing.
    let again = user.press_button(status.message_id, &retry);
    app.wait("the second Retry answered", |tg| callback_answer(tg, &again).is_some()).await;
    assert_eq!(callback_answer(&app.tg, &again).as_deref(), Some(messages::answer_already_retried(Lang::Ru)));
    assert_eq!(app.rh.tasks().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_makes_a_new_job_from_the_same_images() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(600, Some("en"));
    app.submit(&user, Lang::En).await;
    app.wait_result(&user, 1).await;
    let photo = user.messages().into_iter().find(|m| m.kind == MessageKind::Photo).expect("photo");
    let again = photo.button_data("r:").expect("Regenerate");
    let get_files = app.tg.calls_of("getFile").len();
    let press = user.press_button(photo.message_id, &again);
    app.wait_result(&user, 2).await;
    assert_eq!(callback_answer(&app.tg, &press).as_deref(), Some(messages::answer_started_again(Lang::En)));
    assert_eq!(app.rh.tasks().len(), 2);
    assert_eq!(app.tg.calls_of("getFile").len(), get_files, "Regenerate never asks for the images again");
    // New photo: back to the first step.
    let new = user.press_button(photo.message_id, "n");
    app.wait("New photo answered", |tg| callback_answer(tg, &new).is_some()).await;
    app.wait_text(&user, messages::ask_product(Lang::En)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_pressed_ten_times_in_a_second_makes_one_job() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(610, Some("en"));
    app.submit(&user, Lang::En).await;
    app.wait_result(&user, 1).await;
    let photo = user.messages().into_iter().find(|m| m.kind == MessageKind::Photo).expect("photo");
    let again = photo.button_data("r:").expect("Regenerate");
    let presses: Vec<String> = (0..10).map(|_| user.press_button(photo.message_id, &again)).collect();
    app.wait("every press answered", |tg| presses.iter().all(|p| callback_answer(tg, p).is_some())).await;
    app.wait_result(&user, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.rh.tasks().len(), 2, "one new job for the whole burst");
    let started = presses
        .iter()
        .filter(|p| callback_answer(&app.tg, p).as_deref() == Some(messages::answer_started_again(Lang::En)))
        .count();
    assert_eq!(started, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_max_jobs_in_progress_is_told_to_wait_and_nothing_is_started() {
    let app = spawn_app(&[1]).await;
    app.rh.set_default_script(TaskScript::never_finish());
    let user = app.tg.user(620, Some("en"));
    for n in 1..=3 {
        user.send_photo(solid_png(64, 48, [200, 30, 30]));
        app.wait("asked for the background", |tg| {
            tg.messages(620)
                .iter()
                .filter(|m| m.text_or_caption == messages::ask_background(Lang::En))
                .count()
                == n
        })
        .await;
        user.send_photo(solid_png(80, 60, [30, 30, 200]));
        app.wait("the job queued", |tg| {
            tg.messages(620).iter().filter(|m| m.button_data("x:").is_some()).count() == n
        })
        .await;
    }
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait("asked for the background", |tg| {
        tg.messages(620).iter().filter(|m| m.text_or_caption == messages::ask_background(Lang::En)).count()
            == 4
    })
    .await;
    let files = app.tg.calls_of("getFile").len();
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait_text(&user, &messages::too_many_jobs(Lang::En, 3)).await;
    assert_eq!(app.tg.calls_of("getFile").len(), files, "the refused picture was not even downloaded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jobs = app.tg.messages(620).iter().filter(|m| m.button_data("x:").is_some()).count();
    assert_eq!(jobs, 3, "no fourth job");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_garbled_callback_is_refused() {
    let app = spawn_app(&[1]).await;
    app.rh.push_script(TaskScript::never_finish());
    let owner = app.tg.user(700, Some("ru"));
    let intruder = app.tg.user(701, Some("en"));
    let status = app.submit(&owner, Lang::Ru).await;
    let data = status.button_data("x:").expect("Cancel");
    let forged = app.tg.forge_press(&intruder, 700, status.message_id, &data);
    let garbled = intruder.press_button(1, "x:../../etc");
    app.wait("both answered", |tg| {
        callback_answer(tg, &forged).is_some() && callback_answer(tg, &garbled).is_some()
    })
    .await;
    assert_eq!(callback_answer(&app.tg, &forged).as_deref(), Some(messages::answer_not_yours(Lang::En)));
    assert_eq!(callback_answer(&app.tg, &garbled).as_deref(), Some(messages::answer_not_yours(Lang::En)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.rh.cancelled_tasks().is_empty(), "the owner's job was not touched");
    owner.send_command("/cancel");
    app.wait_text(&owner, messages::status_cancelled(Lang::Ru)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_on_send_photo_is_waited_out() {
    let app = spawn_app(&[1]).await;
    app.tg.fail_next("sendPhoto", 1, TgFault::TooManyRequests { retry_after: 1 });
    let user = app.tg.user(800, Some("en"));
    app.submit(&user, Lang::En).await;
    app.wait_result(&user, 1).await;
    let sends = app.tg.calls_of("sendPhoto");
    assert_eq!(sends.len(), 2, "one refused with 429, then sent");
    assert_eq!(sends[0].error_code, Some(429));
    assert!(sends[1].at - sends[0].at >= Duration::from_millis(950), "retry_after honoured");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_on_an_edit_is_waited_out() {
    let app = spawn_app(&[1]).await;
    app.tg.fail_next("editMessageText", 1, TgFault::TooManyRequests { retry_after: 1 });
    let user = app.tg.user(810, Some("ru"));
    let status = app.submit(&user, Lang::Ru).await;
    app.wait_result(&user, 1).await;
    app.wait("the status message saying done", |tg| {
        tg.messages(810).iter().any(|m| {
            m.message_id == status.message_id && m.text_or_caption == messages::status_done(Lang::Ru)
        })
    })
    .await;
    let edits = app.tg.calls_of("editMessageText");
    assert_eq!(edits[0].error_code, Some(429));
    assert!(edits[1].at - edits[0].at >= Duration::from_millis(950), "retry_after honoured");
    app.stop().await;
}

/// The job a status message's Cancel button is about.
fn job_of_status(status: &BotMessage) -> backdrop::job::JobId {
    backdrop::job::JobId(
        job_of(&status.button_data("x:").expect("a Cancel button")).parse().expect("a job id"),
    )
}

/// The job as the store has it once the bot has stopped.
async fn stored_job(data: &tempfile::TempDir, job: backdrop::job::JobId) -> backdrop::store::StoredJob {
    let store = Store::open(&backdrop::store::DatabaseUrl::sqlite_in(data.path()), data.path())
        .await
        .expect("the job store opens");
    let stored = store.job(job).await.expect("readable").expect("the job is stored");
    store.close().await;
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_result_is_offered_again_until_telegram_takes_it() {
    let app = spawn_app(&[1]).await;
    let refused = || TgFault::Error { code: 400, description: "Bad Request: wrong file".into() };
    app.tg.fail_next("sendPhoto", 3, refused());
    app.tg.fail_next("sendDocument", 3, refused());
    let user = app.tg.user(830, Some("en"));
    let job = job_of_status(&app.submit(&user, Lang::En).await);
    app.wait_result(&user, 1).await;
    let photos = app.tg.calls_of("sendPhoto");
    assert_eq!(photos.len(), 4, "three refusals, then taken");
    assert!(photos[1].at - photos[0].at >= Duration::from_millis(90), "with a pause between attempts");
    assert_eq!(count(&user.messages(), MessageKind::Photo), 1, "exactly one result photo");
    let data = app.stop().await;
    let stored = stored_job(&data, job).await;
    assert_eq!(stored.state, backdrop::job::StateName::Delivered);
    assert!(stored.told);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_not_yet_taken_at_shutdown_stays_delivering_for_the_next_start() {
    let app = spawn_app(&[1]).await;
    app.tg.fail_next("sendPhoto", 1, TgFault::Hang);
    let user = app.tg.user(831, Some("en"));
    let job = job_of_status(&app.submit(&user, Lang::En).await);
    app.wait("the result photo on its way", |tg| tg.calls_of("sendPhoto").len() == 1).await;
    let data = app.stop().await;
    assert_eq!(count(&user.messages(), MessageKind::Photo), 0, "the user has no result yet");
    let stored = stored_job(&data, job).await;
    assert!(!stored.told, "a result Telegram never took is not marked delivered");
    assert_eq!(stored.state, backdrop::job::StateName::Delivering, "the next start sends it");
    assert!(stored.load_result().await.is_ok(), "the result is on disk for it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_blocked_the_bot_is_not_offered_the_result_again() {
    let app = spawn_app(&[1]).await;
    let blocked = TgFault::Error { code: 403, description: "Forbidden: bot was blocked by the user".into() };
    app.tg.fail_next("sendPhoto", 1, blocked);
    let user = app.tg.user(832, Some("en"));
    let job = job_of_status(&app.submit(&user, Lang::En).await);
    app.wait("the result photo refused", |tg| tg.calls_of("sendPhoto").len() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (photos, documents) = (app.tg.calls_of("sendPhoto").len(), app.tg.calls_of("sendDocument").len());
    let data = app.stop().await;
    assert_eq!((photos, documents), (1, 0), "nothing more is sent to a chat that blocked the bot");
    let stored = stored_job(&data, job).await;
    assert_eq!(stored.state, backdrop::job::StateName::Failed);
    assert!(matches!(stored.failure, Some(FailReason::Undeliverable(_))), "{:?}", stored.failure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_too_large_for_send_photo_goes_as_a_preview_and_the_original() {
    let app = spawn_app(&[1]).await;
    // width + height over 10000: sendPhoto would refuse it.
    let mut big = Vec::new();
    image::RgbImage::from_pixel(7000, 3200, image::Rgb([20, 90, 160]))
        .write_to(&mut std::io::Cursor::new(&mut big), image::ImageFormat::Png)
        .expect("encoding a PNG");
    app.rh.set_result_image(big.clone());
    let user = app.tg.user(820, Some("en"));
    app.submit(&user, Lang::En).await;
    app.wait_result(&user, 1).await;
    let all = user.messages();
    let photo =
        all.iter().find(|m| m.kind == MessageKind::Photo).and_then(|m| m.file.clone()).expect("photo bytes");
    let preview = image::load_from_memory(&photo).expect("the photo is an image");
    assert!(preview.width() + preview.height() <= 10_000);
    assert!(photo.len() <= 10 * 1024 * 1024);
    let document = all
        .iter()
        .find(|m| m.kind == MessageKind::Document)
        .and_then(|m| m.file.clone())
        .expect("document bytes");
    assert_eq!(document, big, "the original, untouched, as a document");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_stops_in_time_even_with_a_call_telegram_never_answers() {
    let app = spawn_app(&[1]).await;
    app.tg.fail_next("sendMessage", 1, TgFault::Hang);
    let user = app.tg.user(830, Some("en"));
    user.send_command("/help");
    app.wait("the reply in flight", |tg| !tg.calls_of("sendMessage").is_empty()).await;
    let started = std::time::Instant::now();
    app.stop().await;
    // Well below the 20 s request timeout the hung call would otherwise take.
    assert!(started.elapsed() < Duration::from_secs(12), "stopped in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_users_at_once_on_two_accounts() {
    const USERS: i64 = 20;
    let app = spawn_app(&[2, 2]).await;
    app.rh.set_default_script(TaskScript::succeed(Duration::from_millis(300)));
    let users: Vec<FakeUser> =
        (0..USERS).map(|i| app.tg.user(1000 + i, Some(if i % 2 == 0 { "ru" } else { "en" }))).collect();
    for user in &users {
        user.send_photo(solid_png(40, 30, [120, 10, 10]));
    }
    app.wait("every product taken", |tg| {
        users.iter().all(|u| {
            let lang = if u.id() % 2 == 0 { Lang::Ru } else { Lang::En };
            tg.messages(u.chat_id()).iter().any(|m| m.text_or_caption == messages::ask_background(lang))
        })
    })
    .await;
    for user in &users {
        user.send_photo(solid_png(50, 40, [10, 10, 120]));
    }
    app.tg
        .wait_for(
            |tg| {
                users.iter().all(|u| {
                    let m = tg.messages(u.chat_id());
                    count(&m, MessageKind::Photo) == 1 && count(&m, MessageKind::Document) == 1
                })
            },
            Duration::from_secs(90),
        )
        .await
        .then_some(())
        .expect("every user got a result");
    for i in 1..=2 {
        assert_eq!(app.rh.over_limit_attempts(&key(i)), 0);
        assert!(app.rh.max_running_seen(&key(i)) <= 2);
    }
    assert_eq!(app.rh.tasks().len(), USERS as usize);
    for user in &users {
        // A result's photo and its document go as one short burst; nothing else does.
        assert!(
            app.tg.max_sends_per_second(user.chat_id()) <= 2,
            "chat {} got more than a result's two messages in a second",
            user.chat_id()
        );
        let mut edits: Vec<_> = app
            .tg
            .calls_of("editMessageText")
            .into_iter()
            .filter(|c| c.chat_id == Some(user.chat_id()))
            .map(|c| c.at)
            .collect();
        edits.sort();
        assert!(
            edits.windows(2).all(|w| w[1] - w[0] >= Duration::from_millis(950)),
            "chat {}: status edits at most one a second",
            user.chat_id()
        );
    }
    // Overall: messages and edits in any one second stay within 30.
    let mut times: Vec<_> = app
        .tg
        .calls()
        .into_iter()
        .filter(|c| {
            c.ok && ["sendMessage", "sendPhoto", "sendDocument", "editMessageText"].iter().any(|m| c.is(m))
        })
        .map(|c| c.at)
        .collect();
    times.sort();
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        assert!(end - start < 30, "more than 30 messages in one second");
    }
    app.stop().await;
}

/// `backdrop bot` itself, configured only through the environment as an operator would,
/// against both fakes: a conversation end to end, then SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_from_the_environment_and_stops_on_sigterm() {
    let tg = FakeTelegram::start().await;
    let rh = backdrop_fakes::FakeRunningHub::start().await;
    rh.add_account("key-1", 2);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(100)));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_backdrop"))
        .arg("bot")
        .current_dir(dir.path())
        .env_clear()
        .env("BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", tg.url())
        .env("RUNNINGHUB_API_URL", rh.url())
        .env("RUNNINGHUB_API_KEY_1", "key-1")
        .env("RUNNINGHUB_MAX_JOBS_1", "2")
        .env("RUNNINGHUB_WORKFLOW_PRODUCT_1", support::WORKFLOW)
        .env("RUNNINGHUB_POLL_INTERVAL_MS", "20")
        .env("DATA_DIR", dir.path().join("data"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the backdrop binary starts");

    let user = tg.user(900, Some("en"));
    user.send_command("/start");
    let seen = |text: &'static str| {
        move |tg: &FakeTelegram| tg.messages(900).iter().any(|m| m.text_or_caption == text)
    };
    assert!(tg.wait_for(seen(messages::greeting(Lang::En)), WAIT).await, "greeted");
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    assert!(tg.wait_for(seen(messages::ask_background(Lang::En)), WAIT).await, "asked for the background");
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    let delivered = |tg: &FakeTelegram| {
        let m = tg.messages(900);
        count(&m, MessageKind::Photo) == 1 && count(&m, MessageKind::Document) == 1
    };
    assert!(tg.wait_for(delivered, WAIT).await, "the result arrived");

    let pid = child.id().expect("the bot is running");
    let killed =
        std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops in time")
        .expect("exit status");
    let mut log = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = stderr.read_to_string(&mut log).await;
    }
    assert!(status.success(), "exit {status:?}; log:\n{log}");
    assert!(log.contains(tg.bot_username()), "the start-up log names the bot:\n{log}");
    assert!(log.contains("runninghub"), "and the engine:\n{log}");
    assert!(log.contains("slots=2"), "and each account's slots:\n{log}");
    assert!(!log.contains("TEST-token"), "the token never reaches the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_answers_admins_only() {
    let app = spawn_app(&[2]).await;
    let stranger = app.tg.user(300, Some("en"));
    stranger.send_command("/stats");
    app.wait_text(&stranger, messages::hint_product(Lang::En)).await;
    assert!(
        !app.tg.messages(300).iter().any(|m| m.text_or_caption.contains("queue length")),
        "no statistics for a non-admin"
    );

    let admin = app.tg.user(ADMIN, Some("en"));
    admin.send_command("/stats");
    app.wait("the admin's report", |tg| {
        tg.messages(ADMIN).iter().any(|m| {
            m.text_or_caption.starts_with(messages::stats_title(Lang::En))
                && m.text_or_caption.contains("24 h:")
                && m.text_or_caption.contains("account 1")
                && m.text_or_caption.contains("queue length: 0")
        })
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_engine_delivers_and_explains_a_busy_background() {
    use rand::{Rng, SeedableRng};
    // The classic segmenter: the learned one cuts whatever is salient in noise.
    let setup = Setup { local: true, classic: true, ..Setup::runninghub(&[1]) };
    let app = start_bot(FakeRunningHub::start().await, setup).await;
    let user = app.tg.user(400, Some("en"));
    let example = |name: &str| {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)).unwrap()
    };
    user.send_photo(example("product.jpg"));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(example("background.jpg"));
    app.wait("the result", |tg| count(&tg.messages(400), MessageKind::Photo) == 1).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut busy = Vec::new();
    image::RgbImage::from_fn(160, 120, |_, _| image::Rgb([rng.random(), rng.random(), rng.random()]))
        .write_to(&mut std::io::Cursor::new(&mut busy), image::ImageFormat::Png)
        .unwrap();
    user.send_photo(busy);
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(example("background.jpg"));
    let explained = messages::status_failed(Lang::En, &FailReason::BackgroundNotPlain);
    app.wait("the busy background explained", |tg| {
        tg.messages(400).iter().any(|m| m.text_or_caption == explained)
    })
    .await;
    let shown = app.tg.messages(400).into_iter().find(|m| m.text_or_caption == explained).unwrap();
    assert!(shown.buttons().is_empty(), "no Retry: the same photo would fail again");
    assert!(app.rh.tasks().is_empty(), "nothing went to RunningHub");
    app.stop().await;
}

/// A loopback port nobody listens on (for the bot's own webhook server).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("its address").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_takes_pushed_updates_and_runninghub_callbacks() {
    let port = free_port();
    let public_url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/hook")).expect("a URL");
    let secret = Secret::new("test-webhook-secret-0123456789");
    let hook = WebhookConfig { public_url, listen: ([127, 0, 0, 1], port).into(), secret };
    // Polling once a minute: only RunningHub's callback can make the result quick.
    let setup =
        Setup { poll: Duration::from_secs(60), webhook: Some(hook.clone()), ..Setup::runninghub(&[2]) };
    let app = start_bot(FakeRunningHub::start().await, setup).await;

    let user = app.tg.user(1200, Some("en"));
    user.send_command("/start");
    app.wait_text(&user, messages::greeting(Lang::En)).await;
    assert_eq!(app.tg.webhook_url(), hook.telegram_url().as_str());
    app.submit(&user, Lang::En).await;
    let chat = user.chat_id();
    let delivered = app
        .tg
        .wait_for(|tg| count(&tg.messages(chat), MessageKind::Photo) >= 1, Duration::from_secs(20))
        .await;
    assert!(delivered, "the callback woke the poller long before its next tick");
    let callbacks = app.rh.webhooks();
    assert_eq!(callbacks.len(), 1, "one callback, answered at once: {callbacks:?}");
    assert_eq!(callbacks[0].status, Some(200));
    let job_url = app.rh.tasks()[0].webhook_url.clone().expect("sent with the create");
    let (install_url, job) = job_url.rsplit_once('/').expect("…/<job id>");
    assert_eq!(install_url, hook.runninghub_url().expose(), "the install's secret URL, then the job");
    assert!(job.parse::<u64>().is_ok(), "{job_url}");
    assert!(app.tg.calls_of("getUpdates").is_empty(), "no polling in webhook mode");
    assert!(app.tg.webhook_pushes().iter().all(|p| p.status == Some(200)));

    // Posts that do not come from Telegram or RunningHub change nothing.
    let http = reqwest::Client::new();
    let forged = serde_json::json!({"update_id": 999_999, "message": {"message_id": 1, "date": 1_700_000_000,
        "chat": {"id": 1300, "type": "private"}, "from": {"id": 1300, "is_bot": false, "first_name": "Eve"}, "text": "/start"}});
    let answer = http.post(hook.telegram_url()).json(&forged).send().await.expect("the server answers");
    assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED, "no secret token, no update");
    let callback_url = hook.runninghub_url().expose().to_owned();
    let answer = http.post(&callback_url).body("{oops").send().await.expect("the server answers");
    assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);
    let polls_before = app.rh.calls(backdrop_fakes::runninghub::Endpoint::Outputs);
    let unknown =
        serde_json::json!({"event": "TASK_END", "taskId": "1999999999999999999", "eventData": null});
    let answer = http.post(&callback_url).json(&unknown).send().await.expect("the server answers");
    assert_eq!(answer.status(), reqwest::StatusCode::OK, "an unknown task is answered and ignored");
    let answer = http.post(format!("{callback_url}/424242")).json(&unknown).send().await.expect("answers");
    assert_eq!(answer.status(), reqwest::StatusCode::OK, "so is an unknown job's");
    let answer = http.post(format!("{callback_url}/not-a-job")).json(&unknown).send().await.expect("answers");
    assert_eq!(answer.status(), reqwest::StatusCode::NOT_FOUND);
    let base = hook.public_url.as_str().trim_end_matches('/').to_owned();
    for forged in [
        format!("{base}/runninghub"),
        format!("{base}/runninghub/not-the-secret"),
        format!("{base}/runninghub/not-the-secret/1"),
    ] {
        let answer = http.post(&forged).json(&unknown).send().await.expect("the server answers");
        assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED, "{forged}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.tg.messages(1300).is_empty(), "the forged update was not handled");
    assert_eq!(app.rh.tasks().len(), 1);
    assert_eq!(
        app.rh.calls(backdrop_fakes::runninghub::Endpoint::Outputs),
        polls_before,
        "no poll for a stranger"
    );

    let tg = app.tg.clone();
    app.stop().await;
    assert_eq!(tg.webhook_url(), "", "the webhook is removed on the way out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_address_in_use_is_a_clear_start_up_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address");
    let hook = WebhookConfig {
        public_url: reqwest::Url::parse("https://bot.example.com").expect("a URL"),
        listen: address,
        secret: Secret::new("test-webhook-secret-0123456789"),
    };
    let setup = Setup { webhook: Some(hook), ..Setup::runninghub(&[1]) };
    let mut app = start_bot(FakeRunningHub::start().await, setup).await;
    let bot = app.bot.take().expect("the bot task");
    let ended = tokio::time::timeout(Duration::from_secs(10), bot).await.expect("it stops at once");
    let err = ended.expect("no panic").expect_err("an error");
    assert!(matches!(err, BotError::WebhookListen { .. }), "{err:?}");
    assert!(err.to_string().contains("WEBHOOK_LISTEN"), "{err}");
    assert_eq!(app.tg.webhook_url(), "", "nothing registered with Telegram");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_takes_its_stages_in_order_and_tells_a_cancelled_user() {
    let app = spawn_app(&[1]).await;
    app.rh.push_script(TaskScript::never_finish());
    let user = app.tg.user(1400, Some("en"));
    app.submit(&user, Lang::En).await;
    app.wait("the task running on RunningHub", |_| app.rh.tasks().len() == 1).await;
    let (tg, shutdown, chat) = (app.tg.clone(), app.shutdown.clone(), user.chat_id());
    let rh = app.rh.clone();
    app.stop().await;
    use Stage::*;
    assert_eq!(
        shutdown.stages(),
        vec![StopUpdates, FinishHandlers, DrainStore, StopEngines, FinishStatus, Exit]
    );
    assert_eq!(rh.cancelled_tasks().len(), 1, "ON_SHUTDOWN=cancel cancelled the provider task");
    let told = tg.messages(chat).iter().any(|m| m.text_or_caption == messages::status_cancelled(Lang::En));
    assert!(told, "the user was told before the bot exited: {:?}", tg.messages(chat));
}

/// The product and background sizes each provider task was given, in task order.
fn task_inputs(rh: &FakeRunningHub) -> Vec<((u32, u32), (u32, u32))> {
    let size = |name: &str| {
        let bytes = rh.uploaded_file(name).expect("the task's file was uploaded");
        backdrop_fakes::image_bytes::dimensions(&bytes).expect("an image")
    };
    rh.tasks()
        .iter()
        .map(|t| {
            let of = |node: &str| {
                t.node_inputs.iter().find(|n| n.node_id == node).expect("the node").field_value.clone()
            };
            (size(&of("2")), size(&of("32")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_of_products_then_one_background_makes_one_job_per_product() {
    let app = spawn_app(&[3]).await;
    let user = app.tg.user(1500, Some("en"));
    let products = vec![
        solid_png(64, 48, [200, 30, 30]),
        solid_png(66, 48, [30, 200, 30]),
        solid_png(68, 48, [30, 30, 200]),
    ];
    user.send_album(products);
    app.wait_text(&user, &messages::ask_background_for(Lang::En, 3)).await;
    user.send_photo(solid_png(80, 60, [90, 90, 90]));
    app.wait_result(&user, 3).await;
    let mut pairs = task_inputs(&app.rh);
    pairs.sort();
    assert_eq!(
        pairs,
        vec![((64, 48), (80, 60)), ((66, 48), (80, 60)), ((68, 48), (80, 60))],
        "each product with the background"
    );
    let asked =
        user.messages().iter().filter(|m| m.text_or_caption == messages::ask_background(Lang::En)).count();
    assert_eq!(asked, 0, "one question for the whole album");
    // One status message for the three jobs, which ends with the tally.
    let tally =
        messages::status_batch(Lang::En, &messages::BatchCounts { total: 3, done: 3, ..Default::default() });
    app.wait_text(&user, &tally).await;
    let texts: Vec<_> = user.messages().into_iter().filter(|m| m.kind == MessageKind::Text).collect();
    let statuses = texts.iter().filter(|m| m.text_or_caption.starts_with("Album:")).count();
    assert_eq!(statuses, 1, "{texts:#?}");
    assert!(
        !texts
            .iter()
            .any(|m| m.text_or_caption == messages::status_done(Lang::En) || m.button_data("x:").is_some()),
        "no status message per job: {texts:#?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_all_on_an_album_cancels_its_jobs_still_live_and_only_for_its_owner() {
    let app = spawn_app(&[1]).await;
    app.rh.set_default_script(TaskScript::never_finish());
    let user = app.tg.user(1503, Some("en"));
    user.send_album(vec![solid_png(64, 48, [200, 30, 30]), solid_png(66, 48, [30, 200, 30])]);
    app.wait_text(&user, &messages::ask_background_for(Lang::En, 2)).await;
    user.send_photo(solid_png(80, 60, [90, 90, 90]));
    let chat = user.chat_id();
    app.wait("the album's status with Cancel all", |tg| {
        tg.messages(chat).iter().any(|m| m.button_data("a:").is_some())
    })
    .await;
    let status = app.tg.messages(chat).into_iter().find(|m| m.button_data("a:").is_some()).unwrap();
    let data = status.button_data("a:").unwrap();
    // Someone else's press (a forged button) changes nothing.
    let stranger = app.tg.user(1504, Some("en"));
    stranger.press_button(status.message_id, &data);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.rh.cancelled_tasks().is_empty());
    user.press_button(status.message_id, &data);
    let tally = messages::status_batch(
        Lang::En,
        &messages::BatchCounts { total: 2, cancelled: 2, ..Default::default() },
    );
    app.wait_text(&user, &tally).await;
    assert_eq!(app.rh.running(&key(1)), 0, "the running one was cancelled on the provider");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_where_a_background_is_expected_gives_its_first_photo_and_says_so() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(1501, Some("en"));
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_album(vec![solid_png(80, 60, [30, 30, 200]), solid_png(90, 70, [30, 200, 30])]);
    app.wait_text(&user, messages::album_as_background(Lang::En)).await;
    app.wait_result(&user, 1).await;
    assert_eq!(task_inputs(&app.rh), vec![((64, 48), (80, 60))], "one job, on the album's first photo");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_sent_right_after_an_album_waits_for_the_album() {
    let app = spawn_app(&[2]).await;
    let user = app.tg.user(1502, Some("en"));
    user.send_album(vec![solid_png(64, 48, [200, 30, 30]), solid_png(66, 48, [30, 200, 30])]);
    // At once, before the album is complete: it is still the background.
    user.send_photo(solid_png(80, 60, [90, 90, 90]));
    app.wait_result(&user, 2).await;
    let mut pairs = task_inputs(&app.rh);
    pairs.sort();
    assert_eq!(pairs, vec![((64, 48), (80, 60)), ((66, 48), (80, 60))]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_the_bot_could_not_take_before_it_stopped_is_asked_for_again() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(1600, Some("en"));
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    // Telegram never hands over the background: the handler is stuck when the bot stops.
    app.tg.fail_next("getFile", 1, TgFault::Hang);
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait("the background being fetched", |tg| tg.calls_of("getFile").len() == 2).await;
    let tg = app.tg.clone();
    let data = app.stop().await;
    let asked =
        tg.messages(1600).iter().any(|m| m.text_or_caption == messages::send_again_after_restart(Lang::En));
    assert!(asked, "told to send it again: {:?}", tg.messages(1600));
    let store = Store::open(&backdrop::store::DatabaseUrl::sqlite_in(data.path()), data.path())
        .await
        .expect("the job store opens");
    assert!(store.unfinished().await.expect("readable").is_empty(), "and nothing was half-accepted");
    store.close().await;
}

/// `/settings`: the user picks Wildberries on its button; the menu shows the choice, the
/// next result comes as a 1200x1600 card, and a forged format changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_chosen_in_settings_shapes_the_next_results() {
    use backdrop::output::OutputFormat;

    let app = spawn_app(&[1]).await;
    let user = app.tg.user(800, Some("en"));
    user.send_command("/settings");
    let menu_text = messages::settings(Lang::En, OutputFormat::Original);
    app.wait_text(&user, &menu_text).await;
    let menu = user.messages().into_iter().find(|m| m.text_or_caption == menu_text).expect("the menu");
    let data: Vec<String> = menu.buttons().into_iter().map(|(_, d)| d).collect();
    assert_eq!(data, ["f:original", "f:square", "f:wildberries", "f:ozon", "f:amazon"]);
    let forged = user.press_button(menu.message_id, "f:huge");
    app.wait("the forged press answered", |tg| callback_answer(tg, &forged).is_some()).await;
    let press = user.press_button(menu.message_id, "f:wildberries");
    app.wait("the press answered", |tg| callback_answer(tg, &press).is_some()).await;
    let chosen = messages::answer_format_chosen(Lang::En, OutputFormat::Wildberries);
    assert_eq!(callback_answer(&app.tg, &press), Some(chosen));
    app.wait_text(&user, &messages::settings(Lang::En, OutputFormat::Wildberries)).await;

    app.submit(&user, Lang::En).await;
    app.wait_result(&user, 1).await;
    let document = user.messages().into_iter().find(|m| m.kind == MessageKind::Document).expect("a document");
    let card = image::load_from_memory(document.file.as_ref().expect("its file")).expect("an image");
    assert_eq!((card.width(), card.height()), (1200, 1600), "a Wildberries card");
    app.stop().await;
}

/// A preset scene instead of a background photo: the request for the background offers the
/// scenes as buttons; a press before any product, or with a forged scene, starts nothing;
/// a press after the product runs the job on that scene and takes the buttons away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_scene_picked_on_a_button_is_the_background() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(810, Some("en"));
    let early = user.press_button(1, "s:0");
    app.wait("the early press answered", |tg| callback_answer(tg, &early).is_some()).await;
    assert_eq!(
        callback_answer(&app.tg, &early).as_deref(),
        Some(messages::answer_scene_needs_product(Lang::En))
    );
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    let ask = user
        .messages()
        .into_iter()
        .find(|m| m.text_or_caption == messages::ask_background(Lang::En))
        .expect("the request for a background");
    let scenes: Vec<(String, String)> =
        ask.buttons().into_iter().filter(|(_, data)| data.starts_with("s:")).collect();
    assert_eq!(scenes.len(), 8, "the built-in scenes: {scenes:?}");
    assert!(ask.buttons().iter().any(|(_, data)| data == "p"), "and a button to see them");
    let marble = scenes.iter().find(|(name, _)| name == "marble").map(|(_, d)| d.clone()).expect("marble");
    let forged = user.press_button(ask.message_id, "s:99");
    app.wait("the forged press answered", |tg| callback_answer(tg, &forged).is_some()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.rh.tasks().is_empty(), "a forged scene starts nothing");

    let press = user.press_button(ask.message_id, &marble);
    app.wait("the press answered", |tg| callback_answer(tg, &press).is_some()).await;
    assert_eq!(callback_answer(&app.tg, &press), Some(messages::answer_scene_chosen(Lang::En, "marble")));
    app.wait_result(&user, 1).await;
    assert_eq!(app.rh.tasks().len(), 1);
    let ask = user.messages().into_iter().find(|m| m.message_id == ask.message_id).expect("still there");
    assert!(ask.buttons().is_empty(), "the scenes are offered once");
    // The next picture is a new product: the dialogue moved on.
    user.send_photo(solid_png(64, 48, [20, 200, 30]));
    app.wait("asked for a background again", |tg| {
        tg.messages(810).iter().filter(|m| m.text_or_caption == messages::ask_background(Lang::En)).count()
            == 2
    })
    .await;
    app.stop().await;
}

/// The scenes as pictures: the Previews button under the request for a background sends
/// one picture with a tile per scene, two to a row like its buttons; a scene picked there
/// is the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scene_previews_show_every_scene_and_pick_one() {
    let app = spawn_app(&[1]).await;
    let user = app.tg.user(811, Some("en"));
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    let ask = user
        .messages()
        .into_iter()
        .find(|m| m.text_or_caption == messages::ask_background(Lang::En))
        .expect("the request for a background");
    let press = user.press_button(ask.message_id, "p");
    app.wait("the previews", |tg| {
        tg.messages(811).iter().any(|m| m.text_or_caption == messages::scene_previews(Lang::En))
    })
    .await;
    assert_eq!(callback_answer(&app.tg, &press).as_deref(), Some(messages::answer_scene_previews(Lang::En)));
    let sheet = user
        .messages()
        .into_iter()
        .find(|m| m.text_or_caption == messages::scene_previews(Lang::En))
        .expect("the previews message");
    assert_eq!(sheet.kind, MessageKind::Photo);
    let picture = image::load_from_memory(sheet.file.as_deref().expect("a picture")).expect("an image");
    assert_eq!((picture.width(), picture.height()), (744, 4 * 270 + 5 * 8), "8 tiles, two to a row");
    let buttons = sheet.buttons();
    assert_eq!(buttons.len(), 8, "the scenes, no second Previews button: {buttons:?}");
    let marble = buttons.iter().find(|(name, _)| name == "marble").map(|(_, d)| d.clone()).expect("marble");
    let pick = user.press_button(sheet.message_id, &marble);
    app.wait("the pick answered", |tg| callback_answer(tg, &pick).is_some()).await;
    assert_eq!(callback_answer(&app.tg, &pick), Some(messages::answer_scene_chosen(Lang::En, "marble")));
    app.wait("the job's task", |_| app.rh.tasks().len() == 1).await;
    app.stop().await;
}

/// The built-in engine's example pictures (a product on a plain background, a scene).
fn example(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)).expect("an example")
}

/// The `/settings` message whose text is `text`, once it is there.
async fn settings_menu(app: &TestApp, user: &FakeUser, text: &str) -> BotMessage {
    app.wait_text(user, text).await;
    user.messages().into_iter().find(|m| m.text_or_caption == text).expect("just seen")
}

/// Presses `data` on `message` and waits for the bot's answer to the press.
async fn press(app: &TestApp, user: &FakeUser, message: i64, data: &str) -> String {
    let id = user.press_button(message, data);
    app.wait(&format!("the press of {data:?} answered"), |tg| callback_answer(tg, &id).is_some()).await;
    callback_answer(&app.tg, &id).expect("just seen")
}

/// Variants set to 3 on the `/settings` buttons: product and background make three jobs
/// with one status message, and the three different pictures arrive as one album, then
/// one message with the buttons, then the originals as one group of documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_variants_chosen_in_settings_arrive_as_one_album_then_the_buttons() {
    let setup = Setup { local: true, classic: true, ..Setup::runninghub(&[1]) };
    let app = start_bot(FakeRunningHub::start().await, setup).await;
    let user = app.tg.user(820, Some("en"));
    user.send_command("/settings");
    let menu = settings_menu(&app, &user, &messages::settings_variants(Lang::En, 1)).await;
    let data: Vec<String> = menu.buttons().into_iter().map(|(_, d)| d).collect();
    assert_eq!(data, ["v:1", "v:2", "v:3"], "as many as MAX_JOBS_PER_USER (3) lets one request make");
    let answer = press(&app, &user, menu.message_id, "v:3").await;
    assert_eq!(answer, messages::answer_variants_chosen(Lang::En, 3));
    app.wait_text(&user, &messages::settings_variants(Lang::En, 3)).await;

    user.send_photo(example("product.jpg"));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(example("background.jpg"));
    let chat = user.chat_id();
    app.wait("three photos, the buttons and three documents", |tg| {
        let m = tg.messages(chat);
        count(&m, MessageKind::Photo) == 3 && count(&m, MessageKind::Document) == 3
    })
    .await;
    let messages = user.messages();
    let photos: Vec<&BotMessage> = messages.iter().filter(|m| m.kind == MessageKind::Photo).collect();
    let group = photos[0].media_group_id.clone().expect("the photos came as an album");
    assert!(photos.iter().all(|p| p.media_group_id.as_ref() == Some(&group)), "one album: {photos:?}");
    let files: Vec<&Vec<u8>> = photos.iter().map(|p| p.file.as_ref().expect("a photo's bytes")).collect();
    assert!(files[0] != files[1] && files[1] != files[2] && files[0] != files[2], "three different pictures");
    // Right after the album: the message with the buttons; then the originals together.
    let last_photo = photos.iter().map(|p| p.message_id).max().expect("photos");
    let after = messages.iter().find(|m| m.message_id == last_photo + 1).expect("a message after the album");
    assert_eq!(after.kind, MessageKind::Text, "{}", app.tg.dump(chat));
    assert_eq!(after.text_or_caption, messages::variants_delivered(Lang::En, 3, 0));
    assert!(after.button_data("r:").is_some() && after.button_data("n").is_some(), "{after:?}");
    let documents: Vec<&BotMessage> = messages.iter().filter(|m| m.kind == MessageKind::Document).collect();
    assert!(documents.iter().all(|d| d.message_id > after.message_id && d.media_group_id.is_some()));
    // One status message for the request, none of a job of its own.
    let status_sends: Vec<_> = app
        .tg
        .calls_of("sendMessage")
        .into_iter()
        .filter(|c| c.ok && c.params.to_string().contains("\"x:"))
        .collect();
    assert!(status_sends.is_empty(), "no job has a status message of its own: {status_sends:?}");
    let album_status = app
        .tg
        .calls_of("sendMessage")
        .into_iter()
        .filter(|c| c.ok && c.params.to_string().contains("\"a:"))
        .count();
    assert_eq!(album_status, 1, "{}", app.tg.dump(chat));

    // Regenerate on the message after the album: three new variants, as a second album.
    let regenerate = after.button_data("r:").expect("Regenerate");
    let answer = press(&app, &user, after.message_id, &regenerate).await;
    assert_eq!(answer, messages::answer_started_again(Lang::En));
    app.wait("a second album and its buttons", |tg| {
        let m = tg.messages(chat);
        count(&m, MessageKind::Photo) == 6
            && m.iter().filter(|m| m.text_or_caption == messages::variants_delivered(Lang::En, 3, 0)).count()
                == 2
    })
    .await;
    let groups: std::collections::HashSet<Option<String>> = user
        .messages()
        .into_iter()
        .filter(|m| m.kind == MessageKind::Photo)
        .map(|m| m.media_group_id)
        .collect();
    assert_eq!(groups.len(), 2, "two albums: {}", app.tg.dump(chat));
    app.stop().await;
}

/// A request of more variants than the user has room for starts nothing and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_of_more_variants_than_there_is_room_for_is_refused_clearly() {
    let app = spawn_app(&[1]).await;
    app.rh.push_script(TaskScript::never_finish());
    let user = app.tg.user(830, Some("en"));
    app.submit(&user, Lang::En).await;
    user.send_command("/settings");
    let menu = settings_menu(&app, &user, &messages::settings_variants(Lang::En, 1)).await;
    press(&app, &user, menu.message_id, "v:3").await;
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait("asked for the second background", |tg| {
        tg.messages(830).iter().filter(|m| m.text_or_caption == messages::ask_background(Lang::En)).count()
            == 2
    })
    .await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait_text(&user, &messages::too_many_variants(Lang::En, 3, 2, 3)).await;
    assert_eq!(app.rh.tasks().len(), 1, "only the first job");
    app.stop().await;
}

/// The language picked in `/settings` answers a user whose Telegram is Russian in English
/// from then on; forged settings buttons are refused and change nothing; the settings
/// outlast a restart (they are in the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_and_variants_from_settings_hold_and_forged_presses_change_nothing() {
    let rh = FakeRunningHub::start().await;
    let app = start_bot(rh.clone(), Setup::runninghub(&[1])).await;
    let user = app.tg.user(840, Some("ru"));
    user.send_command("/settings");
    let languages =
        settings_menu(&app, &user, &messages::settings_language(Lang::Ru, LangChoice::Auto)).await;
    let data: Vec<String> = languages.buttons().into_iter().map(|(_, d)| d).collect();
    assert_eq!(data, ["l:auto", "l:ru", "l:en"]);
    let variants = settings_menu(&app, &user, &messages::settings_variants(Lang::Ru, 1)).await;
    for forged in ["v:9", "v:abc", "v:0", "l:xx", "l:EN"] {
        let answer = press(&app, &user, variants.message_id, forged).await;
        assert_eq!(answer, messages::answer_setting_refused(Lang::Ru), "{forged}");
    }
    // Offered up to MAX_JOBS_PER_USER (3): a request of 4 could never start.
    let answer = press(&app, &user, variants.message_id, "v:4").await;
    assert_eq!(answer, messages::answer_too_many_variants(Lang::Ru, 3));
    let answer = press(&app, &user, variants.message_id, "v:2").await;
    assert_eq!(answer, messages::answer_variants_chosen(Lang::Ru, 2));
    let answer = press(&app, &user, languages.message_id, "l:en").await;
    assert_eq!(answer, messages::answer_language_chosen(Lang::En, LangChoice::Fixed(Lang::En)));
    app.wait_text(&user, &messages::settings_language(Lang::En, LangChoice::Fixed(Lang::En))).await;
    user.send_command("/help");
    app.wait_text(&user, messages::help(Lang::En)).await;

    // After a restart on the same store: still English, still two variants.
    let tg = app.tg.clone();
    let data = app.stop().await;
    let app = start_bot_on(tg, rh, Setup::runninghub(&[1]), data).await;
    user.send_command("/settings");
    settings_menu(&app, &user, &messages::settings_variants(Lang::En, 2)).await;
    settings_menu(&app, &user, &messages::settings_language(Lang::En, LangChoice::Fixed(Lang::En))).await;
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait("two photos in one album and the buttons", |tg| {
        let m = tg.messages(840);
        count(&m, MessageKind::Photo) == 2
            && m.iter().any(|m| m.text_or_caption == messages::variants_delivered(Lang::En, 2, 0))
    })
    .await;
    assert_eq!(app.rh.tasks().len(), 2, "one task per variant");
    // Back to Telegram's language: Russian again.
    let languages =
        settings_menu(&app, &user, &messages::settings_language(Lang::En, LangChoice::Fixed(Lang::En))).await;
    let answer = press(&app, &user, languages.message_id, "l:auto").await;
    assert_eq!(answer, messages::answer_language_chosen(Lang::Ru, LangChoice::Auto));
    user.send_command("/help");
    app.wait_text(&user, messages::help(Lang::Ru)).await;
    app.stop().await;
}

/// Sets the user's variants to `n` on the `/settings` buttons.
async fn choose_variants(app: &TestApp, user: &FakeUser, lang: Lang, n: u8) {
    user.send_command("/settings");
    let menu = settings_menu(app, user, &messages::settings_variants(lang, 1)).await;
    let answer = press(app, user, menu.message_id, &format!("v:{n}")).await;
    assert_eq!(answer, messages::answer_variants_chosen(lang, n));
}

/// One variant of three fails: the other two still arrive as one album, and the message
/// after it says one failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_variant_leaves_the_others_delivered_and_counted() {
    let app = spawn_app(&[3]).await;
    app.rh.push_script(TaskScript::fail(Duration::from_millis(50), "CUDA out of memory"));
    let user = app.tg.user(850, Some("en"));
    choose_variants(&app, &user, Lang::En, 3).await;
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait_text(&user, &messages::variants_delivered(Lang::En, 2, 1)).await;
    let messages = user.messages();
    let photos: Vec<&BotMessage> = messages.iter().filter(|m| m.kind == MessageKind::Photo).collect();
    assert_eq!(photos.len(), 2, "{}", app.tg.dump(850));
    assert!(photos[0].media_group_id.is_some() && photos[0].media_group_id == photos[1].media_group_id);
    let failures = messages::status_failed(Lang::En, &FailReason::Provider(String::new()));
    assert!(!messages.iter().any(|m| m.text_or_caption == failures), "no failure message of its own");
    assert_eq!(app.rh.tasks().len(), 3);
    app.stop().await;
}

/// The bot stops while Telegram holds the album's upload: the variants stay delivering, and
/// the next start sends the album once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_not_yet_taken_at_shutdown_is_sent_once_by_the_next_start() {
    let rh = FakeRunningHub::start().await;
    let app = start_bot(rh.clone(), Setup::runninghub(&[2])).await;
    let user = app.tg.user(860, Some("en"));
    choose_variants(&app, &user, Lang::En, 2).await;
    app.tg.fail_next("sendMediaGroup", 1, TgFault::Hang);
    user.send_photo(solid_png(64, 48, [200, 30, 30]));
    app.wait_text(&user, messages::ask_background(Lang::En)).await;
    user.send_photo(solid_png(80, 60, [30, 30, 200]));
    app.wait("the album on its way", |tg| tg.calls_of("sendMediaGroup").len() == 1).await;
    let tg = app.tg.clone();
    let data = app.stop().await;
    assert_eq!(count(&user.messages(), MessageKind::Photo), 0, "the user has no result yet");

    let app = start_bot_on(tg, rh, Setup::runninghub(&[2]), data).await;
    app.wait_text(&user, &messages::variants_delivered(Lang::En, 2, 0)).await;
    app.wait("the originals", |tg| count(&tg.messages(860), MessageKind::Document) == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = user.messages();
    assert_eq!(count(&messages, MessageKind::Photo), 2, "the album once: {}", app.tg.dump(860));
    let delivered =
        messages.iter().filter(|m| m.text_or_caption == messages::variants_delivered(Lang::En, 2, 0));
    assert_eq!(delivered.count(), 1);
    assert_eq!(app.rh.tasks().len(), 2, "nothing generated twice");
    app.stop().await;
}
