//! The fake Bot API's bookkeeping: chats and their messages, pending updates, stored
//! files, callback queries, the call log and scripted faults.
//!
//! Plain data behind one `std::sync::Mutex`; the long poll waits on a `Notify` outside
//! the lock.

use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use super::calls::{Call, TgFault};
use super::screen::{BotMessage, MessageKind};

/// Telegram's id of the fake bot.
pub(crate) const BOT_ID: i64 = 7_000_000_001;
/// The fake bot's username.
pub(crate) const BOT_USERNAME: &str = "backdrop_test_bot";

/// A user known to the fake (created by `FakeTelegram::user`).
#[derive(Debug, Clone)]
pub(crate) struct UserInfo {
    pub(crate) first_name: String,
    pub(crate) language_code: Option<String>,
    /// Sends to this user's chat answer 403 "bot was blocked by the user".
    pub(crate) blocked: bool,
}

/// A message the bot sent, with what's needed to render it again.
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub(crate) message_id: i64,
    pub(crate) date: i64,
    pub(crate) kind: MessageKind,
    pub(crate) text: String,
    /// `photo` array or `document` object of the message JSON.
    pub(crate) media: Option<Value>,
    pub(crate) reply_markup: Option<Value>,
    pub(crate) file: Option<Bytes>,
    pub(crate) file_name: Option<String>,
    pub(crate) edited: usize,
    pub(crate) edit_date: Option<i64>,
    pub(crate) deleted: bool,
    /// The album it was sent in (sendMediaGroup).
    pub(crate) media_group_id: Option<String>,
}

impl StoredMessage {
    pub(crate) fn view(&self) -> BotMessage {
        BotMessage {
            message_id: self.message_id,
            kind: self.kind,
            text_or_caption: self.text.clone(),
            reply_markup: self.reply_markup.clone(),
            file: self.file.as_ref().map(|b| b.to_vec()),
            file_name: self.file_name.clone(),
            edited: self.edited,
            deleted: self.deleted,
            media_group_id: self.media_group_id.clone(),
        }
    }
}

/// One chat (private chats only: chat id = owner's user id).
#[derive(Debug, Default)]
pub(crate) struct ChatState {
    pub(crate) next_message_id: i64,
    pub(crate) bot_messages: Vec<StoredMessage>,
}

/// A file Telegram stores (user uploads and bot uploads alike).
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub(crate) file_id: String,
    pub(crate) unique_id: String,
    pub(crate) path: String,
    pub(crate) bytes: Bytes,
}

/// All mutable state of one fake Bot API.
#[derive(Default)]
pub(crate) struct BotApiState {
    pub(crate) tokens: Vec<String>,
    pub(crate) next_update_id: i64,
    pub(crate) updates: VecDeque<(i64, Value)>,
    pub(crate) users: HashMap<i64, UserInfo>,
    pub(crate) chats: HashMap<i64, ChatState>,
    pub(crate) files: HashMap<String, StoredFile>,
    pub(crate) file_by_path: HashMap<String, String>,
    pub(crate) next_file: u64,
    /// The last album's number (sendMediaGroup's `media_group_id`).
    pub(crate) next_media_group: u64,
    pub(crate) calls: Vec<Call>,
    pub(crate) faults: HashMap<String, VecDeque<TgFault>>,
    pub(crate) commands: Option<Value>,
    /// Callback query id -> answered?
    pub(crate) callbacks: Vec<(String, bool)>,
    pub(crate) next_callback: u64,
    pub(crate) unknown_methods: Vec<String>,
    pub(crate) webhook_url: String,
    pub(crate) webhook_secret: Option<String>,
    pub(crate) webhook_pushes: Vec<super::webhook::WebhookPush>,
}

/// Unix time now (messages need a non-zero date: `date: 0` means "inaccessible").
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1)
}

impl BotApiState {
    pub(crate) fn new() -> Self {
        BotApiState { next_update_id: 1, ..Default::default() }
    }

    /// Queues an update; returns its id.
    pub(crate) fn push_update(&mut self, kind: &str, payload: Value) -> i64 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        self.updates.push_back((id, json!({ "update_id": id, kind: payload })));
        id
    }

    /// The next message id of `chat_id` (ids are per chat, shared by both sides).
    pub(crate) fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let chat = self.chats.entry(chat_id).or_default();
        chat.next_message_id += 1;
        chat.next_message_id
    }

    /// Stores `bytes` under a fresh file id; `folder` is `photos` or `documents`.
    pub(crate) fn store_file(&mut self, bytes: Bytes, folder: &str, ext: &str) -> StoredFile {
        self.next_file += 1;
        let n = self.next_file;
        let file = StoredFile {
            file_id: format!("AgACAgIAAxkBAAI{n:08}fake"),
            unique_id: format!("AQAD{n:06}"),
            path: format!("{folder}/file_{n}.{ext}"),
            bytes,
        };
        self.file_by_path.insert(file.path.clone(), file.file_id.clone());
        self.files.insert(file.file_id.clone(), file.clone());
        file
    }

    pub(crate) fn message(&self, chat_id: i64, message_id: i64) -> Option<&StoredMessage> {
        self.chats.get(&chat_id)?.bot_messages.iter().find(|m| m.message_id == message_id)
    }

    pub(crate) fn message_mut(&mut self, chat_id: i64, message_id: i64) -> Option<&mut StoredMessage> {
        self.chats.get_mut(&chat_id)?.bot_messages.iter_mut().find(|m| m.message_id == message_id)
    }
}
