//! gapi's settings: API roots, HTTP timeout and retry policy, credential and token cache
//! lifetimes, read from the plugin's configuration object with `GAPI_*` environment
//! fallbacks. This is the only module that reads configuration; it never reads secrets.

use std::time::Duration;

use serde_json::Value;

/// Looks up an environment variable (injectable so tests need not touch the process env).
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where each Google API family is served. Paths (`/admin/directory/v1/...`) are appended.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRoots {
    /// Admin SDK Directory API root.
    pub admin: String,
    /// Gmail API root.
    pub gmail: String,
    /// Calendar API root.
    pub calendar: String,
    /// Drive API root.
    pub drive: String,
}

/// How upstream requests are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// First backoff; doubles on each retry.
    pub base_delay: Duration,
    /// Longest wait between attempts; a longer `Retry-After` ends the retries instead.
    pub max_delay: Duration,
}

/// Everything configurable about gapi.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// API roots per family.
    pub roots: ApiRoots,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry policy for 429, 5xx and connection errors.
    pub retry: RetryPolicy,
    /// How long credentials read from the keystore or env are reused before re-reading.
    pub credential_ttl: Duration,
    /// Tokens are refreshed when they expire within this margin.
    pub refresh_margin: Duration,
    /// Most pages `autoPaginate` fetches in one call.
    pub max_pages: u32,
    /// The keystore service name (or alias) credentials are read from.
    pub keystore_service: String,
    /// Optional keystore namespace passed as `getKey`'s second argument.
    pub keystore_namespace: Option<String>,
}

const DEFAULT_ADMIN_ROOT: &str = "https://admin.googleapis.com";
const DEFAULT_GMAIL_ROOT: &str = "https://gmail.googleapis.com";
const DEFAULT_GOOGLEAPIS_ROOT: &str = "https://www.googleapis.com";

/// Keys the configuration object may hold (`host` is the host's reserved key).
const KNOWN_KEYS: [&str; 15] = [
    "host",
    "apiRoot",
    "adminRoot",
    "gmailRoot",
    "calendarRoot",
    "driveRoot",
    "timeoutMs",
    "maxRetries",
    "retryBaseMs",
    "maxRetryDelayMs",
    "credentialTtlSeconds",
    "tokenRefreshMarginSeconds",
    "maxPages",
    "keystoreService",
    "keystoreNamespace",
];

impl Settings {
    /// Reads `config` (the plugin's configuration object), falling back to `env` and then
    /// to defaults. Unknown keys and malformed values are errors naming the key.
    pub fn load(config: &Value, env: &EnvLookup) -> Result<Self, String> {
        if let Some(obj) = config.as_object() {
            let unknown: Vec<&str> = obj
                .keys()
                .map(String::as_str)
                .filter(|k| !KNOWN_KEYS.contains(k))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "unknown gapi configuration keys: {} (known: {})",
                    unknown.join(", "),
                    KNOWN_KEYS[1..].join(", ")
                ));
            }
        }
        let reader = Reader { config, env };
        let common = reader.string("apiRoot", "GAPI_API_ROOT")?;
        let root = |key: &str, var: &str, default: &str| -> Result<String, String> {
            let value = reader
                .string(key, var)?
                .or_else(|| common.clone())
                .unwrap_or_else(|| default.to_owned());
            Ok(value.trim_end_matches('/').to_owned())
        };
        Ok(Settings {
            roots: ApiRoots {
                admin: root("adminRoot", "GAPI_ADMIN_ROOT", DEFAULT_ADMIN_ROOT)?,
                gmail: root("gmailRoot", "GAPI_GMAIL_ROOT", DEFAULT_GMAIL_ROOT)?,
                calendar: root(
                    "calendarRoot",
                    "GAPI_CALENDAR_ROOT",
                    DEFAULT_GOOGLEAPIS_ROOT,
                )?,
                drive: root("driveRoot", "GAPI_DRIVE_ROOT", DEFAULT_GOOGLEAPIS_ROOT)?,
            },
            timeout: Duration::from_millis(
                reader
                    .number("timeoutMs", "GAPI_TIMEOUT_MS", 30_000)?
                    .max(1),
            ),
            retry: RetryPolicy {
                max_retries: reader.number("maxRetries", "GAPI_MAX_RETRIES", 3)?.min(10) as u32,
                base_delay: Duration::from_millis(reader.number(
                    "retryBaseMs",
                    "GAPI_RETRY_BASE_MS",
                    500,
                )?),
                max_delay: Duration::from_millis(reader.number(
                    "maxRetryDelayMs",
                    "GAPI_MAX_RETRY_DELAY_MS",
                    30_000,
                )?),
            },
            credential_ttl: Duration::from_secs(reader.number(
                "credentialTtlSeconds",
                "GAPI_CREDENTIAL_TTL_SECONDS",
                300,
            )?),
            refresh_margin: Duration::from_secs(reader.number(
                "tokenRefreshMarginSeconds",
                "GAPI_TOKEN_REFRESH_MARGIN_SECONDS",
                300,
            )?),
            max_pages: reader
                .number("maxPages", "GAPI_MAX_PAGES", 50)?
                .clamp(1, 10_000) as u32,
            keystore_service: reader
                .string("keystoreService", "GAPI_KEYSTORE_SERVICE")?
                .unwrap_or_else(|| "keystore".to_owned()),
            keystore_namespace: reader.string("keystoreNamespace", "GAPI_KEYSTORE_NAMESPACE")?,
        })
    }
}

/// Reads one setting from the config object, then the environment.
struct Reader<'a> {
    config: &'a Value,
    env: &'a EnvLookup,
}

impl Reader<'_> {
    fn string(&self, key: &str, var: &str) -> Result<Option<String>, String> {
        match self.config.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(Value::Null) | None => Ok((self.env)(var).filter(|v| !v.trim().is_empty())),
            Some(other) => Err(format!(
                "gapi configuration key {key} must be a string, got {other}"
            )),
        }
    }

    fn number(&self, key: &str, var: &str, default: u64) -> Result<u64, String> {
        match self.config.get(key) {
            Some(v) if v.is_u64() => Ok(v.as_u64().unwrap_or(default)),
            Some(Value::Null) | None => match (self.env)(var) {
                Some(text) => text.trim().parse().map_err(|_| {
                    format!("environment variable {var} must be a whole number, got {text:?}")
                }),
                None => Ok(default),
            },
            Some(other) => Err(format!(
                "gapi configuration key {key} must be a whole number, got {other}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_point_at_google() {
        let s = Settings::load(&json!({}), &no_env).unwrap();
        assert_eq!(s.roots.admin, "https://admin.googleapis.com");
        assert_eq!(s.roots.calendar, "https://www.googleapis.com");
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.retry.max_retries, 3);
        assert_eq!(s.refresh_margin, Duration::from_secs(300));
    }

    #[test]
    fn one_root_serves_every_family_and_config_beats_env() {
        let env = |var: &str| match var {
            "GAPI_API_ROOT" => Some("http://127.0.0.1:9/".to_owned()),
            "GAPI_TIMEOUT_MS" => Some("250".to_owned()),
            _ => None,
        };
        let s = Settings::load(
            &json!({ "gmailRoot": "http://gmail.test", "maxRetries": 0 }),
            &env,
        )
        .unwrap();
        assert_eq!(s.roots.admin, "http://127.0.0.1:9");
        assert_eq!(s.roots.drive, "http://127.0.0.1:9");
        assert_eq!(s.roots.gmail, "http://gmail.test");
        assert_eq!(s.timeout, Duration::from_millis(250));
        assert_eq!(s.retry.max_retries, 0);
    }

    #[test]
    fn unknown_and_malformed_keys_are_named() {
        let err = Settings::load(&json!({ "apiRoots": "x" }), &no_env).unwrap_err();
        assert!(err.contains("apiRoots"), "{err}");
        let err = Settings::load(&json!({ "timeoutMs": "soon" }), &no_env).unwrap_err();
        assert!(err.contains("timeoutMs"), "{err}");
        let env = |_: &str| Some("x".to_owned());
        let err = Settings::load(&json!({}), &env).unwrap_err();
        assert!(err.contains("GAPI_"), "{err}");
    }
}
