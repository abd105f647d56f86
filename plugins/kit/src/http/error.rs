//! Why a call to an upstream API failed, and how each failure maps onto a plugin error
//! code (with the upstream status and message kept in the details). Messages here are
//! already redacted by the client; this file must not add request data to them.

use serde_json::json;
use tasker_plugin_api::{ErrorCode, PluginError};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
