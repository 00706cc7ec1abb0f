//! Fake Telegram Bot API server for teloxide 0.17.
//!
//! It exists so the bot can be tested end to end through teloxide itself: tests play
//! users ([`FakeUser`]: texts, commands, photos, documents, stickers, button presses), the
//! bot long-polls `getUpdates` as in production, and tests assert on what the bot did —
//! the ordered call log ([`Call`]) or each chat's current "screen" ([`BotMessage`]).
//! Point the bot at [`FakeTelegram::url`] (e.g. via `TELEGRAM_API_URL`); any token works.

mod calls;
mod html;
mod json;
mod methods;
mod params;
mod routes;
mod screen;
mod state;
mod user;
mod webhook;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, watch};

pub use calls::{Call, TgFault};
pub use screen::{BotMessage, MessageKind};
pub use user::FakeUser;
pub use webhook::WebhookPush;

use crate::server::ServerHandle;
use state::{BotApiState, UserInfo};

/// BotApiState shared by the handlers and the test-facing handle.
pub(crate) struct Shared {
    state: Mutex<BotApiState>,
    /// Woken whenever an update is queued (the long poll waits on it).
    updates_changed: Notify,
    stop: watch::Receiver<bool>,
}

impl Shared {
    /// Locks the state; a panic elsewhere never poisons the fake for later calls.
    pub(crate) fn lock(&self) -> MutexGuard<'_, BotApiState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake Bot API server. Cheap to clone; the server stops when the last clone
/// is dropped or [`FakeTelegram::shutdown`] is called.
#[derive(Clone)]
pub struct FakeTelegram {
    shared: Arc<Shared>,
    server: Arc<ServerHandle>,
    url: String,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram").field("url", &self.url).finish()
    }
}

impl FakeTelegram {
    /// Starts a fake on `127.0.0.1:<ephemeral>`. Must be called inside a tokio runtime.
    pub async fn start() -> FakeTelegram {
        let (listener, addr) = ServerHandle::bind().await;
        let url = format!("http://{addr}");
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(BotApiState::new()),
            updates_changed: Notify::new(),
            stop: stop_rx,
        });
        let router = routes::router(shared.clone());
        let server = ServerHandle::serve(listener, router, stop_tx);
        webhook::spawn_pusher(shared.clone());
        FakeTelegram { shared, server: Arc::new(server), url }
    }

    /// Base URL without a trailing slash (what `Bot::set_api_url` / `TELEGRAM_API_URL`
    /// take).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The fake bot's username (`backdrop_test_bot`), as getMe reports it.
    pub fn bot_username(&self) -> &'static str {
        state::BOT_USERNAME
    }

    /// The fake bot's user id, as getMe reports it.
    pub fn bot_id(&self) -> i64 {
        state::BOT_ID
    }

    /// Stops the server; pending long polls return at once.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, BotApiState> {
        self.shared.lock()
    }

    pub(crate) fn notify_updates(&self) {
        // Wakes the long polls and the webhook pusher.
        self.shared.updates_changed.notify_waiters();
    }

    /// A user with a private chat (chat id = `id`). Sends to unknown chats answer
    /// "chat not found", so create every user the bot should be able to reach.
    pub fn user(&self, id: i64, language_code: Option<&str>) -> FakeUser {
        let info = UserInfo {
            first_name: format!("User{id}"),
            language_code: language_code.map(str::to_owned),
            blocked: false,
        };
        let mut state = self.lock();
        state.users.insert(id, info);
        state.chats.entry(id).or_default();
        drop(state);
        FakeUser::new(self.clone(), id, id)
    }

    /// A callback query from `as_user` on a bot message in someone else's chat
    /// (`chat_id`): an attempt to press a button of another user's message.
    pub fn forge_press(&self, as_user: &FakeUser, chat_id: i64, message_id: i64, data: &str) -> String {
        as_user.in_chat(chat_id).press_button(message_id, data)
    }

    // ---- faults ---------------------------------------------------------------------

    /// The next `n` calls of `method` (case-insensitive) fail with `fault`.
    pub fn fail_next(&self, method: &str, n: usize, fault: TgFault) {
        let mut state = self.lock();
        let q = state.faults.entry(method.to_ascii_lowercase()).or_default();
        q.extend(std::iter::repeat_n(fault, n));
    }

    // ---- observation ----------------------------------------------------------------

    /// Every call the bot made, in arrival order (getUpdates included).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Calls whose `chat_id` is `chat_id`.
    pub fn calls_for(&self, chat_id: i64) -> Vec<Call> {
        self.lock().calls.iter().filter(|c| c.chat_id == Some(chat_id)).cloned().collect()
    }

    /// Calls of one method (case-insensitive).
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.lock().calls.iter().filter(|c| c.is(method)).cloned().collect()
    }

    /// Tokens the bot used (distinct, in first-use order).
    pub fn tokens(&self) -> Vec<String> {
        self.lock().tokens.clone()
    }

    /// Names of unknown methods the bot called.
    pub fn unknown_methods(&self) -> Vec<String> {
        self.lock().unknown_methods.clone()
    }

    /// The commands of the last setMyCommands (the JSON array as sent).
    pub fn commands(&self) -> Option<Value> {
        self.lock().commands.clone()
    }

    /// The bot's messages in `chat_id` in their current state (deleted ones included,
    /// flagged), oldest first.
    pub fn messages(&self, chat_id: i64) -> Vec<BotMessage> {
        self.lock()
            .chats
            .get(&chat_id)
            .map(|c| c.bot_messages.iter().map(|m| m.view()).collect())
            .unwrap_or_default()
    }

    /// The newest bot message in `chat_id` that is not deleted.
    pub fn last_message(&self, chat_id: i64) -> Option<BotMessage> {
        self.messages(chat_id).into_iter().rev().find(|m| !m.deleted)
    }

    /// A readable dump of a chat's screen, for assertion messages:
    /// one line per bot message with its kind, text, buttons and edit/delete state.
    pub fn dump(&self, chat_id: i64) -> String {
        self.messages(chat_id)
            .iter()
            .map(|m| {
                let buttons: Vec<String> =
                    m.buttons().into_iter().map(|(t, d)| format!("[{t}|{d}]")).collect();
                format!(
                    "#{} {:?}{}{} {:?} {}",
                    m.message_id,
                    m.kind,
                    if m.edited > 0 { format!(" edited×{}", m.edited) } else { String::new() },
                    if m.deleted { " DELETED" } else { "" },
                    m.text_or_caption,
                    buttons.join(" "),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// [`dump`](Self::dump) of every chat, then the methods called in order: what a test
    /// that waited in vain prints.
    pub fn dump_all(&self) -> String {
        let mut chats: Vec<i64> = self.lock().chats.keys().copied().collect();
        chats.sort_unstable();
        let screens: Vec<String> =
            chats.into_iter().map(|chat| format!("chat {chat}:\n{}", self.dump(chat))).collect();
        // Runs of one method shown once with their count: polling repeats itself.
        let mut methods: Vec<(String, usize)> = Vec::new();
        for call in self.calls() {
            match methods.last_mut() {
                Some((method, n)) if *method == call.method => *n += 1,
                _ => methods.push((call.method, 1)),
            }
        }
        let methods: Vec<String> = methods
            .into_iter()
            .map(|(m, n)| if n > 1 { format!("{m}x{n}") } else { m })
            .collect();
        format!("{}\ncalls: {}", screens.join("\n"), methods.join(" "))
    }

    /// Updates queued and not yet confirmed by a getUpdates offset.
    pub fn pending_updates(&self) -> usize {
        self.lock().updates.len()
    }

    /// Callback query ids the bot has not answered with answerCallbackQuery.
    pub fn unanswered_callbacks(&self) -> Vec<String> {
        self.lock().callbacks.iter().filter(|(_, a)| !a).map(|(id, _)| id.clone()).collect()
    }

    /// The URL set with setWebhook (empty in long-polling mode).
    pub fn webhook_url(&self) -> String {
        self.lock().webhook_url.clone()
    }

    /// Every webhook POST made so far (webhook mode only).
    pub fn webhook_pushes(&self) -> Vec<WebhookPush> {
        self.lock().webhook_pushes.clone()
    }

    /// Bytes of any stored file (user or bot upload) by file_id.
    pub fn file(&self, file_id: &str) -> Option<Vec<u8>> {
        self.lock().files.get(file_id).map(|f| f.bytes.to_vec())
    }

    /// The most successful message-creating calls (sendMessage/sendPhoto/sendDocument)
    /// to `chat_id` within any 1-second window.
    pub fn max_sends_per_second(&self, chat_id: i64) -> usize {
        let times: Vec<_> = self
            .lock()
            .calls
            .iter()
            .filter(|c| c.ok && c.chat_id == Some(chat_id) && methods::creates_message(&c.method))
            .map(|c| c.at)
            .collect();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= Duration::from_secs(1) {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    /// Polls `cond` every 10 ms until it holds (true) or `timeout` passes (false).
    pub async fn wait_for(&self, mut cond: impl FnMut(&FakeTelegram) -> bool, timeout: Duration) -> bool {
        crate::wait::poll_until(|| cond(self), timeout).await
    }
}
