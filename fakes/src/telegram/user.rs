//! A simulated Telegram user talking to the bot.
//!
//! Each action queues the update Telegram would deliver (with the exact JSON shapes
//! teloxide expects) and wakes the bot's long poll.

use bytes::Bytes;
use serde_json::{Value, json};

use super::FakeTelegram;
use super::json as tj;
use super::state::UserInfo;
use crate::image_bytes::{sniff_mime, solid_png};

/// A user of the fake Telegram, acting in a chat (their private chat by default).
#[derive(Clone, Debug)]
pub struct FakeUser {
    tg: FakeTelegram,
    id: i64,
    chat_id: i64,
}

impl FakeUser {
    pub(crate) fn new(tg: FakeTelegram, id: i64, chat_id: i64) -> Self {
        FakeUser { tg, id, chat_id }
    }

    /// The user id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The chat this handle acts in.
    pub fn chat_id(&self) -> i64 {
        self.chat_id
    }

    /// The same user acting in another chat (for forged button presses).
    pub fn in_chat(&self, chat_id: i64) -> FakeUser {
        FakeUser { tg: self.tg.clone(), id: self.id, chat_id }
    }

    /// Makes sends to this user's chat fail with 403 "bot was blocked by the user".
    pub fn set_blocked(&self, blocked: bool) {
        if let Some(u) = self.tg.lock().users.get_mut(&self.id) {
            u.blocked = blocked;
        }
    }

    fn info(&self) -> UserInfo {
        self.tg.lock().users.get(&self.id).cloned().unwrap_or(UserInfo {
            first_name: format!("User{}", self.id),
            language_code: None,
            blocked: false,
        })
    }

    /// Queues a message update with `content` merged in; returns its message id.
    fn send(&self, content: Value) -> i64 {
        let from = tj::user(self.id, &self.info());
        let mut state = self.tg.lock();
        let message_id = state.next_message_id(self.chat_id);
        let owner = state.users.get(&self.chat_id).cloned();
        let mut msg = tj::user_message(message_id, self.chat_id, owner.as_ref(), from);
        if let (Some(m), Value::Object(c)) = (msg.as_object_mut(), content) {
            m.extend(c);
        }
        state.push_update("message", msg);
        drop(state);
        self.tg.notify_updates();
        message_id
    }

    /// Sends a plain text message.
    pub fn send_text(&self, text: &str) -> i64 {
        self.send(json!({ "text": text }))
    }

    /// Sends a command such as `/start` or `/cancel` (with its `bot_command` entity).
    pub fn send_command(&self, command: &str) -> i64 {
        let len = command.split_whitespace().next().unwrap_or("").encode_utf16().count();
        self.send(json!({
            "text": command,
            "entities": [{ "type": "bot_command", "offset": 0, "length": len }],
        }))
    }

    fn photo_content(&self, bytes: Vec<u8>) -> Value {
        let bytes = Bytes::from(bytes);
        let mut state = self.tg.lock();
        let thumb = state.store_file(bytes.clone(), "photos", "jpg");
        let full = state.store_file(bytes, "photos", "jpg");
        tj::photo_sizes(&thumb, &full)
    }

    /// Sends a compressed photo: `message.photo` has two sizes, the last (largest) is
    /// exactly `bytes` (dimensions read from the PNG/JPEG header).
    pub fn send_photo(&self, bytes: Vec<u8>) -> i64 {
        let photo = self.photo_content(bytes);
        self.send(json!({ "photo": photo }))
    }

    /// Sends a photo with a caption.
    pub fn send_photo_with_caption(&self, bytes: Vec<u8>, caption: &str) -> i64 {
        let photo = self.photo_content(bytes);
        self.send(json!({ "photo": photo, "caption": caption }))
    }

    /// Sends several photos as an album: one update each, sharing `media_group_id`.
    pub fn send_album(&self, photos: Vec<Vec<u8>>) -> Vec<i64> {
        let group = format!("1{:016}", self.tg.lock().next_update_id);
        photos
            .into_iter()
            .map(|b| {
                let photo = self.photo_content(b);
                self.send(json!({ "photo": photo, "media_group_id": group }))
            })
            .collect()
    }

    /// Sends a file ("as a document") with the name and MIME type the sender's app chose.
    pub fn send_document(&self, bytes: Vec<u8>, file_name: &str, mime_type: &str) -> i64 {
        let ext = file_name.rsplit_once('.').map_or("bin", |(_, e)| e).to_owned();
        let stored = self.tg.lock().store_file(Bytes::from(bytes), "documents", &ext);
        self.send(json!({ "document": tj::document(&stored, file_name, mime_type) }))
    }

    /// Sends a document whose MIME type is guessed from the bytes.
    pub fn send_file(&self, bytes: Vec<u8>, file_name: &str) -> i64 {
        let mime = sniff_mime(&bytes);
        self.send_document(bytes, file_name, mime)
    }

    /// Sends a static sticker.
    pub fn send_sticker(&self) -> i64 {
        let stored =
            self.tg.lock().store_file(Bytes::from(solid_png(64, 64, [0, 200, 0])), "stickers", "webp");
        self.send(json!({ "sticker": {
            "file_id": stored.file_id, "file_unique_id": stored.unique_id,
            "file_size": stored.bytes.len(), "width": 512, "height": 512,
            "type": "regular", "is_animated": false, "is_video": false, "emoji": "👍",
        }}))
    }

    /// Presses an inline button: queues a callback query with `data` on bot message
    /// `message_id` of this handle's chat. If that message does not exist (or was
    /// deleted) the query carries an inaccessible message (`date: 0`), as Telegram does.
    /// Returns the callback query id.
    pub fn press_button(&self, message_id: i64, data: &str) -> String {
        let from = tj::user(self.id, &self.info());
        let mut state = self.tg.lock();
        let owner = state.users.get(&self.chat_id).cloned();
        let message = match state.message(self.chat_id, message_id) {
            Some(m) if !m.deleted => tj::bot_message(self.chat_id, owner.as_ref(), m),
            _ => json!({
                "message_id": message_id, "date": 0,
                "chat": tj::private_chat(self.chat_id, owner.as_ref()),
            }),
        };
        state.next_callback += 1;
        let id = format!("{}{:06}", self.id.unsigned_abs(), state.next_callback);
        state.callbacks.push((id.clone(), false));
        state.push_update(
            "callback_query",
            json!({
                "id": id, "from": from, "message": message,
                "chat_instance": format!("-{}", self.chat_id.unsigned_abs() + 1000),
                "data": data,
            }),
        );
        drop(state);
        self.tg.notify_updates();
        id
    }

    /// The bot's messages in this handle's chat (see [`FakeTelegram::messages`]).
    pub fn messages(&self) -> Vec<super::BotMessage> {
        self.tg.messages(self.chat_id)
    }

    /// The newest non-deleted bot message in this handle's chat.
    pub fn last_message(&self) -> Option<super::BotMessage> {
        self.tg.last_message(self.chat_id)
    }
}
