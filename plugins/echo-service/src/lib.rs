//! `echo-service`: a network-free plugin for tests and benchmarks. `echo` returns its
//! arguments, `sleep` waits, `fail` returns a chosen error, `panic` panics (to prove
//! containment), `callService` calls another service through the host handle, and
//! `calls` reports every call received with its idempotency key (to prove at-least-once
//! delivery with stable keys), and `httpPost` POSTs to a loopback URL (the `http-step`
//! benchmark). It must never touch the environment or any non-loopback address; the only
//! file it writes is the optional `recordFile` of its configuration: one JSON line per
//! received call, appended before the call returns, so a test can see the calls of a host
//! that was killed (in-memory `calls` die with the process).

mod http_post;

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{
    CallContext, ErrorCode, Host, Manifest, MethodSpec, Plugin, PluginError, Scope, export_plugin,
};

/// How many received calls `calls` remembers (oldest dropped first).
const CALL_LOG_CAPACITY: usize = 200_000;

/// The plugin instance.
pub struct EchoService {
    host: Host,
    call_log: Mutex<VecDeque<Value>>,
    /// `recordFile`: an append-only JSON-lines copy of the call log.
    record_file: Option<Mutex<std::fs::File>>,
    poster: http_post::HttpPoster,
}

fn manifest() -> Manifest {
    let object = json!({ "type": "object" });
    Manifest {
        name: "echo-service".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Echoes, sleeps, fails and panics on request. Needs no network and no keys.".into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec![],
        chain_method: None,
        max_concurrency: Some(1024),
        methods: vec![
            MethodSpec::new("echo", "Returns its arguments unchanged")
                .description("Whatever JSON is sent as arguments comes back as the result.")
                .example(json!({ "hello": "world" })),
            MethodSpec::new("sleep", "Waits `ms` milliseconds, then returns how long it slept")
                .params(json!({
                    "type": "object",
                    "properties": { "ms": { "type": "integer", "minimum": 0, "maximum": 600000 } },
                    "required": ["ms"],
                    "additionalProperties": false
                }))
                .positional(&["ms"])
                .result(json!({ "type": "object", "properties": { "slept": { "type": "integer" } } }))
                .example(json!({ "ms": 50 })),
            MethodSpec::new("fail", "Returns the error it is asked for")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "code": { "type": "string", "description": "An error code such as NOT_FOUND_ERROR or TIMEOUT_ERROR" },
                        "message": { "type": "string" }
                    },
                    "additionalProperties": false
                }))
                .positional(&["code", "message"])
                .example(json!({ "code": "NOT_FOUND_ERROR", "message": "no such thing" })),
            MethodSpec::new("panic", "Panics inside the plugin (the host must survive)")
                .params(json!({ "type": "object", "properties": { "message": { "type": "string" } } })),
            MethodSpec::new("callService", "Calls another service through the host handle")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "service": { "type": "string" },
                        "method": { "type": "string" },
                        "args": {}
                    },
                    "required": ["service", "method"],
                    "additionalProperties": false
                }))
                .positional(&["service", "method", "args"])
                // A proxy: the host handle does not carry the caller's scope, so the proxy
                // itself needs the highest one.
                .scope(Scope::Admin)
                .example(json!({ "service": "hello-world", "method": "hello", "args": { "name": "echo" } })),
            MethodSpec::new("httpPost", "POSTs a JSON body to a loopback URL and returns the answer")
                .description("Only http:// URLs on 127.0.0.0/8, localhost or [::1] are accepted (used by the http-step benchmark).")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "url": { "type": "string", "description": "http://127.0.0.1:PORT/path" },
                        "body": { "description": "JSON sent as the request body (default {})" }
                    },
                    "required": ["url"],
                    "additionalProperties": false
                }))
                .positional(&["url", "body"])
                .result(json!({
                    "type": "object",
                    "properties": { "status": { "type": "integer" }, "body": {} }
                }))
                .example(json!({ "url": "http://127.0.0.1:8080/echo", "body": { "hello": "world" } })),
            MethodSpec::new("calls", "Lists the calls received so far, with their call context")
                .params(object.clone())
                .result(json!({ "type": "object", "properties": { "calls": { "type": "array" } } })),
            MethodSpec::new("resetCalls", "Forgets the recorded calls").params(object),
        ],
    }
}

impl EchoService {
    fn record(&self, method: &str, ctx: &CallContext) {
        let entry = json!({
            "method": method,
            "idempotencyKey": ctx.idempotency_key,
            "taskRunId": ctx.task_run_id,
            "stackRunId": ctx.stack_run_id,
            "attempt": ctx.attempt,
            "pid": std::process::id(),
        });
        if let Some(file) = &self.record_file {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            // One write per line: O_APPEND keeps lines of several processes whole.
            let line = format!("{entry}\n");
            if let Err(e) = file.write_all(line.as_bytes()) {
                self.host
                    .warn(&format!("echo-service: cannot append to recordFile: {e}"));
            }
        }
        let mut log = self.call_log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == CALL_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

impl Plugin for EchoService {
    fn manifest() -> Manifest {
        manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        let record_file = match config.get("recordFile").and_then(Value::as_str) {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        PluginError::new(
                            ErrorCode::Configuration,
                            format!("echo-service: cannot open recordFile: {e}"),
                        )
                    })?,
            )),
            None => None,
        };
        Ok(Self {
            host,
            call_log: Mutex::new(VecDeque::new()),
            record_file,
            poster: http_post::HttpPoster::default(),
        })
    }

    fn call(&self, method: &str, args: Value, ctx: &CallContext) -> Result<Value, PluginError> {
        if method != "calls" && method != "resetCalls" {
            self.record(method, ctx);
        }
        match method {
            "echo" => Ok(args),
            "sleep" => {
                let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(0);
                std::thread::sleep(Duration::from_millis(ms));
                Ok(json!({ "slept": ms }))
            }
            "fail" => {
                let code = args
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("INTERNAL_ERROR");
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("failed on request");
                Err(PluginError::new(ErrorCode::parse(code), message))
            }
            "panic" => {
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("echo-service panicked on request");
                panic!("{message}");
            }
            "callService" => {
                let service = args
                    .get("service")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let method = args
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let inner = args.get("args").cloned().unwrap_or(Value::Null);
                self.host
                    .debug(&format!("calling {service}.{method} through the host"));
                let result = self.host.call_service(service, method, &inner)?;
                Ok(json!({ "via": "echo-service", "result": result }))
            }
            "httpPost" => self.poster.post(&args),
            "calls" => {
                let log = self.call_log.lock().unwrap_or_else(|p| p.into_inner());
                Ok(json!({ "calls": log.iter().cloned().collect::<Vec<_>>() }))
            }
            "resetCalls" => {
                self.call_log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                Ok(json!({ "cleared": true }))
            }
            other => Err(PluginError::unknown_method("echo-service", other)),
        }
    }
}

export_plugin!(EchoService);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_every_method() {
        let names: Vec<_> = manifest().methods.into_iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "echo",
                "sleep",
                "fail",
                "panic",
                "callService",
                "httpPost",
                "calls",
                "resetCalls"
            ]
        );
    }
}
