//! The HTTP client gapi talks to Google with: one pooled blocking reqwest client (rustls),
//! a per-request timeout, and retries with exponential backoff on 429, 5xx and connection
//! errors that honour `Retry-After`. It turns every outcome into JSON or an [`Error`];
//! it never logs request headers or bodies (they carry tokens and assertions).

use std::time::{Duration, SystemTime};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;
use tasker_plugin_kit::http::parse_retry_after;

use crate::error::{Error, Phase, Result};
use crate::settings::RetryPolicy;

/// Whether a request may be sent twice without harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads and token exchanges: retried on 429, 5xx and transport errors.
    Safe,
    /// Writes (`messages.send`): retried only when Google surely did not act
    /// (429, or the connection was never made).
    Unsafe,
}

/// One request to make, described so it can be rebuilt for each attempt.
pub struct Request<'a> {
    /// Names the operation in errors (`admin.users.list`, `token exchange`).
    pub what: &'a str,
    /// Token endpoint or API, for error mapping.
    pub phase: Phase,
    /// Whether retrying is harmless.
    pub replay: Replay,
    /// Builds the request from the shared client.
    pub build: &'a dyn Fn(&Client) -> RequestBuilder,
}

/// The shared client and its policies.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client,
    timeout: Duration,
    retry: RetryPolicy,
}

/// How one attempt ended.
enum Attempt {
    Done(Value),
    Retryable {
        error: Error,
        wait: Option<Duration>,
    },
    Final(Error),
}

impl Upstream {
    /// Builds the pooled client. Proxy variables are honoured, as for any HTTP client.
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self> {
        let client = Client::builder()
            .timeout(timeout)
            .user_agent(concat!("tasker-gapi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::NotConfigured(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            timeout,
            retry,
        })
    }

    /// Sends the request, retrying as the policy allows, and returns the JSON body.
    pub fn send(&self, request: &Request<'_>) -> Result<Value> {
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(request, attempt);
            match outcome {
                Attempt::Done(value) => return Ok(value),
                Attempt::Final(error) => return Err(error),
                Attempt::Retryable { error, wait } => {
                    if attempt > self.retry.max_retries {
                        return Err(error);
                    }
                    let backoff = self.backoff(attempt);
                    let delay = match wait {
                        // Google asked for longer than we are willing to block a call:
                        // give up now and let the caller (or the engine) come back later.
                        Some(w) if w > self.retry.max_delay => return Err(error),
                        Some(w) => w.max(backoff),
                        None => backoff,
                    };
                    std::thread::sleep(delay);
                    attempt += 1;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16));
        exp.min(self.retry.max_delay)
    }

    fn attempt(&self, request: &Request<'_>, attempt: u32) -> Attempt {
        let what = request.what.to_owned();
        let response = match (request.build)(&self.client).send() {
            Ok(r) => r,
            Err(e) => return self.transport_error(request, e, attempt),
        };
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let text = match response.text() {
            Ok(t) => t,
            Err(e) => return self.transport_error(request, e, attempt),
        };
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Attempt::Done(Value::Object(Default::default()));
            }
            return match serde_json::from_str(&text) {
                Ok(v) => Attempt::Done(v),
                Err(e) => Attempt::Final(Error::BadResponse {
                    what,
                    detail: e.to_string(),
                }),
            };
        }
        let (message, reason) = google_error(&text, status);
        let error = Error::Upstream {
            what,
            phase: request.phase,
            status,
            message,
            reason,
            retry_after: retry_after.map(|d| d.as_secs()),
            attempts: attempt,
        };
        let retryable = match request.replay {
            Replay::Safe => status == 429 || status >= 500,
            Replay::Unsafe => status == 429,
        };
        if retryable {
            Attempt::Retryable {
                error,
                wait: retry_after,
            }
        } else {
            Attempt::Final(error)
        }
    }

    fn transport_error(&self, request: &Request<'_>, e: reqwest::Error, attempt: u32) -> Attempt {
        let what = request.what.to_owned();
        if e.is_timeout() {
            // Each attempt already waited the whole timeout; the engine retries
            // TIMEOUT_ERROR calls on its own schedule, so do not block here again.
            return Attempt::Final(Error::Timeout {
                what,
                timeout_ms: self.timeout.as_millis() as u64,
                attempts: attempt,
            });
        }
        // Never show reqwest's full error chain with the URL's query (it may hold a
        // page token); the kind of failure is enough.
        let detail = if e.is_connect() {
            "connection failed".to_owned()
        } else {
            format!("transport error ({})", without_url(&e))
        };
        let error = Error::Unreachable {
            what,
            detail,
            attempts: attempt,
        };
        let retryable = e.is_connect() || request.replay == Replay::Safe;
        if retryable {
            Attempt::Retryable { error, wait: None }
        } else {
            Attempt::Final(error)
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    parse_retry_after(value, SystemTime::now())
}

/// Google's error message and reason from an error body: the API form
/// `{"error": {"code", "message", "status", "errors": [{"reason"}]}}` or the OAuth form
/// `{"error": "invalid_grant", "error_description": "..."}`.
pub fn google_error(text: &str, status: u16) -> (String, Option<String>) {
    let fallback = || {
        let snippet: String = text.trim().chars().take(300).collect();
        if snippet.is_empty() {
            format!("HTTP {status} with an empty body")
        } else {
            snippet
        }
    };
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return (fallback(), None);
    };
    match &body["error"] {
        Value::Object(err) => {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let reason = err
                .get("errors")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("reason"))
                .and_then(Value::as_str)
                .or_else(|| err.get("status").and_then(Value::as_str))
                .map(str::to_owned);
            (message.unwrap_or_else(fallback), reason)
        }
        Value::String(code) => {
            let description = body["error_description"].as_str().unwrap_or_default();
            let message = if description.is_empty() {
                code.clone()
            } else {
                format!("{code}: {description}")
            };
            (message, Some(code.clone()))
        }
        _ => (fallback(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_bodies_are_read_in_both_forms() {
        let api = r#"{"error":{"code":403,"message":"Not Authorized","status":"PERMISSION_DENIED","errors":[{"reason":"forbidden"}]}}"#;
        assert_eq!(
            google_error(api, 403),
            ("Not Authorized".to_owned(), Some("forbidden".to_owned()))
        );
        let oauth = r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        assert_eq!(
            google_error(oauth, 400),
            (
                "invalid_grant: Invalid JWT Signature.".to_owned(),
                Some("invalid_grant".to_owned())
            )
        );
        assert_eq!(
            google_error("<html>bad gateway</html>", 502).0,
            "<html>bad gateway</html>"
        );
        assert_eq!(google_error("", 500).0, "HTTP 500 with an empty body");
    }
}
