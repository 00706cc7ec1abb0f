//! Generation: taking the two pictures and starting jobs.

use crate::bot::in_hand::InHand;
use std::path::Path;
use std::sync::Arc;

use teloxide::prelude::*;
use tokio::sync::watch;

use crate::bot::TgBot;
use crate::bot::album_status;
use crate::bot::context::BotContext;
use crate::bot::dialogue::{BotDialogue, PendingProduct, Step};
use crate::bot::handlers::{HandlerError, ask_for_background, output_format_of, reply, variants_of};
use crate::bot::intake;
use crate::bot::jobs::JobRecord;
use crate::bot::messages::{self, Lang};
use crate::bot::{status, variant_set};
use crate::engine::runninghub::random_seed;
use crate::input_image::{ImageLimits, InputImage};
use crate::job::{JobId, JobInput, JobState, Owner};
use crate::output::{Look, OutputFormat, VariantCount};
use crate::queue::SubmitError;
use crate::store::{JobVariant, NewJob, StoredJob};

/// Whether a message carries something that may be a picture (the bytes decide later).
pub fn has_picture(msg: Message) -> bool {
    intake::candidate(&msg).is_some()
}

/// Checks the picture of `msg`; on refusal, tells the user what to send instead.
pub(crate) async fn take_picture(
    bot: &TgBot,
    ctx: &BotContext,
    msg: &Message,
    lang: Lang,
) -> Result<Option<InputImage>, HandlerError> {
    let Some(file) = intake::candidate(msg) else {
        return Ok(None);
    };
    match intake::fetch(bot, file, &ctx.limits, &ctx.decodes).await {
        Ok(image) => Ok(Some(image)),
        Err(e) => {
            tracing::info!(chat = %msg.chat.id, "picture refused: {e}");
            reply(bot, ctx, msg.chat.id, messages::refusal(lang, &e.refusal)).await?;
            Ok(None)
        }
    }
}

/// The product photo: kept on disk until its background arrives.
pub async fn receive_product(
    bot: TgBot,
    dialogue: BotDialogue,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let in_hand = InHand::take(&ctx, &msg, lang).await;
    let Some(image) = take_picture(&bot, &ctx, &msg, lang).await? else {
        in_hand.answered().await;
        return Ok(());
    };
    let product = save_pending(&ctx, &msg, &image).await?;
    dialogue.update(Step::AwaitingBackground { product }).await.map_err(HandlerError::dialogue)?;
    in_hand.product_kept().await;
    let asked = ask_for_background(&bot, &ctx, msg.chat.id, lang, messages::ask_background(lang)).await;
    in_hand.answered().await;
    asked
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
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let in_hand = InHand::take(&ctx, &msg, lang).await;
    let started = start_jobs(&bot, &dialogue, vec![product], &msg, lang, &ctx).await;
    in_hand.answered().await;
    started
}

/// The background for an album of products: one job per product.
pub async fn receive_background_for_many(
    bot: TgBot,
    dialogue: BotDialogue,
    products: Vec<PendingProduct>,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let in_hand = InHand::take(&ctx, &msg, lang).await;
    let started = start_jobs(&bot, &dialogue, products, &msg, lang, &ctx).await;
    in_hand.answered().await;
    started
}

/// Takes the background of `msg` and starts one job per product on it, as many as the
/// user's `MAX_JOBS_PER_USER` leaves room for (the user is told of the rest).
pub(crate) async fn start_jobs(
    bot: &TgBot,
    dialogue: &BotDialogue,
    products: Vec<PendingProduct>,
    msg: &Message,
    lang: Lang,
    ctx: &Arc<BotContext>,
) -> Result<(), HandlerError> {
    let Some(owner) = msg.from.as_ref().map(|u| u.id) else {
        return Ok(());
    };
    let who = RequestFrom { owner, chat: msg.chat.id, lang };
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

/// [`start_jobs`] for a background from anywhere. With the user's variants setting at N,
/// each product makes a set of N jobs (each with its own look), so a request counts N
/// jobs per product against `MAX_JOBS_PER_USER`: only whole sets are taken.
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
    let variants = variants_of(ctx, owner).await;
    let per_product = usize::from(variants.get());
    let room = ctx.max_jobs_per_user.saturating_sub(ctx.live_jobs_of(owner).await.len());
    if room < per_product {
        // The products stay: the background can be sent again once a job has ended.
        tracing::info!(user = %owner, variants = per_product, room, "refused a request beyond MAX_JOBS_PER_USER");
        let text = match per_product {
            1 => messages::too_many_jobs(lang, ctx.max_jobs_per_user),
            _ => messages::too_many_variants(lang, variants.get(), room, ctx.max_jobs_per_user),
        };
        return reply(bot, ctx, chat, &text).await;
    }
    let background = match background {
        BackgroundFrom::Message(msg) => take_picture(bot, ctx, msg, lang).await?,
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
        variant: None,
    };
    let taken = (room / per_product).min(products.len());
    let skipped = products.len() - taken;
    // Several jobs for one request: one status message for all of them.
    let mut request = Request::new(JobRecord::new(owner, chat, lang), taken * per_product > 1);
    for (n, product) in products.into_iter().enumerate() {
        if n >= taken {
            ctx.store.forget_pending(&product.0).await;
            continue;
        }
        let product_image = match read_pending(ctx, &product.0).await {
            Ok(image) => image,
            Err(e) => {
                tracing::error!(chat = %chat, "reading a waiting product: {e}");
                request.unstored += 1;
                continue;
            }
        };
        let source = JobSource::New { product: &product_image, background: &background };
        if start_set(bot, ctx, &mut request, &new, source, variants, format).await > 0 {
            ctx.store.forget_pending(&product.0).await;
        }
    }
    let (unstored, unqueued) = (request.unstored, request.unqueued);
    request.follow(bot, ctx);
    if unstored > 0 {
        reply(bot, ctx, chat, messages::internal_error(lang)).await?;
    }
    if unqueued > 0 {
        // The jobs are committed: the next start runs them. Never "try again" for a job
        // that exists (the user would pay twice).
        reply(bot, ctx, chat, messages::kept_for_restart(lang)).await?;
    }
    if skipped > 0 {
        let text = match per_product {
            1 => messages::too_many_jobs(lang, ctx.max_jobs_per_user),
            // The products left out are each a set that no longer fits.
            _ => messages::too_many_variants(
                lang,
                variants.get(),
                room - taken * per_product,
                ctx.max_jobs_per_user,
            ),
        };
        reply(bot, ctx, chat, &text).await?;
    }
    Ok(())
}

/// The jobs of one request as they are started (one or more products, each one job or a
/// set of variants), and what went wrong on the way, for the answer.
pub(crate) struct Request {
    /// Who asked, and where they are told.
    base: JobRecord,
    /// Whether the jobs share one status message (`album_status`): more than one job.
    shared: bool,
    jobs: Vec<(JobId, watch::Receiver<JobState>)>,
    /// Jobs that could not be stored (nothing was committed for them).
    pub unstored: usize,
    /// Jobs stored but not queued: they start with the next start.
    pub unqueued: usize,
}

impl Request {
    pub(crate) fn new(base: JobRecord, shared: bool) -> Self {
        Self { base, shared, jobs: Vec::new(), unstored: 0, unqueued: 0 }
    }

    /// Whether any job was started.
    pub(crate) fn started(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// Gives the request's shared status message its task, if it has one.
    pub(crate) fn follow(self, bot: &TgBot, ctx: &Arc<BotContext>) {
        if self.shared
            && let Some(&(lead, _)) = self.jobs.first()
        {
            let (chat, lang) = (self.base.chat, self.base.lang);
            let album = album_status::Album { lead, chat, lang, message: None, jobs: self.jobs };
            album_status::spawn(bot.clone(), Arc::clone(ctx), album);
        }
    }
}

/// Where a new job's images come from.
#[derive(Clone, Copy)]
pub(crate) enum JobSource<'a> {
    /// Pictures just taken.
    New { product: &'a InputImage, background: &'a InputImage },
    /// The images of an earlier job (Regenerate, Retry).
    Repeat(&'a StoredJob),
}

/// Stores and starts the jobs of one product on `source`: one job, or a set of `variants`
/// (each with its variant index and seed, as the CLI does in `requests`) whose results a
/// task of its own delivers as one album (`variant_set`). Returns how many were stored.
pub(crate) async fn start_set(
    bot: &TgBot,
    ctx: &Arc<BotContext>,
    request: &mut Request,
    new: &NewJob,
    source: JobSource<'_>,
    variants: VariantCount,
    format: OutputFormat,
) -> usize {
    // Seeds differ between the variants of a set by construction, between sets by chance.
    let base_seed = random_seed();
    let many = variants.get() > 1;
    let mut set: Vec<(JobId, watch::Receiver<JobState>)> = Vec::new();
    let (mut lead, mut stored) = (None, 0);
    for variant in variants.variants() {
        let seed = base_seed.wrapping_add(u64::from(variant.0) * 7_919);
        let new = NewJob {
            variant: many.then_some(JobVariant { index: variant.0, seed, set: lead }),
            ..new.clone()
        };
        let accepted = match source {
            JobSource::New { product, background } => ctx.store.create_job(&new, product, background).await,
            JobSource::Repeat(earlier) => ctx.store.repeat_job(&new, earlier).await,
        };
        let (id, input) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::error!(chat = %request.base.chat, "storing the job: {e}");
                request.unstored += 1;
                continue;
            }
        };
        stored += 1;
        let set_lead = *lead.get_or_insert(id);
        let mut record = request.base.clone();
        record.album = request.shared.then(|| request.jobs.first().map_or(id, |(first, _)| *first));
        record.variants = many.then_some(set_lead);
        let look = Look { format, variant, seed: many.then_some(seed) };
        match start_job(bot, ctx, id, input, record, look) {
            Ok(rx) => {
                request.jobs.push((id, rx.clone()));
                set.push((id, rx));
            }
            Err(e) => {
                tracing::warn!(job = %id, "stored but not queued ({e}): it starts with the next start");
                request.unqueued += 1;
            }
        }
    }
    if many && let Some(lead) = lead {
        let set = variant_set::VariantSet { lead, record: request.base.clone(), jobs: set };
        variant_set::spawn(bot.clone(), Arc::clone(ctx), set);
    }
    stored
}

/// The product photo that waited for its background (it passed intake when it came).
async fn read_pending(ctx: &BotContext, path: &Path) -> Result<InputImage, String> {
    let bytes = ctx.store.read_pending(path).await.map_err(|e| e.to_string())?;
    InputImage::parse(bytes, &ImageLimits::default()).map_err(|e| e.to_string())
}

/// Registers and submits a stored job with its look, and starts the task that reports on
/// it; returns the job's state for whoever else follows it (an album's status, a variant
/// set's delivery). Never waits for the generation.
pub(super) fn start_job(
    bot: &TgBot,
    ctx: &Arc<BotContext>,
    id: JobId,
    input: JobInput,
    record: JobRecord,
    look: Look,
) -> Result<watch::Receiver<JobState>, SubmitError> {
    ctx.jobs.insert(id, record.clone());
    ctx.looks.set(id, look);
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
pub async fn hint(
    bot: TgBot,
    state: Step,
    msg: Message,
    lang: Lang,
    ctx: Arc<BotContext>,
) -> Result<(), HandlerError> {
    let text = match state {
        Step::Start => messages::hint_product(lang),
        Step::AwaitingBackground { .. } | Step::AwaitingBackgroundForMany { .. } => {
            messages::hint_background(lang)
        }
    };
    reply(&bot, &ctx, msg.chat.id, text).await
}
