//! Handlers that were accepting a job when the bot began to stop.
//!
//! Past the grace period the dispatcher is left behind, and a handler still at work may
//! never finish. Shutdown must not half-accept: each such handler either commits its job
//! (and the user sees it queued, or kept for the restart) or commits nothing and the user
//! is told to send it again. A handler registers when it starts taking a job, and asks
//! [`InFlight::begin_commit`] right before it writes the job; when the bot gives up on the
//! handlers, [`InFlight::abandon`] takes every registration that has not begun to commit,
//! so those handlers will not commit, and their users are told.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use teloxide::types::ChatId;

use crate::bot::messages::Lang;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Taking,
    Committing,
    Abandoned,
}

/// The registrations, by a number each handler gets.
#[derive(Default)]
pub struct InFlight {
    handlers: Mutex<HashMap<u64, (ChatId, Lang, Phase)>>,
    next: std::sync::atomic::AtomicU64,
}

/// One handler's registration; dropping it deregisters.
pub struct Taking {
    registry: Arc<InFlight>,
    id: u64,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, (ChatId, Lang, Phase)>> {
        self.handlers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a handler that is taking a job for `chat`.
    pub fn taking(self: &Arc<Self>, chat: ChatId, lang: Lang) -> Taking {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().insert(id, (chat, lang, Phase::Taking));
        Taking { registry: Arc::clone(self), id }
    }

    /// Every handler that has not begun to commit: from now on none of them will. Returns
    /// whom to tell to send again.
    pub fn abandon(&self) -> Vec<(ChatId, Lang)> {
        let mut handlers = self.lock();
        handlers
            .values_mut()
            .filter(|(_, _, phase)| *phase == Phase::Taking)
            .map(|entry| {
                entry.2 = Phase::Abandoned;
                (entry.0, entry.1)
            })
            .collect()
    }
}

impl Taking {
    /// Whether the handler may write its job now: `false` once the bot gave up on it (its
    /// user is told to send again instead).
    pub fn begin_commit(&self) -> bool {
        let mut handlers = self.registry.lock();
        match handlers.get_mut(&self.id) {
            Some(entry) if entry.2 == Phase::Taking => {
                entry.2 = Phase::Committing;
                true
            }
            _ => false,
        }
    }
}

impl Drop for Taking {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_either_commits_or_its_user_is_told() {
        let registry = Arc::new(InFlight::default());
        let slow = registry.taking(ChatId(1), Lang::En);
        let committing = registry.taking(ChatId(2), Lang::Ru);
        assert!(committing.begin_commit());
        let done = registry.taking(ChatId(3), Lang::En);
        drop(done);
        assert_eq!(
            registry.abandon(),
            vec![(ChatId(1), Lang::En)],
            "only the one that had not begun to commit"
        );
        assert!(!slow.begin_commit(), "an abandoned handler commits nothing");
        assert!(registry.abandon().is_empty(), "told once");
    }
}
