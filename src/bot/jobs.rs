//! The bot's quick record of its jobs: who owns each and where to report.
//!
//! The queue knows jobs only by id; buttons carry only an id. This registry ties an id to
//! the user allowed to press its buttons and the chat and language of its status message.
//! It holds this run's jobs; the job store has them all (a button pressed on a message
//! from before a restart is looked up there).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use teloxide::types::{ChatId, MessageId, UserId};

use crate::bot::messages::Lang;
use crate::job::{JobId, StateName};
use crate::store::StoredJob;

/// Presses of Regenerate or Retry on one job closer together than this make one new job.
pub const REPEAT_GAP: Duration = Duration::from_secs(3);

/// What the bot knows about one of its jobs.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub owner: UserId,
    pub chat: ChatId,
    pub lang: Lang,
    /// The message that shows the job's state, once sent.
    pub status_message: Option<MessageId>,
    /// Until the job has ended.
    pub live: bool,
    /// The album's first job, when the job is one of an album's: the album has one status
    /// message (`bot::album_status`), and this job's own task only tells its end.
    pub album: Option<JobId>,
    /// The first job of its variant set, when the job is one of several variants of one
    /// product: the set's task (`bot::variant_set`) delivers their results as one album,
    /// and this job's own task tells nothing of its end.
    pub variants: Option<JobId>,
}

impl JobRecord {
    /// A job just accepted.
    pub fn new(owner: UserId, chat: ChatId, lang: Lang) -> Self {
        Self { owner, chat, lang, status_message: None, live: true, album: None, variants: None }
    }

    /// A job as the store has it.
    pub fn from_stored(job: &StoredJob) -> Self {
        Self {
            owner: UserId(job.user_id as u64),
            chat: ChatId(job.chat_id),
            lang: Lang::from_code(Some(&job.language)),
            status_message: job.status_message_id.map(MessageId),
            live: StateName::IN_QUEUE.contains(&job.state),
            album: None,
            variants: job.variant.and_then(|v| v.set),
        }
    }
}

/// Why a button press on a job is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the job is not known (expired or never existed)")]
    Unknown,
    #[error("the job belongs to another user")]
    NotOwner,
}

/// The live jobs of this bot process (ended ones are forgotten: the store has them), and
/// when jobs were last repeated (kept for [`REPEAT_GAP`] only).
#[derive(Default)]
pub struct JobRegistry {
    jobs: Mutex<HashMap<JobId, JobRecord>>,
    repeats: Mutex<HashMap<JobId, Instant>>,
}

impl JobRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, JobRecord>> {
        // Nothing panics while the lock is held; a poisoned map is still consistent.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn insert(&self, id: JobId, record: JobRecord) {
        self.lock().insert(id, record);
    }

    /// The job, if `user` owns it.
    pub fn owned_by(&self, id: JobId, user: UserId) -> Result<JobRecord, AccessError> {
        match self.lock().get(&id) {
            None => Err(AccessError::Unknown),
            Some(record) if record.owner != user => Err(AccessError::NotOwner),
            Some(record) => Ok(record.clone()),
        }
    }

    pub fn set_status_message(&self, id: JobId, message: MessageId) {
        if let Some(record) = self.lock().get_mut(&id) {
            record.status_message = Some(message);
        }
    }

    /// Claims a new job made from `id` (Regenerate, Retry): `false` when one was made less
    /// than [`REPEAT_GAP`] ago, so a burst of presses makes one job.
    pub fn claim_repeat(&self, id: JobId) -> bool {
        let mut repeats = self.repeats.lock().unwrap_or_else(PoisonError::into_inner);
        repeats.retain(|_, at| at.elapsed() < REPEAT_GAP);
        if repeats.contains_key(&id) {
            return false;
        }
        repeats.insert(id, Instant::now());
        true
    }

    /// Forgets a job that ended: buttons on its messages find it in the store.
    pub fn mark_ended(&self, id: JobId) {
        self.lock().remove(&id);
    }

    /// How many jobs the registry holds (live ones only).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The jobs of `user` that have not ended yet.
    /// `user`'s live jobs of the album led by `lead`.
    pub fn album_of(&self, lead: JobId, user: UserId) -> Vec<JobId> {
        let mut ids: Vec<JobId> = self
            .lock()
            .iter()
            .filter(|(_, r)| r.live && r.owner == user && r.album == Some(lead))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    pub fn live_jobs_of(&self, user: UserId) -> Vec<JobId> {
        let mut ids: Vec<JobId> =
            self.lock().iter().filter(|(_, r)| r.live && r.owner == user).map(|(id, _)| *id).collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(owner: u64) -> JobRecord {
        JobRecord::new(UserId(owner), ChatId(owner as i64), Lang::Ru)
    }

    #[test]
    fn only_the_owner_gets_the_job() {
        let registry = JobRegistry::default();
        registry.insert(JobId(1), record(7));
        assert!(registry.owned_by(JobId(1), UserId(7)).is_ok());
        assert_eq!(registry.owned_by(JobId(1), UserId(8)).unwrap_err(), AccessError::NotOwner);
        assert_eq!(registry.owned_by(JobId(2), UserId(7)).unwrap_err(), AccessError::Unknown);
    }

    #[test]
    fn a_burst_of_presses_makes_one_job() {
        let registry = JobRegistry::default();
        assert!(registry.claim_repeat(JobId(1)));
        assert!((0..9).all(|_| !registry.claim_repeat(JobId(1))));
        assert!(registry.claim_repeat(JobId(2)), "another job is not held back");
    }

    #[test]
    fn ended_jobs_are_not_live() {
        let registry = JobRegistry::default();
        registry.insert(JobId(1), record(7));
        registry.insert(JobId(2), record(7));
        registry.mark_ended(JobId(1));
        assert_eq!(registry.live_jobs_of(UserId(7)), vec![JobId(2)]);
        assert_eq!(registry.len(), 1, "an ended job is forgotten");
    }
}
