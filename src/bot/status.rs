//! One task per job that keeps the user's status message current and delivers the end.
//!
//! Handlers submit a job and return; this task watches the job's state and edits one
//! status message: queued (with position) and generating (with elapsed time), both with a
//! Cancel button. Edits are coalesced: only when the text changed, and at most one per
//! `edit_interval`. While the job runs it shows "sending a photo" in the chat. At the end
//! it sends the result (photo with buttons, then the original as a document), or the
//! failure in plain words with a Retry button. A job of an album shows no status message
//! of its own (`album_status` keeps the album's one); its task only tells its end. A job
//! that is one of a product's variants tells nothing of its end: `variant_set` delivers
//! the set as one album.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use teloxide::prelude::*;
use teloxide::requests::HasPayload;
use teloxide::types::{ChatAction, MessageId};
use teloxide::{ApiError, RequestError};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bot::context::BotContext;
use crate::bot::delivery::{self, Delivery};
use crate::bot::jobs::JobRecord;
use crate::bot::messages::{self, Lang};
use crate::bot::{TgBot, keyboards, retry};
use crate::job::{FailReason, JobEvent, JobId, JobState};
use crate::shutdown::Stage;

/// Starts following `job` in the background.
pub fn spawn(bot: TgBot, ctx: Arc<BotContext>, job: JobId, record: JobRecord, rx: watch::Receiver<JobState>) {
    let (tasks, looks) = (ctx.tasks.clone(), ctx.looks.clone());
    tasks.spawn(async move {
        follow(bot, ctx, job, record, rx).await;
        // The engine reads a job's look on every run: none is left once it is followed out.
        looks.forget(job);
    });
}

/// How soon a status edit skipped for want of a free turn is tried again.
pub(super) const EDIT_RETRY: Duration = Duration::from_millis(250);

/// The status text of a job that has not ended.
fn render(lang: Lang, state: &JobState) -> Option<String> {
    match state {
        JobState::Queued { position } => Some(messages::status_queued(lang, *position)),
        _ => {
            let (_, started_at) = state.started()?;
            let elapsed = SystemTime::now().duration_since(started_at).unwrap_or_default();
            Some(messages::status_generating(lang, elapsed))
        }
    }
}

/// The status message as the user currently sees it.
struct StatusMessage {
    id: Option<MessageId>,
    text: String,
    /// Whether `text` shows a running job (then only the elapsed time can change).
    running: bool,
    edited_at: Instant,
}

async fn follow(
    bot: TgBot,
    ctx: Arc<BotContext>,
    job: JobId,
    record: JobRecord,
    mut rx: watch::Receiver<JobState>,
) {
    let first = rx.borrow_and_update().clone();
    let mut status = match record.album {
        Some(_) => StatusMessage::none(),
        None => StatusMessage::show(&bot, &ctx, job, &record, &first).await,
    };
    // The queue stopped (shutdown) with the job still live: it is kept for the next
    // start, so the user is not told it failed.
    let Some(end) = keep_current(&bot, &ctx, job, &record, &mut status, &mut rx).await else {
        tracing::info!(%job, "stopped following a job that has not ended");
        return;
    };
    ctx.jobs.mark_ended(job);
    tell_the_end(&bot, &ctx, job, &record, &status, end).await;
}

impl StatusMessage {
    /// Shows a job's first state: edits the status message a job taken over from before a
    /// restart already has, or sends (and records) a new one.
    async fn show(bot: &TgBot, ctx: &BotContext, job: JobId, record: &JobRecord, first: &JobState) -> Self {
        let (chat, lang) = (record.chat, record.lang);
        let mut status = Self {
            id: record.status_message,
            text: String::new(),
            running: false,
            edited_at: Instant::now(),
        };
        let Some(text) = render(lang, first) else {
            return status;
        };
        ctx.pacer.wait(chat).await;
        match status.id {
            Some(id) => {
                let edit =
                    bot.edit_message_text(chat, id, text.clone()).reply_markup(keyboards::cancel(lang, job));
                if let Err(e) = retry::send(edit).await {
                    tracing::debug!(%job, "status edit: {e}");
                }
            }
            None => {
                match retry::send(
                    bot.send_message(chat, text.clone()).reply_markup(keyboards::cancel(lang, job)),
                )
                .await
                {
                    Ok(message) => {
                        status.id = Some(message.id);
                        ctx.jobs.set_status_message(job, message.id);
                        if let Err(e) = ctx.store.set_status_message(job, message.id.0).await {
                            tracing::warn!(%job, "recording the status message: {e}");
                        }
                    }
                    Err(e) => tracing::warn!(%job, "could not send the status message: {e}"),
                }
            }
        }
        status.shown(text, first.started().is_some());
        status
    }

    /// An album's job: the album's task has the status message.
    fn none() -> Self {
        Self { id: None, text: String::new(), running: false, edited_at: Instant::now() }
    }

    fn shown(&mut self, text: String, running: bool) {
        self.text = text;
        self.running = running;
        self.edited_at = Instant::now();
    }
}

/// Keeps the status message current until the job settles (its result stored, or its
/// end) and returns that state; `None` when the bot stops with the job still live.
async fn keep_current(
    bot: &TgBot,
    ctx: &BotContext,
    job: JobId,
    record: &JobRecord,
    status: &mut StatusMessage,
    rx: &mut watch::Receiver<JobState>,
) -> Option<JobState> {
    let (chat, lang, timing) = (record.chat, record.lang, ctx.timing);
    let mut last_action: Option<Instant> = None;
    loop {
        let state = rx.borrow_and_update().clone();
        if state.is_settled() {
            return Some(state);
        }
        let running = state.started().is_some();
        let own_message = record.album.is_none();
        if own_message && running && last_action.is_none_or(|at| at.elapsed() >= timing.chat_action_interval)
        {
            if let Err(e) = retry::send(bot.send_chat_action(chat, ChatAction::UploadPhoto)).await {
                tracing::debug!(%job, "chat action: {e}");
            }
            last_action = Some(Instant::now());
        }
        let text = if own_message { render(lang, &state).unwrap_or_default() } else { String::new() };
        let interval = if running && status.running { timing.elapsed_interval } else { timing.edit_interval };
        let due = status.edited_at + interval;
        if text != status.text && Instant::now() >= due {
            let Some(id) = status.id else {
                status.shown(text, running);
                continue;
            };
            // Only a turn free now: results go first, and a skipped edit is retried with
            // the newest text.
            if ctx.pacer.try_edit(chat) {
                let edit =
                    bot.edit_message_text(chat, id, text.clone()).reply_markup(keyboards::cancel(lang, job));
                if let Err(e) = retry::send(edit).await {
                    tracing::debug!(%job, "status edit: {e}");
                }
                status.shown(text, running);
                continue;
            }
        }
        // Wake for a new state, for the next allowed edit if one is pending (soon again if
        // one was skipped), and each second while generating (elapsed time, chat action).
        let wake = if text != status.text {
            Some(due.max(Instant::now() + EDIT_RETRY))
        } else if running {
            Some(Instant::now() + Duration::from_secs(1).min(timing.edit_interval))
        } else {
            None
        };
        tokio::select! {
            biased;
            changed = rx.changed() => if changed.is_err() {
                let last = rx.borrow().clone();
                return last.is_settled().then_some(last);
            },
            () = sleep_until(wake) => {}
            () = ctx.shutdown.reached(Stage::FinishStatus) => {
                // Whatever settled before the engines stopped still gets its last word.
                let last = rx.borrow().clone();
                return last.is_settled().then_some(last);
            }
        }
    }
}

/// The end as the user sees it: the final status text, then the result (recorded as
/// delivered only once Telegram took it) or, for a failure or cancel, a note that the user
/// was told.
async fn tell_the_end(
    bot: &TgBot,
    ctx: &BotContext,
    job: JobId,
    record: &JobRecord,
    status: &StatusMessage,
    end: JobState,
) {
    if record.variants.is_some() {
        // One of a product's variants: the set's task (`variant_set`) delivers the results
        // together and counts the failures; a failure or cancel is told by it (and the
        // album's status), so this one is only recorded as told.
        if !matches!(end, JobState::Delivering(_))
            && let Err(e) = ctx.store.mark_told(job).await
        {
            tracing::warn!(%job, "recording that the user was told: {e}");
        }
        return;
    }
    let lang = record.lang;
    let (text, keyboard) = match &end {
        JobState::Delivering(_) | JobState::Delivered => (messages::status_done(lang).to_owned(), None),
        JobState::Failed(reason) => {
            tracing::info!(%job, "job failed: {reason}");
            let retry = reason.worth_retrying().then(|| keyboards::failed(lang, job));
            (messages::status_failed(lang, reason), retry)
        }
        _ => (messages::status_cancelled(lang).to_owned(), None),
    };
    // An album's message counts its jobs' ends; only a failure is told on its own (with
    // its Retry button).
    let own_word = record.album.is_none() || matches!(end, JobState::Failed(_));
    let JobState::Delivering(output) = &end else {
        if own_word {
            finish_status(bot, ctx, status, record, job, text, keyboard).await;
        }
        // Told: a restart from here on does not tell again.
        if let Err(e) = ctx.store.mark_told(job).await {
            tracing::warn!(%job, "recording that the user was told: {e}");
        }
        return;
    };
    // The result first: the final status edit waits for its turn after it.
    let delivered = delivery::deliver(bot, ctx, job, record, output).await;
    if own_word {
        finish_status(bot, ctx, status, record, job, text, keyboard).await;
    }
    let event = match delivered {
        Delivery::Accepted => JobEvent::Delivered,
        Delivery::Undeliverable(why) => JobEvent::Failed(FailReason::Undeliverable(why)),
        Delivery::Postponed => {
            // The job stays delivering (in the store too): the next start sends it again.
            tracing::info!(%job, "the result is sent again at the next start");
            return;
        }
    };
    match ctx.queue.ledger().apply(job, event) {
        Ok(recorded) => recorded.await,
        Err(e) => tracing::error!(%job, "recording the delivery: {e}"),
    }
}

pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Shows the final text on the status message (a new message if there is none); without
/// `keyboard` the Cancel button goes away.
async fn finish_status(
    bot: &TgBot,
    ctx: &BotContext,
    status: &StatusMessage,
    record: &JobRecord,
    job: JobId,
    text: String,
    keyboard: Option<teloxide::types::InlineKeyboardMarkup>,
) {
    ctx.pacer.wait(record.chat).await;
    if let Some(id) = status.id {
        let mut edit = bot.edit_message_text(record.chat, id, text.clone());
        edit.payload_mut().reply_markup = keyboard.clone();
        match retry::send(edit).await {
            // Already showing it (a restart repeats the last word).
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => return,
            // The user deleted the status message: say it in a new one.
            Err(RequestError::Api(
                ApiError::MessageToEditNotFound | ApiError::MessageIdInvalid | ApiError::MessageCantBeEdited,
            )) => ctx.pacer.wait(record.chat).await,
            Err(e) => {
                tracing::warn!(%job, "could not show the job's end: {e}");
                return;
            }
        }
    }
    let mut send = bot.send_message(record.chat, text);
    send.payload_mut().reply_markup = keyboard.map(Into::into);
    if let Err(e) = retry::send(send).await {
        tracing::warn!(%job, "could not show the job's end: {e}");
    }
}
