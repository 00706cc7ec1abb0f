//! The Bot API methods the fake implements (all but the long poll, which is async).
//!
//! Each behaves like Telegram for the cases a bot meets: it validates the chat, the
//! message to edit, text/caption lengths and callback data, and answers with Telegram's
//! own error descriptions (teloxide maps several of them to typed errors, e.g.
//! `MessageNotModified`).

use serde_json::{Value, json};

use super::html;
use super::json as tj;
use super::params::{FilePart, Params};
use super::screen::MessageKind;
use super::state::{BotApiState, StoredMessage, unix_now};
use crate::image_bytes::{dimensions, sniff_mime};

/// A Bot API error answer (`ok: false`).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) description: String,
    pub(crate) retry_after: Option<u32>,
}

pub(crate) fn bad_request(what: &str) -> ApiError {
    ApiError { code: 400, description: format!("Bad Request: {what}"), retry_after: None }
}

type Res = Result<Value, ApiError>;

/// Methods the fake knows, by lowercase name, with teloxide's PascalCase spelling.
const METHODS: &[&str] = &[
    "GetMe",
    "GetWebhookInfo",
    "DeleteWebhook",
    "SetWebhook",
    "SetMyCommands",
    "GetMyCommands",
    "DeleteMyCommands",
    "GetUpdates",
    "SendMessage",
    "SendPhoto",
    "SendDocument",
    "SendMediaGroup",
    "EditMessageText",
    "EditMessageCaption",
    "EditMessageReplyMarkup",
    "EditMessageMedia",
    "SetMyDescription",
    "SetMyShortDescription",
    "SetMyName",
    "SetChatMenuButton",
    "DeleteMessage",
    "AnswerCallbackQuery",
    "SendChatAction",
    "GetFile",
    "LogOut",
    "Close",
];

/// The canonical name of a known method, matched case-insensitively.
pub(crate) fn canonical(method: &str) -> Option<&'static str> {
    METHODS.iter().copied().find(|m| m.eq_ignore_ascii_case(method))
}

/// Methods that create a message in a chat (for rate observations).
pub(crate) fn creates_message(method: &str) -> bool {
    matches!(method, "SendMessage" | "SendPhoto" | "SendDocument" | "SendMediaGroup")
}

/// The file given for `field` (`photo`/`document`): an `attach://` part, a direct part,
/// or an existing file_id. `Ok(None)` when absent.
pub(crate) fn input_file(
    state: &BotApiState,
    params: &Params,
    field: &str,
) -> Result<Option<FilePart>, ApiError> {
    match params.str(field) {
        Some(value) => resolve_source(state, params, &value, field).map(Some),
        None => Ok(params.files.get(field).cloned()),
    }
}

/// Resolves `attach://<name>` to its uploaded part, or a file_id to a stored file.
fn resolve_source(
    state: &BotApiState,
    params: &Params,
    value: &str,
    field: &str,
) -> Result<FilePart, ApiError> {
    if let Some(name) = value.strip_prefix("attach://") {
        return params
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| bad_request(&format!("there is no {field} in the request")));
    }
    match state.files.get(value) {
        Some(f) => Ok(FilePart {
            bytes: f.bytes.clone(),
            file_name: f.path.rsplit('/').next().map(str::to_owned),
            content_type: None,
        }),
        None => Err(bad_request("wrong file identifier/HTTP URL specified")),
    }
}

/// Stores an outgoing photo/document; returns the message's `photo`/`document` JSON and
/// the document's file name.
fn store_media(
    state: &mut BotApiState,
    kind: MessageKind,
    part: FilePart,
) -> Result<(Value, Option<String>), ApiError> {
    let FilePart { bytes, file_name, content_type } = part;
    if kind == MessageKind::Photo {
        check_photo(&bytes)?;
        let thumb = state.store_file(bytes.clone(), "photos", "jpg");
        let full = state.store_file(bytes, "photos", "jpg");
        return Ok((tj::photo_sizes(&thumb, &full), None));
    }
    if bytes.len() > 50 * 1024 * 1024 {
        return Err(ApiError {
            code: 413,
            description: "Request Entity Too Large".into(),
            retry_after: None,
        });
    }
    let name = file_name.unwrap_or_else(|| "file".to_owned());
    let ext = name.rsplit_once('.').map_or("bin", |(_, e)| e).to_owned();
    let mime = content_type
        .filter(|c| c != "application/octet-stream")
        .unwrap_or_else(|| sniff_mime(&bytes).to_owned());
    let stored = state.store_file(bytes, "documents", &ext);
    Ok((tj::document(&stored, &name, &mime), Some(name)))
}

/// Runs one synchronous method.
pub(crate) fn handle(state: &mut BotApiState, method: &str, p: &Params) -> Res {
    match method {
        "GetMe" => Ok(tj::me()),
        "GetWebhookInfo" => Ok(json!({
            "url": state.webhook_url, "has_custom_certificate": false,
            "pending_update_count": state.updates.len(),
        })),
        "DeleteWebhook" => {
            state.webhook_url.clear();
            state.webhook_secret = None;
            if p.bool("drop_pending_updates") {
                state.updates.clear();
            }
            Ok(json!(true))
        }
        "SetWebhook" => {
            state.webhook_url = p.str("url").unwrap_or_default();
            state.webhook_secret = p.str("secret_token").filter(|s| !s.is_empty());
            if p.bool("drop_pending_updates") {
                state.updates.clear();
            }
            Ok(json!(true))
        }
        "SetMyCommands" => {
            state.commands = Some(p.object("commands").unwrap_or(json!([])));
            Ok(json!(true))
        }
        "GetMyCommands" => Ok(state.commands.clone().unwrap_or(json!([]))),
        "DeleteMyCommands" => {
            state.commands = None;
            Ok(json!(true))
        }
        "LogOut" | "Close" => Ok(json!(true)),
        "SendMessage" => send(state, p, MessageKind::Text),
        "SendPhoto" => send(state, p, MessageKind::Photo),
        "SendDocument" => send(state, p, MessageKind::Document),
        "SendMediaGroup" => send_media_group(state, p),
        "EditMessageText" => edit(state, p, Edit::Text),
        "EditMessageCaption" => edit(state, p, Edit::Caption),
        "EditMessageReplyMarkup" => edit(state, p, Edit::Markup),
        "EditMessageMedia" => edit_media(state, p),
        "SetMyDescription" | "SetMyShortDescription" | "SetMyName" | "SetChatMenuButton" => Ok(json!(true)),
        "DeleteMessage" => {
            let chat_id = chat(state, p)?;
            let id = p.i64("message_id").ok_or_else(|| bad_request("message identifier is not specified"))?;
            match state.message_mut(chat_id, id) {
                Some(m) if !m.deleted => {
                    m.deleted = true;
                    Ok(json!(true))
                }
                _ => Err(bad_request("message to delete not found")),
            }
        }
        "AnswerCallbackQuery" => {
            let id = p.str("callback_query_id").unwrap_or_default();
            match state.callbacks.iter_mut().find(|(cid, _)| *cid == id) {
                Some((_, answered)) if !*answered => {
                    *answered = true;
                    Ok(json!(true))
                }
                _ => Err(bad_request("query is too old and response timeout expired or query ID is invalid")),
            }
        }
        "SendChatAction" => {
            chat(state, p)?;
            Ok(json!(true))
        }
        "GetFile" => {
            let id = p.str("file_id").unwrap_or_default();
            let f = state.files.get(&id).ok_or_else(|| bad_request("invalid file_id"))?;
            if f.bytes.len() > 20 * 1024 * 1024 {
                return Err(bad_request("file is too big"));
            }
            Ok(tj::file(f))
        }
        other => Err(ApiError {
            code: 404,
            description: format!("Not Found: method {other} is handled elsewhere"),
            retry_after: None,
        }),
    }
}

/// The visible text of a text/caption field under the call's `parse_mode`: HTML is
/// validated and stripped like Telegram does; other modes are kept verbatim.
fn visible(p: &Params, raw: String) -> Result<String, ApiError> {
    visible_in(p.str("parse_mode").as_deref(), raw)
}

fn visible_in(parse_mode: Option<&str>, raw: String) -> Result<String, ApiError> {
    let html = parse_mode.is_some_and(|m| m.eq_ignore_ascii_case("html"));
    if !html {
        return Ok(raw);
    }
    html::parse(&raw).map_err(|description| ApiError { code: 400, description, retry_after: None })
}

/// Resolves `chat_id` to a known private chat (403 when the user blocked the bot).
fn chat(state: &BotApiState, p: &Params) -> Result<i64, ApiError> {
    if p.fields.get("chat_id").is_none() {
        return Err(bad_request("chat_id is empty"));
    }
    let id = p.i64("chat_id").ok_or_else(|| bad_request("chat not found"))?;
    match state.users.get(&id) {
        None => Err(bad_request("chat not found")),
        Some(u) if u.blocked => Err(ApiError {
            code: 403,
            description: "Forbidden: bot was blocked by the user".into(),
            retry_after: None,
        }),
        Some(_) => Ok(id),
    }
}

/// Checks an inline keyboard the way Telegram does (callback_data 1-64 bytes).
fn check_markup(markup: &Option<Value>) -> Result<(), ApiError> {
    let Some(rows) = markup.as_ref().and_then(|m| m.get("inline_keyboard")) else { return Ok(()) };
    let Some(rows) = rows.as_array() else { return Err(bad_request("can't parse inline keyboard button")) };
    for button in rows.iter().filter_map(Value::as_array).flatten() {
        if let Some(data) = button.get("callback_data").and_then(Value::as_str)
            && (data.is_empty() || data.len() > 64)
        {
            return Err(bad_request("BUTTON_DATA_INVALID"));
        }
    }
    Ok(())
}

fn send(state: &mut BotApiState, p: &Params, kind: MessageKind) -> Res {
    let chat_id = chat(state, p)?;
    let reply_markup = p.object("reply_markup");
    check_markup(&reply_markup)?;
    let (text, media, file, file_name) = match kind {
        MessageKind::Text => {
            let text = visible(p, p.str("text").unwrap_or_default())?;
            if text.trim().is_empty() {
                return Err(bad_request("message text is empty"));
            }
            if text.chars().count() > 4096 {
                return Err(bad_request("message is too long"));
            }
            (text, None, None, None)
        }
        MessageKind::Photo | MessageKind::Document => {
            let caption = visible(p, p.str("caption").unwrap_or_default())?;
            if caption.chars().count() > 1024 {
                return Err(bad_request("message caption is too long"));
            }
            let field = if kind == MessageKind::Photo { "photo" } else { "document" };
            let part = input_file(state, p, field)?
                .ok_or_else(|| bad_request(&format!("there is no {field} in the request")))?;
            let bytes = part.bytes.clone();
            let (media, name) = store_media(state, kind, part)?;
            (caption, Some(media), Some(bytes), name)
        }
    };
    let message_id = state.next_message_id(chat_id);
    let stored = StoredMessage {
        message_id,
        date: unix_now(),
        kind,
        text,
        media,
        reply_markup,
        file,
        file_name,
        edited: 0,
        edit_date: None,
        deleted: false,
        media_group_id: None,
    };
    let json = tj::bot_message(chat_id, state.users.get(&chat_id), &stored);
    state.chats.entry(chat_id).or_default().bot_messages.push(stored);
    Ok(json)
}

/// sendMediaGroup: `media` is a JSON array of 2-10 InputMedia (photos, or documents only:
/// documents cannot be mixed with other types), each naming its file as `attach://<part>`
/// (or a file_id), with an optional caption; no `reply_markup` is taken. All are checked
/// before any is stored, and the album is one message per item sharing `media_group_id`:
/// Telegram sends an album whole or not at all.
fn send_media_group(state: &mut BotApiState, p: &Params) -> Res {
    let chat_id = chat(state, p)?;
    let items = match p.fields.get("media") {
        None => return Err(bad_request("parameter \"media\" is required")),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(_)) => return Err(bad_request("can't parse media JSON object")),
        Some(_) => return Err(bad_request("expected an Array of InputMedia")),
    };
    if items.is_empty() {
        return Err(bad_request("media to send are not specified"));
    }
    if items.len() < 2 {
        return Err(bad_request("wrong number of media specified: an album has 2-10 items"));
    }
    if items.len() > 10 {
        return Err(bad_request("too many messages to send as an album"));
    }
    let mut parts = Vec::with_capacity(items.len());
    for item in &items {
        let kind = match item.get("type").and_then(Value::as_str) {
            Some("photo") => MessageKind::Photo,
            Some("document") => MessageKind::Document,
            Some(_) => return Err(bad_request("can't parse InputMedia: unsupported media type")),
            None => return Err(bad_request("can't parse InputMedia: media type not specified")),
        };
        let Some(source) = item.get("media").and_then(Value::as_str) else {
            return Err(bad_request("can't parse InputMedia: media not found"));
        };
        let part = resolve_source(state, p, source, "media")?;
        let caption = item.get("caption").and_then(Value::as_str).unwrap_or_default().to_owned();
        let caption = visible_in(item.get("parse_mode").and_then(Value::as_str), caption)?;
        if caption.chars().count() > 1024 {
            return Err(bad_request("message caption is too long"));
        }
        match kind {
            MessageKind::Photo => check_photo(&part.bytes)?,
            _ if part.bytes.len() > 50 * 1024 * 1024 => {
                return Err(ApiError {
                    code: 413,
                    description: "Request Entity Too Large".into(),
                    retry_after: None,
                });
            }
            _ => {}
        }
        parts.push((kind, part, caption));
    }
    let documents = parts.iter().filter(|(kind, _, _)| *kind == MessageKind::Document).count();
    if documents != 0 && documents != parts.len() {
        return Err(bad_request("document can't be mixed with other media types"));
    }
    state.next_media_group += 1;
    let group = format!("{}", 13_000_000_000_000_000u64 + state.next_media_group);
    let mut sent = Vec::with_capacity(parts.len());
    for (kind, part, caption) in parts {
        let bytes = part.bytes.clone();
        let (media, file_name) = store_media(state, kind, part)?;
        let stored = StoredMessage {
            message_id: state.next_message_id(chat_id),
            date: unix_now(),
            kind,
            text: caption,
            media: Some(media),
            reply_markup: None,
            file: Some(bytes),
            file_name,
            edited: 0,
            edit_date: None,
            deleted: false,
            media_group_id: Some(group.clone()),
        };
        sent.push(tj::bot_message(chat_id, state.users.get(&chat_id), &stored));
        state.chats.entry(chat_id).or_default().bot_messages.push(stored);
    }
    Ok(Value::Array(sent))
}

/// Telegram's limits for photos: 10 MB, width + height <= 10000, ratio <= 20.
fn check_photo(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.len() > 10 * 1024 * 1024 {
        return Err(bad_request("PHOTO_SAVE_FILE_INVALID"));
    }
    match dimensions(bytes) {
        Some((w, h)) => {
            let (big, small) = (w.max(h) as u64, w.min(h).max(1) as u64);
            if w as u64 + h as u64 > 10_000 || big > 20 * small {
                return Err(bad_request("PHOTO_INVALID_DIMENSIONS"));
            }
            Ok(())
        }
        None if sniff_mime(bytes) == "image/webp" => Ok(()),
        None => Err(bad_request("IMAGE_PROCESS_FAILED")),
    }
}

#[derive(PartialEq)]
enum Edit {
    Text,
    Caption,
    Markup,
}

fn edit(state: &mut BotApiState, p: &Params, what: Edit) -> Res {
    if p.fields.contains_key("inline_message_id") {
        return Err(bad_request("message to edit not found"));
    }
    let chat_id = chat(state, p)?;
    let id = p.i64("message_id").ok_or_else(|| bad_request("message identifier is not specified"))?;
    let reply_markup = p.object("reply_markup");
    check_markup(&reply_markup)?;
    let m = match state.message_mut(chat_id, id) {
        Some(m) if !m.deleted => m,
        _ => return Err(bad_request("message to edit not found")),
    };
    let new_text = match what {
        Edit::Text => {
            if m.kind != MessageKind::Text {
                return Err(bad_request("there is no text in the message to edit"));
            }
            let t = visible(p, p.str("text").unwrap_or_default())?;
            if t.trim().is_empty() {
                return Err(bad_request("message text is empty"));
            }
            if t.chars().count() > 4096 {
                return Err(bad_request("MESSAGE_TOO_LONG"));
            }
            t
        }
        Edit::Caption => {
            if m.kind == MessageKind::Text {
                return Err(bad_request("there is no caption in the message to edit"));
            }
            let c = visible(p, p.str("caption").unwrap_or_default())?;
            if c.chars().count() > 1024 {
                return Err(bad_request("message caption is too long"));
            }
            c
        }
        Edit::Markup => m.text.clone(),
    };
    if new_text == m.text && reply_markup == m.reply_markup {
        return Err(bad_request(
            "message is not modified: specified new message content and reply markup are \
             exactly the same as a current content and reply markup of the message",
        ));
    }
    m.text = new_text;
    // Like Telegram, an edit without reply_markup removes the inline keyboard.
    m.reply_markup = reply_markup;
    m.edited += 1;
    m.edit_date = Some(unix_now());
    let m = m.clone();
    Ok(tj::bot_message(chat_id, state.users.get(&chat_id), &m))
}

/// editMessageMedia: replaces a photo/document message's file (and caption, markup).
fn edit_media(state: &mut BotApiState, p: &Params) -> Res {
    if p.fields.contains_key("inline_message_id") {
        return Err(bad_request("message to edit not found"));
    }
    let chat_id = chat(state, p)?;
    let id = p.i64("message_id").ok_or_else(|| bad_request("message identifier is not specified"))?;
    let reply_markup = p.object("reply_markup");
    check_markup(&reply_markup)?;
    let media =
        p.object("media").ok_or_else(|| bad_request("can't parse InputMedia: media not specified"))?;
    let kind = match media.get("type").and_then(Value::as_str) {
        Some("photo") => MessageKind::Photo,
        Some("document") => MessageKind::Document,
        _ => return Err(bad_request("can't parse InputMedia: unsupported media type")),
    };
    let source = media.get("media").and_then(Value::as_str).unwrap_or_default();
    let part = resolve_source(state, p, source, "media")?;
    let caption = media.get("caption").and_then(Value::as_str).unwrap_or_default().to_owned();
    let caption = visible_in(media.get("parse_mode").and_then(Value::as_str), caption)?;
    match state.message(chat_id, id) {
        Some(m) if !m.deleted && m.kind != MessageKind::Text => {}
        Some(m) if !m.deleted => return Err(bad_request("there is no media in the message to edit")),
        _ => return Err(bad_request("message to edit not found")),
    }
    let bytes = part.bytes.clone();
    let (media_json, file_name) = store_media(state, kind, part)?;
    let m = state.message_mut(chat_id, id).expect("checked above");
    m.kind = kind;
    m.text = caption;
    m.media = Some(media_json);
    m.file = Some(bytes);
    m.file_name = file_name;
    m.reply_markup = reply_markup;
    m.edited += 1;
    m.edit_date = Some(unix_now());
    let m = m.clone();
    Ok(tj::bot_message(chat_id, state.users.get(&chat_id), &m))
}
