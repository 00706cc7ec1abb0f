//! Wiring: from [`Settings`] to a running engine, ledger and queue, shared by the CLI and
//! the bot.

use std::sync::Arc;

use crate::config::{EngineKind, Settings};
use crate::engine::Engine;
use crate::engine::comfyui::{ComfyUiEngine, ComfyUiSettings};
use crate::engine::formatting::Formatting;
use crate::engine::local::LocalEngine;
use crate::engine::runninghub::{RunningHubAccount, RunningHubEngine, RunningHubSettings};
use crate::job::LaneId;
use crate::job::{JobJournal, Ledger};
use crate::output::Looks;
use crate::queue::{JobQueue, QueueConfig};
use crate::runninghub_api::{ClientOptions, RunningHubClient};

/// Why the application could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the ComfyUI engine could not be set up: {0}")]
    ComfyUi(String),
    #[error("the RunningHub client could not be set up: {0}")]
    RunningHub(String),
}

/// The engine the settings ask for.
pub fn build_engine(settings: &Settings) -> Result<Arc<dyn Engine>, BuildError> {
    build_engine_with(settings, &Looks::default())
}

/// [`build_engine`], each job's result in the format (and seed) `looks` says: the
/// built-in engine applies formats itself, a provider's results go through [`Formatting`].
pub fn build_engine_with(settings: &Settings, looks: &Looks) -> Result<Arc<dyn Engine>, BuildError> {
    let provider: Arc<dyn Engine> = match settings.engine {
        EngineKind::Local => {
            crate::engine::local::warm_up(settings.local_segmenter);
            return Ok(Arc::new(LocalEngine {
                segmenter: settings.local_segmenter,
                looks: looks.clone(),
                workers: settings.local_workers,
            }));
        }
        EngineKind::Runninghub => Arc::new(runninghub_engine(settings)?.with_looks(looks.clone())),
        EngineKind::Comfyui => Arc::new(comfyui_engine(settings)?),
    };
    Ok(Arc::new(Formatting::new(provider, looks.clone())))
}

/// The RunningHub engine over every configured account.
pub fn runninghub_engine(settings: &Settings) -> Result<RunningHubEngine, BuildError> {
    let rh = &settings.runninghub;
    let client = RunningHubClient::new(&rh.api_url, ClientOptions::default())
        .map_err(|e| BuildError::RunningHub(e.to_string()))?
        .with_mode(rh.api_mode);
    let accounts = rh
        .accounts
        .iter()
        .map(|a| RunningHubAccount {
            lane: LaneId(a.number),
            api_key: a.api_key.clone(),
            max_jobs: a.max_jobs,
            workflow_id: a.workflow_id.clone(),
            app_id: a.app_id.clone(),
        })
        .collect();
    let engine_settings = RunningHubSettings {
        product_node: rh.product_node.clone(),
        background_node: rh.background_node.clone(),
        poll_interval: rh.poll_interval,
        webhook_url: settings.webhook.as_ref().map(|hook| hook.runninghub_url()),
        seed_node: rh.seed_node.clone(),
        ..RunningHubSettings::default()
    };
    Ok(RunningHubEngine::new(client, accounts, engine_settings))
}

/// The ComfyUI engine on the configured server and workflow (read once, at start-up).
pub fn comfyui_engine(settings: &Settings) -> Result<ComfyUiEngine, BuildError> {
    let c = &settings.comfyui;
    let (Some(url), Some(path)) = (&c.url, &c.workflow) else {
        return Err(BuildError::ComfyUi("COMFYUI_URL and COMFYUI_WORKFLOW must be set".into()));
    };
    let workflow = ComfyUiEngine::load_workflow(path)
        .map_err(|e| BuildError::ComfyUi(format!("COMFYUI_WORKFLOW {}: {e}", path.display())))?;
    ComfyUiEngine::new(ComfyUiSettings {
        url: url.clone(),
        workflow,
        product_node: c.product_node.clone(),
        background_node: c.background_node.clone(),
        poll_interval: c.poll_interval,
        max_jobs: c.max_jobs,
    })
    .map_err(|e| BuildError::ComfyUi(e.to_string()))
}

/// The engine, the ledger that owns every job's state (journalled to `journal`), and the
/// queue that drives the engine.
pub struct Application {
    pub settings: Settings,
    pub engine: Arc<dyn Engine>,
    pub ledger: Ledger,
    pub queue: JobQueue,
    /// How each job's result is to come out (format, variant, seed): set it before
    /// submitting a job; a job without one gets the scene's frame.
    pub looks: Looks,
}

impl Application {
    /// Builds the engine and starts the ledger's writer and the queue on the current runtime.
    pub fn build(settings: Settings, journal: Arc<dyn JobJournal>) -> Result<Self, BuildError> {
        let looks = Looks::default();
        let engine = build_engine_with(&settings, &looks)?;
        let config = QueueConfig {
            deadline: settings.runninghub.task_timeout,
            grace: settings.shutdown_grace,
            max_attempts: settings.max_attempts,
        };
        let ledger = Ledger::start(journal);
        let queue = JobQueue::start(Arc::clone(&engine), ledger.clone(), config);
        Ok(Self { settings, engine, ledger, queue, looks })
    }
}
