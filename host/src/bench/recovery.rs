//! `recovery` (PostgreSQL): two hosts on one database; a run's host call (a 1 s sleep) is
//! taken by one of them, which is then killed with SIGKILL. Measured: the time from the
//! kill until the other host starts executing the call (its echo-service records it) and
//! until the run completes there. Hosts use a short `--lease-secs`, so the figure is
//! lease expiry plus the takeover path, not the default 10 s lease.

use std::time::{Duration, Instant};

use serde_json::json;

use super::Ctx;
use super::database::DbKind;
use super::driver::{data, wait_until};
use super::host::HostOptions;
use super::report::Row;
use super::stats::percentiles;

const RECOVER_TASK: &str = r#"module.exports = async function({ ms }) {
  return await __callHostTool__("echo-service", "sleep", { ms });
};"#;

/// The held call's length: long enough that the victim is killed while it runs.
const SLEEP_MS: u64 = 1_000;

/// Repeats kill-and-takeover with fresh host pairs.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !ctx.has_postgres() {
        println!("(recovery skipped: it needs the postgres backend)");
        return Ok(());
    }
    let (reps, lease_secs) = if ctx.quick { (1, 1) } else { (3, 2) };
    let mut takeovers = Vec::new();
    let mut completions = Vec::new();
    let started = Instant::now();
    for _ in 0..reps {
        let (takeover, completed) = once(ctx, lease_secs).await?;
        takeovers.push(takeover);
        completions.push(completed);
    }
    let wall = started.elapsed();
    let completed_p50 = percentiles(&completions).map_or(0.0, |p| p.p50);
    let mut row = Row::new(
        "recovery",
        format!("SIGKILL, lease {lease_secs} s"),
        DbKind::Postgres.label(),
    )
    .param("leaseSecs", lease_secs)
    .param("takeoverMs", takeovers.clone())
    .param("completedMs", completions.clone())
    .note(format!(
        "latency = kill -> call re-executed; run completed {:.2} s after the kill (p50, incl. the {SLEEP_MS} ms call)",
        completed_p50 / 1000.0
    ));
    row.runs = reps;
    row.calls = reps;
    row.wall_secs = wall.as_secs_f64();
    row.latency_ms = percentiles(&takeovers);
    ctx.push(row);
    Ok(())
}

/// One kill; returns (ms until the survivor executes the call, ms until the run completed).
async fn once(ctx: &mut Ctx, lease_secs: u64) -> anyhow::Result<(f64, f64)> {
    let db = ctx.database(DbKind::Postgres).await?;
    let options = HostOptions {
        lease_secs: Some(lease_secs),
        ..HostOptions::default()
    };
    let mut hosts = vec![
        ctx.start_host(db.url(), &options).await?,
        ctx.start_host(db.url(), &options).await?,
    ];
    let apis = hosts
        .iter()
        .map(|h| ctx.api(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let echo_urls = hosts
        .iter()
        .map(|h| h.service_url("echo-service").map(str::to_owned))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for api in &apis {
        api.register("recover", RECOVER_TASK).await?;
    }
    let run_id = apis[0]
        .submit("recover", &json!({ "ms": SLEEP_MS }))
        .await?;
    let client = ctx.client.clone();
    let victim = holder(&client, &echo_urls).await?;
    let survivor = 1 - victim;
    let killed = Instant::now();
    hosts[victim].kill();
    wait_until(
        "the other host to execute the call",
        Duration::from_secs(120),
        Duration::from_millis(5),
        || received_sleep(&client, &echo_urls[survivor]),
    )
    .await?;
    let takeover = killed.elapsed().as_secs_f64() * 1000.0;
    let api = &apis[survivor];
    wait_until(
        "the run to complete on the other host",
        Duration::from_secs(120),
        Duration::from_millis(10),
        || async { Ok(api.status(run_id).await? == "completed") },
    )
    .await?;
    let completed = killed.elapsed().as_secs_f64() * 1000.0;
    drop(hosts);
    ctx.release(db).await;
    Ok((takeover, completed))
}

/// Which host's echo-service received the `sleep` call first (polled every 5 ms).
async fn holder(client: &reqwest::Client, echo_urls: &[String]) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        for (i, url) in echo_urls.iter().enumerate() {
            if received_sleep(client, url).await? {
                return Ok(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("no host took the call within 60 s")
}

/// True once this host's echo-service has received a `sleep` call.
async fn received_sleep(client: &reqwest::Client, echo_url: &str) -> anyhow::Result<bool> {
    let calls = data(client.post(format!("{echo_url}/calls")).json(&json!({}))).await?;
    Ok(calls["calls"]
        .as_array()
        .is_some_and(|c| c.iter().any(|call| call["method"] == "sleep")))
}
