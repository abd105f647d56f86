//! Enqueueing host calls (idempotent on `(task_run_id, seq)`), the enqueue-and-claim fast path, and
//! claiming ready calls with a lease (FIFO, optionally only for some services).

use std::collections::HashSet;
use std::fmt::Write as _;

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor};

use super::{CallClaim, Enqueued, Lease, NewCall, idempotency_key};
use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, json_int_list, json_list, json_text_list, pg_ids, stack_run_columns};
use crate::{Result, StackRun, StackRunStatus, Store};

/// Rows per INSERT statement: 8 parameters each stays far below SQLite's 32,766 and PostgreSQL's 65,535.
pub(super) const ROWS_PER_INSERT: usize = 500;
/// Parameters shared by every row of one INSERT ($1..$7), see [`insert_sql`].
const SHARED_PARAMS: usize = 7;
const PARAMS_PER_ROW: usize = 8;

const EXISTING_CALLS: Sql = Sql {
    sqlite: concat!(
        "SELECT ",
        stack_run_columns!(),
        " FROM stack_runs WHERE task_run_id = $1 AND seq IN ",
        json_int_list!(sqlite, "$2")
    ),
    postgres: concat!(
        "SELECT ",
        stack_run_columns!(),
        " FROM stack_runs WHERE task_run_id = $1 AND seq = ANY(",
        pg_ids!("$2"),
        ")"
    ),
};

/// Set clause of a claim; $1 owner, $2 lease expiry, $3 now.
macro_rules! claim_set {
    () => {
        "UPDATE stack_runs SET status = 'processing', lease_owner = $1, lease_expires_at = $2, \
         attempts = attempts + 1, started_at = $3, updated_at = $3 WHERE id IN "
    };
}

/// Oldest ready first; $3 now, $4 limit, optionally $5 = JSON array of service names.
const CLAIM_ANY: Sql = Sql {
    sqlite: concat!(
        claim_set!(),
        "(SELECT id FROM stack_runs WHERE status = 'pending' AND ready_at <= $3 \
         ORDER BY ready_at, id LIMIT $4) RETURNING ",
        stack_run_columns!()
    ),
    postgres: concat!(
        "WITH picked AS (SELECT id FROM stack_runs WHERE status = 'pending' AND ready_at <= $3 \
         ORDER BY ready_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
        claim_set!(),
        "(SELECT id FROM picked) RETURNING ",
        stack_run_columns!()
    ),
};

/// One pending call by id (ready or not), for an external result; $3 now, $4 id.
const CLAIM_ONE: Sql = Sql::same(concat!(
    claim_set!(),
    "(SELECT id FROM stack_runs WHERE id = $4 AND status = 'pending') RETURNING ",
    stack_run_columns!()
));

const CLAIM_SERVICES: Sql = Sql {
    sqlite: concat!(
        claim_set!(),
        "(SELECT id FROM stack_runs WHERE status = 'pending' AND ready_at <= $3 AND service IN ",
        json_text_list!(sqlite, "$5"),
        " ORDER BY ready_at, id LIMIT $4) RETURNING ",
        stack_run_columns!()
    ),
    postgres: concat!(
        "WITH picked AS (SELECT id FROM stack_runs WHERE status = 'pending' AND ready_at <= $3 \
         AND service IN ",
        json_text_list!(postgres, "$5"),
        " ORDER BY ready_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
        claim_set!(),
        "(SELECT id FROM picked) RETURNING ",
        stack_run_columns!()
    ),
};

/// How new rows start: pending, or already claimed by the enqueuing host.
pub(super) struct InitialState<'a> {
    pub(super) status: StackRunStatus,
    pub(super) lease: Option<Lease<'a>>,
}

impl Store {
    /// Records calls of run `task_run_id` as `pending` (ready now). Idempotent: a seq that already
    /// exists is returned as it is (`inserted = false`), never duplicated. Result ordered by seq.
    pub async fn enqueue_calls(
        &self,
        task_run_id: i64,
        calls: &[NewCall],
    ) -> Result<Vec<Enqueued>> {
        let initial = InitialState {
            status: StackRunStatus::Pending,
            lease: None,
        };
        self.insert_calls(task_run_id, calls, &initial).await
    }

    /// Fast path: records calls already `processing` under `lease` (attempts = 1), so the enqueuing host
    /// executes them at once without a claim round trip. Seqs that already existed come back unchanged
    /// with `inserted = false`: the caller holds no lease on those.
    pub async fn enqueue_claimed(
        &self,
        task_run_id: i64,
        calls: &[NewCall],
        lease: Lease<'_>,
    ) -> Result<Vec<Enqueued>> {
        let initial = InitialState {
            status: StackRunStatus::Processing,
            lease: Some(lease),
        };
        self.insert_calls(task_run_id, calls, &initial).await
    }

    /// Claims one `pending` call by id under `lease` (e.g. to journal a result supplied from
    /// outside); None when it is not pending (running elsewhere, or already settled).
    pub async fn claim_call(&self, call_id: i64, lease: Lease<'_>) -> Result<Option<StackRun>> {
        let now = self.now();
        let row = sqlx::query(self.sql(&CLAIM_ONE))
            .bind(lease.owner)
            .bind(now.saturating_add(lease.duration_ms))
            .bind(now)
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await
            .step("claim call")?;
        row.as_ref().map(StackRun::from_row).transpose()
    }

    /// Claims up to `claim.limit` ready calls, oldest first, each with a lease and `attempts + 1`.
    /// Concurrent claimers never get the same call. Result ordered by (ready_at, id).
    pub async fn claim_calls(&self, claim: &CallClaim<'_>) -> Result<Vec<StackRun>> {
        let now = self.now();
        let expires = now.saturating_add(claim.lease.duration_ms);
        let rows = match claim.services {
            None => {
                sqlx::query(self.sql(&CLAIM_ANY))
                    .bind(claim.lease.owner)
                    .bind(expires)
                    .bind(now)
                    .bind(claim.limit)
                    .fetch_all(&self.pool)
                    .await
            }
            Some(services) => {
                sqlx::query(self.sql(&CLAIM_SERVICES))
                    .bind(claim.lease.owner)
                    .bind(expires)
                    .bind(now)
                    .bind(claim.limit)
                    .bind(json_list(services))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .step("claim calls")?;
        let mut claimed = decode_all(&rows, StackRun::from_row)?;
        claimed.sort_by_key(|call| (call.ready_at, call.id));
        Ok(claimed)
    }

    async fn insert_calls(
        &self,
        task_run_id: i64,
        calls: &[NewCall],
        initial: &InitialState<'_>,
    ) -> Result<Vec<Enqueued>> {
        let mut seen = HashSet::with_capacity(calls.len());
        let unique: Vec<&NewCall> = calls.iter().filter(|call| seen.insert(call.seq)).collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut inserted = Vec::with_capacity(unique.len());
        if unique.len() <= ROWS_PER_INSERT {
            let rows = insert_chunk(&self.pool, task_run_id, &unique, initial, now).await?;
            inserted.extend(decode_all(&rows, StackRun::from_row)?);
        } else {
            // Several statements: one transaction keeps the batch all-or-nothing.
            let mut tx = self.begin_write("enqueue calls").await?;
            for chunk in unique.chunks(ROWS_PER_INSERT) {
                let rows = insert_chunk(&mut *tx, task_run_id, chunk, initial, now).await?;
                inserted.extend(decode_all(&rows, StackRun::from_row)?);
            }
            tx.commit().await.step("enqueue calls")?;
        }

        let mut result: Vec<Enqueued> = inserted
            .into_iter()
            .map(|call| Enqueued {
                call,
                inserted: true,
            })
            .collect();
        if result.len() < unique.len() {
            let new_seqs: HashSet<i64> = result.iter().map(|entry| entry.call.seq).collect();
            let existing_seqs: Vec<i64> = unique
                .iter()
                .map(|call| call.seq)
                .filter(|seq| !new_seqs.contains(seq))
                .collect();
            let rows = sqlx::query(self.sql(&EXISTING_CALLS))
                .bind(task_run_id)
                .bind(json_list(&existing_seqs))
                .fetch_all(&self.pool)
                .await
                .step("read existing calls")?;
            result.extend(
                decode_all(&rows, StackRun::from_row)?
                    .into_iter()
                    .map(|call| Enqueued {
                        call,
                        inserted: false,
                    }),
            );
        }
        result.sort_by_key(|entry| entry.call.seq);
        Ok(result)
    }
}

/// One multi-row `INSERT ... ON CONFLICT (task_run_id, seq) DO NOTHING RETURNING`: returns only the
/// rows it inserted.
pub(super) async fn insert_chunk<'e, E>(
    executor: E,
    task_run_id: i64,
    calls: &[&NewCall],
    initial: &InitialState<'_>,
    now: i64,
) -> Result<Vec<AnyRow>>
where
    E: Executor<'e, Database = Any>,
{
    let (owner, expires, started, attempts) = match initial.lease {
        Some(lease) => (
            Some(lease.owner.to_owned()),
            Some(now.saturating_add(lease.duration_ms)),
            Some(now),
            1_i64,
        ),
        None => (None, None, None, 0_i64),
    };
    let mut query = sqlx::query(AssertSqlSafe(insert_sql(calls.len())))
        .bind(task_run_id)
        .bind(initial.status.as_str())
        .bind(attempts)
        .bind(now)
        .bind(owner)
        .bind(expires)
        .bind(started);
    for call in calls {
        query = query
            .bind(call.parent_stack_run_id)
            .bind(call.seq)
            .bind(call.service.clone())
            .bind(call.method.clone())
            .bind(call.args.clone())
            .bind(call.args_hash.clone())
            .bind(idempotency_key(task_run_id, call.seq))
            .bind(call.max_attempts);
    }
    query.fetch_all(executor).await.step("enqueue calls")
}

/// `INSERT` of `rows` calls. Shared: $1 run id, $2 status, $3 attempts, $4 now, $5 lease owner,
/// $6 lease expiry, $7 started_at; then per row: parent, seq, service, method, args, args hash,
/// idempotency key, max attempts.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(400 + rows * 80);
    sql.push_str(
        "INSERT INTO stack_runs (task_run_id, parent_stack_run_id, seq, service, method, args, \
         args_hash, idempotency_key, max_attempts, status, attempts, ready_at, lease_owner, \
         lease_expires_at, started_at, created_at, updated_at) VALUES ",
    );
    for row in 0..rows {
        let p = SHARED_PARAMS + row * PARAMS_PER_ROW;
        if row > 0 {
            sql.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            "($1, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, $2, $3, $4, $5, $6, $7, $4, $4)",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 8
        );
    }
    sql.push_str(" ON CONFLICT (task_run_id, seq) DO NOTHING RETURNING ");
    sql.push_str(stack_run_columns!());
    sql
}
