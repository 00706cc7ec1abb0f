//! A seller's request run to its files: one product, one background, a format and a
//! number of variants, as that many jobs through the [`Application`]'s queue (so the
//! variants spread over free slots like any jobs), each result written to its own file.
//!
//! `backdrop generate` runs one request; `backdrop batch` one per file of a folder.

use std::path::{Path, PathBuf};

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::engine::local;
use crate::engine::runninghub::random_seed;
use crate::input_image::InputImage;
use crate::job::{FailReason, ImageSource, JobEvent, JobInput, JobOutput, JobState};
use crate::output::{Look, OutputFormat, Variant, VariantCount};

/// What to make.
#[derive(Clone, Debug)]
pub struct Request {
    pub product: InputImage,
    pub background: InputImage,
    pub format: OutputFormat,
}

/// Why one variant of a request has no file.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("generation failed: {0}")]
    Failed(FailReason),
    #[error("cancelled")]
    Cancelled,
    #[error("the queue refused the job: {0}")]
    Refused(String),
    #[error("the queue stopped before the job ended")]
    QueueStopped,
    #[error("cannot convert the result for {}: {reason}", path.display())]
    Convert { path: PathBuf, reason: String },
    #[error("writing {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// An output path whose extension cannot be written (for the format asked).
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedOutput {
    #[error("{}: the output must end in .png, .jpg or .webp", .0.display())]
    Extension(PathBuf),
    #[error("{}: Amazon does not accept WebP; write a .jpg", .0.display())]
    WebpForAmazon(PathBuf),
}

/// Checks `out` for `format` before any work starts; returns its canonical extension.
pub fn check_output(out: &Path, format: OutputFormat) -> Result<&'static str, UnsupportedOutput> {
    let ext = output_extension(out)?;
    if format == OutputFormat::Amazon && ext == "webp" {
        return Err(UnsupportedOutput::WebpForAmazon(out.to_owned()));
    }
    Ok(ext)
}

/// The canonical extension of an output path (`png`, `jpg`, `webp`): checked before any
/// work starts.
pub fn output_extension(out: &Path) -> Result<&'static str, UnsupportedOutput> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "png" => Ok("png"),
        "jpg" | "jpeg" => Ok("jpg"),
        "webp" => Ok("webp"),
        _ => Err(UnsupportedOutput::Extension(out.to_owned())),
    }
}

/// Where each variant goes: `out` itself for one, `stem-1.ext` ... `stem-N.ext` for more.
pub fn variant_paths(out: &Path, variants: VariantCount) -> Vec<(Variant, PathBuf)> {
    if variants.get() == 1 {
        return vec![(Variant(0), out.to_owned())];
    }
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = out.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    variants.variants().map(|v| (v, out.with_file_name(format!("{stem}-{}{ext}", v.0 + 1)))).collect()
}

/// Runs `request` as one job per `(variant, path)` at once and writes each result to its
/// path. `on_state` hears every state each job passes through (for progress lines);
/// `cancel` cancels every job still running. One answer per variant, in order.
pub async fn run(
    app: &Application,
    request: &Request,
    outputs: &[(Variant, PathBuf)],
    cancel: &CancellationToken,
    on_state: &(dyn Fn(Variant, &JobState) + Sync),
) -> Vec<Result<(), RequestError>> {
    // Seeds differ between variants of one request by construction, and between requests
    // by chance.
    let base_seed = random_seed();
    let input = JobInput {
        product: ImageSource::Memory(request.product.clone()),
        background: ImageSource::Memory(request.background.clone()),
    };
    let jobs = outputs.iter().map(|(variant, path)| {
        let input = input.clone();
        async move {
            let id = app.queue.next_id();
            let seed = base_seed.wrapping_add(u64::from(variant.0) * 7_919);
            app.looks.set(id, Look { format: request.format, variant: *variant, seed: Some(seed) });
            let answer = async {
                let mut rx = app.queue.submit(id, input).map_err(|e| RequestError::Refused(e.to_string()))?;
                let state = loop {
                    let state = rx.borrow_and_update().clone();
                    on_state(*variant, &state);
                    if state.is_terminal() || matches!(state, JobState::Delivering(_)) {
                        break state;
                    }
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { return Err(RequestError::QueueStopped) },
                        _ = cancel.cancelled() => { app.queue.cancel(id); }
                    }
                };
                match state {
                    JobState::Delivering(output) => {
                        write_result(path, JobOutput::clone(&output)).await?;
                        // Written: the job is done (nothing is journalled for the CLI).
                        let _ = app.ledger.apply(id, JobEvent::Delivered);
                        Ok(())
                    }
                    JobState::Failed(reason) => Err(RequestError::Failed(reason)),
                    _ => Err(RequestError::Cancelled),
                }
            }
            .await;
            app.looks.forget(id);
            answer
        }
    });
    join_all(jobs).await
}

/// Writes `output` to `path` in the format its extension asks for, through a temporary
/// file renamed into place: a file at `path` is always a whole result (a batch resumes by
/// skipping existing outputs).
pub async fn write_result(path: &Path, output: JobOutput) -> Result<(), RequestError> {
    let wanted = output_extension(path)
        .map_err(|e| RequestError::Convert { path: path.to_owned(), reason: e.to_string() })?;
    let bytes = if wanted == output.extension {
        output.image
    } else {
        let converted = tokio::task::spawn_blocking(move || {
            let image = image::load_from_memory(&output.image).map_err(|e| e.to_string())?;
            local::encode(&image, wanted).map(|(bytes, _)| bytes).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        converted.map_err(|reason| RequestError::Convert { path: path.to_owned(), reason })?
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.part"));
    let write_error =
        |e: std::io::Error| RequestError::Write { path: path.to_owned(), reason: e.to_string() };
    tokio::fs::write(&partial, &bytes).await.map_err(write_error)?;
    tokio::fs::rename(&partial, path).await.map_err(write_error)
}
