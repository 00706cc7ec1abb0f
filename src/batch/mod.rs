//! `backdrop batch`: every image of a folder through the same queue as `generate`.
//!
//! A shop has hundreds of photos. The folder is listed (names only) and its files are read
//! one at a time as slots free up (at most `jobs` in flight, so memory does not grow with
//! the folder); each becomes a [`Request`](crate::requests::Request). A file whose outputs
//! all exist is skipped unless forced (so an interrupted batch resumes); a file that is not
//! a usable image is reported and the others go on. Every outcome is a line of
//! `report.csv` ([`report`]) and a step of the progress ([`progress`]).

pub mod progress;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::input_image::{ImageLimits, InputImage};
use crate::output::{OutputFormat, VariantCount};
use crate::requests::{self, Request};

pub use progress::ProgressStyle;
pub use report::{Outcome, Status};

/// What a batch is asked to do.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    pub input_dir: PathBuf,
    pub out_dir: PathBuf,
    pub background: InputImage,
    pub format: OutputFormat,
    pub variants: VariantCount,
    /// Files in flight at once (each is `variants` jobs in the queue).
    pub jobs: usize,
    /// Redo files whose outputs exist.
    pub force: bool,
    /// Input limits (the CLI's).
    pub limits: ImageLimits,
}

/// What a batch did.
#[derive(Clone, Debug, Default)]
pub struct BatchSummary {
    pub done: usize,
    pub skipped: usize,
    pub unsupported: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub report: PathBuf,
}

/// Why a batch could not start (or keep its report).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("reading the folder {}: {reason}", dir.display())]
    InputDir { dir: PathBuf, reason: String },
    #[error("creating the output folder {}: {reason}", dir.display())]
    OutputDir { dir: PathBuf, reason: String },
    #[error("writing the report {}: {reason}", path.display())]
    Report { path: PathBuf, reason: String },
}

/// File extensions taken as pictures; anything else in the folder is reported as
/// unsupported and left alone.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// Runs the batch to its end (or until `cancel`), writing `OUT_DIR/report.csv`.
pub async fn run(
    app: &Application,
    plan: &BatchPlan,
    style: ProgressStyle,
    cancel: &CancellationToken,
) -> Result<BatchSummary, BatchError> {
    let started = Instant::now();
    let files = list(&plan.input_dir)?;
    std::fs::create_dir_all(&plan.out_dir)
        .map_err(|e| BatchError::OutputDir { dir: plan.out_dir.clone(), reason: e.to_string() })?;
    let report_path = plan.out_dir.join("report.csv");
    let mut report = report::Report::create(&report_path)?;
    let progress = progress::Progress::start(style, files.len() as u64);
    let mut summary = BatchSummary { report: report_path, ..BatchSummary::default() };
    let mut outcomes = futures::stream::iter(files)
        .map(|path| process(app, plan, path, cancel))
        .buffer_unordered(plan.jobs.max(1));
    while let Some(outcome) = outcomes.next().await {
        match outcome.status {
            Status::Done => summary.done += 1,
            Status::Skipped => summary.skipped += 1,
            Status::Unsupported => summary.unsupported += 1,
            Status::Failed => summary.failed += 1,
        }
        progress.record(&outcome);
        report.write(&outcome)?;
    }
    summary.elapsed = started.elapsed();
    progress.finish(&summary);
    Ok(summary)
}

/// The folder's regular, visible files, sorted by name (names only: nothing is read yet).
fn list(dir: &Path) -> Result<Vec<PathBuf>, BatchError> {
    let error = |e: std::io::Error| BatchError::InputDir { dir: dir.to_owned(), reason: e.to_string() };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type().map_err(error)?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// One file from reading to its outputs.
async fn process(app: &Application, plan: &BatchPlan, path: PathBuf, cancel: &CancellationToken) -> Outcome {
    let started = Instant::now();
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let outcome = |status, outputs: Vec<PathBuf>, error: String| Outcome {
        file: file.clone(),
        status,
        outputs,
        seconds: started.elapsed().as_secs_f64(),
        // One line per file in the report and the log, whatever a decoder said.
        error: error.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let is_image = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    if !is_image {
        return outcome(Status::Unsupported, Vec::new(), "not a .jpg, .png or .webp file".into());
    }
    let all = requests::variant_paths(&plan.out_dir.join(format!("{stem}.jpg")), plan.variants);
    let missing: Vec<_> = all.iter().filter(|(_, out)| plan.force || !out.exists()).cloned().collect();
    let outputs: Vec<PathBuf> = all.iter().map(|(_, out)| out.clone()).collect();
    if missing.is_empty() {
        return outcome(Status::Skipped, outputs, String::new());
    }
    let product = match tokio::fs::read(&path).await {
        Ok(bytes) => InputImage::parse(bytes, &plan.limits).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let product = match product {
        Ok(product) => product,
        Err(error) => return outcome(Status::Failed, Vec::new(), error),
    };
    let request = Request { product, background: plan.background.clone(), format: plan.format };
    let answers = requests::run(app, &request, &missing, cancel, &|_, _| {}).await;
    let errors: Vec<String> = answers.into_iter().filter_map(Result::err).map(|e| e.to_string()).collect();
    if errors.is_empty() {
        outcome(Status::Done, outputs, String::new())
    } else {
        let written = outputs.into_iter().filter(|p| p.exists()).collect();
        outcome(Status::Failed, written, errors.join("; "))
    }
}
