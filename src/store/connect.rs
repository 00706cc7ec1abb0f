//! Opening the database behind the store: SQLite or PostgreSQL through sqlx's `Any`
//! driver, so that one set of queries serves both (they are written in the SQL the two
//! share, with `$n` parameters).

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool};
use sqlx::{Connection, Executor};

use super::{DatabaseUrl, StoreError};

/// The kind of database, where their SQL differs (images in rows, id sequences, locks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

/// Whether the store may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Held while migrations run, so replicas that start at the same moment migrate one after
/// the other (sqlx's own lock is taken only after its bookkeeping table is created, which
/// itself races).
const MIGRATIONS_LOCK: i64 = 0x6261_636b_6d69_6772; // "backmigr"

/// Held by the one bot process that runs the jobs of a PostgreSQL database.
const RUNNER_LOCK: i64 = 0x6261_636b_6472_6f70; // "backdrop"

pub(super) async fn pool(url: &DatabaseUrl, access: Access) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    match url {
        DatabaseUrl::Sqlite(url) => {
            // `mode` makes the file (rwc) or refuses to write (ro); the pragmas are per
            // connection, set on each as it opens.
            let mode = if access == Access::ReadOnly { "ro" } else { "rwc" };
            let separator = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{separator}mode={mode}");
            let pool = AnyPoolOptions::new()
                .max_connections(if access == Access::ReadOnly { 1 } else { 4 })
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON").await?;
                        if access == Access::ReadWrite {
                            // FULL: a committed job survives a power cut, not only a crash.
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL").await?;
                        }
                        Ok(())
                    })
                })
                .connect(&url)
                .await?;
            Ok((pool, Backend::Sqlite))
        }
        DatabaseUrl::Postgres(_) => {
            let pool = AnyPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url.expose())
                .await?;
            Ok((pool, Backend::Postgres))
        }
    }
}

pub(super) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    match backend {
        // One process per DATA_DIR: nobody else migrates this file.
        Backend::Sqlite => Ok(sqlx::migrate!("./migrations/sqlite").run(pool).await?),
        Backend::Postgres => {
            let mut conn = pool.acquire().await?;
            // Selecting the void result itself would not decode.
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_lock($1)) AS taken")
                .bind(MIGRATIONS_LOCK)
                .execute(&mut *conn)
                .await?;
            let migrated = sqlx::migrate!("./migrations/postgres").run(&mut *conn).await;
            let unlocked =
                sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATIONS_LOCK).execute(&mut *conn).await;
            migrated?;
            unlocked?;
            Ok(())
        }
    }
}

/// Takes the database's jobs for this process if no other process holds them: a session
/// lock on a connection of its own, released when the connection closes, however the
/// process ends (PostgreSQL sees the socket close).
pub(super) async fn try_runner_lock(pool: &AnyPool) -> Result<Option<AnyConnection>, StoreError> {
    let mut conn = pool.acquire().await?.detach();
    let taken: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(RUNNER_LOCK).fetch_one(&mut conn).await?;
    if taken {
        return Ok(Some(conn));
    }
    let _ = conn.close().await;
    Ok(None)
}
