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
    /// Jobs holding a task slot.
    pub running: usize,
    /// Jobs uploading ahead, waiting for a task slot.
    pub uploading: usize,
    /// Why the lane is out of rotation, if it is.
    pub refused: Option<String>,
}

/// What kind of slot a job holds on its lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// One of the lane's `capacity` task slots.
    Task,
    /// One of its `upload_ahead` slots: the job uploads, then waits for a task slot.
    Upload,
}

#[derive(Debug)]
struct Lane {
    spec: LaneSpec,
    running: usize,
    uploading: usize,
    refused: Option<String>,
    busy_until: Option<Instant>,
    /// With replicas: the task slots this process holds leases for (`None`: all of the
    /// lane's capacity is this process's).
    granted: Option<usize>,
}

impl Lane {
    fn taken(&self) -> usize {
        self.running + self.uploading
    }

    /// Task slots this process may use now.
    fn slots(&self) -> usize {
        self.granted.unwrap_or(self.spec.capacity)
    }

    fn has_room(&self) -> bool {
        self.taken() < self.slots() + self.spec.upload_ahead
    }
}

/// One lane's use of its leases, for the process that keeps them (replicas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseUse {
    pub lane: LaneId,
    pub granted: usize,
    pub running: usize,
    /// Jobs that uploaded ahead and wait for a task slot on this lane.
    pub uploading: usize,
    /// Out of rotation: no lease is wanted for it.
    pub refused: bool,
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
            .map(|spec| Lane {
                spec,
                running: 0,
                uploading: 0,
                refused: None,
                busy_until: None,
                granted: None,
            })
            .collect();
        Self { lanes }
    }

    /// The least-loaded usable lane with a free slot, a task slot or one to upload ahead
    /// (load = taken slots / capacity; ties go to the lane with fewer taken slots, then
    /// the lower id).
    pub fn pick(&self, now: Instant) -> Option<LaneId> {
        self.lanes
            .iter()
            .filter(|l| l.refused.is_none() && l.spec.capacity > 0 && l.has_room())
            .filter(|l| l.busy_until.is_none_or(|t| t <= now))
            .min_by(|a, b| {
                let load_a = a.taken() * b.spec.capacity;
                let load_b = b.taken() * a.spec.capacity;
                load_a.cmp(&load_b).then(a.taken().cmp(&b.taken())).then(a.spec.id.cmp(&b.spec.id))
            })
            .map(|l| l.spec.id)
    }

    /// Takes a task slot if one is free, else a slot to upload ahead.
    pub fn acquire(&mut self, lane: LaneId) -> Held {
        match self.lane_mut(lane) {
            Some(l) if l.running < l.slots() => {
                l.running += 1;
                Held::Task
            }
            Some(l) => {
                l.uploading += 1;
                Held::Upload
            }
            None => Held::Task,
        }
    }

    /// Turns an upload slot into a task slot, if one is free.
    pub fn promote(&mut self, lane: LaneId) -> bool {
        match self.lane_mut(lane) {
            Some(l) if l.running < l.slots() => {
                l.uploading = l.uploading.saturating_sub(1);
                l.running += 1;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    pub fn release(&mut self, lane: LaneId, held: Held) {
        if let Some(l) = self.lane_mut(lane) {
            match held {
                Held::Task => l.running = l.running.saturating_sub(1),
                Held::Upload => l.uploading = l.uploading.saturating_sub(1),
            }
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

    /// From now on the lanes' task slots are only those leased: none until [`Pool::grant`].
    pub fn use_leases(&mut self) {
        for lane in &mut self.lanes {
            lane.granted = Some(0);
        }
    }

    /// `n` more task slots leased on `lane`.
    pub fn grant(&mut self, lane: LaneId, n: usize) {
        if let Some(l) = self.lane_mut(lane) {
            l.granted = Some(l.granted.unwrap_or(0) + n);
        }
    }

    /// Gives up to `most` leased slots of `lane` that no job here holds or waits for;
    /// returns how many.
    pub fn take_back(&mut self, lane: LaneId, most: usize) -> usize {
        let Some(l) = self.lane_mut(lane) else { return 0 };
        let Some(granted) = l.granted else { return 0 };
        let spare = granted.saturating_sub(l.running + l.uploading).min(most);
        l.granted = Some(granted - spare);
        spare
    }

    pub fn lease_use(&self) -> Vec<LeaseUse> {
        self.lanes
            .iter()
            .map(|l| LeaseUse {
                lane: l.spec.id,
                granted: l.granted.unwrap_or(l.spec.capacity),
                running: l.running,
                uploading: l.uploading,
                refused: l.refused.is_some() || l.spec.capacity == 0,
            })
            .collect()
    }

    /// Whether any lane can still ever run a job.
    pub fn any_usable(&self) -> bool {
        self.lanes.iter().any(|l| l.refused.is_none() && l.spec.capacity > 0)
    }

    /// The earliest moment a backed-off lane with a free slot becomes usable again.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.lanes
            .iter()
            .filter(|l| l.refused.is_none() && l.has_room())
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
                uploading: l.uploading,
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
        pool_ahead(caps, 0)
    }

    fn pool_ahead(caps: &[usize], upload_ahead: usize) -> Pool {
        Pool::new(
            caps.iter()
                .enumerate()
                .map(|(i, &capacity)| LaneSpec {
                    id: LaneId(i as u16 + 1),
                    label: format!("account {}", i + 1),
                    capacity,
                    upload_ahead,
                })
                .collect(),
        )
    }

    #[test]
    fn uploads_go_ahead_while_the_task_slots_are_busy_and_wait_for_one() {
        let mut p = pool_ahead(&[2], 2);
        let now = Instant::now();
        let held: Vec<_> = (0..4).map(|_| p.acquire(p.pick(now).unwrap())).collect();
        assert_eq!(held, [Held::Task, Held::Task, Held::Upload, Held::Upload]);
        assert_eq!(p.pick(now), None, "two tasks and two uploads ahead");
        assert!(!p.promote(LaneId(1)), "no task slot yet");
        p.release(LaneId(1), Held::Task);
        assert!(p.promote(LaneId(1)));
        let load = &p.loads()[0];
        assert_eq!((load.running, load.uploading), (2, 1));
        assert_eq!(p.pick(now), Some(LaneId(1)), "room to upload ahead again");
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
        p.release(LaneId(2), Held::Task);
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
        p.release(LaneId(1), Held::Task);
        p.release(LaneId(1), Held::Upload);
        p.release(LaneId(9), Held::Task);
        assert_eq!(p.loads()[0].running, 0);
    }
}
