//! Every sandbox limit fails the run with its own kind and a message naming the limit.

mod common;

use common::{Resume, drive, echo_host, failed, one, request, sandbox_with};
use serde_json::json;
use tasker_sandbox::{
    CallResult, DeliveredResult, Delivery, FailureKind, LimitKind, RunOutcome, SandboxLimits,
};

async fn fails_with(
    limits: SandboxLimits,
    code: &str,
    kind: LimitKind,
) -> tasker_sandbox::TaskFailure {
    let sandbox = sandbox_with(limits, 10);
    let driven = drive(
        &sandbox,
        request(1, code, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let failure = failed(&driven.outcome).clone();
    assert_eq!(failure.kind, FailureKind::Limit(kind), "{failure:?}");
    assert!(
        failure.message.contains(kind.name()),
        "message names the limit: {}",
        failure.message
    );
    failure
}

#[tokio::test]
async fn recursion_depth() {
    let limits = SandboxLimits {
        max_recursion_depth: 100,
        ..SandboxLimits::default()
    };
    let code = "module.exports = async () => { try { return f(0); } catch (e) { return 'caught'; } }; function f(n) { return f(n + 1) + 1; }";
    fails_with(limits, code, LimitKind::RecursionDepth).await;
}

#[tokio::test]
async fn stack_size() {
    let limits = SandboxLimits {
        max_stack_size: 1_000,
        ..SandboxLimits::default()
    };
    let code = "module.exports = async () => { return f(0); }; function f(n) { const a = [n, n, n, n, n, n, n, n]; return f(n + 1) + a.length; }";
    let sandbox = sandbox_with(limits, 10);
    let outcome = sandbox
        .start_or_replay(request(1, code, json!({})))
        .await
        .unwrap()
        .outcome;
    let failure = failed(&outcome);
    // Deep recursion exhausts whichever of the two VM bounds comes first.
    assert!(
        matches!(
            failure.kind,
            FailureKind::Limit(LimitKind::StackSize | LimitKind::RecursionDepth)
        ),
        "{failure:?}"
    );
}

#[tokio::test]
async fn loop_iterations_cannot_be_caught() {
    let limits = SandboxLimits {
        max_loop_iterations: 10_000,
        ..SandboxLimits::default()
    };
    let code =
        "module.exports = async () => { try { while (true) {} } catch (e) { return 'caught'; } };";
    fails_with(limits, code, LimitKind::LoopIterations).await;
}

#[cfg(feature = "instruction-budget")]
#[tokio::test]
async fn instruction_budget_bounds_the_whole_run_across_segments() {
    let limits = SandboxLimits {
        instruction_budget: Some(2_000_000),
        ..SandboxLimits::default()
    };
    // Each segment spins well below the budget; together they exceed it, live and by replay alike.
    let code = r#"module.exports = async () => {
        for (let round = 0; round < 50; round++) { let x = 0; for (let i = 0; i < 20000; i++) x += i; await tools.svc.echo(x); }
    };"#;
    let failure = fails_with(limits.clone(), code, LimitKind::InstructionBudget).await;
    assert!(failure.message.contains("2000000"), "{}", failure.message);
    let sandbox = sandbox_with(limits, 10);
    let replayed = drive(
        &sandbox,
        request(2, code, json!({})),
        Resume::Replay,
        one,
        echo_host,
    )
    .await;
    assert_eq!(
        failed(&replayed.outcome).kind,
        FailureKind::Limit(LimitKind::InstructionBudget)
    );
    assert_eq!(
        replayed.issued.len(),
        {
            let live = drive(
                &sandbox,
                request(3, code, json!({})),
                Resume::Live,
                one,
                echo_host,
            )
            .await;
            live.issued.len()
        },
        "live and replay stop at the same call"
    );
}

#[tokio::test]
async fn host_calls_per_run_even_when_caught() {
    let limits = SandboxLimits {
        max_host_calls: 5,
        ..SandboxLimits::default()
    };
    let code = "module.exports = async () => { for (let i = 0; i < 10; i++) { try { await tools.svc.echo(i); } catch (e) {} } return 'finished'; };";
    let failure = fails_with(limits, code, LimitKind::HostCalls).await;
    assert!(failure.message.contains("call #5"), "{}", failure.message);
}

#[tokio::test]
async fn bytes_per_call_result_checked_on_delivery() {
    let limits = SandboxLimits {
        max_call_result_bytes: 1_000,
        ..SandboxLimits::default()
    };
    let sandbox = sandbox_with(limits, 10);
    let code = "module.exports = async () => { try { return await tools.svc.big(); } catch (e) { return 'caught'; } };";
    sandbox
        .start_or_replay(request(1, code, json!({})))
        .await
        .unwrap();
    let delivery = Delivery {
        segment_time_ms: common::START_MS,
        results: vec![DeliveredResult {
            seq: 0,
            result: CallResult::Ok(json!("x".repeat(2_000))),
        }],
    };
    let outcome = sandbox
        .resume_live(1, delivery)
        .await
        .unwrap()
        .unwrap()
        .outcome;
    let failure = failed(&outcome);
    assert_eq!(failure.kind, FailureKind::Limit(LimitKind::CallResultBytes));
    assert!(
        failure.message.contains("max_call_result_bytes (1000)")
            && failure.message.contains("2002 bytes"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn journal_bytes_per_run() {
    let limits = SandboxLimits {
        max_journal_bytes: 10_000,
        ..SandboxLimits::default()
    };
    let code = "module.exports = async () => { const s = 'y'.repeat(1000); for (let i = 0; i < 20; i++) await tools.svc.echo(s); };";
    fails_with(limits, code, LimitKind::JournalBytes).await;
}

#[tokio::test]
async fn long_console_lines_are_truncated_with_a_marker() {
    let limits = SandboxLimits {
        max_log_line_bytes: 10,
        ..SandboxLimits::default()
    };
    let sandbox = sandbox_with(limits, 10);
    let code = "module.exports = async () => { console.log('0123456789abc'); console.log('short'); return 'ok'; };";
    let outcome = sandbox
        .start_or_replay(request(1, code, json!({})))
        .await
        .unwrap();
    assert!(matches!(outcome.outcome, RunOutcome::Completed { .. }));
    let lines: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("0123456789") && lines[0].contains("truncated, 13 bytes"),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn console_line_flood_fails_the_run_even_when_caught() {
    let limits = SandboxLimits {
        max_log_lines: 3,
        ..SandboxLimits::default()
    };
    let code = "module.exports = async () => { for (let i = 0; i < 10; i++) { try { console.log(i); } catch (e) {} } return 'ok'; };";
    let failure = fails_with(limits, code, LimitKind::LogLines).await;
    assert!(
        failure.message.contains("console flood"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn console_byte_flood_fails_the_run_after_an_await_too() {
    let limits = SandboxLimits {
        max_log_bytes: 10_000,
        ..SandboxLimits::default()
    };
    let code = "module.exports = async () => { await tools.svc.echo(1); const s = 'z'.repeat(1000); for (let i = 0; i < 100; i++) console.log(s); return 'ok'; };";
    let failure = fails_with(limits, code, LimitKind::LogBytes).await;
    assert!(
        failure.message.contains("max_log_bytes (10000)"),
        "{}",
        failure.message
    );
}

/// boa 0.22 drops engine errors raised in an `await` continuation (its await closure ignores the
/// resumption's completion). The run still fails, and the message points at the limits.
#[tokio::test]
async fn loop_limit_after_an_await_still_fails_the_run() {
    let limits = SandboxLimits {
        max_loop_iterations: 10_000,
        ..SandboxLimits::default()
    };
    let sandbox = sandbox_with(limits, 10);
    let code = "module.exports = async () => { await tools.svc.echo(1); while (true) {} };";
    let driven = drive(
        &sandbox,
        request(1, code, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let failure = failed(&driven.outcome);
    assert!(
        failure.kind == FailureKind::Limit(LimitKind::LoopIterations)
            || (failure.kind == FailureKind::NeverSettles
                && failure.message.contains("loop limit")),
        "{failure:?}"
    );
}
