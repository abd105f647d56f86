//! Durability under faults, through the real binary: SIGKILL of the host at random points of
//! a busy mixed workload (SQLite and PostgreSQL), and the database going away (PostgreSQL
//! stopped, SQLite write-locked by another process) while runs are in flight. Afterwards no
//! run is stuck or lost, the journal has exactly one entry per call, and the database is
//! consistent. These tests never inspect host internals other than through HTTP, the log
//! and read-only queries on the database.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sqlx::Connection;
use tasker_e2e::{Backend, Reply, TestDatabase, TestHost};
use tasker_store::testing::postgres::PostgresCluster;

/// Short leases so a killed host's work is taken over quickly.
const HOST_ARGS: &[&str] = &[
    "--lease-secs",
    "2",
    "--lease-renew-ms",
    "500",
    "--retry-base-ms",
    "100",
];
/// How long every run gets to end once the faults are over (debug build, 2 busy cores).
const END_DEADLINE: Duration = Duration::from_secs(240);
/// Calls one parent run journals: 3 sequential echo + sleep pairs, 3 fanned-out sleeps,
/// 1 failing call (retried, then caught), 1 nested `tasks.execute`.
const PARENT_CALLS: usize = 11;
/// Runs submitted per kill cycle (enough to keep the host busy at the kill).
const BATCH: usize = 10;

/// The parent task: every kind of host call the engine journals differently.
const PARENT: &str = r#"module.exports = async function({ k }) {
    let sum = 0;
    for (let i = 0; i < 3; i++) {
        sum += (await __callHostTool__("echo-service", "echo", { v: k * 10 + i })).v;
        sum += (await __callHostTool__("echo-service", "sleep", { ms: 300 })).slept;
    }
    const fan = await Promise.all([0, 1, 2].map(() => __callHostTool__("echo-service", "sleep", { ms: 300 })));
    for (const r of fan) sum += r.slept;
    let failed = "no";
    try { await __callHostTool__("echo-service", "fail", { code: "TIMEOUT_ERROR", message: "flaky" }); }
    catch (e) { failed = "caught"; }
    const child = await __callHostTool__("tasks", "execute", { taskName: "child", input: { k } });
    return { k, sum, failed, doubled: child.doubled };
}"#;
const CHILD: &str = r#"module.exports = async function({ k }) {
    const a = await __callHostTool__("echo-service", "echo", { x: k });
    await __callHostTool__("echo-service", "sleep", { ms: 300 });
    const b = await __callHostTool__("echo-service", "echo", { x: k });
    return { doubled: a.x + b.x };
}"#;
/// A slow sequential task, to have work in flight while the database goes away.
const SLOW: &str = r#"module.exports = async function({ k }) {
    let sum = 0;
    for (let i = 0; i < 10; i++) sum += (await __callHostTool__("echo-service", "sleep", { ms: 150 })).slept;
    return { k, sum };
}"#;

fn expected_parent(k: i64) -> Value {
    json!({ "k": k, "sum": 30 * k + 3 + 900 + 900, "failed": "caught", "doubled": 2 * k })
}

/// splitmix64: a seeded, printable source of kill delays (no extra dependency).
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Self {
        let seed = std::env::var("TASKER_FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
            });
        eprintln!("faults: seed {seed} (rerun with TASKER_FAULTS_SEED={seed})");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

fn start(url: &str) -> Result<TestHost> {
    TestHost::builder()
        .plugins(&["echo_service"])
        .database_url(url)
        .args(HOST_ARGS)
        .start()
}

/// Polls `GET /runs/{id}` until the run ends; fails after `deadline`.
fn wait_ended(h: &TestHost, id: i64, deadline: Instant) -> Result<Value> {
    loop {
        let run = h
            .get(&format!("{}/runs/{id}", h.tasks_url()?))?
            .expect_data(200)?;
        if matches!(run["status"].as_str(), Some("completed" | "failed")) {
            return Ok(run);
        }
        if Instant::now() > deadline {
            bail!("run {id} is stuck: {run:#}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One journal entry per call: unique, consecutive seqs and the expected count.
fn check_journal(run: &Value, expected_calls: usize) -> Result<()> {
    let calls = run["calls"].as_array().context("calls")?;
    let seqs: Vec<i64> = calls.iter().filter_map(|c| c["seq"].as_i64()).collect();
    let unique: BTreeSet<i64> = seqs.iter().copied().collect();
    let consecutive = unique
        .iter()
        .zip(unique.iter().skip(1))
        .all(|(a, b)| b - a == 1);
    ensure!(
        calls.len() == expected_calls && unique.len() == expected_calls && consecutive,
        "run {} must journal each of its {expected_calls} calls once (seqs {seqs:?}): {run:#}",
        run["id"]
    );
    for call in calls {
        ensure!(
            matches!(call["status"].as_str(), Some("completed" | "failed")),
            "an ended run has an unsettled call: {call:#}"
        );
    }
    Ok(())
}

/// Read-only consistency checks on the database the hosts used.
fn check_database(url: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = tasker_store::Store::connect(url, Default::default())
            .await
            .context("connecting to the database")?;
        if url.starts_with("sqlite:") {
            let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_all(store.pool())
                .await?;
            ensure!(verdict == ["ok"], "SQLite integrity_check: {verdict:?}");
        }
        let checks = [
            (
                "calls processing without a lease",
                "SELECT COUNT(*) FROM stack_runs WHERE status = 'processing' \
                 AND (lease_owner IS NULL OR lease_expires_at IS NULL)",
            ),
            (
                "runs running without a lease",
                "SELECT COUNT(*) FROM task_runs WHERE status = 'running' \
                 AND (lease_owner IS NULL OR lease_expires_at IS NULL)",
            ),
            (
                "runs not ended",
                "SELECT COUNT(*) FROM task_runs \
                 WHERE status NOT IN ('completed', 'failed', 'cancelled')",
            ),
            (
                "duplicate journal entries",
                "SELECT COUNT(*) FROM (SELECT task_run_id, seq FROM stack_runs \
                 GROUP BY task_run_id, seq HAVING COUNT(*) > 1) d",
            ),
            (
                "unsettled calls of completed runs",
                "SELECT COUNT(*) FROM stack_runs s JOIN task_runs t ON t.id = s.task_run_id \
                 WHERE t.status = 'completed' AND s.status IN ('pending', 'processing')",
            ),
        ];
        for (what, sql) in checks {
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(store.pool())
                .await
                .with_context(|| format!("checking {what}"))?;
            ensure!(count == 0, "{count} {what}");
        }
        store.close().await;
        Ok(())
    })
}

/// How many of `ids` have not ended yet (read just before a kill).
fn unfinished_runs(h: &TestHost, ids: &[(i64, i64)]) -> Result<usize> {
    let mut unfinished = 0;
    for (_, id) in ids {
        let run = h
            .get(&format!("{}/runs/{id}", h.tasks_url()?))?
            .expect_data(200)?;
        unfinished += usize::from(!matches!(
            run["status"].as_str(),
            Some("completed" | "failed")
        ));
    }
    Ok(unfinished)
}

fn kill_at_random_points(backend: Backend) -> Result<()> {
    let cycles: usize = std::env::var("TASKER_FAULTS_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(5);
    let mut rng = Rng::from_env_or_clock();
    let db = TestDatabase::create(backend)?;
    let started = Instant::now();
    let mut host = start(db.url())?;
    host.register_task("parent", PARENT)?;
    host.register_task("child", CHILD)?;
    let mut ids: Vec<(i64, i64)> = Vec::new();
    let submit_batch = |h: &TestHost, ids: &mut Vec<(i64, i64)>| -> Result<()> {
        for _ in 0..BATCH {
            let k = ids.len() as i64;
            ids.push((k, h.submit_task("parent", json!({ "k": k }))?));
        }
        Ok(())
    };
    let mut killed_mid_work = 0;
    for cycle in 0..cycles {
        submit_batch(&host, &mut ids)?;
        let delay = rng.millis(100, 1500);
        eprintln!("faults: cycle {cycle}: SIGKILL after {delay:?}");
        // The delay is the fault's random position, not a wait for a condition.
        std::thread::sleep(delay);
        let unfinished = unfinished_runs(&host, &ids[ids.len() - BATCH..])?;
        killed_mid_work += usize::from(unfinished > 0);
        host.kill()?;
        eprintln!("faults: cycle {cycle}: killed with {unfinished} runs unfinished");
        host = start(db.url())?;
    }
    submit_batch(&host, &mut ids)?;
    // Otherwise every kill hit an idle host and the test proved nothing.
    ensure!(
        cycles == 0 || killed_mid_work > 0,
        "no SIGKILL caught runs in flight"
    );

    let deadline = Instant::now() + END_DEADLINE;
    for (k, id) in &ids {
        let run = wait_ended(&host, *id, deadline)?;
        ensure!(
            run["status"] == "completed" && run["result"] == expected_parent(*k),
            "run {id} (k = {k}) after {cycles} kills: {run:#}"
        );
        check_journal(&run, PARENT_CALLS)?;
    }
    check_database(db.url())?;
    host.stop()?;
    check_database(db.url())?;
    eprintln!(
        "faults: {} runs survived {cycles} SIGKILLs on {backend:?} in {:?}",
        ids.len(),
        started.elapsed()
    );
    Ok(())
}

#[test]
fn sigkill_at_random_points_loses_nothing_on_sqlite() -> Result<()> {
    kill_at_random_points(Backend::Sqlite)
}

#[test]
fn sigkill_at_random_points_loses_nothing_on_postgres() -> Result<()> {
    kill_at_random_points(Backend::Postgres)
}

/// Warnings and errors the host logged so far.
fn complaint_lines(h: &TestHost) -> Vec<String> {
    h.logs()
        .text()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect()
}

fn complaints(h: &TestHost) -> usize {
    complaint_lines(h).len()
}

/// Asserts a 503 "database is unavailable" envelope.
fn expect_unavailable(reply: &Reply) -> Result<()> {
    let body = reply.expect_error(503, "CONFIGURATION_ERROR")?;
    ensure!(
        reply.error_message().contains("database is unavailable"),
        "{body:#}"
    );
    Ok(())
}

/// The outage window's log volume: the loops must back off, not spin on the error.
fn check_backoff(h: &TestHost, before: usize, outage: Duration) -> Result<()> {
    let logged = complaints(h) - before;
    for line in complaint_lines(h).iter().skip(before).take(6) {
        eprintln!("faults: logged: {line}");
    }
    let per_second = logged as f64 / outage.as_secs_f64().max(1.0);
    eprintln!("faults: {logged} warnings/errors in a {outage:?} outage ({per_second:.1}/s)");
    ensure!(
        per_second <= 10.0,
        "the host logged {logged} warnings in {outage:?}: a tight error loop?\n{}",
        h.logs().text()
    );
    Ok(())
}

/// Submits slow runs and waits until each has journaled a call (work in flight).
fn start_slow_runs(h: &TestHost, count: i64) -> Result<Vec<i64>> {
    h.register_task("slow", SLOW)?;
    let ids = (0..count)
        .map(|k| h.submit_task("slow", json!({ "k": k })))
        .collect::<Result<Vec<_>>>()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        loop {
            let run = h
                .get(&format!("{}/runs/{id}", h.tasks_url()?))?
                .expect_data(200)?;
            if run["calls"].as_array().is_some_and(|c| !c.is_empty()) {
                break;
            }
            ensure!(Instant::now() < deadline, "run {id} never started: {run:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(ids)
}

/// After the database is back: a new submission is accepted (retried while the pool
/// reconnects) and every run, old and new, completes with its result.
fn check_resumed(h: &TestHost, ids: &[i64]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let new_id = loop {
        let reply = h.submit_task_reply("slow", json!({ "k": 99 }))?;
        if reply.status == 202 {
            break reply.expect_data(202)?["taskRunId"]
                .as_i64()
                .context("taskRunId")?;
        }
        ensure!(
            Instant::now() < deadline,
            "submissions still fail after the database returned: {} {}",
            reply.status,
            reply.text
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let deadline = Instant::now() + END_DEADLINE;
    for (k, id) in ids.iter().enumerate() {
        let run = wait_ended(h, *id, deadline)?;
        ensure!(
            run["status"] == "completed" && run["result"] == json!({ "k": k, "sum": 1500 }),
            "run {id} submitted before the outage: {run:#}"
        );
        check_journal(&run, 10)?;
    }
    let run = wait_ended(h, new_id, deadline)?;
    ensure!(run["result"] == json!({ "k": 99, "sum": 1500 }), "{run:#}");
    Ok(())
}

#[test]
fn postgres_outage_gives_503_then_everything_resumes() -> Result<()> {
    let cluster = PostgresCluster::start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = runtime
        .block_on(cluster.create_database())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let host = start(&url)?;
    let ids = start_slow_runs(&host, 4)?;
    let before = complaints(&host);

    cluster.halt().map_err(|e| anyhow::anyhow!("{e}"))?;
    let down_at = Instant::now();
    // Both requests need the database; send them together (each may wait for the pool).
    let (submitted, status) = std::thread::scope(|s| {
        let submitted = s.spawn(|| host.submit_task_reply("slow", json!({ "k": 7 })));
        let status = s.spawn(|| -> Result<Reply> {
            host.get(&format!("{}/status?id={}", host.tasks_url()?, ids[0]))
        });
        (submitted.join(), status.join())
    });
    let submitted = submitted.map_err(|_| anyhow::anyhow!("submit thread panicked"))??;
    let status = status.map_err(|_| anyhow::anyhow!("status thread panicked"))??;
    // The pool gives up on a refused server after its acquire timeout (10 s).
    eprintln!(
        "faults: PostgreSQL down: submit and status answered {} / {} after {:?}",
        submitted.status,
        status.status,
        down_at.elapsed()
    );
    expect_unavailable(&submitted)?;
    expect_unavailable(&status)?;
    // The answer comes after the pool's 10 s acquire timeout, not after the client gave up
    // (generous margin for a busy machine; it was 30 s before, longer than many proxies wait).
    ensure!(
        down_at.elapsed() < Duration::from_secs(25),
        "requests hung for {:?} while PostgreSQL was down",
        down_at.elapsed()
    );
    // Keep the server down longer than one pool timeout, so the loops fail several times.
    let minimum_outage = Duration::from_secs(25);
    if let Some(rest) = minimum_outage.checked_sub(down_at.elapsed()) {
        std::thread::sleep(rest);
    }
    let outage = down_at.elapsed();
    check_backoff(&host, before, outage)?;

    cluster.resume().map_err(|e| anyhow::anyhow!("{e}"))?;
    check_resumed(&host, &ids)?;
    check_database(&url)?;
    Ok(())
}

#[test]
fn sqlite_write_lock_gives_503_then_everything_resumes() -> Result<()> {
    let db = TestDatabase::create(Backend::Sqlite)?;
    let host = start(db.url())?;
    let ids = start_slow_runs(&host, 4)?;
    let before = complaints(&host);

    // Another process (this test) holds the write lock, longer than the host's busy timeout.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut locker = runtime.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(db.url()).await?;
        sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await?;
        anyhow::Ok(conn)
    })?;
    let locked_at = Instant::now();
    let submitted = host.submit_task_reply("slow", json!({ "k": 7 }))?;
    eprintln!(
        "faults: SQLite locked: submit answered {} after {:?}",
        submitted.status,
        locked_at.elapsed()
    );
    expect_unavailable(&submitted)?;
    // Reads go on under WAL while a writer holds the lock.
    host.get(&format!("{}/status?id={}", host.tasks_url()?, ids[0]))?
        .expect_data(200)?;
    let minimum_outage = Duration::from_secs(8);
    if let Some(rest) = minimum_outage.checked_sub(locked_at.elapsed()) {
        std::thread::sleep(rest);
    }
    let outage = locked_at.elapsed();
    runtime.block_on(async {
        sqlx::raw_sql("ROLLBACK").execute(&mut locker).await?;
        locker.close().await?;
        anyhow::Ok(())
    })?;
    check_backoff(&host, before, outage)?;

    check_resumed(&host, &ids)?;
    check_database(db.url())?;
    Ok(())
}
