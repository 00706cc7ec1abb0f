//! `report.csv`: one line per file of a batch (file, status, output, seconds, error),
//! written as each file ends, so an interrupted batch still says what it did.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::BatchError;

/// How one file of a batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its outputs were made now.
    Done,
    /// Its outputs existed already (a resumed batch).
    Skipped,
    /// Not a picture file: left alone.
    Unsupported,
    /// It could not be read or generated.
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Unsupported => "unsupported",
            Self::Failed => "failed",
        }
    }
}

/// One file's line.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub file: String,
    pub status: Status,
    pub outputs: Vec<PathBuf>,
    pub seconds: f64,
    pub error: String,
}

/// The open report.
pub struct Report {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl Report {
    /// Creates (or replaces) the report with its header line.
    pub fn create(path: &Path) -> Result<Self, BatchError> {
        let error = |e: csv::Error| BatchError::Report { path: path.to_owned(), reason: e.to_string() };
        let mut writer = csv::Writer::from_path(path).map_err(error)?;
        writer.write_record(["file", "status", "output", "seconds", "error"]).map_err(error)?;
        writer.flush().map_err(|e| BatchError::Report { path: path.to_owned(), reason: e.to_string() })?;
        Ok(Self { path: path.to_owned(), writer })
    }

    /// Appends `outcome` and flushes it to disk.
    pub fn write(&mut self, outcome: &Outcome) -> Result<(), BatchError> {
        let outputs: Vec<String> = outcome
            .outputs
            .iter()
            .map(|p| {
                p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
            })
            .collect();
        let seconds = format!("{:.2}", outcome.seconds);
        let record =
            [outcome.file.as_str(), outcome.status.name(), &outputs.join(";"), &seconds, &outcome.error];
        let path = &self.path;
        self.writer
            .write_record(record)
            .map_err(|e| BatchError::Report { path: path.clone(), reason: e.to_string() })?;
        self.writer.flush().map_err(|e| BatchError::Report { path: path.clone(), reason: e.to_string() })
    }
}
