//! Plugin containment and isolation with the real binary and the deliberately misbehaving
//! `crashing-plugin` fixture. In-process: invalid JSON and oversized results fail with
//! errors naming the plugin, method and numbers; a blocked call times out while other
//! calls still work, and stuck calls are bounded; `max_concurrency` is honoured.
//! With `--isolate-plugins`: segfault, abort and exit kill only the plugin's worker, which
//! is restarted (the next call works, other plugins are unaffected), repeated crashes show
//! in `/health`, a stuck worker is restarted, and a task whose call hits a crash gets a
//! clear error, or succeeds on the engine's retry after the restart.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Result, TestHost};

/// The fixture's manifest `max_concurrency`.
const FIXTURE_MAX_CONCURRENCY: u64 = 4;
/// How long conditions (a restart, a health change) are polled for.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

fn start(extra: &[&str]) -> Result<TestHost> {
    TestHost::builder()
        .plugins(&["crashing_plugin", "echo_service", "hello_world"])
        .args(extra)
        .start()
}

fn crashing(h: &TestHost, method: &str, args: Value) -> Result<tasker_e2e::Reply> {
    h.call_method("crashing-plugin", method, &args)
}

fn worker_pid(h: &TestHost) -> Result<u64> {
    crashing(h, "pid", json!({}))?.expect_data(200)?["pid"]
        .as_u64()
        .context("pid")
}

/// The gateway's `/health` body (any status) and the crashing plugin's part of it.
fn health(h: &TestHost) -> Result<(u16, Value)> {
    let reply = h.get(&format!("{}/health", h.gateway_url()))?;
    let body = reply.json()?;
    Ok((
        reply.status,
        body["data"]["services"]["crashing-plugin"].clone(),
    ))
}

fn poll<T>(what: &str, mut probe: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + POLL_TIMEOUT;
    loop {
        if let Some(found) = probe()? {
            return Ok(found);
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn others_still_answer(h: &TestHost) -> Result {
    let echoed = h
        .call_method("echo-service", "echo", &json!({ "still": "here" }))?
        .expect_data(200)?;
    ensure!(
        echoed == json!({ "still": "here" }),
        "echo-service: {echoed}"
    );
    let hello = h
        .call_method("hello-world", "hello", &json!({ "name": "survivor" }))?
        .expect_data(200)?;
    ensure!(hello == json!({ "message": "Hello, survivor!" }), "{hello}");
    Ok(())
}

#[test]
fn invalid_json_and_oversized_results_fail_with_specific_errors() -> Result {
    let h = start(&["--max-result-bytes", "1048576"])?;
    ensure!(
        worker_pid(&h)? == u64::from(h.pid().context("host pid")?),
        "without --isolate-plugins the plugin runs inside the host"
    );
    let body = crashing(&h, "invalidJson", json!({}))?.expect_error(500, "INTERNAL_ERROR")?;
    let message = body["error"].as_str().unwrap_or_default();
    ensure!(
        message.contains("plugin 'crashing-plugin' returned invalid JSON from 'invalidJson'"),
        "{message}"
    );
    let body = crashing(&h, "huge", json!({ "mb": 2 }))?.expect_error(500, "INTERNAL_ERROR")?;
    let message = body["error"].as_str().unwrap_or_default();
    ensure!(
        message.contains("2097154-byte result from 'huge'")
            && message.contains("limit of 1048576 bytes"),
        "{message}"
    );
    ensure!(
        body["details"] == json!({ "size": 2097154, "limit": 1048576 }),
        "{body}"
    );
    // Under the limit the same method answers.
    let small = crashing(&h, "huge", json!({ "mb": 0 }))?.expect_data(200)?;
    ensure!(small == json!(""), "{small}");
    others_still_answer(&h)
}

#[test]
fn a_blocked_call_times_out_and_stuck_calls_are_bounded() -> Result {
    let h = start(&["--call-timeout-secs", "1", "--max-stuck-calls", "2"])?;
    let body = crashing(&h, "block", json!({}))?.expect_error(504, "TIMEOUT_ERROR")?;
    let message = body["error"].as_str().unwrap_or_default();
    ensure!(
        message.contains("did not answer 'block' within 1 s"),
        "{message}"
    );
    // The plugin still serves other calls while one thread is stuck inside it...
    let echoed = crashing(&h, "echo", json!({ "n": 1 }))?.expect_data(200)?;
    ensure!(echoed == json!({ "n": 1 }), "{echoed}");
    // ...but reports the stuck call.
    let (status, report) = health(&h)?;
    ensure!(status == 503, "gateway /health with a stuck call: {status}");
    ensure!(
        report["status"] == "unhealthy" && report["stuckCalls"] == 1,
        "{report}"
    );
    // At the limit of stuck calls the plugin refuses new calls instead of piling up threads.
    crashing(&h, "block", json!({}))?.expect_error(504, "TIMEOUT_ERROR")?;
    let body = crashing(&h, "echo", json!({}))?.expect_error(503, "CONFIGURATION_ERROR")?;
    let message = body["error"].as_str().unwrap_or_default();
    ensure!(
        message.contains("2 call(s) are stuck inside it past their timeout (limit 2)"),
        "{message}"
    );
    let (_, report) = health(&h)?;
    ensure!(report["acceptingCalls"] == false, "{report}");
    others_still_answer(&h)?;
    // Threads stuck in a plugin do not keep the host from exiting.
    let status = h.stop()?;
    ensure!(status.success(), "exit status with stuck calls: {status}");
    Ok(())
}

/// Fires `callers` concurrent `counter` calls; returns the most calls seen inside at once.
fn most_inside_at_once(h: &TestHost, callers: usize) -> Result<u64> {
    let url = format!("{}/counter", h.service_url("crashing-plugin")?);
    let barrier = std::sync::Barrier::new(callers);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..callers)
            .map(|_| {
                let (url, barrier) = (&url, &barrier);
                scope.spawn(move || -> Result<u64> {
                    barrier.wait();
                    let reply = tasker_e2e::Reply::send(
                        tasker_e2e::client()?.post(url).json(&json!({ "ms": 200 })),
                    )?;
                    reply.expect_data(200)?["inside"].as_u64().context("inside")
                })
            })
            .collect();
        let mut most = 0;
        for worker in workers {
            let inside = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a caller thread panicked"))??;
            most = most.max(inside);
        }
        Ok(most)
    })
}

fn max_concurrency_is_honoured(extra: &[&str]) -> Result {
    let h = start(extra)?;
    let mut overlapped = false;
    for _ in 0..3 {
        let most = most_inside_at_once(&h, 12)?;
        ensure!(
            most <= FIXTURE_MAX_CONCURRENCY,
            "{most} calls were inside the plugin at once; its manifest allows {FIXTURE_MAX_CONCURRENCY}"
        );
        overlapped |= most >= 2;
        if overlapped {
            break;
        }
    }
    // Guards against a vacuous pass: the calls really ran side by side.
    ensure!(
        overlapped,
        "12 concurrent callers never overlapped inside the plugin"
    );
    Ok(())
}

#[test]
fn max_concurrency_is_honoured_in_process() -> Result {
    max_concurrency_is_honoured(&[])
}

#[test]
fn max_concurrency_is_honoured_isolated() -> Result {
    max_concurrency_is_honoured(&["--isolate-plugins"])
}

#[test]
fn isolated_crashes_do_not_take_the_host_down() -> Result {
    let h = start(&["--isolate-plugins"])?;
    let host_pid = u64::from(h.pid().context("host pid")?);
    let mut pids = HashSet::from([worker_pid(&h)?]);
    ensure!(
        !pids.contains(&host_pid),
        "the plugin runs in its own process"
    );
    for (method, args, expected) in [
        (
            "segfault",
            json!({}),
            "crashed (signal 11: SIGSEGV); restarting",
        ),
        (
            "abort",
            json!({}),
            "crashed (signal 6: SIGABRT); restarting",
        ),
        (
            "exit",
            json!({ "code": 7 }),
            "exited unexpectedly (exit code 7); restarting",
        ),
    ] {
        let body = crashing(&h, method, args)?.expect_error(500, "INTERNAL_ERROR")?;
        let message = body["error"].as_str().unwrap_or_default();
        ensure!(
            message.starts_with("plugin 'crashing-plugin' ") && message.ends_with(expected),
            "{method}: {message}"
        );
        // The next call waits for the restarted worker and answers from a new process.
        let pid = worker_pid(&h)?;
        ensure!(
            pids.insert(pid),
            "{method}: the worker was not restarted (pid {pid})"
        );
        others_still_answer(&h)?;
    }
    let (_, report) = health(&h)?;
    ensure!(report["isolation"]["restarts"] == 3, "{report}");
    ensure!(
        report["isolation"]["lastCrash"]
            .as_str()
            .is_some_and(|c| c.contains("exit code 7")),
        "{report}"
    );
    let status = h.stop()?;
    ensure!(status.success(), "exit status: {status}");
    Ok(())
}

/// Whether process `pid` has exited (gone, or a zombie nobody reaped yet).
fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[test]
fn workers_exit_when_the_host_is_killed() -> Result {
    let h = start(&["--isolate-plugins"])?;
    let worker = worker_pid(&h)?;
    ensure!(!process_gone(worker), "the worker runs");
    // A call blocked inside the worker must not keep it alive either.
    let url = format!("{}/block", h.service_url("crashing-plugin")?);
    std::thread::spawn(move || {
        let _ = tasker_e2e::Reply::send(tasker_e2e::client()?.post(url).json(&json!({})));
        Ok::<_, anyhow::Error>(())
    });
    h.kill()?;
    poll("the orphaned worker to exit", || {
        Ok(process_gone(worker).then_some(()))
    })
}

#[test]
fn repeated_crashes_mark_the_plugin_unhealthy_until_a_call_succeeds() -> Result {
    let h = start(&["--isolate-plugins"])?;
    for _ in 0..3 {
        crashing(&h, "segfault", json!({}))?.expect_error(500, "INTERNAL_ERROR")?;
    }
    let report = poll("the crash loop in /health", || {
        let (status, report) = health(&h)?;
        Ok((status == 503 && report["isolation"]["consecutiveCrashes"] == 3).then_some(report))
    })?;
    ensure!(report["status"] == "unhealthy", "{report}");
    ensure!(
        report["error"]
            .as_str()
            .is_some_and(|e| e.contains("crashed 3 times in a row")),
        "{report}"
    );
    crashing(&h, "echo", json!({}))?.expect_data(200)?;
    let (status, report) = health(&h)?;
    ensure!(status == 200 && report["status"] == "healthy", "{report}");
    Ok(())
}

#[test]
fn isolated_stuck_worker_is_restarted() -> Result {
    let h = start(&[
        "--isolate-plugins",
        "--call-timeout-secs",
        "1",
        "--max-stuck-calls",
        "2",
    ])?;
    let first = worker_pid(&h)?;
    crashing(&h, "block", json!({}))?.expect_error(504, "TIMEOUT_ERROR")?;
    let (_, report) = health(&h)?;
    ensure!(report["isolation"]["stuckCalls"] == 1, "{report}");
    crashing(&h, "block", json!({}))?.expect_error(504, "TIMEOUT_ERROR")?;
    let restarted = poll("a restarted worker", || {
        let reply = crashing(&h, "pid", json!({}))?;
        Ok(match reply.status {
            200 => reply.expect_data(200)?["pid"]
                .as_u64()
                .filter(|p| *p != first),
            _ => None,
        })
    })?;
    ensure!(restarted != first);
    let (_, report) = health(&h)?;
    ensure!(
        report["isolation"]["lastCrash"]
            .as_str()
            .is_some_and(|c| c.contains("2 call(s) were stuck past their timeout")),
        "{report}"
    );
    others_still_answer(&h)
}

#[test]
fn isolated_plugins_reach_the_host_and_keep_the_limits() -> Result {
    let h = start(&["--isolate-plugins", "--max-result-bytes", "1048576"])?;
    let via = crashing(
        &h,
        "callService",
        json!({ "service": "echo-service", "method": "echo", "args": { "x": 2 } }),
    )?
    .expect_data(200)?;
    ensure!(
        via == json!({ "via": "crashing-plugin", "result": { "x": 2 } }),
        "{via}"
    );
    let config = crashing(&h, "config", json!({}))?.expect_data(200)?;
    ensure!(config["host"]["databaseUrl"].is_string(), "{config}");
    h.logs()
        .wait_for_line(&["crashing-plugin initialised"], POLL_TIMEOUT)?;
    let body = crashing(&h, "invalidJson", json!({}))?.expect_error(500, "INTERNAL_ERROR")?;
    ensure!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("returned invalid JSON from 'invalidJson'")),
        "{body}"
    );
    let body = crashing(&h, "huge", json!({ "mb": 2 }))?.expect_error(500, "INTERNAL_ERROR")?;
    ensure!(
        body["details"] == json!({ "size": 2097154, "limit": 1048576 }),
        "{body}"
    );
    others_still_answer(&h)
}

#[test]
fn isolated_discovery_skips_bad_files_like_the_in_process_loader() -> Result {
    let h = TestHost::builder()
        .plugins(&["crashing_plugin", "not_a_plugin", "incompatible_plugin"])
        .args(&["--isolate-plugins"])
        .start()?;
    let names = h.registry().names();
    ensure!(names.contains(&"crashing-plugin"), "{names:?}");
    ensure!(
        !names.contains(&"incompatible-plugin"),
        "a plugin of another API version was served: {names:?}"
    );
    h.logs()
        .wait_for_line(&["libnot_a_plugin.so", "not a tasker plugin"], POLL_TIMEOUT)?;
    h.logs()
        .wait_for_line(&["libincompatible_plugin.so", "999"], POLL_TIMEOUT)?;
    Ok(())
}

fn register(h: &TestHost, name: &str, code: &str) -> Result {
    let url = format!("{}/tasks", h.service_url("task-executor")?);
    h.post_json(&url, &json!({ "name": name, "code": code }))?
        .expect_data(200)?;
    Ok(())
}

/// Runs a task to its end; returns the run view and its call tree.
fn run_task(h: &TestHost, name: &str, input: Value) -> Result<(Value, Value)> {
    let tasks = h.service_url("task-executor")?;
    let run = h
        .post_json(
            &format!("{tasks}/execute?wait=60"),
            &json!({ "task_identifier": name, "input": input }),
        )?
        .expect_data(200)?;
    let id = run["id"].as_i64().context("run id")?;
    let tree = h.get(&format!("{tasks}/runs/{id}"))?.expect_data(200)?;
    Ok((run, tree))
}

#[test]
fn a_task_whose_call_crashes_the_plugin_gets_a_clear_error_or_retries() -> Result {
    let h = start(&["--isolate-plugins", "--retry-base-ms", "10"])?;
    register(
        &h,
        "crashes",
        r#"module.exports = async () => {
            try { await __callHostTool__("crashing-plugin", "segfault", {}); return "no crash"; }
            catch (e) { return { code: e.code, message: e.message }; }
        }"#,
    )?;
    let (run, tree) = run_task(&h, "crashes", json!({}))?;
    ensure!(run["status"] == "completed", "{run:#}");
    ensure!(run["result"]["code"] == "INTERNAL_ERROR", "{run:#}");
    ensure!(
        run["result"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("plugin 'crashing-plugin' crashed (signal 11: SIGSEGV)")),
        "{run:#}"
    );
    ensure!(
        tree["calls"][0]["attempts"] == 3,
        "every attempt crashed: {tree:#}"
    );

    // A crash the engine retries past: the restarted worker answers the second attempt.
    register(
        &h,
        "crashes-once",
        r#"module.exports = async ({ marker }) => __callHostTool__("crashing-plugin", "segfaultOnce", { marker });"#,
    )?;
    let marker = h.dir().join("crashed-once");
    let (run, tree) = run_task(&h, "crashes-once", json!({ "marker": marker }))?;
    ensure!(run["status"] == "completed", "{run:#}");
    ensure!(run["result"] == json!({ "survived": true }), "{run:#}");
    ensure!(tree["calls"][0]["attempts"] == 2, "{tree:#}");
    others_still_answer(&h)
}
