//! Early resume end to end, on SQLite and on PostgreSQL: the result of a run's only
//! outstanding call resumes the live context before it is journaled, and is journaled with
//! what that segment did. The journal must still explain every segment exactly: a host killed
//! after such segments replays them with the same clock, and a run cancelled while its call
//! runs records nothing of the segment that call's result started.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestDatabase, TestHost, on_both_backends};

fn host(db: &TestDatabase, extra: &[&str]) -> Result<TestHost> {
    TestHost::builder()
        .plugins(&["echo_service"])
        .database_url(db.url())
        .args(extra)
        .start()
}

/// Polls the run tree until `done` holds for it.
fn wait_for(h: &TestHost, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tree = h.run_tree(id)?;
        if done(&tree) {
            return Ok(tree);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}: {tree:#}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn calls(tree: &Value) -> Vec<Value> {
    tree["calls"].as_array().cloned().unwrap_or_default()
}

/// Each segment's `Date.now()` goes into the next call's arguments, so a replay that saw a
/// different clock would issue different calls and fail as diverged. The host is killed
/// while the run waits on a long call, after ten early-resumed segments; the next host
/// replays them all and finishes with the times the first host's segments saw.
fn clock_of_early_resumed_segments_survives_a_restart(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let code = r#"module.exports = async function() {
        const times = [];
        let spin = 0;
        for (let i = 0; i < 10; i++) {
            const now = Date.now();
            times.push(now);
            console.log("segment " + i + " at " + now);
            // Some milliseconds of work between a segment's start and its end (its commit).
            for (let k = 0; k < 20000; k++) { spin += k % 7; }
            await __callHostTool__("echo-service", "echo", { i, now, spin });
        }
        await __callHostTool__("echo-service", "sleep", { ms: 3000 });
        return { times, after: Date.now() };
    }"#;
    let first = host(&db, &["--lease-secs", "2"])?;
    first.register_task("clock", code)?;
    let id = first.submit_task("clock", json!({}))?;
    wait_for(&first, id, "the long call", |tree| {
        calls(tree)
            .iter()
            .any(|c| c["method"] == "sleep" && c["status"] == "processing")
    })?;
    first.kill()?;

    let second = host(&db, &["--lease-secs", "2"])?;
    let tree = second.wait_run_ended(id, Duration::from_secs(60))?;
    let run = &tree;
    ensure!(run["status"] == "completed", "{tree:#}");
    let journaled: Vec<Value> = calls(&tree)
        .iter()
        .filter(|c| c["method"] == "echo")
        .map(|c| c["args"]["now"].clone())
        .collect();
    ensure!(journaled.len() == 10, "{tree:#}");
    ensure!(
        run["result"]["times"] == Value::Array(journaled.clone()),
        "the replay saw other times than the first host: {:#} vs {journaled:?}",
        run["result"]
    );
    // Each segment's console line was stored once, with the segment: not lost to the kill,
    // not repeated by the replay.
    let logs = second
        .get(&format!("{}/logs?task_id={id}", second.tasks_url()?))?
        .expect_data(200)?;
    let lines: Vec<&str> = logs["logs"]
        .as_array()
        .context("log lines")?
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    let expected: Vec<String> = journaled
        .iter()
        .enumerate()
        .map(|(i, now)| format!("segment {i} at {now}"))
        .collect();
    ensure!(lines == expected, "{lines:#?} vs {expected:#?}");
    // Each early-resumed segment was recorded with its own time: 10 echo segments, the
    // sleep's and the first.
    ensure!(
        run["segments"].as_i64() >= Some(12),
        "every segment is in the journal: {tree:#}"
    );
    Ok(())
}

/// A run cancelled while its only call runs: the call's result still arrives and is kept,
/// but the segment it would have started is not recorded, so no later call is ever made, and
/// the host goes on serving other runs.
fn cancel_during_the_sole_call_records_no_segment(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host(&db, &[])?;
    h.register_task(
        "slow-then-more",
        r#"module.exports = async function() {
            await __callHostTool__("echo-service", "sleep", { ms: 800 });
            await __callHostTool__("echo-service", "echo", { after: "cancel" });
            return "should not finish";
        }"#,
    )?;
    let id = h.submit_task("slow-then-more", json!({}))?;
    wait_for(&h, id, "the sleep to run", |tree| {
        calls(tree).iter().any(|c| c["status"] == "processing")
    })?;
    h.post_json(&format!("{}/runs/{id}/cancel", h.tasks_url()?), &json!({}))?
        .expect_data(200)?;
    let tree = wait_for(&h, id, "the sleep to settle", |tree| {
        calls(tree).iter().all(|c| c["status"] != "processing")
    })?;
    ensure!(tree["status"] == "cancelled", "{tree:#}");
    let recorded = calls(&tree);
    ensure!(
        recorded.len() == 1 && recorded[0]["method"] == "sleep",
        "nothing after the cancelled segment may be recorded: {tree:#}"
    );
    // Give a wrongly resumed segment time to show itself, then check again.
    std::thread::sleep(Duration::from_millis(300));
    let tree = h.run_tree(id)?;
    ensure!(
        calls(&tree).len() == 1 && tree["status"] == "cancelled",
        "{tree:#}"
    );
    h.register_task(
        "after",
        r#"module.exports = async () => (await __callHostTool__("echo-service", "echo", { ok: 1 })).ok;"#,
    )?;
    let reply = h.post_json(
        &format!("{}/execute?wait=30", h.tasks_url()?),
        &json!({ "task_identifier": "after", "input": {} }),
    )?;
    let data = reply.expect_data(200)?;
    ensure!(
        data["status"] == "completed" && data["result"] == json!(1),
        "{data:#}"
    );
    Ok(())
}

on_both_backends!(
    clock_of_early_resumed_segments_survives_a_restart,
    cancel_during_the_sole_call_records_no_segment,
);
