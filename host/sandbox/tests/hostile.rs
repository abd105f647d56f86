//! The hostile-task corpus at the sandbox level: escape attempts, host-data tampering through
//! prototypes and odd argument values, and resource bombs. Each must end its run with a specific
//! outcome (a clear error, or exactly the data JSON semantics define) and never take the sandbox
//! down: a well-behaved run completes after every case. Memory and CPU bombs that only the worker
//! mode can stop live in `workers.rs`.

mod common;

use std::sync::{Arc, Mutex};

use common::{Resume, completed, drive, echo_host, failed, one, request, sandbox_with};
use serde_json::{Value, json};
use tasker_sandbox::{
    CallResult, FailureKind, LimitKind, ParkedCall, RunOutcome, Sandbox, SandboxLimits,
};

/// Runs `code` to the end with the echo host; returns the outcome and every call's args as the
/// host saw them.
async fn run(sandbox: &Sandbox, run_id: i64, code: &str) -> (RunOutcome, Vec<Value>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let host = move |call: &ParkedCall| {
        record.lock().unwrap().push(call.args.clone());
        match call.method.as_str() {
            "proto" => CallResult::Ok(json!({"__proto__": {"polluted": true}, "ok": 1})),
            _ => echo_host(call),
        }
    };
    let driven = drive(
        sandbox,
        request(run_id, code, json!({})),
        Resume::Live,
        one,
        host,
    )
    .await;
    let args = seen.lock().unwrap().clone();
    (driven.outcome, args)
}

fn small_limits() -> SandboxLimits {
    SandboxLimits {
        max_loop_iterations: 100_000,
        max_log_lines: 100,
        ..SandboxLimits::default()
    }
}

async fn still_serving(sandbox: &Sandbox) {
    let code = "module.exports = async () => (await tools.svc.echo(20)) + 1;";
    let (outcome, _) = run(sandbox, 999, code).await;
    assert_eq!(completed(&outcome), &json!(21));
}

fn threw(outcome: &RunOutcome, needle: &str) {
    let failure = failed(outcome);
    assert_eq!(failure.kind, FailureKind::Threw, "{failure:?}");
    assert!(
        failure.message.contains(needle),
        "expected '{needle}' in {}",
        failure.message
    );
}

#[tokio::test]
async fn the_global_object_holds_no_host_capabilities() {
    let sandbox = sandbox_with(small_limits(), 10);
    let code = r#"module.exports = async () => {
        const viaFunction = Function("return this")();
        const viaConstructor = (() => {}).constructor.constructor("return this")();
        const viaEval = (0, eval)("this");
        const names = new Set([
            ...Object.getOwnPropertyNames(globalThis),
            ...Object.getOwnPropertyNames(Object.getPrototypeOf(globalThis) || {}),
        ]);
        const forbidden = ["require", "process", "Deno", "Bun", "fetch", "XMLHttpRequest", "WebSocket",
            "setTimeout", "setInterval", "queueMicrotask", "importScripts", "module", "exports",
            "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics", "Temporal", "navigator",
            "location", "open", "Worker", "gc", "print", "load", "readFile", "os", "std"];
        return {
            same: viaFunction === globalThis && viaConstructor === globalThis && viaEval === globalThis,
            present: forbidden.filter((name) => names.has(name) || typeof viaFunction[name] !== "undefined"),
        };
    };"#;
    let (outcome, _) = run(&sandbox, 1, code).await;
    let result = completed(&outcome);
    assert_eq!(result["same"], json!(true));
    // Atomics/SharedArrayBuffer are harmless without threads, but report them if boa adds them.
    let present: Vec<&str> = result["present"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|name| !["SharedArrayBuffer", "Atomics"].contains(name))
        .collect();
    assert!(
        present.is_empty(),
        "host capabilities reachable: {present:?}"
    );
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn files_env_and_network_are_unreachable_with_specific_errors() {
    let sandbox = sandbox_with(small_limits(), 10);
    let cases = [
        (
            "module.exports = async () => require('fs').readFileSync('/etc/passwd', 'utf8');",
            "require is not defined",
        ),
        (
            "module.exports = async () => process.env.HOME;",
            "process is not defined",
        ),
        (
            "module.exports = async () => Deno.readTextFile('/etc/passwd');",
            "Deno is not defined",
        ),
        (
            "module.exports = async () => (await fetch('http://127.0.0.1/')).text();",
            "fetch is not defined",
        ),
        (
            "module.exports = async () => new XMLHttpRequest();",
            "XMLHttpRequest is not defined",
        ),
        (
            "module.exports = async () => new WebSocket('ws://127.0.0.1/');",
            "WebSocket is not defined",
        ),
        (
            "module.exports = async () => setTimeout(() => {}, 1);",
            "setTimeout is not defined",
        ),
    ];
    for (index, (code, needle)) in cases.into_iter().enumerate() {
        let (outcome, _) = run(&sandbox, index as i64 + 1, code).await;
        threw(&outcome, needle);
    }
    // Dynamic import has no module loader behind it.
    let (outcome, _) = run(
        &sandbox,
        20,
        "module.exports = async () => await import('fs');",
    )
    .await;
    let failure = failed(&outcome);
    assert_eq!(failure.kind, FailureKind::Threw, "{failure:?}");
    // A static import fails the task at load time.
    let (outcome, _) = run(
        &sandbox,
        21,
        "import fs from 'fs';\nexport default async function () { return fs.readFileSync('/etc/passwd'); }",
    )
    .await;
    assert_eq!(
        failed(&outcome).kind,
        FailureKind::InvalidTask,
        "{outcome:?}"
    );
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn polluted_to_json_is_refused_for_args_and_results() {
    let sandbox = sandbox_with(small_limits(), 10);
    for (prototype, run_id) in [("Object", 1), ("Array", 2)] {
        let code = format!(
            "module.exports = async () => {{ {prototype}.prototype.toJSON = () => 'pwned'; return await tools.svc.echo({{ a: 1 }}); }};"
        );
        let (outcome, args) = run(&sandbox, run_id, &code).await;
        threw(
            &outcome,
            &format!("{prototype}.prototype.toJSON was defined by the task"),
        );
        assert!(args.is_empty(), "nothing reached the host: {args:?}");
    }
    let code = "module.exports = async () => { Object.prototype.toJSON = function () { return 'pwned'; }; return { a: 1 }; };";
    let (outcome, _) = run(&sandbox, 3, code).await;
    let failure = failed(&outcome);
    assert_eq!(failure.kind, FailureKind::ResultNotJson, "{failure:?}");
    assert!(
        failure.message.contains("prototype pollution"),
        "{}",
        failure.message
    );
    // toJSON on the task's own classes still works.
    let code = "class Money { constructor(c) { this.c = c; } toJSON() { return this.c + ' EUR'; } }\nmodule.exports = async () => tools.svc.echo(new Money(5));";
    let (outcome, args) = run(&sandbox, 4, code).await;
    assert_eq!(completed(&outcome), &json!("5 EUR"));
    assert_eq!(args, vec![json!(["5 EUR"])]);
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn other_pollution_and_a_replaced_json_do_not_change_what_the_host_receives() {
    let sandbox = sandbox_with(small_limits(), 10);
    let code = r#"module.exports = async () => {
        Object.prototype.injected = "yes";
        Object.defineProperty(Object.prototype, "admin", { get() { return true; }, enumerable: true });
        JSON.stringify = () => '"pwned"';
        JSON.parse = () => ({ pwned: true });
        Array.prototype.push = () => { throw new Error("push hijacked"); };
        return await tools.svc.echo({ a: 1, list: [1, 2] });
    };"#;
    let (outcome, args) = run(&sandbox, 1, code).await;
    assert_eq!(args, vec![json!([{ "a": 1, "list": [1, 2] }])]);
    assert_eq!(completed(&outcome), &json!({ "a": 1, "list": [1, 2] }));
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn proto_keys_stay_plain_data_both_ways() {
    let sandbox = sandbox_with(small_limits(), 10);
    let code = r#"module.exports = async () => {
        const parsed = JSON.parse('{"__proto__": {"polluted": true}, "b": 2}');
        await tools.svc.echo({ ["__proto__"]: { x: 1 }, y: 2 }, parsed);
        const r = await tools.svc.proto();
        return {
            prototypeUntouched: Object.getPrototypeOf(r) === Object.prototype,
            globalUntouched: ({}).polluted === undefined,
            ownKey: Object.prototype.hasOwnProperty.call(r, "__proto__"),
            ok: r.ok,
        };
    };"#;
    let (outcome, args) = run(&sandbox, 1, code).await;
    assert_eq!(
        args[0],
        json!([{ "__proto__": { "x": 1 }, "y": 2 }, { "__proto__": { "polluted": true }, "b": 2 }])
    );
    assert_eq!(
        completed(&outcome),
        &json!({ "prototypeUntouched": true, "globalUntouched": true, "ownKey": true, "ok": 1 })
    );
}

#[tokio::test]
async fn unserialisable_args_fail_the_call_with_specific_errors() {
    let sandbox = sandbox_with(small_limits(), 10);
    let cases = [
        (
            "tools.svc.echo({ get x() { throw new Error('getter boom'); } })",
            "getter boom",
        ),
        (
            "(() => { const a = {}; a.self = a; return tools.svc.echo(a); })()",
            "cyclic",
        ),
        ("tools.svc.echo(10n)", "BigInt"),
        (
            "__callHostTool__('svc', 'echo', () => 1)",
            "args must be an array or an object",
        ),
        (
            "__callHostTool__('svc', 'echo', 'text')",
            "args must be an array or an object",
        ),
        (
            "__callHostTool__(Symbol('svc'), 'echo', [])",
            "service name",
        ),
        ("__callHostTool__('svc', {}, [])", "method path"),
        ("tools.svc(1)", "is a service"),
    ];
    for (index, (expression, needle)) in cases.into_iter().enumerate() {
        let code = format!("module.exports = async () => {{ return await {expression}; }};");
        let (outcome, args) = run(&sandbox, index as i64 + 1, &code).await;
        let failure = failed(&outcome);
        assert_eq!(
            failure.kind,
            FailureKind::Threw,
            "{expression}: {failure:?}"
        );
        assert!(
            failure
                .message
                .to_lowercase()
                .contains(&needle.to_lowercase()),
            "{expression}: expected '{needle}' in {}",
            failure.message
        );
        assert!(args.is_empty(), "{expression}: nothing reached the host");
    }
    // The task can catch these errors and carry on.
    let code = "module.exports = async () => { const a = []; a.push(a); try { await tools.svc.echo(a); } catch (e) { return e.name; } };";
    let (outcome, _) = run(&sandbox, 20, code).await;
    assert_eq!(completed(&outcome), &json!("TypeError"));
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn symbols_undefined_and_functions_follow_json_rules() {
    let sandbox = sandbox_with(small_limits(), 10);
    let code = r#"module.exports = async () => tools.svc.echo(
        { s: Symbol("x"), u: undefined, f() {}, kept: 1, nested: [undefined, () => 1, Symbol("y"), NaN, -0] });"#;
    let (outcome, args) = run(&sandbox, 1, code).await;
    let expected = json!({ "kept": 1, "nested": [null, null, null, null, 0] });
    assert_eq!(args, vec![json!([expected.clone()])]);
    assert_eq!(completed(&outcome), &expected);
    // A symbol, undefined or a function as a whole argument becomes null, as in a JSON array.
    let code = "module.exports = async () => { await tools.svc.echo(Symbol('s'), undefined, () => 1); return 'ok'; };";
    let (_, args) = run(&sandbox, 2, code).await;
    assert_eq!(args, vec![json!([null, null, null])]);
}

#[tokio::test]
async fn hostile_results_and_thrown_values_fail_cleanly() {
    let sandbox = sandbox_with(small_limits(), 10);
    let cases: [(&str, FailureKind, &str); 5] = [
        (
            "module.exports = async () => { const a = {}; a.a = a; return a; };",
            FailureKind::ResultNotJson,
            "cyclic",
        ),
        (
            "module.exports = async () => ({ get x() { throw new Error('result getter'); } });",
            FailureKind::ResultNotJson,
            "result getter",
        ),
        (
            "module.exports = async () => 10n;",
            FailureKind::ResultNotJson,
            "BigInt",
        ),
        (
            "module.exports = async () => { throw { get message() { throw new Error('nested'); }, get name() { throw 1; } }; };",
            FailureKind::Threw,
            "Uncaught",
        ),
        (
            "module.exports = async () => { throw Symbol('thrown'); };",
            FailureKind::Threw,
            "Symbol(thrown)",
        ),
    ];
    for (index, (code, kind, needle)) in cases.into_iter().enumerate() {
        let (outcome, _) = run(&sandbox, index as i64 + 1, code).await;
        let failure = failed(&outcome);
        assert_eq!(failure.kind, kind, "{code}: {failure:?}");
        assert!(
            failure
                .message
                .to_lowercase()
                .contains(&needle.to_lowercase()),
            "{code}: expected '{needle}' in {}",
            failure.message
        );
    }
    // A proxy whose traps throw: resolving the handler's promise reads `then`, which throws.
    let code = "const p = new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } });\nmodule.exports = async () => p;";
    let (outcome, _) = run(&sandbox, 10, code).await;
    threw(&outcome, "trap");
    // As an argument, the same proxy fails the call at serialisation.
    let code = "const p = new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } });\nmodule.exports = async () => tools.svc.echo(p);";
    let (outcome, args) = run(&sandbox, 11, code).await;
    threw(&outcome, "args cannot be converted to JSON");
    assert!(args.is_empty());
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn in_process_bombs_hit_engine_limits() {
    let sandbox = sandbox_with(small_limits(), 10);
    let cases = [
        (
            "module.exports = async () => { for (;;) {} };",
            LimitKind::LoopIterations,
        ),
        (
            "module.exports = async () => { const f = (n) => f(n + 1) + 1; return f(0); };",
            LimitKind::RecursionDepth,
        ),
        (
            "module.exports = async () => { for (let i = 0; i < 1000; i++) console.log('flood', i); };",
            LimitKind::LogLines,
        ),
        (
            "module.exports = async () => { const a = []; for (;;) a.push('x'.repeat(1000)); };",
            LimitKind::LoopIterations,
        ),
        (
            "module.exports = async () => 'x'.repeat(1e9);",
            LimitKind::LoopIterations,
        ),
    ];
    for (index, (code, kind)) in cases.into_iter().enumerate() {
        let (outcome, _) = run(&sandbox, index as i64 + 1, code).await;
        let failure = failed(&outcome);
        let acceptable = failure.kind == FailureKind::Limit(kind)
            // Deep recursion exhausts whichever VM bound comes first.
            || (kind == LimitKind::RecursionDepth && failure.kind == FailureKind::Limit(LimitKind::StackSize));
        assert!(acceptable, "{code}: {failure:?}");
        assert!(
            failure.message.contains("sandbox limit"),
            "{}",
            failure.message
        );
    }
    still_serving(&sandbox).await;
}
