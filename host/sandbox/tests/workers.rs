//! Worker mode: segments run in worker processes (this crate's `tasker-sandbox-worker` binary)
//! under OS limits. Memory and CPU bombs fail their run with a specific limit error, the worker is
//! restarted, runs held live by a dead worker replay, and well-behaved runs carry on meanwhile.

mod common;

use common::{Resume, completed, drive, echo_host, failed, one, request, worker_sandbox};
use serde_json::json;
use tasker_sandbox::{
    CallResult, DeliveredResult, Delivery, FailureKind, LimitKind, RunOutcome, Sandbox,
    SandboxLimits,
};

const WELL_BEHAVED: &str = r#"module.exports = async ({ n }) => {
    let total = 0;
    for (let i = 0; i < n; i++) total += await tools.svc.echo(i);
    console.log("total", total);
    return total;
};"#;

/// Grows by 1 MB per iteration. (`"x".repeat(1e6)` in a loop would not do: boa charges every
/// repetition to the loop-iteration limit, which stops that loop at about 100 MB.)
const MEMORY_BOMB: &str = r#"module.exports = async () => {
    let s = "x"; for (let i = 0; i < 20; i++) s = s + s;
    const a = []; for (;;) a.push(s + a.length);
};"#;

fn limits(memory_mb: u64, cpu_secs: u64) -> SandboxLimits {
    SandboxLimits {
        task_memory_mb: Some(memory_mb),
        segment_cpu_secs: Some(cpu_secs),
        ..SandboxLimits::default()
    }
}

async fn well_behaved(sandbox: &Sandbox, run_id: i64, resume: Resume) {
    let driven = drive(
        sandbox,
        request(run_id, WELL_BEHAVED, json!({ "n": 20 })),
        resume,
        one,
        echo_host,
    )
    .await;
    assert_eq!(completed(&driven.outcome), &json!(190));
    assert_eq!(driven.logs.len(), 1, "{:?}", driven.logs);
}

#[tokio::test]
async fn runs_live_and_by_replay_in_workers() {
    let sandbox = worker_sandbox(limits(256, 10), 2, 100);
    assert!(sandbox.uses_workers());
    well_behaved(&sandbox, 1, Resume::Live).await;
    well_behaved(&sandbox, 2, Resume::Replay).await;
    // Suspended runs stay live in the workers until forgotten.
    let code = "module.exports = async () => await tools.svc.echo(1);";
    for run_id in 10..14 {
        let outcome = sandbox
            .start_or_replay(request(run_id, code, json!({})))
            .await
            .unwrap();
        assert!(matches!(outcome.outcome, RunOutcome::Suspended { .. }));
    }
    assert_eq!(sandbox.live_count().await, 4);
    sandbox.forget(10);
    sandbox.forget(11);
    assert_eq!(sandbox.live_count().await, 2);
}

#[tokio::test]
async fn memory_bomb_fails_with_the_memory_limit_while_others_complete() {
    let sandbox = worker_sandbox(limits(256, 20), 2, 100);
    let bomb = sandbox.start_or_replay(request(1, MEMORY_BOMB, json!({})));
    let neighbour = well_behaved(&sandbox, 2, Resume::Live);
    let (bomb, ()) = tokio::join!(bomb, neighbour);
    let failure = failed(&bomb.unwrap().outcome).clone();
    assert_eq!(
        failure.kind,
        FailureKind::Limit(LimitKind::Memory),
        "{failure:?}"
    );
    assert!(
        failure.message.contains("task_memory_mb (256)")
            && failure.message.contains("the 256 MB memory limit"),
        "{}",
        failure.message
    );
    // The pool restarts the worker and carries on.
    well_behaved(&sandbox, 3, Resume::Live).await;
}

#[tokio::test]
async fn giant_string_fails_with_the_memory_limit() {
    let sandbox = worker_sandbox(limits(128, 20), 1, 10);
    let code = r#"module.exports = async () => { let s = "ab"; for (;;) s = s + s; };"#;
    let outcome = sandbox
        .start_or_replay(request(1, code, json!({})))
        .await
        .unwrap();
    let failure = failed(&outcome.outcome);
    // boa caps strings at 2^32 - 1 code units; the 128 MB cap is reached long before that.
    assert_eq!(
        failure.kind,
        FailureKind::Limit(LimitKind::Memory),
        "{failure:?}"
    );
}

#[tokio::test]
async fn catastrophic_regex_fails_with_the_time_limit() {
    let sandbox = worker_sandbox(limits(256, 1), 2, 10);
    // Backtracking happens inside one builtin call, so the instruction budget cannot see it.
    let code = r#"module.exports = async () => /(a+)+$/.test("a".repeat(40) + "b");"#;
    let regex = sandbox.start_or_replay(request(1, code, json!({})));
    let neighbour = well_behaved(&sandbox, 2, Resume::Replay);
    let (regex, ()) = tokio::join!(regex, neighbour);
    let failure = failed(&regex.unwrap().outcome).clone();
    assert_eq!(
        failure.kind,
        FailureKind::Limit(LimitKind::SegmentTime),
        "{failure:?}"
    );
    assert!(
        failure.message.contains("segment_cpu_secs (1)"),
        "{}",
        failure.message
    );
}

/// One worker holds a live run; a memory bomb kills that worker. The bomb is retried alone on the
/// fresh worker (the dead one held another run, so the blame was uncertain) and fails; the live run
/// is no longer live and completes by replay.
#[tokio::test]
async fn live_runs_of_a_dead_worker_replay() {
    let sandbox = worker_sandbox(limits(256, 20), 1, 10);
    let waiting = "module.exports = async () => (await tools.svc.echo(41)) + 1;";
    let first = sandbox
        .start_or_replay(request(1, waiting, json!({})))
        .await
        .unwrap();
    let RunOutcome::Suspended { new_calls, .. } = first.outcome else {
        panic!("expected suspension, got {:?}", first.outcome);
    };
    let bomb = sandbox
        .start_or_replay(request(2, MEMORY_BOMB, json!({})))
        .await
        .unwrap();
    assert_eq!(
        failed(&bomb.outcome).kind,
        FailureKind::Limit(LimitKind::Memory)
    );
    let delivery = Delivery {
        segment_time_ms: common::START_MS + 1_000,
        results: vec![DeliveredResult {
            seq: 0,
            result: CallResult::Ok(json!(41)),
        }],
    };
    let resumed = sandbox.resume_live(1, delivery.clone()).await.unwrap();
    assert!(resumed.is_none(), "the dead worker's live run is gone");
    let mut replay = request(1, waiting, json!({}));
    replay.issued = new_calls.iter().map(|c| c.to_issued()).collect();
    replay.deliveries = vec![delivery];
    let outcome = sandbox.start_or_replay(replay).await.unwrap();
    assert_eq!(completed(&outcome.outcome), &json!(42));
}

#[tokio::test]
async fn engine_limits_still_apply_in_workers() {
    let limits = SandboxLimits {
        max_loop_iterations: 10_000,
        ..limits(256, 20)
    };
    let sandbox = worker_sandbox(limits, 1, 10);
    let code = "module.exports = async () => { while (true) {} };";
    let outcome = sandbox
        .start_or_replay(request(1, code, json!({})))
        .await
        .unwrap();
    assert_eq!(
        failed(&outcome.outcome).kind,
        FailureKind::Limit(LimitKind::LoopIterations)
    );
}

/// The cost of worker mode per segment, next to in-process (prints, asserts nothing about time).
/// `cargo test --release -p tasker-sandbox --test workers -- --ignored --nocapture cost`
#[tokio::test]
#[ignore = "measurement; run in release with --nocapture"]
async fn cost_per_segment_workers_vs_in_process() {
    use std::time::Instant;
    let in_process = common::sandbox_with(SandboxLimits::default(), 100);
    let workers = worker_sandbox(limits(512, 20), 2, 100);
    // Warm both (worker start-up is paid once per worker, not per segment).
    well_behaved(&workers, 100, Resume::Live).await;
    well_behaved(&in_process, 100, Resume::Live).await;
    let code = "module.exports = async ({ n }) => { let t = 0; for (let i = 0; i < n; i++) t += await tools.svc.echo(i); return t; };";
    for (name, sandbox) in [("in-process", &in_process), ("workers", &workers)] {
        for resume in [Resume::Live, Resume::Replay] {
            let n = if resume == Resume::Live { 1000 } else { 100 };
            let started = Instant::now();
            let driven = drive(
                sandbox,
                request(200, code, json!({ "n": n })),
                resume,
                one,
                echo_host,
            )
            .await;
            let elapsed = started.elapsed();
            assert_eq!(driven.segments, n + 1);
            println!(
                "{name:>10} {resume:?}: {n} calls, {} segments, {elapsed:?} total, {:?} per segment",
                driven.segments,
                elapsed / driven.segments as u32
            );
        }
        let started = Instant::now();
        for run_id in 0..200 {
            let outcome = sandbox
                .start_or_replay(request(
                    1000 + run_id,
                    "module.exports = async (x) => x;",
                    json!(1),
                ))
                .await
                .unwrap();
            assert_eq!(completed(&outcome.outcome), &json!(1));
        }
        println!(
            "{name:>10} one-segment tasks: {:?} per task",
            started.elapsed() / 200
        );
    }
}
