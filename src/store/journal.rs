//! The store as the queue's journal: each state change of a job, persisted as applied.

use async_trait::async_trait;

use super::{Store, StoreError, now_ms};
use crate::job::{JobId, JobState};
use crate::queue::JobJournal;

impl Store {
    async fn try_record(&self, job: JobId, state: &JobState) -> Result<(), StoreError> {
        let id = job.0 as i64;
        let now = now_ms();
        let query = match state {
            JobState::Queued { .. } => {
                sqlx::query("UPDATE jobs SET state = 'queued', lane = NULL WHERE id = ?").bind(id)
            }
            JobState::Running { lane, remote_task: None, .. } => sqlx::query(
                "UPDATE jobs SET state = 'running', lane = ?, attempts = attempts + 1,
                 started_at = COALESCE(started_at, ?) WHERE id = ?",
            )
            .bind(i64::from(lane.0))
            .bind(now)
            .bind(id),
            JobState::Running { lane, remote_task: Some(task), .. } => {
                sqlx::query("UPDATE jobs SET state = 'running', lane = ?, remote_task_id = ? WHERE id = ?")
                    .bind(i64::from(lane.0))
                    .bind(task.0.clone())
                    .bind(id)
            }
            JobState::Done(output) => {
                let dir = self.job_dir(job);
                let name = format!("result.{}", output.extension);
                let path = dir.join(&name);
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(super::io(format!("creating {}", dir.display())))?;
                super::write_synced(&path, &output.image).await?;
                sqlx::query("UPDATE jobs SET state = 'done', result_path = ?, finished_at = ? WHERE id = ?")
                    .bind(name)
                    .bind(now)
                    .bind(id)
            }
            JobState::Failed(reason) => sqlx::query(
                "UPDATE jobs SET state = 'failed', error_kind = ?, error = ?, finished_at = ? WHERE id = ?",
            )
            .bind(reason.kind())
            .bind(reason.detail())
            .bind(now)
            .bind(id),
            JobState::Cancelled => {
                sqlx::query("UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(id)
            }
        };
        query.execute(self.pool()).await?;
        Ok(())
    }
}

#[async_trait]
impl JobJournal for Store {
    async fn record(&self, job: JobId, state: &JobState) {
        // The queue goes on either way; a lost write is repaired by recovery at worst
        // (a running job is polled again, a queued one re-run).
        for attempt in 1..=3 {
            match self.try_record(job, state).await {
                Ok(()) => return,
                Err(e) if attempt < 3 => {
                    tracing::warn!(%job, "recording the job's state failed, retrying: {e}")
                }
                Err(e) => {
                    tracing::error!(%job, state = state.name(), "recording the job's state failed: {e}")
                }
            }
        }
    }
}
