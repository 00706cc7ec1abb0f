//! The Telegram bot: `backdrop bot`.
//!
//! Wiring only: the teloxide bot (own HTTP client, Throttle adaptor), the routing of
//! updates ([`schema`]), the shared [`context::BotContext`], start-up and shutdown. The
//! conversation lives in [`handlers`], every user-facing text in [`messages`], buttons in
//! [`keyboards`], and each job's status message in [`status`].
//!
//! [`run`] is what the binary calls; [`serve`] runs the bot on an already built
//! [`Application`] until its [`Shutdown`] is triggered, then stops in the order
//! [`crate::shutdown`] sets out. Tests drive the real bot in-process through [`serve`]
//! against fake servers.

pub mod album;
pub mod album_status;
pub mod albums;
pub mod context;
pub mod delivery;
pub mod dialogue;
pub mod handlers;
pub mod in_flight;
pub mod in_hand;
pub mod intake;
pub mod jobs;
pub mod keyboards;
pub mod messages;
pub mod pacer;
pub mod preview;
pub mod recovery;
pub mod replica;
pub mod retry;
pub mod scene_sheet;
pub mod status;
pub mod variant_set;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use teloxide::RequestError;
use teloxide::dispatching::dialogue::Storage;
use teloxide::dispatching::{UpdateHandler, dialogue as tg_dialogue};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::BotCommand;
use teloxide::update_listeners::Polling;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{Application, BuildError};
use crate::config::{Settings, WebhookConfig};
use crate::input_image::ImageLimits;
use crate::monitoring;
use crate::queue::leases::SlotLeases;
use crate::scenes::SceneCatalog;
use crate::secret::Secret;
use crate::shutdown::{Shutdown, ShutdownMode, Stage};
use crate::store::{DurableDialogues, Store};
use context::BotContext;
use context::DeliveryPolicy;
use context::StatusTiming;
use dialogue::{DialogueStorage, Step};
use handlers::HandlerError;
use handlers::base::Command;
use jobs::JobRegistry;
use messages::Lang;
use pacer::Pacer;

/// The bot as handlers use it. Telegram's rate limits are kept by [`Pacer`], which every
/// message, edit and result takes a turn from (teloxide's `Throttle` would hold each send
/// for its next 250 ms tick, and cannot put results before status edits).
pub type TgBot = Bot;

/// What the bot needs to know to run (a subset of [`Settings`], plus timings that tests
/// shorten).
#[derive(Clone, Debug)]
pub struct BotSettings {
    pub token: Secret,
    pub api_url: reqwest::Url,
    pub data_dir: PathBuf,
    /// The operator's own preset scenes (`SCENES_DIR`).
    pub scenes_dir: Option<PathBuf>,
    pub on_shutdown: ShutdownMode,
    /// Telegram user ids allowed to use `/stats` (`ADMIN_IDS`).
    pub admin_ids: Vec<i64>,
    /// `MAX_JOBS_PER_USER`.
    pub max_jobs_per_user: usize,
    /// `DECODE_CONCURRENCY`.
    pub decode_concurrency: usize,
    /// Long-polling timeout of getUpdates.
    pub poll_timeout: Duration,
    /// Total time one HTTP request may take (uploads of 10 MB results included).
    pub request_timeout: Duration,
    /// At most one message or edit per this gap in one chat (Telegram: about 1/s; a
    /// little more so network jitter never squeezes two into one second).
    pub chat_gap: Duration,
    /// At most this many messages and edits per second overall (Telegram: 30).
    pub messages_per_second: u32,
    pub timing: StatusTiming,
    pub delivery: DeliveryPolicy,
    /// `None`: long polling.
    pub webhook: Option<WebhookConfig>,
    /// `/healthz`, `/readyz` and `/metrics` (`METRICS_LISTEN`); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
}

impl BotSettings {
    /// Production values from the configuration.
    pub fn from_settings(settings: &Settings) -> Result<Self, BotError> {
        let token = settings.bot_token.clone().ok_or(BotError::NoToken)?;
        let api_url = settings.telegram_api_url.clone();
        Ok(Self {
            token,
            api_url,
            data_dir: settings.data_dir.clone(),
            scenes_dir: settings.scenes_dir.clone(),
            on_shutdown: settings.on_shutdown,
            admin_ids: settings.admin_ids.clone(),
            max_jobs_per_user: settings.max_jobs_per_user,
            decode_concurrency: settings.decode_concurrency,
            poll_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            chat_gap: Duration::from_millis(1100),
            messages_per_second: 25,
            timing: StatusTiming::default(),
            delivery: DeliveryPolicy::default(),
            webhook: settings.webhook.clone(),
            metrics_listen: settings.metrics_listen,
        })
    }
}

/// Why the bot could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("BOT_TOKEN is not set: create a bot with @BotFather and put its token in BOT_TOKEN")]
    NoToken,
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),
    // teloxide strips the token from network errors before they get here.
    #[error("Telegram refused the bot token or could not be reached")]
    Telegram(#[source] RequestError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("stopped: this process lost its hold of the database's jobs (another may run them now)")]
    JobsLost,
    #[error(transparent)]
    Monitoring(#[from] crate::monitoring::MonitoringError),
    #[error("cannot listen for webhooks on {address} (WEBHOOK_LISTEN): {source}")]
    WebhookListen { address: SocketAddr, source: std::io::Error },
    #[error("the data directory {path} cannot be used: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
}

/// How often a replica that does not poll Telegram asks whether it may (long polling:
/// one replica polls; another takes over within this, plus `RUNNER_FENCE`, of its end).
const STANDBY_RETRY: Duration = Duration::from_secs(1);

/// `backdrop bot`: opens the job store, builds the engine, ledger and queue from
/// `settings` (the store journals every job's state) and serves until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> Result<(), BotError> {
    // First of all: a SIGTERM during start-up is a clean stop, not a kill.
    let shutdown = Shutdown::new(settings.shutdown_grace);
    shutdown.trigger_on_signal();
    let bot_settings = BotSettings::from_settings(&settings)?;
    let store = Store::open(&settings.database_url, &settings.data_dir).await?;
    let retention = Duration::from_secs(u64::from(settings.retention_days) * 24 * 3600);
    let app = Application::build(settings, Arc::new(store.clone()))?;
    let sweep = tokio::spawn(crate::store::sweep_periodically(store.clone(), retention, shutdown.clone()));
    let result = serve(bot_settings, app, store, shutdown).await;
    sweep.abort();
    result
}

/// The teloxide bot: our own HTTP client (long timeout for uploads), the configured API
/// server.
fn build_bot(settings: &BotSettings) -> Result<TgBot, BotError> {
    let client = teloxide::net::default_reqwest_settings()
        .timeout(settings.request_timeout)
        .build()
        .map_err(BotError::HttpClient)?;
    Ok(Bot::with_client(settings.token.expose(), client).set_api_url(settings.api_url.clone()))
}

/// Runs the bot on `app` until `shutdown` is triggered, then takes the stages of
/// [`crate::shutdown`] in order; the store is closed when it returns.
pub async fn serve(
    settings: BotSettings,
    app: Application,
    store: Store,
    shutdown: Shutdown,
) -> Result<(), BotError> {
    // Health first: `/readyz` says "not ready" until Telegram accepted the token.
    let readiness = monitoring::Readiness::default();
    if let Some(address) = settings.metrics_listen {
        let stop = {
            let shutdown = shutdown.clone();
            async move { shutdown.reached(Stage::Exit).await }
        };
        monitoring::serve(address, app.queue.clone(), store.clone(), readiness.clone(), stop).await?;
    }
    let bot = start_up(&settings, &app).await?;
    readiness.token_accepted();
    let ctx = Arc::new(BotContext {
        queue: app.queue.clone(),
        looks: app.looks.clone(),
        scenes: Arc::new(load_scenes(settings.scenes_dir.as_deref())),
        store: store.clone(),
        engine: app.engine.name(),
        admin_ids: settings.admin_ids.clone(),
        max_jobs_per_user: settings.max_jobs_per_user,
        jobs: JobRegistry::default(),
        pacer: Pacer::new(settings.chat_gap, settings.messages_per_second),
        dialogues: DurableDialogues::<Step>::new(store.clone()).erase(),
        data_dir: settings.data_dir.clone(),
        limits: ImageLimits::default(),
        albums: albums::Albums::default(),
        in_flight: Arc::default(),
        decodes: tokio::sync::Semaphore::new(settings.decode_concurrency),
        timing: settings.timing,
        delivery: settings.delivery,
        tasks: TaskTracker::new(),
        shutdown: shutdown.clone(),
        scene_sheet: tokio::sync::OnceCell::new(),
    });
    // With PostgreSQL every replica runs jobs: what dead replicas (or the last run) left
    // is taken over by the replica's watch; with SQLite this process holds them all, and
    // puts them back in the queue, in order, before any new update.
    let replica_stop = CancellationToken::new();
    let mut holds = Vec::new();
    if store.is_shared() {
        let leases = app.engine.shared_limits().then(|| SlotLeases::new(app.queue.clone(), store.clone()));
        let lanes: Vec<_> = app.engine.lanes().iter().map(|l| (l.id, l.capacity)).collect();
        replica::join(&store, &lanes).await?;
        if let Some(leases) = &leases {
            tokio::spawn(Arc::clone(leases).keep(replica_stop.clone()));
        }
        let fenced = replica::watch(bot.clone(), Arc::clone(&ctx), leases, replica_stop.clone());
        holds.push(watch_hold_of_jobs(
            async move {
                if !fenced.await {
                    std::future::pending::<()>().await;
                }
            },
            &app,
            &shutdown,
        ));
    } else {
        store.take_jobs().await?;
        recovery::resume(&bot, &ctx).await?;
    }
    let mut dispatcher = Dispatcher::builder(bot.clone(), schema())
        .dependencies(dptree::deps![Arc::clone(&ctx), Arc::clone(&ctx.dialogues)])
        .default_handler(|update| async move { tracing::debug!(id = ?update.id, "update without a handler") })
        .error_handler(LoggingErrorHandler::with_custom_text("a handler failed"))
        .build();
    let stop_token = dispatcher.shutdown_token();
    let listener_errors = LoggingErrorHandler::with_custom_text("getting updates failed");
    let dispatch: Pin<Box<dyn Future<Output = Result<(), RequestError>> + Send + '_>> = match &settings
        .webhook
    {
        None => {
            // One replica polls Telegram (two would each get half the updates, and Telegram
            // answers the second with a conflict); the others wait here, running jobs
            // meanwhile, and one stopped before its turn never touches the updates.
            let may_poll = if store.is_shared() {
                let stopped = tokio::select! {
                    taken = store.wait_to_run(STANDBY_RETRY) => { taken?; false }
                    () = shutdown.triggered() => true,
                };
                if !stopped {
                    let lost = store.clone();
                    holds.push(watch_hold_of_jobs(async move { lost.jobs_lost().await }, &app, &shutdown));
                }
                !stopped
            } else {
                true
            };
            if may_poll {
                let polling = Polling::builder(bot.clone())
                    .timeout(settings.poll_timeout)
                    .delete_webhook()
                    .await
                    .build();
                Box::pin(dispatcher.try_dispatch_with_listener(polling, listener_errors))
            } else {
                tracing::info!("stopped while another replica polls Telegram");
                Box::pin(std::future::ready(Ok(())))
            }
        }
        Some(hook) => {
            let replicas = store.is_shared().then(|| store.clone());
            if let Some(store) = &replicas {
                let (engine, stop) = (Arc::clone(&app.engine), replica_stop.clone());
                tokio::spawn(replica::hear_callbacks(store.clone(), engine, stop));
            }
            let pushed = webhook::listen(bot.clone(), hook, Arc::clone(&app.engine), replicas).await?;
            Box::pin(dispatcher.try_dispatch_with_listener(pushed, listener_errors))
        }
    };
    let stopper = tokio::spawn(stop_dispatcher(stop_token, shutdown.clone()));
    // A handler stuck in a call Telegram never answers must not hold the stop for the
    // whole request timeout: past the grace period the dispatcher is left behind.
    let give_up = async {
        shutdown.reached(Stage::FinishHandlers).await;
        tokio::time::sleep(shutdown.grace()).await;
    };
    let result = tokio::select! {
        result = dispatch => result,
        () = give_up => {
            tracing::warn!("handlers still busy after the grace period; stopping without them");
            tell_abandoned(&bot, &ctx, &shutdown).await;
            Ok(())
        }
    };
    stopper.abort();
    if !shutdown.is_triggered() {
        // The dispatcher ended on its own (an error): stop everything else the same way.
        shutdown.trigger();
        shutdown.enter(Stage::StopUpdates);
        shutdown.enter(Stage::FinishHandlers);
    }
    // Jobs this process no longer holds are another's to carry on: never cancel them.
    let mut lost = false;
    for hold in holds {
        lost |= hold.is_finished() && hold.await.unwrap_or(false);
    }
    let mode = if lost { ShutdownMode::Keep } else { settings.on_shutdown };
    replica_stop.cancel();
    stop_the_rest(&app, &ctx, &store, mode, &shutdown).await;
    tracing::info!("the bot stopped");
    if lost {
        return Err(BotError::JobsLost);
    }
    result.map_err(BotError::Telegram)
}

/// Stops everything, at once, when `lost` resolves: this process no longer surely holds
/// its jobs (PostgreSQL: its heartbeat lapsed and another replica may take them over, or
/// the connection holding the polling of Telegram was cut). No job is started from then
/// on, running ones are kept for whoever carries them on. Answers whether that happened.
fn watch_hold_of_jobs(
    lost: impl Future<Output = ()> + Send + 'static,
    app: &Application,
    shutdown: &Shutdown,
) -> tokio::task::JoinHandle<bool> {
    let (queue, shutdown) = (app.queue.clone(), shutdown.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = lost => {
                tracing::error!("lost hold of this process's jobs in the database: stopping");
                // Before anything else: the queue stops starting jobs the moment this runs.
                let stopping = queue.clone();
                tokio::spawn(async move { stopping.shutdown(ShutdownMode::Keep).await });
                shutdown.trigger();
                true
            }
            () = shutdown.triggered() => false,
        }
    })
}

/// The preset scenes: the built-in ones and the operator's (`SCENES_DIR`); a file that
/// cannot be used is logged and left out, and a directory that cannot be read leaves the
/// built-in ones.
fn load_scenes(dir: Option<&std::path::Path>) -> SceneCatalog {
    match SceneCatalog::load(dir) {
        Ok((catalog, skipped)) => {
            for skip in skipped {
                tracing::warn!("SCENES_DIR: {skip}");
            }
            catalog
        }
        Err(e) => {
            tracing::warn!("SCENES_DIR: {e}; only the built-in scenes are offered");
            SceneCatalog::built_in()
        }
    }
}

/// Handlers left behind commit nothing from now on: their users are told to send again.
async fn tell_abandoned(bot: &TgBot, ctx: &BotContext, shutdown: &Shutdown) {
    let abandoned = ctx.in_flight.abandon();
    let told = async {
        for (chat, lang) in abandoned {
            ctx.pacer.wait(chat).await;
            if let Err(e) = ctx.store.forget_pictures_in(chat.0).await {
                tracing::debug!(%chat, "forgetting its pictures in hand: {e}");
            }
            if let Err(e) =
                retry::send(bot.send_message(chat, messages::send_again_after_restart(lang))).await
            {
                tracing::warn!(%chat, "could not ask to send again: {e}");
            }
        }
    };
    if tokio::time::timeout(shutdown.grace(), told).await.is_err() {
        tracing::warn!("not every user whose picture was not taken could be told");
    }
}

/// The stages after the updates: store writes, engines, last status words, exit.
async fn stop_the_rest(
    app: &Application,
    ctx: &BotContext,
    store: &Store,
    mode: ShutdownMode,
    shutdown: &Shutdown,
) {
    shutdown.bounded(Stage::DrainStore, app.ledger.flush()).await;
    // Bounded by the queue itself: the grace period, longer only for a create request on
    // its way (never dropped: its task may exist).
    shutdown.enter(Stage::StopEngines);
    app.queue.shutdown(mode).await;
    // Jobs that ended (cancelled on shutdown) get their last word; jobs kept for the next
    // start are no longer followed.
    ctx.tasks.close();
    if shutdown.bounded(Stage::FinishStatus, ctx.tasks.wait()).await.is_none() {
        tracing::warn!("some status messages were not brought up to date before stopping");
    }
    shutdown
        .bounded(Stage::Exit, async {
            app.ledger.flush().await;
            // Another replica takes what is left over at once, not once the heartbeat lapses.
            if let Err(e) = store.leave_replicas().await {
                tracing::warn!("leaving the replicas: {e}");
            }
            store.close().await;
        })
        .await;
}

/// The bot, once Telegram accepted its token: the data directories exist and the command
/// menu is registered.
async fn start_up(settings: &BotSettings, app: &Application) -> Result<TgBot, BotError> {
    let bot = build_bot(settings)?;
    let me = bot.get_me().await.map_err(BotError::Telegram)?;
    let username = me.username.clone().unwrap_or_default();
    tracing::info!(bot = %username, engine = app.engine.name(), api = %settings.api_url, "starting the bot");
    for lane in app.engine.lanes() {
        tracing::info!(lane = %lane.id, label = %lane.label, slots = lane.capacity, "lane");
    }
    for dir in [settings.data_dir.join("jobs"), settings.data_dir.join("incoming")] {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| BotError::DataDir { path: dir.clone(), source })?;
    }
    register_commands(&bot).await;
    Ok(bot)
}

/// Tells the dispatcher to stop once `shutdown` is triggered (retrying while it is still
/// starting up and cannot take the request yet), and waits for its handlers.
async fn stop_dispatcher(token: teloxide::dispatching::ShutdownToken, shutdown: Shutdown) {
    shutdown.triggered().await;
    shutdown.enter(Stage::StopUpdates);
    for _ in 0..600 {
        match token.shutdown() {
            Ok(done) => {
                shutdown.enter(Stage::FinishHandlers);
                done.await;
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    tracing::error!("the dispatcher did not stop");
    shutdown.enter(Stage::FinishHandlers);
}

/// The command menu, in Russian (default) and English.
async fn register_commands(bot: &TgBot) {
    for lang in [Lang::Ru, Lang::En] {
        let commands = [
            BotCommand::new("start", messages::command_start(lang)),
            BotCommand::new("help", messages::command_help(lang)),
            BotCommand::new("cancel", messages::command_cancel(lang)),
            BotCommand::new("settings", messages::command_settings(lang)),
        ];
        let mut request = bot.set_my_commands(commands);
        if let Some(code) = lang.command_scope_code() {
            request = request.language_code(code);
        }
        if let Err(e) = request.await {
            tracing::warn!(?lang, "could not register the command menu: {e}");
        }
    }
}

/// The whole routing: commands first, then pictures by dialogue state, then hints;
/// buttons outside the dialogue (they are checked against the job's owner instead).
pub fn schema() -> UpdateHandler<HandlerError> {
    use dptree::case;
    use handlers::{base, buttons, generation};
    use keyboards::Action;

    let commands = teloxide::filter_command::<Command, _>()
        .branch(case![Command::Start].endpoint(base::start))
        .branch(case![Command::Help].endpoint(base::help))
        .branch(case![Command::Cancel].endpoint(base::cancel))
        .branch(case![Command::Settings].endpoint(base::settings))
        // For anyone not in ADMIN_IDS, /stats falls through to the hint like any text.
        .branch(case![Command::Stats].filter(base::is_admin).endpoint(base::stats));

    let messages = Update::filter_message()
        .filter_async(album::after_albums)
        .chain(tg_dialogue::enter::<Message, DialogueStorage, Step, Result<(), HandlerError>>())
        .branch(commands)
        .branch(dptree::filter(album::is_album_part).endpoint(album::receive_part))
        .branch(
            dptree::filter(generation::has_picture)
                .branch(case![Step::Start].endpoint(generation::receive_product))
                .branch(case![Step::AwaitingBackground { product }].endpoint(generation::receive_background))
                .branch(
                    case![Step::AwaitingBackgroundForMany { products }]
                        .endpoint(generation::receive_background_for_many),
                ),
        )
        .branch(dptree::endpoint(generation::hint));

    let job_buttons = dptree::filter_map_async(buttons::owned_by_presser)
        .branch(case![Action::Cancel(job)].endpoint(buttons::cancel))
        .branch(case![Action::CancelAlbum(lead)].endpoint(buttons::cancel_album))
        .branch(dptree::endpoint(buttons::repeat));
    let buttons = Update::filter_callback_query()
        .branch(
            dptree::filter_map(buttons::action_of)
                .branch(case![Action::NewPhoto].endpoint(buttons::new_photo))
                .branch(case![Action::Format(format)].endpoint(buttons::choose_format))
                .branch(case![Action::Variants(n)].endpoint(buttons::choose_variants))
                .branch(case![Action::Language(choice)].endpoint(buttons::choose_language))
                .branch(case![Action::Scene(index)].endpoint(buttons::choose_scene))
                .branch(case![Action::ScenePreviews].endpoint(buttons::show_scenes))
                .branch(job_buttons)
                .branch(dptree::endpoint(buttons::refuse)),
        )
        .branch(dptree::endpoint(buttons::refuse_unknown));

    // The language every handler answers in, decided once per update.
    dptree::entry().map_async(handlers::lang_of_update).branch(messages).branch(buttons)
}
