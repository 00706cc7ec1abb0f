//! The lanes' slot bookkeeping: who runs how much, who is out of rotation, who backs off.
//!
//! Plain synchronous state, owned by the queue under its lock, so that picking a lane and
//! taking its slot is one atomic step and the rules are testable without a runtime.

use std::time::Instant;

use crate::engine::LaneSpec;
use crate::job::LaneId;

/// The load of one lane at a moment, for logs, `/stats` and tests.
#[derive(Clone, Debug)]
pub struct LaneLoad {
    pub id: LaneId,
    pub label: String,
    pub capacity: usize,
    pub running: usize,
    /// Why the lane is out of rotation, if it is.
    pub refused: Option<String>,
}

#[derive(Debug)]
struct Lane {
    spec: LaneSpec,
    running: usize,
    refused: Option<String>,
    busy_until: Option<Instant>,
}

/// All lanes of the engine and their slots.
#[derive(Debug)]
pub(crate) struct Pool {
    lanes: Vec<Lane>,
}

impl Pool {
    pub fn new(specs: Vec<LaneSpec>) -> Self {
        let lanes = specs
            .into_iter()
            .map(|spec| Lane { spec, running: 0, refused: None, busy_until: None })
            .collect();
        Self { lanes }
    }

    /// The least-loaded usable lane with a free slot (load = running / capacity; ties go to
    /// the lane with fewer running tasks, then the lower id).
    pub fn pick(&self, now: Instant) -> Option<LaneId> {
        self.lanes
            .iter()
            .filter(|l| l.refused.is_none() && l.running < l.spec.capacity)
            .filter(|l| l.busy_until.is_none_or(|t| t <= now))
            .min_by(|a, b| {
                let load_a = a.running * b.spec.capacity;
                let load_b = b.running * a.spec.capacity;
                load_a.cmp(&load_b).then(a.running.cmp(&b.running)).then(a.spec.id.cmp(&b.spec.id))
            })
            .map(|l| l.spec.id)
    }

    pub fn acquire(&mut self, lane: LaneId) {
        if let Some(l) = self.lane_mut(lane) {
            l.running += 1;
        }
    }

    pub fn release(&mut self, lane: LaneId) {
        if let Some(l) = self.lane_mut(lane) {
            l.running = l.running.saturating_sub(1);
        }
    }

    /// Takes the lane out of rotation for good (refused key, empty wallet, bad workflow).
    pub fn refuse(&mut self, lane: LaneId, why: String) {
        if let Some(l) = self.lane_mut(lane) {
            l.refused = Some(why);
        }
    }

    /// Gives the lane no new job before `until` (the provider said it is full).
    pub fn back_off(&mut self, lane: LaneId, until: Instant) {
        if let Some(l) = self.lane_mut(lane) {
            l.busy_until = Some(l.busy_until.map_or(until, |t| t.max(until)));
        }
    }

    /// Whether any lane can still ever run a job.
    pub fn any_usable(&self) -> bool {
        self.lanes.iter().any(|l| l.refused.is_none() && l.spec.capacity > 0)
    }

    /// The earliest moment a backed-off lane with a free slot becomes usable again.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.lanes
            .iter()
            .filter(|l| l.refused.is_none() && l.running < l.spec.capacity)
            .filter_map(|l| l.busy_until.filter(|t| *t > now))
            .min()
    }

    pub fn loads(&self) -> Vec<LaneLoad> {
        self.lanes
            .iter()
            .map(|l| LaneLoad {
                id: l.spec.id,
                label: l.spec.label.clone(),
                capacity: l.spec.capacity,
                running: l.running,
                refused: l.refused.clone(),
            })
            .collect()
    }

    fn lane_mut(&mut self, lane: LaneId) -> Option<&mut Lane> {
        self.lanes.iter_mut().find(|l| l.spec.id == lane)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pool(caps: &[usize]) -> Pool {
        Pool::new(
            caps.iter()
                .enumerate()
                .map(|(i, &capacity)| LaneSpec {
                    id: LaneId(i as u16 + 1),
                    label: format!("account {}", i + 1),
                    capacity,
                })
                .collect(),
        )
    }

    #[test]
    fn spreads_over_the_least_loaded_lane() {
        let mut p = pool(&[2, 2]);
        let now = Instant::now();
        let picks: Vec<_> = (0..4)
            .map(|_| {
                let l = p.pick(now).unwrap();
                p.acquire(l);
                l.0
            })
            .collect();
        assert_eq!(picks, vec![1, 2, 1, 2]);
        assert_eq!(p.pick(now), None, "all slots taken");
        p.release(LaneId(2));
        assert_eq!(p.pick(now), Some(LaneId(2)));
    }

    #[test]
    fn load_is_relative_to_capacity() {
        let mut p = pool(&[1, 4]);
        let now = Instant::now();
        p.acquire(LaneId(2));
        // lane 1: 0/1, lane 2: 1/4 -> lane 1 is less loaded.
        assert_eq!(p.pick(now), Some(LaneId(1)));
        p.acquire(LaneId(1));
        assert_eq!(p.pick(now), Some(LaneId(2)));
    }

    #[test]
    fn refused_and_backed_off_lanes_are_skipped() {
        let mut p = pool(&[1, 1]);
        let now = Instant::now();
        p.refuse(LaneId(1), "wallet empty".into());
        p.back_off(LaneId(2), now + Duration::from_secs(2));
        assert_eq!(p.pick(now), None);
        assert_eq!(p.next_wake(now), Some(now + Duration::from_secs(2)));
        assert_eq!(p.pick(now + Duration::from_secs(3)), Some(LaneId(2)));
        assert!(p.any_usable());
        p.refuse(LaneId(2), "key refused".into());
        assert!(!p.any_usable());
    }

    #[test]
    fn release_never_underflows() {
        let mut p = pool(&[1]);
        p.release(LaneId(1));
        p.release(LaneId(9));
        assert_eq!(p.loads()[0].running, 0);
    }
}
