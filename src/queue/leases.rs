//! Task slots leased from the store, so that replicas on one PostgreSQL database never
//! run more tasks on an account than its limit, together.
//!
//! The queue of each replica uses only the slots it holds leases for
//! ([`JobQueue::use_leases`]). One keeper per process leases free slots while jobs here
//! wait for them (first those that uploaded ahead on a lane, then any lane, the least used
//! across replicas first) and gives back the slots no job here holds or waits for the
//! moment they are idle, for the other replicas. A dead replica's leases are never freed
//! by time: they pass, with its jobs, to whoever takes them over ([`SlotLeases::adopt`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::JobQueue;
use crate::job::LaneId;
use crate::store::{Lease, Store};

/// How often a keeper whose jobs wait for slots asks the store again (it also asks the
/// moment another replica gives leases back).
const RETRY_WHILE_WANTED: Duration = Duration::from_millis(250);

/// How often an idle keeper looks anyway (a missed wake-up costs at most this).
const IDLE_LOOK: Duration = Duration::from_secs(1);

/// The leases this process holds, and the keeper that takes and gives them.
pub struct SlotLeases {
    queue: JobQueue,
    store: Store,
    held: Mutex<Vec<Lease>>,
}

impl SlotLeases {
    /// Switches `queue` to leased slots (before any job is submitted).
    pub fn new(queue: JobQueue, store: Store) -> Arc<Self> {
        queue.use_leases();
        Arc::new(Self { queue, store, held: Mutex::default() })
    }

    /// Leases this process holds now (taken over with a dead replica's jobs, or just
    /// acquired): their slots are the queue's to use.
    pub fn adopt(&self, leases: Vec<Lease>) {
        for lease in &leases {
            self.queue.grant(lease.lane);
        }
        self.lock().extend(leases);
    }

    /// How many leases this process holds.
    pub fn held(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Lease>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the leases of `lane` out of the held list, `n` of them.
    fn give_up(&self, lane: LaneId, n: usize) -> Vec<Lease> {
        let mut held = self.lock();
        let mut out = Vec::with_capacity(n);
        held.retain(|lease| {
            if lease.lane == lane && out.len() < n {
                out.push(*lease);
                false
            } else {
                true
            }
        });
        out
    }

    /// Keeps the leases matched to the jobs here until `stop`.
    pub async fn keep(self: Arc<Self>, stop: CancellationToken) {
        let mut freed = match self.store.hear_freed_leases().await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(
                    "cannot hear other replicas give leases back (asking every {RETRY_WHILE_WANTED:?}): {e}"
                );
                None
            }
        };
        loop {
            let wanting = match self.balance().await {
                Ok(wanting) => wanting,
                Err(e) => {
                    tracing::warn!("slot leases: {e}");
                    true
                }
            };
            let look_again = if wanting { RETRY_WHILE_WANTED } else { IDLE_LOOK };
            let heard = async {
                // Always drained (a look with nothing wanted asks the store nothing), so
                // notices never pile up.
                match freed.as_mut() {
                    Some(listener) => {
                        if let Err(e) = listener.recv().await {
                            tracing::debug!("hearing freed leases: {e}");
                            tokio::time::sleep(RETRY_WHILE_WANTED).await;
                        }
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.queue.demand_changed() => {}
                () = heard => {}
                () = tokio::time::sleep(look_again) => {}
            }
        }
        tracing::debug!(held = self.held(), "slot lease keeper stopped");
    }

    /// One look: gives back idle leases, asks for missing ones. Whether jobs here still
    /// wait for a slot the store could not give.
    async fn balance(&self) -> Result<bool, crate::store::StoreError> {
        let (uses, _) = self.queue.lease_use();
        let mut idle = Vec::new();
        for u in &uses {
            let n = self.queue.take_back(u.lane);
            idle.extend(self.give_up(u.lane, n));
        }
        if !idle.is_empty()
            && let Err(e) = self.store.release_leases(&idle).await
        {
            // Still ours in the store: ours to use again.
            self.adopt(idle);
            return Err(e);
        }
        let (uses, waiting) = self.queue.lease_use();
        let mut wanting = false;
        // Jobs that uploaded ahead create on their own lane only.
        let mut spare = 0;
        for u in uses.iter().filter(|u| !u.refused) {
            let free = u.granted.saturating_sub(u.running);
            let need = u.uploading.saturating_sub(free);
            spare += free.saturating_sub(u.uploading);
            if need > 0 {
                let got = self.store.acquire_leases(&[u.lane], need).await?;
                wanting |= got.len() < need;
                self.adopt(got);
            }
        }
        let need = waiting.saturating_sub(spare);
        if need > 0 {
            let lanes: Vec<LaneId> = uses.iter().filter(|u| !u.refused).map(|u| u.lane).collect();
            let got = self.store.acquire_leases(&lanes, need).await?;
            wanting |= got.len() < need;
            self.adopt(got);
        }
        Ok(wanting)
    }
}
