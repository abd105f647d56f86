//! One task run on one thread: starts (or replays) a run in a fresh context, applies deliveries to a
//! live run, and reports outcomes. Single-threaded (`Context` is `!Send`); knows nothing of threads,
//! storage or how host calls are executed.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use boa_engine::object::builtins::JsPromise;
use boa_engine::{Context, JsValue};

use crate::clock::SegmentClock;
use crate::error::{Error, Result};
use crate::globals::{SpareContext, new_context};
use crate::hostcall::settle_call;
use crate::limits::SandboxLimits;
use crate::loader::{as_promise, load_handler};
use crate::model::{
    Delivery, FailureKind, RunId, RunOutcome, SegmentOutcome, SegmentRequest, TaskFailure,
};
use crate::outcome::{current_outcome, engine_failure};
use crate::state::HostState;

/// A run whose context is alive (suspended, waiting for results).
pub(crate) struct LiveRun {
    run_id: RunId,
    ctx: Context,
    clock: Rc<SegmentClock>,
    promise: JsPromise,
}

impl std::fmt::Debug for LiveRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRun")
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// A segment's outcome plus the live run when it suspended.
pub(crate) struct Segment {
    pub(crate) outcome: SegmentOutcome,
    pub(crate) live: Option<LiveRun>,
}

/// Runs the handler in a fresh context at the run's start time, then replays the journal's deliveries.
/// `spare`, when given, is a context built ahead for this thread (see [`SpareContext`]).
pub(crate) fn start_or_replay(
    request: &SegmentRequest,
    limits: Arc<SandboxLimits>,
    spare: Option<SpareContext>,
) -> Result<Segment> {
    let fresh = match spare {
        Some(spare) => spare.into_run(request.seed, request.start_time_ms),
        None => new_context(limits, request.seed, request.start_time_ms),
    };
    let (mut ctx, clock) = fresh.map_err(|e| Error::ContextSetup(e.to_string()))?;
    let replaying = !request.deliveries.is_empty();
    {
        let state = HostState::get(&mut ctx).map_err(|e| Error::ContextSetup(e.to_string()))?;
        state.journal = request.issued.clone();
        state.replaying = replaying;
        state.suppress_logs = replaying;
    }
    let promise = match start_handler(request, &mut ctx) {
        Ok(promise) => promise,
        Err(failure) => return Ok(finished(RunOutcome::Failed(failure), &mut ctx)),
    };
    let mut run = LiveRun {
        run_id: request.run_id,
        ctx,
        clock,
        promise,
    };
    for (index, delivery) in request.deliveries.iter().enumerate() {
        if let Some(failure) = run.settled_or_fatal() {
            let failure = failure.unwrap_or_else(|| {
                divergence(format!(
                    "replay diverged: the run finished before the journal's delivery #{index}"
                ))
            });
            return Ok(finished(RunOutcome::Failed(failure), &mut run.ctx));
        }
        if let Err(seq) = run.check_delivery(delivery) {
            let failure = divergence(format!(
                "replay diverged at delivery #{index}: it answers call #{seq}, which the code is not waiting on"
            ));
            return Ok(finished(RunOutcome::Failed(failure), &mut run.ctx));
        }
        let last = index + 1 == request.deliveries.len();
        if let Ok(state) = HostState::get(&mut run.ctx) {
            state.replaying = !last;
            state.suppress_logs = !last;
        }
        run.apply(delivery);
    }
    if let Ok(state) = HostState::get(&mut run.ctx) {
        let (made, journaled) = (state.next_seq, state.journal.len() as u64);
        if state.fatal.is_none() && made < journaled {
            state.poison(
                FailureKind::Divergence,
                format!("replay diverged: the journal holds {journaled} calls but the code made only {made}"),
            );
        }
    }
    Ok(run.finish_segment())
}

fn start_handler(request: &SegmentRequest, ctx: &mut Context) -> Result<JsPromise, TaskFailure> {
    let handler = load_handler(&request.code, &request.task_name, ctx)?;
    let input = JsValue::from_json(&request.input, ctx).map_err(|e| engine_failure(&e, ctx))?;
    let returned = match handler.function.call(&handler.this, &[input], ctx) {
        Ok(value) => value,
        Err(error) if error.as_engine().is_some() => return Err(engine_failure(&error, ctx)),
        // A synchronous throw (non-async handler) fails the run like a rejection.
        Err(error) => {
            let reason = error
                .into_opaque(ctx)
                .map_err(|e| engine_failure(&e, ctx))?;
            let (message, stack) = crate::outcome::describe_error(&reason, ctx);
            return Err(TaskFailure {
                kind: FailureKind::Threw,
                message,
                stack,
            });
        }
    };
    let promise = as_promise(returned, ctx).map_err(|e| engine_failure(&e, ctx))?;
    drain(ctx)?;
    Ok(promise)
}

fn drain(ctx: &mut Context) -> Result<(), TaskFailure> {
    ctx.run_jobs().map_err(|e| engine_failure(&e, ctx))
}

fn divergence(message: String) -> TaskFailure {
    TaskFailure {
        kind: FailureKind::Divergence,
        message,
        stack: None,
    }
}

fn finished(outcome: RunOutcome, ctx: &mut Context) -> Segment {
    let logs = HostState::get(ctx)
        .map(|s| std::mem::take(&mut s.logs))
        .unwrap_or_default();
    Segment {
        outcome: SegmentOutcome { outcome, logs },
        live: None,
    }
}

impl LiveRun {
    /// Applies one live delivery. `Err(UnknownCall)` hands the untouched run back.
    pub(crate) fn resume(mut self, delivery: &Delivery) -> Result<Segment, Box<(Error, LiveRun)>> {
        if let Err(seq) = self.check_delivery(delivery) {
            let run_id = self.run_id;
            return Err(Box::new((Error::UnknownCall { run_id, seq }, self)));
        }
        self.apply(delivery);
        Ok(self.finish_segment())
    }

    /// Every seq answered by `delivery` is outstanding and answered once; else the first bad seq.
    fn check_delivery(&mut self, delivery: &Delivery) -> Result<(), u64> {
        let Ok(state) = HostState::get(&mut self.ctx) else {
            return Ok(());
        };
        let mut seen = BTreeSet::new();
        for result in &delivery.results {
            if !state.parked.contains_key(&result.seq) || !seen.insert(result.seq) {
                return Err(result.seq);
            }
        }
        Ok(())
    }

    /// Sets the segment clock, settles the delivered calls in order, then drains the job queue.
    fn apply(&mut self, delivery: &Delivery) {
        self.clock.set(delivery.segment_time_ms);
        for result in &delivery.results {
            if let Err(error) = settle_call(result.seq, &result.result, &mut self.ctx) {
                self.poison_with(&error);
                return;
            }
        }
        if let Err(error) = self.ctx.run_jobs() {
            self.poison_with(&error);
        }
    }

    fn poison_with(&mut self, error: &boa_engine::JsError) {
        let failure = engine_failure(error, &mut self.ctx);
        if let Ok(state) = HostState::get(&mut self.ctx) {
            state.poison(failure.kind, failure.message);
        }
    }

    /// `Some(Some(failure))` when poisoned, `Some(None)` when the handler settled, `None` when pending.
    fn settled_or_fatal(&mut self) -> Option<Option<TaskFailure>> {
        if let Ok(state) = HostState::get(&mut self.ctx)
            && let Some(fatal) = &state.fatal
        {
            return Some(Some(fatal.clone()));
        }
        match self.promise.state() {
            boa_engine::builtins::promise::PromiseState::Pending => None,
            _ => Some(None),
        }
    }

    fn finish_segment(mut self) -> Segment {
        let outcome = current_outcome(&self.promise, &mut self.ctx);
        let logs = HostState::get(&mut self.ctx)
            .map(|s| std::mem::take(&mut s.logs))
            .unwrap_or_default();
        let live = matches!(outcome, RunOutcome::Suspended { .. }).then_some(self);
        Segment {
            outcome: SegmentOutcome { outcome, logs },
            live,
        }
    }
}
