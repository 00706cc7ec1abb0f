//! A held slot on a lane, given back on drop.
//!
//! Dropping is the only way a slot is released, so it comes back however the run ends:
//! success, failure, cancel, deadline, an early release by the engine, an abort, or a
//! panic that unwinds through the engine's future.

use std::sync::Weak;

use super::Scheduler;
use crate::job::LaneId;

/// One slot of one lane, held by a running job.
pub struct SlotGuard {
    queue: Weak<Scheduler>,
    lane: LaneId,
}

impl SlotGuard {
    pub(super) fn new(queue: Weak<Scheduler>, lane: LaneId) -> Self {
        Self { queue, lane }
    }
}

impl std::fmt::Debug for SlotGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotGuard(lane {})", self.lane)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.upgrade() {
            queue.release_slot(self.lane);
        }
    }
}
