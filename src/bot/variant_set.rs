//! The variants of one product arrive together: one album of photos, then one message with
//! the buttons, then the originals.
//!
//! Each variant is a job of its own (durable, cancellable, its own look); its status task
//! follows it but tells nothing of its end (`status`), and the request's one status message
//! is `album_status`'s. This task waits until every job of the set has settled, then
//! delivers the results that came out as one album (`delivery::deliver_album`), records
//! each of those jobs `delivered` once Telegram accepted the album, and says how many
//! variants failed. With fewer than two results (or a result that cannot go as a photo)
//! each goes on its own, as a single job's would.
//!
//! A restart takes the set up again: its jobs share the set's first id in the store
//! (`variant_set`), and `recovery` gives the jobs still live or delivering a task like
//! this one. An album accepted by Telegram whose `delivered` was not yet journalled when
//! the process died is sent again by the next start (the same window as a single result).

use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use teloxide::prelude::*;
use tokio::sync::watch;

use crate::bot::context::BotContext;
use crate::bot::delivery::{self, Delivery};
use crate::bot::jobs::JobRecord;
use crate::bot::{TgBot, keyboards, messages, retry};
use crate::job::{FailReason, JobEvent, JobId, JobOutput, JobState};
use crate::shutdown::Stage;

/// The jobs of one product's variants as this task follows them.
pub struct VariantSet {
    /// The set's first job: it names the set in the store.
    pub lead: JobId,
    /// Who asked, and where (and in which language) they are told.
    pub record: JobRecord,
    pub jobs: Vec<(JobId, watch::Receiver<JobState>)>,
}

/// Starts following `set` in the background.
pub fn spawn(bot: TgBot, ctx: Arc<BotContext>, set: VariantSet) {
    let tasks = ctx.tasks.clone();
    tasks.spawn(follow(bot, ctx, set));
}

async fn follow(bot: TgBot, ctx: Arc<BotContext>, mut set: VariantSet) {
    let Some(states) = settled(&ctx, &mut set).await else {
        tracing::info!(lead = %set.lead, "stopped following a variant set that has not settled");
        return;
    };
    let outputs: Vec<(JobId, Arc<JobOutput>)> = set
        .jobs
        .iter()
        .zip(&states)
        .filter_map(|((job, _), state)| match state {
            JobState::Delivering(output) => Some((*job, Arc::clone(output))),
            _ => None,
        })
        .collect();
    let failed = states.iter().filter(|s| matches!(s, JobState::Failed(_))).count();
    let record = &set.record;
    let Some(&(first, _)) = outputs.first() else {
        if failed > 0 {
            tell(&bot, &ctx, record, set.lead, messages::variants_all_failed(record.lang, failed)).await;
        }
        return;
    };
    match delivery::deliver_album(&bot, &ctx, set.lead, record, &outputs).await {
        Some((delivered, sent)) => {
            let accepted = delivered == Delivery::Accepted;
            if !record_all(&ctx, &outputs, delivered).await {
                return;
            }
            if accepted {
                delivery::finish_album(&bot, &ctx, first, record, outputs.len(), failed, sent).await;
            }
        }
        None => {
            // Not an album: each result on its own, as a single job's.
            for (job, output) in &outputs {
                let delivered = delivery::deliver(&bot, &ctx, *job, record, output).await;
                if !record_all(&ctx, &[(*job, Arc::clone(output))], delivered).await {
                    return;
                }
            }
            if failed > 0 {
                let text = messages::variants_delivered(record.lang, outputs.len(), failed);
                tell(&bot, &ctx, record, first, text).await;
            }
        }
    }
}

/// Waits until every job of the set has settled (its result stored, or its end) and
/// returns their states; `None` when the bot stops first (the jobs are kept for the next
/// start, which follows the set again).
async fn settled(ctx: &BotContext, set: &mut VariantSet) -> Option<Vec<JobState>> {
    loop {
        let states: Vec<JobState> =
            set.jobs.iter_mut().map(|(_, rx)| rx.borrow_and_update().clone()).collect();
        if states.iter().all(JobState::is_settled) {
            return Some(states);
        }
        let live = crate::bot::album_status::changes_of_unsettled(&mut set.jobs, &states);
        let stopping = tokio::select! {
            biased;
            () = ctx.shutdown.reached(Stage::FinishStatus) => true,
            (changed, _, _) = select_all(live) => {
                if changed.is_err() {
                    // A job's channel closed: its last state is what it is; look again soon.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                false
            }
        };
        if stopping {
            // Whatever settled before the engines stopped still goes out.
            let states: Vec<JobState> = set.jobs.iter().map(|(_, rx)| rx.borrow().clone()).collect();
            return states.iter().all(JobState::is_settled).then_some(states);
        }
    }
}

/// Records how the delivery of `outputs` ended for each of their jobs; `false` when the
/// bot is stopping with them still `delivering` (the next start sends them).
async fn record_all(ctx: &BotContext, outputs: &[(JobId, Arc<JobOutput>)], delivered: Delivery) -> bool {
    let event = match delivered {
        Delivery::Accepted => JobEvent::Delivered,
        Delivery::Undeliverable(why) => JobEvent::Failed(FailReason::Undeliverable(why)),
        Delivery::Postponed => {
            tracing::info!("the variants are sent again at the next start");
            return false;
        }
    };
    let accepted = matches!(event, JobEvent::Delivered);
    let mut recorded = Vec::new();
    for (job, _) in outputs {
        match ctx.queue.ledger().apply(*job, event.clone()) {
            Ok(journalled) => recorded.push(journalled),
            Err(e) => tracing::error!(%job, "recording the delivery: {e}"),
        }
    }
    // Journalled before anything else is sent: a restart from here on does not send the
    // album again.
    for journalled in recorded {
        journalled.await;
    }
    accepted
}

/// A word about the set (how many failed) with the buttons: Regenerate on `job` (the set's
/// images), New photo.
async fn tell(bot: &TgBot, ctx: &BotContext, record: &JobRecord, job: JobId, text: String) {
    ctx.pacer.wait(record.chat).await;
    let send = bot.send_message(record.chat, text).reply_markup(keyboards::result(record.lang, job));
    if let Err(e) = retry::send(send).await {
        tracing::warn!(%job, "could not tell how the variants ended: {e}");
    }
}
