//! The HTTP client for one upstream API: a pooled blocking reqwest client (rustls) with a
//! request timeout, retries with exponential backoff on 429, 5xx and connection failures
//! (honouring `retry-after-ms` and `Retry-After`, with a cap on the total wait), and the
//! mapping of upstream failures onto plugin error codes with the upstream status and
//! message kept. It must never log or return a secret: messages pass through [`redact`].

mod error;
mod message;
mod retry_after;

use std::time::{Duration, SystemTime};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

pub use error::{UpstreamError, code_for_status};
pub use message::{MAX_MESSAGE_CHARS, redact, upstream_message};
pub use retry_after::{parse_retry_after, retry_after};

use message::describe_transport_error;

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

impl RetryPolicy {
    /// The policy from optional plugin settings (`maxAttempts`, `retryBaseDelayMs`,
    /// `maxRetryWaitMs`), with the defaults every HTTP plugin shares: 3 attempts, 500 ms
    /// first delay, 20 s of waiting at most.
    pub fn from_settings(
        max_attempts: Option<u32>,
        base_delay_ms: Option<u64>,
        max_wait_ms: Option<u64>,
    ) -> Self {
        Self {
            max_attempts: max_attempts.unwrap_or(3).max(1),
            base_delay: Duration::from_millis(base_delay_ms.unwrap_or(500)),
            max_total_wait: Duration::from_millis(max_wait_ms.unwrap_or(20_000)),
        }
    }
}

/// The request timeout from an optional `timeoutMs` setting (default 30 s).
pub fn timeout_from_settings(timeout_ms: Option<u64>) -> Duration {
    Duration::from_millis(timeout_ms.unwrap_or(30_000).max(1))
}

/// A successful upstream answer, read whole.
#[derive(Debug)]
pub struct UpstreamReply {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl UpstreamReply {
    /// The body as JSON.
    pub fn json(&self, service: &str) -> Result<Value, UpstreamError> {
        serde_json::from_slice(&self.body).map_err(|e| UpstreamError::BadBody {
            service: service.to_owned(),
            message: format!("body of HTTP {} is not JSON: {e}", self.status),
        })
    }
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

    /// The upstream's name, for messages.
    pub fn service(&self) -> &str {
        &self.service
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
            return Ok(Ok(UpstreamReply { status, body }));
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
