//! `echo-service.httpPost({url, body})`: POSTs a JSON body to a loopback URL and returns
//! the status and the JSON answer. It exists so the `http-step` benchmark can measure a
//! host call that makes a real HTTP request. It must only ever reach loopback addresses
//! (127.0.0.0/8, localhost, [::1]): this test plugin must not become a way out.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};
use tasker_plugin_kit::http::{RetryPolicy, Upstream};

/// Per-request timeout: a loopback echo server answers in microseconds.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The pooled client, built on the first `httpPost` (most users of this plugin never POST).
#[derive(Debug, Default)]
pub struct HttpPoster {
    upstream: OnceLock<Result<Upstream, String>>,
}

impl HttpPoster {
    /// POSTs `args.body` (JSON, default `{}`) to `args.url` and returns `{status, body}`.
    pub fn post(&self, args: &Value) -> Result<Value, PluginError> {
        let url = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| PluginError::validation("'url' (a string) is required"))?;
        check_loopback(url)?;
        let body = args.get("body").cloned().unwrap_or_else(|| json!({}));
        let upstream = self
            .upstream
            .get_or_init(|| {
                // One attempt: the benchmark measures single requests, not retries.
                let policy = RetryPolicy::from_settings(Some(1), None, None);
                Upstream::new("echo HTTP server", TIMEOUT, policy, "tasker-echo-service")
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| PluginError::new(ErrorCode::Configuration, e.clone()))?;
        let reply = upstream.send(|client| client.post(url).json(&body), &[])?;
        let answer = if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json(upstream.service())?
        };
        Ok(json!({ "status": reply.status, "body": answer }))
    }
}

/// Accepts `http://` URLs whose host is a loopback address or `localhost`.
fn check_loopback(url: &str) -> Result<(), PluginError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| PluginError::validation("'url' must start with http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(PluginError::validation(format!(
            "httpPost only reaches loopback addresses (127.0.0.0/8, localhost, [::1]); got host '{host}'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "http://127.0.0.1:8080/echo",
            "http://127.3.2.1/",
            "http://localhost:1",
            "http://[::1]:9000/x",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/",
            "http://10.0.0.1:80/",
            "http://example.com/",
            "http://127.0.0.1.example.com/",
            "http://[::2]/",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }
}
