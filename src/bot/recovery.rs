//! Start-up: the jobs the last run left behind, picked up where they were.
//!
//! Live jobs go back into the queue (the store's recovery keeps their order and resumes
//! provider tasks); each gets its status task again, editing the status message the user
//! already has. Jobs that ended while nobody was told are told now: the result is sent,
//! or the failure or cancel shown.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::bot::context::BotContext;
use crate::bot::jobs::JobRecord;
use crate::bot::{TgBot, status};
use crate::job::{FailReason, JobOutput, JobState};
use crate::store::{self, StoreError, StoredJob, StoredState};

/// Puts the store's unfinished jobs back to work and starts following each.
pub async fn resume(bot: &TgBot, ctx: &Arc<BotContext>) -> Result<(), StoreError> {
    let recovered = store::recover(ctx.store.unfinished().await?, &ctx.queue);
    for (job, rx) in recovered.live {
        follow(bot, ctx, &job, rx);
    }
    for job in recovered.undelivered {
        let end = match &job.state {
            StoredState::Done => match result_of(&job).await {
                Some(output) => JobState::Done(Arc::new(output)),
                None => JobState::Failed(FailReason::Internal("the result file is missing".into())),
            },
            StoredState::Failed(reason) => JobState::Failed(reason.clone()),
            StoredState::Cancelled => JobState::Cancelled,
            StoredState::Queued | StoredState::Running => continue,
        };
        // An ended job's channel: its status task delivers at once.
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

/// The stored result of a done job.
async fn result_of(job: &StoredJob) -> Option<JobOutput> {
    let path = job.result_path.as_ref()?;
    let extension = match path.extension()?.to_str()? {
        "png" => "png",
        "webp" => "webp",
        _ => "jpg",
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => Some(JobOutput { image: Bytes::from(bytes), extension }),
        Err(e) => {
            tracing::error!(job = %job.id, "reading the result {}: {e}", path.display());
            None
        }
    }
}
