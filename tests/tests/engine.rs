//! The durable engine end to end, on SQLite and on PostgreSQL: task formats, sequential
//! and concurrent host calls, error handling and retries, nested tasks, logs, schemas,
//! limits, the seed-compatible endpoints, and a host killed mid-run that finishes the run
//! after a restart without re-executing completed calls.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestDatabase, TestHost, on_both_backends};

fn host(db: &TestDatabase, extra: &[&str]) -> Result<TestHost> {
    TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .database_url(db.url())
        .args(extra)
        .start()
}

/// Submits and waits (long-poll) for the end; returns the run view.
fn run(h: &TestHost, name: &str, input: Value) -> Result<Value> {
    let url = format!("{}/execute?wait=60", h.tasks_url()?);
    let reply = h.post_json(&url, &json!({ "task_identifier": name, "input": input }))?;
    let data = reply
        .expect_data(200)
        .with_context(|| format!("running {name}"))?;
    Ok(data)
}

fn completed(h: &TestHost, name: &str, input: Value) -> Result<Value> {
    let data = run(h, name, input)?;
    ensure!(
        data["status"] == "completed",
        "run of {name} did not complete: {data:#}"
    );
    Ok(data["result"].clone())
}

on_both_backends!(
    task_formats_run,
    sequential_calls_return_results,
    promise_all_runs_calls_concurrently,
    try_catch_sees_errors_not_suspension,
    retries_only_retryable_errors,
    nested_task_returns_child_result,
    logs_and_schema_are_served,
    limits_fail_runs_clearly,
    deterministic_values_survive_replay,
    seed_endpoints_work,
    killed_host_finishes_run_after_restart,
    thousand_sequential_calls_complete,
    publish_uploads_a_folder,
    resume_journals_an_external_result,
);

fn resume_journals_an_external_result(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    // A long retry delay parks the failed call as pending, waiting for its next attempt.
    let h = host(&db, &["--retry-base-ms", "120000"])?;
    h.register_task(
        "waits",
        r#"module.exports = async () => ({ got: await __callHostTool__("echo-service", "fail", { code: "TIMEOUT_ERROR", message: "later" }) });"#,
    )?;
    let submitted = h.post_json(
        &format!("{}/execute", h.tasks_url()?),
        &json!({ "task_identifier": "waits" }),
    )?;
    let id = submitted.expect_data(202)?["taskRunId"]
        .as_i64()
        .context("run id")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let call_id = loop {
        let tree = h.run_tree(id)?;
        if tree["calls"][0]["status"] == "pending" {
            break tree["calls"][0]["id"].as_i64().context("call id")?;
        }
        ensure!(
            Instant::now() < deadline,
            "the call never waited for a retry: {tree:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let resumed = h.call("deno-executor", &json!({ "method": "resume", "args": { "stackRunId": call_id, "result": { "manual": true } } }))?;
    ensure!(resumed.expect_data(200)?["status"] == "completed");
    let run = h.get(&format!("{}/status?id={id}", h.tasks_url()?))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut run = run.expect_data(200)?;
    while run["status"] != "completed" {
        ensure!(Instant::now() < deadline, "the run did not finish: {run:#}");
        std::thread::sleep(Duration::from_millis(50));
        run = h
            .get(&format!("{}/status?id={id}", h.tasks_url()?))?
            .expect_data(200)?;
    }
    ensure!(
        run["result"] == json!({ "got": { "manual": true } }),
        "{run:#}"
    );
    // A second result for the same call is refused.
    let again = h.call_method(
        "deno-executor",
        "resume",
        &json!({ "stackRunId": call_id, "result": 1 }),
    )?;
    again.expect_error(409, "CONFLICT_ERROR")?;
    Ok(())
}

fn thousand_sequential_calls_complete(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "thousand",
        r#"module.exports = async function({ n }) {
            let sum = 0;
            for (let i = 0; i < n; i++) { const r = await __callHostTool__("echo-service", "echo", { i }); sum += r.i; }
            return { sum };
        }"#,
    )?;
    let data = run(&h, "thousand", json!({ "n": 1000 }))?;
    ensure!(data["result"] == json!({ "sum": 499_500 }), "{data:#}");
    let status = h
        .get(&format!("{}/status?id={}", h.tasks_url()?, data["id"]))?
        .expect_data(200)?;
    ensure!(status["calls"]["completed"] == 1000, "{status:#}");
    Ok(())
}

fn publish_uploads_a_folder(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("greet.js"),
        "/** Greets */\nmodule.exports = async ({ name }) => `hi ${name}`;",
    )?;
    std::fs::write(dir.path().join("notes.txt"), "not a task")?;
    let output = std::process::Command::new(tasker_e2e::host_binary()?)
        .arg("publish")
        .arg(dir.path())
        .args(["--url", &h.tasks_url()?])
        .output()?;
    ensure!(
        output.status.success(),
        "publish failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        String::from_utf8_lossy(&output.stdout).contains("published greet: Greets"),
        "{output:?}"
    );
    ensure!(completed(&h, "greet", json!({ "name": "bo" }))? == json!("hi bo"));
    Ok(())
}

fn task_formats_run(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    let forms = [
        (
            "cjs",
            "module.exports = async function(input) { return { got: input.x }; }",
        ),
        (
            "cjs-arrow",
            "module.exports = async ({ x = 0 }) => ({ got: x });",
        ),
        (
            "cjs-main",
            "exports.main = async function(input) { return { got: input.x }; };",
        ),
        (
            "cjs-object",
            "module.exports = { run: async (input) => ({ got: input.x }) };",
        ),
        (
            "esm-default",
            "export default async function(input) { return { got: input.x }; }",
        ),
        (
            "esm-main",
            "export async function main(input) { return { got: input.x }; }",
        ),
        (
            "script",
            "async function main(input) { return { got: helper(input.x) }; }\nfunction helper(v) { return v; }",
        ),
    ];
    for (name, code) in forms {
        h.register_task(name, code)?;
        let result = completed(&h, name, json!({ "x": 7 }))?;
        ensure!(result == json!({ "got": 7 }), "{name}: {result}");
    }
    Ok(())
}

fn sequential_calls_return_results(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "three-calls",
        r#"module.exports = async function({ n = 1 }) {
            const a = await __callHostTool__("echo-service", "echo", { v: n });
            // echo returns its arguments as sent: here a positional array.
            const [b] = await __callHostTool__("echo-service", ["echo"], [{ v: a.v + 1 }]);
            const [c] = await tools["echo-service"].echo({ v: b.v + 1 });
            const g = await __callHostTool__("hello-world", "hello", ["task"]);
            return { values: [a.v, b.v, c.v], greeting: g.message };
        }"#,
    )?;
    let data = run(&h, "three-calls", json!({ "n": 5 }))?;
    ensure!(
        data["result"] == json!({ "values": [5, 6, 7], "greeting": "Hello, task!" }),
        "{data:#}"
    );
    let tree = h.run_tree(data["id"].as_i64().context("run id")?)?;
    let calls = tree["calls"].as_array().context("calls")?;
    ensure!(calls.len() == 4, "{tree:#}");
    ensure!(
        calls
            .iter()
            .all(|c| c["status"] == "completed" && c["attempts"] == 1),
        "{tree:#}"
    );
    Ok(())
}

fn promise_all_runs_calls_concurrently(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "fanout",
        r#"module.exports = async function() {
            const calls = [1, 2, 3, 4, 5].map(i => __callHostTool__("echo-service", "sleep", { ms: 400 }));
            const done = await Promise.all(calls);
            return done.map(d => d.slept);
        }"#,
    )?;
    let data = run(&h, "fanout", json!({}))?;
    ensure!(
        data["result"] == json!([400, 400, 400, 400, 400]),
        "{data:#}"
    );
    // Concurrency, read from the journal: every call started before any call ended.
    let tree = h.run_tree(data["id"].as_i64().context("run id")?)?;
    let calls = tree["calls"].as_array().context("calls")?;
    let latest_start = calls
        .iter()
        .filter_map(|c| c["startedAt"].as_str())
        .max()
        .context("starts")?;
    let earliest_end = calls
        .iter()
        .filter_map(|c| c["endedAt"].as_str())
        .min()
        .context("ends")?;
    ensure!(
        latest_start < earliest_end,
        "calls ran one after another: {tree:#}"
    );
    Ok(())
}

fn try_catch_sees_errors_not_suspension(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "catching",
        r#"module.exports = async function() {
            let ok;
            try { ok = await __callHostTool__("echo-service", "echo", { fine: true }); }
            catch (e) { return { swallowed: String(e) }; }
            try {
                await __callHostTool__("echo-service", "fail", { code: "NOT_FOUND_ERROR", message: "no such thing" });
                return { caught: false };
            } catch (e) {
                return { ok, caught: true, message: e.message, code: e.code, service: e.service, method: e.method };
            }
        }"#,
    )?;
    let result = completed(&h, "catching", json!({}))?;
    ensure!(result["ok"] == json!({ "fine": true }), "{result:#}");
    ensure!(
        result["caught"] == true && result["code"] == "NOT_FOUND_ERROR",
        "{result:#}"
    );
    ensure!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no such thing"),
        "{result:#}"
    );
    ensure!(
        result["service"] == "echo-service" && result["method"] == "fail",
        "{result:#}"
    );

    h.register_task(
        "uncaught",
        r#"module.exports = async () => { await __callHostTool__("echo-service", "fail", ["CONFLICT_ERROR", "boom"]); };"#,
    )?;
    let data = run(&h, "uncaught", json!({}))?;
    ensure!(data["status"] == "failed", "{data:#}");
    ensure!(
        data["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("boom"),
        "{data:#}"
    );
    Ok(())
}

fn retries_only_retryable_errors(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "retrying",
        r#"module.exports = async function({ code }) {
            try { await __callHostTool__("echo-service", "fail", { code, message: "x" }); }
            catch (e) { return e.code; }
        }"#,
    )?;
    for (code, attempts) in [
        ("TIMEOUT_ERROR", 3),
        ("RATE_LIMIT_ERROR", 3),
        ("VALIDATION_ERROR", 1),
        ("NOT_FOUND_ERROR", 1),
    ] {
        let data = run(&h, "retrying", json!({ "code": code }))?;
        ensure!(data["result"] == code, "{code}: {data:#}");
        let tree = h.run_tree(data["id"].as_i64().context("run id")?)?;
        ensure!(
            tree["calls"][0]["attempts"] == attempts,
            "{code}: expected {attempts} attempts: {tree:#}"
        );
    }
    Ok(())
}

fn nested_task_returns_child_result(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "child",
        r#"module.exports = async ({ x }) => { const e = await __callHostTool__("echo-service", "echo", { x }); return { doubled: e.x * 2 }; };"#,
    )?;
    h.register_task(
        "parent",
        r#"module.exports = async () => { const r = await __callHostTool__("tasks", "execute", { taskName: "child", input: { x: 21 } }); return { fromChild: r.doubled }; };"#,
    )?;
    let result = completed(&h, "parent", json!({}))?;
    ensure!(result == json!({ "fromChild": 42 }), "{result:#}");
    Ok(())
}

fn logs_and_schema_are_served(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    let code = r#"/**
 * Says hello a few times
 * @param {Object} input
 * @param {string} [input.name="world"] - who
 * @param {number} [input.times=2] - how often
 * @param {Object} [input.options] - options
 * @param {boolean} [input.options.loud=false] - shout
 * @returns {Object} Greeting summary
 */
module.exports = async function({ name = "world", times = 2 }) {
    for (let i = 0; i < times; i++) { console.log("hello", name, i); }
    console.warn("done");
    return { name };
};"#;
    h.register_task("logging", code)?;
    let data = run(&h, "logging", json!({ "name": "ada", "times": 3 }))?;
    let id = data["id"].as_i64().context("run id")?;
    let logs = h
        .get(&format!("{}/logs?task_id={id}", h.tasks_url()?))?
        .expect_data(200)?;
    let lines = logs["logs"].as_array().context("logs")?;
    ensure!(lines.len() == 4, "{logs:#}");
    ensure!(
        lines[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("hello ada 0"),
        "{logs:#}"
    );
    ensure!(lines[3]["level"] == "warn", "{logs:#}");

    let schema = h
        .get(&format!("{}/schema?task=logging", h.tasks_url()?))?
        .expect_data(200)?;
    let props = &schema["input"]["properties"];
    ensure!(
        props["name"]["default"] == "world" && props["times"]["default"] == 2,
        "{schema:#}"
    );
    ensure!(
        props["options"]["properties"]["loud"]["type"] == "boolean",
        "{schema:#}"
    );
    ensure!(
        schema["description"]
            .as_str()
            .unwrap_or_default()
            .contains("Says hello"),
        "{schema:#}"
    );
    let list = h
        .get(&format!("{}/list", h.tasks_url()?))?
        .expect_data(200)?;
    ensure!(list["tasks"][0]["name"] == "logging", "{list:#}");
    let missing = h.post_json(
        &format!("{}/execute", h.tasks_url()?),
        &json!({ "task_identifier": "nope" }),
    )?;
    let err = missing.expect_error(404, "NOT_FOUND_ERROR")?;
    ensure!(
        err["error"].as_str().unwrap_or_default().contains("nope"),
        "{err:#}"
    );
    Ok(())
}

fn limits_fail_runs_clearly(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    // Small limits keep this fast in debug builds; the defaults are far larger.
    let h = host(
        &db,
        &[
            "--max-loop-iterations",
            "200000",
            "--instruction-budget",
            "3000000",
            "--max-calls-per-run",
            "5",
        ],
    )?;
    let cases = [
        (
            "spin",
            "module.exports = async () => { while (true) {} };",
            "loop",
        ),
        (
            "recurse",
            "module.exports = async () => { const f = (n) => f(n + 1) + 1; return f(0); };",
            "recursion",
        ),
        (
            "stuck",
            "module.exports = async () => { await new Promise(() => {}); };",
            "never settle",
        ),
        (
            "no-fs",
            "module.exports = async () => { return require('fs'); };",
            "require",
        ),
        (
            "budget",
            "function f() { let x = 0; for (let j = 0; j < 1000; j++) { x += j; } return x; }\nmodule.exports = async () => { let t = 0; for (let i = 0; i < 150000; i++) { t += f(); } return t; };",
            "instruction",
        ),
        (
            "many-calls",
            "module.exports = async () => { for (let i = 0; i < 10; i++) { await __callHostTool__('echo-service', 'echo', {}); } };",
            "host call limit",
        ),
    ];
    for (name, code, needle) in cases {
        h.register_task(name, code)?;
        let data = run(&h, name, json!({}))?;
        ensure!(data["status"] == "failed", "{name}: {data:#}");
        let message = data["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        ensure!(
            message.contains(needle),
            "{name}: expected '{needle}' in {message}"
        );
    }
    // The host keeps serving after all of that.
    h.register_task("fine", "module.exports = async () => 1;")?;
    ensure!(completed(&h, "fine", json!({}))? == json!(1));
    Ok(())
}

fn deterministic_values_survive_replay(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    // Replay-only: every resume re-runs the task from the top against the journal.
    let h = host(&db, &["--replay-only"])?;
    h.register_task(
        "dice",
        r#"module.exports = async function() {
            const first = { now: Date.now(), rnd: Math.random(), id: crypto.randomUUID(), date: new Date().toISOString() };
            console.log(JSON.stringify(first));
            await __callHostTool__("echo-service", "sleep", { ms: 20 });
            await __callHostTool__("echo-service", "echo", {});
            const later = { now: Date.now(), rnd: Math.random() };
            return { first, later };
        }"#,
    )?;
    let data = run(&h, "dice", json!({}))?;
    ensure!(data["status"] == "completed", "{data:#}");
    let id = data["id"].as_i64().context("run id")?;
    let logs = h
        .get(&format!("{}/logs?task_id={id}", h.tasks_url()?))?
        .expect_data(200)?;
    let logged: Value =
        serde_json::from_str(logs["logs"][0]["message"].as_str().context("log line")?)?;
    // The values the replays computed are the ones the first execution logged.
    ensure!(
        data["result"]["first"] == logged,
        "replay changed values: {logged} vs {}",
        data["result"]["first"]
    );
    ensure!(
        data["result"]["later"]["now"].as_i64() >= logged["now"].as_i64(),
        "{data:#}"
    );
    ensure!(
        logs["logs"].as_array().map(Vec::len) == Some(1),
        "console lines must not repeat on replay: {logs:#}"
    );
    Ok(())
}

fn seed_endpoints_work(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    let reply = h.call(
        "deno-executor",
        &json!({
            "taskCode": "module.exports = async function(input) { const r = await __callHostTool__('echo-service', 'echo', input); return { echoed: r }; }",
            "taskName": "direct",
            "taskInput": { "a": 1 }
        }),
    )?;
    let data = reply.expect_data(200)?;
    ensure!(
        data["status"] == "completed" && data["result"] == json!({ "echoed": { "a": 1 } }),
        "{data:#}"
    );
    let trig = h
        .call(
            "simple-stack-processor",
            &json!({ "trigger": "process-next" }),
        )?
        .expect_data(200)?;
    ensure!(trig["triggered"] == true, "{trig:#}");
    let missing = h.call("deno-executor", &json!({ "taskName": "x" }))?;
    missing.expect_error(400, "VALIDATION_ERROR")?;
    Ok(())
}

fn killed_host_finishes_run_after_restart(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let code = r#"module.exports = async function({ n }) {
        let sum = 0;
        for (let i = 0; i < n; i++) {
            const r = await __callHostTool__("echo-service", "sleep", { ms: 100 });
            sum += r.slept;
        }
        return { sum };
    }"#;
    let first = host(&db, &["--lease-secs", "2"])?;
    first.register_task("slow", code)?;
    let submitted = first.post_json(
        &format!("{}/execute", first.tasks_url()?),
        &json!({ "task_identifier": "slow", "input": { "n": 20 } }),
    )?;
    let id = submitted.expect_data(202)?["taskRunId"]
        .as_i64()
        .context("run id")?;
    // Kill it once a few calls have completed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let done_keys: Vec<String> = loop {
        let tree = first.run_tree(id)?;
        let done: Vec<String> = tree["calls"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter(|c| c["status"] == "completed")
                    .filter_map(|c| c["idempotencyKey"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if done.len() >= 5 {
            break done;
        }
        if Instant::now() > deadline {
            bail!("the run made no progress: {tree:#}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    first.kill()?;

    let second = host(&db, &["--lease-secs", "2"])?;
    let url = format!("{}/status?id={id}", second.tasks_url()?);
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let run = second.get(&url)?.expect_data(200)?;
        if run["status"] == "completed" || run["status"] == "failed" {
            break run;
        }
        if Instant::now() > deadline {
            bail!("the run did not finish after the restart: {run:#}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(run["result"] == json!({ "sum": 2000 }), "{run:#}");
    // Calls completed before the kill were not executed again by the second host.
    let tree = second.run_tree(id)?;
    let calls = tree["calls"].as_array().context("calls")?;
    ensure!(calls.len() == 20, "one journal entry per call: {tree:#}");
    let seen = second
        .call_method("echo-service", "calls", &json!({}))?
        .expect_data(200)?;
    let executed_again: Vec<&Value> = seen["calls"]
        .as_array()
        .context("calls")?
        .iter()
        .filter(|c| {
            c["idempotencyKey"]
                .as_str()
                .is_some_and(|k| done_keys.iter().any(|d| d == k))
        })
        .collect();
    ensure!(
        executed_again.is_empty(),
        "completed calls were executed again: {executed_again:?}"
    );
    Ok(())
}

/// `tasker-host run FILE.js` runs a task in-process against a database and the plugins,
/// streams its console lines and calls to stderr, prints the result and exits 0.
#[test]
fn run_command_streams_and_prints_the_result() -> Result<()> {
    let db = TestDatabase::create(Backend::Sqlite)?;
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins)?;
    let echo = tasker_e2e::plugin_file("echo_service")?;
    std::fs::copy(&echo, plugins.join(echo.file_name().context("file name")?))?;
    let task = dir.path().join("adder.js");
    std::fs::write(
        &task,
        "module.exports = async ({ n }) => { let s = 0; for (let i = 0; i < n; i++) { const r = await __callHostTool__('echo-service', 'echo', { i }); s += r.i; console.log('step', i); } return { s }; };",
    )?;
    let output = std::process::Command::new(tasker_e2e::host_binary()?)
        .arg("run")
        .arg(&task)
        .args(["--input", r#"{"n": 3}"#, "--database-url", db.url()])
        .arg("--plugins")
        .arg(&plugins)
        .current_dir(dir.path())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "run failed: {stderr}");
    let result: Value =
        serde_json::from_slice(&output.stdout).context("stdout is the result JSON")?;
    ensure!(result == json!({ "s": 3 }), "{result}");
    ensure!(
        stderr.contains("step 2") && stderr.contains("echo-service.echo"),
        "{stderr}"
    );

    std::fs::write(
        &task,
        "module.exports = async () => { throw new Error('nope'); };",
    )?;
    let failed = std::process::Command::new(tasker_e2e::host_binary()?)
        .arg("run")
        .arg(&task)
        .args(["--database-url", db.url()])
        .arg("--plugins")
        .arg(&plugins)
        .current_dir(dir.path())
        .output()?;
    ensure!(
        failed.status.code() == Some(1),
        "a failed run exits 1: {failed:?}"
    );
    ensure!(
        String::from_utf8_lossy(&failed.stdout).contains("nope"),
        "{failed:?}"
    );
    Ok(())
}
