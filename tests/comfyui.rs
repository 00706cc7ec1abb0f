//! The ComfyUI engine against the fake ComfyUI: a job end to end, failures with their
//! reasons, cancel while pending and while running, resume after a suspend, and a server
//! that is down. Every wait is bounded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backdrop::comfyui_api::{ClientOptions, ComfyError, RetryPolicy};
use backdrop::engine::comfyui::{ComfyUiEngine, ComfyUiSettings};
use backdrop::engine::{Engine, EngineError, RunContext};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{FailReason, ImageSource, JobId, JobInput, JobOutput, LaneId, RemoteTaskId};
use backdrop_fakes::comfyui::{Endpoint, FakeComfyUi, PromptPhase, PromptScript};
use backdrop_fakes::image_bytes::solid_png;
use serde_json::{Value, json};

const POLL: Duration = Duration::from_millis(10);
const BOUND: Duration = Duration::from_secs(15);

fn product_png() -> Vec<u8> {
    solid_png(8, 6, [200, 120, 40])
}

fn background_png() -> Vec<u8> {
    solid_png(12, 9, [30, 90, 160])
}

fn input() -> JobInput {
    let parse = |bytes| InputImage::parse(bytes, &ImageLimits::default()).expect("a valid PNG");
    JobInput {
        product: ImageSource::Memory(parse(product_png())),
        background: ImageSource::Memory(parse(background_png())),
    }
}

fn sample_workflow() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/comfyui-workflow.json");
    ComfyUiEngine::load_workflow(&path).expect("the sample workflow loads")
}

fn engine_with(fake_url: &str, workflow: Value) -> Arc<ComfyUiEngine> {
    let settings = ComfyUiSettings {
        url: reqwest::Url::parse(fake_url).expect("the fake's URL"),
        workflow,
        product_node: "2".into(),
        background_node: "32".into(),
        poll_interval: POLL,
        max_jobs: 1,
    };
    let options = ClientOptions {
        request_timeout: Duration::from_secs(5),
        transfer_timeout: Duration::from_secs(5),
        retry: RetryPolicy::immediate(),
    };
    Arc::new(ComfyUiEngine::with_options(settings, options).expect("valid settings"))
}

fn engine(fake: &FakeComfyUi) -> Arc<ComfyUiEngine> {
    engine_with(&fake.url(), sample_workflow())
}

fn ctx(job: u64) -> RunContext {
    RunContext::detached(JobId(job), LaneId(1), input())
}

async fn run(engine: &ComfyUiEngine, ctx: RunContext) -> Result<JobOutput, EngineError> {
    tokio::time::timeout(BOUND, engine.run(ctx)).await.expect("the run ends in time")
}

fn reason(result: Result<JobOutput, EngineError>) -> FailReason {
    match result {
        Err(EngineError::Failed(reason)) => reason,
        Err(other) => panic!("expected a failure, got {other:?}"),
        Ok(_) => panic!("expected a failure, got a result"),
    }
}

/// The id of the `n`th prompt (1-based) once the fake has it.
async fn nth_prompt(fake: &FakeComfyUi, n: usize) -> String {
    assert!(fake.wait_until(|f| f.prompts().len() >= n, BOUND).await, "prompt {n} is queued in time");
    fake.prompts()[n - 1].prompt_id.clone()
}

#[tokio::test]
async fn a_job_uploads_both_images_queues_the_workflow_and_downloads_the_result() {
    let fake = FakeComfyUi::start().await;
    let engine = engine(&fake);
    let output = run(&engine, ctx(7)).await.expect("the job succeeds");
    assert_eq!(output.extension, "png");
    assert!(image::load_from_memory(&output.image).is_ok());

    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads.iter().all(|u| u.kind == "input" && u.overwrite.as_deref() == Some("true")));
    let by_bytes = |bytes: Vec<u8>| uploads.iter().find(|u| u.bytes == bytes).expect("uploaded").name.clone();
    let (product, background) = (by_bytes(product_png()), by_bytes(background_png()));
    assert_ne!(product, background);

    let prompts = fake.prompts();
    assert_eq!(prompts.len(), 1);
    let queued = &prompts[0];
    assert_eq!(queued.image_of("2"), Some(product));
    assert_eq!(queued.image_of("32"), Some(background));
    assert!(queued.body["client_id"].as_str().is_some_and(|c| c.contains('7')), "{}", queued.body);
    // Everything but the two images is the operator's workflow, untouched.
    let sample = sample_workflow();
    for node in ["9", "40", "41", "50"] {
        assert_eq!(queued.workflow()[node], sample[node], "node {node}");
    }
    assert_eq!(fake.phase(&queued.prompt_id), Some(PromptPhase::Succeeded));
    assert_eq!(fake.calls(Endpoint::View), 1);
}

#[tokio::test]
async fn an_execution_error_fails_the_job_with_its_exception_message() {
    let fake = FakeComfyUi::start().await;
    fake.push_script(PromptScript::fail(Duration::from_millis(30), "CUDA out of memory"));
    let engine = engine(&fake);
    match reason(run(&engine, ctx(1)).await) {
        FailReason::Provider(why) => assert!(why.contains("CUDA out of memory"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.calls(Endpoint::View), 0);
}

#[tokio::test]
async fn a_finished_prompt_without_images_is_no_output() {
    let fake = FakeComfyUi::start().await;
    fake.push_script(PromptScript::no_output(Duration::from_millis(20)));
    let engine = engine(&fake);
    assert_eq!(reason(run(&engine, ctx(1)).await), FailReason::NoOutput);
}

#[tokio::test]
async fn an_invalid_workflow_is_refused_with_the_node_errors() {
    let fake = FakeComfyUi::start().await;
    let mut workflow = sample_workflow();
    // A third LoadImage pointing at a file the server does not have.
    workflow["60"] = json!({"class_type": "LoadImage", "inputs": {"image": "missing.png"}});
    let engine = engine_with(&fake.url(), workflow);
    match reason(run(&engine, ctx(1)).await) {
        FailReason::Provider(why) => {
            assert!(why.contains("node 60 (LoadImage)"), "{why}");
            assert!(why.contains("Value not in list"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.prompts().is_empty());

    // An unknown node class: refused with the server's error object.
    let mut workflow = sample_workflow();
    workflow["70"] = json!({"class_type": "NotInstalledNode", "inputs": {}});
    let engine = engine_with(&fake.url(), workflow);
    match reason(run(&engine, ctx(2)).await) {
        FailReason::Provider(why) => assert!(why.contains("NotInstalledNode does not exist"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cancel_deletes_a_pending_prompt_and_interrupts_a_running_one() {
    let fake = FakeComfyUi::start().await;
    fake.set_default_script(PromptScript::never_finish());
    let engine = engine(&fake);

    let running_ctx = ctx(1);
    let cancel_running = running_ctx.cancel.clone();
    let e = engine.clone();
    let running = tokio::spawn(async move { run(&e, running_ctx).await });
    let running_id = nth_prompt(&fake, 1).await;

    let pending_ctx = ctx(2);
    let cancel_pending = pending_ctx.cancel.clone();
    let e = engine.clone();
    let pending = tokio::spawn(async move { run(&e, pending_ctx).await });
    let pending_id = nth_prompt(&fake, 2).await;
    assert_eq!(fake.phase(&running_id), Some(PromptPhase::Running));
    assert_eq!(fake.phase(&pending_id), Some(PromptPhase::Pending));

    cancel_pending.cancel();
    let result = tokio::time::timeout(BOUND, pending).await.expect("in time").expect("no panic");
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert_eq!(fake.deletes(), vec![pending_id.clone()]);
    assert_eq!(fake.phase(&pending_id), Some(PromptPhase::Deleted));
    assert!(fake.interrupts().is_empty(), "a pending prompt is never interrupted");
    assert_eq!(fake.phase(&running_id), Some(PromptPhase::Running));

    cancel_running.cancel();
    let result = tokio::time::timeout(BOUND, running).await.expect("in time").expect("no panic");
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert_eq!(fake.interrupts(), vec![Some(running_id.clone())]);
    assert_eq!(fake.phase(&running_id), Some(PromptPhase::Interrupted));
    assert_eq!(fake.deletes().len(), 1);
}

#[tokio::test]
async fn a_suspended_run_leaves_the_prompt_and_a_resumed_one_polls_it_without_queueing_again() {
    let fake = FakeComfyUi::start().await;
    fake.set_default_script(PromptScript::succeed(Duration::from_millis(300)));
    let engine = engine(&fake);

    let first = ctx(1);
    let suspend = first.suspend.clone();
    let e = engine.clone();
    let handle = tokio::spawn(async move { run(&e, first).await });
    let id = nth_prompt(&fake, 1).await;
    suspend.cancel();
    let result = tokio::time::timeout(BOUND, handle).await.expect("in time").expect("no panic");
    assert!(matches!(result, Err(EngineError::Suspended)), "{result:?}");
    assert!(fake.deletes().is_empty() && fake.interrupts().is_empty(), "the prompt is left running");

    let mut resumed = ctx(1);
    resumed.resume = Some(RemoteTaskId(id.clone()));
    let output = run(&engine, resumed).await.expect("the resumed job succeeds");
    assert!(image::load_from_memory(&output.image).is_ok());
    assert_eq!(fake.prompts().len(), 1, "no second prompt");
    assert_eq!(fake.uploads().len(), 2, "no second upload");
    assert_eq!(fake.phase(&id), Some(PromptPhase::Succeeded));
}

#[tokio::test]
async fn resuming_a_prompt_the_server_forgot_fails_clearly() {
    let fake = FakeComfyUi::start().await;
    let engine = engine(&fake);
    let mut resumed = ctx(1);
    resumed.resume = Some(RemoteTaskId("0b7c7f8e-0000-4000-8000-000000000000".into()));
    match reason(run(&engine, resumed).await) {
        FailReason::Provider(why) => assert!(why.contains("vanished"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(fake.prompts().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_makes_the_job_unavailable() {
    let fake = FakeComfyUi::start().await;
    let url = fake.url();
    fake.shutdown();
    drop(fake);
    // Give the listener a moment to close.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let engine = engine_with(&url, sample_workflow());
    assert!(matches!(reason(run(&engine, ctx(1)).await), FailReason::Unavailable(_)));
}

#[tokio::test]
async fn a_server_that_goes_down_while_polled_makes_the_job_unavailable() {
    let fake = FakeComfyUi::start().await;
    fake.set_default_script(PromptScript::never_finish());
    let engine = engine(&fake);
    let e = engine.clone();
    let handle = tokio::spawn(async move { run(&e, ctx(1)).await });
    nth_prompt(&fake, 1).await;
    fake.shutdown();
    let result = tokio::time::timeout(BOUND, handle).await.expect("in time").expect("no panic");
    assert!(matches!(reason(result), FailReason::Unavailable(_)));
}

#[tokio::test]
async fn transient_server_errors_are_retried() {
    let fake = FakeComfyUi::start().await;
    fake.fail_next(Endpoint::Upload, 502, 1);
    fake.fail_next(Endpoint::History, 500, 2);
    fake.fail_next(Endpoint::View, 503, 1);
    let engine = engine(&fake);
    run(&engine, ctx(1)).await.expect("the job succeeds despite the hiccups");
    assert_eq!(fake.prompts().len(), 1);
    // A 500 on /prompt is not repeated: the workflow might have been queued.
    fake.fail_next(Endpoint::Prompt, 500, 1);
    assert!(matches!(reason(run(&engine, ctx(2)).await), FailReason::Unavailable(_)));
    assert_eq!(fake.calls(Endpoint::Prompt), 2);
}

#[test]
fn workflows_in_the_ui_format_are_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ui.json");
    std::fs::write(&path, r#"{"last_node_id": 9, "nodes": [], "links": [], "version": 0.4}"#).unwrap();
    match ComfyUiEngine::load_workflow(&path) {
        Err(ComfyError::Workflow(why)) => assert!(why.contains("Export (API)"), "{why}"),
        other => panic!("{other:?}"),
    }
}
