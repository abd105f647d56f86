//! The two gapi probes: `test-direct-gapi` calls `gapi admin.domains.list` straight
//! through the host registry; `test-stack-processor` runs the same call inside a task on
//! the durable engine (via `deno-executor run`) and reports the run and its journal with
//! timings. Both only read; neither retries or hides a failure.

use std::time::Instant;

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, Host, PluginError};

/// The task code the durable probe runs: exactly the call the direct probe makes.
fn probe_task_code(customer: &str) -> String {
    let customer = Value::String(customer.to_owned());
    format!(
        "module.exports = async () => await __callHostTool__('gapi', ['admin', 'domains', 'list'], [{{ customer: {customer} }}]);"
    )
}

const PROBE_TASK_NAME: &str = "admin-debug-stack-test";
const DEFAULT_CUSTOMER: &str = "my_customer";
const DEFAULT_WAIT_SECONDS: f64 = 60.0;

fn customer_of(args: &Value) -> &str {
    args.get("customer")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or(DEFAULT_CUSTOMER)
}

/// The original's summary of a result: its type, keys and list sizes.
pub fn summarize(result: &Value) -> Value {
    let result_type = match result {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let keys: Vec<&String> = result
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let len = |key: &str| result.get(key).and_then(Value::as_array).map(Vec::len);
    json!({
        "resultType": result_type,
        "resultKeys": keys,
        "domainsCount": len("domains"),
        "itemsCount": len("items").or_else(|| result.as_array().map(Vec::len)),
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// `test-direct-gapi`: one registry call, timed.
pub fn direct_gapi(host: &Host, args: &Value) -> Result<Value, PluginError> {
    let customer = customer_of(args);
    let started = Instant::now();
    let result = host
        .call_service(
            "gapi",
            "admin.domains.list",
            &json!({ "customer": customer }),
        )
        .map_err(|e| {
            let message = format!("Direct GAPI call failed: {}", e.message);
            PluginError { message, ..e }
        })?;
    let report = json!({
        "success": true,
        "message": "Direct GAPI call successful",
        "durationMs": started.elapsed().as_millis() as u64,
        "fullResult": result,
    });
    Ok(merge(report, summarize(&result)))
}

/// `test-stack-processor`: the same call as a durable task run, with the run's journal.
pub fn stack_processor(host: &Host, args: &Value) -> Result<Value, PluginError> {
    let customer = customer_of(args);
    let wait = args
        .get("waitSeconds")
        .and_then(Value::as_f64)
        .unwrap_or(DEFAULT_WAIT_SECONDS);
    let started = Instant::now();
    let outcome = host.call_service(
        "deno-executor",
        "run",
        &json!({
            "taskCode": probe_task_code(customer),
            "taskName": PROBE_TASK_NAME,
            "taskInput": {},
            "waitSeconds": wait,
        }),
    )?;
    let total_ms = started.elapsed().as_millis() as u64;
    let run_id = outcome.get("taskRunId").and_then(Value::as_i64);
    // The journal shows each call's attempts and timings; without it the report still stands.
    let tree = run_id.and_then(|id| {
        host.call_service("task-executor", "run", &json!({ "id": id }))
            .ok()
    });
    let calls = tree
        .as_ref()
        .and_then(|t| t.get("calls"))
        .and_then(Value::as_array)
        .map(|calls| calls.iter().map(call_summary).collect::<Vec<_>>())
        .unwrap_or_default();
    let status = outcome
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    match status {
        "completed" => {
            let result = outcome.get("result").cloned().unwrap_or(Value::Null);
            let report = json!({
                "success": true,
                "message": "Stack processor test completed",
                "taskRunId": run_id,
                "runStatus": status,
                "timings": { "totalMs": total_ms },
                "calls": calls,
                "fullResult": result,
            });
            Ok(merge(report, summarize(&result)))
        }
        "error" => {
            let error = outcome.get("error").cloned().unwrap_or(Value::Null);
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| error.to_string());
            let code = error
                .get("code")
                .and_then(Value::as_str)
                .map(ErrorCode::parse)
                .unwrap_or(ErrorCode::ExternalService);
            Err(
                PluginError::new(code, format!("Stack processor test failed: {message}"))
                    .with_details(json!({
                        "taskRunId": run_id,
                        "timings": { "totalMs": total_ms },
                        "calls": calls,
                        "error": error,
                    })),
            )
        }
        other => Err(PluginError::new(
            ErrorCode::Timeout,
            format!("Stack processor test did not finish within {wait} s (run status {other})"),
        )
        .with_details(
            json!({ "taskRunId": run_id, "runStatus": outcome.get("runStatus"), "calls": calls }),
        )),
    }
}

fn call_summary(call: &Value) -> Value {
    json!({
        "service": call.get("service"),
        "method": call.get("method"),
        "status": call.get("status"),
        "attempts": call.get("attempts"),
        "createdAt": call.get("createdAt"),
        "startedAt": call.get("startedAt"),
        "endedAt": call.get("endedAt"),
        "error": call.get("error"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_count_domains_and_items() {
        let s = summarize(&json!({ "domains": [{}, {}], "kind": "x" }));
        assert_eq!(s["resultType"], "object");
        assert_eq!(s["domainsCount"], 2);
        assert_eq!(s["resultKeys"], json!(["domains", "kind"]));
        assert_eq!(summarize(&json!([1, 2, 3]))["itemsCount"], 3);
    }

    #[test]
    fn the_probe_code_quotes_the_customer() {
        let code = probe_task_code("c'); evil('");
        assert!(code.contains(r#"customer: "c'); evil('""#), "{code}");
    }
}
