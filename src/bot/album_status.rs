//! One status message for the jobs of one album: a seller who sends ten products at once
//! gets one message that counts them down, not ten.
//!
//! Each job keeps its own status task for its end (the result photo, or the failure with
//! its Retry button; see `status`); this task owns the album's message: how many jobs are
//! queued, generating and finished, a Cancel-all button, and the final tally. Edits are
//! coalesced like a single job's. A restart takes the message up again: the album's jobs
//! share its id in the store.

use std::sync::Arc;

use futures::future::select_all;
use teloxide::prelude::*;
use teloxide::requests::HasPayload;
use teloxide::types::{ChatAction, MessageId};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bot::context::BotContext;
use crate::bot::messages::{self, BatchCounts, Lang};
use crate::bot::status::{EDIT_RETRY, sleep_until};
use crate::bot::{TgBot, keyboards, retry};
use crate::job::{JobId, JobState};
use crate::shutdown::Stage;

/// An album's jobs as its status task follows them.
pub struct Album {
    /// Its first job: names the album in the Cancel-all button.
    pub lead: JobId,
    pub chat: ChatId,
    pub lang: Lang,
    /// The message from before a restart, if it was sent.
    pub message: Option<MessageId>,
    pub jobs: Vec<(JobId, watch::Receiver<JobState>)>,
}

/// Starts following `album` in the background.
pub fn spawn(bot: TgBot, ctx: Arc<BotContext>, album: Album) {
    let tasks = ctx.tasks.clone();
    tasks.spawn(follow(bot, ctx, album));
}

fn counts(states: &[JobState]) -> BatchCounts {
    let mut c = BatchCounts { total: states.len(), ..BatchCounts::default() };
    for state in states {
        match state {
            JobState::Queued { position } => {
                c.queued += 1;
                c.next_position = Some(c.next_position.map_or(*position, |p| p.min(*position)));
            }
            JobState::Delivering(_) | JobState::Delivered => c.done += 1,
            JobState::Failed(_) => c.failed += 1,
            JobState::Cancelled => c.cancelled += 1,
            _ => c.generating += 1,
        }
    }
    c
}

async fn follow(bot: TgBot, ctx: Arc<BotContext>, mut album: Album) {
    let (chat, lang, timing) = (album.chat, album.lang, ctx.timing);
    let mut shown = String::new();
    let mut edited_at: Option<Instant> = None;
    let mut last_action: Option<Instant> = None;
    loop {
        let states: Vec<JobState> =
            album.jobs.iter_mut().map(|(_, rx)| rx.borrow_and_update().clone()).collect();
        let c = counts(&states);
        let text = messages::status_batch(lang, &c);
        let due = edited_at.map_or(Instant::now(), |at| at + timing.edit_interval);
        let mut skipped = false;
        if text != shown && (c.finished() || Instant::now() >= due) {
            if show(&bot, &ctx, &mut album, &text, !c.finished()).await {
                shown = text.clone();
                edited_at = Some(Instant::now());
                if c.finished() {
                    return;
                }
                continue;
            }
            skipped = true;
        }
        if c.generating > 0 && last_action.is_none_or(|at| at.elapsed() >= timing.chat_action_interval) {
            if let Err(e) = retry::send(bot.send_chat_action(chat, ChatAction::UploadPhoto)).await {
                tracing::debug!(lead = %album.lead, "chat action: {e}");
            }
            last_action = Some(Instant::now());
        }
        // Wake for a change of any live job, for a pending edit, and for the chat action.
        let pending_edit = (text != shown).then(|| if skipped { Instant::now() + EDIT_RETRY } else { due });
        let action = (c.generating > 0).then(|| Instant::now() + timing.chat_action_interval);
        let wake = [pending_edit, action].into_iter().flatten().min();
        let live = changes_of_unsettled(&mut album.jobs, &states);
        if live.is_empty() {
            // Every job settled: the tally was shown above.
            return;
        }
        tokio::select! {
            biased;
            () = ctx.shutdown.reached(Stage::FinishStatus) => {
                tracing::info!(lead = %album.lead, "stopped following an album that has not ended");
                return;
            }
            (changed, _, _) = select_all(live) => if changed.is_err() {
                // A job's channel closed: its last state is what it is; look again soon.
                tokio::time::sleep(timing.edit_interval.min(std::time::Duration::from_millis(200))).await;
            },
            () = sleep_until(wake) => {}
        }
    }
}

/// Shows `text` on the album's message, sending (and recording for every job) a new one
/// if there is none yet; `live` keeps the Cancel-all button.
async fn show(bot: &TgBot, ctx: &BotContext, album: &mut Album, text: &str, live: bool) -> bool {
    let keyboard = live.then(|| keyboards::cancel_album(album.lang, album.lead));
    if let Some(id) = album.message {
        // Results go first: a progress edit takes only a turn free now; the tally waits.
        if live && !ctx.pacer.try_edit(album.chat) {
            return false;
        }
        if !live {
            ctx.pacer.wait(album.chat).await;
        }
        let mut edit = bot.edit_message_text(album.chat, id, text);
        edit.payload_mut().reply_markup = keyboard;
        if let Err(e) = retry::send(edit).await {
            tracing::debug!(lead = %album.lead, "album status edit: {e}");
        }
        return true;
    }
    ctx.pacer.wait(album.chat).await;
    let mut send = bot.send_message(album.chat, text);
    send.payload_mut().reply_markup = keyboard.map(Into::into);
    match retry::send(send).await {
        Ok(message) => {
            album.message = Some(message.id);
            for (job, _) in &album.jobs {
                ctx.jobs.set_status_message(*job, message.id);
                if let Err(e) = ctx.store.set_status_message(*job, message.id.0).await {
                    tracing::warn!(%job, "recording the album's status message: {e}");
                }
            }
        }
        Err(e) => tracing::warn!(lead = %album.lead, "could not send the album's status message: {e}"),
    }
    true
}

/// For each of `jobs` not settled in `states` (their states, in order): its next change.
pub(crate) fn changes_of_unsettled<'a>(
    jobs: &'a mut [(JobId, watch::Receiver<JobState>)],
    states: &[JobState],
) -> Vec<std::pin::Pin<Box<impl Future<Output = Result<(), watch::error::RecvError>> + 'a>>> {
    jobs.iter_mut()
        .zip(states)
        .filter(|(_, state)| !state.is_settled())
        .map(|((_, rx), _)| Box::pin(rx.changed()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{FailReason, LaneId};

    #[test]
    fn counts_put_each_state_in_its_place() {
        let started_at = std::time::SystemTime::now();
        let states = [
            JobState::Queued { position: 4 },
            JobState::Queued { position: 2 },
            JobState::Uploading { lane: LaneId(1), started_at },
            JobState::Failed(FailReason::NoOutput),
            JobState::Delivered,
        ];
        let c = counts(&states);
        assert_eq!((c.queued, c.generating, c.failed, c.done, c.cancelled), (2, 1, 1, 1, 0));
        assert_eq!(c.next_position, Some(2));
        assert!(!c.finished());
    }
}
