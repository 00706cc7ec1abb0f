//! The ComfyUI engine: runs a job as a prompt of the operator's workflow on a self-hosted
//! ComfyUI server.
//!
//! The server is one lane whose capacity is `COMFYUI_MAX_JOBS`: ComfyUI executes one prompt
//! at a time and queues the rest, so more than a few slots only moves our queue onto the
//! server's. A run uploads both images, queues a copy of the workflow with the two
//! LoadImage nodes pointing at them, reports the prompt id (so a restart polls it instead
//! of queueing another), polls history and queue, frees the slot and downloads the image.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, field, info, info_span, warn};

use super::{Engine, EngineError, LaneSpec, RunContext};
use crate::comfyui_api::{
    ClientOptions, ComfyError, ComfyUiClient, ImageRef, PromptOutcome, PromptState, workflow,
};
use crate::input_image::{ImageLimits, InputImage};
use crate::job::{FailReason, JobOutput, LaneId, RemoteTaskId};

/// The only lane: one server.
pub const COMFYUI_LANE: LaneId = LaneId(1);
/// Consecutive failed polls after which the server counts as unavailable.
const MAX_POLL_ERRORS: u32 = 10;
/// Bound of the best-effort remote cancel when a run is cancelled or abandoned.
const CANCEL_BOUND: Duration = Duration::from_secs(5);
/// Larger results are refused.
const MAX_RESULT_BYTES: usize = 100 * 1024 * 1024;

/// How the ComfyUI engine is configured (`COMFYUI_*` and the shared node variables).
#[derive(Clone, Debug)]
pub struct ComfyUiSettings {
    /// Base URL of the server (`COMFYUI_URL`), e.g. `http://127.0.0.1:8188`.
    pub url: reqwest::Url,
    /// The API-format workflow (`COMFYUI_WORKFLOW`, read by [`ComfyUiEngine::load_workflow`]).
    pub workflow: Value,
    /// LoadImage node of the product (`WORKFLOW_NODE_PRODUCT_PRODUCT_IMAGE`).
    pub product_node: String,
    /// LoadImage node of the background (`WORKFLOW_NODE_PRODUCT_BACKGROUND_IMAGE`).
    pub background_node: String,
    /// Delay between polls; the first comes one interval after queueing.
    pub poll_interval: Duration,
    /// Jobs sent to the server at once (`COMFYUI_MAX_JOBS`).
    pub max_jobs: usize,
}

/// Runs jobs on one ComfyUI server.
pub struct ComfyUiEngine {
    client: ComfyUiClient,
    settings: ComfyUiSettings,
}

impl ComfyUiEngine {
    /// An engine with the default timeouts and retries; checks the URL, the capacity and
    /// that both configured nodes are image loaders of the workflow.
    pub fn new(settings: ComfyUiSettings) -> Result<Self, ComfyError> {
        Self::with_options(settings, ClientOptions::default())
    }

    /// [`ComfyUiEngine::new`] with explicit client timeouts and retries (tests, tuning).
    pub fn with_options(settings: ComfyUiSettings, options: ClientOptions) -> Result<Self, ComfyError> {
        if settings.max_jobs == 0 {
            return Err(ComfyError::Config("COMFYUI_MAX_JOBS must be at least 1".into()));
        }
        if settings.product_node == settings.background_node {
            return Err(ComfyError::Config(format!(
                "the product and background nodes are both {}",
                settings.product_node
            )));
        }
        workflow::check_api_format(&settings.workflow)?;
        workflow::check_image_node(&settings.workflow, &settings.product_node, "product")?;
        workflow::check_image_node(&settings.workflow, &settings.background_node, "background")?;
        let client = ComfyUiClient::new(&settings.url, options)?;
        Ok(Self { client, settings })
    }

    /// Reads a workflow file and checks that it is API format with two LoadImage nodes.
    /// Blocking: meant for start-up.
    pub fn load_workflow(path: &Path) -> Result<Value, ComfyError> {
        workflow::load(path)
    }

    /// The client, for start-up checks.
    pub fn client(&self) -> &ComfyUiClient {
        &self.client
    }

    async fn run_job(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        if ctx.lane != COMFYUI_LANE {
            return Err(FailReason::Internal(format!("lane {} is not the ComfyUI server", ctx.lane)).into());
        }
        let (prompt, first_poll) = match ctx.resume.clone() {
            // After a restart: the prompt exists, look at it at once.
            Some(prompt) => {
                info!(%prompt, "resuming the prompt");
                (prompt, Instant::now())
            }
            None => {
                let prompt = self.submit(&ctx).await?;
                let queued_at = Instant::now();
                ctx.task_created(prompt.clone()).await;
                (prompt, queued_at + self.settings.poll_interval)
            }
        };
        tracing::Span::current().record("prompt", field::display(&prompt));
        let images = self.wait(&ctx, &prompt, first_poll).await?;
        // The server is done with the prompt: the lane's slot is free again.
        ctx.provider_finished();
        tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => Err(EngineError::Cancelled),
            result = self.fetch(&images) => result.map_err(EngineError::from),
        }
    }

    /// Uploads both images and queues the prompt. Nothing runs on the server before the
    /// prompt is queued, so cancel and suspend are honoured up to that call.
    async fn submit(&self, ctx: &RunContext) -> Result<RemoteTaskId, EngineError> {
        let (product, background) = tokio::try_join!(ctx.input.product.load(), ctx.input.background.load())?;
        // Unique names: `overwrite=true` must never replace another job's input.
        let tag = format!("backdrop-{}-{:08x}", ctx.job, rand::rng().random::<u32>());
        let (product_stem, background_stem) = (format!("{tag}-product"), format!("{tag}-background"));
        let uploads = async {
            tokio::try_join!(self.upload(&product, &product_stem), self.upload(&background, &background_stem))
        };
        let (product_file, background_file) = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
            _ = ctx.suspend.cancelled() => return Err(EngineError::Suspended),
            uploaded = uploads => uploaded?,
        };
        if ctx.cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        if ctx.suspend.is_cancelled() {
            return Err(EngineError::Suspended);
        }
        let prompt = workflow::with_images(
            &self.settings.workflow,
            &self.settings.product_node,
            &product_file,
            &self.settings.background_node,
            &background_file,
        )
        .map_err(|e| FailReason::Internal(e.to_string()))?;
        // Not raced with `cancel`: dropping the request halfway could leave a queued
        // prompt we never learn about. The poll loop cancels it right after if needed.
        if !ctx.creating().await {
            return Err(if ctx.suspend.is_cancelled() {
                EngineError::Suspended
            } else {
                EngineError::Cancelled
            });
        }
        let id = self.client.queue_prompt(&prompt, &tag).await.map_err(|e| submit_error(e, "queue"))?;
        info!(prompt = %id, "prompt queued");
        Ok(id)
    }

    /// Uploads one image; returns the value for a LoadImage node.
    async fn upload(&self, image: &InputImage, stem: &str) -> Result<String, EngineError> {
        let name = format!("{stem}.{}", image.extension());
        let uploaded = self
            .client
            .upload_image(image.bytes().clone(), &name)
            .await
            .map_err(|e| submit_error(e, "upload"))?;
        Ok(uploaded.load_image_value())
    }

    /// Polls until the prompt ends; returns its images or why it failed.
    async fn wait(
        &self,
        ctx: &RunContext,
        prompt: &RemoteTaskId,
        first_poll: Instant,
    ) -> Result<Vec<ImageRef>, EngineError> {
        // `Delay` keeps the spacing after a slow poll instead of a burst to catch up.
        let mut ticker =
            tokio::time::interval_at(first_poll, self.settings.poll_interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut errors = 0u32;
        let mut last: Option<PromptState> = None;
        loop {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(self.cancel_remote(prompt, "cancelled").await),
                // Shutting down with work kept: a restart resumes this prompt.
                _ = ctx.suspend.cancelled() => return Err(EngineError::Suspended),
                _ = ticker.tick() => {}
            }
            let polled = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(self.cancel_remote(prompt, "cancelled").await),
                _ = ctx.suspend.cancelled() => return Err(EngineError::Suspended),
                polled = self.client.state(prompt) => polled,
            };
            let state = match polled {
                Ok(state) => {
                    errors = 0;
                    state
                }
                Err(e) => {
                    errors += 1;
                    warn!(errors, error = %e, "polling the prompt failed");
                    if errors >= MAX_POLL_ERRORS {
                        self.cancel_remote(prompt, "abandoned").await;
                        return Err(FailReason::Unavailable(format!(
                            "{errors} polls of ComfyUI in a row failed, last: {e}"
                        ))
                        .into());
                    }
                    continue;
                }
            };
            match state {
                PromptState::Pending | PromptState::Running => {
                    if last.as_ref() != Some(&state) {
                        info!(state = ?state, "prompt progress");
                        last = Some(state);
                    }
                }
                PromptState::Finished(PromptOutcome::Succeeded(images)) => return Ok(images),
                PromptState::Finished(PromptOutcome::Failed(reason)) => {
                    info!(%reason, "the prompt failed on the server");
                    return Err(FailReason::Provider(reason).into());
                }
                PromptState::Finished(PromptOutcome::Interrupted) => {
                    return Err(
                        FailReason::Provider("the prompt was interrupted on the server".into()).into()
                    );
                }
                PromptState::Finished(PromptOutcome::NoOutput) => return Err(FailReason::NoOutput.into()),
                PromptState::Unknown => {
                    return Err(FailReason::Provider(
                        "the prompt vanished from the server (deleted, or the server restarted)".into(),
                    )
                    .into());
                }
            }
        }
    }

    /// Best-effort remote cancel, bounded; the run ends either way.
    async fn cancel_remote(&self, prompt: &RemoteTaskId, why: &str) -> EngineError {
        match tokio::time::timeout(CANCEL_BOUND, self.client.cancel(prompt)).await {
            Ok(Ok(outcome)) => info!(why, ?outcome, "prompt cancelled on the server"),
            Ok(Err(e)) => warn!(why, error = %e, "could not cancel the prompt"),
            Err(_) => warn!(why, "cancelling the prompt timed out"),
        }
        EngineError::Cancelled
    }

    /// Downloads the first output image and checks that it is one.
    async fn fetch(&self, images: &[ImageRef]) -> Result<JobOutput, FailReason> {
        let image = images.first().ok_or(FailReason::NoOutput)?;
        let bytes = self.client.download(image, MAX_RESULT_BYTES).await.map_err(|e| match e {
            ComfyError::TooLarge { limit } => {
                FailReason::Provider(format!("the result is larger than {limit} bytes"))
            }
            other => FailReason::Unavailable(format!("downloading the result: {other}")),
        })?;
        // Reads only the header: cheap enough for the runtime.
        let limits = ImageLimits { max_bytes: MAX_RESULT_BYTES, max_pixels: 400_000_000, max_side: 30_000 };
        let image = InputImage::parse(bytes, &limits)
            .map_err(|e| FailReason::Provider(format!("the result is not a usable image: {e}")))?;
        info!(bytes = image.bytes().len(), dimensions = ?image.dimensions(), "result downloaded");
        Ok(JobOutput { image: image.bytes().clone(), extension: image.extension() })
    }
}

#[async_trait]
impl Engine for ComfyUiEngine {
    fn name(&self) -> &'static str {
        "comfyui"
    }

    fn shared_limits(&self) -> bool {
        true
    }

    fn lanes(&self) -> Vec<LaneSpec> {
        vec![LaneSpec {
            id: COMFYUI_LANE,
            label: "ComfyUI".into(),
            capacity: self.settings.max_jobs,
            upload_ahead: 0,
        }]
    }

    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        let span = info_span!("comfyui", job = %ctx.job, lane = %ctx.lane, prompt = field::Empty);
        self.run_job(ctx).instrument(span).await
    }
}

/// What an error before the prompt is queued means for the job.
fn submit_error(e: ComfyError, step: &str) -> EngineError {
    match e {
        ComfyError::Rejected(reason) => {
            FailReason::Provider(format!("the workflow was refused: {reason}")).into()
        }
        ComfyError::Http { status: 413 } => {
            FailReason::BadInput("the image is too large for the ComfyUI server".into()).into()
        }
        e if e.is_transient() => FailReason::Unavailable(format!("{step}: {e}")).into(),
        ComfyError::Http { status } => {
            FailReason::Provider(format!("{step}: ComfyUI answered HTTP {status}")).into()
        }
        other => FailReason::Internal(format!("{step}: {other}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> ComfyUiSettings {
        ComfyUiSettings {
            url: reqwest::Url::parse("http://127.0.0.1:8188").unwrap(),
            workflow: json!({
                "2": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
                "32": {"class_type": "LoadImage", "inputs": {"image": "b.png"}},
                "9": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}
            }),
            product_node: "2".into(),
            background_node: "32".into(),
            poll_interval: Duration::from_secs(1),
            max_jobs: 2,
        }
    }

    #[test]
    fn one_lane_with_the_configured_capacity() {
        let engine = ComfyUiEngine::new(settings()).unwrap();
        let lanes = engine.lanes();
        assert_eq!(lanes.len(), 1);
        assert_eq!(lanes[0].id, LaneId(1));
        assert_eq!(lanes[0].label, "ComfyUI");
        assert_eq!(lanes[0].capacity, 2);
        assert_eq!(engine.name(), "comfyui");
    }

    #[test]
    fn bad_settings_are_refused() {
        let zero = ComfyUiSettings { max_jobs: 0, ..settings() };
        assert!(matches!(ComfyUiEngine::new(zero), Err(ComfyError::Config(_))));
        let wrong_node = ComfyUiSettings { background_node: "9".into(), ..settings() };
        assert!(matches!(ComfyUiEngine::new(wrong_node), Err(ComfyError::Workflow(_))));
        let same = ComfyUiSettings { background_node: "2".into(), ..settings() };
        assert!(ComfyUiEngine::new(same).is_err());
        let url = ComfyUiSettings { url: reqwest::Url::parse("localhost:8188").unwrap(), ..settings() };
        assert!(ComfyUiEngine::new(url).is_err());
    }

    #[test]
    fn submit_errors_map_to_reasons() {
        let reason = |e| match submit_error(e, "queue") {
            EngineError::Failed(r) => r,
            other => panic!("{other:?}"),
        };
        assert!(
            matches!(reason(ComfyError::Rejected("node 2".into())), FailReason::Provider(r) if r.contains("node 2"))
        );
        assert!(matches!(reason(ComfyError::Transport("refused".into())), FailReason::Unavailable(_)));
        assert!(matches!(reason(ComfyError::Http { status: 502 }), FailReason::Unavailable(_)));
        assert!(matches!(reason(ComfyError::Http { status: 413 }), FailReason::BadInput(_)));
        assert!(matches!(reason(ComfyError::Http { status: 404 }), FailReason::Provider(_)));
    }
}
