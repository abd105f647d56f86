//! The openai plugin's configuration: its `--plugin-config` object (`{"openai": {...}}`)
//! with environment fallbacks, resolved once at `init`. The only module that reads the
//! environment for settings (keys are read per use by `credentials`). Holds no secrets.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tasker_plugin_api::{ErrorCode, PluginError};
use tasker_plugin_kit::http::{RetryPolicy, timeout_from_settings};

/// The public API, used when neither config nor environment names another server.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The configuration object as written (camelCase keys; unknown keys are an error).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct RawConfig {
    /// Reserved for the host's facts (`databaseUrl`, `version`); unused here.
    host: Option<Value>,
    base_url: Option<String>,
    organization: Option<String>,
    project: Option<String>,
    key_namespace: Option<String>,
    timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    retry_base_delay_ms: Option<u64>,
    max_retry_wait_ms: Option<u64>,
    credential_ttl_secs: Option<u64>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API root without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// `OpenAI-Organization` header value.
    pub organization: Option<String>,
    /// `OpenAI-Project` header value.
    pub project: Option<String>,
    /// Keystore namespace of `OPENAI_API_KEY` (None: the keystore's default).
    pub key_namespace: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// How long a looked-up key is reused.
    pub credential_ttl: Duration,
}

impl Settings {
    /// Reads the plugin's config object, falling back to `OPENAI_BASE_URL`,
    /// `OPENAI_ORGANIZATION`/`OPENAI_ORG_ID` and `OPENAI_PROJECT`/`OPENAI_PROJECT_ID`.
    pub fn from_config(config: Value) -> Result<Self, PluginError> {
        let config = if config.is_null() {
            Value::Object(Default::default())
        } else {
            config
        };
        let raw: RawConfig = serde_json::from_value(config).map_err(|e| {
            PluginError::new(
                ErrorCode::Configuration,
                format!("invalid openai plugin configuration: {e}"),
            )
        })?;
        let _ = raw.host;
        let base_url = raw
            .base_url
            .or_else(|| env("OPENAI_BASE_URL"))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if reqwest::Url::parse(&base_url).is_err() {
            return Err(PluginError::new(
                ErrorCode::Configuration,
                format!("openai baseUrl is not a URL: {base_url}"),
            ));
        }
        Ok(Self {
            base_url,
            organization: raw
                .organization
                .or_else(|| env("OPENAI_ORGANIZATION"))
                .or_else(|| env("OPENAI_ORG_ID")),
            project: raw
                .project
                .or_else(|| env("OPENAI_PROJECT"))
                .or_else(|| env("OPENAI_PROJECT_ID")),
            key_namespace: raw.key_namespace.filter(|n| !n.is_empty()),
            timeout: timeout_from_settings(raw.timeout_ms),
            retry: RetryPolicy::from_settings(
                raw.max_attempts,
                raw.retry_base_delay_ms,
                raw.max_retry_wait_ms,
            ),
            credential_ttl: Duration::from_secs(raw.credential_ttl_secs.unwrap_or(60)),
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_values_win_and_defaults_fill_the_rest() {
        let s = Settings::from_config(json!({
            "host": { "databaseUrl": "sqlite://x" },
            "baseUrl": "http://127.0.0.1:9/v1/",
            "organization": "org-1",
            "maxAttempts": 5,
            "retryBaseDelayMs": 10
        }))
        .unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(s.organization.as_deref(), Some("org-1"));
        assert_eq!(s.retry.max_attempts, 5);
        assert_eq!(s.retry.base_delay, Duration::from_millis(10));
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.credential_ttl, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_and_bad_urls_are_configuration_errors() {
        let e = Settings::from_config(json!({ "baseURL": "x" })).unwrap_err();
        assert_eq!(e.code, ErrorCode::Configuration);
        assert!(e.message.contains("baseURL"), "{}", e.message);
        let e = Settings::from_config(json!({ "baseUrl": "not a url" })).unwrap_err();
        assert_eq!(e.code, ErrorCode::Configuration);
    }
}
