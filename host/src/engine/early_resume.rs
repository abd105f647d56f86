//! Early resume: the result of a run's only outstanding call goes straight to the run's live
//! context on this host, and the result is journaled together with what the segment it
//! started did, in one transaction ([`tasker_store::queue::Resumed`]). A sequential call thus
//! costs one commit instead of two (completion, then segment end), and the segment does not
//! wait for the completion's commit.
//!
//! Must not let a segment's effects out before they are durable: the segment's new calls are
//! dispatched and its end announced only after the commit that records it (its console lines
//! are part of that commit).
//! When the run cannot be taken over (cancelled meanwhile, lease lost), the segment never
//! happened: its context is dropped and the run goes on from its journal.

use std::sync::Arc;

use serde_json::Value;
use tasker_sandbox::{CallResult, DeliveredResult, Delivery, RunOutcome};
use tasker_store::StackRun;
use tasker_store::queue::ResumedWritten;
use tokio::sync::OwnedSemaphorePermit;

use super::Engine;
use super::batch::{JournalWriter, SegmentDidJob};
use super::outcome::{failure_text, log_lines, sole_wait};

impl Engine {
    /// Resumes `call`'s run with `value` in its live context (holding the segment `slot`), then
    /// journals both. Falls back to an ordinary completion when the context is gone.
    pub(super) async fn resume_early(
        self: &Arc<Self>,
        batch: &JournalWriter,
        call: StackRun,
        value: Value,
        slot: OwnedSemaphorePermit,
    ) {
        let run_id = call.task_run_id;
        let now = self.store.clock().now_ms();
        let delivery = Delivery {
            segment_time_ms: now,
            results: vec![DeliveredResult {
                seq: call.seq as u64,
                result: CallResult::Ok(value.clone()),
            }],
        };
        let outcome = match self.sandbox.resume_live(run_id, delivery).await {
            Ok(Some(outcome)) => outcome,
            // Evicted meanwhile: nothing ran; journal the result and replay as usual.
            Ok(None) => {
                drop(slot);
                return self.journal_completion(batch, &call, value, true).await;
            }
            Err(e) => {
                tracing::error!(run_id, "resuming the live context failed: {e}");
                self.sandbox.forget(run_id);
                drop(slot);
                return self.journal_completion(batch, &call, value, false).await;
            }
        };
        let mut sole = false;
        let then = match &outcome.outcome {
            RunOutcome::Completed { result } => SegmentDidJob::Completed(result.to_string()),
            RunOutcome::Failed(failure) => SegmentDidJob::Failed(failure_text(failure)),
            RunOutcome::Suspended {
                new_calls,
                outstanding,
            } => {
                let (claimed, pending) = self.split_new_calls(new_calls);
                sole = sole_wait(&claimed, &pending, outstanding);
                SegmentDidJob::Suspended { pending, claimed }
            }
        };
        let logs = log_lines(run_id, &outcome);
        let written = batch
            .resumed(run_id, (call.id, value.to_string()), now, (then, logs))
            .await;
        match written {
            Ok(ResumedWritten::Applied { suspended }) => match suspended {
                Some(s) => self.dispatch_inserted(run_id, s, sole),
                None => {
                    tracing::debug!(run_id, "run ended");
                    self.sandbox.forget(run_id);
                    self.notify_ended(run_id);
                }
            },
            Ok(ResumedWritten::Discarded { outcome }) => {
                // The journal does not have this segment: its context must not be resumed.
                self.sandbox.forget(run_id);
                self.report_settled(call.id, Ok(outcome));
            }
            Err(e) => {
                // Nothing was written: the call is re-run once its lease expires.
                self.sandbox.forget(run_id);
                self.report_settled(call.id, Err(e));
            }
        }
        drop(slot);
    }
}
