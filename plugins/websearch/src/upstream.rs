//! The HTTP client for one upstream API: a pooled blocking reqwest client (rustls) with a
//! request timeout, retries with exponential backoff on 429, 5xx and connection failures
//! (honouring `retry-after-ms` and `Retry-After`, with a cap on the total wait), and the
//! mapping of upstream failures onto plugin error codes with the upstream status and
//! message kept. It must never log or return a secret: messages pass through [`redact`].

use std::time::{Duration, SystemTime};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};

/// Longest upstream message kept in an error (bodies can be whole HTML pages).
const MAX_MESSAGE_CHARS: usize = 500;

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    /// Most time spent waiting between attempts in one call; a longer `Retry-After` ends
    /// the retries at once.
    pub max_total_wait: Duration,
}

/// Why a call to the upstream failed, each variant naming the failed step.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The client could not be built (TLS set-up).
    #[error("building the HTTP client failed: {0}")]
    ClientSetup(String),
    /// The upstream answered with a non-success status (after retries where they apply).
    #[error("{service} answered HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        /// Which upstream, for messages.
        service: String,
        /// The upstream HTTP status.
        status: u16,
        /// The upstream's own error message (redacted, shortened).
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The upstream did not answer within the request timeout.
    #[error("{service} did not answer within {timeout_ms} ms")]
    Timeout {
        /// Which upstream.
        service: String,
        /// The configured timeout.
        timeout_ms: u128,
    },
    /// The upstream could not be reached (after retries).
    #[error("cannot reach {service} after {attempts} attempt(s): {message}")]
    Unreachable {
        /// Which upstream.
        service: String,
        /// What the transport said.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The upstream answered 2xx with a body that is not what was expected.
    #[error("{service} sent an unreadable response: {message}")]
    BadBody {
        /// Which upstream.
        service: String,
        /// What was wrong.
        message: String,
    },
}

impl From<UpstreamError> for PluginError {
    fn from(e: UpstreamError) -> Self {
        let message = e.to_string();
        match e {
            UpstreamError::ClientSetup(_) => PluginError::new(ErrorCode::Configuration, message),
            UpstreamError::Status {
                status,
                message: upstream_message,
                attempts,
                ..
            } => PluginError::new(code_for_status(status), message).with_details(json!({
                "upstreamStatus": status,
                "upstreamMessage": upstream_message,
                "attempts": attempts,
            })),
            UpstreamError::Timeout { timeout_ms, .. } => {
                PluginError::new(ErrorCode::Timeout, message)
                    .with_details(json!({ "timeoutMs": timeout_ms }))
            }
            UpstreamError::Unreachable { attempts, .. } => {
                PluginError::new(ErrorCode::ExternalService, message)
                    .with_details(json!({ "attempts": attempts }))
            }
            UpstreamError::BadBody { .. } => PluginError::new(ErrorCode::ExternalService, message),
        }
    }
}

/// The plugin error code for an upstream HTTP status. Client errors that a retry cannot
/// fix keep their own category so the engine does not retry them as upstream outages.
pub fn code_for_status(status: u16) -> ErrorCode {
    match status {
        401 | 403 => ErrorCode::Authentication,
        429 => ErrorCode::RateLimit,
        400 | 422 => ErrorCode::Validation,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        _ => ErrorCode::ExternalService,
    }
}

/// A successful upstream answer, read whole.
#[derive(Debug)]
pub struct UpstreamReply {
    /// The body.
    pub body: Vec<u8>,
}

/// One upstream API: its name for messages, the pooled client and the retry policy.
#[derive(Debug, Clone)]
pub struct Upstream {
    service: String,
    client: Client,
    timeout: Duration,
    policy: RetryPolicy,
}

impl Upstream {
    /// Builds the pooled client. `service` names the upstream in messages ("OpenAI API").
    pub fn new(
        service: &str,
        timeout: Duration,
        policy: RetryPolicy,
        user_agent: &str,
    ) -> Result<Self, UpstreamError> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(user_agent)
            .build()
            .map_err(|e| UpstreamError::ClientSetup(e.to_string()))?;
        Ok(Self {
            service: service.to_owned(),
            client,
            timeout,
            policy,
        })
    }

    /// Sends the request `build` makes (called once per attempt) and retries 429, 5xx and
    /// connection failures. `secrets` are removed from any upstream message kept.
    pub fn send(
        &self,
        build: impl Fn(&Client) -> RequestBuilder,
        secrets: &[&str],
    ) -> Result<UpstreamReply, UpstreamError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match build(&self.client).send() {
                Ok(response) => match self.read(response, attempt, secrets)? {
                    Ok(reply) => return Ok(reply),
                    Err(failure) => failure,
                },
                Err(e) if e.is_timeout() => return Err(self.timeout_error()),
                Err(e) if e.is_connect() => Failure {
                    error: UpstreamError::Unreachable {
                        service: self.service.clone(),
                        message: redact(&describe_transport_error(e), secrets),
                        attempts: attempt,
                    },
                    retry_after: None,
                },
                Err(e) => {
                    return Err(UpstreamError::Unreachable {
                        service: self.service.clone(),
                        message: redact(&describe_transport_error(e), secrets),
                        attempts: attempt,
                    });
                }
            };
            if attempt >= max_attempts {
                return Err(failure.error);
            }
            let backoff = self
                .policy
                .base_delay
                .saturating_mul(1 << (attempt - 1).min(16));
            let wait = failure.retry_after.unwrap_or(backoff);
            if waited + wait > self.policy.max_total_wait {
                return Err(failure.error);
            }
            std::thread::sleep(wait);
            waited += wait;
        }
    }

    /// Reads a response: Ok(Ok) on 2xx, Ok(Err) on a retryable status, Err otherwise.
    fn read(
        &self,
        response: Response,
        attempt: u32,
        secrets: &[&str],
    ) -> Result<Result<UpstreamReply, Failure>, UpstreamError> {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let body = match response.bytes() {
            Ok(b) => b.to_vec(),
            Err(e) if e.is_timeout() => return Err(self.timeout_error()),
            Err(e) => {
                return Err(UpstreamError::Unreachable {
                    service: self.service.clone(),
                    message: format!("reading the body: {}", describe_transport_error(e)),
                    attempts: attempt,
                });
            }
        };
        if (200..300).contains(&status) {
            return Ok(Ok(UpstreamReply { body }));
        }
        let error = UpstreamError::Status {
            service: self.service.clone(),
            status,
            message: redact(&upstream_message(&body), secrets),
            attempts: attempt,
        };
        if status == 429 || (500..600).contains(&status) {
            Ok(Err(Failure { error, retry_after }))
        } else {
            Err(error)
        }
    }

    fn timeout_error(&self) -> UpstreamError {
        UpstreamError::Timeout {
            service: self.service.clone(),
            timeout_ms: self.timeout.as_millis(),
        }
    }
}

/// A retryable failure and how long the upstream asked us to wait.
struct Failure {
    error: UpstreamError,
    retry_after: Option<Duration>,
}

/// The wait the upstream asks for: `retry-after-ms` (OpenAI), else `Retry-After` in
/// seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_millis(ms as u64));
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

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
fn describe_transport_error(e: reqwest::Error) -> String {
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
    use reqwest::header::HeaderValue;

    #[test]
    fn statuses_map_to_documented_codes() {
        assert_eq!(code_for_status(401), ErrorCode::Authentication);
        assert_eq!(code_for_status(403), ErrorCode::Authentication);
        assert_eq!(code_for_status(429), ErrorCode::RateLimit);
        assert_eq!(code_for_status(500), ErrorCode::ExternalService);
        assert_eq!(code_for_status(503), ErrorCode::ExternalService);
        assert_eq!(code_for_status(418), ErrorCode::ExternalService);
        assert_eq!(code_for_status(404), ErrorCode::NotFound);
    }

    #[test]
    fn retry_after_reads_ms_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
    }

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
