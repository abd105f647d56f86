//! The hostile-task corpus against the real binary (SQLite, echo-service): escape attempts,
//! prototype tricks on host-call data, and resource bombs, all submitted at once next to a
//! well-behaved run. Each hostile run fails with a specific error, the well-behaved run completes,
//! and the host keeps serving. Worker mode (the default) also stops memory and CPU bombs; the
//! in-process mode runs the cases its engine limits can stop.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestDatabase, TestHost};

/// (name, code, expected error kind as JSON, needle in the message). `None` kind = any.
type Case = (&'static str, &'static str, Option<Value>, &'static str);

fn escape_cases() -> Vec<Case> {
    vec![
        (
            "require",
            "module.exports = async () => require('fs').readFileSync('/etc/passwd', 'utf8');",
            Some(json!("threw")),
            "require is not defined",
        ),
        (
            "process-env",
            "module.exports = async () => process.env;",
            Some(json!("threw")),
            "process is not defined",
        ),
        (
            "deno",
            "module.exports = async () => Deno.env.toObject();",
            Some(json!("threw")),
            "deno is not defined",
        ),
        (
            "fetch",
            "module.exports = async () => (await fetch('http://127.0.0.1:1/')).text();",
            Some(json!("threw")),
            "fetch is not defined",
        ),
        (
            "xhr",
            "module.exports = async () => new XMLHttpRequest();",
            Some(json!("threw")),
            "xmlhttprequest is not defined",
        ),
        (
            "function-this",
            "module.exports = async () => Function('return this')().process.env;",
            Some(json!("threw")),
            "undefined",
        ),
        (
            "constructor-escape",
            "module.exports = async () => ({}).constructor.constructor('return require')()('fs');",
            Some(json!("threw")),
            "require is not defined",
        ),
        (
            "import",
            "import fs from 'fs';\nexport default async function () { return fs.readFileSync('/etc/passwd'); }",
            Some(json!("invalid_task")),
            "fs",
        ),
        (
            "polluted-tojson",
            "module.exports = async () => { Object.prototype.toJSON = () => 'pwned'; return await __callHostTool__('echo-service', 'echo', { a: 1 }); };",
            Some(json!("threw")),
            "prototype pollution",
        ),
        (
            "cyclic-args",
            "module.exports = async () => { const a = {}; a.a = a; return await __callHostTool__('echo-service', 'echo', a); };",
            Some(json!("threw")),
            "cyclic",
        ),
        (
            "throwing-getter",
            "module.exports = async () => __callHostTool__('echo-service', 'echo', { get x() { throw new Error('getter boom'); } });",
            Some(json!("threw")),
            "getter boom",
        ),
        (
            "bigint-args",
            "module.exports = async () => __callHostTool__('echo-service', 'echo', { n: 10n });",
            Some(json!("threw")),
            "bigint",
        ),
    ]
}

fn engine_bomb_cases() -> Vec<Case> {
    vec![
        (
            "infinite-loop",
            "module.exports = async () => { for (;;) {} };",
            Some(json!({ "limit": "loop_iterations" })),
            "max_loop_iterations",
        ),
        (
            "recursion",
            "module.exports = async () => { const f = (n) => f(n + 1) + 1; return f(0); };",
            None,
            "sandbox limit",
        ),
        (
            "console-flood",
            "module.exports = async () => { for (let i = 0; ; i++) console.log('flood', i); };",
            Some(json!({ "limit": "log_lines" })),
            "console flood",
        ),
    ]
}

fn os_bomb_cases() -> Vec<Case> {
    vec![
        (
            "memory-growth",
            "module.exports = async () => { let s = 'x'; for (let i = 0; i < 20; i++) s = s + s; const a = []; for (;;) a.push(s + a.length); };",
            Some(json!({ "limit": "memory" })),
            "the 192 mb memory limit",
        ),
        (
            "giant-string",
            "module.exports = async () => { let s = 'ab'; for (;;) s = s + s; };",
            Some(json!({ "limit": "memory" })),
            "memory limit",
        ),
        (
            "catastrophic-regex",
            "module.exports = async () => /(a+)+$/.test('a'.repeat(40) + 'b');",
            Some(json!({ "limit": "segment_time" })),
            "segment_cpu_secs (2)",
        ),
    ]
}

const WELL_BEHAVED: &str = r#"module.exports = async () => {
    let sum = 0;
    for (let i = 0; i < 30; i++) sum += (await __callHostTool__("echo-service", "echo", { i })).i;
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "b": 2}');
    const back = await __callHostTool__("echo-service", "echo", parsed);
    return { sum, plain: Object.getPrototypeOf(back) === Object.prototype && ({}).polluted === undefined, b: back.b };
};"#;

fn run(h: &TestHost, name: &str) -> Result<Value> {
    let url = format!("{}/execute?wait=120", h.tasks_url()?);
    h.post_json(&url, &json!({ "task_identifier": name, "input": {} }))?
        .expect_data(200)
        .with_context(|| format!("running {name}"))
}

/// Registers and runs every case plus the well-behaved task concurrently, then checks each.
fn run_corpus(h: &TestHost, cases: &[Case]) -> Result<()> {
    h.register_task("well-behaved", WELL_BEHAVED)?;
    for (name, code, _, _) in cases {
        h.register_task(name, code)?;
    }
    let results: Vec<(String, Result<Value>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = std::iter::once("well-behaved")
            .chain(cases.iter().map(|c| c.0))
            .map(|name| (name, scope.spawn(move || run(h, name))))
            .collect();
        handles
            .into_iter()
            .map(|(name, handle)| {
                let result = handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("runner thread panicked")));
                (name.to_owned(), result)
            })
            .collect()
    });
    for (name, result) in results {
        let data = result?;
        if name == "well-behaved" {
            ensure!(data["status"] == "completed", "well-behaved: {data:#}");
            ensure!(
                data["result"] == json!({ "sum": 435, "plain": true, "b": 2 }),
                "well-behaved: {data:#}"
            );
            continue;
        }
        let (_, _, kind, needle) = cases.iter().find(|c| c.0 == name).context("case")?;
        ensure!(data["status"] == "failed", "{name}: {data:#}");
        if let Some(kind) = kind {
            ensure!(
                &data["error"]["kind"] == kind,
                "{name}: expected kind {kind}, got {data:#}"
            );
        }
        let message = data["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        ensure!(
            message.contains(needle),
            "{name}: expected '{needle}' in {message}"
        );
    }
    // Still serving, and a fresh run completes.
    h.register_task("after", "module.exports = async () => 'still here';")?;
    let data = run(h, "after")?;
    ensure!(data["result"] == json!("still here"), "after: {data:#}");
    Ok(())
}

fn host(db: &TestDatabase, extra: &[&str]) -> Result<TestHost> {
    TestHost::builder()
        .plugins(&["echo_service"])
        .database_url(db.url())
        .args(&["--max-loop-iterations", "1000000"])
        .args(extra)
        .ready_timeout(Duration::from_secs(60))
        .start()
}

#[test]
fn hostile_tasks_in_worker_mode() -> Result<()> {
    let db = TestDatabase::create(Backend::Sqlite)?;
    let h = host(
        &db,
        &[
            "--sandbox",
            "workers",
            "--sandbox-workers",
            "2",
            "--task-memory-mb",
            "192",
            "--segment-cpu-secs",
            "2",
        ],
    )?;
    let mut cases = escape_cases();
    cases.extend(engine_bomb_cases());
    cases.extend(os_bomb_cases());
    run_corpus(&h, &cases)
}

#[test]
fn hostile_tasks_in_process() -> Result<()> {
    let db = TestDatabase::create(Backend::Sqlite)?;
    let h = host(&db, &["--sandbox", "in-process"])?;
    let mut cases = escape_cases();
    cases.extend(engine_bomb_cases());
    run_corpus(&h, &cases)
}
