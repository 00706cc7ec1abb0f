//! Several replicas on one PostgreSQL database, all running jobs (active-active).
//!
//! Each process is a row of `replicas`, kept alive by its heartbeat; a job belongs to the
//! replica that claimed it (`jobs.claimed_by`); each task slot of each account is a row
//! of `slot_leases`, held by at most one replica. A replica whose heartbeat lapsed is
//! dead: the first live replica to lock its row (`FOR UPDATE SKIP LOCKED`, so replicas
//! never wait for each other) takes its unfinished jobs and its leases over in one
//! transaction. Leases move with the jobs and are never simply freed by time, so an
//! account never runs more tasks than its limit, even while its tasks change hands.
//! Every moment is the database's clock, so replicas' clocks need not agree.
//!
//! With SQLite one process holds `DATA_DIR`: none of this applies.

use std::fmt;
use std::time::Duration;

use sqlx::Row;

use super::connect::Backend;
use super::{Store, StoreError, StoredJob, now_ms};
use crate::job::{JobId, LaneId, RemoteTaskId, StateName};

/// The channel on which replicas pass RunningHub's callbacks on to each other.
const TASKS_ENDED: &str = "backdrop_tasks_ended";

/// The channel on which replicas announce leases given back.
const LEASES_FREED: &str = "backdrop_leases_freed";

/// The database's clock in Unix milliseconds.
const DB_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Who a replica is: unique per process (host, pid, start time), so a restarted process
/// is a new replica and its earlier self is taken over like any dead one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplicaId(String);

impl ReplicaId {
    pub fn new() -> Self {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let host: String =
            host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
        let nonce: u32 = rand::random();
        Self(format!(
            "{}-{}-{}-{nonce:08x}",
            if host.is_empty() { "host" } else { &host },
            std::process::id(),
            now_ms()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ReplicaId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One task slot of one account, as a lease row names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    pub lane: LaneId,
    pub slot: i32,
}

/// What a replica took over from a dead one.
#[derive(Debug, Default)]
pub struct TakenOver {
    /// Their unfinished jobs (as [`Store::unfinished`] would give them), oldest first,
    /// their files on this disk.
    pub jobs: Vec<StoredJob>,
    /// The slots they held: tasks of those jobs may be running on them.
    pub leases: Vec<Lease>,
    /// Pictures they were taking when they died: whom to ask to send again.
    pub unanswered: Vec<super::Unanswered>,
}

fn integers(values: impl IntoIterator<Item = i64>) -> String {
    values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Whether several processes may share this store's jobs (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    fn me(&self) -> Option<&ReplicaId> {
        self.replica.get()
    }

    /// Enters this process as a replica alive for `ttl`; from now on the jobs it creates
    /// are claimed by it. Makes the lease rows of `lanes` (lane, limit) exist: one per
    /// slot, those past a lowered limit dropped once free.
    pub async fn join_replicas(
        &self,
        id: ReplicaId,
        ttl: Duration,
        lanes: &[(LaneId, usize)],
    ) -> Result<(), StoreError> {
        let ttl = ttl.as_millis() as i64;
        sqlx::query(&format!(
            "INSERT INTO replicas (id, alive_until, started_at) VALUES ($1, {DB_NOW} + $2, {DB_NOW})"
        ))
        .bind(id.as_str())
        .bind(ttl)
        .execute(&self.pool)
        .await?;
        for &(lane, limit) in lanes {
            sqlx::query(
                "INSERT INTO slot_leases (account, slot, holder)
                 SELECT $1, s, NULL FROM generate_series(0, $2 - 1) AS s ON CONFLICT DO NOTHING",
            )
            .bind(i32::from(lane.0))
            .bind(limit as i32)
            .execute(&self.pool)
            .await?;
            sqlx::query("DELETE FROM slot_leases WHERE account = $1 AND slot >= $2 AND holder IS NULL")
                .bind(i32::from(lane.0))
                .bind(limit as i32)
                .execute(&self.pool)
                .await?;
        }
        let _ = self.replica.set(id);
        Ok(())
    }

    /// Keeps this replica alive for another `ttl`; answers how many replicas are alive
    /// (itself included). `None`: it was declared dead and taken over meanwhile, so its
    /// jobs are another's now.
    pub async fn heartbeat(&self, ttl: Duration) -> Result<Option<usize>, StoreError> {
        let Some(me) = self.me() else { return Ok(None) };
        let alive: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE replicas SET alive_until = {DB_NOW} + $1 WHERE id = $2
             RETURNING (SELECT COUNT(*) FROM replicas WHERE alive_until >= {DB_NOW} OR id = $2)"
        ))
        .bind(ttl.as_millis() as i64)
        .bind(me.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(alive.map(|n| usize::try_from(n).unwrap_or(1).max(1)))
    }

    /// At a clean stop: this replica is dead from now on, so another takes its jobs and
    /// leases over at its next look instead of after the heartbeat lapses.
    pub async fn leave_replicas(&self) -> Result<(), StoreError> {
        let Some(me) = self.me() else { return Ok(()) };
        sqlx::query("UPDATE replicas SET alive_until = 0 WHERE id = $1")
            .bind(me.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes over one dead replica's unfinished jobs and leases, if there is one that no
    /// other replica is taking over right now, or else jobs that no replica claimed
    /// (created before replicas). Empty when there is nothing to take.
    pub async fn take_over(&self) -> Result<TakenOver, StoreError> {
        let Some(me) = self.me() else { return Ok(TakenOver::default()) };
        let mut tx = self.pool.begin().await?;
        let dead: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM replicas WHERE alive_until < {DB_NOW} AND id <> $1
             ORDER BY alive_until LIMIT 1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(me.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let whose = match &dead {
            Some(_) => "claimed_by = $2",
            None => "claimed_by IS NULL AND $2 = ''",
        };
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET claimed_by = $1 WHERE id IN (
                 SELECT id FROM jobs WHERE {whose} AND ({}) FOR UPDATE SKIP LOCKED)
             RETURNING *",
            Self::unfinished_condition()
        ))
        .bind(me.as_str())
        .bind(dead.as_deref().unwrap_or(""))
        .fetch_all(&mut *tx)
        .await?;
        let mut leases = Vec::new();
        if let Some(dead) = &dead {
            let taken =
                sqlx::query("UPDATE slot_leases SET holder = $1 WHERE holder = $2 RETURNING account, slot")
                    .bind(me.as_str())
                    .bind(dead)
                    .fetch_all(&mut *tx)
                    .await?;
            leases = taken
                .iter()
                .filter_map(|r| {
                    let account: i32 = r.get("account");
                    Some(Lease { lane: LaneId(u16::try_from(account).ok()?), slot: r.get("slot") })
                })
                .collect();
            sqlx::query("DELETE FROM replicas WHERE id = $1").bind(dead).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let unanswered = self.take_unanswered(dead.as_deref()).await?;
        let mut jobs: Vec<StoredJob> = rows.iter().map(|r| self.stored_job(r)).collect();
        jobs.sort_by_key(|j| j.id);
        if let Some(dead) = &dead {
            tracing::warn!(replica = %dead, jobs = jobs.len(), leases = leases.len(), "took over a dead replica");
        }
        for job in jobs.iter().filter(|j| !j.state.is_terminal()) {
            self.fetch_missing_files(job).await?;
        }
        Ok(TakenOver { jobs, leases, unanswered })
    }

    /// Leases up to `n` free slots for this replica: of `lane` only, or of any of `lanes`,
    /// the accounts with the fewest slots held (by anyone) first.
    pub async fn acquire_leases(&self, lanes: &[LaneId], n: usize) -> Result<Vec<Lease>, StoreError> {
        let Some(me) = self.me() else { return Ok(Vec::new()) };
        if lanes.is_empty() || n == 0 {
            return Ok(Vec::new());
        }
        let accounts = integers(lanes.iter().map(|l| i64::from(l.0)));
        let rows = sqlx::query(&format!(
            "UPDATE slot_leases SET holder = $1 WHERE (account, slot) IN (
                 SELECT account, slot FROM slot_leases AS free
                 WHERE holder IS NULL AND account IN ({accounts})
                 ORDER BY (SELECT COUNT(*) FROM slot_leases AS held
                           WHERE held.account = free.account AND held.holder IS NOT NULL), slot
                 LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING account, slot"
        ))
        .bind(me.as_str())
        .bind(n as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let account: i32 = r.get("account");
                Some(Lease { lane: LaneId(u16::try_from(account).ok()?), slot: r.get("slot") })
            })
            .collect())
    }

    /// Gives leases back for other replicas to use, and tells them ([`LEASES_FREED`]).
    pub async fn release_leases(&self, leases: &[Lease]) -> Result<(), StoreError> {
        let Some(me) = self.me() else { return Ok(()) };
        if leases.is_empty() {
            return Ok(());
        }
        let pairs = leases
            .iter()
            .map(|l| format!("({}, {})", i64::from(l.lane.0), l.slot))
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "UPDATE slot_leases SET holder = NULL WHERE holder = $1 AND (account, slot) IN ({pairs})"
        ))
        .bind(me.as_str())
        .execute(&mut *tx)
        .await?;
        // Delivered at commit, to every replica listening.
        sqlx::query(&format!("NOTIFY {LEASES_FREED}")).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A connection that hears when another replica gives leases back, so a replica
    /// whose jobs wait for slots asks at once instead of at its next look.
    pub async fn hear_freed_leases(&self) -> Result<sqlx::postgres::PgListener, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(self.url.expose()).await?;
        listener.listen(LEASES_FREED).await?;
        Ok(listener)
    }

    /// Tells every replica that RunningHub called back about `task` (of `job`): the one
    /// running it polls it now.
    pub async fn announce_task_ended(
        &self,
        task: &RemoteTaskId,
        job: Option<JobId>,
    ) -> Result<(), StoreError> {
        let payload = match job {
            Some(job) => format!("{} {}", task.0, job.0),
            None => task.0.clone(),
        };
        sqlx::query("SELECT pg_notify($1, $2)").bind(TASKS_ENDED).bind(payload).execute(&self.pool).await?;
        Ok(())
    }

    /// A connection that hears the callbacks other replicas took: `task` and its job, in
    /// the form [`Store::announce_task_ended`] sends.
    pub async fn hear_ended_tasks(&self) -> Result<sqlx::postgres::PgListener, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(self.url.expose()).await?;
        listener.listen(TASKS_ENDED).await?;
        Ok(listener)
    }

    /// Asks whichever replica runs `id` to cancel it; `false` if the job is not live.
    pub async fn request_cancel(&self, id: JobId) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET cancel_requested_at = $1 WHERE id = $2 AND state IN ({})",
            StateName::sql_list(&StateName::IN_QUEUE)
        ))
        .bind(now_ms())
        .bind(id.0 as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// This replica's live jobs that someone asked (on another replica) to cancel.
    pub async fn cancel_requests(&self) -> Result<Vec<JobId>, StoreError> {
        let Some(me) = self.me() else { return Ok(Vec::new()) };
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE claimed_by = $1 AND cancel_requested_at IS NOT NULL AND state IN ({})",
            StateName::sql_list(&StateName::IN_QUEUE)
        ))
        .bind(me.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(|id| JobId(id as u64)).collect())
    }

    /// The jobs `user` has in the queue or running, on every replica.
    pub async fn jobs_in_queue_of(&self, user: i64) -> Result<Vec<JobId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE user_id = $1 AND state IN ({}) ORDER BY id",
            StateName::sql_list(&StateName::IN_QUEUE)
        ))
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(|id| JobId(id as u64)).collect())
    }

    /// The live jobs of the album whose first job is `lead` (they share its status
    /// message), on every replica.
    pub async fn album_jobs_in_queue(&self, lead: JobId) -> Result<Vec<JobId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT j.id FROM jobs AS j JOIN jobs AS lead ON lead.id = $1
             WHERE j.chat_id = lead.chat_id AND j.status_message_id = lead.status_message_id
             AND j.state IN ({}) ORDER BY j.id",
            StateName::sql_list(&StateName::IN_QUEUE)
        ))
        .bind(lead.0 as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(|id| JobId(id as u64)).collect())
    }

    /// The replica's id for a new job's row (`None` with SQLite).
    pub(super) fn claimer(&self) -> Option<&str> {
        self.me().map(ReplicaId::as_str)
    }
}
