//! This process as one of several replicas on one PostgreSQL database (active-active).
//!
//! Every replica takes updates (webhooks behind a load balancer) and runs jobs. One task
//! per process keeps it alive in the store (a heartbeat every [`HEARTBEAT_EVERY`]), takes
//! over the jobs and slot leases of replicas that died (their status messages continue,
//! their provider tasks are polled, never created again), and cancels the jobs here that
//! someone asked to cancel on another replica. A replica that cannot renew its heartbeat
//! in time stops itself before the others may take its jobs over ([`FENCE_AFTER`] is
//! shorter than [`ALIVE_FOR`]), and says so with its exit code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bot::context::BotContext;
use crate::bot::{TgBot, recovery};
use crate::engine::Engine;
use crate::job::{JobId, RemoteTaskId};
use crate::queue::leases::SlotLeases;
use crate::store::{ReplicaId, Store, StoreError};

/// How often a replica renews its heartbeat and looks for dead ones.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// How long one heartbeat keeps a replica alive: a killed replica's jobs are carried on
/// within this (plus one look).
pub const ALIVE_FOR: Duration = Duration::from_secs(3);

/// A replica that has not renewed its heartbeat for this long stops: by then it may be
/// about to be declared dead.
pub const FENCE_AFTER: Duration = Duration::from_secs(2);

/// Enters this process among the replicas; `lanes` are the engine's (lane, limit), whose
/// slot rows must exist.
pub async fn join(store: &Store, lanes: &[(crate::job::LaneId, usize)]) -> Result<ReplicaId, StoreError> {
    let id = ReplicaId::new();
    store.join_replicas(id.clone(), ALIVE_FOR, lanes).await?;
    tracing::info!(replica = %id, "joined the replicas of this database");
    Ok(id)
}

/// Keeps this replica alive and carries on dead replicas' jobs until `stop`; returns
/// `true` if it had to stop because its heartbeat lapsed (its jobs are another's now).
pub async fn watch(
    bot: TgBot,
    ctx: Arc<BotContext>,
    leases: Option<Arc<SlotLeases>>,
    stop: tokio_util::sync::CancellationToken,
) -> bool {
    let store = ctx.store.clone();
    let mut alive_since = Instant::now();
    loop {
        let sent = Instant::now();
        match tokio::time::timeout(FENCE_AFTER, store.heartbeat(ALIVE_FOR)).await {
            Ok(Ok(Some(replicas))) => {
                alive_since = sent;
                ctx.pacer.share_among(replicas);
            }
            Ok(Ok(None)) => {
                tracing::error!("this replica was declared dead and taken over");
                return true;
            }
            Ok(Err(e)) => tracing::warn!("heartbeat: {e}"),
            Err(_) => tracing::warn!("heartbeat: no answer"),
        }
        if alive_since.elapsed() >= FENCE_AFTER {
            tracing::error!("the heartbeat lapsed: stopping before another replica takes the jobs over");
            return true;
        }
        take_over(&bot, &ctx, leases.as_deref()).await;
        cancel_requested(&ctx).await;
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(HEARTBEAT_EVERY.saturating_sub(sent.elapsed())) => {}
        }
    }
}

/// Carries on every dead replica's jobs (one at a time, as the store hands them out).
async fn take_over(bot: &TgBot, ctx: &Arc<BotContext>, leases: Option<&SlotLeases>) {
    // Bounded: a handful of dead replicas at once is already a bad day.
    for _ in 0..16 {
        let taken = match ctx.store.take_over().await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!("taking over dead replicas: {e}");
                return;
            }
        };
        if taken.jobs.is_empty() && taken.leases.is_empty() && taken.unanswered.is_empty() {
            return;
        }
        if let Some(leases) = leases {
            // Before the jobs: their running tasks hold these slots.
            leases.adopt(taken.leases);
        }
        recovery::carry_on(bot, ctx, taken.jobs).await;
        let (bot, ctx) = (bot.clone(), Arc::clone(ctx));
        tokio::spawn(async move { crate::bot::in_hand::tell_unanswered(&bot, &ctx, taken.unanswered).await });
    }
}

/// Cancels the jobs here whose Cancel was pressed on another replica.
async fn cancel_requested(ctx: &BotContext) {
    match ctx.store.cancel_requests().await {
        Ok(ids) => {
            for id in ids {
                if ctx.queue.cancel(id) {
                    tracing::info!(job = %id, "cancelled as asked on another replica");
                }
            }
        }
        Err(e) => tracing::warn!("reading cancel requests: {e}"),
    }
}

/// Passes the RunningHub callbacks other replicas took to this one's engine (it ignores
/// tasks it does not run), until `stop`; without it a job would wait for its next poll.
pub async fn hear_callbacks(
    store: Store,
    engine: Arc<dyn Engine>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut listener = match store.hear_ended_tasks().await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(
                "cannot hear other replicas' RunningHub callbacks (jobs wait for their polls): {e}"
            );
            return;
        }
    };
    loop {
        let notice = tokio::select! {
            () = stop.cancelled() => return,
            notice = listener.recv() => notice,
        };
        match notice {
            Ok(notice) => {
                let mut parts = notice.payload().split(' ');
                let task = parts.next().filter(|t| !t.is_empty()).map(|t| RemoteTaskId(t.to_owned()));
                let job = parts.next().and_then(|j| j.parse().ok()).map(JobId);
                if let Some(task) = task {
                    engine.hint_task_ended(&task, job);
                }
            }
            Err(e) => {
                tracing::debug!("hearing callbacks: {e}");
                tokio::time::sleep(HEARTBEAT_EVERY).await;
            }
        }
    }
}
