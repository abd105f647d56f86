//! Timing of the sandbox's hot paths (not a test): fresh context, live resume per call, and replay of
//! 100 / 1,000 journaled calls. Run with `cargo run --release -p tasker-sandbox --example sandbox_bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tasker_sandbox::{
    CallResult, DeliveredResult, Delivery, IssuedCall, RunOutcome, Sandbox, SandboxConfig,
    SegmentRequest,
};

const SEQUENTIAL: &str = r#"module.exports = async function ({ n }) {
    let total = 0;
    for (let i = 0; i < n; i++) total += await tools.svc.echo(i);
    return total;
};"#;

fn request(run_id: i64, code: &str, n: u64) -> SegmentRequest {
    SegmentRequest {
        run_id,
        task_name: "bench".into(),
        code: Arc::from(code),
        input: json!({ "n": n }),
        seed: 1,
        start_time_ms: 1_700_000_000_000,
        issued: Vec::new(),
        deliveries: Vec::new(),
    }
}

/// Runs `n` sequential calls live; returns the time per resume and the journal.
async fn live_run(
    sandbox: &Sandbox,
    run_id: i64,
    n: u64,
) -> (Duration, Vec<IssuedCall>, Vec<Delivery>) {
    let mut outcome = sandbox
        .start_or_replay(request(run_id, SEQUENTIAL, n))
        .await
        .expect("start")
        .outcome;
    let (mut issued, mut deliveries) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while let RunOutcome::Suspended { new_calls, .. } = outcome {
        let call = &new_calls[0];
        issued.push(call.to_issued());
        let delivery = Delivery {
            segment_time_ms: 1_700_000_000_000 + call.seq as i64,
            results: vec![DeliveredResult {
                seq: call.seq,
                result: CallResult::Ok(call.args[0].clone()),
            }],
        };
        deliveries.push(delivery.clone());
        outcome = sandbox
            .resume_live(run_id, delivery)
            .await
            .expect("resume")
            .expect("live")
            .outcome;
    }
    assert!(
        matches!(outcome, RunOutcome::Completed { .. }),
        "{outcome:?}"
    );
    (started.elapsed(), issued, deliveries)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sandbox = Sandbox::new(SandboxConfig {
        threads: 1,
        max_live: 100,
        ..SandboxConfig::default()
    })
    .expect("sandbox");

    let tiny = "module.exports = async (input) => input.n + 1;";
    let rounds = 200;
    let started = Instant::now();
    for i in 0..rounds {
        sandbox
            .start_or_replay(request(i, tiny, 1))
            .await
            .expect("tiny");
    }
    println!(
        "fresh context + tiny task (no calls): {:?} per run",
        started.elapsed() / rounds as u32
    );

    for n in [100u64, 1_000] {
        let (elapsed, issued, deliveries) = live_run(&sandbox, 10_000 + n as i64, n).await;
        println!(
            "live resume, {n} sequential calls: {elapsed:?} total, {:?} per call",
            elapsed / n as u32
        );
        let mut replay = request(20_000 + n as i64, SEQUENTIAL, n);
        replay.issued = issued;
        replay.deliveries = deliveries;
        let repeats = if n == 100 { 20 } else { 5 };
        let started = Instant::now();
        for _ in 0..repeats {
            let outcome = sandbox
                .start_or_replay(replay.clone())
                .await
                .expect("replay")
                .outcome;
            assert!(
                matches!(outcome, RunOutcome::Completed { .. }),
                "{outcome:?}"
            );
        }
        let per = started.elapsed() / repeats;
        println!(
            "replay of {n} journaled calls (fresh context): {per:?} per replay, {:?} per call",
            per / n as u32
        );
    }
}
