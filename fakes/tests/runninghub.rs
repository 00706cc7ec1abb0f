//! Wire-format tests of the fake RunningHub, driven with reqwest like the real client.

use std::time::{Duration, Instant};

use backdrop_fakes::image_bytes::{dimensions, solid_png};
use backdrop_fakes::{Endpoint, FakeRunningHub, Fault, TaskEnd, TaskScript};
use serde_json::{Value, json};

const KEY: &str = "key-1";

async fn upload(http: &reqwest::Client, rh: &FakeRunningHub, key: &str) -> Value {
    let form = reqwest::multipart::Form::new()
        .text("apiKey", key.to_owned())
        .text("fileType", "image")
        .part("file", reqwest::multipart::Part::bytes(solid_png(8, 8, [1, 2, 3])).file_name("product.png"));
    http.post(format!("{}/task/openapi/upload", rh.url()))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post(http: &reqwest::Client, rh: &FakeRunningHub, path: &str, body: Value) -> Value {
    let resp = http.post(format!("{}{path}", rh.url())).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn create(http: &reqwest::Client, rh: &FakeRunningHub, key: &str, file: &str) -> Value {
    post(
        http,
        rh,
        "/task/openapi/create",
        json!({"apiKey": key, "workflowId": "1871659613585305601",
               "nodeInfoList": [{"nodeId":"2","fieldName":"image","fieldValue":file},
                                {"nodeId":"32","fieldName":"image","fieldValue":file}]}),
    )
    .await
}

fn id_of(v: &Value) -> String {
    match &v["data"]["taskId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("taskId {other}"),
    }
}

#[tokio::test]
async fn full_cycle_upload_create_poll_download() {
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 2);
    rh.push_script(TaskScript::new(
        Duration::from_millis(100),
        Duration::from_millis(150),
        backdrop_fakes::Outcome::Succeed,
    ));
    let http = reqwest::Client::new();

    let up = upload(&http, &rh, KEY).await;
    assert_eq!(up["code"], 0);
    assert_eq!(up["data"]["fileType"], "image");
    let file = up["data"]["fileName"].as_str().unwrap().to_owned();
    assert!(file.starts_with("api/") && file.ends_with(".png"), "{file}");
    assert_eq!(rh.uploads(KEY), 1);
    assert_eq!(rh.uploaded_file(&file).unwrap(), solid_png(8, 8, [1, 2, 3]));

    let created = create(&http, &rh, KEY, &file).await;
    assert_eq!(created["code"], 0, "{created}");
    assert_eq!(created["data"]["taskStatus"], "QUEUED");
    let tips: Value = serde_json::from_str(created["data"]["promptTips"].as_str().unwrap()).unwrap();
    assert_eq!(tips["node_errors"], json!({}));
    let id = id_of(&created);
    assert_eq!(id.len(), 19);
    assert_eq!(rh.running(KEY), 1);

    let poll = json!({"apiKey": KEY, "taskId": id});
    let queued = post(&http, &rh, "/task/openapi/outputs", poll.clone()).await;
    assert_eq!(queued, json!({"code":813,"msg":"APIKEY_TASK_IS_QUEUED","data":null}));
    tokio::time::sleep(Duration::from_millis(130)).await;
    let running = post(&http, &rh, "/task/openapi/outputs", poll.clone()).await;
    assert_eq!(running, json!({"code":804,"msg":"APIKEY_TASK_IS_RUNNING","data":null}));
    let status = post(&http, &rh, "/task/openapi/status", poll.clone()).await;
    assert_eq!(status["data"], "RUNNING");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let done = post(&http, &rh, "/task/openapi/outputs", poll.clone()).await;
    assert_eq!(done["code"], 0);
    let item = &done["data"][0];
    assert_eq!(item["fileType"], "png");
    assert_eq!(item["nodeId"], "9");
    assert!(item["taskCostTime"].is_string() && item["consumeCoins"].is_string());
    let url = item["fileUrl"].as_str().unwrap();
    assert_eq!(url, format!("{}/files/{id}.png", rh.url()));

    let png = http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(dimensions(&png), Some((64, 48)));

    let rec = rh.task(&id).unwrap();
    assert_eq!(rec.end, Some(TaskEnd::Succeeded));
    assert_eq!(rec.node_inputs.len(), 2);
    let finished = rh.finished_at(&id).unwrap();
    assert_eq!(finished - rec.created_at, Duration::from_millis(250));
    assert_eq!(rh.running(KEY), 0);
    assert_eq!(rh.polls(&id), 3);
    assert_eq!(rh.calls(Endpoint::Outputs), 3);
}

#[tokio::test]
async fn limit_answers_421_and_counts_it() {
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 2);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(200)));
    let http = reqwest::Client::new();
    let file = upload(&http, &rh, KEY).await["data"]["fileName"].as_str().unwrap().to_owned();
    assert_eq!(create(&http, &rh, KEY, &file).await["code"], 0);
    assert_eq!(create(&http, &rh, KEY, &file).await["code"], 0);
    let refused = create(&http, &rh, KEY, &file).await;
    assert_eq!(refused, json!({"code":421,"msg":"TASK_QUEUE_MAXED","data":null}));
    assert_eq!(rh.over_limit_attempts(KEY), 1);
    assert_eq!(rh.tasks().len(), 2);
    assert_eq!(rh.max_running_seen(KEY), 2);

    // Cancelling frees a slot at once.
    let first = rh.tasks()[0].id.clone();
    let c = post(&http, &rh, "/task/openapi/cancel", json!({"apiKey":KEY,"taskId":first})).await;
    assert_eq!(c, json!({"code":0,"msg":"success","data":null}));
    assert_eq!(rh.cancelled_tasks(), vec![first.clone()]);
    assert_eq!(create(&http, &rh, KEY, &file).await["code"], 0);

    let acc = post(&http, &rh, "/uc/openapi/accountStatus", json!({"apikey": KEY})).await;
    assert_eq!(acc["data"]["currentTaskCounts"], "2");
    assert_eq!(acc["data"]["remainCoins"], "177814");
    assert_eq!(acc["data"]["apiType"], "NORMAL");
    // The camelCase key is not what accountStatus reads.
    let wrong = post(&http, &rh, "/uc/openapi/accountStatus", json!({"apiKey": KEY})).await;
    assert_eq!(wrong["code"], 802);

    assert!(rh.wait_until(|rh| rh.running(KEY) == 0, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn failures_unknowns_and_account_errors() {
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 5);
    let http = reqwest::Client::new();
    let file = upload(&http, &rh, KEY).await["data"]["fileName"].as_str().unwrap().to_owned();

    rh.push_script(TaskScript::fail(Duration::ZERO, "CUDA out of memory"));
    rh.push_script(TaskScript::no_output(Duration::ZERO));
    let failed = id_of(&create(&http, &rh, KEY, &file).await);
    let empty = id_of(&create(&http, &rh, KEY, &file).await);
    let f = post(&http, &rh, "/task/openapi/outputs", json!({"apiKey":KEY,"taskId":failed})).await;
    assert_eq!(f["code"], 805);
    assert_eq!(f["msg"], "APIKEY_TASK_STATUS_ERROR");
    let reason = &f["data"]["failedReason"];
    assert_eq!(reason["exception_message"], "CUDA out of memory");
    for k in ["node_id", "node_name", "exception_type", "traceback"] {
        assert!(reason[k].is_string(), "{k}");
    }
    let e = post(&http, &rh, "/task/openapi/outputs", json!({"apiKey":KEY,"taskId":empty})).await;
    assert_eq!(e, json!({"code":0,"msg":"success","data":[]}));

    let unknown = json!({"apiKey":KEY,"taskId":"1234567890123456789"});
    assert_eq!(post(&http, &rh, "/task/openapi/outputs", unknown.clone()).await["code"], 807);
    assert_eq!(post(&http, &rh, "/task/openapi/cancel", unknown).await["code"], 807);

    // Unknown key, unknown file, empty workflow.
    assert_eq!(
        create(&http, &rh, "nope", &file).await,
        json!({"code":802,"msg":"APIKEY_UNAUTHORIZED","data":null})
    );
    assert_eq!(create(&http, &rh, KEY, "api/not-uploaded.png").await["code"], 803);
    let r = post(&http, &rh, "/task/openapi/create", json!({"apiKey":KEY,"workflowId":""})).await;
    assert_eq!(r["code"], 301);
    // Garbage body: a business error, not a 4xx/5xx.
    let resp = http.post(format!("{}/task/openapi/create", rh.url())).body("not json").send().await.unwrap();
    assert_eq!(resp.status(), 200);

    rh.set_account_error(KEY, 416, "WALLET_EMPTY");
    assert_eq!(create(&http, &rh, KEY, &file).await["code"], 416);
    assert_eq!(upload(&http, &rh, KEY).await["code"], 416);
    rh.clear_account_error(KEY);
    assert_eq!(create(&http, &rh, KEY, &file).await["code"], 0);
}

#[tokio::test]
async fn faults_are_consumed_in_order() {
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 5);
    let http = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let file = upload(&http, &rh, KEY).await["data"]["fileName"].as_str().unwrap().to_owned();

    rh.inject(Endpoint::Create, Fault::Http500, 1);
    rh.inject(Endpoint::Create, Fault::MalformedJson, 1);
    rh.inject(Endpoint::Create, Fault::Code(1011, "BUSY".into()), 1);
    rh.inject(Endpoint::Create, Fault::Hang, 1);
    let url = format!("{}/task/openapi/create", rh.url());
    let body = json!({"apiKey":KEY,"workflowId":"1","nodeInfoList":[]});

    let r = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let r = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.is_err());
    let r: Value = http.post(&url).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(r, json!({"code":1011,"msg":"BUSY","data":null}));
    let started = Instant::now();
    assert!(http.post(&url).json(&body).send().await.unwrap_err().is_timeout());
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(rh.tasks().len(), 0, "faulty creates create nothing");
    let r: Value = http.post(&url).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["code"], 0);
    assert_eq!(rh.calls(Endpoint::Create), 5);

    rh.inject(Endpoint::Download, Fault::Http500, 1);
    rh.set_default_script(TaskScript::succeed(Duration::ZERO));
    let id = id_of(&create(&http, &rh, KEY, &file).await);
    let dl = format!("{}/files/{id}.png", rh.url());
    assert_eq!(http.get(&dl).send().await.unwrap().status(), 500);
    assert_eq!(http.get(&dl).send().await.unwrap().status(), 200);
    rh.shutdown();
}

#[tokio::test]
async fn quirks_produce_every_variant_deterministically() {
    async fn sample(seed: u64) -> Vec<String> {
        let rh = FakeRunningHub::start().await;
        rh.add_account(KEY, 100);
        rh.set_quirks(true);
        rh.set_seed(seed);
        rh.set_default_script(TaskScript::succeed(Duration::from_secs(60)));
        let http = reqwest::Client::new();
        let mut seen = Vec::new();
        let file = upload(&http, &rh, KEY).await["data"]["fileName"].as_str().unwrap().to_owned();
        for _ in 0..12 {
            seen.push(upload(&http, &rh, KEY).await["data"]["fileType"].to_string());
            let c = create(&http, &rh, KEY, &file).await;
            let id = id_of(&c);
            seen.push(format!("id-{}", if c["data"]["taskId"].is_string() { "str" } else { "num" }));
            let p = post(&http, &rh, "/task/openapi/outputs", json!({"apiKey":KEY,"taskId":id})).await;
            seen.push(format!("run-{}-{}", p["code"], p["data"].is_null()));
        }
        seen
    }
    let a = sample(7).await;
    assert_eq!(a, sample(7).await, "same seed, same answers");
    for variant in
        ["\"image\"", "\"input\"", "id-str", "id-num", "run-804-true", "run-0-true", "run-804-false"]
    {
        assert!(a.iter().any(|s| s == variant), "{variant} missing in {a:?}");
    }
}

#[tokio::test]
async fn webhook_is_posted_at_the_scripted_end() {
    use axum::{Router, routing::post as axpost};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Value)>();
    let app = Router::new().route(
        "/hook",
        axpost(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((Instant::now(), v));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 5);
    rh.set_default_script(TaskScript::succeed(Duration::from_millis(200)));
    let http = reqwest::Client::new();
    let file = upload(&http, &rh, KEY).await["data"]["fileName"].as_str().unwrap().to_owned();
    let c = post(
        &http,
        &rh,
        "/task/openapi/create",
        json!({"apiKey":KEY,"workflowId":"1","webhookUrl":hook,
               "nodeInfoList":[{"nodeId":"2","fieldName":"image","fieldValue":file}]}),
    )
    .await;
    let id = id_of(&c);
    let (at, body) = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await.unwrap().unwrap();
    let ended = rh.finished_at(&id).unwrap();
    assert!(at >= ended && at - ended < Duration::from_millis(150));
    assert_eq!(body["event"], "TASK_END");
    assert_eq!(body["taskId"], id);
    let data: Value = serde_json::from_str(body["eventData"].as_str().unwrap()).unwrap();
    assert_eq!(data["code"], 0);
    assert!(data["data"][0]["fileUrl"].as_str().unwrap().ends_with(&format!("{id}.png")));
    assert!(rh.wait_until(|rh| rh.webhooks().len() == 1, Duration::from_secs(1)).await);
    assert_eq!(rh.webhooks()[0].status, Some(200));
}

#[tokio::test]
async fn sustains_fast_polling() {
    let rh = FakeRunningHub::start().await;
    rh.add_account(KEY, 15);
    rh.set_default_script(TaskScript::succeed(Duration::from_secs(30)));
    let http = reqwest::Client::new();
    let file = upload(&http, &rh, KEY).await["data"]["fileName"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for _ in 0..15 {
        ids.push(id_of(&create(&http, &rh, KEY, &file).await));
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for id in ids {
        let (http, rh) = (http.clone(), rh.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..200 {
                post(&http, &rh, "/task/openapi/outputs", json!({"apiKey":KEY,"taskId":id})).await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let rate = 3000.0 / started.elapsed().as_secs_f64();
    eprintln!("outputs polls/s: {rate:.0}");
    assert!(rate > 2000.0, "only {rate:.0} req/s");
}
