//! JSON views of runs, calls, logs and task functions for the task API: stable camelCase
//! field names, ISO timestamps and parsed JSON payloads. Pure conversions, no I/O.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use tasker_store::{StackRun, StackRunStatus, TaskFunction, TaskLog, TaskRun};

use crate::http::envelope::iso_timestamp;

/// Unix ms → ISO timestamp.
pub fn iso(ms: i64) -> String {
    iso_timestamp(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

fn iso_opt(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(iso(m))).unwrap_or(Value::Null)
}

fn parse(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())),
    }
}

/// Services whose call arguments and results are secrets: shown as `"***"`.
fn is_secret_service(service: &str) -> bool {
    matches!(service, "keystore" | "wrappedkeystore")
}

/// One run, with timings.
pub fn run_view(run: &TaskRun) -> Value {
    let duration = run.ended_at.zip(run.started_at).map(|(e, s)| e - s);
    json!({
        "id": run.id,
        "taskRunId": run.id,
        "taskName": run.task_name,
        "status": run.status.as_str(),
        "input": parse(Some(&run.input)),
        "result": parse(run.result.as_deref()),
        "error": parse(run.error.as_deref()),
        "codeHash": run.code_hash,
        "parentStackRunId": run.parent_stack_run_id,
        "callsCompleted": run.calls_completed,
        "segments": run.segment_count,
        // The host that ran the latest segment (it holds the live context while suspended).
        "host": run.lease_owner,
        "createdAt": iso(run.created_at),
        "startedAt": iso_opt(run.started_at),
        "suspendedAt": iso_opt(run.suspended_at),
        "endedAt": iso_opt(run.ended_at),
        "durationMs": duration,
    })
}

/// Call counts by status for a run's journal.
pub fn call_counts(calls: &[StackRun]) -> Value {
    let count = |s: StackRunStatus| calls.iter().filter(|c| c.status == s).count();
    json!({
        "total": calls.len(),
        "completed": count(StackRunStatus::Completed),
        "failed": count(StackRunStatus::Failed),
        "pending": count(StackRunStatus::Pending),
        "processing": count(StackRunStatus::Processing),
    })
}

/// One journal entry for the call tree.
pub fn call_view(call: &StackRun) -> Value {
    let secret = is_secret_service(&call.service);
    let redact = |v: Value| {
        if secret && !v.is_null() {
            json!("***")
        } else {
            v
        }
    };
    json!({
        "id": call.id,
        "seq": call.seq,
        "service": call.service,
        "method": call.method,
        "status": call.status.as_str(),
        "attempts": call.attempts,
        "args": redact(parse(Some(&call.args))),
        "result": redact(parse(call.result.as_deref())),
        "error": parse(call.error.as_deref()),
        "idempotencyKey": call.idempotency_key,
        // The host executing the call, or the one that settled it.
        "host": call.lease_owner,
        "createdAt": iso(call.created_at),
        "startedAt": iso_opt(call.started_at),
        "endedAt": iso_opt(call.ended_at),
        "durationMs": call.ended_at.zip(call.started_at).map(|(e, s)| e - s),
    })
}

/// One console line.
pub fn log_view(log: &TaskLog) -> Value {
    json!({ "seq": log.seq, "level": log.level, "message": log.message, "time": iso(log.created_at) })
}

/// A registered task (without its code unless asked).
pub fn function_view(f: &TaskFunction, with_code: bool) -> Value {
    let mut v = json!({
        "name": f.name,
        "description": f.description,
        "codeHash": f.code_hash,
        "createdAt": iso(f.created_at),
        "updatedAt": iso(f.updated_at),
    });
    if with_code {
        v["code"] = json!(f.code);
    }
    v
}
