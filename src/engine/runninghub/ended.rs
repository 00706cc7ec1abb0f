//! Tasks that ended, as RunningHub's callbacks name them, matched to jobs by the job id
//! in the callback URL.
//!
//! A create whose answer was lost leaves a task we have no id for; its `TASK_END` still
//! names the job (each job's callback URL carries its id), so the job's run can take that
//! task up, and a run that created a second one learns of the first. A callback that
//! comes before the run listens (a restart in between) is kept for a while, bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::job::{JobId, RemoteTaskId};

/// How long a callback nobody listened for is kept.
const KEEP_UNCLAIMED: Duration = Duration::from_secs(30 * 60);
/// At most this many unclaimed callbacks are kept (oldest dropped first): callbacks are
/// only hints, and anyone who knows the URL can send them.
const MAX_UNCLAIMED: usize = 1024;

/// The ended tasks of jobs, for the runs that listen for them.
#[derive(Clone, Default)]
pub(super) struct EndedTasks {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    listeners: HashMap<JobId, (u64, mpsc::UnboundedSender<RemoteTaskId>)>,
    unclaimed: VecDeque<(JobId, RemoteTaskId, Instant)>,
    next_token: u64,
}

impl EndedTasks {
    /// A callback said `task` of `job` ended.
    pub fn report(&self, job: JobId, task: RemoteTaskId) {
        let mut inner = self.lock();
        if let Some((_, tx)) = inner.listeners.get(&job)
            && tx.send(task.clone()).is_ok()
        {
            return;
        }
        let now = Instant::now();
        inner.unclaimed.retain(|(_, _, at)| now.duration_since(*at) < KEEP_UNCLAIMED);
        if inner.unclaimed.len() >= MAX_UNCLAIMED {
            inner.unclaimed.pop_front();
        }
        inner.unclaimed.push_back((job, task, now));
    }

    /// Listens for `job`'s ended tasks until the listener is dropped; callbacks kept for the
    /// job come first.
    pub fn listen(&self, job: JobId) -> Listener {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        inner.unclaimed.retain(|(of, task, _)| *of != job || tx.send(task.clone()).is_err());
        inner.next_token += 1;
        let token = inner.next_token;
        inner.listeners.insert(job, (token, tx));
        Listener { ended: self.clone(), job, token, rx }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing in it can be half-updated.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One run's view of its job's ended tasks.
pub(super) struct Listener {
    ended: EndedTasks,
    job: JobId,
    token: u64,
    rx: mpsc::UnboundedReceiver<RemoteTaskId>,
}

impl Listener {
    /// A task of the job that already ended, if a callback named one.
    pub fn try_next(&mut self) -> Option<RemoteTaskId> {
        self.rx.try_recv().ok()
    }

    /// The next task of the job that ended (never returns while the listener lives, if
    /// none does).
    pub async fn next(&mut self) -> RemoteTaskId {
        match self.rx.recv().await {
            Some(task) => task,
            // The sender lives in `ended` as long as we are registered.
            None => std::future::pending().await,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut inner = self.ended.lock();
        // Only our own registration: a later run of the job may have replaced it.
        if inner.listeners.get(&self.job).is_some_and(|(token, _)| *token == self.token) {
            inner.listeners.remove(&self.job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> RemoteTaskId {
        RemoteTaskId(id.into())
    }

    #[tokio::test]
    async fn a_listener_hears_its_job_and_what_came_before_it() {
        let ended = EndedTasks::default();
        ended.report(JobId(1), task("early"));
        ended.report(JobId(2), task("other"));
        let mut one = ended.listen(JobId(1));
        assert_eq!(one.next().await, task("early"));
        ended.report(JobId(1), task("late"));
        assert_eq!(one.next().await, task("late"));
        drop(one);
        // Job 2's callback is still kept for its run.
        assert_eq!(ended.listen(JobId(2)).next().await, task("other"));
    }

    #[test]
    fn unclaimed_callbacks_are_bounded() {
        let ended = EndedTasks::default();
        for n in 0..MAX_UNCLAIMED + 10 {
            ended.report(JobId(n as u64), task(&n.to_string()));
        }
        assert_eq!(ended.lock().unclaimed.len(), MAX_UNCLAIMED);
    }

    #[test]
    fn a_stale_listener_does_not_unregister_a_newer_one() {
        let ended = EndedTasks::default();
        let old = ended.listen(JobId(1));
        let _new = ended.listen(JobId(1));
        drop(old);
        assert!(ended.lock().listeners.contains_key(&JobId(1)));
    }
}
