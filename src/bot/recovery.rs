//! Start-up: the jobs the last run left behind, picked up where they were.
//!
//! Live jobs go back into the queue (its recovery keeps their order, resumes provider
//! tasks and takes stored results up for delivery); each gets its status task again,
//! editing the status message the user already has (jobs that share one were an album's:
//! its one message is taken up again; jobs that share a variant set are delivered
//! together again). Jobs that ended while nobody was told are told now: the failure or
//! cancel shown.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::bot::album_status::{self, Album};
use crate::bot::context::BotContext;
use crate::bot::jobs::JobRecord;
use crate::bot::variant_set::{self, VariantSet};
use crate::bot::{TgBot, status};
use crate::job::JobId;
use crate::output::{Look, Variant};
use crate::queue;
use crate::store::{StoreError, StoredJob};

/// Puts the store's unfinished jobs back to work and starts following each.
pub async fn resume(bot: &TgBot, ctx: &Arc<BotContext>) -> Result<(), StoreError> {
    let unfinished = ctx.store.unfinished().await?;
    carry_on(bot, ctx, unfinished).await;
    let unanswered = ctx.store.unanswered_pictures().await?;
    // Not before the next update: the pacer keeps them in their chats' turns.
    let (bot, ctx) = (bot.clone(), Arc::clone(ctx));
    tokio::spawn(async move { crate::bot::in_hand::tell_unanswered(&bot, &ctx, unanswered).await });
    Ok(())
}

/// Puts `unfinished` (oldest first: the jobs a start-up found, or a dead replica's) back
/// to work and starts following each.
pub async fn carry_on(bot: &TgBot, ctx: &Arc<BotContext>, unfinished: Vec<StoredJob>) {
    // Before the queue runs them: each comes out as its user asked.
    for job in &unfinished {
        let format = job.output_format.as_deref().and_then(|name| name.parse().ok());
        if format.is_some() || job.variant.is_some() {
            let look = Look {
                format: format.unwrap_or_default(),
                variant: Variant(job.variant.map_or(0, |v| v.index)),
                seed: job.variant.map(|v| v.seed),
            };
            ctx.looks.set(job.id, look);
        }
    }
    let recovered = queue::recover(unfinished, &ctx.queue).await;
    let mut jobs = recovered.live;
    // An ended job's channel: its status task tells at once.
    jobs.extend(recovered.untold.into_iter().map(|(job, end)| (job, watch::channel(end).1)));
    let mut albums: HashMap<(i64, i32), Vec<usize>> = HashMap::new();
    for (n, (job, _)) in jobs.iter().enumerate() {
        if let Some(message) = job.status_message_id {
            albums.entry((job.chat_id, message)).or_default().push(n);
        }
    }
    let mut lead_of = HashMap::new();
    for members in albums.values().filter(|m| m.len() > 1) {
        let lead = members.iter().map(|&n| jobs[n].0.id).min().expect("not empty");
        for &n in members {
            lead_of.insert(jobs[n].0.id, lead);
        }
    }
    let mut album_jobs: HashMap<JobId, Album> = HashMap::new();
    let mut variant_sets: HashMap<JobId, VariantSet> = HashMap::new();
    for (job, rx) in jobs {
        let mut record = JobRecord::from_stored(&job);
        record.album = lead_of.get(&job.id).copied();
        if let Some(lead) = record.album {
            let album = album_jobs.entry(lead).or_insert_with(|| Album {
                lead,
                chat: record.chat,
                lang: record.lang,
                message: record.status_message,
                jobs: Vec::new(),
            });
            album.jobs.push((job.id, rx.clone()));
        }
        if let Some(lead) = record.variants {
            let set = variant_sets.entry(lead).or_insert_with(|| VariantSet {
                lead,
                record: JobRecord::new(record.owner, record.chat, record.lang),
                jobs: Vec::new(),
            });
            set.jobs.push((job.id, rx.clone()));
        }
        ctx.jobs.insert(job.id, record.clone());
        status::spawn(bot.clone(), Arc::clone(ctx), job.id, record, rx);
    }
    for album in album_jobs.into_values() {
        album_status::spawn(bot.clone(), Arc::clone(ctx), album);
    }
    // The variants still to come or to send go out together; those delivered or told
    // before the restart are not among them.
    for set in variant_sets.into_values() {
        variant_set::spawn(bot.clone(), Arc::clone(ctx), set);
    }
}
