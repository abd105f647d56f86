//! One task segment: records the segment's time and which settled results it delivers
//! (before running anything, so a crash mid-segment replays the same deliveries), then
//! resumes the live context or replays the journal in the sandbox; `outcome.rs` applies
//! what the segment did. A segment starts one of three ways ([`SegmentStart`]): claimed from
//! the ready queue, handed over by the completion that woke the run, or fresh.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use tasker_sandbox::{DeliveredResult, Delivery, SegmentRequest};
use tasker_store::TaskRun;
use tasker_store::queue::SegmentEnd;

use super::journal::{JournalView, settled_result};

/// How a segment's run came to this host.
pub(super) enum SegmentStart {
    /// Claimed from the ready queue: deliver what settled, resume or replay.
    Claimed,
    /// Taken over by the completion of a call (these results already recorded as delivered).
    HandedOff(Vec<DeliveredResult>),
    /// Created already claimed by this host: its first segment, with an empty journal.
    Fresh,
}

/// What [`Engine::replay`] may assume about the journal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Read it; run only if something new is to be delivered (or it is the first segment).
    Journal,
    /// Read it and run: a delivery was just recorded.
    JustDelivered,
    /// A run's first segment: the journal is empty, skip the read.
    Fresh,
}

/// Sandbox failures of one run on this host before the run is failed.
const MAX_SANDBOX_FAILURES: u32 = 3;
use super::{Causes, Engine, EngineError};

impl Engine {
    /// Runs one segment of a claimed run; failures are logged and the lease left to expire
    /// (another attempt then replays the run from its journal). A run whose segments keep
    /// failing inside the sandbox machinery (not the database, which may come back) fails
    /// after [`MAX_SANDBOX_FAILURES`] attempts on this host instead of being retried forever.
    ///
    pub(super) async fn run_segment(self: &Arc<Self>, run: TaskRun, start: SegmentStart) {
        let run_id = run.id;
        let attempt = match start {
            SegmentStart::Claimed => self.try_run_segment(run).await,
            SegmentStart::HandedOff(results) => self.run_handed_off(run, results).await,
            SegmentStart::Fresh => match self.task_code(&run).await {
                Ok(Some(code)) => self.replay(&run, code, Replay::Fresh).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
        };
        match attempt {
            Ok(()) => {
                self.sandbox_failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&run_id);
            }
            Err(EngineError::Sandbox(message)) => {
                let failures = {
                    let mut map = self
                        .sandbox_failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    let n = map.entry(run_id).or_insert(0);
                    *n += 1;
                    *n
                };
                if failures < MAX_SANDBOX_FAILURES {
                    tracing::error!(
                        run_id,
                        failures,
                        "segment failed in the sandbox, will be retried after the lease expires: {message}"
                    );
                    return;
                }
                tracing::error!(
                    run_id,
                    "segment failed in the sandbox {failures} times; failing the run: {message}"
                );
                let error = json!({
                    "kind": "engine",
                    "message": format!("the task engine failed {failures} times running this task; the run was stopped (see the host log for run {run_id})"),
                })
                .to_string();
                if let Err(e) = self
                    .store
                    .fail_run(run_id, self.segment_end(), &error)
                    .await
                {
                    tracing::error!(run_id, "failing the run failed: {}", Causes(&e));
                    return;
                }
                self.sandbox_failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&run_id);
                self.sandbox.forget(run_id);
                self.notify_ended(run_id);
            }
            Err(e) => tracing::error!(
                run_id,
                "segment failed, will be retried after the lease expires: {}",
                Causes(&e)
            ),
        }
    }

    async fn try_run_segment(self: &Arc<Self>, run: TaskRun) -> Result<(), EngineError> {
        let now = self.store.clock().now_ms();
        let Some(code) = self.task_code(&run).await? else {
            return Ok(());
        };
        // Fast path: deliver only what settled since the last segment to the live context,
        // without reading the whole journal (keeps n sequential calls linear, not quadratic).
        if run.segment_count > 0 && self.cfg.live_cache {
            // One transaction takes the waiting results and records their delivery with the
            // segment's time, before any code runs (a crash replays the same deliveries).
            let segment_index = run.segment_count;
            let fresh = self
                .store
                .deliver_settled(run.id, segment_index, now)
                .await?;
            let results: Vec<DeliveredResult> = fresh
                .iter()
                .filter_map(|c| {
                    settled_result(c).map(|result| DeliveredResult {
                        seq: c.seq as u64,
                        result,
                    })
                })
                .collect();
            if !results.is_empty() {
                return self.resume_recorded(&run, code, Some(now), results).await;
            }
        }
        self.replay(&run, code, Replay::Journal).await
    }

    /// Runs a segment of `run`, which this host already holds, in the next free segment slot
    /// (FIFO with the run loop's claims).
    pub(super) fn spawn_held(self: &Arc<Self>, run: TaskRun, start: SegmentStart) {
        // A free slot: start at once (one task, not a task that waits and then spawns).
        if let Ok(permit) = self.segment_slots.clone().try_acquire_owned() {
            return self.spawn_segment(run, start, permit);
        }
        // Held (lease renewed) while waiting for a slot too: the run is already ours.
        super::hold(&self.held_runs, run.id, true);
        self.slot_waiters.fetch_add(1, Ordering::Relaxed);
        let engine = self.clone();
        tokio::spawn(async move {
            let run_id = run.id;
            let slot = engine.segment_slots.clone().acquire_owned().await;
            engine.slot_waiters.fetch_sub(1, Ordering::Relaxed);
            match slot {
                Ok(permit) => engine.spawn_segment(run, start, permit),
                Err(_) => super::hold(&engine.held_runs, run_id, false),
            }
        });
    }

    /// A taken-over run: its delivery is already journaled as its last segment.
    async fn run_handed_off(
        self: &Arc<Self>,
        run: TaskRun,
        results: Vec<DeliveredResult>,
    ) -> Result<(), EngineError> {
        let Some(code) = self.task_code(&run).await? else {
            return Ok(());
        };
        self.resume_recorded(&run, code, run.last_segment_at, results)
            .await
    }

    /// Resumes the live context with `results`, already journaled as delivered in the run's
    /// last segment (started at `last_segment_at`), or replays the run with that delivery when
    /// the context is not here (evicted, restarted, or another host ran it).
    async fn resume_recorded(
        self: &Arc<Self>,
        run: &TaskRun,
        code: Arc<str>,
        last_segment_at: Option<i64>,
        results: Vec<DeliveredResult>,
    ) -> Result<(), EngineError> {
        if let Some(segment_time_ms) = last_segment_at {
            let delivery = Delivery {
                segment_time_ms,
                results,
            };
            let resumed = self.sandbox.resume_live(run.id, delivery).await;
            if let Some(outcome) = resumed.map_err(sandbox_err)? {
                return self.apply(run, outcome).await;
            }
        }
        self.replay(run, code, Replay::JustDelivered).await
    }

    /// Records a delivery (its seqs and the segment's time) before any code runs, so a crash
    /// mid-segment replays exactly the same deliveries.
    async fn record_delivery(
        &self,
        run: &TaskRun,
        segment_times: &mut Vec<i64>,
        results: Vec<DeliveredResult>,
        now: i64,
    ) -> Result<Delivery, EngineError> {
        let segment_index = segment_times.len().max(1) as i64;
        let seqs: Vec<i64> = results.iter().map(|r| r.seq as i64).collect();
        self.store
            .record_delivery(run.id, &seqs, segment_index, now)
            .await?;
        segment_times.push(now);
        Ok(Delivery {
            segment_time_ms: now,
            results,
        })
    }

    /// The slow path: read the journal and run the task from the top against it (or start
    /// it, for the first segment). `mode` says what is known of the journal (see [`Replay`]); a
    /// just-recorded delivery forces execution even when nothing new
    /// is pending in the journal (the delivery was recorded by the fast path).
    async fn replay(
        self: &Arc<Self>,
        run: &TaskRun,
        code: Arc<str>,
        mode: Replay,
    ) -> Result<(), EngineError> {
        let now = self.store.clock().now_ms();
        // A run with no segment has never run one: its journal is empty (calls are recorded
        // at a segment's end, after its time), so a fresh start skips the reads. A recorded
        // delivery is newer than `run`, so that case always reads.
        let never_ran = mode == Replay::Journal && run.segment_count == 0;
        let (journal, mut segment_times) = if mode == Replay::Fresh {
            (Vec::new(), run.last_segment_at.into_iter().collect())
        } else if never_ran {
            (Vec::new(), Vec::new())
        } else {
            tokio::try_join!(self.store.journal(run.id), self.store.segment_times(run.id))?
        };
        let view = JournalView::build(&journal, &segment_times);
        let outstanding = view.issued.len()
            > view
                .delivered
                .iter()
                .map(|d| d.results.len())
                .sum::<usize>()
                + view.undelivered.len();
        // Nothing new settled and calls are still in flight: go back to sleep.
        let just_delivered = mode == Replay::JustDelivered;
        let still_waiting = !just_delivered
            && !segment_times.is_empty()
            && view.undelivered.is_empty()
            && outstanding;
        if still_waiting {
            return self.suspend(run).await;
        }
        let start_time = match segment_times.first() {
            Some(t) => *t,
            None => {
                self.store.append_segment_time(run.id, now).await?;
                segment_times.push(now);
                now
            }
        };
        let mut deliveries = view.delivered;
        if !view.undelivered.is_empty() {
            deliveries.push(
                self.record_delivery(run, &mut segment_times, view.undelivered, now)
                    .await?,
            );
        }
        let request = SegmentRequest {
            run_id: run.id,
            task_name: run.task_name.clone(),
            code,
            input: serde_json::from_str(&run.input).unwrap_or(Value::Null),
            seed: seed_for(run),
            start_time_ms: start_time,
            issued: view.issued,
            deliveries,
        };
        let outcome = self
            .sandbox
            .start_or_replay(request)
            .await
            .map_err(sandbox_err)?;
        if !self.cfg.live_cache {
            self.sandbox.forget(run.id);
        }
        self.apply(run, outcome).await
    }

    /// Keeps task code by its hash (runs replay the exact code they started with); returns
    /// the cached copy.
    pub(super) fn remember_code(&self, code_hash: String, code: String) -> Arc<str> {
        self.code_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code_hash)
            .or_insert_with(|| code.into())
            .clone()
    }

    /// The run's code, or None after failing the run when the code is gone or changed.
    async fn task_code(&self, run: &TaskRun) -> Result<Option<Arc<str>>, EngineError> {
        if let Some(code) = self
            .code_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&run.code_hash)
        {
            return Ok(Some(code.clone()));
        }
        let problem = match self.store.get_function(&run.task_name).await? {
            Some(f) if f.code_hash == run.code_hash => {
                return Ok(Some(self.remember_code(f.code_hash, f.code)));
            }
            Some(_) => format!(
                "the code of task '{}' changed after this run started; it cannot be resumed",
                run.task_name
            ),
            None => format!(
                "task '{}' was deleted after this run started",
                run.task_name
            ),
        };
        let error = json!({ "kind": "code_changed", "message": problem }).to_string();
        self.store
            .fail_run(run.id, self.segment_end(), &error)
            .await?;
        self.notify_ended(run.id);
        Ok(None)
    }

    pub(super) fn segment_end(&self) -> SegmentEnd<'_> {
        SegmentEnd {
            owner: &self.cfg.owner,
            segment_ms: None,
        }
    }
}

/// A per-run seed for Math.random / crypto.randomUUID, stable across replays and hosts.
fn seed_for(run: &TaskRun) -> u64 {
    let mut x = (run.id as u64) ^ ((run.created_at as u64).rotate_left(32)) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn sandbox_err(e: tasker_sandbox::Error) -> EngineError {
    EngineError::Sandbox(e.to_string())
}
