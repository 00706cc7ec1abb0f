//! Stopping the process in a known order, each stage bounded by one grace period.
//!
//! One [`Shutdown`] is handed to everything that must stop (in the manner of
//! tokio-rs/mini-redis): it is triggered once (SIGINT, SIGTERM, or a test), and the bot
//! then walks the stages in this order, recording each:
//!
//! 1. [`Stage::StopUpdates`]: no new update is taken (polling stops, the webhook closes).
//! 2. [`Stage::FinishHandlers`]: handlers that already accepted an update finish.
//! 3. [`Stage::DrainStore`]: every transition applied so far is in the store.
//! 4. [`Stage::StopEngines`]: running jobs are left running or cancelled per `ON_SHUTDOWN`,
//!    and how each ended is recorded.
//! 5. [`Stage::FinishStatus`]: jobs that ended get their last status word and result;
//!    jobs kept for the next start stop being followed.
//! 6. [`Stage::Exit`]: the last writes are flushed; the store is closed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What to do with running provider tasks when the process stops (`ON_SHUTDOWN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Leave them running; a restart resumes and delivers them.
    Keep,
    /// Cancel them on the provider; their jobs end cancelled.
    Cancel,
}

/// A step of stopping, in the order they are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    StopUpdates,
    FinishHandlers,
    DrainStore,
    StopEngines,
    FinishStatus,
    Exit,
}

/// The process's stop: a trigger, the grace period of each stage, and the stages taken.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    trigger: CancellationToken,
    grace: Duration,
    /// The last stage entered.
    stage: watch::Sender<Option<Stage>>,
    taken: Mutex<Vec<Stage>>,
}

impl Shutdown {
    /// A stop not yet triggered, whose stages may each take up to `grace`.
    pub fn new(grace: Duration) -> Self {
        let (stage, _) = watch::channel(None);
        Self {
            inner: Arc::new(Inner {
                trigger: CancellationToken::new(),
                grace,
                stage,
                taken: Mutex::default(),
            }),
        }
    }

    /// Asks everything to stop; idempotent.
    pub fn trigger(&self) {
        self.inner.trigger.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.trigger.is_cancelled()
    }

    /// Resolves once the stop is triggered.
    pub async fn triggered(&self) {
        self.inner.trigger.cancelled().await;
    }

    /// How long one stage may take.
    pub fn grace(&self) -> Duration {
        self.inner.grace
    }

    /// Enters `stage` (logged, and kept for [`Shutdown::stages`]).
    pub fn enter(&self, stage: Stage) {
        tracing::info!(?stage, "stopping");
        self.inner.taken.lock().unwrap_or_else(PoisonError::into_inner).push(stage);
        self.inner.stage.send_replace(Some(stage));
    }

    /// Enters `stage` and runs `work` for at most the grace period; `None` (and a warning)
    /// if it did not finish in time.
    pub async fn bounded<F: Future>(&self, stage: Stage, work: F) -> Option<F::Output> {
        self.enter(stage);
        let done = tokio::time::timeout(self.inner.grace, work).await.ok();
        if done.is_none() {
            tracing::warn!(?stage, grace = ?self.inner.grace, "not finished within the grace period; going on");
        }
        done
    }

    /// Resolves once `stage`, or a later one, has been entered.
    pub async fn reached(&self, stage: Stage) {
        let mut rx = self.inner.stage.subscribe();
        let _ = rx.wait_for(|entered| entered.is_some_and(|s| s >= stage)).await;
    }

    /// The stages entered so far, in order.
    pub fn stages(&self) -> Vec<Stage> {
        self.inner.taken.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Triggers the stop on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed before
    /// this returns: a signal that comes during start-up stops the bot cleanly instead of
    /// killing it.
    pub fn trigger_on_signal(&self) {
        #[cfg(unix)]
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        #[cfg(unix)]
        let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        let shutdown = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("signal received: stopping");
            shutdown.trigger();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stages_are_kept_in_order_and_bounded() {
        let shutdown = Shutdown::new(Duration::from_secs(5));
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        shutdown.triggered().await;
        shutdown.enter(Stage::StopUpdates);
        let waiter = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.reached(Stage::DrainStore).await }
        });
        assert_eq!(shutdown.bounded(Stage::FinishHandlers, async { 7 }).await, Some(7));
        assert!(!waiter.is_finished());
        let stuck = shutdown.bounded(Stage::DrainStore, std::future::pending::<()>()).await;
        assert_eq!(stuck, None, "a stuck stage is left after the grace period");
        waiter.await.unwrap();
        assert_eq!(shutdown.stages(), vec![Stage::StopUpdates, Stage::FinishHandlers, Stage::DrainStore]);
    }
}
