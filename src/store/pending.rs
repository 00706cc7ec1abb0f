//! Product photos that wait for their background, in `DATA_DIR/incoming/` (and, with
//! PostgreSQL, in the database, so that the background may reach another process).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::connect::Backend;
use super::files::modified_longer_ago;
use super::{Store, StoreError, io, now_ms};

impl Store {
    /// Keeps a product photo under `name` until its background comes; returns where it is.
    pub async fn keep_pending(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = self.data_dir.join("incoming");
        tokio::fs::create_dir_all(&dir).await.map_err(io(format!("creating {}", dir.display())))?;
        let path = dir.join(name);
        tokio::fs::write(&path, bytes).await.map_err(io(format!("writing {}", path.display())))?;
        if self.backend == Backend::Postgres {
            sqlx::query(
                "INSERT INTO pending_files (name, bytes, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes, created_at = excluded.created_at",
            )
            .bind(name)
            .bind(bytes)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        }
        Ok(path)
    }

    /// The photo kept at `path`, from this disk or else from the database.
    pub async fn read_pending(&self, path: &Path) -> Result<Vec<u8>, StoreError> {
        let read = tokio::fs::read(path).await;
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.backend == Backend::Postgres => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let bytes: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT bytes FROM pending_files WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                bytes.ok_or_else(|| io(format!("reading {}", path.display()))(e))
            }
            read => read.map_err(io(format!("reading {}", path.display()))),
        }
    }

    /// Drops a photo that no longer waits (its job is stored, or the step was cancelled).
    pub async fn forget_pending(&self, path: &Path) {
        if let Err(e) = tokio::fs::remove_file(path).await {
            tracing::debug!("removing {}: {e}", path.display());
        }
        if self.backend == Backend::Postgres {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if let Err(e) =
                sqlx::query("DELETE FROM pending_files WHERE name = $1").bind(name).execute(&self.pool).await
            {
                tracing::warn!("forgetting a pending photo: {e}");
            }
        }
    }

    /// Deletes product photos that waited longer than `older_than` for a background that
    /// never came.
    pub(super) async fn sweep_pending(&self, older_than: Duration) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("DELETE FROM pending_files WHERE created_at < $1")
                .bind(now_ms() - older_than.as_millis() as i64)
                .execute(&self.pool)
                .await?;
        }
        let dir = self.data_dir.join("incoming");
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(format!("listing {}", dir.display()))(e)),
        };
        while let Some(entry) =
            entries.next_entry().await.map_err(io(format!("listing {}", dir.display())))?
        {
            if modified_longer_ago(&entry, older_than).await {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }
}
