//! The job store: what is written before a job is acknowledged, what a restart finds,
//! concurrency, retention and statistics; every case against SQLite and against a real
//! PostgreSQL server ([`TestPostgres`]), the same behaviour from both.

mod support;

use std::sync::Arc;
use std::time::Duration;

use backdrop::input_image::InputImage;
use backdrop::job::{
    FailReason, ImageSource, JobId, JobJournal, JobOutput, JobState, LaneId, RemoteTaskId, StateName,
    Transition,
};
use backdrop::store::{DatabaseUrl, GotTo, NewJob, Store, StoreError};
use backdrop_fakes::TestPostgres;

fn image(w: u32) -> InputImage {
    support::small_image(w)
}

fn new_job(user: i64) -> NewJob {
    support::new_job_of(user, "ru")
}

/// Where one case's store lives: SQLite in its directory, or a fresh PostgreSQL database
/// (with the directory as this machine's `DATA_DIR`).
struct Db {
    url: DatabaseUrl,
    dir: tempfile::TempDir,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self { url: DatabaseUrl::sqlite_in(dir.path()), dir }
    }

    async fn postgres() -> Self {
        let url = TestPostgres::shared().fresh_database().await.parse().unwrap();
        Self { url, dir: tempfile::tempdir().unwrap() }
    }

    async fn open(&self) -> Store {
        Store::open(&self.url, self.dir.path()).await.unwrap()
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// One test per backend for each case named: `case::sqlite` and `case::postgres`.
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                super::$case(super::Db::sqlite()).await
            }

            #[tokio::test]
            async fn postgres() {
                super::$case(super::Db::postgres().await).await
            }
        }
    )*};
}

on_both!(
    an_accepted_job_and_its_images_survive_a_restart,
    ended_jobs_stay_unfinished_until_delivered,
    a_repeated_job_reuses_the_images,
    a_thousand_concurrent_jobs_are_all_accepted,
    the_sweep_deletes_old_images_but_keeps_the_rows,
    statistics_count_what_happened,
    a_dialogue_survives_a_restart,
    a_batch_is_recorded_in_order_and_moves_change_nothing,
    a_failure_keeps_its_reason,
    one_process_per_store,
    the_images_of_a_job_are_never_without_its_row,
    settings_and_a_jobs_variant_survive_a_restart,
    pictures_left_in_hand_say_how_far_they_got,
);

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

async fn an_accepted_job_and_its_images_survive_a_restart(db: Db) {
    let store = db.open().await;
    let (id, input) = store.create_job(&new_job(42), &image(3), &image(4)).await.unwrap();
    let ImageSource::File(product) = &input.product else { panic!("stored on disk") };
    assert!(product.exists());
    store.set_status_message(id, 77).await.unwrap();
    record(&store, id, running(2, None)).await;
    record(&store, id, running(2, Some("1910246754753896450"))).await;
    store.close().await;

    let store = db.open().await;
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

async fn ended_jobs_stay_unfinished_until_delivered(db: Db) {
    let store = db.open().await;
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

async fn a_repeated_job_reuses_the_images(db: Db) {
    let store = db.open().await;
    let (first, _) = store.create_job(&new_job(1), &image(5), &image(6)).await.unwrap();
    let earlier = store.job(first).await.unwrap().unwrap();
    let (second, input) =
        store.repeat_job(&NewJob { parent: Some(first), ..new_job(1) }, &earlier).await.unwrap();
    assert_ne!(first, second);
    assert_eq!(input.background.load().await.unwrap().dimensions(), (6, 2));
}

async fn a_thousand_concurrent_jobs_are_all_accepted(db: Db) {
    let store = db.open().await;
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

async fn the_sweep_deletes_old_images_but_keeps_the_rows(db: Db) {
    let store = db.open().await;
    let (old, input) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    let (live, live_input) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    record(&store, old, JobState::Cancelled).await;
    let abandoned = db.path().join("incoming/42-7.png");
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

async fn statistics_count_what_happened(db: Db) {
    let store = db.open().await;
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

async fn a_dialogue_survives_a_restart(db: Db) {
    use backdrop::store::DurableDialogues;
    use teloxide::dispatching::dialogue::Storage;
    use teloxide::types::ChatId;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum State {
        Start,
        AwaitingBackground { product: String },
    }
    let store = db.open().await;
    let dialogues = DurableDialogues::<State>::new(store.clone());
    let state = State::AwaitingBackground { product: "uploads/42/product.jpg".into() };
    dialogues.clone().update_dialogue(ChatId(42), state).await.unwrap();
    dialogues.clone().update_dialogue(ChatId(7), State::Start).await.unwrap();
    dialogues.clone().remove_dialogue(ChatId(7)).await.unwrap();
    store.close().await;

    let dialogues = DurableDialogues::<State>::new(db.open().await);
    let restored = dialogues.clone().get_dialogue(ChatId(42)).await.unwrap();
    assert_eq!(restored, Some(State::AwaitingBackground { product: "uploads/42/product.jpg".into() }));
    assert_eq!(dialogues.get_dialogue(ChatId(7)).await.unwrap(), None);
}

async fn a_batch_is_recorded_in_order_and_moves_change_nothing(db: Db) {
    let store = db.open().await;
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

async fn a_failure_keeps_its_reason(db: Db) {
    let store = db.open().await;
    let (id, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    record(&store, id, JobState::Failed(FailReason::Timeout(5))).await;
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.failure), (StateName::Failed, Some(FailReason::Timeout(5))));
}

async fn one_process_per_store(db: Db) {
    let first = db.open().await;
    first.take_jobs().await.expect("the first process runs the jobs");
    let reader = Store::open_read_only(&db.url, db.path()).await.expect("a read-only look is fine");
    assert_eq!(reader.stats().await.unwrap().queue_length, 0);
    reader.close().await;
    match db.url {
        // SQLite: a second process on the DATA_DIR is refused, and told who holds it.
        DatabaseUrl::Sqlite(_) => {
            let err = Store::open(&db.url, db.path()).await.expect_err("the directory is taken");
            let text = err.to_string();
            assert!(text.contains(&format!("pid {}", std::process::id())), "says who holds it: {text}");
            first.close().await;
            Store::open(&db.url, db.path()).await.expect("free again once closed").close().await;
        }
        // PostgreSQL: a second process (its own DATA_DIR) opens the store but may not run
        // the jobs while the first does; it may once the first is gone.
        DatabaseUrl::Postgres(_) => {
            let other = tempfile::tempdir().unwrap();
            let second = Store::open(&db.url, other.path()).await.expect("a standby opens the store");
            assert!(matches!(second.take_jobs().await, Err(StoreError::DatabaseInUse)));
            first.close().await;
            let waited =
                tokio::time::timeout(Duration::from_secs(10), second.wait_to_run(Duration::from_millis(50)));
            waited.await.expect("taken over in time").expect("the jobs are free");
            second.close().await;
        }
    }
}

/// The files go first (with PostgreSQL the row and its images then commit together): a
/// row that cannot be written takes its files with it, and what a crash between the two
/// leaves is swept, its id never given again.
async fn the_images_of_a_job_are_never_without_its_row(db: Db) {
    let store = db.open().await;
    let (kept, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    // The database goes away before the row.
    store.close().await;
    let err = store.create_job(&new_job(1), &image(3), &image(3)).await;
    assert!(err.is_err(), "no row could be written");
    let failed = db.path().join("jobs").join((kept.0 + 1).to_string());
    assert!(!failed.exists(), "its files went with it");
    // What a crash between the files and the row leaves behind.
    let orphan = db.path().join("jobs").join((kept.0 + 1000).to_string());
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("product.png"), b"a product whose row never came").unwrap();

    let store = db.open().await;
    let (next, _) = store.create_job(&new_job(1), &image(2), &image(2)).await.unwrap();
    assert!(next.0 > kept.0, "ids only grow");
    if !db.url.is_postgres() {
        assert!(next.0 > kept.0 + 1000, "an orphan's id is never given again");
    }
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

/// With PostgreSQL a job is carried on from another machine's disk: a process whose
/// DATA_DIR is empty finds the images and the result in the database.
#[tokio::test]
async fn postgres_keeps_the_images_for_another_machine() {
    let db = Db::postgres().await;
    let store = db.open().await;
    let (queued, _) = store.create_job(&new_job(1), &image(3), &image(4)).await.unwrap();
    let (done, _) = store.create_job(&new_job(2), &image(5), &image(6)).await.unwrap();
    let output = JobOutput { image: bytes::Bytes::from_static(b"\x89PNG result"), extension: "png" };
    record(&store, done, JobState::Delivering(Arc::new(output))).await;
    store.close().await;

    let elsewhere = tempfile::tempdir().unwrap();
    let store = Store::open(&db.url, elsewhere.path()).await.unwrap();
    let unfinished = store.unfinished().await.unwrap();
    assert_eq!(unfinished.iter().map(|j| j.id).collect::<Vec<_>>(), vec![queued, done]);
    assert!(unfinished.iter().all(|j| j.product_path.starts_with(elsewhere.path())));
    let product = unfinished[0].input().product.load().await.expect("written back from the database");
    assert_eq!(product.dimensions(), (3, 2));
    let result = unfinished[1].load_result().await.expect("the result too");
    assert_eq!(&result.image[..], b"\x89PNG result");
    // Regenerate on a third machine: the repeat has its images in the database as well.
    store.close().await;
    let third = tempfile::tempdir().unwrap();
    let store = Store::open(&db.url, third.path()).await.unwrap();
    let earlier = store.job(done).await.unwrap().unwrap();
    let (again, input) =
        store.repeat_job(&NewJob { parent: Some(done), ..new_job(2) }, &earlier).await.unwrap();
    assert_eq!(input.background.load().await.unwrap().dimensions(), (6, 2));
    store.close().await;
    let fourth = tempfile::tempdir().unwrap();
    let store = Store::open(&db.url, fourth.path()).await.unwrap();
    let repeated = store.unfinished().await.unwrap().into_iter().find(|j| j.id == again).expect("queued");
    assert_eq!(repeated.input().product.load().await.unwrap().dimensions(), (5, 2));
    // The sweep deletes the database's copy with the disk's.
    record(&store, again, JobState::Cancelled).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.sweep(Duration::from_millis(10)).await.unwrap(), 1);
    store.close().await;
    let fifth = tempfile::tempdir().unwrap();
    let store = Store::open(&db.url, fifth.path()).await.unwrap();
    let swept = store.job(again).await.unwrap().unwrap();
    store.repeat_job(&new_job(2), &swept).await.expect_err("its images are gone everywhere");
    store.close().await;
}

/// Replicas start at the same moment: concurrent migrations of one fresh database all
/// succeed, and exactly one of the processes then runs the jobs.
#[tokio::test]
async fn concurrent_starts_on_a_fresh_postgres_database_migrate_once() {
    let url: DatabaseUrl = TestPostgres::shared().fresh_database().await.parse().unwrap();
    let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let opened = futures::future::join_all(dirs.iter().map(|d| Store::open(&url, d.path()))).await;
    let stores: Vec<Store> =
        opened.into_iter().map(|r| r.expect("every start migrates or finds it done")).collect();
    let taken = futures::future::join_all(stores.iter().map(Store::take_jobs)).await;
    let running = taken.iter().filter(|t| t.is_ok()).count();
    assert!(taken.iter().all(|t| matches!(t, Ok(()) | Err(StoreError::DatabaseInUse))), "{taken:?}");
    assert_eq!(running, 1, "exactly one process runs the jobs");
    for store in stores {
        store.close().await;
    }
}

/// `/settings` choices, each set alone first (the row has no format yet), and a job's
/// variant come back after a restart; a set's first job names itself.
async fn settings_and_a_jobs_variant_survive_a_restart(db: Db) {
    use backdrop::store::JobVariant;

    let store = db.open().await;
    assert_eq!(store.variants(5).await.unwrap(), None);
    store.set_variants(5, 3).await.unwrap();
    store.set_language(6, Some("en")).await.unwrap();
    assert_eq!(store.output_format(5).await.unwrap(), None, "a row made for the variants has no format");
    store.set_output_format(5, "ozon").await.unwrap();
    store.set_language(5, Some("ru")).await.unwrap();
    store.set_language(5, None).await.unwrap();
    let first = JobVariant { index: 0, seed: u64::MAX - 1, set: None };
    let (lead, _) =
        store.create_job(&NewJob { variant: Some(first), ..new_job(5) }, &image(8), &image(8)).await.unwrap();
    let second = JobVariant { index: 1, seed: 7, set: Some(lead) };
    let (other, _) = store
        .create_job(&NewJob { variant: Some(second), ..new_job(5) }, &image(8), &image(8))
        .await
        .unwrap();
    let (single, _) = store.create_job(&new_job(5), &image(8), &image(8)).await.unwrap();
    store.close().await;

    let store = db.open().await;
    assert_eq!(store.variants(5).await.unwrap(), Some(3));
    assert_eq!(store.output_format(5).await.unwrap().as_deref(), Some("ozon"));
    assert_eq!(store.language(5).await.unwrap(), None, "back to Telegram's");
    assert_eq!(store.language(6).await.unwrap().as_deref(), Some("en"));
    assert_eq!(store.variants(6).await.unwrap(), None);
    let variant = |id| {
        let store = store.clone();
        async move { store.job(id).await.unwrap().unwrap().variant }
    };
    assert_eq!(variant(lead).await, Some(JobVariant { set: Some(lead), ..first }));
    assert_eq!(variant(other).await, Some(second));
    assert_eq!(variant(single).await, None);
    store.close().await;
}

/// Pictures a killed process was taking are found at the next start, with how far each
/// got: nothing kept (send it again), the product kept (ask for the background), a job
/// accepted (its status says the rest); those answered are not among them.
async fn pictures_left_in_hand_say_how_far_they_got(db: Db) {
    let store = db.open().await;
    for (chat, message) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
        store.picture_in_hand(chat, message, "en").await.unwrap();
    }
    // A new chat's dialogue is written as the picture comes: that alone keeps nothing.
    store.set_dialogue(1, "{}").await.unwrap();
    store.set_dialogue(2, "{}").await.unwrap();
    store.picture_product_kept(2, 20).await.unwrap();
    store.create_job(&new_job(3), &image(3), &image(4)).await.unwrap();
    store.picture_answered(4, 40).await.unwrap();
    store.close().await;

    let store = db.open().await;
    let left = store.unanswered_pictures().await.unwrap();
    let got: Vec<(i64, GotTo)> = left.iter().map(|u| (u.chat_id, u.got_to)).collect();
    assert_eq!(got, vec![(1, GotTo::Nothing), (2, GotTo::ProductKept), (3, GotTo::JobAccepted)]);
    assert!(store.unanswered_pictures().await.unwrap().is_empty(), "told once");
}
