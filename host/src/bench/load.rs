//! Load scenarios: a closed loop keeps 200 runs of a 10-call task in flight for
//! `--duration` seconds. `throughput` calls echo-service.echo, `http-step` calls
//! echo-service.httpPost against the bench's loopback echo server, and `multi-host` spreads
//! the load over 1, 2 and 3 hosts sharing one PostgreSQL database (issue 6).

use std::time::Duration;

use serde_json::{Value, json};

use super::Ctx;
use super::database::DbKind;
use super::driver::closed_loop;
use super::echo_server::EchoServer;
use super::host::{BenchHost, HostOptions};
use super::measure::Probe;
use super::report::Row;

/// Host calls per run.
const STEPS: u64 = 10;

const ECHO_STEPS_TASK: &str = r#"module.exports = async function({ steps }) {
  let last = null;
  for (let i = 0; i < steps; i++) last = await __callHostTool__("echo-service", "echo", { i });
  return { last };
};"#;

const HTTP_STEPS_TASK: &str = r#"module.exports = async function({ steps, url }) {
  let last = null;
  for (let i = 0; i < steps; i++) {
    const reply = await __callHostTool__("echo-service", "httpPost", { url, body: { i } });
    last = reply.body.i;
  }
  return { last };
};"#;

/// One load row: `hosts` hosts on a fresh database of `kind`, a warm-up, then the loop.
struct LoadSpec<'a> {
    scenario: &'a str,
    variant: String,
    kind: DbKind,
    hosts: usize,
    task: &'a str,
    code: &'a str,
    input: Value,
    target: &'a str,
}

async fn load_row(ctx: &mut Ctx, spec: LoadSpec<'_>) -> anyhow::Result<()> {
    let db = ctx.database(spec.kind).await?;
    let mut hosts = Vec::new();
    for _ in 0..spec.hosts {
        hosts.push(ctx.start_host(db.url(), &HostOptions::default()).await?);
    }
    let apis = hosts
        .iter()
        .map(|h| ctx.api(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for api in &apis {
        api.register(spec.task, spec.code).await?;
    }
    let concurrency = ctx.load_concurrency();
    // Warm-up: every worker's first run (pools, JS threads) stays out of the figures.
    closed_loop(&apis, spec.task, &spec.input, concurrency, Duration::ZERO).await?;
    let host_refs: Vec<&BenchHost> = hosts.iter().collect();
    let probe = Probe::start(&host_refs, Some(&db)).await;
    let result = closed_loop(&apis, spec.task, &spec.input, concurrency, ctx.duration)
        .await
        .map_err(|e| {
            let logs: Vec<String> = hosts
                .iter()
                .enumerate()
                .map(|(i, h)| format!("--- host {i} log (end):\n{}", h.log_tail()))
                .collect();
            e.context(logs.join("\n"))
        })?;
    let measured = probe.finish(&host_refs, Some(&db)).await;
    let calls = result.runs * STEPS;
    let mut row = Row::new(spec.scenario, spec.variant, spec.kind.label())
        .measured(result.runs, calls, &measured, &result.latencies_ms)
        .param("hosts", spec.hosts)
        .param("concurrency", concurrency)
        .note(spec.target);
    row.per_call_ms = (calls > 0).then(|| measured.wall.as_secs_f64() * 1000.0 / calls as f64);
    ctx.push(row);
    drop(hosts);
    ctx.release(db).await;
    Ok(())
}

/// `throughput`: 200 concurrent runs × 10 echo calls, per backend.
pub async fn throughput(ctx: &mut Ctx) -> anyhow::Result<()> {
    for kind in ctx.backends.clone() {
        let spec = LoadSpec {
            scenario: "throughput",
            variant: format!("{} x {STEPS} calls", ctx.load_concurrency()),
            kind,
            hosts: 1,
            task: "echo-steps",
            code: ECHO_STEPS_TASK,
            input: json!({ "steps": STEPS }),
            target: "target: >= 7000 calls/s on SQLite",
        };
        load_row(ctx, spec).await?;
    }
    Ok(())
}

/// `http-step`: like throughput, each call a POST to the loopback echo server.
pub async fn http_step(ctx: &mut Ctx) -> anyhow::Result<()> {
    let server = EchoServer::start().await?;
    for kind in ctx.backends.clone() {
        let spec = LoadSpec {
            scenario: "http-step",
            variant: format!("{} x {STEPS} POSTs", ctx.load_concurrency()),
            kind,
            hosts: 1,
            task: "http-steps",
            code: HTTP_STEPS_TASK,
            input: json!({ "steps": STEPS, "url": server.url() }),
            target: "target: >= 5000 calls/s on SQLite",
        };
        load_row(ctx, spec).await?;
    }
    Ok(())
}

/// `multi-host`: throughput with 1, 2 and 3 hosts on one PostgreSQL database.
pub async fn multi_host(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !ctx.has_postgres() {
        println!("(multi-host skipped: it needs the postgres backend)");
        return Ok(());
    }
    let counts: &[usize] = if ctx.quick { &[1, 2] } else { &[1, 2, 3] };
    for &hosts in counts {
        let spec = LoadSpec {
            scenario: "multi-host",
            variant: format!("{hosts} host{}", if hosts == 1 { "" } else { "s" }),
            kind: DbKind::Postgres,
            hosts,
            task: "echo-steps",
            code: ECHO_STEPS_TASK,
            input: json!({ "steps": STEPS }),
            target: "all hosts share the same 2 cores",
        };
        load_row(ctx, spec).await?;
    }
    Ok(())
}
