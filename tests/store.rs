//! The job store: what is written before a job is acknowledged, what a restart finds,
//! concurrency, retention and statistics.

use std::sync::Arc;
use std::time::Duration;

use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{
    FailReason, ImageSource, JobId, JobJournal, JobOutput, JobState, LaneId, RemoteTaskId, StateName,
    Transition,
};
use backdrop::store::{NewJob, Store};

fn image(w: u32) -> InputImage {
    let mut png = Vec::new();
    image::RgbImage::new(w, 2)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    InputImage::parse(png, &ImageLimits::default()).unwrap()
}

fn new_job(user: i64) -> NewJob {
    NewJob { user_id: user, chat_id: user, language: "ru".into(), engine: "runninghub".into(), parent: None }
}

async fn open(dir: &std::path::Path) -> Store {
    let url = format!("sqlite://{}/backdrop.db", dir.display());
    Store::open(&url, dir).await.unwrap()
}

/// The state of a job on `lane`: uploading until the provider gave it `task`.
fn running(lane: u16, task: Option<&str>) -> JobState {
    let (lane, started_at) = (LaneId(lane), std::time::SystemTime::now());
    match task {
        None => JobState::Uploading { lane, started_at },
        Some(t) => JobState::Running { lane, task: Some(RemoteTaskId(t.into())), started_at },
    }
}

/// Journals one transition into `state`, as the ledger's writer would.
async fn record(store: &Store, job: JobId, state: JobState) {
    store.record(&[Transition { job, event: "test", state }]).await;
}

#[tokio::test]
async fn an_accepted_job_and_its_images_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (id, input) = store.create_job(&new_job(42), &image(3), &image(4)).await.unwrap();
    let ImageSource::File(product) = &input.product else { panic!("stored on disk") };
    assert!(product.exists());
    store.set_status_message(id, 77).await.unwrap();
    record(&store, id, running(2, None)).await;
    record(&store, id, running(2, Some("1910246754753896450"))).await;
    store.close().await;

    let store = open(dir.path()).await;
    let unfinished = store.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    let job = &unfinished[0];
    assert_eq!((job.id, job.user_id, job.status_message_id), (id, 42, Some(77)));
    assert_eq!(job.state, StateName::Running);
    assert_eq!(job.lane, Some(LaneId(2)));
    assert_eq!(job.remote_task, Some(RemoteTaskId("1910246754753896450".into())));
    let loaded = job.input().product.load().await.unwrap();
    assert_eq!(loaded.dimensions(), (3, 2));
}

#[tokio::test]
async fn ended_jobs_stay_unfinished_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (done, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    let (failed, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    let output = JobOutput { image: bytes::Bytes::from_static(b"\x89PNG..."), extension: "png" };
    record(&store, done, JobState::Delivering(Arc::new(output))).await;
    record(&store, failed, JobState::Failed(FailReason::Provider("TypeError: bad".into()))).await;
    let unfinished = store.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 2);
    assert_eq!(unfinished[0].state, StateName::Delivering);
    let result = unfinished[0].load_result().await.expect("result written to disk");
    assert_eq!((&result.image[..], result.extension), (&b"\x89PNG..."[..], "png"));
    assert_eq!(unfinished[1].state, StateName::Failed);
    assert_eq!(unfinished[1].failure, Some(FailReason::Provider("TypeError: bad".into())));
    record(&store, done, JobState::Delivered).await;
    store.mark_told(failed).await.unwrap();
    assert!(store.unfinished().await.unwrap().is_empty());
    let delivered = store.job(done).await.unwrap().unwrap();
    assert!(delivered.state == StateName::Delivered && delivered.told);
}

#[tokio::test]
async fn a_repeated_job_reuses_the_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (first, _) = store.create_job(&new_job(1), &image(5), &image(6)).await.unwrap();
    let earlier = store.job(first).await.unwrap().unwrap();
    let (second, input) =
        store.repeat_job(&NewJob { parent: Some(first), ..new_job(1) }, &earlier).await.unwrap();
    assert_ne!(first, second);
    assert_eq!(input.background.load().await.unwrap().dimensions(), (6, 2));
}

#[tokio::test]
async fn a_thousand_concurrent_jobs_are_all_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (product, background) = (image(2), image(2));
    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..1000 {
        let (store, product, background) = (store.clone(), product.clone(), background.clone());
        tasks.spawn(async move { store.create_job(&new_job(user), &product, &background).await });
    }
    let mut ids = Vec::new();
    while let Some(result) = tasks.join_next().await {
        ids.push(result.unwrap().expect("the store rejects nothing").0);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    assert_eq!(store.unfinished().await.unwrap().len(), 1000);
}

#[tokio::test]
async fn the_sweep_deletes_old_images_but_keeps_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (old, input) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    let (live, live_input) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    record(&store, old, JobState::Cancelled).await;
    let abandoned = dir.path().join("incoming/42-7.png");
    std::fs::create_dir_all(abandoned.parent().unwrap()).unwrap();
    std::fs::write(&abandoned, b"a product photo whose background never came").unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.sweep(Duration::from_millis(10)).await.unwrap(), 1);
    let ImageSource::File(path) = input.product else { panic!() };
    assert!(!path.exists());
    let ImageSource::File(live_path) = live_input.product else { panic!() };
    assert!(live_path.exists(), "a queued job keeps its images");
    assert!(store.job(old).await.unwrap().is_some());
    assert!(store.job(live).await.unwrap().is_some());
    assert!(!abandoned.exists(), "abandoned uploads go too");
    assert_eq!(store.sweep(Duration::from_millis(10)).await.unwrap(), 0, "nothing twice");
}

#[tokio::test]
async fn statistics_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let output = Arc::new(JobOutput { image: bytes::Bytes::from_static(b"x"), extension: "png" });
    for (user, end) in [(1, "done"), (2, "done"), (2, "failed"), (3, "cancelled"), (3, "queued")] {
        let (id, _) = store.create_job(&new_job(user), &image(2), &image(2)).await.unwrap();
        if end != "queued" && end != "cancelled" {
            record(&store, id, running(1, None)).await;
            record(&store, id, running(1, Some("t"))).await;
        }
        match end {
            "done" => record(&store, id, JobState::Delivering(output.clone())).await,
            "failed" => record(&store, id, JobState::Failed(FailReason::Timeout(600))).await,
            "cancelled" => record(&store, id, JobState::Cancelled).await,
            _ => {}
        }
    }
    let stats = store.stats().await.unwrap();
    let day = &stats.periods[0];
    assert_eq!((day.jobs, day.done, day.failed, day.cancelled, day.active_users), (5, 2, 1, 1, 3));
    assert_eq!(day.success_rate(), Some(2.0 / 3.0));
    assert_eq!(stats.failures_by_reason, vec![("timeout".to_owned(), 1)]);
    assert_eq!(stats.accounts.len(), 1);
    assert_eq!((stats.accounts[0].tasks, stats.accounts[0].failures), (3, 1));
    assert_eq!(stats.queue_length, 1);
    assert!(stats.generation.is_some());
    let text = stats.to_string();
    assert!(text.contains("24 h: 5 jobs"), "{text}");
}

#[tokio::test]
async fn a_dialogue_survives_a_restart() {
    use backdrop::store::DurableDialogues;
    use teloxide::dispatching::dialogue::Storage;
    use teloxide::types::ChatId;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum State {
        Start,
        AwaitingBackground { product: String },
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let dialogues = DurableDialogues::<State>::new(store.clone());
    let state = State::AwaitingBackground { product: "uploads/42/product.jpg".into() };
    dialogues.clone().update_dialogue(ChatId(42), state).await.unwrap();
    dialogues.clone().update_dialogue(ChatId(7), State::Start).await.unwrap();
    dialogues.clone().remove_dialogue(ChatId(7)).await.unwrap();
    store.close().await;

    let dialogues = DurableDialogues::<State>::new(open(dir.path()).await);
    let restored = dialogues.clone().get_dialogue(ChatId(42)).await.unwrap();
    assert_eq!(restored, Some(State::AwaitingBackground { product: "uploads/42/product.jpg".into() }));
    assert_eq!(dialogues.get_dialogue(ChatId(7)).await.unwrap(), None);
}

#[tokio::test]
async fn a_batch_is_recorded_in_order_and_moves_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (id, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    let lane = LaneId(3);
    let started_at = std::time::SystemTime::now();
    let task = Some(RemoteTaskId("77".into()));
    let batch = [
        Transition { job: id, event: "moved", state: JobState::Queued { position: 4 } },
        Transition { job: id, event: "started", state: JobState::Uploading { lane, started_at } },
        Transition {
            job: id,
            event: "task_created",
            state: JobState::Running { lane, task: task.clone(), started_at },
        },
        Transition {
            job: id,
            event: "provider_finished",
            state: JobState::Downloading { lane, task: None, started_at },
        },
    ];
    store.record(&batch).await;
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!(job.state, StateName::Downloading);
    assert_eq!(job.remote_task, task, "a later state without the task id keeps it");
    assert_eq!(job.lane, Some(lane));
}

#[tokio::test]
async fn a_failure_keeps_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (id, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    record(&store, id, JobState::Failed(FailReason::Timeout(5))).await;
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.failure), (StateName::Failed, Some(FailReason::Timeout(5))));
}

#[tokio::test]
async fn one_process_per_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).await;
    let url = format!("sqlite://{}/backdrop.db", dir.path().display());
    let err = Store::open(&url, dir.path()).await.expect_err("the directory is taken");
    let text = err.to_string();
    assert!(text.contains(&format!("pid {}", std::process::id())), "says who holds it: {text}");
    let reader = Store::open_read_only(&url, dir.path()).await.expect("a read-only look is fine");
    assert_eq!(reader.stats().await.unwrap().queue_length, 0);
    reader.close().await;
    first.close().await;
    let again = Store::open(&url, dir.path()).await.expect("free again once closed");
    again.close().await;
}

#[tokio::test]
async fn images_are_on_disk_before_the_row_and_orphans_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (kept, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    // The database goes away between the files and the row (as in a crash there).
    store.close().await;
    let err = store.create_job(&new_job(1), &image(3), &image(3)).await;
    assert!(err.is_err(), "no row could be written");
    let orphan = dir.path().join("jobs").join((kept.0 + 1).to_string());
    assert!(orphan.join("product.png").exists(), "the images were written first");

    let store = open(dir.path()).await;
    let (next, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    assert!(next.0 > kept.0 + 1, "an orphan's id is never given again");
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.sweep(Duration::from_millis(10)).await.unwrap();
    assert!(!orphan.exists(), "the sweep removes what no row names");
    let ImageSource::File(kept_product) = store.job(kept).await.unwrap().unwrap().input().product else {
        panic!("on disk")
    };
    assert!(kept_product.exists(), "a queued job keeps its images");
    assert!(
        store.unfinished().await.unwrap().iter().all(|j| j.product_path.exists()),
        "no row without images"
    );
}
