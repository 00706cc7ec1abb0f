//! What a user would see in a chat: the bot's messages in their current state.
//!
//! Conversation tests care about the end result ("one status message, now saying Done,
//! with a Regenerate button"), not the sequence of edits; this view folds the edits and
//! deletions into one record per message.

use serde_json::Value;

/// The kind of a bot message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Sent with sendMessage.
    Text,
    /// Sent with sendPhoto.
    Photo,
    /// Sent with sendDocument.
    Document,
}

/// One message the bot sent, as it looks now.
#[derive(Debug, Clone, PartialEq)]
pub struct BotMessage {
    /// Its id in the chat.
    pub message_id: i64,
    /// Text, photo or document.
    pub kind: MessageKind,
    /// The text (Text) or caption (Photo/Document; empty when none) as the user sees it:
    /// with `parse_mode: "HTML"` tags are stripped and entities decoded (as Telegram
    /// does); MarkdownV2 is kept verbatim. The raw value is in the [`super::Call`] log.
    pub text_or_caption: String,
    /// The current `reply_markup` (as sent; `None` once removed by an edit).
    pub reply_markup: Option<Value>,
    /// The photo/document bytes.
    pub file: Option<Vec<u8>>,
    /// File name of a document.
    pub file_name: Option<String>,
    /// How many successful edits it received.
    pub edited: usize,
    /// Whether the bot deleted it.
    pub deleted: bool,
    /// The album it came in (sendMediaGroup); `None` for a message sent on its own.
    pub media_group_id: Option<String>,
}

impl BotMessage {
    /// Inline buttons as `(text, callback_data)` in reading order; URL buttons have
    /// an empty data string.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let Some(rows) =
            self.reply_markup.as_ref().and_then(|m| m.get("inline_keyboard")).and_then(Value::as_array)
        else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|b| {
                let text = b.get("text").and_then(Value::as_str).unwrap_or_default();
                let data = b.get("callback_data").and_then(Value::as_str).unwrap_or_default();
                (text.to_owned(), data.to_owned())
            })
            .collect()
    }

    /// The callback data of the first button whose data starts with `prefix`.
    pub fn button_data(&self, prefix: &str) -> Option<String> {
        self.buttons().into_iter().map(|(_, d)| d).find(|d| !d.is_empty() && d.starts_with(prefix))
    }
}
