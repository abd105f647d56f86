//! Results delivered before they were journaled: the host that holds a run's live context and
//! ran the run's only outstanding call resumes the context with the result at once, and then
//! journals the result, the segment it started and what that segment did (its console lines,
//! its new calls and suspension, or the run's end) in one transaction, instead of one commit for the result and
//! another for the segment's end. Still durable before any side effect: the segment's new calls
//! run only after that commit, and a crash before it re-runs the call (at least once, with the
//! same idempotency key) and replays the segment.
//!
//! Must not record a segment the journal cannot explain: the segment is recorded only if the
//! result takes the run over exactly as a hand-off would (the run was `suspended` and the call
//! still leased by this host). Otherwise the result is journaled as an ordinary completion (if
//! this host still holds the call) and the segment is discarded: its context must be dropped.

use super::Suspended;
use super::journal_batch::JournalWritten;
use super::runs::end_run_in;
use super::{CallOutcome, Completed, Completion, Lease, NewCall, SegmentEnd, SuspendWithCalls};
use crate::{NewLog, Result, Store, TaskRunStatus};

/// A result already delivered to the run's live context, and what the segment it started did.
#[derive(Clone, Copy, Debug)]
pub struct Resumed<'a> {
    pub call_id: i64,
    /// The call's result, JSON text.
    pub result: &'a str,
    /// The segment's start time, as its `Date.now()` saw it.
    pub segment_at: i64,
    pub then: SegmentDid<'a>,
    /// The segment's console lines, stored with it (and only if it is recorded).
    pub logs: &'a [NewLog],
}

/// How the resumed segment ended.
#[derive(Clone, Copy, Debug)]
pub enum SegmentDid<'a> {
    /// Waiting on calls: record them (as [`SuspendWithCalls`] does) and suspend the run.
    Suspended {
        pending: &'a [NewCall],
        claimed: &'a [NewCall],
        lease: Lease<'a>,
    },
    /// The run completed with this result (JSON text).
    Completed { result: &'a str },
    /// The run failed with this error (JSON text).
    Failed { error: &'a str },
}

/// What journaling a [`Resumed`] did.
#[derive(Clone, Debug)]
pub enum ResumedWritten {
    /// The result and the segment are recorded; `suspended` when the segment suspended (its
    /// claimed calls were inserted and are the caller's to run), `None` when it ended the run.
    Applied { suspended: Option<Suspended> },
    /// The run was not taken over: the segment is not recorded (drop its context). The result
    /// was journaled as an ordinary completion when `outcome` is `Settled`.
    Discarded { outcome: CallOutcome },
}

impl Resumed<'_> {
    /// The completion that journals the result and takes the run over at `segment_at`.
    pub(super) fn completion(&self) -> Completion<'_> {
        Completion {
            call_id: self.call_id,
            result: self.result,
            hand_off: true,
            segment_at: Some(self.segment_at),
        }
    }
}

impl Store {
    /// Second half of a batch's resumed writes, inside its transaction: `done[i]` holds the
    /// completion's outcome for each `(i, resumed)`; replaced by what the segment did.
    pub(super) async fn apply_resumed(
        &self,
        tx: &mut sqlx::AnyConnection,
        owner: &str,
        now: i64,
        resumed: &[(usize, &Resumed<'_>)],
        done: &mut [Option<JournalWritten>],
    ) -> Result<()> {
        let mut suspends = Vec::new();
        let mut suspend_slots = Vec::new();
        for &(i, r) in resumed {
            let Some(JournalWritten::Completed(Completed {
                outcome,
                handed_off,
            })) = done[i].take()
            else {
                // Every completion gets an outcome; refuse rather than lose the slot.
                let outcome = CallOutcome::NotOwner;
                done[i] = Some(JournalWritten::Resumed(ResumedWritten::Discarded {
                    outcome,
                }));
                continue;
            };
            let Some(taken) = handed_off else {
                done[i] = Some(JournalWritten::Resumed(ResumedWritten::Discarded {
                    outcome,
                }));
                continue;
            };
            let run = (taken.run.id, owner);
            if !r.logs.is_empty() {
                self.append_logs_in(tx, taken.run.id, r.logs).await?;
            }
            let written = match r.then {
                SegmentDid::Suspended {
                    pending,
                    claimed,
                    lease,
                } => {
                    suspends.push(SuspendWithCalls {
                        run_id: taken.run.id,
                        end: SegmentEnd {
                            owner,
                            segment_ms: None,
                        },
                        calls_seen: taken.run.calls_completed,
                        pending,
                        claimed,
                        lease,
                    });
                    suspend_slots.push(i);
                    continue;
                }
                SegmentDid::Completed { result } => {
                    let ok = Some(result);
                    end_run_in(
                        self,
                        tx,
                        run,
                        TaskRunStatus::Completed,
                        (ok, None),
                        None,
                        now,
                    )
                    .await?
                }
                SegmentDid::Failed { error } => {
                    let err = Some(error);
                    end_run_in(self, tx, run, TaskRunStatus::Failed, (None, err), None, now).await?
                }
            };
            // Just taken over under `owner` in this transaction: ending it cannot be refused.
            debug_assert!(written, "a run taken over in this batch could not be ended");
            done[i] = Some(JournalWritten::Resumed(ResumedWritten::Applied {
                suspended: None,
            }));
        }
        if suspends.is_empty() {
            return Ok(());
        }
        let ends: Vec<(usize, &SuspendWithCalls<'_>)> =
            suspend_slots.iter().copied().zip(suspends.iter()).collect();
        self.suspend_set(tx, now, ends, done).await?;
        for i in suspend_slots {
            if let Some(JournalWritten::Suspended(s)) = done[i].take() {
                done[i] = Some(JournalWritten::Resumed(ResumedWritten::Applied {
                    suspended: Some(s),
                }));
            }
        }
        Ok(())
    }
}
