//! Segment boundaries in one transaction each. The end of a segment that waits on host calls:
//! record the new calls (those for services the ending host runs itself already claimed by
//! it, the others pending for any host that serves them) and suspend the run. The start of a
//! resumed segment: take the settled results not delivered yet, mark them delivered and
//! append the segment's time. One commit each, and no window in which one half is recorded.

use std::collections::HashSet;

use sqlx::Row;

use super::calls::{InitialState, ROWS_PER_INSERT, insert_chunk};
use super::journal_batch::{JournalWrite, JournalWritten};
use super::{Lease, NewCall, SegmentEnd, SuspendOutcome};
use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, stack_run_columns};
use crate::{Result, StackRun, StackRunStatus, Store, TaskRunStatus};

/// $1 run id, $2 segment number: the run's settled, undelivered calls become delivered.
const DELIVER_SETTLED: Sql = Sql::same(concat!(
    "UPDATE stack_runs SET delivered_segment = $2 WHERE task_run_id = $1 \
     AND delivered_segment IS NULL AND status IN ('completed', 'failed') RETURNING ",
    stack_run_columns!()
));

/// What a suspending segment records.
#[derive(Clone, Copy, Debug)]
pub struct SuspendWithCalls<'a> {
    pub run_id: i64,
    pub end: SegmentEnd<'a>,
    /// Settled calls the segment saw (see [`Store::suspend_run`]).
    pub calls_seen: i64,
    /// Calls recorded as `pending`, for whichever host serves them.
    pub pending: &'a [NewCall],
    /// Calls recorded as `processing` under `lease`: the ending host runs them at once.
    pub claimed: &'a [NewCall],
    pub lease: Lease<'a>,
}

/// The result: newly inserted calls (seqs that already existed are left as they are and not
/// returned: the caller holds no lease on them) and how the run was suspended.
#[derive(Clone, Debug)]
pub struct Suspended {
    pub inserted_claimed: Vec<StackRun>,
    pub outcome: SuspendOutcome,
}

impl Store {
    /// Records the segment's new calls and suspends the run, atomically. When `end.owner` no
    /// longer holds the run, nothing is written (`SuspendOutcome::NotOwner`).
    pub async fn suspend_with_calls(&self, s: &SuspendWithCalls<'_>) -> Result<Suspended> {
        const STEP: &str = "suspend with calls";
        let now = self.now();
        let mut tx = self.begin_write(STEP).await?;
        let suspended = suspend_in(self, &mut tx, s, now).await?;
        tx.commit().await.step(STEP)?;
        Ok(suspended)
    }

    /// [`Store::suspend_with_calls`] for several runs in one transaction (group commit under
    /// load); one result per entry, in the order given. Written set-wise by
    /// [`Store::write_journal`], which on PostgreSQL locks the runs in id order (two hosts'
    /// batches cannot deadlock).
    pub async fn suspend_many(&self, entries: &[SuspendWithCalls<'_>]) -> Result<Vec<Suspended>> {
        let writes: Vec<JournalWrite<'_>> =
            entries.iter().map(|e| JournalWrite::Suspend(*e)).collect();
        // Only completions use the owner and lease arguments; each entry carries its own.
        let written = self.write_journal("", 0, &writes).await?;
        Ok(written
            .into_iter()
            .filter_map(|w| match w {
                JournalWritten::Suspended(s) => Some(s),
                JournalWritten::Completed(_) | JournalWritten::Resumed(_) => None,
            })
            .collect())
    }
}

/// Suspends the run (owner checked first) and, if it was ours, records its new calls, inside
/// the caller's transaction.
async fn suspend_in(
    store: &Store,
    tx: &mut sqlx::AnyConnection,
    s: &SuspendWithCalls<'_>,
    now: i64,
) -> Result<Suspended> {
    const STEP: &str = "suspend with calls";
    let row = sqlx::query(store.sql(&super::runs::SUSPEND))
        .bind(s.run_id)
        .bind(s.end.owner)
        .bind(s.calls_seen)
        .bind(now)
        .bind(s.end.segment_ms)
        .fetch_optional(&mut *tx)
        .await
        .step(STEP)?;
    let Some(row) = row else {
        return Ok(Suspended {
            inserted_claimed: Vec::new(),
            outcome: SuspendOutcome::NotOwner,
        });
    };
    let status: String = row.try_get(0).step(STEP)?;
    let inserted_claimed = record_calls_in(tx, s, now).await?;
    Ok(Suspended {
        inserted_claimed,
        outcome: match status.parse()? {
            TaskRunStatus::Resumable => SuspendOutcome::Resumable,
            _ => SuspendOutcome::Suspended,
        },
    })
}

/// Records a suspending segment's new calls (its run already suspended under the caller's
/// lease) inside the caller's transaction; returns the claimed ones inserted, by seq.
async fn record_calls_in(
    tx: &mut sqlx::AnyConnection,
    s: &SuspendWithCalls<'_>,
    now: i64,
) -> Result<Vec<StackRun>> {
    let pending = InitialState {
        status: StackRunStatus::Pending,
        lease: None,
    };
    let claimed = InitialState {
        status: StackRunStatus::Processing,
        lease: Some(s.lease),
    };
    let mut inserted_claimed = Vec::new();
    for (calls, initial) in [(s.pending, &pending), (s.claimed, &claimed)] {
        let mut seen = HashSet::with_capacity(calls.len());
        let unique: Vec<&NewCall> = calls.iter().filter(|c| seen.insert(c.seq)).collect();
        for chunk in unique.chunks(ROWS_PER_INSERT) {
            let rows = insert_chunk(&mut *tx, s.run_id, chunk, initial, now).await?;
            if initial.lease.is_some() {
                inserted_claimed.extend(decode_all(&rows, StackRun::from_row)?);
            }
        }
    }
    inserted_claimed.sort_by_key(|c| c.seq);
    Ok(inserted_claimed)
}

impl Store {
    /// Starts a resumed segment: marks the run's settled, not yet delivered calls as delivered
    /// in `segment` and appends `segment_ms` to its segment times, atomically; returns those
    /// calls by seq. Empty (and nothing written) when no result is waiting.
    pub async fn deliver_settled(
        &self,
        run_id: i64,
        segment: i64,
        segment_ms: i64,
    ) -> Result<Vec<StackRun>> {
        const STEP: &str = "deliver settled calls";
        let mut tx = self.begin_write(STEP).await?;
        let rows = sqlx::query(self.sql(&DELIVER_SETTLED))
            .bind(run_id)
            .bind(segment)
            .fetch_all(&mut *tx)
            .await
            .step(STEP)?;
        if rows.is_empty() {
            // Dropping the transaction rolls it back: nothing was written.
            return Ok(Vec::new());
        }
        let mut delivered = decode_all(&rows, StackRun::from_row)?;
        sqlx::query(self.sql(&super::runs::APPEND_SEGMENT))
            .bind(run_id)
            .bind(segment_ms)
            .execute(&mut *tx)
            .await
            .step(STEP)?;
        tx.commit().await.step(STEP)?;
        delivered.sort_by_key(|c| c.seq);
        Ok(delivered)
    }
}
