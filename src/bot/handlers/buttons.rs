//! The buttons on status and result messages (Cancel, Regenerate, Retry, New photo) and
//! on the `/settings` message (a format).
//!
//! Routing lives in [`crate::bot::schema`]: callback data is parsed once into an
//! [`Action`] ([`action_of`]), jobs' buttons pass only when the presser owns the job
//! ([`owned_by_presser`]), and whatever is left over is refused here ([`refuse`],
//! [`refuse_unknown`]). Anyone can send any callback data, so nothing is trusted before.

use std::sync::Arc;

use teloxide::dispatching::dialogue::Dialogue;
use teloxide::prelude::*;
use teloxide::types::{ChatId, UserId};

use super::generation::{BackgroundFrom, JobSource, Request, RequestFrom, start_jobs_on, start_set};
use super::{HandlerError, reply};
use crate::bot::TgBot;
use crate::bot::context::BotContext;
use crate::bot::jobs::{AccessError, JobRecord};
use crate::bot::keyboards::{self, Action};
use crate::bot::messages::{self, Lang, LangChoice};
use crate::job::JobId;
use crate::output::{OutputFormat, VariantCount};
use crate::store::NewJob;

/// The action a button press asks for; `None` for data we never produced.
pub fn action_of(query: CallbackQuery) -> Option<Action> {
    query.data.as_deref().and_then(Action::parse)
}

/// The pressed job's record when the presser owns it; `None` lets [`refuse`] answer.
pub async fn owned_by_presser(
    query: CallbackQuery,
    action: Action,
    ctx: Arc<BotContext>,
) -> Option<JobRecord> {
    owned_job(&ctx, action.job()?, query.from.id).await.ok()
}

/// A format from `/settings`: kept for the presser (a setting of their own, so anyone may
/// press it), shown on the message, and used for their next results.
pub async fn choose_format(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    format: OutputFormat,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    if let Err(e) = ctx.store.set_output_format(query.from.id.0 as i64, format.name()).await {
        tracing::error!(user = %query.from.id, "storing the user's format: {e}");
        return answer(&bot, &query, messages::internal_error(lang), true).await;
    }
    answer(&bot, &query, &messages::answer_format_chosen(lang, format), false).await?;
    if let Some(message) = &query.message {
        let edit = bot
            .edit_message_text(message.chat().id, message.id(), messages::settings(lang, format))
            .reply_markup(keyboards::formats(lang, format));
        if let Err(e) = crate::bot::retry::send(edit).await {
            tracing::debug!("showing the chosen format: {e}");
        }
    }
    Ok(())
}

/// A variant count from `/settings`: kept for the presser and shown on the message. A count
/// over `MAX_JOBS_PER_USER` (never offered: a request of it could never start) is refused
/// and changes nothing.
pub async fn choose_variants(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    variants: VariantCount,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    if usize::from(variants.get()) > ctx.max_jobs_per_user {
        tracing::info!(user = %query.from.id, n = variants.get(), "refused a variant count over MAX_JOBS_PER_USER");
        return answer(&bot, &query, &messages::answer_too_many_variants(lang, ctx.max_jobs_per_user), true)
            .await;
    }
    if let Err(e) = ctx.store.set_variants(query.from.id.0 as i64, variants.get()).await {
        tracing::error!(user = %query.from.id, "storing the user's variants: {e}");
        return answer(&bot, &query, messages::internal_error(lang), true).await;
    }
    answer(&bot, &query, &messages::answer_variants_chosen(lang, variants.get()), false).await?;
    let text = messages::settings_variants(lang, variants.get());
    show_setting(&bot, &query, text, keyboards::variants(variants, ctx.max_jobs_per_user)).await;
    Ok(())
}

/// A language from `/settings`: kept for the presser, and answered in at once (this
/// answer included).
pub async fn choose_language(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    choice: LangChoice,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let stored = match choice {
        LangChoice::Auto => None,
        LangChoice::Fixed(_) => Some(choice.name()),
    };
    if let Err(e) = ctx.store.set_language(query.from.id.0 as i64, stored).await {
        tracing::error!(user = %query.from.id, "storing the user's language: {e}");
        return answer(&bot, &query, messages::internal_error(lang), true).await;
    }
    let lang = choice.lang(query.from.language_code.as_deref());
    answer(&bot, &query, &messages::answer_language_chosen(lang, choice), false).await?;
    let text = messages::settings_language(lang, choice);
    show_setting(&bot, &query, text, keyboards::languages(lang, choice)).await;
    Ok(())
}

/// Shows a setting's new value on the pressed `/settings` message.
async fn show_setting(
    bot: &TgBot,
    query: &CallbackQuery,
    text: String,
    buttons: teloxide::types::InlineKeyboardMarkup,
) {
    let Some(message) = &query.message else { return };
    let edit = bot.edit_message_text(message.chat().id, message.id(), text).reply_markup(buttons);
    if let Err(e) = crate::bot::retry::send(edit).await {
        tracing::debug!("showing the chosen setting: {e}");
    }
}

/// A preset scene as the background of the product(s) waiting in the pressed message's
/// chat: the same jobs as if the scene had been sent as a photo.
pub async fn choose_scene(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    index: u8,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(scene) = ctx.scenes.iter().take(keyboards::MAX_SCENE_BUTTONS).nth(usize::from(index)) else {
        return refuse_unknown(bot, query, lang).await;
    };
    let chat = chat_of(&query);
    let dialogue = Dialogue::new(Arc::clone(&ctx.dialogues), chat);
    let state = dialogue.get_or_default().await.map_err(HandlerError::dialogue)?;
    let products = state.pending_products();
    if products.is_empty() {
        return answer(&bot, &query, messages::answer_scene_needs_product(lang), false).await;
    }
    let image = match ctx.scenes.image(&scene.name) {
        Ok(image) => image,
        Err(e) => {
            tracing::error!(scene = %scene.name, "a preset scene cannot be read: {e}");
            return answer(&bot, &query, messages::internal_error(lang), true).await;
        }
    };
    answer(&bot, &query, &messages::answer_scene_chosen(lang, &scene.name), false).await?;
    remove_buttons(&bot, &query).await;
    let who = RequestFrom { owner: query.from.id, chat, lang };
    start_jobs_on(&bot, &dialogue, products, who, BackgroundFrom::Scene(image), &ctx).await
}

/// The preset scenes as pictures, with their buttons under them (the sheet is made once
/// per process, off the runtime).
pub async fn show_scenes(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let chat = chat_of(&query);
    let sheet = ctx
        .scene_sheet
        .get_or_try_init(|| async {
            let catalog = Arc::clone(&ctx.scenes);
            tokio::task::spawn_blocking(move || bytes::Bytes::from(crate::bot::scene_sheet::render(&catalog)))
                .await
        })
        .await;
    let Ok(sheet) = sheet else {
        return answer(&bot, &query, messages::internal_error(lang), true).await;
    };
    answer(&bot, &query, messages::answer_scene_previews(lang), false).await?;
    ctx.pacer.wait(chat).await;
    let photo = teloxide::types::InputFile::memory(sheet.clone()).file_name("scenes.jpg");
    let send = bot
        .send_photo(chat, photo)
        .caption(messages::scene_previews(lang))
        .reply_markup(keyboards::scenes(&ctx.scenes, None));
    crate::bot::retry::send(send).await?;
    Ok(())
}

/// New photo: the chat of the pressed message starts over (the presser's private chat if
/// Telegram did not say).
pub async fn new_photo(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let chat = chat_of(&query);
    let dialogue = Dialogue::new(Arc::clone(&ctx.dialogues), chat);
    let state = dialogue.get_or_default().await.map_err(HandlerError::dialogue)?;
    super::base::forget_step(&ctx, &dialogue, state).await?;
    answer(&bot, &query, messages::answer_new_photo(lang), false).await?;
    reply(&bot, &ctx, chat, messages::ask_product(lang)).await
}

/// Cancel on a job the presser owns.
pub async fn cancel(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    job: JobId,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let text = if ctx.cancel(job).await {
        messages::answer_cancelling(lang)
    } else {
        messages::answer_already_finished(lang)
    };
    answer(&bot, &query, text, false).await
}

/// Cancel all on an album's status message: every live job of the album the presser owns
/// (its first job may have ended already; the store proved the presser owns it).
pub async fn cancel_album(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    lead: JobId,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let mut jobs = ctx.jobs.album_of(lead, query.from.id);
    if ctx.store.is_shared() {
        // Some may run on other replicas (the presser's ownership of `lead` is proven).
        match ctx.store.album_jobs_in_queue(lead).await {
            Ok(elsewhere) => jobs.extend(elsewhere),
            Err(e) => tracing::warn!(%lead, "reading the album's jobs: {e}"),
        }
        jobs.sort();
        jobs.dedup();
    }
    let mut cancelled = 0;
    for job in jobs {
        cancelled += usize::from(ctx.cancel(job).await);
    }
    match cancelled {
        0 => answer(&bot, &query, messages::answer_already_finished(lang), false).await,
        n => answer(&bot, &query, &messages::answer_cancelling_many(lang, n), false).await,
    }
}

/// Regenerate (again and again) or Retry (once) on a job the presser owns: a new job on
/// the same stored images.
pub async fn repeat(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    action: Action,
    record: JobRecord,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(job) = action.job() else { return Ok(()) };
    let retry = matches!(action, Action::Retry(_));
    let user = query.from.id;
    // Regenerate makes as many variants as a request does now; Retry repeats one job.
    let variants = if retry { VariantCount::ONE } else { super::variants_of(&ctx, user).await };
    let room = ctx.max_jobs_per_user.saturating_sub(ctx.live_jobs_of(user).await.len());
    if room < usize::from(variants.get()) {
        return answer(&bot, &query, messages::answer_too_many_jobs(lang), true).await;
    }
    if !ctx.jobs.claim_repeat(job) {
        return answer(&bot, &query, messages::answer_already_retried(lang), false).await;
    }
    if retry {
        match ctx.store.claim_retry(job).await {
            Ok(true) => {}
            Ok(false) => return answer(&bot, &query, messages::answer_already_retried(lang), false).await,
            Err(e) => {
                tracing::error!(%job, "claiming the retry: {e}");
                return answer(&bot, &query, messages::internal_error(lang), true).await;
            }
        }
    }
    let format = super::output_format_of(&ctx, user).await;
    let earlier = match ctx.store.job(job).await {
        Ok(Some(earlier)) => earlier,
        Ok(None) => return answer(&bot, &query, messages::answer_expired(lang), true).await,
        Err(e) => {
            tracing::warn!(%job, "reading the job to start it again: {e}");
            return answer(&bot, &query, messages::answer_expired(lang), true).await;
        }
    };
    let new = NewJob {
        user_id: user.0 as i64,
        chat_id: record.chat.0,
        language: lang.code().into(),
        engine: ctx.engine.into(),
        parent: Some(job),
        output_format: Some(format.name().to_owned()),
        variant: None,
    };
    let base = JobRecord::new(user, record.chat, lang);
    let mut request = Request::new(base, variants.get() > 1);
    let source = JobSource::Repeat(&earlier);
    let stored = start_set(&bot, &ctx, &mut request, &new, source, variants, format).await;
    let started = request.started();
    let unqueued = request.unqueued;
    request.follow(&bot, &ctx);
    if stored == 0 {
        // Typically: the images are past their retention period.
        tracing::warn!(%job, "cannot start it again");
        return answer(&bot, &query, messages::answer_expired(lang), true).await;
    }
    if unqueued > 0 || !started {
        // Stored already: the next start runs it.
        return answer(&bot, &query, messages::kept_for_restart(lang), true).await;
    }
    tracing::info!(from = %job, variants = variants.get(), "started again");
    answer(&bot, &query, messages::answer_started_again(lang), false).await?;
    if retry {
        remove_buttons(&bot, &query).await;
    }
    Ok(())
}

/// A job's button that did not pass the owner check: someone else's job, or one gone.
pub async fn refuse(
    bot: TgBot,
    query: CallbackQuery,
    lang: Lang,
    action: Action,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(job) = action.job() else { return Ok(()) };
    let user = query.from.id;
    match owned_job(&ctx, job, user).await {
        Err(AccessError::NotOwner) => {
            tracing::warn!(%user, %job, "refused a button of another user's job");
            answer(&bot, &query, messages::answer_not_yours(lang), true).await
        }
        // Unknown, or (a race) owned by now: the press is stale either way.
        _ => answer(&bot, &query, messages::answer_expired(lang), true).await,
    }
}

/// Callback data we never produced (forged or from another bot's keyboard); a settings
/// button with a value we never offer is told so.
pub async fn refuse_unknown(bot: TgBot, query: CallbackQuery, lang: Lang) -> Result<(), HandlerError> {
    tracing::info!(user = %query.from.id, "refused unknown callback data");
    let data = query.data.as_deref().unwrap_or_default();
    let text = if ["f:", "v:", "l:"].iter().any(|p| data.starts_with(p)) {
        messages::answer_setting_refused(lang)
    } else {
        messages::answer_not_yours(lang)
    };
    answer(&bot, &query, text, true).await
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
    // Not kept in the registry: an ended job lives in the store only.
    let record = JobRecord::from_stored(&stored);
    if record.owner == user { Ok(record) } else { Err(AccessError::NotOwner) }
}

/// The chat of the pressed message (the presser's private chat if Telegram did not say).
fn chat_of(query: &CallbackQuery) -> ChatId {
    query.message.as_ref().map_or(ChatId::from(query.from.id), |m| m.chat().id)
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
