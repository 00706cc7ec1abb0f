//! A held slot on a lane, given back on drop.
//!
//! Dropping is the only way a slot is released, so it comes back however the run ends:
//! success, failure, cancel, deadline, an early release by the engine, an abort, or a
//! panic that unwinds through the engine's future.

use std::sync::Weak;

use super::Scheduler;
use super::pool::Held;
use crate::job::LaneId;

/// One slot of one lane, held by a running job.
pub struct SlotGuard {
    queue: Weak<Scheduler>,
    lane: LaneId,
    held: Held,
}

impl SlotGuard {
    pub(super) fn new(queue: Weak<Scheduler>, lane: LaneId, held: Held) -> Self {
        Self { queue, lane, held }
    }

    /// Waits until the job holds a task slot (at once if it does): a job that uploaded
    /// ahead takes the first one freed on its lane.
    pub async fn task_slot(&mut self) {
        while self.held == Held::Upload {
            let Some(queue) = self.queue.upgrade() else { return };
            let freed = queue.task_slot_freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if queue.lock().pool.promote(self.lane) {
                self.held = Held::Task;
                return;
            }
            freed.await;
        }
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
            queue.release_slot(self.lane, self.held);
        }
    }
}
