//! Generation: taking the two pictures and starting jobs.

use std::path::Path;
use std::sync::Arc;

use teloxide::prelude::*;
use tokio::sync::watch;

use crate::bot::TgBot;
use crate::bot::album_status;
use crate::bot::context::BotContext;
use crate::bot::dialogue::{BotDialogue, PendingProduct, Step};
use crate::bot::handlers::{HandlerError, ask_for_background, lang_of, output_format_of, reply};
use crate::bot::intake;
use crate::bot::jobs::JobRecord;
use crate::bot::messages::{self, Lang};
use crate::bot::status;
use crate::input_image::{ImageLimits, InputImage};
use crate::job::{JobId, JobInput, JobState, Owner};
use crate::output::{Look, OutputFormat};
use crate::queue::SubmitError;
use crate::store::NewJob;

/// Whether a message carries something that may be a picture (the bytes decide later).
pub fn has_picture(msg: Message) -> bool {
    intake::candidate(&msg).is_some()
}

/// Checks the picture of `msg`; on refusal, tells the user what to send instead.
pub(crate) async fn take_picture(
    bot: &TgBot,
    ctx: &BotContext,
    msg: &Message,
) -> Result<Option<InputImage>, HandlerError> {
    let Some(file) = intake::candidate(msg) else {
        return Ok(None);
    };
    match intake::fetch(bot, file, &ctx.limits, &ctx.decodes).await {
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
    let product = save_pending(&ctx, &msg, &image).await?;
    dialogue.update(Step::AwaitingBackground { product }).await.map_err(HandlerError::dialogue)?;
    ask_for_background(&bot, &ctx, msg.chat.id, messages::ask_background(lang_of(&msg))).await
}

/// Keeps a product photo in the store until its background comes.
pub(crate) async fn save_pending(
    ctx: &BotContext,
    msg: &Message,
    image: &InputImage,
) -> Result<PendingProduct, HandlerError> {
    let name = format!("{}-{}.{}", msg.chat.id, msg.id, image.extension());
    Ok(PendingProduct(ctx.store.keep_pending(&name, image.bytes()).await?))
}

/// The background: the job and both images go into the store, then into the queue.
pub async fn receive_background(
    bot: TgBot,
    dialogue: BotDialogue,
    product: PendingProduct,
    msg: Message,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    start_jobs(&bot, &dialogue, vec![product], &msg, &ctx).await
}

/// The background for an album of products: one job per product.
pub async fn receive_background_for_many(
    bot: TgBot,
    dialogue: BotDialogue,
    products: Vec<PendingProduct>,
    msg: Message,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    start_jobs(&bot, &dialogue, products, &msg, &ctx).await
}

/// Takes the background of `msg` and starts one job per product on it, as many as the
/// user's `MAX_JOBS_PER_USER` leaves room for (the user is told of the rest).
pub(crate) async fn start_jobs(
    bot: &TgBot,
    dialogue: &BotDialogue,
    products: Vec<PendingProduct>,
    msg: &Message,
    ctx: &Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(owner) = msg.from.as_ref().map(|u| u.id) else {
        return Ok(());
    };
    let who = RequestFrom { owner, chat: msg.chat.id, lang: lang_of(msg) };
    start_jobs_on(bot, dialogue, products, who, BackgroundFrom::Message(msg), ctx).await
}

/// Who asked for jobs, and where they are told about them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestFrom {
    pub owner: UserId,
    pub chat: ChatId,
    pub lang: Lang,
}

/// Where the background of a request comes from.
pub(crate) enum BackgroundFrom<'a> {
    /// A picture the user sent (taken through intake).
    Message(&'a Message),
    /// A preset scene picked on a button.
    Scene(InputImage),
}

/// [`start_jobs`] for a background from anywhere.
pub(crate) async fn start_jobs_on(
    bot: &TgBot,
    dialogue: &BotDialogue,
    products: Vec<PendingProduct>,
    who: RequestFrom,
    background: BackgroundFrom<'_>,
    ctx: &Arc<BotContext>,
) -> Result<(), HandlerError> {
    let RequestFrom { owner, chat, lang } = who;
    let taking = ctx.in_flight.taking(chat, lang);
    let room = ctx.max_jobs_per_user.saturating_sub(ctx.live_jobs_of(owner).await.len());
    if room == 0 {
        // The products stay: the background can be sent again once a job has ended.
        tracing::info!(user = %owner, "refused a job beyond MAX_JOBS_PER_USER");
        return reply(bot, ctx, chat, &messages::too_many_jobs(lang, ctx.max_jobs_per_user)).await;
    }
    let background = match background {
        BackgroundFrom::Message(msg) => take_picture(bot, ctx, msg).await?,
        BackgroundFrom::Scene(scene) => Some(scene),
    };
    let Some(background) = background else {
        return Ok(());
    };
    if !taking.begin_commit() {
        // The bot gave up on this handler while it stops: the user is told to send again.
        return Ok(());
    }
    // The next picture starts a new product, whatever happens to these jobs.
    dialogue.update(Step::Start).await.map_err(HandlerError::dialogue)?;
    let format = output_format_of(ctx, owner).await;
    let new = NewJob {
        user_id: owner.0 as i64,
        chat_id: chat.0,
        language: lang.code().into(),
        engine: ctx.engine.into(),
        parent: None,
        output_format: Some(format.name().to_owned()),
    };
    let skipped = products.len().saturating_sub(room);
    // Several products on one background: one status message for all of them.
    let as_album = products.len().min(room) > 1;
    let mut album: Vec<(JobId, watch::Receiver<JobState>)> = Vec::new();
    for (n, product) in products.into_iter().enumerate() {
        if n >= room {
            ctx.store.forget_pending(&product.0).await;
            continue;
        }
        let accepted = match read_pending(ctx, &product.0).await {
            Ok(product_image) => {
                ctx.store.create_job(&new, &product_image, &background).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        let (id, input) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::error!(chat = %chat, "storing the job: {e}");
                reply(bot, ctx, chat, messages::internal_error(lang)).await?;
                continue;
            }
        };
        ctx.store.forget_pending(&product.0).await;
        let mut record = JobRecord::new(owner, chat, lang);
        record.album = as_album.then(|| album.first().map_or(id, |(lead, _)| *lead));
        match start_job(bot, ctx, id, input, record, format) {
            Ok(rx) => album.push((id, rx)),
            Err(e) => {
                // The job is committed: the next start runs it. Never "try again" for a job
                // that exists (the user would pay twice).
                tracing::warn!(job = %id, "stored but not queued ({e}): it starts with the next start");
                reply(bot, ctx, chat, messages::kept_for_restart(lang)).await?;
            }
        }
    }
    if as_album && let Some(&(lead, _)) = album.first() {
        let album = album_status::Album { lead, chat, lang, message: None, jobs: album };
        album_status::spawn(bot.clone(), Arc::clone(ctx), album);
    }
    if skipped > 0 {
        reply(bot, ctx, chat, &messages::too_many_jobs(lang, ctx.max_jobs_per_user)).await?;
    }
    Ok(())
}

/// The product photo that waited for its background (it passed intake when it came).
async fn read_pending(ctx: &BotContext, path: &Path) -> Result<InputImage, String> {
    let bytes = ctx.store.read_pending(path).await.map_err(|e| e.to_string())?;
    InputImage::parse(bytes, &ImageLimits::default()).map_err(|e| e.to_string())
}

/// Registers and submits a stored job, and starts the task that reports on it; returns
/// the job's state for whoever else follows it (an album's status). Never waits for the
/// generation.
pub(super) fn start_job(
    bot: &TgBot,
    ctx: &Arc<BotContext>,
    id: JobId,
    input: JobInput,
    record: JobRecord,
    format: OutputFormat,
) -> Result<watch::Receiver<JobState>, SubmitError> {
    ctx.jobs.insert(id, record.clone());
    ctx.looks.set(id, Look { format, ..Look::default() });
    match ctx.queue.submit_for(Owner(record.owner.0 as i64), id, input) {
        Ok(rx) => {
            tracing::info!(job = %id, chat = %record.chat, "job queued");
            status::spawn(bot.clone(), Arc::clone(ctx), id, record, rx.clone());
            Ok(rx)
        }
        Err(e) => {
            ctx.jobs.mark_ended(id);
            Err(e)
        }
    }
}

/// Anything else: a hint of what the current step expects.
pub async fn hint(bot: TgBot, state: Step, msg: Message, ctx: Arc<BotContext>) -> Result<(), HandlerError> {
    let lang = lang_of(&msg);
    let text = match state {
        Step::Start => messages::hint_product(lang),
        Step::AwaitingBackground { .. } | Step::AwaitingBackgroundForMany { .. } => {
            messages::hint_background(lang)
        }
    };
    reply(&bot, &ctx, msg.chat.id, text).await
}
