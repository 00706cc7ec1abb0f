//! Generation: taking the two pictures, starting jobs, and the buttons on status and
//! result messages.

use std::path::Path;
use std::sync::Arc;

use teloxide::dispatching::dialogue::Dialogue;
use teloxide::prelude::*;
use teloxide::types::{ChatId, UserId};

use crate::bot::TgBot;
use crate::bot::context::BotContext;
use crate::bot::dialogue::{BotDialogue, PendingProduct, State};
use crate::bot::handlers::{HandlerError, lang_of, reply};
use crate::bot::intake;
use crate::bot::jobs::{AccessError, JobRecord};
use crate::bot::keyboards::Action;
use crate::bot::messages::{self, Lang};
use crate::bot::status;
use crate::input_image::{ImageLimits, InputImage};
use crate::job::JobId;
use crate::job::JobInput;
use crate::queue::SubmitError;
use crate::store::NewJob;

/// Whether a message carries something that may be a picture (the bytes decide later).
pub fn has_picture(msg: Message) -> bool {
    intake::candidate(&msg).is_some()
}

/// Checks the picture of `msg`; on refusal, tells the user what to send instead.
async fn take_picture(
    bot: &TgBot,
    ctx: &BotContext,
    msg: &Message,
) -> Result<Option<InputImage>, HandlerError> {
    let Some(file) = intake::candidate(msg) else {
        return Ok(None);
    };
    match intake::fetch(bot, file, &ctx.limits).await {
        Ok(image) => Ok(Some(image)),
        Err(e) => {
            tracing::info!(chat = %msg.chat.id, "picture refused: {e}");
            reply(bot, ctx, msg.chat.id, messages::refusal(lang_of(msg), &e.refusal)).await?;
            Ok(None)
        }
    }
}

/// The product photo: kept on disk until its background arrives.
pub async fn receive_product(
    bot: TgBot,
    dialogue: BotDialogue,
    msg: Message,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(image) = take_picture(&bot, &ctx, &msg).await? else {
        return Ok(());
    };
    let dir = ctx.data_dir.join("incoming");
    tokio::fs::create_dir_all(&dir).await?;
    let path = dir.join(format!("{}-{}.{}", msg.chat.id, msg.id, image.extension()));
    tokio::fs::write(&path, image.bytes()).await?;
    dialogue
        .update(State::AwaitingBackground { product: PendingProduct(path) })
        .await
        .map_err(HandlerError::dialogue)?;
    reply(&bot, &ctx, msg.chat.id, messages::ask_background(lang_of(&msg))).await
}

/// The background: the job and both images go into the store, then into the queue.
pub async fn receive_background(
    bot: TgBot,
    dialogue: BotDialogue,
    product: PendingProduct,
    msg: Message,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let lang = lang_of(&msg);
    let Some(background) = take_picture(&bot, &ctx, &msg).await? else {
        return Ok(());
    };
    let Some(owner) = msg.from.as_ref().map(|u| u.id) else {
        return Ok(());
    };
    // The next picture starts a new product, whatever happens to this job.
    dialogue.update(State::Start).await.map_err(HandlerError::dialogue)?;
    let new = NewJob {
        user_id: owner.0 as i64,
        chat_id: msg.chat.id.0,
        language: lang.code().into(),
        engine: ctx.engine.into(),
        parent: None,
    };
    let accepted = match read_pending(&product.0).await {
        Ok(product_image) => {
            ctx.store.create_job(&new, &product_image, &background).await.map_err(|e| e.to_string())
        }
        Err(e) => Err(e),
    };
    let (id, input) = match accepted {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::error!(chat = %msg.chat.id, "storing the job: {e}");
            return reply(&bot, &ctx, msg.chat.id, messages::internal_error(lang)).await;
        }
    };
    let _ = tokio::fs::remove_file(&product.0).await;
    let record = JobRecord::new(owner, msg.chat.id, lang);
    if let Err(e) = start_job(&bot, &ctx, id, input, record) {
        tracing::warn!(job = %id, "not accepted: {e}");
        reply(&bot, &ctx, msg.chat.id, messages::not_accepting(lang)).await?;
    }
    Ok(())
}

/// The product photo that waited for its background (it passed intake when it came).
async fn read_pending(path: &Path) -> Result<InputImage, String> {
    let bytes = tokio::fs::read(path).await.map_err(|e| format!("reading {}: {e}", path.display()))?;
    InputImage::parse(bytes, &ImageLimits::default()).map_err(|e| e.to_string())
}

/// Registers and submits a stored job, and starts the task that reports on it. Never
/// waits for the generation.
fn start_job(
    bot: &TgBot,
    ctx: &Arc<BotContext>,
    id: JobId,
    input: JobInput,
    record: JobRecord,
) -> Result<(), SubmitError> {
    ctx.jobs.insert(id, record.clone());
    match ctx.queue.submit(id, input) {
        Ok(rx) => {
            tracing::info!(job = %id, chat = %record.chat, "job queued");
            status::spawn(bot.clone(), Arc::clone(ctx), id, record, rx);
            Ok(())
        }
        Err(e) => {
            ctx.jobs.mark_ended(id);
            Err(e)
        }
    }
}

/// The job, if `user` owns it: from this run's registry, else (a button pressed on a
/// message from before a restart) from the store.
async fn owned_job(ctx: &BotContext, id: JobId, user: UserId) -> Result<JobRecord, AccessError> {
    match ctx.jobs.owned_by(id, user) {
        Err(AccessError::Unknown) => {}
        known => return known,
    }
    let stored = match ctx.store.job(id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(AccessError::Unknown),
        Err(e) => {
            tracing::warn!(job = %id, "reading the job: {e}");
            return Err(AccessError::Unknown);
        }
    };
    let record = JobRecord::from_stored(&stored);
    ctx.jobs.insert(id, record);
    ctx.jobs.owned_by(id, user)
}

/// Anything else: a hint of what the current step expects.
pub async fn hint(bot: TgBot, state: State, msg: Message, ctx: Arc<BotContext>) -> Result<(), HandlerError> {
    let lang = lang_of(&msg);
    let text = match state {
        State::Start => messages::hint_product(lang),
        State::AwaitingBackground { .. } => messages::hint_background(lang),
    };
    reply(&bot, &ctx, msg.chat.id, text).await
}

/// A button press: parsed, checked against the job's owner, then done.
pub async fn button(bot: TgBot, query: CallbackQuery, ctx: Arc<BotContext>) -> Result<(), HandlerError> {
    let user = query.from.id;
    let lang = Lang::from_code(query.from.language_code.as_deref());
    let Some(action) = query.data.as_deref().and_then(Action::parse) else {
        tracing::info!(%user, "refused unknown callback data");
        return answer(&bot, &query, messages::answer_not_yours(lang), true).await;
    };
    let Some(job) = action.job() else {
        // New photo: the chat of the pressed message starts over (the presser's private
        // chat if Telegram did not say).
        let chat = query.message.as_ref().map_or(ChatId::from(user), |m| m.chat().id);
        let dialogue = Dialogue::new(Arc::clone(&ctx.dialogues), chat);
        let state = dialogue.get_or_default().await.map_err(HandlerError::dialogue)?;
        super::base::forget_step(&dialogue, state).await?;
        answer(&bot, &query, messages::answer_new_photo(lang), false).await?;
        return reply(&bot, &ctx, chat, messages::ask_product(lang)).await;
    };
    let record = match owned_job(&ctx, job, user).await {
        Ok(record) => record,
        Err(AccessError::NotOwner) => {
            tracing::warn!(%user, %job, "refused a button of another user's job");
            return answer(&bot, &query, messages::answer_not_yours(lang), true).await;
        }
        Err(AccessError::Unknown) => {
            return answer(&bot, &query, messages::answer_expired(lang), true).await;
        }
    };
    match action {
        Action::Cancel(_) => {
            let text = if ctx.queue.cancel(job) {
                messages::answer_cancelling(lang)
            } else {
                messages::answer_already_finished(lang)
            };
            answer(&bot, &query, text, false).await
        }
        Action::Retry(_) if !ctx.jobs.claim_retry(job) => {
            answer(&bot, &query, messages::answer_already_retried(lang), false).await
        }
        Action::Regenerate(_) | Action::Retry(_) => {
            let repeated = match ctx.store.job(job).await {
                Ok(Some(earlier)) => {
                    let new = NewJob {
                        user_id: user.0 as i64,
                        chat_id: record.chat.0,
                        language: record.lang.code().into(),
                        engine: ctx.engine.into(),
                        parent: Some(job),
                    };
                    ctx.store.repeat_job(&new, &earlier).await.map_err(|e| e.to_string())
                }
                Ok(None) => Err("the job is not in the store".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            let (id, input) = match repeated {
                Ok(repeated) => repeated,
                Err(e) => {
                    // Typically: the images are past their retention period.
                    tracing::warn!(%job, "cannot start it again: {e}");
                    return answer(&bot, &query, messages::answer_expired(lang), true).await;
                }
            };
            let new_record = JobRecord::new(user, record.chat, record.lang);
            match start_job(&bot, &ctx, id, input, new_record) {
                Ok(()) => {
                    tracing::info!(job = %id, from = %job, "started again");
                    answer(&bot, &query, messages::answer_started_again(lang), false).await?;
                    if matches!(action, Action::Retry(_)) {
                        remove_buttons(&bot, &query).await;
                    }
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!(job = %id, "not accepted: {e}");
                    answer(&bot, &query, messages::not_accepting(lang), true).await
                }
            }
        }
        Action::NewPhoto => Ok(()),
    }
}

async fn answer(bot: &TgBot, query: &CallbackQuery, text: &str, alert: bool) -> Result<(), HandlerError> {
    crate::bot::retry::send(bot.answer_callback_query(query.id.clone()).text(text).show_alert(alert)).await?;
    Ok(())
}

/// Takes the buttons off the message whose Retry was pressed, so it is pressed once.
async fn remove_buttons(bot: &TgBot, query: &CallbackQuery) {
    let Some(message) = &query.message else {
        return;
    };
    if let Err(e) =
        crate::bot::retry::send(bot.edit_message_reply_markup(message.chat().id, message.id())).await
    {
        tracing::debug!("removing buttons: {e}");
    }
}
