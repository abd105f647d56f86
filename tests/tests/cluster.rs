//! Several real hosts on one PostgreSQL database: a shared queue that survives a SIGKILL of
//! one host (exactly-once journal, stable idempotency keys, leases taken over), calls routed
//! only to hosts that serve their service, calls no host serves reported and failed at the
//! deadline, NOTIFY wake-ups that beat the fallback poll, `/cluster` and `cluster status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestDatabase, TestHost};

/// Lease used by these tests; the documented recovery bound is lease + renew period + poll.
const LEASE_SECS: u64 = 3;

fn start(db: &TestDatabase, id: &str, plugins: &[&str], extra: &[&str]) -> Result<TestHost> {
    let lease = LEASE_SECS.to_string();
    let mut args = vec![
        "--host-id",
        id,
        "--lease-secs",
        lease.as_str(),
        "--lease-renew-ms",
        "500",
    ];
    args.extend_from_slice(extra);
    TestHost::builder()
        .plugins(plugins)
        .database_url(db.url())
        .args(&args)
        .start()
}

fn cluster(h: &TestHost) -> Result<Value> {
    h.get(&format!("{}/cluster", h.gateway_url()))?
        .expect_data(200)
}

fn write_echo_config(dir: &Path, record: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("plugins.json");
    let config = json!({ "echo-service": { "recordFile": record.display().to_string() } });
    std::fs::write(&path, config.to_string())?;
    Ok(path)
}

fn read_records(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("record line {l:?}")))
        .collect()
}

/// Ten calls; every other one sleeps, so each host holds leases at any moment (the kill
/// must catch calls in flight). Result: 500k + 770.
const TEN_CALLS: &str = r#"module.exports = async function({ k }) {
    let sum = 0;
    for (let i = 0; i < 10; i++) {
        if (i % 2 === 0) sum += (await __callHostTool__("echo-service", "echo", { v: k * 100 + i })).v;
        else sum += (await __callHostTool__("echo-service", "sleep", { ms: 150 })).slept;
    }
    return { k, sum };
}"#;

#[test]
fn three_hosts_share_the_queue_and_survive_a_sigkill() -> Result<()> {
    const RUNS: i64 = 300;
    let db = TestDatabase::create(Backend::Postgres)?;
    let scratch = tempfile::tempdir()?;
    let record = scratch.path().join("echo-calls.jsonl");
    let config = write_echo_config(scratch.path(), &record)?;
    let config = config.display().to_string();
    let extra = ["--plugin-config", config.as_str()];
    let hosts = [
        start(&db, "host-a", &["echo_service"], &extra)?,
        start(&db, "host-b", &["echo_service"], &extra)?,
        start(&db, "host-c", &["echo_service"], &extra)?,
    ];
    hosts[0].register_task("ten-calls", TEN_CALLS)?;

    // `/cluster` sees all three, each serving echo-service.
    let report = cluster(&hosts[0])?;
    let live: BTreeSet<&str> = report["hosts"]
        .as_array()
        .context("hosts")?
        .iter()
        .filter(|h| h["live"] == true)
        .filter_map(|h| h["id"].as_str())
        .collect();
    ensure!(
        live == BTreeSet::from(["host-a", "host-b", "host-c"]),
        "{report:#}"
    );

    let mut ids = Vec::new();
    for k in 0..RUNS {
        ids.push(hosts[k as usize % 3].submit_task("ten-calls", json!({ "k": k }))?);
    }
    // Kill host-b mid-way: once a tenth of all calls ran somewhere and while it holds leases.
    let [a, b, c] = hosts;
    let deadline = Instant::now() + Duration::from_secs(120);
    let held_by_b = |report: &Value| -> i64 {
        report["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| h["id"] == "host-b")
            .map(|h| {
                h["leases"]["runs"].as_i64().unwrap_or(0)
                    + h["leases"]["calls"].as_i64().unwrap_or(0)
            })
            .sum()
    };
    let held_at_kill = loop {
        let report = cluster(&a)?;
        let held = held_by_b(&report);
        let executed = read_records(&record)?.len();
        if held > 0 && executed >= (RUNS as usize * 10) / 10 {
            break held;
        }
        // A workload that ends before host-b is caught holding work proves nothing: say so
        // at once instead of waiting for the deadline.
        ensure!(
            executed < RUNS as usize * 10,
            "every call ran before host-b was seen holding a lease; make the workload longer"
        );
        ensure!(
            Instant::now() < deadline,
            "host-b never held leases mid-run ({executed} calls executed): {report:#}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    b.kill()?;
    let killed_at = Instant::now();
    eprintln!("host-b held {held_at_kill} leases just before SIGKILL");

    // The killed host's leases are taken over once they expire.
    let recovery_bound = Duration::from_secs(LEASE_SECS) + Duration::from_secs(10);
    let took_over = loop {
        let report = cluster(&a)?;
        let held = held_by_b(&report);
        if held == 0 {
            break killed_at.elapsed();
        }
        ensure!(
            killed_at.elapsed() < recovery_bound,
            "host-b still holds {held} leases {:?} after the kill: {report:#}",
            killed_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("host-b's leases were taken over {took_over:?} after SIGKILL");

    // Every run completes with the right result, one journal entry per call.
    let mut journal_keys: BTreeMap<i64, String> = BTreeMap::new();
    for (k, id) in ids.iter().enumerate() {
        let viewer = if k % 2 == 0 { &a } else { &c };
        let run = viewer.wait_run_ended(*id, Duration::from_secs(120))?;
        let k = k as i64;
        ensure!(
            run["status"] == "completed"
                && run["result"] == json!({ "k": k, "sum": k * 500 + 770 }),
            "run {id}: {run:#}"
        );
        let calls = run["calls"].as_array().context("calls")?;
        let seqs: BTreeSet<i64> = calls.iter().filter_map(|c| c["seq"].as_i64()).collect();
        ensure!(
            calls.len() == 10 && seqs.len() == 10,
            "run {id} must journal each of its 10 calls once: {run:#}"
        );
        for call in calls {
            ensure!(call["status"] == "completed", "run {id}: {call:#}");
            journal_keys.insert(
                call["id"].as_i64().context("call id")?,
                call["idempotencyKey"].as_str().context("key")?.to_owned(),
            );
        }
    }

    // Executions seen by echo-service: every journaled call ran at least once, and every
    // execution of a call (duplicates after the kill included) carried the journal's key.
    let records = read_records(&record)?;
    let mut executions: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        executions
            .entry(r["stackRunId"].as_i64().context("stackRunId")?)
            .or_default()
            .push(r);
    }
    for (call_id, key) in &journal_keys {
        let seen = executions
            .get(call_id)
            .with_context(|| format!("call {call_id} was journaled but never executed"))?;
        for e in seen {
            ensure!(
                e["idempotencyKey"] == key.as_str(),
                "call {call_id} executed with key {} but journaled with {key}",
                e["idempotencyKey"]
            );
        }
    }
    let duplicates = executions.values().filter(|e| e.len() > 1).count();
    eprintln!(
        "{} executions of {} calls; {duplicates} calls executed more than once",
        records.len(),
        journal_keys.len()
    );
    ensure!(journal_keys.len() == (RUNS * 10) as usize);
    Ok(())
}

#[test]
fn calls_go_only_to_hosts_that_serve_them_and_unserved_calls_fail_at_the_deadline() -> Result<()> {
    let db = TestDatabase::create(Backend::Postgres)?;
    let deadline = ["--unserved-deadline-secs", "3"];
    let with_echo = start(
        &db,
        "with-echo",
        &["echo_service", "hello_world"],
        &deadline,
    )?;
    let without = start(&db, "without-echo", &["hello_world"], &deadline)?;
    without.register_task(
        "uses-echo",
        r#"module.exports = async function() {
            const out = [];
            for (let i = 0; i < 5; i++) out.push((await __callHostTool__("echo-service", "echo", { i })).i);
            const hi = await __callHostTool__("hello-world", "hello", { name: "x" });
            return { out, hi: typeof hi };
        }"#,
    )?;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(without.submit_task("uses-echo", json!({}))?);
    }
    for id in ids {
        let run = without.wait_run_ended(id, Duration::from_secs(60))?;
        ensure!(run["status"] == "completed", "{run:#}");
        ensure!(run["result"]["out"] == json!([0, 1, 2, 3, 4]), "{run:#}");
        for call in run["calls"].as_array().context("calls")? {
            if call["service"] == "echo-service" {
                ensure!(call["host"] == "with-echo", "echo ran elsewhere: {call:#}");
            }
        }
    }

    // A service no host serves: the run says why it waits, then fails at the deadline.
    without.register_task(
        "needs-missing",
        r#"module.exports = async function() {
            return await __callHostTool__("no-such-service", "anything", {});
        }"#,
    )?;
    let id = without.submit_task("needs-missing", json!({}))?;
    let started = Instant::now();
    let waiting = loop {
        let run = with_echo.run_tree(id)?;
        if let Some(why) = run["waiting"].as_str() {
            break why.to_owned();
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "no waiting reason: {run:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    ensure!(
        waiting.contains("waiting for a host that serves no-such-service"),
        "{waiting}"
    );
    let report = cluster(&without)?;
    ensure!(
        report["unservedServices"] == json!(["no-such-service"]),
        "{report:#}"
    );
    let run = without.wait_run_ended(id, Duration::from_secs(60))?;
    let message = run["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        run["status"] == "failed" && message.contains("no live host serves 'no-such-service'"),
        "{run:#}"
    );
    Ok(())
}

#[test]
fn notify_wakes_the_host_holding_the_live_context_without_the_poll() -> Result<()> {
    let db = TestDatabase::create(Backend::Postgres)?;
    // A one-minute fallback poll: anything faster than that came from a NOTIFY.
    let slow_poll = ["--poll-ms", "60000"];
    let holder = start(&db, "holder", &["hello_world"], &slow_poll)?;
    holder.register_task(
        "three-hops",
        r#"module.exports = async function() {
            let total = 0;
            for (let i = 1; i <= 3; i++) total += (await __callHostTool__("echo-service", "echo", { i })).i;
            return { total };
        }"#,
    )?;
    // The run starts on `holder`, which cannot run echo-service: its call waits.
    let id = holder.submit_task("three-hops", json!({}))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = holder.run_tree(id)?;
        if run["status"] == "suspended" {
            ensure!(run["host"] == "holder", "{run:#}");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the run never suspended: {run:#}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The executor joins; each completed call must wake `holder` through NOTIFY.
    let executor = start(&db, "executor", &["echo_service"], &slow_poll)?;
    let joined = Instant::now();
    let run = holder.wait_run_ended(id, Duration::from_secs(40))?;
    let took = joined.elapsed();
    ensure!(
        run["status"] == "completed" && run["result"] == json!({ "total": 6 }),
        "{run:#}"
    );
    ensure!(
        run["host"] == "holder",
        "the run must resume on the host holding it: {run:#}"
    );
    for call in run["calls"].as_array().context("calls")? {
        ensure!(call["host"] == "executor", "{call:#}");
    }
    ensure!(
        took < Duration::from_secs(30),
        "three cross-host round trips took {took:?}: the 60 s poll, not NOTIFY, woke the hosts"
    );
    eprintln!("three cross-host round trips via NOTIFY took {took:?}");
    drop(executor);
    Ok(())
}

#[test]
fn cluster_status_cli_reads_the_database() -> Result<()> {
    let db = TestDatabase::create(Backend::Postgres)?;
    let host = start(&db, "cli-host", &["echo_service"], &[])?;
    let out = std::process::Command::new(tasker_e2e::host_binary()?)
        .args(["cluster", "status", "--database-url", db.url()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        text.contains("cli-host") && text.contains("echo-service"),
        "{text}"
    );
    let out = std::process::Command::new(tasker_e2e::host_binary()?)
        .args(["cluster", "status", "--json", "--database-url", db.url()])
        .output()?;
    let report: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(report["hosts"][0]["id"] == "cli-host", "{report:#}");
    // A graceful stop leaves the cluster.
    host.stop()?;
    let out = std::process::Command::new(tasker_e2e::host_binary()?)
        .args(["cluster", "status", "--json", "--database-url", db.url()])
        .output()?;
    let report: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(report["hosts"] == json!([]), "{report:#}");
    Ok(())
}
