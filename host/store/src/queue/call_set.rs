//! The new calls of a whole batch of segment ends in one `INSERT` (rows passed as one JSON
//! parameter), for [`crate::Store::write_journal`]: one round trip however many runs suspended.
//!
//! Must not insert a seq twice: an existing `(task_run_id, seq)` is left as it is and not
//! returned (the caller holds no lease on it), exactly as the per-run insert does.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::segment_end::SuspendWithCalls;
use super::{NewCall, idempotency_key};
use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, stack_run_columns};
use crate::{Result, StackRun, StackRunStatus};

/// The inserted columns, then $2 = now for ready_at/created_at/updated_at.
macro_rules! insert_calls {
    ($select:literal, $from:literal) => {
        concat!(
            "INSERT INTO stack_runs (task_run_id, parent_stack_run_id, seq, service, method, args, \
             args_hash, idempotency_key, max_attempts, status, attempts, lease_owner, \
             lease_expires_at, started_at, ready_at, created_at, updated_at) SELECT ",
            $select,
            ", $2, $2, $2 FROM ",
            $from,
            " ON CONFLICT (task_run_id, seq) DO NOTHING RETURNING ",
            stack_run_columns!()
        )
    };
}

/// $1 JSON array of rows (see [`row`]), $2 now. SQLite needs `WHERE true` to read the
/// `ON CONFLICT` as the insert's, not a join's.
const INSERT_CALLS: Sql = Sql {
    sqlite: insert_calls!(
        "json_extract(value, '$.run_id'), json_extract(value, '$.parent_id'), \
         json_extract(value, '$.seq'), json_extract(value, '$.service'), \
         json_extract(value, '$.method'), json_extract(value, '$.args'), \
         json_extract(value, '$.args_hash'), json_extract(value, '$.ikey'), \
         json_extract(value, '$.max_attempts'), json_extract(value, '$.status'), \
         json_extract(value, '$.attempts'), json_extract(value, '$.owner'), \
         json_extract(value, '$.expires'), json_extract(value, '$.started')",
        "json_each($1) WHERE true"
    ),
    postgres: insert_calls!(
        "run_id, parent_id, seq, service, method, args, args_hash, ikey, max_attempts, status, \
         attempts, owner, expires, started",
        "jsonb_to_recordset($1::jsonb) AS x(run_id bigint, parent_id bigint, seq bigint, \
         service text, method text, args text, args_hash text, ikey text, max_attempts bigint, \
         status text, attempts bigint, owner text, expires bigint, started bigint)"
    ),
};

/// Inserts the calls of `ends` (runs the caller has just suspended under their owners) and
/// returns, per run, the claimed calls inserted, by seq.
pub(super) async fn insert_calls_of(
    store: &crate::Store,
    tx: &mut sqlx::AnyConnection,
    ends: &[&SuspendWithCalls<'_>],
    now: i64,
) -> Result<HashMap<i64, Vec<StackRun>>> {
    let mut rows = Vec::new();
    for s in ends {
        let claimed_lease = (
            Some(s.lease.owner),
            Some(now.saturating_add(s.lease.duration_ms)),
        );
        for (calls, status, (owner, expires)) in [
            (s.pending, StackRunStatus::Pending, (None, None)),
            (s.claimed, StackRunStatus::Processing, claimed_lease),
        ] {
            let mut seen = HashSet::with_capacity(calls.len());
            for call in calls.iter().filter(|c| seen.insert(c.seq)) {
                rows.push(row(s.run_id, call, status, owner, expires, now));
            }
        }
    }
    let mut claimed: HashMap<i64, Vec<StackRun>> = HashMap::new();
    if rows.is_empty() {
        return Ok(claimed);
    }
    let inserted = sqlx::query(store.sql(&INSERT_CALLS))
        .bind(Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .step("enqueue calls")?;
    for call in decode_all(&inserted, StackRun::from_row)? {
        if call.status == StackRunStatus::Processing {
            claimed.entry(call.task_run_id).or_default().push(call);
        }
    }
    for calls in claimed.values_mut() {
        calls.sort_by_key(|c| c.seq);
    }
    Ok(claimed)
}

/// One call as a JSON row of [`INSERT_CALLS`]; a claimed one is started and counted as its
/// first attempt, as the per-run insert does.
fn row(
    run_id: i64,
    call: &NewCall,
    status: StackRunStatus,
    owner: Option<&str>,
    expires: Option<i64>,
    now: i64,
) -> Value {
    let claimed = owner.is_some();
    json!({
        "run_id": run_id,
        "parent_id": call.parent_stack_run_id,
        "seq": call.seq,
        "service": call.service,
        "method": call.method,
        "args": call.args,
        "args_hash": call.args_hash,
        "ikey": idempotency_key(run_id, call.seq),
        "max_attempts": call.max_attempts,
        "status": status.as_str(),
        "attempts": i64::from(claimed),
        "owner": owner,
        "expires": expires,
        "started": claimed.then_some(now),
    })
}
