//! Bot API objects as JSON, in the shapes teloxide-core 0.13 deserializes.
//!
//! Verified against teloxide-core's types: `Me` needs `can_join_groups`,
//! `can_read_all_group_messages`, `supports_inline_queries` and `has_main_web_app`;
//! a `Message` with `date: 0` is read as *inaccessible*, so real messages carry the current
//! time; `Message.reply_markup` must be an inline keyboard (other markups are not echoed).

use serde_json::{Value, json};

use super::state::{BOT_ID, BOT_USERNAME, StoredFile, StoredMessage, UserInfo, unix_now};
use crate::image_bytes::dimensions;

/// The bot's `User`.
pub(crate) fn bot_user() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "Backdrop Test", "username": BOT_USERNAME })
}

/// The `getMe` result.
pub(crate) fn me() -> Value {
    let mut v = bot_user();
    let o = v.as_object_mut().expect("object");
    o.insert("can_join_groups".into(), json!(true));
    o.insert("can_read_all_group_messages".into(), json!(false));
    o.insert("supports_inline_queries".into(), json!(false));
    o.insert("can_connect_to_business".into(), json!(false));
    o.insert("has_main_web_app".into(), json!(false));
    v
}

/// A human `User`.
pub(crate) fn user(id: i64, info: &UserInfo) -> Value {
    let mut v = json!({ "id": id, "is_bot": false, "first_name": info.first_name });
    if let Some(lang) = &info.language_code {
        v["language_code"] = json!(lang);
    }
    v
}

/// The private `Chat` of user `chat_id`.
pub(crate) fn private_chat(chat_id: i64, owner: Option<&UserInfo>) -> Value {
    let name = owner.map_or("User", |u| u.first_name.as_str());
    json!({ "id": chat_id, "type": "private", "first_name": name })
}

/// `PhotoSize` entries for a photo: a small thumbnail size and the full size (both point
/// at the same bytes; Telegram would re-encode them).
pub(crate) fn photo_sizes(thumb: &StoredFile, full: &StoredFile) -> Value {
    let (w, h) = dimensions(&full.bytes).unwrap_or((800, 600));
    let scale = (320.0 / w.max(h).max(1) as f64).min(1.0);
    let (tw, th) = (((w as f64) * scale).round().max(1.0), ((h as f64) * scale).round().max(1.0));
    json!([
        { "file_id": thumb.file_id, "file_unique_id": thumb.unique_id,
          "file_size": thumb.bytes.len(), "width": tw as u32, "height": th as u32 },
        { "file_id": full.file_id, "file_unique_id": full.unique_id,
          "file_size": full.bytes.len(), "width": w, "height": h },
    ])
}

/// A `Document`.
pub(crate) fn document(file: &StoredFile, file_name: &str, mime_type: &str) -> Value {
    json!({ "file_id": file.file_id, "file_unique_id": file.unique_id,
            "file_size": file.bytes.len(), "file_name": file_name, "mime_type": mime_type })
}

/// A `File` (getFile result).
pub(crate) fn file(f: &StoredFile) -> Value {
    json!({ "file_id": f.file_id, "file_unique_id": f.unique_id,
            "file_size": f.bytes.len(), "file_path": f.path })
}

/// A message the bot sent, in its current state.
pub(crate) fn bot_message(chat_id: i64, owner: Option<&UserInfo>, m: &StoredMessage) -> Value {
    let mut v = json!({
        "message_id": m.message_id,
        "date": m.date,
        "chat": private_chat(chat_id, owner),
        "from": bot_user(),
    });
    match m.kind {
        super::screen::MessageKind::Text => v["text"] = json!(m.text),
        super::screen::MessageKind::Photo => {
            v["photo"] = m.media.clone().unwrap_or(json!([]));
        }
        super::screen::MessageKind::Document => {
            v["document"] = m.media.clone().unwrap_or(json!({}));
        }
    }
    if m.kind != super::screen::MessageKind::Text && !m.text.is_empty() {
        v["caption"] = json!(m.text);
    }
    if let Some(markup) = m.reply_markup.as_ref().filter(|r| r.get("inline_keyboard").is_some()) {
        v["reply_markup"] = markup.clone();
    }
    if let Some(d) = m.edit_date {
        v["edit_date"] = json!(d);
    }
    if let Some(group) = &m.media_group_id {
        v["media_group_id"] = json!(group);
    }
    v
}

/// The skeleton of a message a user sends (the caller adds text/photo/…).
pub(crate) fn user_message(message_id: i64, chat_id: i64, owner: Option<&UserInfo>, from: Value) -> Value {
    json!({
        "message_id": message_id,
        "date": unix_now(),
        "chat": private_chat(chat_id, owner),
        "from": from,
    })
}
