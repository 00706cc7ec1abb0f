//! The built-in engine: no network, no account. (Stub: replaced by the local-engine work.)

use async_trait::async_trait;

use super::{Engine, EngineError, LaneId, LaneSpec, RunContext};
use crate::job::{FailReason, JobOutput};

/// Runs jobs on this machine's CPU.
#[derive(Debug, Default)]
pub struct LocalEngine;

#[async_trait]
impl Engine for LocalEngine {
    fn name(&self) -> &'static str {
        "local"
    }

    fn lanes(&self) -> Vec<LaneSpec> {
        vec![LaneSpec {
            id: LaneId(1),
            label: "local CPU".into(),
            capacity: 1,
        }]
    }

    async fn run(&self, _ctx: RunContext) -> Result<JobOutput, EngineError> {
        Err(FailReason::Internal("the built-in engine is not built yet".into()).into())
    }
}
