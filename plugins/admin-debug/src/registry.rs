//! `registry` and `plugin-health`: what the host serves and whether each service is
//! healthy. The host offers plugins no registry call yet, so both read the registry file
//! the host writes at start-up and ask each service's `/health` over loopback HTTP.
//! Read-only: never calls a service method, never changes the registry.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};

/// The registry file's default name (the host's `--registry-file` default).
const DEFAULT_REGISTRY_FILE: &str = ".service-registry.json";
/// Longest a single `/health` request may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the host would need to add so this module could stop reading files.
pub const HOST_GAPS: [&str; 2] = [
    "a host call listing services with health, version, file and port (e.g. host.call_service(\"host\", \"registry\"))",
    "the registry file path under config[\"host\"][\"registryFile\"], and `?action=` query strings mapped to methods",
];

/// Where the registry file is: configuration first, then the host's own command line and
/// environment (a plugin runs inside the host process), then the host's default.
pub fn registry_path(config: &Value) -> (PathBuf, &'static str) {
    let configured = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = configured(config.get("host").and_then(|h| h.get("registryFile"))) {
        return (p, "config.host.registryFile");
    }
    if let Some(p) = configured(config.get("registryFile")) {
        return (p, "config.registryFile");
    }
    if let Some(p) = from_args(std::env::args()) {
        return (p, "host command line");
    }
    if let Some(p) = std::env::var_os("TASKER_REGISTRY_FILE").filter(|v| !v.is_empty()) {
        return (PathBuf::from(p), "TASKER_REGISTRY_FILE");
    }
    (PathBuf::from(DEFAULT_REGISTRY_FILE), "default")
}

/// `--registry-file X` or `--registry-file=X` from a command line.
fn from_args(args: impl Iterator<Item = String>) -> Option<PathBuf> {
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--registry-file" {
            return args.next().map(PathBuf::from);
        }
        if let Some(value) = arg.strip_prefix("--registry-file=") {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// The registry document as the host wrote it.
pub fn read_registry(config: &Value) -> Result<(Value, PathBuf, &'static str), PluginError> {
    let (path, source) = registry_path(config);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        PluginError::new(
            ErrorCode::Configuration,
            format!(
                "cannot read the host registry file {} (found via {source}): {e}",
                path.display()
            ),
        )
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        PluginError::new(
            ErrorCode::Internal,
            format!("the registry file {} is not JSON: {e}", path.display()),
        )
    })?;
    Ok((doc, path, source))
}

/// `registry`: every service with kind, version, file, port, URL and aliases.
pub fn registry(config: &Value) -> Result<Value, PluginError> {
    let (doc, path, source) = read_registry(config)?;
    let services: Vec<Value> = services(&doc)
        .iter()
        .map(|s| {
            json!({
                "name": s.get("name"),
                "kind": s.get("kind"),
                "version": s.get("version"),
                "file": s.get("file"),
                "port": s.get("port"),
                "url": s.get("url"),
                "aliases": s.get("aliases"),
            })
        })
        .collect();
    Ok(json!({
        "count": services.len(),
        "services": services,
        "gateway": doc.get("gateway"),
        "writtenAt": doc.get("timestamp"),
        "registryFile": path.display().to_string(),
        "foundVia": source,
        "hostGaps": HOST_GAPS,
    }))
}

fn services(doc: &Value) -> Vec<Value> {
    doc.get("services")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `plugin-health`: `GET <service url>/health` for every service.
pub fn plugin_health(
    config: &Value,
    client: &reqwest::blocking::Client,
) -> Result<Value, PluginError> {
    let (doc, _, _) = read_registry(config)?;
    let reports: Vec<Value> = services(&doc).iter().map(|s| probe(client, s)).collect();
    let healthy = reports.iter().filter(|r| r["status"] == "healthy").count();
    Ok(json!({
        "healthy": healthy,
        "unhealthy": reports.len() - healthy,
        "services": reports,
    }))
}

fn probe(client: &reqwest::blocking::Client, service: &Value) -> Value {
    let name = service.get("name").cloned().unwrap_or(Value::Null);
    let Some(url) = service.get("url").and_then(Value::as_str) else {
        return json!({ "name": name, "status": "unknown", "error": "no url in the registry" });
    };
    let started = Instant::now();
    let outcome = client
        .get(format!("{}/health", url.trim_end_matches('/')))
        .send();
    let duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(response) => {
            let http_status = response.status().as_u16();
            let body: Value = response.json().unwrap_or(Value::Null);
            // Health bodies come as the envelope (`data`) or bare.
            let report = body.get("data").cloned().unwrap_or(body);
            let status =
                report
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or(if http_status == 200 {
                        "healthy"
                    } else {
                        "unhealthy"
                    });
            json!({
                "name": name,
                "status": status,
                "httpStatus": http_status,
                "durationMs": duration_ms,
                "version": service.get("version"),
                "report": report,
            })
        }
        Err(e) => json!({
            "name": name,
            "status": "unreachable",
            "durationMs": duration_ms,
            "error": if e.is_timeout() { "timed out".to_owned() } else { "connection failed".to_owned() },
        }),
    }
}

/// The loopback client health probes use (no proxy: every URL is the host's own).
pub fn health_client() -> Result<reqwest::blocking::Client, PluginError> {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(HEALTH_TIMEOUT)
        .build()
        .map_err(|e| PluginError::internal(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_file_is_found_on_a_command_line() {
        let args = |a: &[&str]| {
            a.iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            from_args(args(&["host", "--registry-file", "/r.json"])),
            Some(PathBuf::from("/r.json"))
        );
        assert_eq!(
            from_args(args(&["host", "--registry-file=/s.json"])),
            Some(PathBuf::from("/s.json"))
        );
        assert_eq!(from_args(args(&["host", "--port", "0"])), None);
    }

    #[test]
    fn configuration_wins() {
        let config = json!({ "host": { "registryFile": "/h.json" }, "registryFile": "/c.json" });
        assert_eq!(
            registry_path(&config),
            (PathBuf::from("/h.json"), "config.host.registryFile")
        );
        assert_eq!(
            registry_path(&json!({ "registryFile": "/c.json" })).0,
            PathBuf::from("/c.json")
        );
    }
}
