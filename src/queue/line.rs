//! The waiting line: queued jobs served round-robin across their owners, so that a seller
//! who sends 40 photos takes turns with everyone else instead of holding them back.
//!
//! Each owner has a first-come queue of its jobs; the owners with waiting jobs take turns
//! in the order they joined. A job sent back by its lane goes to the head of its owner's
//! queue, and its owner to the head of the turns.

use std::collections::{HashMap, VecDeque};

use crate::job::{JobId, Owner};

#[derive(Debug, Default)]
pub(super) struct Line {
    /// Owners with waiting jobs, whose turn is next first.
    turns: VecDeque<Owner>,
    jobs: HashMap<Owner, VecDeque<JobId>>,
    owner_of: HashMap<JobId, Owner>,
}

impl Line {
    pub fn len(&self) -> usize {
        self.owner_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner_of.is_empty()
    }

    pub fn push_back(&mut self, owner: Owner, job: JobId) {
        let queue = self.jobs.entry(owner).or_default();
        if queue.is_empty() {
            self.turns.push_back(owner);
        }
        queue.push_back(job);
        self.owner_of.insert(job, owner);
    }

    /// Back at the very front: the next job to start.
    pub fn push_front(&mut self, owner: Owner, job: JobId) {
        let queue = self.jobs.entry(owner).or_default();
        queue.push_front(job);
        self.turns.retain(|o| *o != owner);
        self.turns.push_front(owner);
        self.owner_of.insert(job, owner);
    }

    /// The job that starts next.
    pub fn front(&self) -> Option<JobId> {
        self.turns.front().and_then(|owner| self.jobs.get(owner)).and_then(|q| q.front().copied())
    }

    /// Takes the job that starts next; its owner's turn passes to the back.
    pub fn pop_front(&mut self) -> Option<JobId> {
        let owner = self.turns.pop_front()?;
        let queue = self.jobs.get_mut(&owner)?;
        let job = queue.pop_front();
        if queue.is_empty() {
            self.jobs.remove(&owner);
        } else {
            self.turns.push_back(owner);
        }
        if let Some(job) = job {
            self.owner_of.remove(&job);
        }
        job
    }

    /// Takes `job` out of the line; whether it was waiting.
    pub fn remove(&mut self, job: JobId) -> bool {
        let Some(owner) = self.owner_of.remove(&job) else {
            return false;
        };
        if let Some(queue) = self.jobs.get_mut(&owner) {
            queue.retain(|j| *j != job);
            if queue.is_empty() {
                self.jobs.remove(&owner);
                self.turns.retain(|o| *o != owner);
            }
        }
        true
    }

    /// Every waiting job in the order they will start.
    pub fn order(&self) -> Vec<JobId> {
        self.order_prefix(usize::MAX)
    }

    /// The first `limit` waiting jobs in the order they will start; costs about `limit`
    /// steps when owners have a job or two each.
    pub fn order_prefix(&self, limit: usize) -> Vec<JobId> {
        let mut order = Vec::with_capacity(limit.min(self.len()));
        for round in 0.. {
            let before = order.len();
            for owner in &self.turns {
                if order.len() == limit {
                    return order;
                }
                if let Some(job) = self.jobs.get(owner).and_then(|q| q.get(round)) {
                    order.push(*job);
                }
            }
            if order.len() == before {
                break;
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(line: &Line) -> Vec<u64> {
        line.order().iter().map(|j| j.0).collect()
    }

    #[test]
    fn owners_take_turns() {
        let mut line = Line::default();
        for job in 1..=4 {
            line.push_back(Owner(1), JobId(job));
        }
        line.push_back(Owner(2), JobId(10));
        line.push_back(Owner(3), JobId(20));
        line.push_back(Owner(2), JobId(11));
        assert_eq!(ids(&line), vec![1, 10, 20, 2, 11, 3, 4]);
        let mut started = Vec::new();
        while let Some(job) = line.pop_front() {
            started.push(job.0);
        }
        assert_eq!(started, vec![1, 10, 20, 2, 11, 3, 4], "they start in the order shown");
        assert!(line.is_empty());
    }

    #[test]
    fn a_sent_back_job_starts_next_and_a_removed_one_never() {
        let mut line = Line::default();
        line.push_back(Owner(1), JobId(1));
        line.push_back(Owner(2), JobId(2));
        line.push_back(Owner(1), JobId(3));
        let first = line.pop_front().unwrap();
        line.push_front(Owner(1), first);
        assert_eq!(ids(&line), vec![1, 2, 3]);
        assert!(line.remove(JobId(2)));
        assert!(!line.remove(JobId(2)));
        assert_eq!(ids(&line), vec![1, 3]);
        assert_eq!((line.front(), line.len()), (Some(JobId(1)), 2));
    }
}
