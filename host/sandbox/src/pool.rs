//! The worker mode's host side: a pool of worker processes, one segment at a time each, with the
//! run → worker map that sends a suspended run back to the worker holding its live context. A
//! worker that dies mid-segment fails that segment with a specific limit or crash error and is
//! restarted on next use; the runs it held live replay elsewhere. Never runs JavaScript itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::death::{Cause, Death};
use crate::error::{Error, Result};
use crate::limits::SandboxLimits;
use crate::model::{Delivery, RunId, RunOutcome, SegmentOutcome, SegmentRequest};
use crate::process::{Failed, WorkerCommand, WorkerProcess};
use crate::wire::{Op, ToWorker, WorkerInit, encode};

/// Wall-clock allowance of a segment: twice its CPU allowance plus slack for a loaded machine.
pub(crate) fn segment_deadline(limits: &SandboxLimits) -> Option<Duration> {
    limits
        .segment_cpu_secs
        .map(|secs| Duration::from_secs(secs.saturating_mul(2).saturating_add(5)))
}

/// Which worker (and which incarnation of it) holds a run's live context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placement {
    slot: usize,
    generation: u64,
}

#[derive(Default)]
struct SlotState {
    process: Option<WorkerProcess>,
    /// Incremented at every start, so placements from a dead incarnation are recognised.
    generation: u64,
}

struct Slot {
    state: tokio::sync::Mutex<SlotState>,
    /// Requests queued on or running in this slot, to spread new runs.
    queued: AtomicUsize,
    /// Ended runs whose live contexts the worker should drop with its next request.
    forget: Mutex<Vec<RunId>>,
}

/// The pool. All methods take `&self`; each slot serialises its own requests.
pub(crate) struct WorkerPool {
    command: WorkerCommand,
    init: WorkerInit,
    deadline: Option<Duration>,
    slots: Vec<Slot>,
    placements: Mutex<HashMap<RunId, Placement>>,
    rotation: AtomicUsize,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("command", &self.command)
            .field("workers", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// What one attempt in a slot produced.
enum Attempt {
    Reply(Result<Option<SegmentOutcome>>),
    Died { death: Death, others_live: bool },
}

impl WorkerPool {
    /// A pool of `workers` processes (started on first use) sharing `max_live` live contexts.
    pub(crate) fn new(
        command: WorkerCommand,
        workers: usize,
        max_live: usize,
        limits: SandboxLimits,
    ) -> Self {
        let workers = workers.max(1);
        let slots = (0..workers)
            .map(|_| Slot {
                state: tokio::sync::Mutex::new(SlotState::default()),
                queued: AtomicUsize::new(0),
                forget: Mutex::new(Vec::new()),
            })
            .collect();
        Self {
            command,
            deadline: segment_deadline(&limits),
            init: WorkerInit {
                limits,
                max_live: max_live.div_ceil(workers),
            },
            slots,
            placements: Mutex::new(HashMap::new()),
            rotation: AtomicUsize::new(0),
        }
    }

    pub(crate) async fn start_or_replay(&self, request: SegmentRequest) -> Result<SegmentOutcome> {
        let run_id = request.run_id;
        let slot = match self.placement(run_id) {
            Some(placement) => placement.slot,
            None => self.least_busy_slot(),
        };
        let op = Op::StartOrReplay(Box::new(request));
        let frame = encode(&ToWorker::Run(op)).map_err(|source| Error::WorkerPipe {
            step: "encoding a segment request",
            source,
        })?;
        match self.attempt(slot, run_id, &frame, None).await? {
            Attempt::Reply(result) => result?.ok_or(Error::Worker(
                "the worker answered a start without an outcome".into(),
            )),
            // The dead worker also held other runs' contexts, so the memory may not have been this
            // run's: try once more alone on the fresh worker; a second death is certainly its own.
            Attempt::Died { death, others_live }
                if others_live && death.cause() == Cause::Memory =>
            {
                match self.attempt(slot, run_id, &frame, None).await? {
                    Attempt::Reply(result) => result?.ok_or(Error::Worker(
                        "the worker answered a start without an outcome".into(),
                    )),
                    Attempt::Died { death, .. } => Ok(self.failed(&death)),
                }
            }
            Attempt::Died { death, .. } => Ok(self.failed(&death)),
        }
    }

    pub(crate) async fn resume_live(
        &self,
        run_id: RunId,
        delivery: Delivery,
    ) -> Result<Option<SegmentOutcome>> {
        let Some(placement) = self.placement(run_id) else {
            return Ok(None);
        };
        let frame = encode(&ToWorker::Run(Op::ResumeLive {
            run_id,
            delivery: Box::new(delivery),
        }))
        .map_err(|source| Error::WorkerPipe {
            step: "encoding a delivery",
            source,
        })?;
        match self
            .attempt(placement.slot, run_id, &frame, Some(placement.generation))
            .await?
        {
            Attempt::Reply(result) => result,
            // Not certainly this run's fault: the engine replays it on a fresh worker.
            Attempt::Died { death, others_live }
                if others_live && death.cause() == Cause::Memory =>
            {
                Ok(None)
            }
            Attempt::Died { death, .. } => Ok(Some(self.failed(&death))),
        }
    }

    /// False when the run certainly has no live context in a worker.
    pub(crate) fn may_be_live(&self, run_id: RunId) -> bool {
        self.placement(run_id).is_some()
    }

    pub(crate) fn forget(&self, run_id: RunId) {
        let placement = self
            .placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run_id);
        if let Some(placement) = placement {
            self.slots[placement.slot]
                .forget
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(run_id);
        }
    }

    pub(crate) async fn live_count(&self) -> usize {
        let mut total = 0;
        for (index, slot) in self.slots.iter().enumerate() {
            let mut state = slot.state.lock().await;
            let forget = self.take_forget(index);
            if state.process.as_mut().is_some_and(|p| p.has_exited()) {
                state.process = None;
            }
            let Some(process) = state.process.as_mut() else {
                continue;
            };
            let Ok(frame) = encode(&ToWorker::Run(Op::CountLive)) else {
                continue;
            };
            if !forget.is_empty() && process.forget(&forget).await.is_err() {
                state.process = None;
                continue;
            }
            match process.exchange(&frame, self.deadline).await {
                Ok(reply) => total += reply.live,
                Err(_) => state.process = None,
            }
        }
        total
    }

    /// Runs one request in `slot`. With `expected_generation`, only that incarnation will do (the
    /// live context is there): a restarted worker answers "not live" without being asked.
    async fn attempt(
        &self,
        slot_index: usize,
        run_id: RunId,
        frame: &[u8],
        expected_generation: Option<u64>,
    ) -> Result<Attempt> {
        let slot = &self.slots[slot_index];
        slot.queued.fetch_add(1, Ordering::Relaxed);
        let _queued = QueuedGuard(&slot.queued);
        let mut state = slot.state.lock().await;
        if state.process.as_mut().is_some_and(|p| p.has_exited()) {
            state.process = None;
        }
        if expected_generation.is_some_and(|g| g != state.generation || state.process.is_none()) {
            self.unplace(run_id);
            return Ok(Attempt::Reply(Ok(None)));
        }
        if state.process.is_none() {
            let label = format!("sandbox worker {slot_index}");
            let process = WorkerProcess::start(&self.command, label, &self.init)
                .await
                .map_err(|message| Error::WorkerStart {
                    index: slot_index,
                    program: self.command.program.display().to_string(),
                    message,
                })?;
            state.generation += 1;
            state.process = Some(process);
        }
        let generation = state.generation;
        let here = Placement {
            slot: slot_index,
            generation,
        };
        let was_here = self.placement(run_id) == Some(here);
        let forget = self.take_forget(slot_index);
        let Some(process) = state.process.as_mut() else {
            return Err(Error::Worker("worker vanished".into()));
        };
        let others_live = process.live > usize::from(was_here);
        if !forget.is_empty()
            && let Err(source) = process.forget(&forget).await
        {
            warn_forget_failed(slot_index, &source);
        }
        match process.exchange(frame, self.deadline).await {
            Ok(reply) => {
                let result = reply.result.map_err(Error::from);
                match &result {
                    Ok(Some(SegmentOutcome {
                        outcome: RunOutcome::Suspended { .. },
                        ..
                    })) => self.place(run_id, slot_index, generation),
                    _ => self.unplace(run_id),
                }
                Ok(Attempt::Reply(result))
            }
            Err(Failed::Died(death)) => {
                state.process = None;
                self.unplace(run_id);
                Ok(Attempt::Died { death, others_live })
            }
            Err(Failed::Protocol(source)) => {
                state.process = None;
                self.unplace(run_id);
                Err(Error::WorkerPipe {
                    step: "reading a reply",
                    source,
                })
            }
        }
    }

    fn failed(&self, death: &Death) -> SegmentOutcome {
        SegmentOutcome {
            outcome: RunOutcome::Failed(death.failure(&self.init.limits)),
            logs: Vec::new(),
        }
    }

    fn least_busy_slot(&self) -> usize {
        let start = self.rotation.fetch_add(1, Ordering::Relaxed);
        let count = self.slots.len();
        (0..count)
            .map(|offset| (start + offset) % count)
            .min_by_key(|&index| self.slots[index].queued.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    fn placement(&self, run_id: RunId) -> Option<Placement> {
        self.placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&run_id)
            .copied()
    }

    fn place(&self, run_id: RunId, slot: usize, generation: u64) {
        self.placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id, Placement { slot, generation });
    }

    fn unplace(&self, run_id: RunId) {
        self.placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run_id);
    }

    fn take_forget(&self, slot: usize) -> Vec<RunId> {
        std::mem::take(
            &mut *self.slots[slot]
                .forget
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }
}

/// A failed forget is harmless (the worker's LRU drops the context eventually, and a dead worker
/// is noticed by the request that follows), but worth a line in the log.
fn warn_forget_failed(slot: usize, error: &std::io::Error) {
    eprintln!("sandbox worker {slot}: sending ended runs failed: {error}");
}

struct QueuedGuard<'a>(&'a AtomicUsize);

impl Drop for QueuedGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
