//! Albums: Telegram sends an album as separate messages sharing one `media_group_id`.
//!
//! Each part's arrival is recorded at once (before anything is downloaded) and the handler
//! returns; the first part starts a collector that waits until the group is complete (no
//! new part for [`QUIET`], at most [`crate::bot::albums::LONGEST`]) and then treats it as
//! a whole:
//! - where a product is expected, the album is the products (at most [`MAX_PRODUCTS`]):
//!   the background that follows makes one job per product;
//! - where a background is expected, its first picture is the background, and the user is
//!   told so.
//!
//! A single picture sent while an album of the same chat is being collected waits for it,
//! so an album of products followed at once by the background is never mixed up.

use std::sync::Arc;

use teloxide::dispatching::dialogue::Dialogue;
use teloxide::prelude::*;

use crate::bot::TgBot;
use crate::bot::albums::{MAX_PRODUCTS, QUIET};
use crate::bot::context::BotContext;
use crate::bot::dialogue::Step;
use crate::bot::handlers::ask_for_background;
use crate::bot::handlers::generation::{save_pending, start_jobs, take_picture};
use crate::bot::handlers::{HandlerError, reply};
use crate::bot::messages::Lang;
use crate::bot::{intake, messages};

/// Holds a single picture back until the chat's albums are handled, so that it is routed
/// by the conversation step the album left (always lets it through, within bounds).
pub async fn after_albums(msg: Message, ctx: Arc<BotContext>) -> bool {
    if msg.media_group_id().is_none() && intake::candidate(&msg).is_some() {
        ctx.albums.settled(msg.chat.id).await;
    }
    true
}

/// Whether `msg` is a picture that belongs to an album.
pub fn is_album_part(msg: Message) -> bool {
    msg.media_group_id().is_some() && intake::candidate(&msg).is_some()
}

/// One part of an album: recorded, and the first one starts the collector.
pub async fn receive_part(
    bot: TgBot,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(group) = msg.media_group_id().map(|id| id.0.clone()) else { return Ok(()) };
    if ctx.albums.add(&group, msg) {
        // The album is answered in the language of its first part's sender.
        let tasks = ctx.tasks.clone();
        tasks.spawn(collect(bot, ctx, group, lang));
    }
    Ok(())
}

async fn collect(bot: TgBot, ctx: Arc<BotContext>, group: String, lang: Lang) {
    let parts = loop {
        tokio::time::sleep(QUIET / 4).await;
        if let Some(parts) = ctx.albums.complete(&group) {
            break parts;
        }
    };
    if let Err(e) = handle(&bot, &ctx, parts, lang).await {
        tracing::warn!(%group, "an album could not be handled: {e}");
    }
    ctx.albums.close(&group);
}

/// A complete album, by where its chat is in the conversation.
async fn handle(
    bot: &TgBot,
    ctx: &Arc<BotContext>,
    parts: Vec<Message>,
    lang: Lang,
) -> Result<(), HandlerError> {
    let Some(first) = parts.first() else { return Ok(()) };
    let chat = first.chat.id;
    let dialogue = Dialogue::new(Arc::clone(&ctx.dialogues), chat);
    let step = dialogue.get_or_default().await.map_err(HandlerError::dialogue)?;
    let waiting = step.pending_products();
    if !waiting.is_empty() {
        // A background is expected: the album's first picture is it.
        reply(bot, ctx, chat, messages::album_as_background(lang)).await?;
        return start_jobs(bot, &dialogue, waiting, first, lang, ctx).await;
    }
    let mut products = Vec::new();
    for part in parts.iter().take(MAX_PRODUCTS) {
        if let Some(image) = take_picture(bot, ctx, part, lang).await? {
            products.push(save_pending(ctx, part, &image).await?);
        }
    }
    if products.is_empty() {
        return Ok(());
    }
    let count = products.len();
    let next = match count {
        1 => Step::AwaitingBackground { product: products.remove(0) },
        _ => Step::AwaitingBackgroundForMany { products },
    };
    dialogue.update(next).await.map_err(HandlerError::dialogue)?;
    let text = if count == 1 {
        messages::ask_background(lang).to_owned()
    } else {
        messages::ask_background_for(lang, count)
    };
    ask_for_background(bot, ctx, chat, lang, text).await?;
    if parts.len() > MAX_PRODUCTS {
        reply(bot, ctx, chat, &messages::album_too_long(lang, MAX_PRODUCTS)).await?;
    }
    Ok(())
}
