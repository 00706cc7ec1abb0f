//! RunningHub's AI apps and v2 API (`RUNNINGHUB_API_MODE=app|v2`): the client's requests
//! and its reading of the answers on the wire (a scripted server), the fake refusing what
//! the real service refuses, and jobs through the real engine and queue in each mode.
//! Every wait is bounded.

mod support;

use std::sync::Arc;
use std::time::Duration;

use backdrop::config::{Settings, Vars};
use backdrop::engine::runninghub::{RunningHubSettings, SeedNode};
use backdrop::job::{FailReason, JobId, JobState, LaneId};
use backdrop::queue::QueueConfig;
use backdrop::runninghub_api::{
    ApiMode, ClientOptions, ErrorAction, NodeInput, RetryPolicy, RhError, RunningHubClient, Target,
    TaskProgress,
};
use backdrop::secret::Secret;
use backdrop::shutdown::ShutdownMode;
use backdrop_fakes::runninghub::{Endpoint, FakeRunningHub, Fault, TaskScript};
use backdrop_fakes::scripted::{Reply, ScriptedServer};
use bytes::Bytes;
use serde_json::{Value, json};
use support::{WORKFLOW, input, key};

const KEY: &str = "sk-made-up-key-for-tests-0123456789";
const APP: &str = "1877265245566922753";
const TASK: &str = "2013508786110730241";
const POLL: Duration = Duration::from_millis(10);

fn client(base: &str, mode: ApiMode) -> RunningHubClient {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(2),
        transfer_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
    };
    RunningHubClient::new(&reqwest::Url::parse(base).expect("a URL"), options).unwrap().with_mode(mode)
}

fn secret() -> Secret {
    Secret::new(KEY)
}

fn nodes() -> Vec<NodeInput> {
    vec![
        NodeInput { node_id: "2".into(), field_name: "image".into(), field_value: "api/p.png".into() },
        NodeInput { node_id: "32".into(), field_name: "image".into(), field_value: "api/b.png".into() },
    ]
}

fn nodes_json() -> Value {
    json!([{"nodeId": "2", "fieldName": "image", "fieldValue": "api/p.png"},
           {"nodeId": "32", "fieldName": "image", "fieldValue": "api/b.png"}])
}

fn ok(data: Value) -> Reply {
    Reply::Json(json!({"code": 0, "msg": "success", "data": data}))
}

fn created() -> Reply {
    ok(json!({"netWssUrl": null, "taskId": TASK, "clientId": "e825", "taskStatus": "QUEUED",
        "promptTips": "{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"9\"], \"node_errors\": {}}"}))
}

/// A flat v2 answer: `status`, no error, and `extra` fields.
fn flat(status: &str, extra: Value) -> Reply {
    let mut body = json!({"taskId": TASK, "status": status, "errorCode": "", "errorMessage": "",
        "results": null, "clientId": "f828", "promptTips": ""});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    Reply::Json(body)
}

fn v2_error(code: &str, message: &str) -> Reply {
    Reply::Json(
        json!({"taskId": "", "status": "", "errorCode": code, "errorMessage": message, "results": null}),
    )
}

fn body_of(fake: &ScriptedServer, path: &str, n: usize) -> Value {
    serde_json::from_slice(&fake.bodies(path)[n]).expect("a JSON body")
}

fn assert_no_key(e: &impl std::fmt::Debug) {
    let text = format!("{e:?}");
    assert!(!text.contains(KEY), "the key leaked: {text}");
}

// ---- AI apps on the legacy openapi ------------------------------------------------------

#[tokio::test]
async fn an_app_run_sends_the_app_id_key_and_nodes_and_results_come_through_outputs() {
    let fake = ScriptedServer::start(|path, _, _| match path {
        "/task/openapi/ai-app/run" => created(),
        "/task/openapi/outputs" => {
            ok(json!([{"fileUrl": "https://x/o.png", "fileType": "png", "nodeId": "9"}]))
        }
        "/task/openapi/cancel" => ok(Value::Null),
        _ => Reply::Status(404),
    })
    .await;
    let client = client(fake.url(), ApiMode::App);
    let task =
        client.run_task(&secret(), Target::App(APP), &nodes(), Some("https://bot/hook/1")).await.unwrap();
    assert_eq!(task.0, TASK);
    assert_eq!(
        body_of(&fake, "/task/openapi/ai-app/run", 0),
        json!({"webappId": APP, "apiKey": KEY, "nodeInfoList": nodes_json(), "webhookUrl": "https://bot/hook/1"})
    );
    // The legacy modes never send the key in a header.
    assert_eq!(fake.authorizations("/task/openapi/ai-app/run"), vec![None]);
    assert_eq!(fake.count("/task/openapi/create"), 0);

    let progress = client.outputs(&secret(), &task).await.unwrap();
    assert!(matches!(progress, TaskProgress::Succeeded(ref o) if o[0].file_url == "https://x/o.png"));
    assert_eq!(body_of(&fake, "/task/openapi/outputs", 0), json!({"apiKey": KEY, "taskId": TASK}));
    client.cancel(&secret(), &task).await.unwrap();
    assert_eq!(fake.count("/task/openapi/cancel"), 1);
}

#[tokio::test]
async fn app_run_errors_follow_the_table_and_lost_answers_are_unconfirmed() {
    let fake = ScriptedServer::start(|_, n, _| match n {
        1 => Reply::Json(json!({"code": 421, "msg": "TASK_QUEUE_MAXED", "data": null})),
        2 => Reply::Json(json!({"code": 380, "msg": "WEBAPP_NOT_EXISTS", "data": null})),
        3 => Reply::Json(json!({"code": 802, "msg": "APIKEY_UNAUTHORIZED", "data": null})),
        _ => Reply::Status(504),
    })
    .await;
    let client = client(fake.url(), ApiMode::App);
    let key = secret();
    let run = || client.run_task(&key, Target::App(APP), &[], None);
    assert!(matches!(run().await.unwrap_err().action(), ErrorAction::AccountBusy { .. }));
    assert_eq!(run().await.unwrap_err().action(), ErrorAction::AccountRefused);
    let refused = run().await.unwrap_err();
    assert_eq!(refused.action(), ErrorAction::AccountRefused);
    assert_no_key(&refused);
    // A gateway's 504 after the body left: the task may exist, so it is not sent again.
    assert!(matches!(run().await.unwrap_err(), RhError::Unconfirmed(_)));
    assert_eq!(fake.count("/task/openapi/ai-app/run"), 4, "none of them was repeated");
}

// ---- the v2 API -------------------------------------------------------------------------

#[tokio::test]
async fn a_v2_run_puts_the_id_in_the_path_and_the_key_in_a_bearer_header() {
    let fake = ScriptedServer::start(|path, _, _| match path {
        p if p.starts_with("/openapi/v2/run/") => flat(
            "RUNNING",
            json!({"promptTips": "{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"4\"], \"node_errors\": {}}"}),
        ),
        _ => Reply::Status(404),
    })
    .await;
    let client = client(fake.url(), ApiMode::V2);
    let app = format!("/openapi/v2/run/ai-app/{APP}");
    let task =
        client.run_task(&secret(), Target::App(APP), &nodes(), Some("https://bot/hook/1")).await.unwrap();
    assert_eq!(task.0, TASK);
    assert_eq!(
        body_of(&fake, &app, 0),
        json!({"nodeInfoList": nodes_json(), "webhookUrl": "https://bot/hook/1"})
    );
    assert_eq!(fake.authorizations(&app), vec![Some(format!("Bearer {KEY}"))]);

    let workflow = format!("/openapi/v2/run/workflow/{WORKFLOW}");
    client.run_task(&secret(), Target::Workflow(WORKFLOW), &nodes(), None).await.unwrap();
    assert_eq!(body_of(&fake, &workflow, 0), json!({"nodeInfoList": nodes_json()}));
    assert_eq!(fake.authorizations(&workflow), vec![Some(format!("Bearer {KEY}"))]);

    // An id that would change the path is refused before anything is sent.
    let err = client.run_task(&secret(), Target::App("1/../../x"), &[], None).await.unwrap_err();
    assert!(matches!(err, RhError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn a_v2_run_refused_or_unreadable_is_reported_as_the_table_says() {
    let fake = ScriptedServer::start(|_, n, _| match n {
        1 => v2_error("421", "TASK_QUEUE_MAXED"),
        2 => v2_error("802", "APIKEY_UNAUTHORIZED"),
        3 => Reply::Status(401),
        4 => v2_error("404", "WEBAPP_NOT_EXISTS"),
        5 => v2_error("1101", "Node info error"),
        // Retried: no task can exist after a 503.
        6 => Reply::Status(503),
        7 => flat("QUEUED", json!({})),
        // A success without a task id: the task may exist, it cannot be named.
        _ => Reply::Json(json!({"status": "QUEUED", "errorCode": "", "errorMessage": ""})),
    })
    .await;
    let client = client(fake.url(), ApiMode::V2);
    let key = secret();
    let run = || client.run_task(&key, Target::App(APP), &[], None);
    assert!(matches!(run().await.unwrap_err().action(), ErrorAction::AccountBusy { .. }));
    assert_eq!(run().await.unwrap_err().action(), ErrorAction::AccountRefused);
    assert_eq!(run().await.unwrap_err().action(), ErrorAction::AccountRefused);
    assert_eq!(run().await.unwrap_err().action(), ErrorAction::AccountRefused);
    let node_error = run().await.unwrap_err();
    assert_eq!(node_error, RhError::Api { code: 1101, msg: "Node info error".into() });
    assert_eq!(run().await.unwrap().0, TASK);
    assert!(matches!(run().await.unwrap_err(), RhError::Unconfirmed(_)));
    assert_eq!(fake.count(&format!("/openapi/v2/run/ai-app/{APP}")), 8);
}

#[tokio::test]
async fn a_v2_query_reads_the_flat_status_and_results() {
    let fake = ScriptedServer::start(|_, n, _| match n {
        1 => flat("QUEUED", json!({})),
        2 => flat("RUNNING", json!({})),
        3 => flat(
            "SUCCESS",
            json!({"results": [{"url": "https://rh-images.example/o.png", "nodeId": "2", "outputType": "png", "text": null}],
                "usage": {"consumeMoney": null, "consumeCoins": null, "taskCostTime": "0"}}),
        ),
        4 => Reply::Json(json!({"taskId": TASK, "status": "FAILED", "errorCode": "805",
            "errorMessage": "APIKEY_TASK_STATUS_ERROR", "failedReason": {"node_id": "3",
            "exception_type": "RuntimeError", "exception_message": "CUDA out of memory"}})),
        5 => v2_error("807", "APIKEY_TASK_NOT_FOUND"),
        _ => v2_error("802", "APIKEY_UNAUTHORIZED"),
    })
    .await;
    let client = client(fake.url(), ApiMode::V2);
    let task = backdrop::job::RemoteTaskId(TASK.into());
    let key = secret();
    let poll = || client.outputs(&key, &task);
    assert_eq!(poll().await.unwrap(), TaskProgress::Queued);
    assert_eq!(poll().await.unwrap(), TaskProgress::Running);
    match poll().await.unwrap() {
        TaskProgress::Succeeded(outputs) => {
            assert_eq!(outputs[0].file_url, "https://rh-images.example/o.png");
            assert!(outputs[0].is_image());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(poll().await.unwrap(), TaskProgress::Failed(ref r) if r.contains("CUDA out of memory")));
    assert_eq!(poll().await.unwrap(), TaskProgress::NotFound);
    let refused = poll().await.unwrap_err();
    assert_eq!(refused.action(), ErrorAction::AccountRefused);
    assert_no_key(&refused);
    assert_eq!(body_of(&fake, "/openapi/v2/query", 0), json!({"taskId": TASK}));
    assert!(
        fake.authorizations("/openapi/v2/query")
            .iter()
            .all(|a| a.as_deref() == Some(&format!("Bearer {KEY}")))
    );
    assert_eq!(fake.count("/task/openapi/outputs"), 0);
}

#[tokio::test]
async fn a_v2_upload_sends_the_file_alone_with_the_bearer_header() {
    let fake = ScriptedServer::start(|_, n, _| match n {
        1 => Reply::Json(json!({"code": 0, "message": "success", "data": {"type": "image",
            "download_url": "https://rh-images.example/openapi/a.png", "fileName": "openapi/a.png", "size": "3490"}})),
        _ => Reply::Json(json!({"code": 809, "message": "APIKEY_FILE_SIZE_EXCEEDED", "data": null})),
    })
    .await;
    let client = client(fake.url(), ApiMode::V2);
    let png = Bytes::from(backdrop_fakes::image_bytes::solid_png(2, 2, [1, 2, 3]));
    assert_eq!(client.upload(&secret(), png.clone(), "product.png").await.unwrap(), "openapi/a.png");
    let path = "/openapi/v2/media/upload/binary";
    let body = String::from_utf8_lossy(&fake.bodies(path)[0]).into_owned();
    assert!(body.contains("name=\"file\"") && body.contains("filename=\"product.png\""), "{body}");
    assert!(!body.contains("apiKey") && !body.contains(KEY), "the key stays out of the form");
    assert_eq!(fake.authorizations(path), vec![Some(format!("Bearer {KEY}"))]);
    let err = client.upload(&secret(), png, "product.png").await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::FileTooLarge);
    assert_eq!(fake.count("/task/openapi/upload"), 0);
}

#[tokio::test]
async fn v2_cancel_and_account_status_keep_their_paths_with_the_bearer_header_too() {
    let fake = ScriptedServer::start(|path, _, _| match path {
        "/task/openapi/cancel" => ok(Value::Null),
        _ => ok(json!({"remainCoins": "10", "currentTaskCounts": "1", "apiType": "NORMAL"})),
    })
    .await;
    let client = client(fake.url(), ApiMode::V2);
    client.cancel(&secret(), &backdrop::job::RemoteTaskId(TASK.into())).await.unwrap();
    assert_eq!(body_of(&fake, "/task/openapi/cancel", 0), json!({"apiKey": KEY, "taskId": TASK}));
    assert_eq!(fake.authorizations("/task/openapi/cancel"), vec![Some(format!("Bearer {KEY}"))]);
    assert_eq!(client.account_status(&secret()).await.unwrap().current_task_counts, Some(1));
}

// ---- the fake refuses what RunningHub refuses --------------------------------------------

#[tokio::test]
async fn the_fake_refuses_a_wrong_key_header_or_app() {
    let fake = FakeRunningHub::start().await;
    fake.add_account(&key(1), 1);
    fake.set_apps(&key(1), &[APP]);
    fake.set_default_script(TaskScript::never_finish());
    let png = || Bytes::from(backdrop_fakes::image_bytes::solid_png(4, 4, [1, 2, 3]));
    let v2 = client(&fake.url(), ApiMode::V2);
    let good = Secret::new(key(1));
    let bad = Secret::new("key-unknown");

    // v2: the Bearer key counts; a key the fake does not know is refused everywhere.
    let file = v2.upload(&good, png(), "p.png").await.unwrap();
    assert!(file.starts_with("openapi/"), "{file}");
    assert_eq!(v2.upload(&bad, png(), "p.png").await.unwrap_err().action(), ErrorAction::AccountRefused);
    let image = |value: &str| {
        vec![NodeInput { node_id: "2".into(), field_name: "image".into(), field_value: value.into() }]
    };
    let refused = v2.run_task(&bad, Target::App(APP), &image(&file), None).await.unwrap_err();
    assert_eq!(refused.action(), ErrorAction::AccountRefused);
    let wrong_app =
        v2.run_task(&good, Target::App("1937084629516193794"), &image(&file), None).await.unwrap_err();
    assert_eq!(wrong_app.action(), ErrorAction::AccountRefused, "{wrong_app:?}");
    let task = v2.run_task(&good, Target::App(APP), &image(&file), None).await.unwrap();
    assert!(matches!(v2.outputs(&bad, &task).await.unwrap_err().action(), ErrorAction::AccountRefused));

    // Legacy app runs: the key in the body, the webappId checked.
    let app = client(&fake.url(), ApiMode::App);
    let file = app.upload(&good, png(), "p.png").await.unwrap();
    let err = app.run_task(&good, Target::App("1937084629516193794"), &image(&file), None).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::AccountRefused, "{err:?}");
    let err = app.run_task(&bad, Target::App(APP), &image(&file), None).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::AccountRefused);
    // The account's limit (1) holds across APIs: the v2 task is still running.
    let busy = app.run_task(&good, Target::App(APP), &image(&file), None).await.unwrap_err();
    assert!(matches!(busy.action(), ErrorAction::AccountBusy { .. }), "{busy:?}");
    let tasks = fake.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].app_id.as_deref(), tasks[0].v2), (Some(APP), true));

    // The key in the wrong place is no key: the body on a v2 path, the header on a legacy one.
    let http = reqwest::Client::new();
    let query = json!({"apiKey": key(1), "taskId": tasks[0].id});
    let answer: Value = http
        .post(format!("{}/openapi/v2/query", fake.url()))
        .json(&query)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (answer["errorCode"].as_str(), answer["taskId"].as_str()),
        (Some("802"), Some("")),
        "{answer}"
    );
    let answer: Value = http
        .post(format!("{}/task/openapi/outputs", fake.url()))
        .bearer_auth(key(1))
        .json(&json!({"taskId": tasks[0].id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["code"], 802, "{answer}");
}

// ---- jobs through the engine and the queue -----------------------------------------------

async fn ended(rx: &mut tokio::sync::watch::Receiver<JobState>) -> JobState {
    support::settled_within(rx, Duration::from_secs(20)).await
}

async fn harness(mode: ApiMode, app: Option<&str>, settings: RunningHubSettings) -> support::Harness {
    let fake = FakeRunningHub::start().await;
    fake.add_account(&key(1), 2);
    fake.set_default_script(TaskScript::succeed(Duration::from_millis(50)));
    support::spawn_in_mode(fake, &[2], settings, Duration::from_secs(10), mode, app)
}

fn poll_settings() -> RunningHubSettings {
    RunningHubSettings { poll_interval: POLL, ..RunningHubSettings::default() }
}

fn assert_delivered_png(state: JobState) {
    let JobState::Delivering(output) = state else { panic!("not done: {state:?}") };
    assert_eq!(output.extension, "png");
    assert!(image::load_from_memory(&output.image).is_ok());
}

#[tokio::test]
async fn an_ai_app_job_is_uploaded_run_polled_and_downloaded() {
    let h = harness(ApiMode::App, Some(APP), poll_settings()).await;
    h.fake.set_apps(&key(1), &[APP]);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert_delivered_png(ended(&mut rx).await);
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].app_id.as_deref(), tasks[0].v2), (Some(APP), false));
    let nodes: Vec<_> =
        tasks[0].node_inputs.iter().map(|n| (n.node_id.as_str(), n.field_name.as_str())).collect();
    assert_eq!(nodes, vec![("2", "image"), ("32", "image")]);
    assert_eq!((h.fake.calls(Endpoint::AppRun), h.fake.calls(Endpoint::Create)), (1, 0));
    assert_eq!(h.fake.uploads(&key(1)), 2);
    assert!(h.fake.polls(&tasks[0].id) >= 1, "results come through outputs");
    assert_eq!(h.fake.calls(Endpoint::V2Query), 0);
}

#[tokio::test]
async fn a_v2_app_job_with_its_own_nodes_and_seed_runs_to_a_result() {
    let settings = RunningHubSettings {
        product_node: "7".into(),
        background_node: "8".into(),
        seed_node: Some(SeedNode { node_id: "5".into(), field_name: "seed".into() }),
        ..poll_settings()
    };
    let h = harness(ApiMode::V2, Some(APP), settings).await;
    h.fake.set_apps(&key(1), &[APP]);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert_delivered_png(ended(&mut rx).await);
    let tasks = h.fake.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].app_id.as_deref(), tasks[0].v2), (Some(APP), true));
    let nodes: Vec<_> =
        tasks[0].node_inputs.iter().map(|n| (n.node_id.as_str(), n.field_name.as_str())).collect();
    assert_eq!(nodes, vec![("7", "image"), ("8", "image"), ("5", "seed")]);
    assert!(tasks[0].node_inputs[0].field_value.starts_with("openapi/"));
    assert_eq!(h.fake.calls(Endpoint::V2Upload), 2);
    assert_eq!(h.fake.calls(Endpoint::V2Run), 1);
    assert!(h.fake.calls(Endpoint::V2Query) >= 1);
    let legacy = [Endpoint::Upload, Endpoint::Create, Endpoint::AppRun, Endpoint::Outputs];
    assert!(legacy.iter().all(|&e| h.fake.calls(e) == 0), "nothing went to the legacy paths");
}

#[tokio::test]
async fn a_v2_workflow_job_runs_and_a_cancel_reaches_the_provider() {
    let h = harness(ApiMode::V2, None, poll_settings()).await;
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert_delivered_png(ended(&mut rx).await);
    let tasks = h.fake.tasks();
    assert_eq!(
        (tasks[0].workflow_id.as_str(), tasks[0].app_id.as_deref(), tasks[0].v2),
        (WORKFLOW, None, true)
    );

    h.fake.set_default_script(TaskScript::never_finish());
    let mut rx = h.queue.submit(JobId(2), input()).unwrap();
    let task = support::created_task(&mut rx).await;
    assert!(h.queue.cancel(JobId(2)));
    assert!(matches!(ended(&mut rx).await, JobState::Cancelled));
    assert_eq!(h.fake.cancelled_tasks(), vec![task.0]);
}

#[tokio::test]
async fn a_refused_v2_key_takes_its_account_out_of_rotation() {
    let fake = FakeRunningHub::start().await;
    fake.add_account(&key(1), 1);
    fake.add_account(&key(2), 1);
    fake.set_default_script(TaskScript::succeed(Duration::from_millis(20)));
    fake.set_account_error(&key(1), 416, "WALLET_EMPTY");
    let h = support::spawn_in_mode(
        fake,
        &[1, 1],
        poll_settings(),
        Duration::from_secs(10),
        ApiMode::V2,
        Some(APP),
    );
    let mut rxs: Vec<_> = (1..=3).map(|i| h.queue.submit(JobId(i), input()).unwrap()).collect();
    for rx in &mut rxs {
        assert_delivered_png(ended(rx).await);
    }
    let lanes = h.queue.lanes();
    assert!(lanes[0].refused.as_deref().is_some_and(|why| why.contains("416")), "{lanes:?}");
    assert!(h.fake.tasks().iter().all(|t| t.api_key == key(2) && t.v2));
}

#[tokio::test]
async fn a_lost_v2_run_answer_is_repeated_once_when_the_account_has_room_for_both() {
    let h = harness(ApiMode::V2, Some(APP), poll_settings()).await;
    h.fake.inject(Endpoint::V2Run, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    assert_delivered_png(ended(&mut rx).await);
    assert_eq!(h.fake.calls(Endpoint::V2Run), 2, "the lost run was repeated once");
    assert_eq!(h.fake.calls(Endpoint::AccountStatus), 1, "after looking at the account's tasks");
    assert_eq!(h.journal.endings(JobId(1)), 1);
}

#[tokio::test]
async fn a_lost_app_run_answer_is_not_repeated_when_a_second_task_could_go_over_the_limit() {
    let fake = FakeRunningHub::start().await;
    fake.add_account(&key(1), 1);
    fake.set_default_script(TaskScript::never_finish());
    fake.inject(Endpoint::AppRun, Fault::AnswerLost(Box::new(Fault::Hang)), 1);
    let h =
        support::spawn_in_mode(fake, &[1], poll_settings(), Duration::from_secs(10), ApiMode::App, Some(APP));
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let state = ended(&mut rx).await;
    assert!(
        matches!(&state, JobState::Failed(FailReason::Unavailable(why)) if why.contains("charge twice")),
        "{state:?}"
    );
    assert_eq!(h.fake.calls(Endpoint::AppRun), 1);
}

#[tokio::test]
async fn a_v2_task_kept_at_shutdown_is_resumed_by_polling_without_a_second_run() {
    let h = harness(ApiMode::V2, Some(APP), poll_settings()).await;
    h.fake.set_default_script(TaskScript::succeed(Duration::from_millis(600)));
    let mut rx = h.queue.submit(JobId(1), input()).unwrap();
    let task = support::created_task(&mut rx).await;
    h.queue.shutdown(ShutdownMode::Keep).await;
    assert!(h.fake.cancelled_tasks().is_empty());

    // "Restart": a new engine and queue in the same mode, told about the task.
    let h2 = support::spawn_in_mode(
        h.fake.clone(),
        &[2],
        poll_settings(),
        Duration::from_secs(10),
        ApiMode::V2,
        Some(APP),
    );
    let mut rx = h2.queue.resume(JobId(1), input(), LaneId(1), task.clone()).unwrap();
    assert_delivered_png(ended(&mut rx).await);
    assert_eq!(h2.fake.tasks().len(), 1, "no second task was started");
    assert_eq!(h2.fake.calls(Endpoint::V2Run), 1);
    assert!(h2.fake.polls(&task.0) >= 1, "the restart polled the kept task through v2");
}

#[tokio::test]
async fn the_operators_variables_choose_the_mode_and_the_app_of_each_account() {
    let fake = FakeRunningHub::start().await;
    let (key1, key2) = (key(1), key(2));
    fake.add_account(&key1, 1);
    fake.add_account(&key2, 1);
    fake.set_apps(&key1, &[APP]);
    fake.set_apps(&key2, &["1937084629516193794"]);
    fake.set_default_script(TaskScript::succeed(Duration::from_millis(300)));
    let url = fake.url();
    let vars = Vars::from_pairs([
        ("RUNNINGHUB_API_URL", url.as_str()),
        ("RUNNINGHUB_API_MODE", "v2"),
        ("RUNNINGHUB_POLL_INTERVAL_MS", "10"),
        ("RUNNINGHUB_API_KEY_1", key1.as_str()),
        ("RUNNINGHUB_APP_ID_1", APP),
        ("RUNNINGHUB_MAX_JOBS_1", "1"),
        ("RUNNINGHUB_API_KEY_2", key2.as_str()),
        ("RUNNINGHUB_APP_ID_2", "1937084629516193794"),
        ("RUNNINGHUB_MAX_JOBS_2", "1"),
    ]);
    let settings = Settings::from_vars(&vars).expect("valid settings");
    let engine = backdrop::app::runninghub_engine(&settings).expect("an engine");
    assert_eq!(engine.client().mode(), ApiMode::V2);
    let config = QueueConfig { deadline: Duration::from_secs(20), ..QueueConfig::default() };
    let (queue, _journal) = support::queue_with_spy(Arc::new(engine), config);
    // Two jobs at once on two accounts of one slot each: one on each, each with its app.
    let mut rxs: Vec<_> = (1..=2).map(|i| queue.submit(JobId(i), input()).unwrap()).collect();
    for rx in &mut rxs {
        assert_delivered_png(ended(rx).await);
    }
    let mut ran: Vec<_> = fake.tasks().iter().map(|t| (t.api_key.clone(), t.app_id.clone(), t.v2)).collect();
    ran.sort();
    assert_eq!(
        ran,
        vec![(key1, Some(APP.to_owned()), true), (key2, Some("1937084629516193794".to_owned()), true)]
    );
}
