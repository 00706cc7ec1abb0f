//! What a batch shows while it runs: a progress bar with an ETA on a terminal, one plain
//! line per file otherwise (a log, a CI job, a pipe).

use indicatif::{ProgressBar, ProgressDrawTarget};

use super::{BatchSummary, Outcome, Status};

/// How progress is shown; the caller knows whether its output is a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStyle {
    Bar,
    Lines,
}

/// A running batch's progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    seen: std::cell::Cell<u64>,
}

impl Progress {
    pub fn start(style: ProgressStyle, total: u64) -> Self {
        let bar = (style == ProgressStyle::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            let template = "{bar:40} {pos}/{len} files  {elapsed} elapsed, ETA {eta}  {msg}";
            if let Ok(look) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(look);
            }
            bar
        });
        Self { bar, total, seen: std::cell::Cell::new(0) }
    }

    /// One file ended.
    pub fn record(&self, outcome: &Outcome) {
        self.seen.set(self.seen.get() + 1);
        let line = match outcome.status {
            Status::Failed | Status::Unsupported => {
                format!("{} {}: {}", outcome.status.name(), outcome.file, outcome.error)
            }
            _ => format!("{} {} ({:.1} s)", outcome.status.name(), outcome.file, outcome.seconds),
        };
        match &self.bar {
            Some(bar) => {
                // Problems stay above the bar; the rest is the bar's message.
                if matches!(outcome.status, Status::Failed | Status::Unsupported) {
                    bar.println(&line);
                }
                bar.set_message(outcome.file.clone());
                bar.inc(1);
            }
            None => println!("[{}/{}] {line}", self.seen.get(), self.total),
        }
    }

    /// The batch ended: the summary line.
    pub fn finish(&self, summary: &BatchSummary) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        println!(
            "done {}, skipped {}, unsupported {}, failed {} in {:.1} s; report: {}",
            summary.done,
            summary.skipped,
            summary.unsupported,
            summary.failed,
            summary.elapsed.as_secs_f64(),
            summary.report.display()
        );
    }
}
