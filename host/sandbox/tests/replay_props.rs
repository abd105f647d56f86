//! Property test for journal replay: random task programs (sequential calls, `Promise.all`,
//! `allSettled`, `race`, `try/catch`, branches on earlier results, clock reads, throws)
//! against random host results and failures, delivered in random batches. Every segment of
//! the live run (`resume_live` step by step) must match a replay of the journal as it stood
//! then (`start_or_replay` with the deliveries so far): same outcome, same new calls, same
//! console lines. Tests only; `PROPTEST_CASES` raises the case count for longer runs.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use proptest::prelude::*;
use serde_json::{Value, json};
use tasker_sandbox::{
    CallResult, DeliveredResult, Delivery, HostCallError, IssuedCall, LogLevel, ParkedCall,
    RunOutcome, Sandbox, SandboxLimits, SegmentOutcome, SegmentRequest,
};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One statement of a generated task.
#[derive(Debug, Clone)]
enum Stmt {
    /// `acc.push(await call())`.
    Await,
    /// `acc.push(await Promise.all([...n calls]))`.
    All(usize),
    /// `Promise.allSettled` over n calls, failures recorded by code.
    AllSettled(usize),
    /// `Promise.race` over n calls.
    Race(usize),
    /// A call started now and awaited at the end of the task.
    Later,
    /// `try { body } catch (e) { record e }`.
    Try(Vec<Stmt>),
    /// Branches on what the task has seen so far.
    If(Vec<Stmt>, Vec<Stmt>),
    /// `acc.push(Date.now(), Math.random())`.
    Clock,
    /// `console.log` of the state.
    Log,
    /// Throws when the state matches (sometimes fails the run).
    MaybeThrow,
}

fn statements() -> impl Strategy<Value = Vec<Stmt>> {
    let leaf = prop_oneof![
        4 => Just(Stmt::Await),
        2 => (1usize..4).prop_map(Stmt::All),
        1 => (1usize..4).prop_map(Stmt::AllSettled),
        1 => (1usize..3).prop_map(Stmt::Race),
        1 => Just(Stmt::Later),
        1 => Just(Stmt::Clock),
        1 => Just(Stmt::Log),
        1 => Just(Stmt::MaybeThrow),
    ];
    let stmt = leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Stmt::Try),
            (
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(a, b)| Stmt::If(a, b)),
        ]
    });
    prop::collection::vec(stmt, 0..7)
}

fn render(stmts: &[Stmt], out: &mut String) {
    for stmt in stmts {
        match stmt {
            Stmt::Await => out.push_str("acc.push(await call());\n"),
            Stmt::All(n) => out.push_str(&format!(
                "acc.push(await Promise.all([{}]));\n",
                vec!["call()"; *n].join(", ")
            )),
            Stmt::AllSettled(n) => out.push_str(&format!(
                "acc.push((await Promise.allSettled([{}])).map((s) => s.status === 'fulfilled' ? s.value : 'E:' + s.reason.code));\n",
                vec!["call()"; *n].join(", ")
            )),
            Stmt::Race(n) => out.push_str(&format!(
                "acc.push(await Promise.race([{}]));\n",
                vec!["call()"; *n].join(", ")
            )),
            Stmt::Later => out.push_str("later.push(call());\n"),
            Stmt::Try(body) => {
                out.push_str("try {\n");
                render(body, out);
                out.push_str(
                    "} catch (e) { acc.push('caught ' + e.code + ' ' + e.service + '.' + e.method + ' ' + e.message); }\n",
                );
            }
            Stmt::If(a, b) => {
                out.push_str("if (JSON.stringify(acc).length % 2 === 0) {\n");
                render(a, out);
                out.push_str("} else {\n");
                render(b, out);
                out.push_str("}\n");
            }
            Stmt::Clock => out.push_str("acc.push(Date.now(), Math.random());\n"),
            Stmt::Log => out.push_str("console.log('state', JSON.stringify(acc));\n"),
            Stmt::MaybeThrow => out.push_str(
                "if (JSON.stringify(acc).length % 5 === 0) throw new Error('stop at ' + acc.length);\n",
            ),
        }
    }
}

fn task_code(stmts: &[Stmt]) -> String {
    let mut body = String::new();
    render(stmts, &mut body);
    format!(
        "module.exports = async function (input) {{\n\
         const acc = [];\n\
         const later = [];\n\
         let n = 0;\n\
         const call = () => tools.svc.op({{ n: n++, seen: acc.length }});\n\
         {body}\
         try {{ acc.push(await Promise.all(later)); }} catch (e) {{ acc.push('later ' + e.code); }}\n\
         return {{ acc, input }};\n\
         }};\n"
    )
}

/// The host: a call fails when its flag says so, else returns a value derived from it.
#[derive(Debug, Clone)]
struct Host {
    failures: Vec<bool>,
    batches: Vec<usize>,
}

impl Host {
    fn result(&self, call: &ParkedCall) -> CallResult {
        let fails = self.failures[call.seq as usize % self.failures.len()];
        if fails {
            CallResult::Err(HostCallError {
                code: format!("E{}", call.seq % 3),
                message: format!("call {} failed", call.seq),
                service: call.service.clone(),
                method: call.method.clone(),
            })
        } else {
            CallResult::Ok(json!({ "seq": call.seq, "args": call.args }))
        }
    }

    fn batch(&self, delivery: usize, waiting: usize) -> usize {
        self.batches[delivery % self.batches.len()].clamp(1, waiting)
    }
}

fn host() -> impl Strategy<Value = Host> {
    (
        prop::collection::vec(prop::bool::weighted(0.25), 1..8),
        prop::collection::vec(1usize..4, 1..5),
    )
        .prop_map(|(failures, batches)| Host { failures, batches })
}

/// A segment's result without wall-clock log times.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    outcome: RunOutcome,
    logs: Vec<(LogLevel, String)>,
}

fn seen(segment: SegmentOutcome) -> Seen {
    Seen {
        outcome: segment.outcome,
        logs: segment
            .logs
            .into_iter()
            .map(|l| (l.level, l.message))
            .collect(),
    }
}

const START_MS: i64 = 1_700_000_000_000;
static NEXT_RUN: AtomicI64 = AtomicI64::new(1);

/// The journal as it stood before each segment, and what each segment produced.
struct LiveRun {
    segments: Vec<Seen>,
    journals: Vec<(Vec<IssuedCall>, Vec<Delivery>)>,
}

async fn run_live(sandbox: &Sandbox, request: &SegmentRequest, host: &Host) -> LiveRun {
    let mut issued: Vec<IssuedCall> = Vec::new();
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut waiting: VecDeque<ParkedCall> = VecDeque::new();
    let mut segments = Vec::new();
    let mut journals = vec![(Vec::new(), Vec::new())];
    let mut segment = sandbox
        .start_or_replay(request.clone())
        .await
        .expect("first segment runs");
    loop {
        let RunOutcome::Suspended { new_calls, .. } = &segment.outcome else {
            segments.push(seen(segment));
            sandbox.forget(request.run_id);
            return LiveRun { segments, journals };
        };
        for call in new_calls {
            issued.push(call.to_issued());
            waiting.push_back(call.clone());
        }
        let take = host.batch(deliveries.len(), waiting.len());
        let results = waiting
            .drain(..take)
            .map(|call| DeliveredResult {
                seq: call.seq,
                result: host.result(&call),
            })
            .collect();
        let delivery = Delivery {
            segment_time_ms: START_MS + 1_000 * (deliveries.len() as i64 + 1),
            results,
        };
        deliveries.push(delivery.clone());
        journals.push((issued.clone(), deliveries.clone()));
        segments.push(seen(segment));
        assert!(deliveries.len() < 200, "run does not end");
        segment = sandbox
            .resume_live(request.run_id, delivery)
            .await
            .expect("live resume")
            .expect("run is still live");
    }
}

#[test]
fn live_and_replayed_segments_agree() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let live_sandbox = common::sandbox_with(SandboxLimits::default(), 100);
    let replay_sandbox = common::sandbox_with(SandboxLimits::default(), 0);
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(
            &(statements(), host(), any::<u64>()),
            |(stmts, host, seed)| {
                let code: Arc<str> = Arc::from(task_code(&stmts));
                let request = SegmentRequest {
                    run_id: NEXT_RUN.fetch_add(1, Ordering::Relaxed),
                    task_name: "generated".into(),
                    code: code.clone(),
                    input: json!({ "seed": seed % 100 }),
                    seed,
                    start_time_ms: START_MS,
                    issued: Vec::new(),
                    deliveries: Vec::new(),
                };
                let live = runtime.block_on(run_live(&live_sandbox, &request, &host));
                if let Some(Seen {
                    outcome: RunOutcome::Failed(f),
                    ..
                }) = live.segments.last()
                {
                    prop_assert!(
                        f.message.contains("stop at") || f.message.contains("failed"),
                        "unexpected failure {:?} of\n{}",
                        f,
                        code
                    );
                }
                for (i, (issued, deliveries)) in live.journals.iter().enumerate() {
                    let mut replay = request.clone();
                    replay.run_id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
                    replay.issued = issued.clone();
                    replay.deliveries = deliveries.clone();
                    let replayed = runtime
                        .block_on(replay_sandbox.start_or_replay(replay))
                        .expect("replay runs");
                    prop_assert_eq!(
                        &seen(replayed),
                        &live.segments[i],
                        "segment {} differs between live and replay for\n{}",
                        i,
                        code
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

/// The generated code is what the property runs: check one rendering by eye-friendly assert.
#[test]
fn generated_code_compiles_and_completes_without_calls() {
    let code = task_code(&[Stmt::Clock, Stmt::Log]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = common::sandbox();
    let outcome = runtime
        .block_on(sandbox.start_or_replay(common::request(1, &code, json!({}))))
        .expect("runs");
    let RunOutcome::Completed { result } = outcome.outcome else {
        panic!("expected completion, got {:?}", outcome.outcome);
    };
    assert_eq!(result["acc"][0], json!(START_MS));
    assert_eq!(result["acc"].as_array().map(Vec::len), Some(3));
    let _: Value = result;
}
