//! Remote services: HTTP services that speak the seed's request format
//! (`POST / {"method", "args"}` answered with the `{success, data | error}` envelope),
//! added with `--remote name=url` so tasks and plugins can call non-plugin services.

use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, ErrorCode, PluginError};

/// One remote service endpoint.
#[derive(Debug, Clone)]
pub struct RemoteService {
    name: String,
    base_url: String,
    client: reqwest::Client,
}

impl RemoteService {
    /// A remote service at `base_url` (no trailing slash), with a per-request timeout.
    pub fn new(name: &str, base_url: &str, timeout: Duration) -> Result<Self, PluginError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| {
                PluginError::new(
                    ErrorCode::Configuration,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            name: name.to_owned(),
            base_url: base_url.to_owned(),
            client,
        })
    }

    /// The URL it forwards to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Forwards one call and unwraps the envelope.
    pub async fn call(
        &self,
        method: &str,
        args: &Value,
        ctx: &CallContext,
    ) -> Result<Value, PluginError> {
        let mut request = self
            .client
            .post(format!("{}/", self.base_url))
            .json(&json!({ "method": method, "args": args }));
        if let Some(id) = &ctx.request_id {
            request = request.header("x-request-id", id);
        }
        if let Some(key) = &ctx.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        unwrap_envelope(&self.name, status.as_u16(), body)
    }

    /// The remote's `GET /health`.
    pub async fn health(&self) -> Result<Value, PluginError> {
        let response = self
            .client
            .get(format!("{}/health", self.base_url))
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(PluginError::new(
                ErrorCode::ExternalService,
                format!("remote '{}' is unhealthy (HTTP {status})", self.name),
            ))
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> PluginError {
        let code = if e.is_timeout() {
            ErrorCode::Timeout
        } else {
            ErrorCode::ExternalService
        };
        PluginError::new(
            code,
            format!("remote service '{}' unreachable: {e}", self.name),
        )
    }
}

/// Reads the seed envelope: `data` on success; the error code and message otherwise.
fn unwrap_envelope(name: &str, status: u16, body: Value) -> Result<Value, PluginError> {
    let success = body.get("success").and_then(Value::as_bool);
    if (200..300).contains(&status) && success != Some(false) {
        return Ok(match body {
            Value::Object(mut obj) if obj.contains_key("data") => {
                obj.remove("data").unwrap_or(Value::Null)
            }
            other => other,
        });
    }
    let message = match body.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("remote error")
            .to_owned(),
        _ => format!("remote service '{name}' answered HTTP {status}"),
    };
    let code = body
        .get("code")
        .or_else(|| body.get("error").and_then(|e| e.get("code")))
        .and_then(Value::as_str)
        .map(ErrorCode::parse)
        .unwrap_or(match status {
            400 => ErrorCode::Validation,
            401 => ErrorCode::Authentication,
            403 => ErrorCode::Authorization,
            404 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            429 => ErrorCode::RateLimit,
            504 => ErrorCode::Timeout,
            _ => ErrorCode::ExternalService,
        });
    Err(PluginError::new(code, message).with_details(json!({ "upstreamStatus": status })))
}
