//! Completion with hand-off: journals call results in one transaction and, for results that
//! wake a suspended run whose live context the completing host holds, claims that run and
//! records the results' delivery in the same transaction. The host then resumes the run at
//! once, without a separate claim query, a separate delivery transaction or a trip through the
//! ready queue: the common sequential call costs two commits (segment end, completion), both
//! shared with whatever else the engine writes at the time ([`Store::write_journal`]).
//!
//! Must not change what a completion means: only the lease owner settles a call, a run that is
//! not `suspended` (a segment in flight, or already resumable) is only woken as before, and a
//! handed-off run is an ordinary `running` run under the completing host's lease (a crash
//! leaves it to lease expiry and replay, like any claimed run).

use super::CallOutcome;
use super::journal_batch::{JournalWrite, JournalWritten};
use crate::{Result, Store, TaskRun};

/// One result to journal.
#[derive(Clone, Copy, Debug)]
pub struct Completion<'a> {
    pub call_id: i64,
    /// Result, JSON text.
    pub result: &'a str,
    /// Take the run over if this result wakes it (the completing host holds its live context).
    pub hand_off: bool,
    /// Start time of the segment a take-over starts (default: the batch's time). Set when the
    /// live context already ran that segment with this time as its `Date.now()`.
    pub segment_at: Option<i64>,
}

/// A run taken over by the completing host.
#[derive(Clone, Debug)]
pub struct HandOff {
    /// The run, now `running` under the completing host; its new last segment (time: the last
    /// the run's `last_segment_at`) has the results of `calls` delivered.
    pub run: TaskRun,
    /// The calls whose results the new segment delivers, in the order they were given.
    pub calls: Vec<i64>,
}

/// What journaling one result did.
#[derive(Clone, Debug)]
pub struct Completed {
    pub outcome: CallOutcome,
    /// Set on the first completion (in the order given) of each run taken over (boxed: most
    /// completions carry none).
    pub handed_off: Option<Box<HandOff>>,
}

impl Store {
    /// Journals `owner`'s call results in one transaction, taking over the runs they wake where
    /// asked (see the module doc); one outcome per entry, in the order given.
    pub async fn complete_calls_handing_off(
        &self,
        owner: &str,
        lease_ms: i64,
        completions: &[Completion<'_>],
    ) -> Result<Vec<Completed>> {
        let writes: Vec<JournalWrite<'_>> = completions
            .iter()
            .map(|c| JournalWrite::Complete(*c))
            .collect();
        let written = self.write_journal(owner, lease_ms, &writes).await?;
        Ok(written
            .into_iter()
            .filter_map(|w| match w {
                JournalWritten::Completed(c) => Some(c),
                JournalWritten::Suspended(_) | JournalWritten::Resumed(_) => None,
            })
            .collect())
    }
}
