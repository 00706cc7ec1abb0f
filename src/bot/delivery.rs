//! Delivering a result until Telegram has it.
//!
//! A stored result (state `delivering`) goes as a photo that fits sendPhoto (with the
//! buttons), then as the original document (re-encoded when over 50 MB). Delivery is done
//! only when Telegram accepted one of the two. Until then it is tried again with backoff:
//! `429` after its `retry_after`, server and network errors again and again, other
//! refusals a few times; all bounded by the delivery deadline (24 h by default). A chat
//! the bot can no longer write to (blocked, deactivated, not found, kicked) ends it at
//! once. When the bot stops, a delivery not yet accepted stays `delivering` in the store
//! and the next start sends it again.
//!
//! The variants of one product go together ([`deliver_album`], by `variant_set`): their
//! photos as one album, offered the same way; once it is accepted, a message with the
//! buttons and the originals as one group of documents ([`finish_album`]).

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{ChatAction, InputFile, InputMedia, InputMediaDocument, InputMediaPhoto};
use teloxide::{ApiError, RequestError};
use tokio::time::Instant;

use crate::bot::context::BotContext;
use crate::bot::jobs::JobRecord;
use crate::bot::preview::{self, Photo};
use crate::bot::{TgBot, keyboards, messages, retry};
use crate::job::{JobId, JobOutput};
use crate::shutdown::Stage;

/// The longest `retry_after` honoured between two attempts of a whole delivery.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a delivery ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Telegram accepted the photo or the document.
    Accepted,
    /// The chat cannot receive it, or the deadline passed: why, for the job's failure.
    Undeliverable(String),
    /// The bot is stopping: the result stays `delivering` for the next start.
    Postponed,
}

/// What one failed send means.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Worth trying again, after `wait` if Telegram said how long.
    Transient { wait: Option<Duration> },
    /// Not transient, not final: tried a few times.
    Odd,
    /// The chat cannot receive messages from the bot.
    Final,
}

fn refusal_of(e: &RequestError) -> Refusal {
    match e {
        RequestError::RetryAfter(wait) => Refusal::Transient { wait: Some(wait.duration()) },
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            Refusal::Transient { wait: None }
        }
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::ChatNotFound
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots
            | ApiError::GroupDeactivated,
        )
        | RequestError::MigrateToChatId(_) => Refusal::Final,
        // teloxide reports a 5xx by its description only.
        RequestError::Api(ApiError::Unknown(description))
            if ["Internal Server Error", "Bad Gateway", "Service Unavailable", "Gateway Timeout"]
                .iter()
                .any(|s| description.contains(s)) =>
        {
            Refusal::Transient { wait: None }
        }
        _ => Refusal::Odd,
    }
}

/// Offers `output` to the chat until Telegram accepts it, the chat turns out unreachable,
/// the deadline passes, or the bot stops.
pub async fn deliver(
    bot: &TgBot,
    ctx: &BotContext,
    job: JobId,
    record: &JobRecord,
    output: &Arc<JobOutput>,
) -> Delivery {
    let files = Files::of(output).await;
    if files.photo.is_none() && files.document.is_none() {
        tracing::error!(%job, "the result can be sent neither as a photo nor as a document");
        return Delivery::Undeliverable("the result cannot be read or made to fit Telegram's limits".into());
    }
    offer(ctx, job, || send_once(bot, ctx, job, record, &files)).await
}

/// What an album of variants left to send once Telegram accepted its photos.
pub struct AlbumSent {
    /// The originals, as documents.
    documents: Vec<(bytes::Bytes, &'static str)>,
}

/// Offers the photos of a variant set (`outputs`, at least two) as one album
/// (sendMediaGroup; Telegram takes an album whole or not at all) like one result: until it
/// is accepted, the chat turns out unreachable, the deadline passes or the bot stops.
/// `None` when fewer than two of them can go as photos: then each goes on its own.
pub async fn deliver_album(
    bot: &TgBot,
    ctx: &BotContext,
    lead: JobId,
    record: &JobRecord,
    outputs: &[(JobId, Arc<JobOutput>)],
) -> Option<(Delivery, AlbumSent)> {
    let mut photos = Vec::new();
    let mut documents = Vec::new();
    for (_, output) in outputs {
        let files = Files::of(output).await;
        photos.extend(files.photo);
        documents.extend(files.document);
    }
    if photos.len() < 2 || photos.len() != outputs.len() || photos.len() > MAX_ALBUM {
        return None;
    }
    let delivery = offer(ctx, lead, || send_album(bot, ctx, lead, record, &photos)).await;
    Some((delivery, AlbumSent { documents }))
}

/// Telegram's limit of one album (sendMediaGroup).
const MAX_ALBUM: usize = 10;

/// After an accepted album: one message with the buttons (Regenerate on `job`, New photo)
/// saying how many variants came out and how many `failed`, then the originals as one
/// group of documents. Tried once each (with `retry_after` waited out): the user has the
/// pictures, and sending the album again for them would be worse than missing them.
pub async fn finish_album(
    bot: &TgBot,
    ctx: &BotContext,
    job: JobId,
    record: &JobRecord,
    delivered: usize,
    failed: usize,
    sent: AlbumSent,
) {
    let (chat, lang) = (record.chat, record.lang);
    ctx.pacer.wait_result(chat, false).await;
    let text = messages::variants_delivered(lang, delivered, failed);
    if let Err(e) = retry::send(bot.send_message(chat, text).reply_markup(keyboards::result(lang, job))).await
    {
        tracing::warn!(%job, "could not send the buttons after the album: {e}");
    }
    let mut documents: Vec<InputMedia> = sent
        .documents
        .into_iter()
        .take(MAX_ALBUM)
        .map(|(bytes, extension)| {
            let file = InputFile::memory(bytes).file_name(preview::document_name(extension));
            InputMedia::Document(InputMediaDocument::new(file))
        })
        .collect();
    let Some(InputMedia::Document(first)) = documents.first_mut() else { return };
    *first = first.clone().caption(messages::originals_caption(lang));
    ctx.pacer.wait_result(chat, false).await;
    let sent = match documents.len() {
        1 => {
            let Some(InputMedia::Document(only)) = documents.pop() else { return };
            retry::send(bot.send_document(chat, only.media).caption(messages::originals_caption(lang)))
                .await
                .map(|_| ())
        }
        _ => retry::send(bot.send_media_group(chat, documents)).await.map(|_| ()),
    };
    if let Err(e) = sent {
        tracing::warn!(%job, "could not send the originals after the album: {e}");
    }
}

/// One attempt at an album of photos (no caption: the message after it says what it is).
async fn send_album(
    bot: &TgBot,
    ctx: &BotContext,
    lead: JobId,
    record: &JobRecord,
    photos: &[(bytes::Bytes, &'static str)],
) -> Result<(), RequestError> {
    let chat = record.chat;
    if let Err(e) = retry::send(bot.send_chat_action(chat, ChatAction::UploadPhoto)).await {
        tracing::debug!(%lead, "chat action: {e}");
    }
    let media = photos.iter().map(|(bytes, extension)| {
        let photo = InputFile::memory(bytes.clone()).file_name(preview::document_name(extension));
        InputMedia::Photo(InputMediaPhoto::new(photo))
    });
    ctx.pacer.wait_result(chat, true).await;
    retry::send(bot.send_media_group(chat, media.collect::<Vec<_>>())).await.map(|_| ())
}

/// Makes `attempt` until Telegram accepts it, with the backoff and the bounds set out at
/// the top of this module (one result, or one album, of `job`).
async fn offer<F, Fut>(ctx: &BotContext, job: JobId, mut attempt: F) -> Delivery
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), RequestError>>,
{
    let policy = ctx.delivery;
    let deadline = Instant::now() + policy.deadline;
    let (mut backoff, mut odd) = (policy.first_retry, 0);
    loop {
        let error = match attempt().await {
            Ok(()) => {
                tracing::info!(%job, "result delivered");
                return Delivery::Accepted;
            }
            Err(e) => e,
        };
        let wait = match refusal_of(&error) {
            Refusal::Final => {
                tracing::warn!(%job, "the chat cannot receive the result: {error}");
                return Delivery::Undeliverable(error.to_string());
            }
            Refusal::Odd if odd + 1 >= policy.odd_refusals => {
                tracing::error!(%job, "Telegram keeps refusing the result: {error}");
                return Delivery::Undeliverable(error.to_string());
            }
            Refusal::Odd => {
                odd += 1;
                backoff
            }
            // Telegram's own `retry_after` is honoured as it is; only our backoff is capped.
            Refusal::Transient { wait: Some(wait) } => wait,
            Refusal::Transient { wait: None } => backoff.min(policy.longest_wait),
        };
        let wait = wait.min(policy.longest_wait.max(MAX_RETRY_AFTER));
        if Instant::now() + wait > deadline {
            tracing::error!(%job, "the result was not accepted within {:?}: {error}", policy.deadline);
            return Delivery::Undeliverable(format!("not accepted within {:?}: {error}", policy.deadline));
        }
        tracing::warn!(%job, ?wait, "the result was not accepted, trying again: {error}");
        metrics::counter!(crate::telemetry::DELIVERY_RETRIES).increment(1);
        tokio::select! {
            biased;
            () = ctx.shutdown.reached(Stage::FinishStatus) => return Delivery::Postponed,
            () = tokio::time::sleep(wait) => {}
        }
        backoff = (backoff * 2).min(policy.longest_wait);
    }
}

/// The photo and the document of a result, prepared once for every attempt.
struct Files {
    photo: Option<(bytes::Bytes, &'static str)>,
    document: Option<(bytes::Bytes, &'static str)>,
}

impl Files {
    async fn of(output: &Arc<JobOutput>) -> Self {
        let output = Arc::clone(output);
        let made = tokio::task::spawn_blocking(move || {
            let photo = match preview::photo_for(&output.image) {
                Photo::Original => Some((output.image.clone(), output.extension)),
                Photo::Preview(jpeg) => Some((jpeg, "jpg")),
                Photo::None => None,
            };
            let document =
                preview::document_for(output.image.clone(), output.extension, preview::MAX_DOCUMENT_BYTES);
            Self { photo, document }
        });
        made.await.unwrap_or(Self { photo: None, document: None })
    }
}

/// One attempt: the photo (with the buttons), then the document (with the buttons when no
/// photo went out). `Ok` when Telegram accepted at least one of them.
async fn send_once(
    bot: &TgBot,
    ctx: &BotContext,
    job: JobId,
    record: &JobRecord,
    files: &Files,
) -> Result<(), RequestError> {
    let (chat, lang) = (record.chat, record.lang);
    if let Err(e) = retry::send(bot.send_chat_action(chat, ChatAction::UploadPhoto)).await {
        tracing::debug!(%job, "chat action: {e}");
    }
    let mut photo_error = None;
    if let Some((bytes, extension)) = &files.photo {
        ctx.pacer.wait_result(chat, true).await;
        let photo = InputFile::memory(bytes.clone()).file_name(preview::document_name(extension));
        let sent = retry::send(
            bot.send_photo(chat, photo)
                .caption(messages::result_caption(lang))
                .reply_markup(keyboards::result(lang, job)),
        )
        .await;
        match sent {
            Ok(_) => {}
            Err(e) if refusal_of(&e) == Refusal::Final => return Err(e),
            Err(e) => {
                tracing::warn!(%job, "could not send the result photo: {e}");
                photo_error = Some(e);
            }
        }
    }
    let photo_sent = files.photo.is_some() && photo_error.is_none();
    let Some((bytes, extension)) = &files.document else {
        // Only a photo can go (`deliver` checked that there is one).
        return photo_error.map_or(Ok(()), Err);
    };
    // Right after the photo; the first part when no photo went out.
    ctx.pacer.wait_result(chat, !photo_sent).await;
    let document = InputFile::memory(bytes.clone()).file_name(preview::document_name(extension));
    let mut send = bot.send_document(chat, document).caption(messages::original_caption(lang));
    if !photo_sent {
        // No photo went out: the buttons ride on the document instead.
        send = send.caption(messages::result_caption(lang)).reply_markup(keyboards::result(lang, job));
    }
    match retry::send(send).await {
        Ok(_) => Ok(()),
        // The user has the photo: the original is a bonus, not worth sending the photo again.
        Err(e) if photo_sent => {
            tracing::warn!(%job, "could not send the result document: {e}");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_bot_ends_the_delivery_and_a_busy_server_does_not() {
        assert_eq!(refusal_of(&RequestError::Api(ApiError::BotBlocked)), Refusal::Final);
        assert_eq!(refusal_of(&RequestError::Api(ApiError::ChatNotFound)), Refusal::Final);
        let busy = RequestError::Api(ApiError::Unknown("Bad Gateway".into()));
        assert_eq!(refusal_of(&busy), Refusal::Transient { wait: None });
        let odd = RequestError::Api(ApiError::Unknown("Bad Request: wrong file".into()));
        assert_eq!(refusal_of(&odd), Refusal::Odd);
    }
}
