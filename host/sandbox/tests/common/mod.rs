//! Test support: a fake host that executes parked calls, keeps the journal and drives a run to the
//! end either live (resume_live) or by replay after every delivery.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};
use tasker_sandbox::{
    CallResult, DeliveredResult, Delivery, Isolation, IssuedCall, LogLine, ParkedCall, RunOutcome,
    Sandbox, SandboxConfig, SandboxLimits, SegmentRequest, WorkerCommand,
};

pub const START_MS: i64 = 1_700_000_000_000;

pub fn sandbox() -> Sandbox {
    sandbox_with(SandboxLimits::default(), 100)
}

pub fn sandbox_with(limits: SandboxLimits, max_live: usize) -> Sandbox {
    Sandbox::new(SandboxConfig {
        threads: 2,
        max_live,
        limits,
        isolation: Isolation::InProcess,
    })
    .expect("sandbox starts")
}

/// A sandbox running segments in `workers` worker processes (this crate's worker binary).
pub fn worker_sandbox(limits: SandboxLimits, workers: usize, max_live: usize) -> Sandbox {
    Sandbox::new(SandboxConfig {
        threads: workers,
        max_live,
        limits,
        isolation: Isolation::Workers(WorkerCommand {
            program: env!("CARGO_BIN_EXE_tasker-sandbox-worker").into(),
            args: Vec::new(),
        }),
    })
    .expect("sandbox starts")
}

pub fn request(run_id: i64, code: &str, input: Value) -> SegmentRequest {
    SegmentRequest {
        run_id,
        task_name: format!("test-task-{run_id}"),
        code: Arc::from(code),
        input,
        seed: 7,
        start_time_ms: START_MS,
        issued: Vec::new(),
        deliveries: Vec::new(),
    }
}

/// Echo host: `echo` returns its first argument, `fail` fails, anything else returns the call.
pub fn echo_host(call: &ParkedCall) -> CallResult {
    match call.method.as_str() {
        "fail" => CallResult::Err(tasker_sandbox::HostCallError {
            code: "E_TEST".into(),
            message: format!("{} failed", call.service),
            service: call.service.clone(),
            method: call.method.clone(),
        }),
        "echo" => CallResult::Ok(call.args.get(0).cloned().unwrap_or(Value::Null)),
        _ => CallResult::Ok(
            json!({"service": call.service, "method": call.method, "args": call.args}),
        ),
    }
}

/// How the fake host delivers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Resume {
    /// Keep the context live and resume it.
    Live,
    /// Rebuild the run by replay after every delivery.
    Replay,
}

/// Everything a driven run produced.
#[derive(Debug)]
pub struct Driven {
    pub outcome: RunOutcome,
    pub issued: Vec<IssuedCall>,
    pub deliveries: Vec<Delivery>,
    pub logs: Vec<LogLine>,
    pub segments: usize,
}

/// Drives a run to the end. `batch` picks how many outstanding calls (oldest first) each delivery
/// answers (at least 1); `host` computes results.
pub async fn drive(
    sandbox: &Sandbox,
    request: SegmentRequest,
    resume: Resume,
    mut batch: impl FnMut(usize) -> usize,
    mut host: impl FnMut(&ParkedCall) -> CallResult,
) -> Driven {
    let mut issued = Vec::new();
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut waiting: VecDeque<ParkedCall> = VecDeque::new();
    let mut logs = Vec::new();
    let mut segments = 1;
    let mut segment = sandbox
        .start_or_replay(request.clone())
        .await
        .expect("segment runs");
    let mut clock = START_MS;
    loop {
        logs.extend(segment.logs.clone());
        let RunOutcome::Suspended {
            new_calls,
            outstanding,
        } = &segment.outcome
        else {
            return Driven {
                outcome: segment.outcome,
                issued,
                deliveries,
                logs,
                segments,
            };
        };
        for call in new_calls {
            issued.push(call.to_issued());
            waiting.push_back(call.clone());
        }
        assert_eq!(
            waiting.len(),
            outstanding.len(),
            "outstanding calls agree with the host's view"
        );
        let take = batch(waiting.len()).clamp(1, waiting.len());
        clock += 1_000;
        let results = waiting
            .drain(..take)
            .map(|call| DeliveredResult {
                seq: call.seq,
                result: host(&call),
            })
            .collect();
        let delivery = Delivery {
            segment_time_ms: clock,
            results,
        };
        deliveries.push(delivery.clone());
        segments += 1;
        segment = match resume {
            Resume::Live => sandbox
                .resume_live(request.run_id, delivery)
                .await
                .expect("live resume")
                .expect("run is live"),
            Resume::Replay => {
                sandbox.evict(request.run_id);
                let mut replay = request.clone();
                replay.issued = issued.clone();
                replay.deliveries = deliveries.clone();
                sandbox.start_or_replay(replay).await.expect("replay runs")
            }
        };
    }
}

pub fn all(n: usize) -> usize {
    n
}

pub fn one(_: usize) -> usize {
    1
}

pub fn completed(outcome: &RunOutcome) -> &Value {
    match outcome {
        RunOutcome::Completed { result } => result,
        other => panic!("expected a completed run, got {other:?}"),
    }
}

pub fn failed(outcome: &RunOutcome) -> &tasker_sandbox::TaskFailure {
    match outcome {
        RunOutcome::Failed(failure) => failure,
        other => panic!("expected a failed run, got {other:?}"),
    }
}
