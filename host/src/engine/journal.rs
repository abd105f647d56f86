//! Turns a run's stack runs (its journal) into what the sandbox needs: the calls issued
//! so far, the deliveries already made (grouped by segment, in order, with the segment's
//! recorded time) and the results settled since the last segment (the next delivery).
//! Pure functions over rows: no database access, no JavaScript.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tasker_sandbox::{CallResult, DeliveredResult, Delivery, HostCallError, IssuedCall};
use tasker_store::{StackRun, StackRunStatus};

/// The sandbox's view of a run's journal.
#[derive(Debug, Default)]
pub struct JournalView {
    /// Every call issued so far, by seq.
    pub issued: Vec<IssuedCall>,
    /// Deliveries already made, in segment order.
    pub delivered: Vec<Delivery>,
    /// Results settled but not yet delivered (seq, result).
    pub undelivered: Vec<DeliveredResult>,
}

impl JournalView {
    /// Builds the view; `segment_times[k]` is the time of segment k (0 = start).
    pub fn build(journal: &[StackRun], segment_times: &[i64]) -> Self {
        let mut view = JournalView::default();
        let mut by_segment: BTreeMap<i64, Vec<DeliveredResult>> = BTreeMap::new();
        for call in journal {
            view.issued.push(IssuedCall {
                seq: call.seq as u64,
                service: call.service.clone(),
                method: call.method.clone(),
                args_hash: call.args_hash.clone(),
            });
            let Some(result) = settled_result(call) else {
                continue;
            };
            let delivered = DeliveredResult {
                seq: call.seq as u64,
                result,
            };
            match call.delivered_segment {
                Some(segment) => by_segment.entry(segment).or_default().push(delivered),
                None => view.undelivered.push(delivered),
            }
        }
        for (segment, results) in by_segment {
            let time = usize::try_from(segment)
                .ok()
                .and_then(|i| segment_times.get(i))
                .copied()
                .unwrap_or(0);
            view.delivered.push(Delivery {
                segment_time_ms: time,
                results,
            });
        }
        view
    }
}

/// The result a settled call delivers to the task, or None while it is in flight.
pub fn settled_result(call: &StackRun) -> Option<CallResult> {
    match call.status {
        StackRunStatus::Completed => {
            let value = call
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            Some(CallResult::Ok(value))
        }
        StackRunStatus::Failed => Some(CallResult::Err(call_error(call))),
        _ => None,
    }
}

/// Reads the stored error of a failed call (JSON written by [`error_text`]).
fn call_error(call: &StackRun) -> HostCallError {
    let stored: Value = call
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or(Value::Null);
    let text = |key: &str| stored.get(key).and_then(Value::as_str).map(str::to_owned);
    HostCallError {
        code: text("code").unwrap_or_else(|| "INTERNAL_ERROR".into()),
        message: text("message")
            .or_else(|| call.error.clone())
            .unwrap_or_else(|| "call failed".into()),
        service: call.service.clone(),
        method: call.method.clone(),
    }
}

/// The stored form of a call error.
pub fn error_text(code: &str, message: &str, service: &str, method: &str) -> String {
    json!({ "code": code, "message": message, "service": service, "method": method }).to_string()
}
