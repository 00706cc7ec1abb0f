//! Keeps the bot's own calls within Telegram's limits where the `Throttle` adaptor does not.
//!
//! `Throttle` paces sends but lets edits straight through; the status messages are edited
//! a lot. Every outgoing message or edit of the bot first takes a turn here: at most one
//! per `chat_gap` in a chat, and at most `per_second` overall.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use teloxide::types::ChatId;
use tokio::time::Instant;

/// Hands out send times, per chat and overall.
pub struct Pacer {
    chat_gap: Duration,
    /// The overall limit as slots of `1 s / per_second`, each given to at most one call.
    slot: Duration,
    epoch: Instant,
    state: Mutex<Turns>,
}

#[derive(Default)]
struct Turns {
    per_chat: HashMap<ChatId, Instant>,
    /// Overall slots already given out (indices from `epoch`).
    taken: BTreeSet<u64>,
}

impl Pacer {
    pub fn new(chat_gap: Duration, per_second: u32) -> Self {
        let slot = Duration::from_secs(1) / per_second.max(1);
        Self { chat_gap, slot, epoch: Instant::now(), state: Mutex::default() }
    }

    /// Waits for this call's turn in `chat`.
    pub async fn wait(&self, chat: ChatId) {
        let at = self.reserve(chat, Instant::now());
        tokio::time::sleep_until(at).await;
    }

    /// Books the earliest time at or after `now` allowed in `chat` and overall.
    fn reserve(&self, chat: ChatId, now: Instant) -> Instant {
        let mut turns = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let chat_at = turns.per_chat.get(&chat).map_or(now, |last| (*last + self.chat_gap).max(now));
        let slot_nanos = self.slot.as_nanos().max(1);
        let since = chat_at.saturating_duration_since(self.epoch).as_nanos();
        let mut index = u64::try_from(since.div_ceil(slot_nanos)).unwrap_or(u64::MAX);
        while turns.taken.contains(&index) {
            index = index.saturating_add(1);
        }
        turns.taken.insert(index);
        let offset = self.slot.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
        let at = (self.epoch + offset).max(chat_at);
        turns.per_chat.insert(chat, at);
        // Forget what lies in the past so both maps stay small.
        let past =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos() / slot_nanos).unwrap_or(0);
        turns.taken = turns.taken.split_off(&past.saturating_sub(1));
        if turns.per_chat.len() > 10_000 {
            let gap = self.chat_gap;
            turns.per_chat.retain(|_, last| *last + gap > now);
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_gap_in_a_chat_and_spaced_overall() {
        let pacer = Pacer::new(Duration::from_secs(1), 10);
        let now = Instant::now();
        let a1 = pacer.reserve(ChatId(1), now);
        let a2 = pacer.reserve(ChatId(1), now);
        let b1 = pacer.reserve(ChatId(2), now);
        assert!(a1 >= now && a1 < now + Duration::from_millis(100));
        assert!(a2 >= a1 + Duration::from_secs(1));
        // Chat 2 goes early, but not in the same overall slot as chat 1's first call.
        assert!(b1 >= a1 + Duration::from_millis(100) && b1 < a2);
        // Thirty calls in thirty chats take about three seconds at ten per second.
        let last = (10..40).map(|c| pacer.reserve(ChatId(c), now)).max().unwrap();
        assert!(last >= now + Duration::from_millis(2900), "{:?}", last - now);
    }
}
