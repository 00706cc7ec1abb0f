//! The commands: /start, /help, /cancel, /settings, and /stats for the operator's admins.

use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::utils::command::BotCommands;

use crate::bot::TgBot;
use crate::bot::context::BotContext;
use crate::bot::dialogue::{BotDialogue, PendingProduct, Step};
use crate::bot::handlers::{HandlerError, language_choice_of, reply, variants_of};
use crate::bot::messages::Lang;
use crate::bot::{keyboards, messages, retry};

/// The commands the bot understands (their menu texts come from `messages`).
#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    Start,
    Help,
    Cancel,
    Settings,
    /// For `ADMIN_IDS` only; not in the command menu.
    Stats,
}

/// Greets and waits for the product photo, forgetting any half-started step.
pub async fn start(
    bot: TgBot,
    dialogue: BotDialogue,
    state: Step,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    forget_step(&ctx, &dialogue, state).await?;
    reply(&bot, &ctx, msg.chat.id, messages::greeting(lang)).await
}

/// The user's settings, one message each with its buttons: the output format
/// (`buttons::choose_format`), the variants per request (`buttons::choose_variants`) and
/// the language (`buttons::choose_language`). Each message is edited in place on a press.
pub async fn settings(
    bot: TgBot,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(user) = msg.from.as_ref().map(|u| u.id) else { return Ok(()) };
    let chat = msg.chat.id;
    let format = super::output_format_of(&ctx, user).await;
    let variants = variants_of(&ctx, user).await;
    let language = language_choice_of(&ctx, user).await;
    let menus = [
        (messages::settings(lang, format), keyboards::formats(lang, format)),
        (
            messages::settings_variants(lang, variants.get()),
            keyboards::variants(variants, ctx.max_jobs_per_user),
        ),
        (messages::settings_language(lang, language), keyboards::languages(lang, language)),
    ];
    for (text, buttons) in menus {
        ctx.pacer.wait(chat).await;
        retry::send(bot.send_message(chat, text).reply_markup(buttons)).await?;
    }
    Ok(())
}

pub async fn help(bot: TgBot, msg: Message, lang: Lang, ctx: Arc<BotContext>) -> Result<(), HandlerError> {
    reply(&bot, &ctx, msg.chat.id, messages::help(lang)).await
}

/// Cancels the step in progress and every job of the user that has not ended.
pub async fn cancel(
    bot: TgBot,
    dialogue: BotDialogue,
    state: Step,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let had_step = state != Step::Start;
    forget_step(&ctx, &dialogue, state).await?;
    let mut cancelled = false;
    if let Some(user) = &msg.from {
        for job in ctx.live_jobs_of(user.id).await {
            cancelled |= ctx.cancel(job).await;
        }
    }
    let text = if cancelled {
        messages::cancelling_jobs(lang)
    } else if had_step {
        messages::cancelled_step(lang)
    } else {
        messages::nothing_to_cancel(lang)
    };
    reply(&bot, &ctx, msg.chat.id, text).await
}

/// Back to the start of the conversation, removing a product photo that waited for its
/// background.
pub(crate) async fn forget_step(
    ctx: &BotContext,
    dialogue: &BotDialogue,
    state: Step,
) -> Result<(), HandlerError> {
    for PendingProduct(path) in state.pending_products() {
        ctx.store.forget_pending(&path).await;
    }
    dialogue.update(Step::Start).await.map_err(HandlerError::dialogue)
}

/// Whether the sender is listed in `ADMIN_IDS`.
pub fn is_admin(msg: Message, ctx: Arc<BotContext>) -> bool {
    msg.from.as_ref().is_some_and(|u| ctx.admin_ids.contains(&(u.id.0 as i64)))
}

/// Usage statistics: the store's report with the live load of each account.
pub async fn stats(bot: TgBot, msg: Message, lang: Lang, ctx: Arc<BotContext>) -> Result<(), HandlerError> {
    let text = match ctx.store.stats().await {
        Ok(mut report) => {
            for lane in ctx.queue.lanes() {
                report.add_live_load(lane.id.0, lane.running, lane.capacity, lane.refused);
            }
            format!("{}\n\n{report}", messages::stats_title(lang))
        }
        Err(e) => {
            tracing::error!("statistics: {e}");
            messages::internal_error(lang).to_owned()
        }
    };
    reply(&bot, &ctx, msg.chat.id, text).await
}
