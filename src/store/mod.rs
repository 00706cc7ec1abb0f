//! The job store: every accepted job and its images, durable across restarts and crashes.
//!
//! SQLite (WAL, `synchronous=FULL`) in `DATA_DIR`, migrations in `migrations/`. A job's
//! input images are written to `DATA_DIR/jobs/<id>/` before the job is acknowledged to the
//! user; the result is written there when the job ends, before its row says so. The store
//! is the ledger's [`crate::job::JobJournal`], so each transition is persisted in the
//! order it was applied; the `state` column holds [`StateName`]s.

mod dialogues;
mod journal;
mod retention;
pub mod stats;

pub use dialogues::{DialogueError, DurableDialogues};
pub use retention::sweep_periodically;

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use tokio::io::AsyncWriteExt;

use crate::input_image::InputImage;
use crate::job::{FailReason, JobId, JobOutput, RemoteTaskId, StateName};
use crate::job::{ImageSource, JobInput, LaneId};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("job store migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
    pool: SqlitePool,
    data_dir: PathBuf,
    /// `DATA_DIR/backdrop.lock`, locked while the store is open: SQLite and the job files
    /// belong to one process (released by [`Store::close`], or when the process dies).
    lock: Arc<Mutex<Option<std::fs::File>>>,
    /// The next job id to give (see [`Store::create_job`]).
    next_id: Arc<AtomicU64>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (creating if needed) the database and `data_dir`, and applies migrations.
    pub async fn open(database_url: &str, data_dir: &Path) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(data_dir.join("jobs"))
            .await
            .map_err(io(format!("creating {}", data_dir.display())))?;
        let dir = data_dir.to_owned();
        let lock = tokio::task::spawn_blocking(move || lock_data_dir(&dir))
            .await
            .map_err(|e| io("locking DATA_DIR")(std::io::Error::other(e)))??;
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed job survives a power cut, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // Past every row and every directory (an orphan of a crash keeps its id unused).
        let last_row: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM jobs").fetch_one(&pool).await?;
        let last_dir = highest_job_dir(&data_dir.join("jobs")).await;
        let next_id = Arc::new(AtomicU64::new((last_row.max(0) as u64).max(last_dir) + 1));
        Ok(Self { pool, data_dir: data_dir.to_owned(), lock: Arc::new(Mutex::new(Some(lock))), next_id })
    }

    /// Opens the database of a store that may be in use by a running bot, to read it only
    /// (`backdrop stats`): no lock, no migrations, no writes.
    pub async fn open_read_only(database_url: &str, data_dir: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .read_only(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        // Read only: it never creates a job.
        Ok(Self {
            pool,
            data_dir: data_dir.to_owned(),
            lock: Arc::new(Mutex::new(None)),
            next_id: Arc::default(),
        })
    }

    /// Waits for in-flight writes, closes the database and gives `DATA_DIR` up (at
    /// shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
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
        let id = self.reserve_id();
        let dir = self.job_dir(id);
        let written = async {
            create_dir_synced(&dir).await?;
            write_synced(&dir.join(&names[0]), product.bytes()).await?;
            write_synced(&dir.join(&names[1]), background.bytes()).await?;
            sync_dir(&dir).await
        }
        .await;
        self.insert_row_after(id, new, &names, written).await?;
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
        let sources = [&earlier.product_path, &earlier.background_path];
        let names = sources
            .map(|p| p.file_name().map_or_else(|| "image".to_owned(), |n| n.to_string_lossy().into_owned()));
        let id = self.reserve_id();
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
        self.insert_row_after(id, new, &names, linked).await?;
        Ok((id, self.input_of(id, &names)))
    }

    /// The id of the next job: ids are this process's to give (it holds `DATA_DIR`), so
    /// the job's directory can be written before its row exists.
    fn reserve_id(&self) -> JobId {
        JobId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Commits the job's row once its files are `written`; if they could not be, removes
    /// what was written and commits nothing.
    async fn insert_row_after(
        &self,
        id: JobId,
        new: &NewJob,
        names: &[String; 2],
        written: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if let Err(e) = written {
            let _ = tokio::fs::remove_dir_all(self.job_dir(id)).await;
            return Err(e);
        }
        self.insert_row(id, new, names).await
    }

    fn input_of(&self, id: JobId, names: &[String; 2]) -> JobInput {
        let dir = self.job_dir(id);
        JobInput {
            product: ImageSource::File(dir.join(&names[0])),
            background: ImageSource::File(dir.join(&names[1])),
        }
    }

    /// One commit per job: file names are relative to the job's directory, known up front.
    async fn insert_row(&self, id: JobId, new: &NewJob, names: &[String; 2]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, user_id, chat_id, language, state, engine, product_path, background_path, parent_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remembers which message shows the job's state, so a restart keeps editing it.
    pub async fn set_status_message(&self, id: JobId, message_id: i32) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET status_message_id = ? WHERE id = ?")
            .bind(message_id)
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims the one Retry of a failed job: `false` if it was claimed before (in this run
    /// or an earlier one).
    pub async fn claim_retry(&self, id: JobId) -> Result<bool, StoreError> {
        let claimed = sqlx::query("UPDATE jobs SET retried_at = ? WHERE id = ? AND retried_at IS NULL")
            .bind(now_ms())
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Records that the user has been told how the job ended (failure or cancel shown; a
    /// delivered result records it with its transition).
    pub async fn mark_told(&self, id: JobId) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL")
            .bind(now_ms())
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn job(&self, id: JobId) -> Result<Option<StoredJob>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
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
    /// ended jobs whose user has not been told yet.
    pub async fn unfinished(&self) -> Result<Vec<StoredJob>, StoreError> {
        let mut live = StateName::IN_QUEUE.to_vec();
        live.push(StateName::Delivering);
        let query = format!(
            "SELECT * FROM jobs WHERE state IN ({}) OR (state IN ({}) AND delivered_at IS NULL) ORDER BY id",
            StateName::sql_list(&live),
            StateName::sql_list(&[StateName::Failed, StateName::Cancelled]),
        );
        let rows = sqlx::query(&query).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| self.stored_job(r)).collect())
    }

    /// Deletes the images of jobs that ended more than `older_than` ago (rows stay, for
    /// statistics), and abandoned uploads. Returns how many jobs' files were deleted.
    pub async fn sweep(&self, older_than: Duration) -> Result<usize, StoreError> {
        let cutoff = now_ms() - older_than.as_millis() as i64;
        let query = format!(
            "SELECT id FROM jobs WHERE files_deleted_at IS NULL AND state IN ({})
             AND COALESCE(finished_at, created_at) < ?",
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
            sqlx::query("UPDATE jobs SET files_deleted_at = ? WHERE id = ?")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        self.sweep_incoming(older_than).await?;
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
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = ?")
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

    /// Deletes product photos that waited longer than `older_than` in `DATA_DIR/incoming/`
    /// for a background that never came.
    async fn sweep_incoming(&self, older_than: Duration) -> Result<(), StoreError> {
        let dir = self.data_dir.join("incoming");
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(format!("listing {}", dir.display()))(e)),
        };
        while let Some(entry) =
            entries.next_entry().await.map_err(io(format!("listing {}", dir.display())))?
        {
            let old = modified_longer_ago(&entry, older_than).await;
            if old {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }

    /// The stored dialogue state of a chat (JSON, owned by the bot).
    pub async fn dialogue(&self, chat_id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT state FROM dialogues WHERE chat_id = ?")
            .bind(chat_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_dialogue(&self, chat_id: i64, state: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dialogues (chat_id, state, updated_at) VALUES (?, ?, ?)
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
        sqlx::query("DELETE FROM dialogues WHERE chat_id = ?").bind(chat_id).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Takes `DATA_DIR/backdrop.lock` for this process (an OS lock, released when the process
/// dies however it dies), writing our pid into it for whoever finds it taken.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = data_dir.join("backdrop.lock");
    let what = || format!("locking {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(what()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = Some(holder.trim().to_owned()).filter(|h| !h.is_empty());
            return Err(StoreError::InUse { dir: data_dir.to_owned(), holder });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(what())(e)),
    }
    let written = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| {
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()
    });
    written.map_err(io(what()))?;
    Ok(file)
}

/// Whether `entry` was last modified more than `age` ago (unknown: no).
async fn modified_longer_ago(entry: &tokio::fs::DirEntry, age: Duration) -> bool {
    let modified = entry.metadata().await.and_then(|m| m.modified());
    modified.ok().and_then(|t| t.elapsed().ok()).is_some_and(|elapsed| elapsed > age)
}

/// The highest numeric directory name under `jobs`, 0 if none.
async fn highest_job_dir(jobs: &Path) -> u64 {
    let Ok(mut entries) = tokio::fs::read_dir(jobs).await else { return 0 };
    let mut highest = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        if let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
            highest = highest.max(id);
        }
    }
    highest
}

/// Creates `dir` and syncs its parent, so the new entry survives a power cut.
async fn create_dir_synced(dir: &Path) -> Result<(), StoreError> {
    tokio::fs::create_dir_all(dir).await.map_err(io(format!("creating {}", dir.display())))?;
    match dir.parent() {
        Some(parent) => sync_dir(parent).await,
        None => Ok(()),
    }
}

/// fsync of a directory: makes the names of the files in it durable.
async fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let what = || format!("syncing {}", dir.display());
    let handle = tokio::fs::File::open(dir).await.map_err(io(what()))?;
    handle.sync_all().await.map_err(io(what()))
}

async fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let what = || format!("writing {}", path.display());
    let mut file = tokio::fs::File::create(path).await.map_err(io(what()))?;
    file.write_all(bytes).await.map_err(io(what()))?;
    file.sync_all().await.map_err(io(what()))
}

impl Store {
    fn stored_job(&self, row: &SqliteRow) -> StoredJob {
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
        }
    }
}
