//! Start-up: the jobs the last run left behind, picked up where they were.
//!
//! Live jobs go back into the queue (its recovery keeps their order, resumes provider
//! tasks and takes stored results up for delivery); each gets its status task again,
//! editing the status message the user already has. Jobs that ended while nobody was
//! told are told now: the failure or cancel shown.

use std::sync::Arc;

use tokio::sync::watch;

use crate::bot::context::BotContext;
use crate::bot::jobs::JobRecord;
use crate::bot::{TgBot, status};
use crate::job::JobState;
use crate::queue;
use crate::store::{StoreError, StoredJob};

/// Puts the store's unfinished jobs back to work and starts following each.
pub async fn resume(bot: &TgBot, ctx: &Arc<BotContext>) -> Result<(), StoreError> {
    let recovered = queue::recover(ctx.store.unfinished().await?, &ctx.queue).await;
    for (job, rx) in recovered.live {
        follow(bot, ctx, &job, rx);
    }
    for (job, end) in recovered.untold {
        // An ended job's channel: its status task tells at once.
        let (_ended, rx) = watch::channel(end);
        follow(bot, ctx, &job, rx);
    }
    Ok(())
}

fn follow(bot: &TgBot, ctx: &Arc<BotContext>, job: &StoredJob, rx: watch::Receiver<JobState>) {
    let record = JobRecord::from_stored(job);
    ctx.jobs.insert(job.id, record.clone());
    status::spawn(bot.clone(), Arc::clone(ctx), job.id, record, rx);
}
