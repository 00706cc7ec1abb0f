//! The periodic sweep that deletes job images after `RETENTION_DAYS`.

use std::time::Duration;

use crate::shutdown::Shutdown;

use super::Store;

/// How often the sweep runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Sweeps now and then every hour until `stop` fires.
pub async fn sweep_periodically(store: Store, retention: Duration, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        match store.sweep(retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "deleted images older than the retention period"),
            Err(e) => tracing::warn!("retention sweep failed: {e}"),
        }
    }
}
