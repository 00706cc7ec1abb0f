//! The store as the ledger's journal: each batch of transitions in one transaction, in
//! the order applied. A result file is written (and synced) before the row that names it;
//! with PostgreSQL its bytes are committed with that row.

use async_trait::async_trait;
use sqlx::{Any, Transaction};

use super::{Store, StoreError, now_ms, put_file};
use crate::job::{JobJournal, JobState, Transition};

impl Store {
    async fn try_record(&self, batch: &[Transition]) -> Result<(), StoreError> {
        // Files first: a row never names a result that is not on disk.
        for t in batch {
            if let JobState::Delivering(output) = &t.state {
                let dir = self.job_dir(t.job);
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(super::io(format!("creating {}", dir.display())))?;
                super::files::write_synced(&dir.join(format!("result.{}", output.extension)), &output.image)
                    .await?;
            }
        }
        let mut tx = self.pool().begin().await?;
        for t in batch {
            write_row(&mut tx, t).await?;
            if let (JobState::Delivering(output), true) = (&t.state, self.keeps_files_in_database()) {
                put_file(&mut tx, t.job, &format!("result.{}", output.extension), &output.image).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The row update that one transition makes (none for a move in the queue: positions
/// follow from the order of the queued rows).
async fn write_row(tx: &mut Transaction<'_, Any>, t: &Transition) -> Result<(), sqlx::Error> {
    let id = t.job.0 as i64;
    let now = now_ms();
    let name = t.state.name().as_str();
    let query = match &t.state {
        JobState::Queued { .. } if t.event == "moved" => return Ok(()),
        // Sent back by its lane: every create it sent was answered (busy), none is pending.
        JobState::Queued { .. } => {
            sqlx::query("UPDATE jobs SET state = $1, lane = NULL, unconfirmed_creates = 0 WHERE id = $2")
                .bind(name)
                .bind(id)
        }
        JobState::Running { lane, task: None, .. } if t.event == "create_sent" => sqlx::query(
            "UPDATE jobs SET state = $1, lane = $2, unconfirmed_creates = unconfirmed_creates + 1 WHERE id = $3",
        )
        .bind(name)
        .bind(i64::from(lane.0))
        .bind(id),
        JobState::Uploading { lane, .. } => sqlx::query(
            "UPDATE jobs SET state = $1, lane = $2, attempts = attempts + 1,
             started_at = COALESCE(started_at, $3) WHERE id = $4",
        )
        .bind(name)
        .bind(i64::from(lane.0))
        .bind(now)
        .bind(id),
        JobState::Running { lane, task, .. } | JobState::Downloading { lane, task, .. } => sqlx::query(
            "UPDATE jobs SET state = $1, lane = $2, remote_task_id = COALESCE($3, remote_task_id) WHERE id = $4",
        )
        .bind(name)
        .bind(i64::from(lane.0))
        .bind(task.as_ref().map(|t| t.0.clone()))
        .bind(id),
        JobState::Delivering(output) => {
            sqlx::query("UPDATE jobs SET state = $1, result_path = $2, finished_at = $3 WHERE id = $4")
                .bind(name)
                .bind(format!("result.{}", output.extension))
                .bind(now)
                .bind(id)
        }
        JobState::Delivered => {
            sqlx::query("UPDATE jobs SET state = $1, delivered_at = COALESCE(delivered_at, $2) WHERE id = $3")
                .bind(name)
                .bind(now)
                .bind(id)
        }
        JobState::Failed(reason) => sqlx::query(
            "UPDATE jobs SET state = $1, error_kind = $2, error = $3, finished_at = COALESCE(finished_at, $4)
             WHERE id = $5",
        )
        .bind(name)
        .bind(reason.kind())
        .bind(reason.detail())
        .bind(now)
        .bind(id),
        JobState::Cancelled => sqlx::query("UPDATE jobs SET state = $1, finished_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now)
            .bind(id),
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

#[async_trait]
impl JobJournal for Store {
    async fn record(&self, batch: &[Transition]) {
        // The ledger goes on either way; a lost write is repaired by recovery at worst
        // (a running job is polled again, a queued one re-run).
        for attempt in 1..=3 {
            match self.try_record(batch).await {
                Ok(()) => return,
                Err(e) if attempt < 3 => {
                    tracing::warn!(transitions = batch.len(), "recording job states failed, retrying: {e}")
                }
                Err(e) => tracing::error!(transitions = batch.len(), "recording job states failed: {e}"),
            }
        }
    }
}
