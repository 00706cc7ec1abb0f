//! The bot's handlers: `base` (commands), `generation` (pictures, jobs) and `buttons`.
//!
//! Handlers answer at once: they check input, submit jobs and return. Waiting for a
//! generation is the status task's business, so a Cancel button always gets through.

pub mod base;
pub mod buttons;
pub mod generation;

use std::sync::Arc;

use teloxide::RequestError;
use teloxide::prelude::*;

use crate::bot::TgBot;
use crate::bot::context::BotContext;
use crate::bot::messages::{Lang, LangChoice};
use crate::output::{OutputFormat, VariantCount};

/// Why a handler could not finish; the dispatcher logs it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("Telegram request failed: {0}")]
    Telegram(#[from] RequestError),
    #[error("dialogue storage failed: {0}")]
    Dialogue(String),
    #[error("job files: {0}")]
    Files(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl HandlerError {
    pub(crate) fn dialogue(e: impl std::fmt::Display) -> Self {
        Self::Dialogue(e.to_string())
    }
}

/// The language to answer the sender of `update` in: the one they picked in `/settings`,
/// else their Telegram interface's. The one place that decides it: `bot::schema` puts it
/// among every handler's dependencies, once per update.
pub async fn lang_of_update(update: Update, ctx: Arc<BotContext>) -> Lang {
    let Some(user) = update.from() else { return Lang::default() };
    language_choice_of(&ctx, user.id).await.lang(user.language_code.as_deref())
}

/// The language `user` picked in `/settings` (Telegram's if none, or if the store cannot
/// say: an answer in their interface's language beats none).
pub(crate) async fn language_choice_of(ctx: &BotContext, user: UserId) -> LangChoice {
    match ctx.store.language(user.0 as i64).await {
        Ok(Some(name)) => LangChoice::parse(&name).unwrap_or_default(),
        Ok(None) => LangChoice::Auto,
        Err(e) => {
            tracing::warn!(%user, "reading the user's language: {e}");
            LangChoice::Auto
        }
    }
}

/// How many variants a request of `user` makes (one if never chosen, or if the store
/// cannot say).
pub(crate) async fn variants_of(ctx: &BotContext, user: UserId) -> VariantCount {
    match ctx.store.variants(user.0 as i64).await {
        Ok(Some(n)) => VariantCount::new(n).unwrap_or_default(),
        Ok(None) => VariantCount::ONE,
        Err(e) => {
            tracing::warn!(%user, "reading the user's settings: {e}");
            VariantCount::ONE
        }
    }
}

/// The output format `user` chose in `/settings` (the default if none, or if the store
/// cannot say: a result in the default frame beats no result).
pub(crate) async fn output_format_of(ctx: &BotContext, user: UserId) -> OutputFormat {
    match ctx.store.output_format(user.0 as i64).await {
        Ok(Some(name)) => name.parse().unwrap_or_default(),
        Ok(None) => OutputFormat::default(),
        Err(e) => {
            tracing::warn!(%user, "reading the user's settings: {e}");
            OutputFormat::default()
        }
    }
}

/// Asks for the background (`text`), with the preset scenes as buttons under it.
pub(crate) async fn ask_for_background(
    bot: &TgBot,
    ctx: &BotContext,
    chat: ChatId,
    lang: Lang,
    text: impl Into<String>,
) -> Result<(), HandlerError> {
    send_text(bot, ctx, chat, text, Some(crate::bot::keyboards::scenes(&ctx.scenes, Some(lang)))).await
}

/// Sends a plain text to `chat`, in turn with the bot's other messages there.
pub(crate) async fn reply(
    bot: &TgBot,
    ctx: &BotContext,
    chat: ChatId,
    text: impl Into<String>,
) -> Result<(), HandlerError> {
    send_text(bot, ctx, chat, text, None).await
}

/// A text to `chat` in its turn, with `buttons` under it if any.
async fn send_text(
    bot: &TgBot,
    ctx: &BotContext,
    chat: ChatId,
    text: impl Into<String>,
    buttons: Option<teloxide::types::InlineKeyboardMarkup>,
) -> Result<(), HandlerError> {
    ctx.pacer.wait(chat).await;
    let mut request = bot.send_message(chat, text.into());
    if let Some(buttons) = buttons {
        request = request.reply_markup(buttons);
    }
    crate::bot::retry::send(request).await?;
    Ok(())
}
