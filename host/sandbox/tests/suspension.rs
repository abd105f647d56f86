//! Host calls park, suspend and resume: sequential calls, Promise.all batches, try/catch semantics,
//! never-settling promises, the tools proxy and argument conversion errors.

mod common;

use common::{Resume, all, completed, drive, echo_host, failed, one, request, sandbox};
use serde_json::json;
use tasker_sandbox::{CallResult, DeliveredResult, Delivery, Error, FailureKind, RunOutcome};

#[tokio::test]
async fn three_sequential_calls_suspend_three_times_and_complete() {
    let sandbox = sandbox();
    let code = r#"module.exports = async function (input) {
        const a = await __callHostTool__("echo-service", "echo", [input.x]);
        const b = await __callHostTool__("echo-service", ["echo"], [a + 1]);
        const c = await tools["echo-service"].echo(b + 1);
        return [a, b, c];
    };"#;
    let driven = drive(
        &sandbox,
        request(1, code, json!({"x": 1})),
        Resume::Live,
        all,
        echo_host,
    )
    .await;
    assert_eq!(completed(&driven.outcome), &json!([1, 2, 3]));
    assert_eq!(driven.segments, 4);
    let seqs: Vec<u64> = driven.issued.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    assert!(
        driven
            .issued
            .iter()
            .all(|c| c.service == "echo-service" && c.method == "echo")
    );
}

#[tokio::test]
async fn promise_all_of_five_calls_is_reported_in_one_suspension() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => {
        const results = await Promise.all([1, 2, 3, 4, 5].map(n => tools.svc.echo(n * 10)));
        return results;
    };"#;
    let first = sandbox
        .start_or_replay(request(2, code, json!({})))
        .await
        .unwrap();
    let RunOutcome::Suspended {
        new_calls,
        outstanding,
    } = &first.outcome
    else {
        panic!("expected suspension, got {:?}", first.outcome);
    };
    assert_eq!(new_calls.len(), 5);
    assert_eq!(outstanding, &vec![0, 1, 2, 3, 4]);
    assert_eq!(new_calls[3].args, json!([40]));

    // Results arrive out of order in two deliveries; the task resumes only when all are in.
    let deliver = |seqs: &[u64]| Delivery {
        segment_time_ms: common::START_MS + 5,
        results: seqs
            .iter()
            .map(|&seq| DeliveredResult {
                seq,
                result: CallResult::Ok(json!(seq * 100)),
            })
            .collect(),
    };
    let second = sandbox
        .resume_live(2, deliver(&[4, 1]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second.outcome,
        RunOutcome::Suspended {
            new_calls: vec![],
            outstanding: vec![0, 2, 3]
        }
    );
    let third = sandbox
        .resume_live(2, deliver(&[0, 2, 3]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(completed(&third.outcome), &json!([0, 100, 200, 300, 400]));
    assert_eq!(
        sandbox.resume_live(2, deliver(&[0])).await.unwrap(),
        None,
        "a finished run is not live"
    );
}

#[tokio::test]
async fn try_catch_does_not_swallow_suspension_but_catches_a_failed_call() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => {
        let first;
        try { first = await tools.svc.echo("kept"); } catch (e) { return "swallowed: " + e.message; }
        try {
            await tools.keystore.fail("x");
            return "no error";
        } catch (e) {
            return { first, message: e.message, code: e.code, service: e.service, method: e.method, isError: e instanceof Error };
        }
    };"#;
    let driven = drive(
        &sandbox,
        request(3, code, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    assert_eq!(
        completed(&driven.outcome),
        &json!({"first": "kept", "message": "keystore failed", "code": "E_TEST", "service": "keystore",
                "method": "fail", "isError": true})
    );
}

#[tokio::test]
async fn an_uncaught_failed_call_fails_the_run_with_message_and_stack() {
    let sandbox = sandbox();
    let code = "module.exports = async () => { await inner(); };\nasync function inner() { await tools.gapi.fail(); }";
    let driven = drive(
        &sandbox,
        request(4, code, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let failure = failed(&driven.outcome);
    assert_eq!(failure.kind, FailureKind::Threw);
    assert_eq!(failure.message, "Error: gapi failed");
    let thrown = drive(
        &sandbox,
        request(5, "module.exports = async () => { helper(); };\nfunction helper() { throw new TypeError('bad input'); }", json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let failure = failed(&thrown.outcome);
    assert_eq!(failure.message, "TypeError: bad input");
    let stack = failure.stack.clone().unwrap_or_default();
    assert!(
        stack.contains("helper"),
        "stack names the throwing function: {stack}"
    );
}

#[tokio::test]
async fn a_promise_that_can_never_settle_fails_clearly() {
    let sandbox = sandbox();
    let code =
        "module.exports = async () => { await tools.svc.echo(1); await new Promise(() => {}); };";
    let driven = drive(
        &sandbox,
        request(6, code, json!({})),
        Resume::Live,
        all,
        echo_host,
    )
    .await;
    let failure = failed(&driven.outcome);
    assert_eq!(failure.kind, FailureKind::NeverSettles);
    assert!(
        failure
            .message
            .contains("task is waiting on a promise that can never settle")
    );
}

#[tokio::test]
async fn tools_proxy_builds_method_paths_and_argument_arrays() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => {
        await tools.keystore.getKey("name");
        await tools.gapi.admin.users.list({ customer: "c", skip: undefined });
        await __callHostTool__("svc", ["a", "b"], { named: true });
        await __callHostTool__("svc", "noargs");
        return "done";
    };"#;
    let driven = drive(
        &sandbox,
        request(7, code, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    assert_eq!(completed(&driven.outcome), &json!("done"));
    let shapes: Vec<(String, String)> = driven
        .issued
        .iter()
        .map(|c| (c.service.clone(), c.method.clone()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("keystore".into(), "getKey".into()),
            ("gapi".into(), "admin.users.list".into()),
            ("svc".into(), "a.b".into()),
            ("svc".into(), "noargs".into()),
        ]
    );
    assert_eq!(
        driven.issued[1].args_hash,
        tasker_sandbox::args_hash(&json!([{"customer": "c"}]))
    );
    assert_eq!(
        driven.issued[2].args_hash,
        tasker_sandbox::args_hash(&json!({"named": true}))
    );
    assert_eq!(
        driven.issued[3].args_hash,
        tasker_sandbox::args_hash(&json!([]))
    );
}

#[tokio::test]
async fn unserialisable_arguments_throw_a_type_error_at_the_call_site() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => {
        const out = [];
        const cyclic = {}; cyclic.self = cyclic;
        const getter = { get boom() { throw new Error("getter exploded"); } };
        for (const bad of [[cyclic], [10n], { get boom() { throw new Error("getter exploded"); } }, "a string"]) {
            try { await __callHostTool__("svc", "m", bad); out.push("no error"); }
            catch (e) { out.push(e instanceof TypeError ? e.message : "wrong type " + e); }
        }
        try { await __callHostTool__("", "m"); } catch (e) { out.push(e.message); }
        try { await __callHostTool__("svc", [1]); } catch (e) { out.push(e.message); }
        const polluted = JSON.parse('{"__proto__": {"polluted": true}}');
        const echoed = await tools.svc.echo(polluted);
        out.push(({}).polluted === undefined && echoed.__proto__ !== undefined ? "no pollution" : "polluted");
        return out;
    };"#;
    let driven = drive(
        &sandbox,
        request(8, code, json!({})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let out = completed(&driven.outcome).as_array().unwrap().clone();
    let text: Vec<String> = out
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        text[0].contains("args cannot be converted to JSON") && text[0].contains("cyclic"),
        "{}",
        text[0]
    );
    assert!(
        text[1].contains("args cannot be converted to JSON")
            && text[1].to_lowercase().contains("bigint"),
        "{}",
        text[1]
    );
    assert!(text[2].contains("getter exploded"), "{}", text[2]);
    assert!(
        text[3].contains("args must be an array or an object"),
        "{}",
        text[3]
    );
    assert!(text[4].contains("service name"), "{}", text[4]);
    assert!(text[5].contains("method path"), "{}", text[5]);
    assert_eq!(text[6], "no pollution");
    assert_eq!(driven.issued.len(), 1, "only the valid call was issued");
}

#[tokio::test]
async fn a_live_delivery_for_an_unknown_call_is_rejected_without_harm() {
    let sandbox = sandbox();
    let code = "module.exports = async () => await tools.svc.echo(5);";
    sandbox
        .start_or_replay(request(9, code, json!({})))
        .await
        .unwrap();
    let bogus = Delivery {
        segment_time_ms: common::START_MS,
        results: vec![DeliveredResult {
            seq: 3,
            result: CallResult::Ok(json!(1)),
        }],
    };
    let error = sandbox.resume_live(9, bogus).await.unwrap_err();
    assert!(
        matches!(error, Error::UnknownCall { run_id: 9, seq: 3 }),
        "{error}"
    );
    let good = Delivery {
        segment_time_ms: common::START_MS,
        results: vec![DeliveredResult {
            seq: 0,
            result: CallResult::Ok(json!(5)),
        }],
    };
    let outcome = sandbox.resume_live(9, good).await.unwrap().unwrap().outcome;
    assert_eq!(completed(&outcome), &json!(5));
}

#[tokio::test]
async fn replay_only_mode_keeps_nothing_live() {
    let sandbox = common::sandbox_with(tasker_sandbox::SandboxLimits::default(), 0);
    let code = "module.exports = async () => await tools.svc.echo(5);";
    sandbox
        .start_or_replay(request(10, code, json!({})))
        .await
        .unwrap();
    assert_eq!(sandbox.live_count().await, 0);
    let delivery = Delivery {
        segment_time_ms: common::START_MS,
        results: vec![],
    };
    assert_eq!(sandbox.resume_live(10, delivery).await.unwrap(), None);
}

#[tokio::test]
async fn console_lines_are_captured_with_levels() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => {
        console.log("plain", 1, { a: [1, 2] }, null, undefined);
        console.info("info"); console.warn("warn"); console.error(new Error("bad")); console.debug("debug");
        const cyclic = {}; cyclic.self = cyclic; console.log(cyclic, function named() {});
    };"#;
    let outcome = sandbox
        .start_or_replay(request(11, code, json!({})))
        .await
        .unwrap();
    let lines: Vec<(tasker_sandbox::LogLevel, String)> = outcome
        .logs
        .iter()
        .map(|l| (l.level, l.message.clone()))
        .collect();
    use tasker_sandbox::LogLevel::*;
    assert_eq!(
        lines[0],
        (Info, r#"plain 1 {"a":[1,2]} null undefined"#.to_owned())
    );
    assert_eq!(lines[1], (Info, "info".to_owned()));
    assert_eq!(lines[2], (Warn, "warn".to_owned()));
    assert_eq!(lines[3], (Error, "Error: bad".to_owned()));
    assert_eq!(lines[4], (Debug, "debug".to_owned()));
    assert!(
        lines[5].1.starts_with("[unserialisable object:")
            && lines[5].1.ends_with("[Function: named]"),
        "{}",
        lines[5].1
    );
}

/// `tools` is built on first use: it still calls the host's own `__callHostTool__` after the
/// task replaced the global one, stays the same object, and replays to the same result.
#[tokio::test]
async fn tools_built_on_first_use_keep_the_original_host_call() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => {
        globalThis.__callHostTool__ = () => "hijacked";
        const first = tools;
        const a = await tools.svc.echo(1);
        const b = await first.svc.echo(2);
        return [a, b, first === tools, typeof tools, Object.keys(globalThis).includes("tools")];
    };"#;
    for resume in [Resume::Live, Resume::Replay] {
        let driven = drive(
            &sandbox,
            request(1, code, json!({})),
            resume,
            one,
            echo_host,
        )
        .await;
        assert_eq!(
            completed(&driven.outcome),
            &json!([1, 2, true, "object", false]),
            "{resume:?}"
        );
        assert_eq!(driven.issued.len(), 2, "{resume:?}");
    }
}
