//! The job store: every accepted job and its images, durable across restarts and crashes.
//!
//! SQLite in `DATA_DIR` (WAL, `synchronous=FULL`; the embedded default) or PostgreSQL
//! (`DATABASE_URL=postgres://...`), with the same queries through sqlx's `Any` driver
//! ([`connect`]) and migrations in `migrations/sqlite/` and `migrations/postgres/`. A job's
//! input images are written to `DATA_DIR/jobs/<id>/` before the job is acknowledged to the
//! user; the result is written there when the job ends, before its row says so. With
//! PostgreSQL the images are also kept in the database (`job_files`, committed with the
//! row), and `DATA_DIR` is only this machine's copy: a process whose disk lacks them
//! writes them back from the database before it works on the job. The store is the
//! ledger's [`crate::job::JobJournal`], so each transition is persisted in the order it was
//! applied; the `state` column holds [`StateName`]s.

mod connect;
mod database_url;
mod dialogues;
mod files;
mod in_hand;
mod journal;
mod pending;
mod replicas;
mod retention;
pub mod stats;
mod user_settings;

pub use database_url::DatabaseUrl;
pub use dialogues::{DialogueError, DurableDialogues};
pub use in_hand::{GotTo, Unanswered};
pub use replicas::{Lease, ReplicaId, TakenOver};
pub use retention::sweep_periodically;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyRow;
use sqlx::{Any, Connection, Row, Transaction};
use sqlx::{AnyConnection, AnyPool};

use crate::input_image::InputImage;
use crate::job::{FailReason, JobId, JobOutput, RemoteTaskId, StateName};
use crate::job::{ImageSource, JobInput, LaneId};
use connect::{Access, Backend};
use files::{create_dir_synced, highest_job_dir, lock_data_dir, modified_longer_ago, sync_dir, write_synced};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("job store migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("another Backdrop process runs the jobs of this PostgreSQL database")]
    DatabaseInUse,
    #[error("job store: {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(
        "DATA_DIR {} is in use by another Backdrop process{}: one process per DATA_DIR \
         (stop it, or give this one its own DATA_DIR)",
        dir.display(),
        holder.as_deref().map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse { dir: PathBuf, holder: Option<String> },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// Who a new job is for.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub user_id: i64,
    pub chat_id: i64,
    pub language: String,
    pub engine: String,
    /// The job this one repeats (Regenerate, Retry).
    pub parent: Option<JobId>,
    /// How the result is to come out (an `OutputFormat` name); `None`: the original frame.
    pub output_format: Option<String>,
    /// Which variant of its request the job is; `None` for the only job of a request.
    pub variant: Option<JobVariant>,
}

/// A job that is one of several variants of a request (the bot's variants setting): kept
/// with the job so that a restart runs it with its own look and delivers its set together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobVariant {
    /// 0 is the engine's usual picture.
    pub index: u8,
    /// The provider's seed for this variant.
    pub seed: u64,
    /// The first job of the variant set; `None` when creating that first job (it is its
    /// own set's first; a stored job always says).
    pub set: Option<JobId>,
}

/// A job as stored.
#[derive(Clone, Debug)]
pub struct StoredJob {
    pub id: JobId,
    pub user_id: i64,
    pub chat_id: i64,
    pub language: String,
    pub status_message_id: Option<i32>,
    pub state: StateName,
    /// Why it failed, when `state` is failed.
    pub failure: Option<FailReason>,
    pub lane: Option<LaneId>,
    pub remote_task: Option<RemoteTaskId>,
    /// Creates sent with no task recorded since (see `JobEvent::CreateSent`).
    pub unconfirmed_creates: u32,
    pub product_path: PathBuf,
    pub background_path: PathBuf,
    pub result_path: Option<PathBuf>,
    pub created_at_ms: i64,
    /// The user has been told how the job ended (the result accepted by Telegram, or the
    /// failure shown).
    pub told: bool,
    /// How the result is to come out (an `OutputFormat` name), as [`NewJob`] said.
    pub output_format: Option<String>,
    /// Which variant of its request it is (`set` always given), as [`NewJob`] said.
    pub variant: Option<JobVariant>,
}

impl StoredJob {
    /// The job's images, read from disk when the engine needs them.
    pub fn input(&self) -> JobInput {
        JobInput {
            product: ImageSource::File(self.product_path.clone()),
            background: ImageSource::File(self.background_path.clone()),
        }
    }

    /// The stored result of a job whose result is stored.
    pub async fn load_result(&self) -> Result<JobOutput, StoreError> {
        let path = self.result_path.as_ref().ok_or_else(|| StoreError::Io {
            what: format!("job {} has no result file", self.id),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        let extension = match path.extension().and_then(|e| e.to_str()) {
            Some("png") => "png",
            Some("webp") => "webp",
            _ => "jpg",
        };
        let bytes = tokio::fs::read(path).await.map_err(io(format!("reading {}", path.display())))?;
        Ok(JobOutput { image: bytes.into(), extension })
    }
}

/// The durable store of jobs and dialogues.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    data_dir: PathBuf,
    /// `DATA_DIR/backdrop.lock`, locked while the store is open: the job files belong to
    /// one process (released by [`Store::close`], or when the process dies).
    lock: Arc<Mutex<Option<std::fs::File>>>,
    /// With PostgreSQL once [`Store::take_jobs`] succeeded: the connection whose session
    /// holds the database's jobs.
    runner: Arc<tokio::sync::Mutex<Option<AnyConnection>>>,
    /// The next job id to give, with SQLite (see [`Store::reserve_id`]).
    next_id: Arc<AtomicU64>,
    /// With PostgreSQL once this process joined the replicas: who claims its new jobs.
    replica: Arc<std::sync::OnceLock<ReplicaId>>,
    /// Where the database is (PostgreSQL: for listening to other replicas' notices).
    url: DatabaseUrl,
}

/// How often the runner checks that it still holds a PostgreSQL database's jobs.
pub const RUNNER_CHECK: Duration = Duration::from_millis(500);

/// How long a process that just took the jobs waits before running them: longer than a
/// holder that lost them needs to notice ([`RUNNER_CHECK`], twice) and stop starting jobs.
pub const RUNNER_FENCE: Duration = Duration::from_millis(1500);

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (creating if needed) the database and `data_dir`, and applies migrations.
    pub async fn open(database_url: &DatabaseUrl, data_dir: &Path) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(data_dir.join("jobs"))
            .await
            .map_err(io(format!("creating {}", data_dir.display())))?;
        let dir = data_dir.to_owned();
        let dir_lock = tokio::task::spawn_blocking(move || lock_data_dir(&dir))
            .await
            .map_err(|e| io("locking DATA_DIR")(std::io::Error::other(e)))??;
        let (pool, backend) = connect::pool(database_url, Access::ReadWrite).await?;
        connect::migrate(&pool, backend).await?;
        // Past every row and every directory (an orphan of a crash keeps its id unused).
        let last_row: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM jobs").fetch_one(&pool).await?;
        let last_dir = highest_job_dir(&data_dir.join("jobs")).await;
        let next_id = Arc::new(AtomicU64::new((last_row.max(0) as u64).max(last_dir) + 1));
        Ok(Self {
            pool,
            backend,
            data_dir: data_dir.to_owned(),
            lock: Arc::new(Mutex::new(Some(dir_lock))),
            runner: Arc::default(),
            next_id,
            replica: Arc::default(),
            url: database_url.clone(),
        })
    }

    /// Takes the jobs of the database for this process, or says who holds them. With
    /// SQLite the process already holds them (it holds `DATA_DIR`). With PostgreSQL one
    /// process at a time runs the jobs: the others are standbys, and [`Store::wait_to_run`]
    /// waits for the holder to stop or die.
    pub async fn take_jobs(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(());
        }
        let mut runner = self.runner.lock().await;
        if runner.is_none() {
            *runner = Some(connect::try_runner_lock(&self.pool).await?.ok_or(StoreError::DatabaseInUse)?);
        }
        Ok(())
    }

    /// [`Store::take_jobs`], waiting while another process holds them: a standby takes
    /// over within `every` (plus [`RUNNER_FENCE`]) of the holder's end (a killed
    /// process's connection closes at once; a machine that vanished, once PostgreSQL's
    /// keepalive gives it up).
    pub async fn wait_to_run(&self, every: Duration) -> Result<(), StoreError> {
        let mut told = false;
        loop {
            match self.take_jobs().await {
                Err(StoreError::DatabaseInUse) => {
                    if !told {
                        tracing::info!(
                            "standby: another process runs the jobs of this database; taking over when it stops"
                        );
                        told = true;
                    }
                    tokio::time::sleep(every).await;
                }
                Ok(()) if self.backend == Backend::Postgres => {
                    // A holder whose connection was cut may not know it yet: it stops
                    // starting jobs within RUNNER_CHECK of the cut.
                    tokio::time::sleep(RUNNER_FENCE).await;
                    return Ok(());
                }
                taken => return taken,
            }
        }
    }

    /// Resolves when this process can no longer be sure it holds the jobs: the connection
    /// that holds them failed or did not answer a ping within [`RUNNER_CHECK`]
    /// (PostgreSQL restarted, the network cut it, an operator ended it). Never with SQLite.
    pub async fn jobs_lost(&self) {
        if self.backend == Backend::Sqlite {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(RUNNER_CHECK).await;
            let mut runner = self.runner.lock().await;
            let Some(conn) = runner.as_mut() else { return };
            let ping = tokio::time::timeout(RUNNER_CHECK, sqlx::query("SELECT 1").execute(&mut *conn)).await;
            if !matches!(ping, Ok(Ok(_))) {
                runner.take();
                return;
            }
        }
    }

    /// Opens the database of a store that may be in use by a running bot, to read it only
    /// (`backdrop stats`): no lock, no migrations, no writes.
    pub async fn open_read_only(database_url: &DatabaseUrl, data_dir: &Path) -> Result<Self, StoreError> {
        let (pool, backend) = connect::pool(database_url, Access::ReadOnly).await?;
        // Read only: it never creates a job.
        Ok(Self {
            pool,
            backend,
            data_dir: data_dir.to_owned(),
            lock: Arc::new(Mutex::new(None)),
            runner: Arc::default(),
            next_id: Arc::default(),
            replica: Arc::default(),
            url: database_url.clone(),
        })
    }

    /// Waits for in-flight writes, closes the database and gives `DATA_DIR` (and the
    /// database) up, at shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(conn) = self.runner.lock().await.take() {
            let _ = conn.close().await;
        }
        // Dropping the file releases the lock.
        self.lock.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn job_dir(&self, id: JobId) -> PathBuf {
        self.data_dir.join("jobs").join(id.to_string())
    }

    /// Stores a new queued job and its two images and returns its id and input. The images
    /// are written and synced (files and directory) before the row is committed: a crash in
    /// between leaves an orphan directory for the sweep, never a row without its images.
    /// Only after this returns may the user be told the job was accepted.
    pub async fn create_job(
        &self,
        new: &NewJob,
        product: &InputImage,
        background: &InputImage,
    ) -> Result<(JobId, JobInput), StoreError> {
        let names =
            [format!("product.{}", product.extension()), format!("background.{}", background.extension())];
        let id = self.reserve_id().await?;
        let dir = self.job_dir(id);
        let written = async {
            create_dir_synced(&dir).await?;
            write_synced(&dir.join(&names[0]), product.bytes()).await?;
            write_synced(&dir.join(&names[1]), background.bytes()).await?;
            sync_dir(&dir).await
        }
        .await;
        let images = Images::Given([product.bytes(), background.bytes()]);
        self.insert_row_after(id, new, &names, written, images).await?;
        Ok((id, self.input_of(id, &names)))
    }

    /// Stores a new queued job on the images of an earlier one (Regenerate, Retry): the
    /// files are hard-linked (copied where links are not possible), never re-asked for, and
    /// on disk before the row.
    pub async fn repeat_job(
        &self,
        new: &NewJob,
        earlier: &StoredJob,
    ) -> Result<(JobId, JobInput), StoreError> {
        self.fetch_missing_files(earlier).await?;
        let sources = [&earlier.product_path, &earlier.background_path];
        let names = sources
            .map(|p| p.file_name().map_or_else(|| "image".to_owned(), |n| n.to_string_lossy().into_owned()));
        let id = self.reserve_id().await?;
        let dir = self.job_dir(id);
        let linked = async {
            create_dir_synced(&dir).await?;
            for (source, name) in sources.iter().zip(&names) {
                let target = dir.join(name);
                if tokio::fs::hard_link(source, &target).await.is_err() {
                    tokio::fs::copy(source, &target)
                        .await
                        .map_err(io(format!("copying {}", source.display())))?;
                }
            }
            sync_dir(&dir).await
        }
        .await;
        self.insert_row_after(id, new, &names, linked, Images::OfJob(earlier.id)).await?;
        Ok((id, self.input_of(id, &names)))
    }

    /// The id of the next job, given before its row exists so that its directory can be
    /// written first: with SQLite this process gives ids (it holds `DATA_DIR`), with
    /// PostgreSQL the database's sequence does.
    async fn reserve_id(&self) -> Result<JobId, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(JobId(self.next_id.fetch_add(1, Ordering::Relaxed))),
            Backend::Postgres => {
                let id: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('jobs', 'id'))")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(JobId(id as u64))
            }
        }
    }

    /// Commits the job's row once its files are `written`; if they could not be, removes
    /// what was written and commits nothing.
    async fn insert_row_after(
        &self,
        id: JobId,
        new: &NewJob,
        names: &[String; 2],
        written: Result<(), StoreError>,
        images: Images<'_>,
    ) -> Result<(), StoreError> {
        let inserted = match written {
            Ok(()) => self.insert_row(id, new, names, images).await,
            Err(e) => Err(e),
        };
        if inserted.is_err() {
            let _ = tokio::fs::remove_dir_all(self.job_dir(id)).await;
        }
        inserted
    }

    fn input_of(&self, id: JobId, names: &[String; 2]) -> JobInput {
        let dir = self.job_dir(id);
        JobInput {
            product: ImageSource::File(dir.join(&names[0])),
            background: ImageSource::File(dir.join(&names[1])),
        }
    }

    /// One commit per job: file names are relative to the job's directory, known up front;
    /// with PostgreSQL the images go in the same transaction.
    async fn insert_row(
        &self,
        id: JobId,
        new: &NewJob,
        names: &[String; 2],
        images: Images<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, user_id, chat_id, language, state, engine, product_path, background_path, parent_id, created_at, output_format, variant_index, variant_seed, variant_set, claimed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id.0 as i64)
        .bind(new.user_id)
        .bind(new.chat_id)
        .bind(&new.language)
        .bind(StateName::Queued.as_str())
        .bind(&new.engine)
        .bind(&names[0])
        .bind(&names[1])
        .bind(new.parent.map(|p| p.0 as i64))
        .bind(now_ms())
        .bind(new.output_format.as_deref())
        .bind(new.variant.map(|v| i32::from(v.index)))
        // The seed's bits as they are: a column holds a signed 64-bit number.
        .bind(new.variant.map(|v| v.seed as i64))
        .bind(new.variant.map(|v| v.set.unwrap_or(id).0 as i64))
        .bind(self.claimer())
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            match images {
                Images::Given(bytes) => {
                    for (name, bytes) in names.iter().zip(bytes) {
                        put_file(&mut tx, id, name, bytes).await?;
                    }
                }
                Images::OfJob(earlier) => {
                    sqlx::query(
                        "INSERT INTO job_files (job_id, name, bytes)
                         SELECT $1, name, bytes FROM job_files WHERE job_id = $2 AND name IN ($3, $4)",
                    )
                    .bind(id.0 as i64)
                    .bind(earlier.0 as i64)
                    .bind(&names[0])
                    .bind(&names[1])
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes back to `DATA_DIR` the files of `job` that the database has and this disk
    /// does not (PostgreSQL: the job was accepted by another process or machine, or the
    /// disk was replaced). One file in memory at a time.
    async fn fetch_missing_files(&self, job: &StoredJob) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let paths = [Some(&job.product_path), Some(&job.background_path), job.result_path.as_ref()];
        for path in paths.into_iter().flatten() {
            if tokio::fs::try_exists(path).await.unwrap_or(false) {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let bytes: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT bytes FROM job_files WHERE job_id = $1 AND name = $2")
                    .bind(job.id.0 as i64)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
            // Not in the database either: the engine or delivery reports the missing file.
            let Some(bytes) = bytes else { continue };
            let dir = self.job_dir(job.id);
            create_dir_synced(&dir).await?;
            write_synced(path, &bytes).await?;
        }
        Ok(())
    }

    /// Remembers which message shows the job's state, so a restart keeps editing it.
    pub async fn set_status_message(&self, id: JobId, message_id: i32) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET status_message_id = $1 WHERE id = $2")
            .bind(message_id)
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims the one Retry of a failed job: `false` if it was claimed before (in this run
    /// or an earlier one).
    pub async fn claim_retry(&self, id: JobId) -> Result<bool, StoreError> {
        let claimed = sqlx::query("UPDATE jobs SET retried_at = $1 WHERE id = $2 AND retried_at IS NULL")
            .bind(now_ms())
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Records that the user has been told how the job ended (failure or cancel shown; a
    /// delivered result records it with its transition).
    pub async fn mark_told(&self, id: JobId) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
            .bind(now_ms())
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn job(&self, id: JobId) -> Result<Option<StoredJob>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id.0 as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(|r| self.stored_job(r)))
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// What a start-up must pick up, oldest first: jobs in the queue or delivering, and
    /// ended jobs whose user has not been told yet; their files are on this disk when it
    /// returns.
    pub async fn unfinished(&self) -> Result<Vec<StoredJob>, StoreError> {
        let query = format!("SELECT * FROM jobs WHERE {} ORDER BY id", Self::unfinished_condition());
        let rows = sqlx::query(&query).fetch_all(&self.pool).await?;
        let jobs: Vec<StoredJob> = rows.iter().map(|r| self.stored_job(r)).collect();
        for job in jobs.iter().filter(|j| !j.state.is_terminal()) {
            self.fetch_missing_files(job).await?;
        }
        Ok(jobs)
    }

    /// The rows a start-up (or a replica taking over) picks up: jobs in the queue or
    /// delivering, and ended jobs whose user has not been told yet.
    fn unfinished_condition() -> String {
        let mut live = StateName::IN_QUEUE.to_vec();
        live.push(StateName::Delivering);
        format!(
            "state IN ({}) OR (state IN ({}) AND delivered_at IS NULL)",
            StateName::sql_list(&live),
            StateName::sql_list(&[StateName::Failed, StateName::Cancelled]),
        )
    }

    /// Deletes the images of jobs that ended more than `older_than` ago (rows stay, for
    /// statistics), and abandoned uploads. Returns how many jobs' files were deleted.
    pub async fn sweep(&self, older_than: Duration) -> Result<usize, StoreError> {
        let cutoff = now_ms() - older_than.as_millis() as i64;
        let query = format!(
            "SELECT id FROM jobs WHERE files_deleted_at IS NULL AND state IN ({})
             AND COALESCE(finished_at, created_at) < $1",
            StateName::sql_list(&StateName::TERMINAL)
        );
        let ids: Vec<i64> = sqlx::query_scalar(&query).bind(cutoff).fetch_all(&self.pool).await?;
        for &id in &ids {
            let dir = self.job_dir(JobId(id as u64));
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("deleting {}", dir.display()))(e)),
            }
            let mut tx = self.pool.begin().await?;
            if self.backend == Backend::Postgres {
                sqlx::query("DELETE FROM job_files WHERE job_id = $1").bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE jobs SET files_deleted_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        self.sweep_pending(older_than).await?;
        self.sweep_orphans(older_than).await?;
        Ok(ids.len())
    }

    /// Deletes job directories older than `older_than` that no row names: what a crash
    /// between writing a job's images and committing its row left behind.
    async fn sweep_orphans(&self, older_than: Duration) -> Result<(), StoreError> {
        let jobs = self.data_dir.join("jobs");
        let Ok(mut entries) = tokio::fs::read_dir(&jobs).await else { return Ok(()) };
        while let Some(entry) =
            entries.next_entry().await.map_err(io(format!("listing {}", jobs.display())))?
        {
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else { continue };
            let old = modified_longer_ago(&entry, older_than).await;
            if !old {
                continue;
            }
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            if known.is_none() {
                tracing::info!(dir = %entry.path().display(), "deleting the images of a job never committed");
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
            }
        }
        Ok(())
    }

    /// The stored dialogue state of a chat (JSON, owned by the bot).
    pub async fn dialogue(&self, chat_id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT state FROM dialogues WHERE chat_id = $1")
            .bind(chat_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_dialogue(&self, chat_id: i64, state: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dialogues (chat_id, state, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(chat_id)
        .bind(state)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_dialogue(&self, chat_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dialogues WHERE chat_id = $1").bind(chat_id).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn keeps_files_in_database(&self) -> bool {
        self.backend == Backend::Postgres
    }
}

/// Where a new job's images come from, for the database's copy.
enum Images<'a> {
    /// Bytes just received.
    Given([&'a [u8]; 2]),
    /// The images of an earlier job (Regenerate, Retry).
    OfJob(JobId),
}

/// Puts one of a job's files in the database (PostgreSQL), replacing one of that name.
async fn put_file(
    tx: &mut Transaction<'_, Any>,
    id: JobId,
    name: &str,
    bytes: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_files (job_id, name, bytes) VALUES ($1, $2, $3)
         ON CONFLICT (job_id, name) DO UPDATE SET bytes = excluded.bytes",
    )
    .bind(id.0 as i64)
    .bind(name)
    .bind(bytes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    fn stored_job(&self, row: &AnyRow) -> StoredJob {
        let id = JobId(row.get::<i64, _>("id") as u64);
        let dir = self.job_dir(id);
        let name: String = row.get("state");
        let kind: Option<String> = row.get("error_kind");
        let detail: Option<String> = row.get("error");
        let failure = kind.map(|kind| FailReason::from_stored(&kind, detail.as_deref().unwrap_or("")));
        // A name this version does not know is a failed job, not a job lost.
        let (state, failure) = match StateName::parse(&name) {
            Some(state) => (state, failure),
            None => (StateName::Failed, Some(FailReason::Internal(format!("unknown stored state {name:?}")))),
        };
        let lane: Option<i64> = row.get("lane");
        let remote: Option<String> = row.get("remote_task_id");
        let result: Option<String> = row.get("result_path");
        let delivered: Option<i64> = row.get("delivered_at");
        let variant_index: Option<i32> = row.get("variant_index");
        let variant_seed: Option<i64> = row.get("variant_seed");
        let variant_set: Option<i64> = row.get("variant_set");
        let variant = match (variant_index.and_then(|i| u8::try_from(i).ok()), variant_seed, variant_set) {
            (Some(index), Some(seed), Some(set)) => {
                Some(JobVariant { index, seed: seed as u64, set: Some(JobId(set as u64)) })
            }
            _ => None,
        };
        StoredJob {
            id,
            user_id: row.get("user_id"),
            chat_id: row.get("chat_id"),
            language: row.get("language"),
            status_message_id: row.get("status_message_id"),
            state,
            failure,
            lane: lane.and_then(|l| u16::try_from(l).ok()).map(LaneId),
            remote_task: remote.map(RemoteTaskId),
            unconfirmed_creates: u32::try_from(row.get::<i64, _>("unconfirmed_creates")).unwrap_or(0),
            product_path: dir.join(row.get::<String, _>("product_path")),
            background_path: dir.join(row.get::<String, _>("background_path")),
            result_path: result.map(|name| dir.join(name)),
            created_at_ms: row.get("created_at"),
            told: delivered.is_some(),
            output_format: row.get("output_format"),
            variant,
        }
    }
}
