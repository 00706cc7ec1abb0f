//! Seller formats applied to a finished result, whatever engine made it.
//!
//! A provider (RunningHub, ComfyUI) returns the scene's frame. [`apply_format`] brings
//! such a result to a format: reframed around its product (found by the built-in
//! segmenter) for the marketplace cards, or the product cut out of it and put on pure
//! white for Amazon. [`Formatting`] wraps a provider's engine so each job's result comes
//! out in the format its [`Looks`] entry asks for. The built-in engine does not need it:
//! it applies formats inside its own pipeline, before placing the product.

use std::sync::Arc;

use async_trait::async_trait;

use super::local::{LocalError, Segmenter, cutout_with};
use super::{Engine, EngineError, LaneSpec, RunContext};
use crate::input_image::{ImageLimits, InputImage, InputImageError};
use crate::job::{FailReason, JobId, JobOutput, RemoteTaskId};
use crate::output::reframe::{self, Rect, alpha_box};
use crate::output::white::{WhiteStaging, on_white};
use crate::output::{Look, Looks, OutputFormat, jpeg};

/// Why a result could not be brought to its format.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("the result is not a readable image: {0}")]
    Unreadable(#[from] InputImageError),
    /// Amazon needs the product alone, and it could not be cut out of the result.
    #[error("the product could not be cut out of the result: {0}")]
    Cut(#[from] LocalError),
    #[error("cannot encode the formatted result: {0}")]
    Encode(String),
}

impl From<FormatError> for FailReason {
    fn from(e: FormatError) -> Self {
        FailReason::Internal(e.to_string())
    }
}

/// Results come from our own provider; they may be as large as a camera's files.
const RESULT_LIMITS: ImageLimits =
    ImageLimits { max_bytes: 100 * 1024 * 1024, max_pixels: 100_000_000, max_side: 20_000 };

/// `result` in `look`'s format (and variant, for the white staging): unchanged for
/// [`OutputFormat::Original`], otherwise an sRGB JPEG of the format's frame. Blocking and
/// CPU-heavy (it runs the segmenter): call it from a blocking thread.
pub fn apply_format(result: &JobOutput, look: Look) -> Result<JobOutput, FormatError> {
    let Some(frame) = look.format.frame() else {
        return Ok(result.clone());
    };
    let input = InputImage::parse(result.image.to_vec(), &RESULT_LIMITS)?;
    // The provider's result is a product in a scene: only the learned segmenter finds it.
    let cut = cutout_with(&input, Segmenter::Learned);
    let image = if look.format == OutputFormat::Amazon {
        on_white(&cut?, frame.0, WhiteStaging::of_variant(look.variant)).ok_or(LocalError::NoProduct)?
    } else {
        let rgb = input.decode()?.into_rgb8();
        let whole = Rect { x: 0, y: 0, w: rgb.width(), h: rgb.height() };
        // No product found: the whole picture is kept (extended, never cut).
        let content = cut.ok().and_then(|c| alpha_box(&c, 128)).unwrap_or(whole);
        reframe::around(&rgb, content, frame)
    };
    let bytes = jpeg::encode(&image).map_err(|e| FormatError::Encode(e.to_string()))?;
    Ok(JobOutput { image: bytes, extension: "jpg" })
}

/// A provider's engine whose results come out in each job's format.
pub struct Formatting {
    inner: Arc<dyn Engine>,
    looks: Looks,
}

impl Formatting {
    pub fn new(inner: Arc<dyn Engine>, looks: Looks) -> Self {
        Self { inner, looks }
    }
}

#[async_trait]
impl Engine for Formatting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn lanes(&self) -> Vec<LaneSpec> {
        self.inner.lanes()
    }

    fn shared_limits(&self) -> bool {
        self.inner.shared_limits()
    }

    async fn run(&self, ctx: RunContext) -> Result<JobOutput, EngineError> {
        let look = self.looks.get(ctx.job);
        let cancel = ctx.cancel.clone();
        let output = self.inner.run(ctx).await?;
        if look.format == OutputFormat::Original {
            return Ok(output);
        }
        // The provider's slot is already free: this is our CPU's work.
        let work = tokio::task::spawn_blocking(move || apply_format(&output, look));
        tokio::select! {
            _ = cancel.cancelled() => Err(EngineError::Cancelled),
            done = work => match done {
                Ok(formatted) => formatted.map_err(|e| EngineError::Failed(e.into())),
                Err(join) => Err(FailReason::Internal(format!("the format task failed: {join}")).into()),
            },
        }
    }

    fn hint_task_ended(&self, task: &RemoteTaskId, job: Option<JobId>) {
        self.inner.hint_task_ended(task, job);
    }
}
