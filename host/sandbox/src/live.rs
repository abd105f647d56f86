//! The runs of one JavaScript thread: an LRU of live (suspended) contexts plus the synchronous
//! start / resume / forget operations on them. Shared by the in-process executor threads and the
//! worker processes; knows nothing of channels, pipes or storage.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::globals::SpareContext;
use crate::limits::SandboxLimits;
use crate::model::{Delivery, RunId, SegmentOutcome, SegmentRequest};
use crate::run::{LiveRun, Segment, start_or_replay};

/// One thread's runs. `!Send` in practice (it owns boa contexts): build it on its thread.
pub(crate) struct LocalRuns {
    limits: Arc<SandboxLimits>,
    live: LiveCache,
    /// One context built while the thread was idle, for the next run that starts here.
    spare: Option<SpareContext>,
}

impl LocalRuns {
    /// Keeps at most `capacity` live contexts (0 = replay-only).
    pub(crate) fn new(limits: Arc<SandboxLimits>, capacity: usize) -> Self {
        Self {
            limits,
            live: LiveCache::new(capacity),
            spare: None,
        }
    }

    /// Runs a segment in a fresh context (dropping any live context of the run first).
    pub(crate) fn start_or_replay(&mut self, request: &SegmentRequest) -> Result<SegmentOutcome> {
        let run_id = request.run_id;
        self.live.remove(run_id);
        let limits = self.limits.clone();
        let spare = self.spare.take();
        guarded(run_id, || start_or_replay(request, limits, spare))
            .map(|segment| self.keep(run_id, segment))
    }

    /// Builds the spare context if there is none; call when the thread would otherwise wait.
    /// A context that fails to build (or panics building) is simply not kept: the next start
    /// builds its own and reports the problem.
    pub(crate) fn prepare_spare(&mut self) {
        if self.spare.is_some() {
            return;
        }
        let limits = self.limits.clone();
        self.spare = catch_unwind(AssertUnwindSafe(|| SpareContext::build(limits)))
            .ok()
            .and_then(|built| built.ok());
    }

    /// Applies a delivery to a live run; `Ok(None)` when the run is not live here.
    pub(crate) fn resume_live(
        &mut self,
        run_id: RunId,
        delivery: &Delivery,
    ) -> Result<Option<SegmentOutcome>> {
        let Some(run) = self.live.remove(run_id) else {
            return Ok(None);
        };
        match guarded(run_id, || Ok(run.resume(delivery))) {
            Ok(Ok(segment)) => Ok(Some(self.keep(run_id, segment))),
            Ok(Err(rejected)) => {
                let (error, run) = *rejected;
                self.live.insert(run_id, run);
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Drops a run's live context, if any.
    pub(crate) fn forget(&mut self, run_id: RunId) {
        self.live.remove(run_id);
    }

    /// Number of live contexts.
    pub(crate) fn live_count(&self) -> usize {
        self.live.len()
    }

    fn keep(&mut self, run_id: RunId, segment: Segment) -> SegmentOutcome {
        if let Some(run) = segment.live {
            self.live.insert(run_id, run);
        }
        segment.outcome
    }
}

/// Runs `f`, turning an engine panic into an error (the run's context is dropped with the closure).
fn guarded<T>(run_id: RunId, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Error::EnginePanicked { run_id, message })
        }
    }
}

/// Least-recently-used live runs of one thread.
struct LiveCache {
    capacity: usize,
    tick: u64,
    runs: HashMap<RunId, (u64, LiveRun)>,
    by_age: BTreeMap<u64, RunId>,
}

impl LiveCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tick: 0,
            runs: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.runs.len()
    }

    fn insert(&mut self, run_id: RunId, run: LiveRun) {
        if self.capacity == 0 {
            return;
        }
        self.remove(run_id);
        while self.runs.len() >= self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.runs.remove(&oldest);
        }
        self.tick += 1;
        self.by_age.insert(self.tick, run_id);
        self.runs.insert(run_id, (self.tick, run));
    }

    fn remove(&mut self, run_id: RunId) -> Option<LiveRun> {
        let (tick, run) = self.runs.remove(&run_id)?;
        self.by_age.remove(&tick);
        Some(run)
    }
}
