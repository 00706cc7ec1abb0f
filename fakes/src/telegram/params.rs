//! Reading Bot API method parameters from any of the encodings Telegram accepts.
//!
//! teloxide sends JSON for plain methods and multipart for uploads; other clients use
//! form-urlencoded or the query string. All are folded into one JSON object plus the
//! uploaded file parts, so method handlers and recorded calls see a single shape.

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use bytes::Bytes;
use serde_json::{Map, Value};

/// One uploaded file part of a multipart request.
#[derive(Debug, Clone)]
pub(crate) struct FilePart {
    pub(crate) bytes: Bytes,
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: Option<String>,
}

/// The parameters of one Bot API call.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// Every non-file field; JSON-looking strings (`reply_markup`) are parsed.
    pub(crate) fields: Map<String, Value>,
    /// File parts by part name (the `<name>` of `attach://<name>`).
    pub(crate) files: HashMap<String, FilePart>,
}

impl Params {
    /// A field as a string (numbers are rendered).
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A field as an integer, whether sent as a number or a numeric string.
    pub(crate) fn i64(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean field (`true` or `"true"`).
    pub(crate) fn bool(&self, key: &str) -> bool {
        match self.fields.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        }
    }

    /// A structured field (already parsed from its JSON string if needed).
    pub(crate) fn object(&self, key: &str) -> Option<Value> {
        match self.fields.get(key)? {
            v @ (Value::Object(_) | Value::Array(_)) => Some(v.clone()),
            _ => None,
        }
    }
}

/// Parses a string field value: JSON objects/arrays become structured values.
fn text_value(s: String) -> Value {
    let t = s.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(v) = serde_json::from_str::<Value>(&s)
    {
        return v;
    }
    Value::String(s)
}

/// Integer parameters: sent as text by multipart/form clients, normalised to JSON numbers
/// so recorded calls look the same whatever the encoding.
const INT_FIELDS: &[&str] = &["chat_id", "message_id", "offset", "limit", "timeout", "cache_time"];

fn field_value(key: &str, s: String) -> Value {
    if INT_FIELDS.contains(&key)
        && let Ok(n) = s.trim().parse::<i64>()
    {
        return Value::from(n);
    }
    text_value(s)
}

fn merge_pairs(fields: &mut Map<String, Value>, pairs: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in pairs {
        let v = field_value(&k, v);
        fields.insert(k, v);
    }
}

/// Reads the query string and body of `req`. Unreadable bodies yield what could be read:
/// the method handler then answers "Bad Request" like Telegram, never a 5xx.
pub(crate) async fn parse(req: Request) -> Params {
    let mut params = Params::default();
    if let Some(q) = req.uri().query()
        && let Ok(pairs) = form_pairs(q)
    {
        merge_pairs(&mut params.fields, pairs);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();

    if content_type.starts_with("multipart/form-data") {
        let Ok(mut form) = Multipart::from_request(req, &()).await else { return params };
        while let Ok(Some(field)) = form.next_field().await {
            let name = field.name().unwrap_or_default().to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let ctype = field.content_type().map(str::to_owned);
            let Ok(data) = field.bytes().await else { break };
            if file_name.is_some() {
                params.files.insert(name, FilePart { bytes: data, file_name, content_type: ctype });
            } else {
                let value = field_value(&name, String::from_utf8_lossy(&data).into_owned());
                params.fields.insert(name, value);
            }
        }
        return params;
    }

    let Ok(body) = Bytes::from_request(req, &()).await else { return params };
    if body.is_empty() {
        return params;
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        if let Ok(text) = std::str::from_utf8(&body)
            && let Ok(pairs) = form_pairs(text)
        {
            merge_pairs(&mut params.fields, pairs);
        }
        return params;
    }
    // JSON (teloxide's default), also when the content type is missing.
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&body) {
        for (k, v) in obj {
            let v = match v {
                Value::String(s) => text_value(s),
                other => other,
            };
            params.fields.insert(k, v);
        }
    }
    params
}

/// Decodes `a=1&b=x%20y` pairs (small enough to not need a crate).
fn form_pairs(s: &str) -> Result<Vec<(String, String)>, ()> {
    let mut out = Vec::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, ()> {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// Percent-decodes a URL path piece (file paths arrive with `/` encoded as `%2F`).
pub(crate) fn percent_decode(s: &str) -> String {
    decode(&s.replace('+', "%2B")).unwrap_or_else(|_| s.to_owned())
}
