//! The RunningHub client and engine against a scripted HTTP server on loopback
//! (`backdrop_fakes::scripted`).
//!
//! Each test scripts the answers per path and call number, then checks what the client
//! made of them and how many requests it sent. Every wait is bounded.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backdrop::engine::runninghub::{RunningHubAccount, RunningHubEngine, RunningHubSettings};
use backdrop::engine::{Engine, EngineError, RunContext};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{FailReason, ImageSource, JobId, JobInput, LaneId, RemoteTaskId};
use backdrop::runninghub_api::{
    ClientOptions, ErrorAction, NodeInput, RetryPolicy, RhError, RunningHubClient, TaskProgress, WebhookEvent,
};
use backdrop::secret::Secret;
use backdrop_fakes::scripted::{Reply, ScriptedServer};
use bytes::Bytes;
use serde_json::{Value, json};

const KEY: &str = "sk-test-key-do-not-print-0123456789";

/// The scripted server the client tests talk to.
type Fake = ScriptedServer;
/// A server's answers, installed after it started (see [`fake_with_base`]).
type Script = Box<dyn Fn(&str, usize, &[u8]) -> Reply + Send + Sync>;

/// A client of `fake` with short timeouts.
fn client_of(fake: &Fake) -> RunningHubClient {
    client_for(fake.url(), Duration::from_secs(2))
}

fn client_for(base: &str, timeout: Duration) -> RunningHubClient {
    let options = ClientOptions {
        request_timeout: timeout,
        transfer_timeout: timeout,
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
    };
    RunningHubClient::new(&reqwest::Url::parse(base).expect("a URL"), options).unwrap()
}

fn key() -> Secret {
    Secret::new(KEY)
}

fn task() -> RemoteTaskId {
    RemoteTaskId("1910246754753896450".into())
}

fn ok(data: Value) -> Reply {
    Reply::Json(json!({"code": 0, "msg": "success", "data": data}))
}

fn code(code: i64, msg: &str) -> Reply {
    Reply::Json(json!({"code": code, "msg": msg, "data": null}))
}

fn done(url: &str) -> Reply {
    ok(
        json!([{"fileUrl": url, "fileType": "png", "taskCostTime": "83", "nodeId": "12", "consumeCoins": "17"}]),
    )
}

fn png(w: u32, h: u32) -> Vec<u8> {
    backdrop_fakes::image_bytes::solid_png(w, h, [200, 100, 50])
}

fn assert_no_key(e: &impl std::fmt::Debug) {
    let text = format!("{e:?}");
    assert!(!text.contains(KEY), "the key leaked: {text}");
}

// ---- client -----------------------------------------------------------------------------

#[tokio::test]
async fn http_500_twice_then_success_is_retried() {
    let fake = Fake::start(|_, n, _| if n <= 2 { Reply::Status(500) } else { done("https://x/o.png") }).await;
    let progress = client_of(&fake).outputs(&key(), &task()).await.unwrap();
    assert!(
        matches!(progress, TaskProgress::Succeeded(ref o) if o[0].file_url == "https://x/o.png"),
        "{progress:?}"
    );
    assert_eq!(fake.count("/task/openapi/outputs"), 3);
}

#[tokio::test]
async fn http_500_forever_stops_after_three_attempts() {
    let fake = Fake::start(|_, _, _| Reply::Status(500)).await;
    let err = client_of(&fake).outputs(&key(), &task()).await.unwrap_err();
    assert_eq!(err, RhError::Http { status: 500 });
    assert_eq!(fake.count("/task/openapi/outputs"), 3);
}

#[tokio::test]
async fn code_500_answers_are_retried_too() {
    let fake =
        Fake::start(|_, n, _| if n == 1 { code(500, "unknown") } else { code(813, "APIKEY_TASK_IS_QUEUED") })
            .await;
    assert_eq!(client_of(&fake).outputs(&key(), &task()).await.unwrap(), TaskProgress::Queued);
    assert_eq!(fake.count("/task/openapi/outputs"), 2);
}

#[tokio::test]
async fn a_hang_times_out_within_bounds() {
    let fake = Fake::start(|_, _, _| Reply::Hang).await;
    let client = client_for(fake.url(), Duration::from_millis(200));
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(5), client.outputs(&key(), &task()))
        .await
        .expect("bounded by the client")
        .unwrap_err();
    assert_eq!(err, RhError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(fake.count("/task/openapi/outputs"), 3);
}

#[tokio::test]
async fn malformed_json_is_retried_then_reported() {
    let fake = Fake::start(|_, _, _| Reply::Raw("{\"code\": 0, \"data\": [")).await;
    let err = client_of(&fake).outputs(&key(), &task()).await.unwrap_err();
    assert!(matches!(err, RhError::Decode(_)), "{err:?}");
    assert_eq!(fake.count("/task/openapi/outputs"), 3);

    let fake = Fake::start(
        |_, n, _| if n == 1 { Reply::Raw("<html>") } else { code(804, "APIKEY_TASK_IS_RUNNING") },
    )
    .await;
    assert_eq!(client_of(&fake).outputs(&key(), &task()).await.unwrap(), TaskProgress::Running);
}

#[tokio::test]
async fn runaway_answers_are_cut_off() {
    let fake = Fake::start(|_, _, _| Reply::Png(vec![b' '; 5 * 1024 * 1024])).await;
    let err = client_of(&fake).outputs(&key(), &task()).await.unwrap_err();
    assert!(matches!(err, RhError::TooLarge { .. }), "{err:?}");
    assert_eq!(fake.count("/task/openapi/outputs"), 1);
}

#[tokio::test]
async fn http_4xx_is_terminal() {
    let fake = Fake::start(|_, _, _| Reply::Status(404)).await;
    let err = client_of(&fake).outputs(&key(), &task()).await.unwrap_err();
    assert_eq!(err, RhError::Http { status: 404 });
    assert_eq!(fake.count("/task/openapi/outputs"), 1);
}

#[tokio::test]
async fn outputs_report_805_with_its_reason() {
    let fake = Fake::start(|_, _, _| {
        Reply::Json(json!({"code": 805, "msg": "APIKEY_TASK_STATUS_ERROR", "data": {"failedReason": {
            "node_id": "276", "node_name": "Load Image", "exception_type": "TypeError",
            "exception_message": "bad input", "traceback": "..."}}}))
    })
    .await;
    let progress = client_of(&fake).outputs(&key(), &task()).await.unwrap();
    assert_eq!(progress, TaskProgress::Failed("TypeError: bad input (node 276 \"Load Image\")".into()));
    assert_eq!(fake.count("/task/openapi/outputs"), 1);
}

#[tokio::test]
async fn outputs_send_the_key_and_task_id_in_the_body() {
    let fake = Fake::start(|_, _, _| code(0, "APIKEY_TASK_IS_RUNNING")).await;
    assert_eq!(client_of(&fake).outputs(&key(), &task()).await.unwrap(), TaskProgress::Running);
    let body: Value = serde_json::from_slice(&fake.bodies("/task/openapi/outputs")[0]).unwrap();
    assert_eq!(body, json!({"apiKey": KEY, "taskId": "1910246754753896450"}));
}

#[tokio::test]
async fn queue_maxed_on_create_is_returned_not_retried() {
    let fake = Fake::start(|_, _, _| code(421, "TASK_QUEUE_MAXED")).await;
    let err = client_of(&fake).create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert!(matches!(err.action(), ErrorAction::AccountBusy { .. }), "{err:?}");
    assert_eq!(fake.count("/task/openapi/create"), 1);
}

#[tokio::test]
async fn create_is_not_retried_after_a_timeout() {
    let fake = Fake::start(|_, _, _| Reply::Hang).await;
    let client = client_for(fake.url(), Duration::from_millis(200));
    let err = client.create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert_eq!(err, RhError::Unconfirmed(Box::new(RhError::Timeout)));
    assert_eq!(fake.count("/task/openapi/create"), 1, "a second create could pay twice");
}

#[tokio::test]
async fn create_answers_lost_at_a_gateway_are_unconfirmed_and_not_retried() {
    for status in [502, 504] {
        let fake = Fake::start(move |_, _, _| Reply::Status(status)).await;
        let err = client_of(&fake).create_task(&key(), "wf", &[], None).await.unwrap_err();
        assert_eq!(err, RhError::Unconfirmed(Box::new(RhError::Http { status })), "{status}");
        assert_eq!(fake.count("/task/openapi/create"), 1, "{status}: a second create could pay twice");
    }
    // A broken body after a 200: the server took the request.
    let fake = Fake::start(|_, _, _| Reply::Raw("{\"code\": 0, \"data\": {")).await;
    let err = client_of(&fake).create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert!(matches!(err, RhError::Unconfirmed(_)), "{err:?}");
    assert_eq!(fake.count("/task/openapi/create"), 1);
    // 503: the service said it did not take it; retried.
    let fake =
        Fake::start(|_, n, _| if n == 1 { Reply::Status(503) } else { code(421, "TASK_QUEUE_MAXED") }).await;
    let err = client_of(&fake).create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert!(matches!(err.action(), ErrorAction::AccountBusy { .. }), "{err:?}");
    assert_eq!(fake.count("/task/openapi/create"), 2);
}

#[tokio::test]
async fn create_is_not_retried_after_malformed_json() {
    let fake = Fake::start(|_, _, _| Reply::Raw("{oops")).await;
    let err = client_of(&fake).create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert!(matches!(&err, RhError::Unconfirmed(inner) if matches!(**inner, RhError::Decode(_))), "{err:?}");
    assert_eq!(fake.count("/task/openapi/create"), 1);
}

#[tokio::test]
async fn create_is_retried_on_503_and_sends_the_documented_body() {
    let fake = Fake::start(|_, n, _| {
        if n == 1 {
            Reply::Status(503)
        } else {
            ok(json!({"netWssUrl": null, "taskId": 1910246754753896450u64, "clientId": "e825", "taskStatus": "QUEUED",
                "promptTips": "{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"9\"], \"node_errors\": {}}"}))
        }
    })
    .await;
    let nodes = [
        NodeInput { node_id: "2".into(), field_name: "image".into(), field_value: "api/p.png".into() },
        NodeInput { node_id: "32".into(), field_name: "image".into(), field_value: "api/b.png".into() },
    ];
    let id = client_of(&fake)
        .create_task(
            &key(),
            "1871659613585305601",
            &nodes,
            Some("https://bot.example.com/runninghub/webhook"),
        )
        .await
        .unwrap();
    assert_eq!(id, task());
    assert_eq!(fake.count("/task/openapi/create"), 2);
    let body: Value = serde_json::from_slice(&fake.bodies("/task/openapi/create")[1]).unwrap();
    assert_eq!(
        body,
        json!({"apiKey": KEY, "workflowId": "1871659613585305601",
            "nodeInfoList": [{"nodeId": "2", "fieldName": "image", "fieldValue": "api/p.png"},
                             {"nodeId": "32", "fieldName": "image", "fieldValue": "api/b.png"}],
            "webhookUrl": "https://bot.example.com/runninghub/webhook"})
    );
}

#[tokio::test]
async fn node_errors_in_prompt_tips_are_an_error() {
    let fake = Fake::start(|_, _, _| {
        ok(json!({"taskId": "1", "taskStatus": "CREATE", "promptTips":
            "{\"result\": false, \"node_errors\": {\"2\": {\"errors\": [{\"message\": \"Value not in list\"}], \"class_type\": \"LoadImage\"}}}"}))
    })
    .await;
    let err = client_of(&fake).create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert!(matches!(err, RhError::Rejected(ref r) if r.contains("node 2")), "{err:?}");
}

#[tokio::test]
async fn upload_sends_a_multipart_form_and_accepts_file_type_input() {
    let fake = Fake::start(|_, _, _| ok(json!({"fileName": "api/abc.png", "fileType": "input"}))).await;
    let name = client_of(&fake).upload(&key(), Bytes::from(png(2, 2)), "product.png").await.unwrap();
    assert_eq!(name, "api/abc.png");
    let body = String::from_utf8_lossy(&fake.bodies("/task/openapi/upload")[0]).into_owned();
    assert!(body.contains("name=\"apiKey\""), "{body}");
    assert!(body.contains("name=\"fileType\""));
    assert!(body.contains("filename=\"product.png\""));
    assert!(body.contains("image/png"));
}

#[tokio::test]
async fn upload_too_large_is_reported_as_such() {
    let fake = Fake::start(|_, _, _| code(809, "APIKEY_FILE_SIZE_EXCEEDED")).await;
    let err = client_of(&fake).upload(&key(), Bytes::from(png(2, 2)), "product.png").await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::FileTooLarge);
    assert_eq!(fake.count("/task/openapi/upload"), 1);
}

#[tokio::test]
async fn cancel_accepts_success_and_unknown_tasks() {
    let fake = Fake::start(|_, n, _| match n {
        1 => code(0, "success"),
        2 => code(807, "APIKEY_TASK_NOT_FOUND"),
        3 => code(423, ""),
        _ => code(802, "APIKEY_UNAUTHORIZED"),
    })
    .await;
    let client = client_of(&fake);
    client.cancel(&key(), &task()).await.unwrap();
    client.cancel(&key(), &task()).await.unwrap();
    client.cancel(&key(), &task()).await.unwrap();
    let err = client.cancel(&key(), &task()).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::AccountRefused);
    let body: Value = serde_json::from_slice(&fake.bodies("/task/openapi/cancel")[0]).unwrap();
    assert_eq!(body["taskId"], "1910246754753896450");
}

#[tokio::test]
async fn account_status_uses_lowercase_apikey() {
    let fake = Fake::start(|_, _, _| {
        ok(json!({"remainCoins": "177814", "currentTaskCounts": "0", "remainMoney": null, "currency": null, "apiType": "NORMAL"}))
    })
    .await;
    let status = client_of(&fake).account_status(&key()).await.unwrap();
    assert_eq!(status.remain_coins, Some(177814.0));
    assert_eq!(status.current_task_counts, Some(0));
    assert_eq!(status.api_type.as_deref(), Some("NORMAL"));
    let body: Value = serde_json::from_slice(&fake.bodies("/uc/openapi/accountStatus")[0]).unwrap();
    assert_eq!(body, json!({"apikey": KEY}));
}

#[tokio::test]
async fn download_streams_and_refuses_oversized_files() {
    let image = png(8, 8);
    let size = image.len();
    let fake = Fake::start(move |_, _, _| Reply::Png(image.clone())).await;
    let url = format!("{}/files/out.png", fake.url());
    let got = client_of(&fake).download(&url, 1024 * 1024).await.unwrap();
    assert_eq!(got.len(), size);
    let err = client_of(&fake).download(&url, size - 1).await.unwrap_err();
    assert_eq!(err, RhError::TooLarge { limit: size - 1 });
    let err = client_of(&fake).download("file:///etc/passwd", 10).await.unwrap_err();
    assert!(matches!(err, RhError::Decode(_)));
}

#[tokio::test]
async fn errors_never_contain_the_key() {
    // Nothing listens on this port any more: a connect error, retried, then reported.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = client_for(&base, Duration::from_millis(500));
    let err = client.create_task(&key(), "wf", &[], None).await.unwrap_err();
    assert!(matches!(err, RhError::Transport(_)), "refused before sending: no task: {err:?}");
    assert_no_key(&err);
    assert!(!err.to_string().contains(KEY));
    assert_no_key(&client.upload(&key(), Bytes::from_static(b"x"), "a.png").await.unwrap_err());
    assert_no_key(&client.account_status(&key()).await.unwrap_err());

    // A server that echoes the key in its message.
    let fake = Fake::start(|_, _, _| code(802, &format!("bad key {KEY}"))).await;
    let err = client_of(&fake).account_status(&key()).await.unwrap_err();
    assert_no_key(&err);
    assert!(!err.to_string().contains(KEY));
}

// ---- engine -----------------------------------------------------------------------------

fn settings(poll: Duration) -> RunningHubSettings {
    RunningHubSettings { poll_interval: poll, ..RunningHubSettings::default() }
}

fn engine(fake: &Fake, poll: Duration) -> Arc<RunningHubEngine> {
    let account = RunningHubAccount {
        lane: LaneId(1),
        api_key: key(),
        max_jobs: 2,
        workflow_id: "wf-1".into(),
        app_id: None,
    };
    Arc::new(RunningHubEngine::new(client_of(&fake), vec![account], settings(poll)))
}

fn context() -> RunContext {
    context_with(png(4, 4))
}

fn context_with(product: Vec<u8>) -> RunContext {
    let image = |bytes| ImageSource::Memory(InputImage::parse(bytes, &ImageLimits::default()).unwrap());
    RunContext::detached(
        JobId(7),
        LaneId(1),
        JobInput { product: image(product), background: image(png(6, 6)) },
    )
}

/// A PNG of pseudo-random pixels: big, and not much smaller as a JPEG.
fn noisy_png(w: u32, h: u32) -> Vec<u8> {
    let mut state = 99u32;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// The usual happy path: uploads, create, queued, running, done, file.
fn happy(base: String) -> impl Fn(&str, usize, &[u8]) -> Reply + Send + Sync + 'static {
    let result = png(16, 16);
    move |path, n, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": format!("api/{n}.png"), "fileType": "image"})),
        "/task/openapi/create" => ok(json!({"taskId": "555", "taskStatus": "QUEUED", "promptTips": ""})),
        "/task/openapi/outputs" => match n {
            1 => code(813, "APIKEY_TASK_IS_QUEUED"),
            2 => code(804, "APIKEY_TASK_IS_RUNNING"),
            _ => ok(json!([
                {"fileUrl": format!("{base}/files/preview.mp4"), "fileType": "mp4"},
                {"fileUrl": format!("{base}/files/out.png"), "fileType": "png", "taskCostTime": 3},
            ])),
        },
        "/files/out.png" => Reply::Png(result.clone()),
        _ => Reply::Status(404),
    }
}

/// A fake whose script needs its own base URL (for output file URLs).
async fn fake_with_base(script: impl FnOnce(String) -> Script) -> Fake {
    // The script is installed once the server knows its address.
    let holder: Arc<Mutex<Option<Script>>> = Arc::default();
    let slot = holder.clone();
    let fake = Fake::start(move |p, n, b| match slot.lock().unwrap().as_ref() {
        Some(script) => script(p, n, b),
        None => Reply::Status(503),
    })
    .await;
    *holder.lock().unwrap() = Some(script(fake.url().to_owned()));
    fake
}

#[tokio::test]
async fn engine_runs_a_job_end_to_end() {
    let fake = fake_with_base(|base| Box::new(happy(base))).await;
    let engine = engine(&fake, Duration::from_millis(20));
    assert_eq!(engine.name(), "runninghub");
    let lanes = engine.lanes();
    assert_eq!((lanes[0].id, lanes[0].capacity, lanes[0].label.as_str()), (LaneId(1), 2, "account 1"));

    let out = tokio::time::timeout(Duration::from_secs(10), engine.run(context())).await.unwrap().unwrap();
    assert_eq!(out.extension, "png");
    assert_eq!(out.image.as_ref(), png(16, 16).as_slice());
    assert_eq!(fake.count("/task/openapi/upload"), 2);
    assert_eq!(fake.count("/task/openapi/create"), 1);
    assert_eq!(fake.count("/task/openapi/outputs"), 3);
    assert_eq!(fake.count("/files/preview.mp4"), 0, "only the image output is fetched");

    let create: Value = serde_json::from_slice(&fake.bodies("/task/openapi/create")[0]).unwrap();
    assert_eq!(create["workflowId"], "wf-1");
    let nodes = create["nodeInfoList"].as_array().unwrap();
    assert_eq!((nodes[0]["nodeId"].as_str(), nodes[0]["fieldName"].as_str()), (Some("2"), Some("image")));
    assert_eq!(nodes[1]["nodeId"], "32");
    let uploads: Vec<String> =
        fake.bodies("/task/openapi/upload").iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    assert!(uploads.iter().any(|b| b.contains("filename=\"product.png\"")));
    assert!(uploads.iter().any(|b| b.contains("filename=\"background.png\"")));
}

#[tokio::test]
async fn engine_resumes_without_uploading_or_creating() {
    let fake = fake_with_base(|base| Box::new(happy(base))).await;
    let engine = engine(&fake, Duration::from_millis(20));
    let mut ctx = context();
    ctx.resume = Some(RemoteTaskId("555".into()));
    let out = tokio::time::timeout(Duration::from_secs(10), engine.run(ctx)).await.unwrap().unwrap();
    assert_eq!(out.extension, "png");
    assert_eq!(fake.count("/task/openapi/upload"), 0);
    assert_eq!(fake.count("/task/openapi/create"), 0);
}

#[tokio::test]
async fn engine_turns_421_into_lane_busy_without_a_second_create() {
    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        _ => code(421, "TASK_QUEUE_MAXED"),
    })
    .await;
    let err = engine(&fake, Duration::from_millis(20)).run(context()).await.unwrap_err();
    assert!(
        matches!(err, EngineError::LaneBusy { retry_after } if retry_after == Duration::from_secs(2)),
        "{err:?}"
    );
    assert_eq!(fake.count("/task/openapi/create"), 1);
    assert_eq!(fake.count("/task/openapi/outputs"), 0);
}

#[tokio::test]
async fn engine_turns_a_refused_key_into_lane_refused() {
    let fake = Fake::start(|_, _, _| code(802, "APIKEY_UNAUTHORIZED")).await;
    let err = engine(&fake, Duration::from_millis(20)).run(context()).await.unwrap_err();
    assert!(matches!(err, EngineError::LaneRefused(ref why) if why.contains("802")), "{err:?}");
    assert_eq!(fake.count("/task/openapi/create"), 0);
}

#[tokio::test]
async fn engine_reports_a_failed_task_with_its_reason() {
    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        "/task/openapi/create" => ok(json!({"taskId": 555})),
        _ => Reply::Json(json!({"code": 805, "msg": "APIKEY_TASK_STATUS_ERROR", "data": {"failedReason": {
            "exception_type": "RuntimeError", "exception_message": "CUDA out of memory", "node_id": "9"}}})),
    })
    .await;
    let err = engine(&fake, Duration::from_millis(20)).run(context()).await.unwrap_err();
    match err {
        EngineError::Failed(FailReason::Provider(reason)) => {
            assert_eq!(reason, "RuntimeError: CUDA out of memory (node 9)")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.count("/task/openapi/outputs"), 1, "805 is recognised at once");
}

#[tokio::test]
async fn engine_reports_no_output_and_vanished_tasks() {
    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        "/task/openapi/create" => ok(json!({"taskId": 555})),
        _ => ok(json!([])),
    })
    .await;
    let err = engine(&fake, Duration::from_millis(20)).run(context()).await.unwrap_err();
    assert!(matches!(err, EngineError::Failed(FailReason::NoOutput)), "{err:?}");

    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        "/task/openapi/create" => ok(json!({"taskId": 555})),
        _ => code(807, "APIKEY_TASK_NOT_FOUND"),
    })
    .await;
    let err = engine(&fake, Duration::from_millis(20)).run(context()).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Failed(FailReason::Provider(ref r)) if r.contains("vanished")),
        "{err:?}"
    );
}

#[tokio::test]
async fn engine_cancel_stops_polling_and_cancels_on_the_provider() {
    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        "/task/openapi/create" => ok(json!({"taskId": "555"})),
        "/task/openapi/cancel" => code(0, "success"),
        _ => code(804, "APIKEY_TASK_IS_RUNNING"),
    })
    .await;
    let engine = engine(&fake, Duration::from_millis(20));
    let ctx = context();
    let cancel = ctx.cancel.clone();
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run(ctx).await }
    });
    // Wait (bounded) until it polls, then cancel.
    for _ in 0..200 {
        if fake.count("/task/openapi/outputs") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fake.count("/task/openapi/outputs") >= 2);
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(6), run).await.unwrap().unwrap();
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert_eq!(fake.count("/task/openapi/cancel"), 1);
    let body: Value = serde_json::from_slice(&fake.bodies("/task/openapi/cancel")[0]).unwrap();
    assert_eq!(body["taskId"], "555");
}

#[tokio::test]
async fn engine_cancelled_before_create_creates_nothing() {
    let fake = Fake::start(|_, _, _| ok(json!({"fileName": "api/x.png"}))).await;
    let ctx = context();
    ctx.cancel.cancel();
    let err = engine(&fake, Duration::from_millis(20)).run(ctx).await.unwrap_err();
    assert!(matches!(err, EngineError::Cancelled));
    assert_eq!(fake.count("/task/openapi/create"), 0);
}

#[tokio::test]
async fn engine_waits_through_server_errors_but_gives_up_on_unreadable_answers() {
    // 502 on every poll: the provider says "not now", the task may be fine: keep waiting
    // (only the deadline or a cancel ends it).
    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        "/task/openapi/create" => ok(json!({"taskId": "555"})),
        "/task/openapi/cancel" => code(0, "success"),
        _ => Reply::Status(502),
    })
    .await;
    let ctx = context();
    let cancel = ctx.cancel.clone();
    let patient = engine(&fake, Duration::from_millis(5));
    let run = tokio::spawn(async move { patient.run(ctx).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!run.is_finished(), "server errors are not a reason to give up");
    assert!(fake.count("/task/openapi/outputs") > 30, "more than ten polls' worth");
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(10), run).await.unwrap().unwrap().unwrap_err();
    assert!(matches!(err, EngineError::Cancelled), "{err:?}");

    // Answers that cannot be read, again and again: give up after ten polls.
    let fake = Fake::start(|path, _, _| match path {
        "/task/openapi/upload" => ok(json!({"fileName": "api/x.png"})),
        "/task/openapi/create" => ok(json!({"taskId": "556"})),
        "/task/openapi/cancel" => code(0, "success"),
        _ => Reply::Raw("{\"code\": 0, \"data\": ["),
    })
    .await;
    let err =
        tokio::time::timeout(Duration::from_secs(10), engine(&fake, Duration::from_millis(5)).run(context()))
            .await
            .unwrap()
            .unwrap_err();
    assert!(matches!(err, EngineError::Failed(FailReason::Unavailable(_))), "{err:?}");
    // 10 polls, each tried 3 times by the client.
    assert_eq!(fake.count("/task/openapi/outputs"), 30);
    assert_eq!(fake.count("/task/openapi/cancel"), 1, "the abandoned task is cancelled");
}

#[tokio::test]
async fn engine_polls_at_once_on_a_webhook() {
    let fake = fake_with_base(|base| {
        let inner = happy(base);
        Box::new(move |path: &str, n: usize, body: &[u8]| match path {
            // Done on the first poll, so only the wake-up can make it quick.
            "/task/openapi/outputs" => inner(path, n + 2, body),
            _ => inner(path, n, body),
        })
    })
    .await;
    // A poll interval far longer than the test's bound.
    let engine = engine(&fake, Duration::from_secs(60));
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run(context()).await }
    });
    let started = Instant::now();
    let event = WebhookEvent { task_id: RemoteTaskId("555".into()), progress: TaskProgress::Running };
    while !run.is_finished() && started.elapsed() < Duration::from_secs(5) {
        engine.notify(event.clone(), None);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = tokio::time::timeout(Duration::from_secs(1), run).await.unwrap().unwrap().unwrap();
    assert_eq!(out.extension, "png");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn engine_shrinks_an_image_the_provider_finds_too_large() {
    let fake = fake_with_base(|base| {
        let inner = happy(base);
        // Refuses the big product upload until it has been shrunk.
        Box::new(move |path: &str, n: usize, body: &[u8]| match path {
            "/task/openapi/upload" if body.len() > 200_000 => code(809, "APIKEY_FILE_SIZE_EXCEEDED"),
            _ => inner(path, n, body),
        })
    })
    .await;
    let product = noisy_png(300, 300);
    let original = product.len();
    assert!(original > 200_000);
    let engine = engine(&fake, Duration::from_millis(20));
    let out = tokio::time::timeout(Duration::from_secs(20), engine.run(context_with(product)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.extension, "png");
    assert_eq!(fake.count("/task/openapi/upload"), 3);
    let sizes: Vec<usize> = fake.bodies("/task/openapi/upload").iter().map(Bytes::len).collect();
    assert!(sizes.iter().any(|&s| s < original / 2 + 1024), "{sizes:?} vs {original}");
    let uploads: Vec<String> =
        fake.bodies("/task/openapi/upload").iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    assert!(uploads.iter().any(|b| b.contains(".jpg\"")), "the retry is a re-encoded JPEG");
}

#[tokio::test]
async fn engine_shrinks_inputs_over_the_upload_limit_before_sending() {
    let fake = fake_with_base(|base| Box::new(happy(base))).await;
    let account = RunningHubAccount {
        lane: LaneId(1),
        api_key: key(),
        max_jobs: 1,
        workflow_id: "wf-1".into(),
        app_id: None,
    };
    let settings = RunningHubSettings { max_upload_bytes: 100_000, ..settings(Duration::from_millis(20)) };
    let engine = RunningHubEngine::new(client_of(&fake), vec![account], settings);
    let product = noisy_png(300, 300);
    assert!(product.len() > 100_000);
    let out = tokio::time::timeout(Duration::from_secs(20), engine.run(context_with(product)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.extension, "png");
    assert_eq!(fake.count("/task/openapi/upload"), 2, "no 809 round trip needed");
    let bodies = fake.bodies("/task/openapi/upload");
    let product_upload = bodies
        .iter()
        .find(|b| String::from_utf8_lossy(b).contains("filename=\"product.jpg\""))
        .expect("the product went up as a JPEG");
    assert!(product_upload.len() < 100_000 + 1024);
}
