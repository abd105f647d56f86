//! The response envelope (the seed README's) and the ONE place where errors become HTTP
//! responses. Success: `{"success": true, "data", "metadata": {duration, timestamp,
//! requestId}}`; failure: `{"success": false, "error", "code", "details"?, "metadata"}`
//! with the status that matches the code. Internal failures never leak SQL, paths or
//! panic text: they are logged and the client gets a generic message plus the request id.
//! A 401 carries `WWW-Authenticate: Bearer`; details with `retryAfterSeconds` become a
//! `Retry-After` header (429).

use std::time::{Instant, SystemTime};

use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};

/// The request id and start time of the request being answered.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// `X-Request-Id`, received or generated.
    pub request_id: String,
    /// When the request arrived.
    pub started: Instant,
}

impl RequestMeta {
    /// The envelope's `metadata` object.
    pub fn metadata(&self) -> Value {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        json!({
            "duration": (ms * 1000.0).round() / 1000.0,
            "timestamp": iso_timestamp(SystemTime::now()),
            "requestId": self.request_id,
        })
    }
}

/// An error answer: code, message and optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The error category (decides the status).
    pub code: ErrorCode,
    /// The client-facing message.
    pub message: String,
    /// Structured details.
    pub details: Option<Value>,
    /// Overrides the status the code implies (e.g. 405, 406).
    pub status: Option<StatusCode>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            status: None,
        }
    }

    /// A failure inside the host: the cause is logged, the client sees a generic message.
    pub fn internal(cause: &dyn std::fmt::Display, meta: &RequestMeta) -> Self {
        tracing::error!(request_id = %meta.request_id, "internal error: {cause}");
        Self::new(
            ErrorCode::Internal,
            format!("internal error (request id {})", meta.request_id),
        )
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| status_for(self.code))
    }

    /// Renders the error envelope.
    pub fn into_response(self, meta: &RequestMeta) -> Response {
        let status = self.status();
        let mut body = json!({
            "success": false,
            "error": self.message,
            "code": self.code.as_str(),
            "metadata": meta.metadata(),
        });
        let retry_after = self
            .details
            .as_ref()
            .and_then(|d| d.get("retryAfterSeconds"))
            .and_then(Value::as_u64);
        if let Some(details) = self.details {
            body["details"] = details;
        }
        let mut response = json_response(status, &body);
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme the client should use.
            headers.insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"tasker\""),
            );
        }
        if let Some(secs) = retry_after {
            headers.insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        Self {
            code: e.code,
            message: e.message,
            details: e.details,
            status: None,
        }
    }
}

/// The status each error code maps to.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Validation => StatusCode::BAD_REQUEST,
        ErrorCode::Authentication => StatusCode::UNAUTHORIZED,
        ErrorCode::Authorization => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimit => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ExternalService => StatusCode::BAD_GATEWAY,
        ErrorCode::Internal | ErrorCode::PluginPanic => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Configuration => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::NotImplemented => StatusCode::NOT_IMPLEMENTED,
    }
}

/// Renders the success envelope around `data`.
pub fn success(data: Value, meta: &RequestMeta) -> Response {
    success_with_status(StatusCode::OK, data, meta)
}

/// Renders the success envelope with a chosen status (e.g. 202).
pub fn success_with_status(status: StatusCode, data: Value, meta: &RequestMeta) -> Response {
    json_response(
        status,
        &json!({ "success": true, "data": data, "metadata": meta.metadata() }),
    )
}

/// Renders a call's outcome.
pub fn outcome(result: Result<Value, PluginError>, meta: &RequestMeta) -> Response {
    match result {
        Ok(data) => success(data, meta),
        Err(e) => ApiError::from(e).into_response(meta),
    }
}

/// A JSON body with a status.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, poem::web::Json(body.clone())).into_response()
}

/// RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-26T09:00:00.123Z` (the same
/// formatter the bundled plugins use).
pub fn iso_timestamp(t: SystemTime) -> String {
    tasker_plugin_kit::time::iso8601(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(iso_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_770_061_123);
        assert_eq!(iso_timestamp(t), "2026-11-27T09:01:01.123Z");
    }

    #[test]
    fn every_code_has_an_error_status() {
        for code in ErrorCode::ALL {
            assert!(status_for(code).as_u16() >= 400, "{code:?}");
        }
    }
}
