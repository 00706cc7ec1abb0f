//! `LocalEngine`: the built-in engine as one lane of the queue (the local CPU, one job at a time).

use async_trait::async_trait;

use super::{Segmenter, Stop, encode, render};
use crate::engine::{Engine, EngineError, LaneSpec, RunContext};
use crate::job::{FailReason, JobOutput, LaneId};
use crate::output::Looks;

/// Runs jobs on this machine's CPU: `workers` jobs at a time (rayon parallelises inside
/// each; a second job keeps the cores busy through a job's single-threaded stages).
///
/// Results are JPEG at quality [`super::JPEG_QUALITY`]: the output is a photograph, and a 12 MP
/// PNG would be 15-25 MB where the JPEG is 2-4 MB and indistinguishable. Each job comes
/// out in the format and variant its [`Looks`] entry says (the scene's frame by default).
#[derive(Debug, Default)]
pub struct LocalEngine {
    /// How products are found (`LOCAL_SEGMENTER`).
    pub segmenter: Segmenter,
    /// The wanted look of each job, set by whoever submits it.
    pub looks: Looks,
    /// Jobs run at once (`LOCAL_WORKERS`; at least 1).
    pub workers: usize,
}

#[async_trait]
impl Engine for LocalEngine {
    fn name(&self) -> &'static str {
        "local"
    }

    fn lanes(&self) -> Vec<LaneSpec> {
        vec![LaneSpec {
            id: LaneId(1),
            label: "local CPU".into(),
            capacity: self.workers.max(1),
            upload_ahead: 0,
        }]
    }

    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        let load = async {
            let product = ctx.input.product.load().await?;
            let background = ctx.input.background.load().await?;
            Ok::<_, FailReason>((product, background))
        };
        let (product, background) = tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
            loaded = load => loaded?,
        };
        ctx.working();
        let stop = Stop::default();
        let segmenter = self.segmenter;
        let look = self.looks.get(ctx.job);
        let work = tokio::task::spawn_blocking({
            let stop = stop.clone();
            move || {
                let image = render(&product, &background, segmenter, look, &stop)?;
                encode(&image::DynamicImage::ImageRgb8(image), "jpg")
            }
        });
        // On cancel the blocking work is told to stop and ends at its next stage.
        let result = tokio::select! {
            _ = ctx.cancel.cancelled() => {
                stop.stop();
                return Err(EngineError::Cancelled);
            }
            done = work => done,
        };
        match result {
            Ok(Ok((bytes, extension))) => Ok(JobOutput { image: bytes, extension }),
            Ok(Err(e)) => Err(EngineError::Failed(e.into())),
            Err(join) => {
                Err(EngineError::Failed(FailReason::Internal(format!("the image task failed: {join}"))))
            }
        }
    }
}
