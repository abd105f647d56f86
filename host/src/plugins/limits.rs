//! Per-plugin call limits shared by the in-process and the isolated runtime, and the checks
//! both apply to a plugin's answer (size, then JSON). The error messages name the plugin,
//! the method and the numbers, because the caller cannot see inside the plugin.

use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};

/// Default for `--max-result-bytes`: 16 MiB.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;
/// Default for `--max-stuck-calls`.
pub const DEFAULT_MAX_STUCK_CALLS: usize = 4;
/// Health checks get at most this long, so that one stuck plugin cannot stall `/health`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// How calls into one plugin are bounded.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Most calls running in the plugin at once (its manifest's `max_concurrency`).
    pub concurrency: u32,
    /// Each call's deadline, waiting for a free slot included.
    pub timeout: Duration,
    /// Largest result text accepted from the plugin.
    pub max_result_bytes: usize,
    /// Calls abandoned after their timeout that may still be running inside the plugin
    /// before it is reported unhealthy and refused (in-process) or restarted (isolated).
    pub max_stuck_calls: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            concurrency: 256,
            timeout: Duration::from_secs(30),
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_stuck_calls: DEFAULT_MAX_STUCK_CALLS,
        }
    }
}

impl CallLimits {
    /// Whether `stuck` abandoned calls are too many: the limit is reached, or they hold
    /// every concurrency slot so no call could enter anyway.
    pub fn too_many_stuck(&self, stuck: usize) -> bool {
        stuck > 0 && (stuck >= self.max_stuck_calls.max(1) || stuck >= self.concurrency as usize)
    }

    /// The health check's deadline.
    pub fn health_timeout(&self) -> Duration {
        HEALTH_TIMEOUT.min(self.timeout)
    }
}

/// Checks the size of a plugin's result text, then parses it.
pub fn parse_result(
    plugin: &str,
    method: &str,
    text: &str,
    max_result_bytes: usize,
) -> Result<Value, PluginError> {
    if text.len() > max_result_bytes {
        return Err(result_too_large(
            plugin,
            method,
            text.len(),
            max_result_bytes,
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        PluginError::new(
            ErrorCode::Internal,
            format!("plugin '{plugin}' returned invalid JSON from '{method}': {e}"),
        )
    })
}

/// The error for a result over `--max-result-bytes`.
pub fn result_too_large(plugin: &str, method: &str, size: usize, limit: usize) -> PluginError {
    PluginError::new(
        ErrorCode::Internal,
        format!(
            "plugin '{plugin}' returned a {size}-byte result from '{method}', more than the \
             limit of {limit} bytes (--max-result-bytes)"
        ),
    )
    .with_details(json!({ "size": size, "limit": limit }))
}

/// The error for a call that did not finish in time and was abandoned.
pub fn call_timed_out(plugin: &str, method: &str, timeout: Duration, stuck: usize) -> PluginError {
    PluginError::new(
        ErrorCode::Timeout,
        format!(
            "plugin '{plugin}' did not answer '{method}' within {} s; the call was abandoned \
             ({stuck} abandoned call(s) may still be running in the plugin)",
            timeout.as_secs_f64()
        ),
    )
}

/// The error for a call that found no free concurrency slot before its deadline.
pub fn no_free_slot(plugin: &str, method: &str, limits: &CallLimits, stuck: usize) -> PluginError {
    PluginError::new(
        ErrorCode::Timeout,
        format!(
            "plugin '{plugin}' had no free slot for '{method}' within {} s: all {} of its \
             concurrent calls (max_concurrency) are busy, {stuck} of them stuck",
            limits.timeout.as_secs_f64(),
            limits.concurrency
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_over_the_limit_name_size_and_limit() {
        let e = parse_result("p", "m", "\"abcdef\"", 4).unwrap_err();
        assert!(
            e.message.contains("8-byte result from 'm'"),
            "{}",
            e.message
        );
        assert!(e.message.contains("limit of 4 bytes"), "{}", e.message);
    }

    #[test]
    fn invalid_json_names_plugin_and_method() {
        let e = parse_result("p", "m", "{nope", 100).unwrap_err();
        assert!(
            e.message
                .starts_with("plugin 'p' returned invalid JSON from 'm'")
        );
        assert_eq!(parse_result("p", "m", "[1]", 100).unwrap(), json!([1]));
    }

    #[test]
    fn stuck_calls_are_bounded_by_limit_and_concurrency() {
        let limits = CallLimits {
            concurrency: 2,
            max_stuck_calls: 4,
            ..CallLimits::default()
        };
        assert!(!limits.too_many_stuck(0));
        assert!(!limits.too_many_stuck(1));
        assert!(limits.too_many_stuck(2));
    }
}
