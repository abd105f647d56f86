//! tasker's JavaScript task sandbox: runs task code segments in boa, parks host calls as pending
//! promises, resumes live contexts or rebuilds them by deterministic journal replay.
//!
//! This crate must not know about databases, HTTP or plugins: the caller executes parked calls,
//! persists the journal and hands results back as [`Delivery`]s.
//!
//! # Model
//!
//! A run is a sequence of *segments*. The first segment calls the handler at `start_time_ms`; each
//! later segment starts when a [`Delivery`] (a batch of call results plus the segment's time) is
//! applied. After every segment the job queue is drained and the handler's promise decides the
//! [`RunOutcome`]: fulfilled → `Completed`, rejected → `Failed` (message + JS stack), pending with
//! calls outstanding → `Suspended` (with the calls issued in this segment), pending with nothing
//! outstanding → `Failed` ("task is waiting on a promise that can never settle"). Suspension is not
//! an exception, so `try/catch` cannot swallow it. A run that finishes while calls it never awaited
//! are still outstanding drops them (like Temporal cancelling activities of a finished workflow).
//!
//! The journal is the list of issued calls ([`IssuedCall`]: seq, service, method, [`args_hash`]) and
//! the ordered deliveries. Replay runs the handler in a fresh context at the start time, checks each
//! call against the journal by seq (a different service, method or args hash fails the run with
//! [`FailureKind::Divergence`] naming the call number, what the code asked for and what the journal
//! holds), and applies the deliveries in order exactly as live execution did; so both see identical
//! values and ordering. Calls after the last delivery are reported as new. Console lines of replayed
//! segments are not reported again.
//!
//! # Task formats
//!
//! CommonJS (`module.exports = async function (input) {}`, arrow functions, `exports.main = ...`, an
//! object whose `main`, `default` or first function property is the handler), ES modules
//! (`export default async function`, `export async function main`; no imports, no top-level await
//! on host calls), and plain scripts defining `async function main(input)`. Input is one argument.
//!
//! # Globals
//!
//! Only ECMAScript built-ins plus `console` (log/info/warn/error/debug/trace, captured),
//! `__callHostTool__(service, methodPath, args)`, the `tools` proxy (`tools.svc.a.b(x)` =
//! `__callHostTool__("svc", ["a","b"], [x])`; a method named `then` is not reachable through it) and
//! `crypto.randomUUID()`. Deterministic by construction: `Date.now()`/`new Date()` return the
//! current segment's time, the local time zone is UTC, `Math.random()`/`crypto.randomUUID()` come
//! from a PRNG seeded per run, `WeakRef`/`FinalizationRegistry` are absent; no timers, `fetch`,
//! filesystem, environment or process. boa's `temporal` feature is off (no `Temporal.Now`).
//!
//! # Limits ([`SandboxLimits`])
//!
//! Bounded, each failing the run with [`FailureKind::Limit`] naming the limit:
//! * recursion depth, VM stack size, loop iterations: boa `RuntimeLimits`, uncatchable by JS. The
//!   loop counter is per call frame and cumulative across that frame's loops, so it does not bound
//!   total work on its own.
//! * instruction budget (feature `instruction-budget`, default on, which enables boa's `fuzz`
//!   feature; boa has no other interrupt API): the budget belongs to the boa `Context` and cannot be
//!   reset, so it bounds the whole run (all segments), not each segment. Replay executes exactly the
//!   same instructions as the live run, so live and replay fail at the same point. Roughly 200 M
//!   instructions per second in release builds.
//! * host calls per run, bytes per call result (checked on delivery), journal bytes per run (call
//!   arguments + results): the run fails even if the task catches the error thrown at the call.
//! * console lines and bytes per run (replayed segments count too, so live and replay agree):
//!   one more fails the run ("console flood"); lines longer than `max_log_line_bytes` are cut
//!   and marked.
//!
//! Host-call arguments and results go through the original `JSON.stringify` (captured before task
//! code runs); a `toJSON` defined on a built-in prototype is refused as prototype pollution.
//!
//! Not bounded in-process: memory (a task can allocate large arrays or strings) and native work
//! inside a single builtin (e.g. a catastrophic regex). The worker mode bounds both.
//!
//! # Backends
//!
//! [`Sandbox`] runs segments either on `threads` executor threads in this process (a run is pinned
//! to one by its id; each keeps an LRU of live contexts, total `max_live`, 0 = replay-only), or in
//! `threads` worker processes ([`Isolation::Workers`]: a command that ends in
//! [`serve_worker_process`], e.g. `tasker-host worker`). Workers cap their own address space
//! (`task_memory_mb` above their start-up size) and CPU per segment (`segment_cpu_secs`), and the
//! host kills one that passes the segment's wall-clock deadline. A segment that kills its worker
//! comes back as a failed outcome (`Limit(Memory)`, `Limit(SegmentTime)` or `Engine`), never as an
//! error; the worker restarts on next use and its live runs answer "not live" (the caller replays).
//!
//! The handle is `Send + Sync + Clone` and its methods are async (must run inside a tokio runtime
//! with I/O and time enabled in worker mode).

mod clock;
mod console;
mod death;
mod error;
mod executor;
mod globals;
mod hash;
mod hostcall;
mod limits;
mod live;
mod loader;
mod model;
mod os_limits;
mod outcome;
mod pool;
mod process;
mod rng;
mod run;
mod sandbox;
mod state;
mod wire;
mod worker;

pub use error::{Error, Result};
pub use hash::args_hash;
pub use limits::{LimitKind, SandboxLimits};
pub use model::{
    CallResult, DeliveredResult, Delivery, FailureKind, HostCallError, IssuedCall, LogLevel,
    LogLine, ParkedCall, RunId, RunOutcome, SegmentOutcome, SegmentRequest, TaskFailure,
};
pub use process::WorkerCommand;
pub use sandbox::{Isolation, Sandbox, SandboxConfig};
pub use worker::serve_worker_process;
