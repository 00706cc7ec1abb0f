//! The albums being collected: which parts of which `media_group_id` arrived when. Plain
//! state, kept apart from the album handlers (`bot::album`) so the bot's shared context
//! can hold it without depending on them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use teloxide::types::{ChatId, Message};
use tokio::time::Instant;

/// An album is complete once no part came for this long.
pub const QUIET: Duration = Duration::from_millis(1000);
/// ... or at the latest this long after its first part.
pub const LONGEST: Duration = Duration::from_secs(8);
/// Products taken from one album.
pub const MAX_PRODUCTS: usize = 10;

/// The albums being collected, by `media_group_id`.
#[derive(Default)]
pub struct Albums {
    open: Mutex<HashMap<String, Collecting>>,
}

struct Collecting {
    chat: ChatId,
    parts: Vec<Message>,
    first_at: Instant,
    last_at: Instant,
}

impl Albums {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Collecting>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a part; `true` for the group's first part (its collector must be started).
    pub(crate) fn add(&self, group: &str, msg: Message) -> bool {
        let mut open = self.lock();
        let now = Instant::now();
        match open.get_mut(group) {
            Some(collecting) => {
                collecting.parts.push(msg);
                collecting.last_at = now;
                false
            }
            None => {
                open.insert(
                    group.to_owned(),
                    Collecting { chat: msg.chat.id, parts: vec![msg], first_at: now, last_at: now },
                );
                true
            }
        }
    }

    /// The group's parts, oldest first, once it is complete.
    pub(crate) fn complete(&self, group: &str) -> Option<Vec<Message>> {
        let open = self.lock();
        let collecting = open.get(group)?;
        let done = collecting.last_at.elapsed() >= QUIET || collecting.first_at.elapsed() >= LONGEST;
        done.then(|| {
            let mut parts = collecting.parts.clone();
            parts.sort_by_key(|m| m.id.0);
            parts
        })
    }

    pub(crate) fn close(&self, group: &str) {
        self.lock().remove(group);
    }

    fn collecting_in(&self, chat: ChatId) -> bool {
        self.lock().values().any(|c| c.chat == chat)
    }

    /// Waits (bounded) until no album of `chat` is being collected or handled.
    pub async fn settled(&self, chat: ChatId) {
        let give_up = Instant::now() + LONGEST + QUIET * 2;
        while self.collecting_in(chat) && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
