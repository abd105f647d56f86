//! The websearch plugin's configuration: its `--plugin-config` object
//! (`{"websearch": {...}}`) with environment fallbacks, resolved once at `init`: which
//! provider, its base URL, timeouts and retries. The only module that reads the
//! environment for settings (keys are read per use by `credentials`). Holds no secrets.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tasker_plugin_api::{ErrorCode, PluginError};
use tasker_plugin_kit::http::{RetryPolicy, timeout_from_settings};

/// The search backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Google Programmable Search (Custom Search JSON API): key + engine id.
    Google,
    /// Brave Search API: key in `X-Subscription-Token`.
    Brave,
    /// A self-hosted SearXNG instance's JSON endpoint: no key.
    Searxng,
    /// DuckDuckGo's HTML page: no key (the original's only provider, and the default).
    DuckDuckGo,
}

impl Provider {
    /// Parses a provider name as written in config or `WEBSEARCH_PROVIDER`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "google" | "google-cse" | "programmable-search" => Some(Self::Google),
            "brave" => Some(Self::Brave),
            "searxng" | "searx" => Some(Self::Searxng),
            "duckduckgo" | "ddg" => Some(Self::DuckDuckGo),
            _ => None,
        }
    }

    /// The name reported in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Brave => "brave",
            Self::Searxng => "searxng",
            Self::DuckDuckGo => "duckduckgo",
        }
    }

    /// The public endpoint (None for SearXNG, which is always self-hosted).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Google => Some("https://www.googleapis.com/customsearch/v1"),
            Self::Brave => Some("https://api.search.brave.com/res/v1/web/search"),
            Self::Searxng => None,
            Self::DuckDuckGo => Some("https://html.duckduckgo.com/html/"),
        }
    }
}

/// The configuration object as written (camelCase keys; unknown keys are an error).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct RawConfig {
    /// Reserved for the host's facts (`databaseUrl`, `version`); unused here.
    host: Option<Value>,
    provider: Option<String>,
    base_url: Option<String>,
    engine_id: Option<String>,
    key_namespace: Option<String>,
    user_agent: Option<String>,
    timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    retry_base_delay_ms: Option<u64>,
    max_retry_wait_ms: Option<u64>,
    credential_ttl_secs: Option<u64>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The provider every search uses.
    pub provider: Provider,
    /// Its endpoint (None: SearXNG without a URL, reported at call time).
    pub base_url: Option<String>,
    /// Google's engine id from config (else keystore/env `WEBSEARCH_ENGINE_ID`).
    pub engine_id: Option<String>,
    /// Keystore namespace of the keys (None: the keystore's default).
    pub key_namespace: Option<String>,
    /// `User-Agent` sent upstream (DuckDuckGo refuses obvious bots).
    pub user_agent: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// How long a looked-up key is reused.
    pub credential_ttl: Duration,
}

/// A browser-like agent: DuckDuckGo's HTML endpoint answers bots with a challenge page.
const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

impl Settings {
    /// Reads the config object, falling back to `WEBSEARCH_PROVIDER` and
    /// `WEBSEARCH_BASE_URL`; DuckDuckGo when no provider is named.
    pub fn from_config(config: Value) -> Result<Self, PluginError> {
        let config = if config.is_null() {
            Value::Object(Default::default())
        } else {
            config
        };
        let raw: RawConfig = serde_json::from_value(config)
            .map_err(|e| config_error(format!("invalid websearch plugin configuration: {e}")))?;
        let _ = raw.host;
        let provider = match raw.provider.or_else(|| env("WEBSEARCH_PROVIDER")) {
            Some(name) => Provider::parse(&name).ok_or_else(|| {
                config_error(format!(
                    "unknown websearch provider {name:?}: use google, brave, searxng or duckduckgo"
                ))
            })?,
            None => Provider::DuckDuckGo,
        };
        let base_url = raw
            .base_url
            .or_else(|| env("WEBSEARCH_BASE_URL"))
            .or_else(|| provider.default_base_url().map(str::to_owned))
            .map(|u| u.trim().to_owned());
        if let Some(url) = &base_url
            && reqwest::Url::parse(url).is_err()
        {
            return Err(config_error(format!(
                "websearch baseUrl is not a URL: {url}"
            )));
        }
        Ok(Self {
            provider,
            base_url,
            engine_id: raw.engine_id.filter(|e| !e.is_empty()),
            key_namespace: raw.key_namespace.filter(|n| !n.is_empty()),
            user_agent: raw
                .user_agent
                .unwrap_or_else(|| BROWSER_USER_AGENT.to_owned()),
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

fn config_error(message: String) -> PluginError {
    PluginError::new(ErrorCode::Configuration, message)
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
    fn provider_names_parse() {
        assert_eq!(Provider::parse("Google"), Some(Provider::Google));
        assert_eq!(Provider::parse("brave"), Some(Provider::Brave));
        assert_eq!(Provider::parse("searx"), Some(Provider::Searxng));
        assert_eq!(Provider::parse("ddg"), Some(Provider::DuckDuckGo));
        assert_eq!(Provider::parse("bing"), None);
    }

    #[test]
    fn config_picks_provider_and_url() {
        let s =
            Settings::from_config(json!({ "provider": "brave", "retryBaseDelayMs": 5 })).unwrap();
        assert_eq!(s.provider, Provider::Brave);
        assert_eq!(s.base_url.as_deref(), Provider::Brave.default_base_url());
        assert_eq!(s.retry.base_delay, Duration::from_millis(5));
        let s = Settings::from_config(
            json!({ "provider": "searxng", "baseUrl": "http://127.0.0.1:8888" }),
        )
        .unwrap();
        assert_eq!(s.base_url.as_deref(), Some("http://127.0.0.1:8888"));
        let e = Settings::from_config(json!({ "provider": "bing" })).unwrap_err();
        assert_eq!(e.code, ErrorCode::Configuration);
        let e = Settings::from_config(json!({ "engineID": "x" })).unwrap_err();
        assert!(e.message.contains("engineID"), "{}", e.message);
    }
}
