//! A picture this process is taking, recorded in the store until its user is answered.
//!
//! Telegram considers an update delivered before the bot has handled it, so a process
//! killed while it downloads, checks and stores a photo would leave its user with no
//! answer at all. The picture handlers hold an [`InHand`] from their start to their
//! answer; what a killed process left behind is told at the next start, or by the replica
//! that takes it over ([`tell_unanswered`]): "please send it again", or, if the product was
//! kept, the question for its background.

use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::ChatId;

use crate::bot::context::BotContext;
use crate::bot::messages::{self, Lang};
use crate::bot::{TgBot, retry};
use crate::store::{GotTo, Store, Unanswered};

/// The record of one picture in hand; dropping it (however the handler ends) removes it.
pub struct InHand {
    store: Store,
    chat: i64,
    message: i32,
    removed: bool,
}

impl InHand {
    /// Records that the picture of `msg` is being taken. A store that does not answer
    /// only costs this safety net, never the picture.
    pub async fn take(ctx: &BotContext, msg: &Message, lang: Lang) -> Self {
        if let Err(e) = ctx.store.picture_in_hand(msg.chat.id.0, msg.id.0, lang.code()).await {
            tracing::warn!(chat = %msg.chat.id, "recording a picture in hand: {e}");
        }
        Self { store: ctx.store.clone(), chat: msg.chat.id.0, message: msg.id.0, removed: false }
    }

    /// The product is kept and the dialogue waits for its background: a stop from here on
    /// asks the user for the background.
    pub async fn product_kept(&self) {
        if let Err(e) = self.store.picture_product_kept(self.chat, self.message).await {
            tracing::warn!(chat = self.chat, "recording a kept product in hand: {e}");
        }
    }

    /// The handler answered: the record goes now (before a stop could close the store).
    pub async fn answered(mut self) {
        self.removed = true;
        if let Err(e) = self.store.picture_answered(self.chat, self.message).await {
            tracing::warn!(chat = self.chat, "removing a picture in hand: {e}");
        }
    }
}

impl Drop for InHand {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // A handler that ended early (an error): removed in the background.
        let (store, chat, message) = (self.store.clone(), self.chat, self.message);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.picture_answered(chat, message).await {
                    tracing::warn!(%chat, "removing a picture in hand: {e}");
                }
            });
        }
    }
}

/// Asks the users whose pictures a killed process never answered to send them again.
pub async fn tell_unanswered(bot: &TgBot, ctx: &Arc<BotContext>, unanswered: Vec<Unanswered>) {
    for left in unanswered {
        let (chat, lang) = (ChatId(left.chat_id), Lang::from_code(Some(&left.language)));
        let text = match left.got_to {
            GotTo::Nothing => messages::send_again_after_restart(lang),
            GotTo::ProductKept => messages::ask_background(lang),
            GotTo::JobAccepted => continue,
        };
        ctx.pacer.wait(chat).await;
        match retry::send(bot.send_message(chat, text)).await {
            Ok(_) => tracing::info!(%chat, "asked to send again a picture a stop left unanswered"),
            Err(e) => tracing::warn!(%chat, "could not ask to send a picture again: {e}"),
        }
    }
}
