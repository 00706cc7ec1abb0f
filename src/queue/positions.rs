//! The queue positions users see, published only when they change visibly.
//!
//! Each start moves every waiting job up by one; telling ten thousand jobs (and their
//! status messages) about each step would cost more than the steps. The first
//! [`EXACT_POSITIONS`] waiting jobs are looked at on every change; the whole line at most
//! once per [`FULL_PASS_GAP`]. A job hears of a new position when it is among the first ten
//! or when it moved by a tenth of the position it was last told.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::line::Line;
use crate::job::{JobEvent, JobId, Ledger};

/// Waiting jobs looked at on every change of the line.
pub(super) const EXACT_POSITIONS: usize = 100;
/// The longest a job beyond [`EXACT_POSITIONS`] waits to hear of a visible move.
pub(super) const FULL_PASS_GAP: Duration = Duration::from_millis(500);

/// What each waiting job was last told.
#[derive(Debug)]
pub(super) struct Positions {
    shown: HashMap<JobId, usize>,
    last_full: Instant,
    /// Jobs beyond the first ones may not know their position yet.
    stale: bool,
}

impl Default for Positions {
    fn default() -> Self {
        Self { shown: HashMap::new(), last_full: Instant::now(), stale: false }
    }
}

impl Positions {
    /// Tells the jobs of `line` whose position changed visibly.
    pub fn publish(&mut self, line: &Line, ledger: &Ledger) {
        let now = Instant::now();
        let full = line.len() <= EXACT_POSITIONS || now >= self.last_full + FULL_PASS_GAP;
        let order = if full { line.order() } else { line.order_prefix(EXACT_POSITIONS) };
        for (index, id) in order.into_iter().enumerate() {
            let position = index + 1;
            if self.shown.get(&id).is_some_and(|&shown| !visibly_moved(shown, position)) {
                continue;
            }
            match ledger.apply(id, JobEvent::Moved { position }) {
                Ok(_) => {
                    self.shown.insert(id, position);
                }
                Err(e) => tracing::error!("{e}"),
            }
        }
        if full {
            self.last_full = now;
        }
        self.stale = !full;
    }

    /// The job left the line (started, cancelled).
    pub fn forget(&mut self, id: JobId) {
        self.shown.remove(&id);
    }

    /// When the deferred pass over the whole line is due, if one is.
    pub fn next_full_pass(&self) -> Option<Instant> {
        self.stale.then_some(self.last_full + FULL_PASS_GAP)
    }
}

/// Whether a job told `shown` should hear that it is now at `position`.
fn visibly_moved(shown: usize, position: usize) -> bool {
    shown != position && (position <= 10 || shown.abs_diff(position) * 10 >= shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_the_front_every_step_shows_further_back_a_tenth() {
        assert!(visibly_moved(11, 10));
        assert!(visibly_moved(3, 2));
        assert!(!visibly_moved(5000, 4999));
        assert!(visibly_moved(5000, 4500));
        assert!(!visibly_moved(50, 46));
        assert!(visibly_moved(50, 45));
        assert!(!visibly_moved(7, 7));
    }
}
