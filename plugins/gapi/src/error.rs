//! gapi's errors, one variant per failed step, and their mapping to the plugin error
//! envelope. Upstream failures keep Google's status and message; nothing here may carry
//! a credential, a token or a signed assertion.

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};

/// Which kind of Google endpoint answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The OAuth token endpoint (`token_uri`).
    Token,
    /// A Workspace REST API.
    Api,
}

/// What went wrong while serving a gapi call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable credentials (nothing in the keystore or the environment).
    #[error("gapi is not configured: {0}")]
    NotConfigured(String),
    /// The service-account JSON is present but unusable.
    #[error("invalid service-account credentials: {0}")]
    BadCredentials(String),
    /// The call's arguments do not fit the method.
    #[error("{0}")]
    InvalidArgs(String),
    /// Building the signed JWT assertion failed.
    #[error("signing the token request failed: {0}")]
    Signing(String),
    /// Google answered with an error status.
    #[error("{what} failed: Google answered HTTP {status}: {message}")]
    Upstream {
        /// The operation (`admin.users.list`, `token exchange`).
        what: String,
        /// Token endpoint or API.
        phase: Phase,
        /// The HTTP status Google returned.
        status: u16,
        /// Google's own message.
        message: String,
        /// Google's reason (`rateLimitExceeded`, `invalid_grant`, ...), when given.
        reason: Option<String>,
        /// Seconds Google asked us to wait, when given.
        retry_after: Option<u64>,
        /// Attempts made.
        attempts: u32,
    },
    /// No answer within the timeout.
    #[error("{what} timed out: no answer from Google within {timeout_ms} ms")]
    Timeout {
        /// The operation.
        what: String,
        /// The per-request timeout.
        timeout_ms: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// Google could not be reached at all.
    #[error("{what} failed: could not reach Google: {detail}")]
    Unreachable {
        /// The operation.
        what: String,
        /// The transport error.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Google answered 2xx with a body that is not the JSON we expect.
    #[error("{what} failed: Google's answer is not usable JSON: {detail}")]
    BadResponse {
        /// The operation.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

/// Result alias for gapi internals.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The envelope code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotConfigured(_) | Error::BadCredentials(_) | Error::Signing(_) => {
                ErrorCode::Configuration
            }
            Error::InvalidArgs(_) => ErrorCode::Validation,
            Error::Timeout { .. } => ErrorCode::Timeout,
            Error::Unreachable { .. } | Error::BadResponse { .. } => ErrorCode::ExternalService,
            Error::Upstream { phase, status, .. } => upstream_code(*phase, *status),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Error::Upstream {
                status,
                message,
                reason,
                retry_after,
                attempts,
                phase,
                ..
            } => Some(json!({
                "upstreamStatus": status,
                "upstreamMessage": message,
                "upstreamReason": reason,
                "retryAfterSeconds": retry_after,
                "attempts": attempts,
                "phase": match phase { Phase::Token => "token", Phase::Api => "api" },
            })),
            Error::Timeout {
                timeout_ms,
                attempts,
                ..
            } => Some(json!({ "timeoutMs": timeout_ms, "attempts": attempts })),
            Error::Unreachable { attempts, .. } => Some(json!({ "attempts": attempts })),
            _ => None,
        }
    }
}

/// Google's status mapped to an envelope code. The token endpoint answers 400/401 for any
/// rejected assertion (`invalid_grant`, `unauthorized_client`): that is an auth failure.
fn upstream_code(phase: Phase, status: u16) -> ErrorCode {
    match (phase, status) {
        (_, 429) => ErrorCode::RateLimit,
        (Phase::Token, 400..=403) => ErrorCode::Authentication,
        (_, 401) => ErrorCode::Authentication,
        (_, 403) => ErrorCode::Authorization,
        (_, 400) => ErrorCode::Validation,
        (_, 404) => ErrorCode::NotFound,
        (_, 409) => ErrorCode::Conflict,
        (_, 408) => ErrorCode::Timeout,
        _ => ErrorCode::ExternalService,
    }
}

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        let err = PluginError::new(e.code(), e.to_string());
        match e.details() {
            Some(details) => err.with_details(details),
            None => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(phase: Phase, status: u16) -> Error {
        Error::Upstream {
            what: "admin.users.list".into(),
            phase,
            status,
            message: "Not Authorized to access this resource/api".into(),
            reason: Some("forbidden".into()),
            retry_after: None,
            attempts: 1,
        }
    }

    #[test]
    fn statuses_map_to_codes_and_keep_the_upstream_message() {
        assert_eq!(upstream(Phase::Api, 401).code(), ErrorCode::Authentication);
        assert_eq!(upstream(Phase::Api, 403).code(), ErrorCode::Authorization);
        assert_eq!(upstream(Phase::Api, 429).code(), ErrorCode::RateLimit);
        assert_eq!(upstream(Phase::Api, 503).code(), ErrorCode::ExternalService);
        assert_eq!(
            upstream(Phase::Token, 400).code(),
            ErrorCode::Authentication
        );
        let plugin: PluginError = upstream(Phase::Api, 500).into();
        assert!(plugin.message.contains("HTTP 500"), "{}", plugin.message);
        assert!(
            plugin.message.contains("Not Authorized"),
            "{}",
            plugin.message
        );
        assert_eq!(plugin.details.unwrap()["upstreamStatus"], 500);
    }
}
