//! Plugin errors: the safe [`PluginError`] plugins return, its stable error codes, and the
//! conversion to and from the ABI form. HTTP status mapping lives in the host, not here.

use serde_json::Value;

use crate::abi::RPluginError;

/// The error codes of the seed's `ServiceError` types, plus the host's own.
/// Crosses the ABI as its name, so adding a code never breaks older plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Bad arguments (HTTP 400).
    Validation,
    /// Missing or bad credentials (401).
    Authentication,
    /// Not allowed (403).
    Authorization,
    /// The thing asked for does not exist (404).
    NotFound,
    /// Conflicts with existing state (409).
    Conflict,
    /// Too many requests, here or upstream (429).
    RateLimit,
    /// An upstream service failed (502).
    ExternalService,
    /// A bug or unexpected state (500).
    Internal,
    /// A deadline passed (504).
    Timeout,
    /// The plugin is not configured for this (503).
    Configuration,
    /// The method exists but is not implemented yet (501).
    NotImplemented,
    /// The plugin panicked; the host caught it (500).
    PluginPanic,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 12] = [
        Self::Validation,
        Self::Authentication,
        Self::Authorization,
        Self::NotFound,
        Self::Conflict,
        Self::RateLimit,
        Self::ExternalService,
        Self::Internal,
        Self::Timeout,
        Self::Configuration,
        Self::NotImplemented,
        Self::PluginPanic,
    ];

    /// The wire name, e.g. `VALIDATION_ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "VALIDATION_ERROR",
            Self::Authentication => "AUTHENTICATION_ERROR",
            Self::Authorization => "AUTHORIZATION_ERROR",
            Self::NotFound => "NOT_FOUND_ERROR",
            Self::Conflict => "CONFLICT_ERROR",
            Self::RateLimit => "RATE_LIMIT_ERROR",
            Self::ExternalService => "EXTERNAL_SERVICE_ERROR",
            Self::Internal => "INTERNAL_ERROR",
            Self::Timeout => "TIMEOUT_ERROR",
            Self::Configuration => "CONFIGURATION_ERROR",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::PluginPanic => "PLUGIN_PANIC",
        }
    }

    /// Parses a wire name; unknown names become [`ErrorCode::Internal`].
    pub fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or(Self::Internal)
    }
}

/// An error returned by a plugin method.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    /// The category, which decides the HTTP status.
    pub code: ErrorCode,
    /// What went wrong, readable by the caller. Never put secrets here.
    pub message: String,
    /// Optional structured details (e.g. `{"field": "name"}` or an upstream status).
    pub details: Option<Value>,
}

impl PluginError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }
    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    /// Shorthand for [`ErrorCode::Validation`].
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }
    /// Shorthand for [`ErrorCode::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// Shorthand for [`ErrorCode::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
    /// The error for an unknown method name.
    pub fn unknown_method(service: &str, method: &str) -> Self {
        Self::not_found(format!("service '{service}' has no method '{method}'"))
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<PluginError> for RPluginError {
    fn from(e: PluginError) -> Self {
        RPluginError {
            code: e.code.as_str().into(),
            message: e.message.into(),
            details_json: e.details.map(|d| d.to_string().into()).into(),
        }
    }
}

impl From<RPluginError> for PluginError {
    fn from(e: RPluginError) -> Self {
        PluginError {
            code: ErrorCode::parse(e.code.as_str()),
            message: e.message.into_string(),
            details: e
                .details_json
                .into_option()
                .and_then(|d| serde_json::from_str(d.as_str()).ok()),
        }
    }
}
