//! Wiring: from [`Settings`] to a running engine and queue, shared by the CLI and the bot.

use std::sync::Arc;

use crate::config::{EngineKind, Settings};
use crate::engine::local::LocalEngine;
use crate::engine::runninghub::{RunningHubAccount, RunningHubEngine, RunningHubSettings};
use crate::engine::{Engine, LaneId};
use crate::runninghub::{ClientOptions, RunningHubClient};
use crate::queue::{JobJournal, JobQueue, QueueConfig};

/// Why the application could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the {0} engine is not available in this build")]
    EngineUnavailable(&'static str),
    #[error("the RunningHub client could not be set up: {0}")]
    RunningHub(String),
}

/// The engine the settings ask for.
pub fn build_engine(settings: &Settings) -> Result<Arc<dyn Engine>, BuildError> {
    match settings.engine {
        EngineKind::Local => Ok(Arc::new(LocalEngine::default())),
        EngineKind::Runninghub => Ok(Arc::new(runninghub_engine(settings)?)),
        EngineKind::Comfyui => Err(BuildError::EngineUnavailable("comfyui")),
    }
}

/// The RunningHub engine over every configured account.
pub fn runninghub_engine(settings: &Settings) -> Result<RunningHubEngine, BuildError> {
    let rh = &settings.runninghub;
    let client = RunningHubClient::new(&rh.api_url, ClientOptions::default())
        .map_err(|e| BuildError::RunningHub(e.to_string()))?;
    let accounts = rh
        .accounts
        .iter()
        .map(|a| RunningHubAccount {
            lane: LaneId(a.number),
            api_key: a.api_key.clone(),
            max_jobs: a.max_jobs,
            workflow_id: a.workflow_id.clone(),
        })
        .collect();
    let engine_settings = RunningHubSettings {
        product_node: rh.product_node.clone(),
        background_node: rh.background_node.clone(),
        poll_interval: rh.poll_interval,
        ..RunningHubSettings::default()
    };
    Ok(RunningHubEngine::new(client, accounts, engine_settings))
}

/// The engine and the queue that drives it.
pub struct Application {
    pub settings: Settings,
    pub engine: Arc<dyn Engine>,
    pub queue: JobQueue,
}

impl Application {
    /// Builds the engine and starts the queue on the current runtime.
    pub fn build(settings: Settings, journal: Arc<dyn JobJournal>) -> Result<Self, BuildError> {
        let engine = build_engine(&settings)?;
        let config = QueueConfig {
            deadline: settings.runninghub.task_timeout,
            ..QueueConfig::default()
        };
        let queue = JobQueue::start(Arc::clone(&engine), journal, config);
        Ok(Self {
            settings,
            engine,
            queue,
        })
    }
}
