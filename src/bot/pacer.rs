//! Keeps the bot's own calls within Telegram's limits where the `Throttle` adaptor does not.
//!
//! `Throttle` paces sends but lets edits straight through; the status messages are edited
//! a lot. Every outgoing message or edit of the bot first takes a turn here: at most one
//! per `chat_gap` in a chat, and at most `per_second` overall.
//!
//! Results go first: a status edit only takes a turn that is free right now (or is
//! skipped, and the status task tries again later with its newest text), so edits never
//! queue up ahead of results; a result waits for its chat's gap after the last message
//! sent there (not after edits), and its document follows its photo at once (a short
//! burst, which Telegram allows).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use teloxide::types::ChatId;
use tokio::time::Instant;

/// Hands out send times, per chat and overall.
pub struct Pacer {
    chat_gap: Duration,
    /// The bot's overall limit, shared by the replicas that send for it.
    per_second: u32,
    state: Mutex<Turns>,
}

/// What a turn is for.
#[derive(Clone, Copy, PartialEq)]
enum Turn {
    /// A message (or an edit that must go): one per `chat_gap` in its chat.
    Message,
    /// A status edit, taken only when free: like a message, but a result does not wait
    /// for it.
    Edit,
    /// A result's first part: one `chat_gap` after the chat's last sent message.
    Result,
    /// The rest of a result: an overall turn only.
    ResultRest,
}

/// Every this many overall turns, one is kept for results: a burst of messages to many
/// new users (questions, queue positions) never holds a finished result back for long.
const RESULT_TURN_EVERY: u64 = 3;

impl Turn {
    fn may_take(self, index: u64) -> bool {
        matches!(self, Turn::Result | Turn::ResultRest) || !index.is_multiple_of(RESULT_TURN_EVERY)
    }
}

struct Turns {
    /// The overall limit as slots of `1 s / per_second` (this process's share of it), each
    /// given to at most one call.
    slot: Duration,
    epoch: Instant,
    per_chat: HashMap<ChatId, Instant>,
    /// The last turn per chat that sent a message (not an edit).
    sends: HashMap<ChatId, Instant>,
    /// Overall slots already given out (indices from `epoch`).
    taken: BTreeSet<u64>,
}

impl Pacer {
    pub fn new(chat_gap: Duration, per_second: u32) -> Self {
        let turns = Turns {
            slot: Duration::from_secs(1) / per_second.max(1),
            epoch: Instant::now(),
            per_chat: HashMap::new(),
            sends: HashMap::new(),
            taken: BTreeSet::new(),
        };
        Self { chat_gap, per_second, state: Mutex::new(turns) }
    }

    /// `replicas` processes send for the bot now: this one keeps to its share of the
    /// overall limit (Telegram counts the bot's messages, not a process's).
    pub fn share_among(&self, replicas: usize) {
        let share = (self.per_second / u32::try_from(replicas.max(1)).unwrap_or(u32::MAX)).max(1);
        let slot = Duration::from_secs(1) / share;
        let mut turns = self.lock();
        if turns.slot != slot {
            tracing::info!(replicas, messages_per_second = share, "this replica's share of Telegram's limit");
            // Slots of the old length mean nothing in the new one: count anew from now.
            turns.slot = slot;
            turns.epoch = Instant::now();
            turns.taken.clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this call's turn in `chat`.
    pub async fn wait(&self, chat: ChatId) {
        let at = self.reserve(chat, Instant::now(), Turn::Message);
        tokio::time::sleep_until(at).await;
    }

    /// Waits for a turn for a result's first message (`first`) or the rest of it.
    pub async fn wait_result(&self, chat: ChatId, first: bool) {
        let turn = if first { Turn::Result } else { Turn::ResultRest };
        let at = self.reserve(chat, Instant::now(), turn);
        tokio::time::sleep_until(at).await;
    }

    /// Takes a turn for a status edit in `chat` if one is free now; `false` means skip
    /// the edit for now.
    pub fn try_edit(&self, chat: ChatId) -> bool {
        self.try_reserve(chat, Instant::now())
    }

    fn try_reserve(&self, chat: ChatId, now: Instant) -> bool {
        let turns = self.lock();
        if turns.per_chat.get(&chat).is_some_and(|last| *last + self.chat_gap > now) {
            return false;
        }
        let index = turns.index_of(now);
        if turns.taken.contains(&index) || !Turn::Edit.may_take(index) {
            return false;
        }
        drop(turns);
        self.reserve(chat, now, Turn::Edit);
        true
    }

    /// Books the earliest time at or after `now` allowed in `chat` and overall.
    fn reserve(&self, chat: ChatId, now: Instant, turn: Turn) -> Instant {
        let mut turns = self.lock();
        let after = |last: Option<&Instant>| last.map_or(now, |last| (*last + self.chat_gap).max(now));
        let chat_at = match turn {
            Turn::Message | Turn::Edit => after(turns.per_chat.get(&chat)),
            // A message booked far ahead (many new users at once) does not hold a result
            // back: the result goes first, the message keeps its turn.
            Turn::Result => match turns.sends.get(&chat) {
                Some(last) if *last > now + self.chat_gap => now,
                last => after(last),
            },
            Turn::ResultRest => now,
        };
        let (slot, epoch) = (turns.slot, turns.epoch);
        let slot_nanos = slot.as_nanos().max(1);
        let since = chat_at.saturating_duration_since(epoch).as_nanos();
        let mut index = u64::try_from(since.div_ceil(slot_nanos)).unwrap_or(u64::MAX);
        while turns.taken.contains(&index) || !turn.may_take(index) {
            index = index.saturating_add(1);
        }
        turns.taken.insert(index);
        let offset = slot.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
        let at = (epoch + offset).max(chat_at);
        let last = turns.per_chat.entry(chat).or_insert(at);
        *last = (*last).max(at);
        if turn != Turn::Edit {
            let sent = turns.sends.entry(chat).or_insert(at);
            *sent = (*sent).max(at);
        }
        // Forget what lies in the past so both maps stay small.
        let past = u64::try_from(now.saturating_duration_since(epoch).as_nanos() / slot_nanos).unwrap_or(0);
        turns.taken = turns.taken.split_off(&past.saturating_sub(1));
        if turns.per_chat.len() > 10_000 {
            let gap = self.chat_gap;
            turns.per_chat.retain(|_, last| *last + gap > now);
            turns.sends.retain(|_, last| *last + gap > now);
        }
        at
    }
}

impl Turns {
    fn index_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(since.div_ceil(self.slot.as_nanos().max(1))).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_gap_in_a_chat_and_spaced_overall() {
        let pacer = Pacer::new(Duration::from_secs(1), 10);
        let now = Instant::now();
        let a1 = pacer.reserve(ChatId(1), now, Turn::Message);
        let a2 = pacer.reserve(ChatId(1), now, Turn::Message);
        let b1 = pacer.reserve(ChatId(2), now, Turn::Message);
        assert!(a1 >= now && a1 < now + Duration::from_millis(100));
        assert!(a2 >= a1 + Duration::from_secs(1));
        // Chat 2 goes early, but not in the same overall slot as chat 1's first call.
        assert!(b1 >= a1 + Duration::from_millis(100) && b1 < a2);
        // Thirty messages in thirty chats take about three seconds at ten turns a second,
        // a third of which are kept for results: about four and a half.
        let last = (10..40).map(|c| pacer.reserve(ChatId(c), now, Turn::Message)).max().unwrap();
        assert!(last >= now + Duration::from_millis(4300), "{:?}", last - now);
        // A result still goes within a third of a second.
        let result = pacer.reserve(ChatId(99), now, Turn::ResultRest);
        assert!(result < now + Duration::from_millis(350), "{:?}", result - now);
    }

    #[test]
    fn edits_take_only_free_turns_and_results_skip_the_chat_gap() {
        let pacer = Pacer::new(Duration::from_secs(1), 10);
        // On a turn messages may take (the first is kept for results).
        let now = pacer.lock().epoch + Duration::from_millis(100);
        assert!(pacer.try_reserve(ChatId(1), now), "a free turn");
        assert!(!pacer.try_reserve(ChatId(1), now), "the chat had its turn this second");
        assert!(!pacer.try_reserve(ChatId(2), now), "this overall turn is taken");
        // A result right after the edit in the same chat: the next overall turn, and the
        // rest of it right after.
        let result = pacer.reserve(ChatId(1), now, Turn::Result);
        assert!(result < now + Duration::from_millis(250), "{:?}", result - now);
        let rest = pacer.reserve(ChatId(1), now, Turn::ResultRest);
        assert!(rest < now + Duration::from_millis(350), "{:?}", rest - now);
        // After a message sent in the chat, a result waits for the chat's gap.
        pacer.reserve(ChatId(5), now, Turn::Message);
        assert!(pacer.reserve(ChatId(5), now, Turn::Result) >= now + Duration::from_secs(1));
        // A message booked seconds ahead does not hold a result back.
        let ahead = now + Duration::from_secs(5);
        pacer.reserve(ChatId(6), ahead, Turn::Message);
        assert!(pacer.reserve(ChatId(6), now, Turn::ResultRest) < now + Duration::from_millis(500));
        assert!(pacer.reserve(ChatId(6), now, Turn::Result) < now + Duration::from_millis(500));
        // Thirty messages booked ahead do not make an edit wait: it is skipped instead.
        let later = now + Duration::from_millis(400);
        for c in 10..40 {
            pacer.reserve(ChatId(c), later, Turn::Message);
        }
        assert!(!pacer.try_reserve(ChatId(3), later));
    }

    #[test]
    fn replicas_share_the_overall_limit() {
        let pacer = Pacer::new(Duration::from_secs(1), 30);
        pacer.share_among(3);
        let now = pacer.lock().epoch;
        let times: Vec<_> = (1..=4).map(|c| pacer.reserve(ChatId(c), now, Turn::ResultRest)).collect();
        for pair in times.windows(2) {
            assert!(
                pair[1] >= pair[0] + Duration::from_millis(99),
                "10 a second each: {:?}",
                pair[1] - pair[0]
            );
        }
        pacer.share_among(1);
        let now = pacer.lock().epoch;
        let a = pacer.reserve(ChatId(9), now, Turn::ResultRest);
        let b = pacer.reserve(ChatId(10), now, Turn::ResultRest);
        assert!(b - a < Duration::from_millis(40), "alone again: the whole limit");
    }
}
