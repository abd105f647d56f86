//! Deterministic replay: identical results (Date, Math.random, randomUUID included), divergence
//! detection, and live resume vs replay equivalence on randomised result sequences.

mod common;

use common::{Resume, completed, drive, echo_host, failed, one, request, sandbox};
use serde_json::json;
use tasker_sandbox::{CallResult, FailureKind, HostCallError, ParkedCall, RunOutcome};

const NONDETERMINISTIC: &str = r#"module.exports = async function () {
    const seen = [];
    for (let i = 0; i < 4; i++) {
        seen.push({ now: Date.now(), iso: new Date().toISOString(), hour: new Date().getHours(),
                    random: Math.random(), uuid: crypto.randomUUID() });
        await tools.svc.echo(i);
    }
    seen.push({ now: Date.now(), random: Math.random() });
    return seen;
};"#;

#[tokio::test]
async fn replay_sees_the_same_dates_randoms_and_uuids_as_live_execution() {
    let sandbox = sandbox();
    let live = drive(
        &sandbox,
        request(1, NONDETERMINISTIC, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let replayed = drive(
        &sandbox,
        request(2, NONDETERMINISTIC, json!({})),
        Resume::Replay,
        one,
        echo_host,
    )
    .await;
    let result = completed(&live.outcome);
    assert_eq!(completed(&replayed.outcome), result);
    let entries = result.as_array().unwrap();
    assert_eq!(
        entries[0]["now"],
        json!(common::START_MS),
        "first segment runs at the start time"
    );
    assert_eq!(
        entries[1]["now"],
        json!(common::START_MS + 1_000),
        "later segments at their delivery time"
    );
    assert_eq!(entries[0]["iso"], json!("2023-11-14T22:13:20.000Z"));
    assert_eq!(entries[0]["hour"], json!(22), "local time zone is UTC");
    assert_ne!(entries[0]["random"], entries[1]["random"]);
    assert_eq!(entries[0]["uuid"].as_str().unwrap().len(), 36);

    // A run with another seed sees other values.
    let mut other = request(3, NONDETERMINISTIC, json!({}));
    other.seed = 8;
    let other = drive(&sandbox, other, Resume::Live, one, echo_host).await;
    assert_ne!(completed(&other.outcome)[0]["random"], entries[0]["random"]);
}

#[tokio::test]
async fn replay_after_the_last_delivery_reports_only_new_calls() {
    let sandbox = sandbox();
    let code = "module.exports = async () => { const a = await tools.svc.echo(1); const [b, c] = await Promise.all([tools.svc.echo(a + 1), tools.svc.echo(a + 2)]); return b + c; };";
    let first = sandbox
        .start_or_replay(request(4, code, json!({})))
        .await
        .unwrap();
    let RunOutcome::Suspended { new_calls, .. } = first.outcome else {
        panic!()
    };
    let mut replay = request(4, code, json!({}));
    replay.issued = new_calls.iter().map(ParkedCall::to_issued).collect();
    replay.deliveries = vec![tasker_sandbox::Delivery {
        segment_time_ms: common::START_MS + 10,
        results: vec![tasker_sandbox::DeliveredResult {
            seq: 0,
            result: CallResult::Ok(json!(1)),
        }],
    }];
    sandbox.evict(4);
    let replayed = sandbox.start_or_replay(replay).await.unwrap();
    let RunOutcome::Suspended {
        new_calls,
        outstanding,
    } = replayed.outcome
    else {
        panic!("{:?}", replayed.outcome)
    };
    assert_eq!(
        new_calls.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(new_calls[1].args, json!([3]));
    assert_eq!(outstanding, vec![1, 2]);
}

#[tokio::test]
async fn a_diverging_replay_fails_naming_the_call_and_both_sides() {
    let sandbox = sandbox();
    let original = "module.exports = async () => { await tools.svc.echo(1); await tools.keystore.getKey('a'); return 1; };";
    let live = drive(
        &sandbox,
        request(5, original, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    assert_eq!(completed(&live.outcome), &json!(1));

    let changed = "module.exports = async () => { await tools.svc.echo(1); await tools.keystore.getKey('b'); return 1; };";
    let mut replay = request(6, changed, json!({}));
    replay.issued = live.issued.clone();
    replay.deliveries = live.deliveries.clone();
    let outcome = sandbox.start_or_replay(replay).await.unwrap().outcome;
    let failure = failed(&outcome);
    assert_eq!(failure.kind, FailureKind::Divergence);
    assert!(failure.message.contains("call #1"), "{}", failure.message);
    assert!(
        failure
            .message
            .contains("the code called keystore.getKey with args hash"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains(&format!(
        "the journal holds keystore.getKey with args hash {}",
        live.issued[1].args_hash
    )));

    let other_method = "module.exports = async () => { await tools.svc.echo(1); try { await tools.gapi.list('a'); } catch (e) {} return 1; };";
    let mut replay = request(7, other_method, json!({}));
    replay.issued = live.issued.clone();
    replay.deliveries = live.deliveries.clone();
    let failure = failed(&sandbox.start_or_replay(replay).await.unwrap().outcome).clone();
    assert_eq!(
        failure.kind,
        FailureKind::Divergence,
        "a try/catch cannot hide divergence"
    );
    assert!(
        failure.message.contains("gapi.list") && failure.message.contains("keystore.getKey"),
        "{}",
        failure.message
    );

    let fewer = "module.exports = async () => { await tools.svc.echo(1); return 1; };";
    let mut replay = request(8, fewer, json!({}));
    replay.issued = live.issued.clone();
    replay.deliveries = live.deliveries[..1].to_vec();
    let failure = failed(&sandbox.start_or_replay(replay).await.unwrap().outcome).clone();
    assert_eq!(failure.kind, FailureKind::Divergence, "{failure:?}");
}

/// Small seeded generator so the property test is reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const BRANCHY: &str = r#"module.exports = async function ({ rounds }) {
    const log = [];
    for (let i = 0; i < rounds; i++) {
        const width = 1 + Math.floor(Math.random() * 3);
        const calls = [];
        for (let j = 0; j < width; j++) calls.push(tools.svc.compute({ i, j, t: Date.now() }));
        const settled = await Promise.allSettled(calls);
        for (const s of settled) {
            if (s.status === "fulfilled") log.push(s.value.n);
            else log.push("E:" + s.reason.code);
        }
        if (log.length % 4 === 0) {
            try { log.push(await tools.svc.compute({ extra: i })); } catch (e) { log.push("caught " + e.message); }
        }
        console.log("round", i, Date.now());
    }
    return { log, uuid: crypto.randomUUID() };
};"#;

#[tokio::test]
async fn live_resume_and_replay_agree_on_random_result_sequences() {
    let sandbox = sandbox();
    for case in 0..12u64 {
        let mut results = Lcg(case * 7919 + 1);
        let mut batches = Lcg(case + 17);
        let host_for = |seed: u64| {
            let mut generator = Lcg(seed);
            move |call: &ParkedCall| {
                if generator.next().is_multiple_of(5) {
                    CallResult::Err(HostCallError {
                        code: format!("E{}", call.seq),
                        message: "random failure".into(),
                        service: call.service.clone(),
                        method: call.method.clone(),
                    })
                } else {
                    CallResult::Ok(json!({"n": generator.next() % 1000, "seq": call.seq}))
                }
            }
        };
        let seed = results.next();
        let batch_seed = batches.next();
        let mut batch_live = Lcg(batch_seed);
        let mut batch_replay = Lcg(batch_seed);
        let input = json!({"rounds": 3 + case % 4});
        let live = drive(
            &sandbox,
            request(100 + case as i64, BRANCHY, input.clone()),
            Resume::Live,
            |n| 1 + (batch_live.next() as usize % n),
            host_for(seed),
        )
        .await;
        let replayed = drive(
            &sandbox,
            request(200 + case as i64, BRANCHY, input),
            Resume::Replay,
            |n| 1 + (batch_replay.next() as usize % n),
            host_for(seed),
        )
        .await;
        assert!(
            matches!(live.outcome, RunOutcome::Completed { .. }),
            "case {case}: {:?}",
            live.outcome
        );
        assert_eq!(live.outcome, replayed.outcome, "case {case}");
        assert_eq!(live.issued, replayed.issued, "case {case}");
        assert_eq!(live.deliveries, replayed.deliveries, "case {case}");
        let messages =
            |d: &common::Driven| d.logs.iter().map(|l| l.message.clone()).collect::<Vec<_>>();
        assert_eq!(messages(&live), messages(&replayed), "case {case}");
        // And one full replay from the final journal reproduces the result in a single step.
        let mut full = request(300 + case as i64, BRANCHY, json!({"rounds": 3 + case % 4}));
        full.issued = live.issued.clone();
        full.deliveries = live.deliveries.clone();
        let once = sandbox.start_or_replay(full).await.unwrap();
        assert_eq!(once.outcome, live.outcome, "case {case}");
    }
}
