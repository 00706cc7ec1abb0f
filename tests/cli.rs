//! The `backdrop` binary as a user runs it: `check` and `generate` against the fake
//! RunningHub and fake Telegram, and clear answers to bad input and bad configuration.

use std::path::Path;
use std::process::Output;

use backdrop_fakes::runninghub::{FakeRunningHub, TaskScript};
use backdrop_fakes::telegram::FakeTelegram;

const KEY: &str = "cli-test-key-0123456789";

/// Runs the binary in `dir` with exactly `vars` as its environment (no `.env` leaks in).
async fn backdrop(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_backdrop"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .output()
        .await
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn png(path: &Path) {
    image::RgbImage::from_pixel(40, 30, image::Rgb([250, 250, 250])).save(path).unwrap();
}

#[tokio::test]
async fn check_passes_with_good_keys_and_a_good_token() {
    let dir = tempfile::tempdir().unwrap();
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 3);
    let tg = FakeTelegram::start().await;
    let (rh_url, tg_url) = (rh.url(), tg.url());
    let out = backdrop(
        dir.path(),
        &["check"],
        &[
            ("RUNNINGHUB_API_URL", &rh_url),
            ("RUNNINGHUB_API_KEY_1", KEY),
            ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1871659613585305601"),
            ("BOT_TOKEN", "123456:TEST-token"),
            ("TELEGRAM_API_URL", &tg_url),
            ("WEBHOOK_URL", "https://bot.example.com/backdrop"),
        ],
    )
    .await;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("RunningHub account 1"), "{report}");
    assert!(report.contains("@"), "{report}");
    assert!(
        report
            .contains("webhook: the bot registers https://bot.example.com/backdrop/telegram when it starts"),
        "{report}"
    );
    assert!(!report.contains(KEY) && !report.contains("TEST-token"), "no secret in the output");
}

#[tokio::test]
async fn check_fails_on_a_refused_key_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let rh = FakeRunningHub::start().await;
    let rh_url = rh.url();
    let out = backdrop(
        dir.path(),
        &["check"],
        &[
            ("RUNNINGHUB_API_URL", &rh_url),
            ("RUNNINGHUB_API_KEY_1", KEY),
            ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1"),
        ],
    )
    .await;
    let report = text(&out);
    assert!(!out.status.success());
    assert!(report.contains("FAIL RunningHub account 1"), "{report}");
    assert!(!report.contains(KEY), "{report}");
}

#[tokio::test]
async fn a_malformed_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = backdrop(dir.path(), &["check"], &[("RUNNINGHUB_POLL_INTERVAL_MS", "soon")]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("RUNNINGHUB_POLL_INTERVAL_MS"), "{}", text(&out));
}

#[tokio::test]
async fn generate_runs_one_job_on_runninghub_and_writes_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    rh.set_default_script(TaskScript::succeed(std::time::Duration::from_millis(100)));
    png(&dir.path().join("product.png"));
    png(&dir.path().join("background.png"));
    let rh_url = rh.url();
    let out = backdrop(
        dir.path(),
        &[
            "generate",
            "--product",
            "product.png",
            "--background",
            "background.png",
            "--out",
            "result.png",
            "--engine",
            "runninghub",
        ],
        &[
            ("RUNNINGHUB_API_URL", &rh_url),
            ("RUNNINGHUB_API_KEY_1", KEY),
            ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1"),
            ("RUNNINGHUB_POLL_INTERVAL_MS", "20"),
        ],
    )
    .await;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("generating") && report.contains("done"), "{report}");
    assert!(image::open(dir.path().join("result.png")).is_ok());
    assert_eq!(rh.tasks().len(), 1);
}

#[tokio::test]
async fn generate_refuses_a_pdf_clearly_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 1);
    std::fs::write(dir.path().join("doc.pdf"), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj").unwrap();
    png(&dir.path().join("background.png"));
    let rh_url = rh.url();
    let out = backdrop(
        dir.path(),
        &["generate", "--product", "doc.pdf", "--background", "background.png", "--out", "r.png"],
        &[
            ("RUNNINGHUB_API_URL", &rh_url),
            ("RUNNINGHUB_API_KEY_1", KEY),
            ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1"),
        ],
    )
    .await;
    let report = text(&out);
    assert!(!out.status.success());
    assert!(report.contains("doc.pdf") && report.contains("not a JPEG, PNG or WebP"), "{report}");
    assert_eq!(rh.uploads(KEY), 0);
    assert!(!dir.path().join("r.png").exists());
}

#[tokio::test]
async fn generate_and_check_work_with_a_comfyui_server() {
    use backdrop_fakes::comfyui::FakeComfyUi;
    let dir = tempfile::tempdir().unwrap();
    let comfy = FakeComfyUi::start().await;
    png(&dir.path().join("product.png"));
    png(&dir.path().join("background.png"));
    let workflow = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/comfyui-workflow.json");
    let (url, workflow) = (comfy.url(), workflow.display().to_string());
    let vars = [
        ("ENGINE", "comfyui"),
        ("COMFYUI_URL", url.as_str()),
        ("COMFYUI_WORKFLOW", workflow.as_str()),
        ("COMFYUI_POLL_INTERVAL_MS", "20"),
    ];
    let out = backdrop(dir.path(), &["check"], &vars).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ComfyUI"), "{}", text(&out));
    let args =
        ["generate", "--product", "product.png", "--background", "background.png", "--out", "result.png"];
    let out = backdrop(dir.path(), &args, &vars).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(image::open(dir.path().join("result.png")).is_ok());
    assert_eq!(comfy.prompts().len(), 1);
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name).display().to_string()
}

#[tokio::test]
async fn the_readme_command_places_the_example_product_with_no_account() {
    let dir = tempfile::tempdir().unwrap();
    let (product, background) = (example("product.jpg"), example("background.jpg"));
    let args = ["generate", "--product", &product, "--background", &background, "--out", "result.jpg"];
    let out = backdrop(dir.path(), &args, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("engine: local"), "{}", text(&out));
    let result = image::open(dir.path().join("result.jpg")).unwrap();
    let scene = image::open(&background).unwrap();
    assert_eq!((result.width(), result.height()), (scene.width(), scene.height()), "the scene's size");
}

#[tokio::test]
async fn cutout_writes_a_transparent_png() {
    let dir = tempfile::tempdir().unwrap();
    let product = example("product.jpg");
    let out = backdrop(dir.path(), &["cutout", &product, "--out", "cut.png"], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    let cut = image::open(dir.path().join("cut.png")).unwrap().to_rgba8();
    assert_eq!(cut.get_pixel(0, 0)[3], 0, "the backdrop is transparent");
    let opaque = cut.pixels().filter(|p| p[3] == 255).count() as f64 / cut.pixels().len() as f64;
    assert!((0.02..0.6).contains(&opaque), "the product, and only it, is opaque: {opaque:.3}");
    let out = backdrop(dir.path(), &["cutout", &product, "--out", "cut.jpg"], &[]).await;
    assert!(!out.status.success() && text(&out).contains("transparency"), "{}", text(&out));
}

#[tokio::test]
async fn the_classic_segmenter_refuses_a_busy_background_with_advice() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let noise =
        image::RgbImage::from_fn(200, 150, |_, _| image::Rgb([rng.random(), rng.random(), rng.random()]));
    noise.save(dir.path().join("busy.png")).unwrap();
    let classic = ["cutout", "busy.png", "--out", "cut.png", "--segmenter", "classic"];
    let out = backdrop(dir.path(), &classic, &[]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("not plain enough"), "{}", text(&out));
    assert!(!dir.path().join("cut.png").exists());
}

#[tokio::test]
async fn check_reports_a_registered_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let url = tg.url();
    let hook = "https://bot.example.com/telegram";
    // As a running bot in webhook mode leaves it.
    reqwest::Client::new()
        .post(format!("{url}/bot123456:TEST-token/setWebhook"))
        .json(&serde_json::json!({ "url": hook, "secret_token": "s3cret" }))
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(tg.webhook_url(), hook);
    let vars = [
        ("BOT_TOKEN", "123456:TEST-token"),
        ("TELEGRAM_API_URL", url.as_str()),
        ("WEBHOOK_URL", "https://bot.example.com"),
    ];
    let out = backdrop(dir.path(), &["check"], &vars).await;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains(&format!("webhook: {hook} registered, 0 update(s) waiting")), "{report}");
}

/// `backdrop stats` on a PostgreSQL store counts the jobs every process wrote into it
/// (here two "machines" with their own DATA_DIR, one after the other).
#[tokio::test]
async fn stats_reads_the_shared_postgres_store() {
    use backdrop::input_image::{ImageLimits, InputImage};
    use backdrop::store::{NewJob, Store};

    let url = backdrop_fakes::TestPostgres::shared().fresh_database().await;
    let mut bytes = Vec::new();
    image::RgbImage::new(4, 4)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    let picture = InputImage::parse(bytes, &ImageLimits::default()).unwrap();
    for user in [1, 2] {
        let machine = tempfile::tempdir().unwrap();
        let store = Store::open(&url.parse().unwrap(), machine.path()).await.unwrap();
        let new = NewJob {
            user_id: user,
            chat_id: user,
            language: "en".into(),
            engine: "local".into(),
            parent: None,
            output_format: None,
            variant: None,
        };
        store.create_job(&new, &picture, &picture).await.unwrap();
        store.close().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = backdrop(dir.path(), &["stats"], &[("DATABASE_URL", &url)]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("24 h: 2 jobs"), "{}", text(&out));
    assert!(text(&out).contains("queue length: 2"), "{}", text(&out));
}

/// A PostgreSQL URL carries a password: a malformed one, or one whose server is not
/// there, is named without ever printing it.
#[tokio::test]
async fn a_postgres_url_never_shows_its_password() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["postgres://bot:s3cretpw@127.0.0.1:notaport/db", "postgres://bot:s3cretpw@127.0.0.1:1/db"] {
        let out = backdrop(dir.path(), &["stats"], &[("DATABASE_URL", url)]).await;
        assert!(!out.status.success(), "{url}");
        assert!(!text(&out).contains("s3cretpw"), "{}", text(&out));
    }
    let out = backdrop(
        dir.path(),
        &["stats"],
        &[("DATABASE_URL", "postgres://bot:s3cretpw@127.0.0.1:notaport/db")],
    )
    .await;
    assert!(text(&out).contains("DATABASE_URL"), "{}", text(&out));
}
