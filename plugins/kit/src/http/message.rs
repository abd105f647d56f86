//! The text kept from a failed upstream call: the upstream's own error message (shortened)
//! and transport errors with their causes, with secrets replaced by `[redacted]`. It must
//! never keep a URL (query strings can carry keys) or an unredacted secret.

use serde_json::Value;

/// Longest upstream message kept in an error (bodies can be whole HTML pages).
pub const MAX_MESSAGE_CHARS: usize = 500;

/// The upstream's own error message: `error.message` (OpenAI, Google), `error` as text,
/// `message`, `detail`, else the start of the body.
pub fn upstream_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let candidates = [
            v.pointer("/error/message"),
            v.pointer("/error/detail"),
            v.get("error").filter(|e| e.is_string()),
            v.get("message"),
            v.get("detail"),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|c| c.as_str().map(str::to_owned))
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let text = if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text
    };
    shorten(&text)
}

/// Replaces every secret in `text` by `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_owned(), |acc, s| acc.replace(s, "[redacted]"))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The transport error with its causes (reqwest's own message is often just "error
/// sending request"); URLs are left out because they may carry keys in the query.
pub(crate) fn describe_transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_the_body_and_hide_secrets() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-secret-123","type":"invalid_request_error"}}"#;
        let message = redact(&upstream_message(body), &["sk-secret-123"]);
        assert_eq!(message, "Incorrect API key provided: [redacted]");
        assert_eq!(upstream_message(b"  bad gateway "), "bad gateway");
        assert_eq!(upstream_message(b""), "(empty body)");
        assert!(upstream_message(&[b'x'; 2000]).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
