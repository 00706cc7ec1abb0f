//! Telegram's `parse_mode: "HTML"` rules: validation and the plain text that results.
//!
//! Real Telegram refuses a message whose HTML is malformed (a user's `<` left unescaped,
//! an unknown tag, a bad `&entity;`) with "Bad Request: can't parse entities: …", and the
//! `text` it echoes back has the tags removed. Mirroring both catches the classic bug of
//! interpolating user input without escaping it.

/// Tags Telegram's HTML parse mode supports.
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

/// The visible text of `html`, or Telegram's error description.
pub(crate) fn parse(html: &str) -> Result<String, String> {
    let err = |what: String| Err(format!("Bad Request: can't parse entities: {what}"));
    let mut out = String::with_capacity(html.len());
    let mut stack: Vec<String> = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let Some(end) = html[i..].find('>').map(|e| i + e) else {
                    return err(format!("Unclosed start tag at byte offset {i}"));
                };
                let inner = &html[i + 1..end];
                let closing = inner.starts_with('/');
                let name: String = inner
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
                    .to_ascii_lowercase();
                if name.is_empty() || !TAGS.contains(&name.as_str()) {
                    let kind = if closing { "end" } else { "start" };
                    return err(format!("Unsupported {kind} tag \"{name}\" at byte offset {i}"));
                }
                if closing {
                    if stack.pop().as_deref() != Some(name.as_str()) {
                        return err(format!("Unmatched end tag at byte offset {i}, expected \"</{name}>\""));
                    }
                } else {
                    stack.push(name);
                }
                i = end + 1;
            }
            b'&' => {
                let Some(end) = html[i..].find(';').map(|e| i + e).filter(|e| e - i <= 10) else {
                    return err(format!("Character entity expected at byte offset {i}"));
                };
                let entity = &html[i + 1..end];
                let ch = match entity {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    e if e.starts_with("#x") => {
                        u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32)
                    }
                    e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                    _ => None,
                };
                let Some(ch) = ch else {
                    return err(format!("Unsupported HTML entity at byte offset {i}"));
                };
                out.push(ch);
                i = end + 1;
            }
            _ => {
                let ch = html[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return err(format!("Can't find end tag corresponding to start tag \"{open}\""));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn strips_tags_and_entities() {
        assert_eq!(parse("<b>Done</b> &lt;3 &amp; more").unwrap(), "Done <3 & more");
        assert_eq!(parse("<a href=\"https://x\">link</a>").unwrap(), "link");
    }

    #[test]
    fn rejects_unescaped_input() {
        assert!(parse("size <10 MB").unwrap_err().starts_with("Bad Request: can't parse entities"));
        assert!(parse("a & b").is_err());
        assert!(parse("<b>open").is_err());
        assert!(parse("<b><i>x</b></i>").is_err());
    }
}
