//! Wiring: from [`Settings`] to a running engine and queue, shared by the CLI and the bot.

use std::sync::Arc;

use crate::config::{EngineKind, Settings};
use crate::engine::Engine;
use crate::engine::local::LocalEngine;
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
        EngineKind::Runninghub => Err(BuildError::EngineUnavailable("runninghub")),
        EngineKind::Comfyui => Err(BuildError::EngineUnavailable("comfyui")),
    }
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
