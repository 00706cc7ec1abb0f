//! A job's files under `DATA_DIR/jobs/<id>/`, written so that they survive a crash or a
//! power cut before the row that names them, and the lock that gives `DATA_DIR` to one
//! process.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{StoreError, io};

/// Takes `DATA_DIR/backdrop.lock` for this process (an OS lock, released when the process
/// dies however it dies), writing our pid into it for whoever finds it taken.
pub(super) fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, StoreError> {
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
pub(super) async fn modified_longer_ago(entry: &tokio::fs::DirEntry, age: Duration) -> bool {
    let modified = entry.metadata().await.and_then(|m| m.modified());
    modified.ok().and_then(|t| t.elapsed().ok()).is_some_and(|elapsed| elapsed > age)
}

/// The highest numeric directory name under `jobs`, 0 if none.
pub(super) async fn highest_job_dir(jobs: &Path) -> u64 {
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
pub(super) async fn create_dir_synced(dir: &Path) -> Result<(), StoreError> {
    tokio::fs::create_dir_all(dir).await.map_err(io(format!("creating {}", dir.display())))?;
    match dir.parent() {
        Some(parent) => sync_dir(parent).await,
        None => Ok(()),
    }
}

/// fsync of a directory: makes the names of the files in it durable.
pub(super) async fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let what = || format!("syncing {}", dir.display());
    let handle = tokio::fs::File::open(dir).await.map_err(io(what()))?;
    handle.sync_all().await.map_err(io(what()))
}

pub(super) async fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let what = || format!("writing {}", path.display());
    let mut file = tokio::fs::File::create(path).await.map_err(io(what()))?;
    file.write_all(bytes).await.map_err(io(what()))?;
    file.sync_all().await.map_err(io(what()))
}
