//! One transaction for a batch of the engine's two most frequent writes, segment ends and call
//! completions, written set-wise: one statement suspends every run of the batch, one settles
//! every call, one wakes (or takes over) every run those calls belong to, one records the
//! deliveries of the runs taken over, one inserts every new call. The statement count
//! of a commit thus hardly grows with the batch, which matters because each statement is a round
//! trip to the database thread (SQLite) or server (PostgreSQL), and under load those round trips,
//! not the database work, bound the engine.
//!
//! Must not change what a write means. Segment ends are applied before completions: a result
//! that arrives in the same batch as its run's segment end is then delivered in a new segment,
//! which is what a commit of the two in that order would have done. A run taken over gets every
//! result of the batch for it delivered at once, in its new segment. On PostgreSQL the batch's
//! runs, then its calls, are locked in id order first, so it cannot deadlock with another
//! host's batch or with lease renewals (which lock in id order as well).

use std::collections::{HashMap, HashSet};

use serde_json::json;
use sqlx::Row;

use super::call_set::insert_calls_of;
use super::handoff::{Completed, Completion, HandOff};
use super::resumed::{Resumed, ResumedWritten};
use super::segment_end::{SuspendWithCalls, Suspended};
use super::{CallOutcome, RunWake, SuspendOutcome};
use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, new_segment_if, pg_ids, task_run_columns};
use crate::{Backend, Result, Store, TaskRun, TaskRunStatus};

/// On SQLite the unary `+` keeps the planner off the status/owner indexes, so that it walks
/// the batch and looks each row up by id (with the index it walked every row the host holds,
/// once per batch row).
///
/// $1 JSON `[{rid, owner, seen, ms}]`, $2 now: each run still `running` under its owner is
/// suspended (resumable if results arrived since it started), `ms` appended when not null.
const SUSPEND_SET: Sql = Sql {
    sqlite: concat!(
        "WITH j AS (SELECT json_extract(value, '$.rid') AS rid, \
             json_extract(value, '$.owner') AS owner, json_extract(value, '$.seen') AS seen, \
             json_extract(value, '$.ms') AS ms FROM json_each($1)) \
             UPDATE task_runs SET \
             status = CASE WHEN calls_completed > j.seen THEN 'resumable' ELSE 'suspended' END, \
             calls_seen = j.seen, suspended_at = $2, ready_at = $2, updated_at = $2, \
             lease_expires_at = NULL, ",
        new_segment_if!("j.ms IS NOT NULL", "j.ms"),
        " FROM j WHERE task_runs.id = j.rid AND +task_runs.status = 'running' \
             AND +task_runs.lease_owner = j.owner RETURNING id, status"
    ),
    postgres: concat!(
        "WITH j AS (SELECT * FROM jsonb_to_recordset($1::jsonb) \
               AS x(rid bigint, owner text, seen bigint, ms bigint)) \
               UPDATE task_runs SET \
               status = CASE WHEN calls_completed > j.seen THEN 'resumable' ELSE 'suspended' END, \
               calls_seen = j.seen, suspended_at = $2, ready_at = $2, updated_at = $2, \
               lease_expires_at = NULL, ",
        new_segment_if!("j.ms IS NOT NULL", "j.ms"),
        " FROM j WHERE task_runs.id = j.rid AND task_runs.id = ANY(",
        pg_ids!("$1", "rid"),
        ") AND task_runs.status = 'running' AND task_runs.lease_owner = j.owner \
         RETURNING task_runs.id, task_runs.status"
    ),
};

/// $1 JSON `[{cid, r}]`, $2 owner, $3 now: each call `processing` under $2 is completed.
const SETTLE_SET: Sql = Sql {
    sqlite: "WITH j AS (SELECT json_extract(value, '$.cid') AS cid, \
             json_extract(value, '$.r') AS r FROM json_each($1)) \
             UPDATE stack_runs SET status = 'completed', result = j.r, error = NULL, \
             lease_expires_at = NULL, ended_at = $3, updated_at = $3 \
             FROM j WHERE stack_runs.id = j.cid AND +stack_runs.status = 'processing' \
             AND +stack_runs.lease_owner = $2 RETURNING id, task_run_id",
    postgres: concat!(
        "WITH j AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(cid bigint, r text)) \
         UPDATE stack_runs SET status = 'completed', result = j.r, error = NULL, \
         lease_expires_at = NULL, ended_at = $3, updated_at = $3 \
         FROM j WHERE stack_runs.id = j.cid AND stack_runs.id = ANY(",
        pg_ids!("$1", "cid"),
        ") AND stack_runs.status = 'processing' AND stack_runs.lease_owner = $2 \
         RETURNING stack_runs.id, stack_runs.task_run_id"
    ),
};

/// The SET clause that counts `j.n` settlements and wakes a `suspended` run: `resumable`, or
/// with `j.take = 1` `running` under $3 until $4 with a new segment at $2 and all `n`
/// results counted as seen (every SET reads the old row).
macro_rules! wake_set {
    ($new_segment:expr, $only_batch_rows:expr) => {
        concat!(
            "UPDATE task_runs SET calls_completed = calls_completed + j.n, \
             status = CASE WHEN status <> 'suspended' THEN status \
             WHEN j.take = 1 THEN 'running' ELSE 'resumable' END, \
             ready_at = CASE WHEN status = 'suspended' THEN $2 ELSE ready_at END, \
             lease_owner = CASE WHEN status = 'suspended' AND j.take = 1 THEN $3 \
             ELSE lease_owner END, \
             lease_expires_at = CASE WHEN status = 'suspended' AND j.take = 1 THEN $4 \
             ELSE lease_expires_at END, \
             calls_seen = CASE WHEN status = 'suspended' AND j.take = 1 \
             THEN calls_completed + j.n ELSE calls_seen END, \
             ",
            $new_segment,
            ", updated_at = $2 FROM j WHERE task_runs.id = j.rid",
            $only_batch_rows,
            " RETURNING "
        )
    };
}

/// $1 JSON `[{rid, n, take, at}]` (`at`: the new segment's time, null for $2), $2 now,
/// $3 owner, $4 lease expiry.
const WAKE_SET: Sql = Sql {
    sqlite: concat!(
        "WITH j AS (SELECT json_extract(value, '$.rid') AS rid, json_extract(value, '$.n') AS n, \
         json_extract(value, '$.take') AS take, json_extract(value, '$.at') AS at \
         FROM json_each($1)) ",
        wake_set!(
            new_segment_if!("status = 'suspended' AND j.take = 1", "COALESCE(j.at, $2)"),
            ""
        ),
        task_run_columns!()
    ),
    postgres: concat!(
        "WITH j AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(rid bigint, n bigint, \
         take bigint, at bigint)) ",
        wake_set!(
            new_segment_if!(
                "status = 'suspended' AND j.take = 1",
                "COALESCE(j.at, $2::bigint)"
            ),
            concat!(" AND task_runs.id = ANY(", pg_ids!("$1", "rid"), ")")
        ),
        task_run_columns!()
    ),
};

/// $1 JSON `[{cid, seg}]`: those calls were delivered in segment `seg`.
const MARK_SET: Sql = Sql {
    sqlite: "WITH j AS (SELECT json_extract(value, '$.cid') AS cid, \
             json_extract(value, '$.seg') AS seg FROM json_each($1)) \
             UPDATE stack_runs SET delivered_segment = j.seg FROM j WHERE stack_runs.id = j.cid",
    postgres: concat!(
        "WITH j AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(cid bigint, seg bigint)) \
         UPDATE stack_runs SET delivered_segment = j.seg FROM j WHERE stack_runs.id = j.cid \
         AND stack_runs.id = ANY(",
        pg_ids!("$1", "cid"),
        ")"
    ),
};

/// PostgreSQL: locks the batch's runs in id order before any update: $1 JSON array of run ids,
/// $2 JSON array of call ids (their runs).
const LOCK_RUNS: &str = concat!(
    "SELECT id FROM task_runs WHERE id = ANY(",
    pg_ids!("$1"),
    ") OR id = ANY(ARRAY(SELECT task_run_id FROM stack_runs WHERE id = ANY(",
    pg_ids!("$2"),
    "))) ORDER BY id FOR UPDATE"
);

/// PostgreSQL: then the calls being completed ($1 JSON array of ids), also in id order (lease
/// renewals lock them too).
const LOCK_CALLS: &str = concat!(
    "SELECT id FROM stack_runs WHERE id = ANY(",
    pg_ids!("$1"),
    ") ORDER BY id FOR UPDATE"
);

/// One write of a batch.
#[derive(Clone, Copy, Debug)]
pub enum JournalWrite<'a> {
    /// A segment ended waiting on calls: record them and suspend the run.
    Suspend(SuspendWithCalls<'a>),
    /// A call result (with hand-off, see [`Store::complete_calls_handing_off`]).
    Complete(Completion<'a>),
    /// A result already delivered to the live context, with what its segment did (see
    /// [`Resumed`]). Applied after every other write of the batch.
    Resumed(Resumed<'a>),
}

/// What one write did.
#[derive(Clone, Debug)]
pub enum JournalWritten {
    Suspended(Suspended),
    Completed(Completed),
    Resumed(ResumedWritten),
}

impl Store {
    /// Applies `writes` in one transaction (completions by `owner`, runs taken over leased for
    /// `lease_ms`); one result per write, in the order given. All or nothing.
    pub async fn write_journal(
        &self,
        owner: &str,
        lease_ms: i64,
        writes: &[JournalWrite<'_>],
    ) -> Result<Vec<JournalWritten>> {
        const STEP: &str = "write journal batch";
        let now = self.now();
        // Each kind with its place in `writes` (results go back in that order).
        let (mut ends, mut results, mut resumed) = (Vec::new(), Vec::new(), Vec::new());
        for (i, write) in writes.iter().enumerate() {
            match write {
                JournalWrite::Suspend(s) => ends.push((i, s)),
                JournalWrite::Complete(c) => results.push((i, c)),
                JournalWrite::Resumed(r) => resumed.push((i, r)),
            }
        }
        // A resumed write starts as the completion that takes its run over.
        let takes: Vec<(usize, Completion<'_>)> =
            resumed.iter().map(|&(i, r)| (i, r.completion())).collect();
        results.extend(takes.iter().map(|(i, c)| (*i, c)));
        let mut tx = self.begin_write(STEP).await?;
        if self.backend() == Backend::Postgres {
            let runs: Vec<i64> = ends.iter().map(|(_, s)| s.run_id).collect();
            let mut calls: Vec<i64> = results.iter().map(|(_, c)| c.call_id).collect();
            calls.sort_unstable();
            sqlx::query(LOCK_RUNS)
                .bind(json!(runs).to_string())
                .bind(json!(calls).to_string())
                .fetch_all(&mut *tx)
                .await
                .step(STEP)?;
            if !calls.is_empty() {
                sqlx::query(LOCK_CALLS)
                    .bind(json!(calls).to_string())
                    .fetch_all(&mut *tx)
                    .await
                    .step(STEP)?;
            }
        }
        let mut done: Vec<Option<JournalWritten>> = vec![None; writes.len()];
        self.suspend_set(&mut tx, now, ends, &mut done).await?;
        self.complete_set(&mut tx, owner, lease_ms, now, results, &mut done)
            .await?;
        self.apply_resumed(&mut tx, owner, now, &resumed, &mut done)
            .await?;
        tx.commit().await.step(STEP)?;
        Ok(done.into_iter().flatten().collect())
    }

    pub(super) async fn suspend_set(
        &self,
        tx: &mut sqlx::AnyConnection,
        now: i64,
        ends: Vec<(usize, &SuspendWithCalls<'_>)>,
        done: &mut [Option<JournalWritten>],
    ) -> Result<()> {
        const STEP: &str = "suspend runs";
        if ends.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = ends
            .iter()
            .map(|(_, s)| {
                json!({ "rid": s.run_id, "owner": s.end.owner, "seen": s.calls_seen,
                        "ms": s.end.segment_ms })
            })
            .collect();
        let suspended = sqlx::query(self.sql(&SUSPEND_SET))
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .step(STEP)?;
        let mut status_of = HashMap::with_capacity(suspended.len());
        for row in &suspended {
            let status: String = row.try_get(1).step(STEP)?;
            status_of.insert(row.try_get::<i64, _>(0).step(STEP)?, status.parse()?);
        }
        let ours: Vec<&SuspendWithCalls<'_>> = ends
            .iter()
            .filter(|(_, s)| status_of.contains_key(&s.run_id))
            .map(|&(_, s)| s)
            .collect();
        let mut claimed = insert_calls_of(self, tx, &ours, now).await?;
        for (i, s) in ends {
            let written = match status_of.get(&s.run_id) {
                None => Suspended {
                    inserted_claimed: Vec::new(),
                    outcome: SuspendOutcome::NotOwner,
                },
                Some(status) => Suspended {
                    inserted_claimed: claimed.remove(&s.run_id).unwrap_or_default(),
                    outcome: match status {
                        TaskRunStatus::Resumable => SuspendOutcome::Resumable,
                        _ => SuspendOutcome::Suspended,
                    },
                },
            };
            done[i] = Some(JournalWritten::Suspended(written));
        }
        Ok(())
    }

    async fn complete_set(
        &self,
        tx: &mut sqlx::AnyConnection,
        owner: &str,
        lease_ms: i64,
        now: i64,
        results: Vec<(usize, &Completion<'_>)>,
        done: &mut [Option<JournalWritten>],
    ) -> Result<()> {
        const STEP: &str = "complete calls";
        if results.is_empty() {
            return Ok(());
        }
        // A call given twice keeps its first result; the repeat is refused below.
        let mut firsts = HashSet::with_capacity(results.len());
        let repeats: HashSet<usize> = results
            .iter()
            .filter(|(_, c)| !firsts.insert(c.call_id))
            .map(|&(i, _)| i)
            .collect();
        let rows: Vec<_> = results
            .iter()
            .filter(|(i, _)| !repeats.contains(i))
            .map(|(_, c)| json!({ "cid": c.call_id, "r": c.result }))
            .collect();
        let settled_rows = sqlx::query(self.sql(&SETTLE_SET))
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(owner)
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .step(STEP)?;
        let mut run_of_call = HashMap::with_capacity(settled_rows.len());
        for row in &settled_rows {
            let call: i64 = row.try_get(0).step(STEP)?;
            run_of_call.insert(call, row.try_get::<i64, _>(1).step(STEP)?);
        }
        // Per run, in arrival order: its settled calls, whether to take it over, and the
        // time of the segment a take-over starts (if given).
        let mut per_run: Vec<(i64, Vec<i64>, bool, Option<i64>)> = Vec::new();
        let mut slot_of_run: HashMap<i64, usize> = HashMap::new();
        for (i, c) in &results {
            let settled = run_of_call.get(&c.call_id).filter(|_| !repeats.contains(i));
            let Some(&run_id) = settled else {
                continue;
            };
            let slot = *slot_of_run.entry(run_id).or_insert_with(|| {
                per_run.push((run_id, Vec::new(), false, None));
                per_run.len() - 1
            });
            let (_, calls, take, at) = &mut per_run[slot];
            calls.push(c.call_id);
            *take |= c.hand_off;
            *at = at.or(c.segment_at);
        }
        let runs = if per_run.is_empty() {
            Vec::new()
        } else {
            let rows: Vec<_> = per_run
                .iter()
                .map(|(rid, calls, take, at)| {
                    json!({ "rid": rid, "n": calls.len(), "take": i64::from(*take), "at": at })
                })
                .collect();
            let woken = sqlx::query(self.sql(&WAKE_SET))
                .bind(serde_json::Value::Array(rows).to_string())
                .bind(now)
                .bind(owner)
                .bind(now.saturating_add(lease_ms))
                .fetch_all(&mut *tx)
                .await
                .step(STEP)?;
            decode_all(&woken, TaskRun::from_row)?
        };
        let run_by_id: HashMap<i64, &TaskRun> = runs.iter().map(|r| (r.id, r)).collect();
        // Taken over exactly when the run was suspended: a run with a segment in flight has
        // seen fewer calls than are now completed.
        let taken = |run: &TaskRun, take: bool| {
            take && run.status == TaskRunStatus::Running
                && run.lease_owner.as_deref() == Some(owner)
                && run.calls_seen == run.calls_completed
        };
        let mut marks = Vec::new();
        let mut hand_offs: HashMap<i64, Box<HandOff>> = HashMap::new();
        for (run_id, calls, take, _) in &per_run {
            let Some(run) = run_by_id.get(run_id) else {
                continue;
            };
            if taken(run, *take) {
                let segment = run.segment_count.saturating_sub(1);
                marks.extend(calls.iter().map(|c| json!({ "cid": c, "seg": segment })));
                let hand_off = HandOff {
                    run: (*run).clone(),
                    calls: calls.clone(),
                };
                hand_offs.insert(calls[0], Box::new(hand_off));
            }
        }
        if !marks.is_empty() {
            sqlx::query(self.sql(&MARK_SET))
                .bind(serde_json::Value::Array(marks).to_string())
                .execute(&mut *tx)
                .await
                .step(STEP)?;
        }
        for (i, c) in results {
            let run = run_of_call
                .get(&c.call_id)
                .filter(|_| !repeats.contains(&i))
                .and_then(|r| run_by_id.get(r));
            let outcome = match run {
                Some(run) => CallOutcome::Settled(RunWake {
                    task_run_id: run.id,
                    run_status: run.status,
                    calls_completed: run.calls_completed,
                }),
                None => CallOutcome::NotOwner,
            };
            done[i] = Some(JournalWritten::Completed(Completed {
                outcome,
                handed_off: hand_offs.remove(&c.call_id),
            }));
        }
        Ok(())
    }
}
