//! `plugin-call`: direct calls of echo-service.echo with no task and no database: in-process
//! through a registry the bench assembles in its own process (the path every durable call
//! takes once claimed: validation, concurrency limit, blocking thread, ABI), and over the
//! service's HTTP port of a host process. Sequential latency and 16-way concurrent rate.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tasker_plugin_api::CallContext;

use super::Ctx;
use super::driver::data;
use super::host::HostOptions;
use super::measure::{Measured, Probe};
use super::proc::{sample, ticks_to_seconds};
use super::report::Row;
use crate::registry::Registry;
use crate::services::assemble::{Sources, assemble};

/// Callers at once in the concurrent rows.
const CONCURRENCY: usize = 16;

/// Measures both paths.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let (in_process, over_http) = if ctx.quick {
        (2_000, 500)
    } else {
        (50_000, 10_000)
    };
    in_process_rows(ctx, in_process).await?;
    http_rows(ctx, over_http).await
}

async fn in_process_rows(ctx: &mut Ctx, calls: usize) -> anyhow::Result<()> {
    let registry = in_process_registry(ctx).await?;
    for concurrency in [1, CONCURRENCY] {
        let call = {
            let registry = registry.clone();
            move |i: usize| {
                let registry = registry.clone();
                async move {
                    registry
                        .call(
                            "echo-service",
                            "echo",
                            json!({ "i": i }),
                            CallContext::default(),
                        )
                        .await
                        .map_err(|e| anyhow::anyhow!("in-process call failed: {e}"))
                }
            }
        };
        call(0).await?; // warm-up
        let me = std::process::id();
        let before = sample(me).unwrap_or_default();
        let (latencies, wall) = drive(calls, concurrency, call).await?;
        let after = sample(me).unwrap_or_default();
        let measured = Measured {
            wall,
            cpu_secs: Some(ticks_to_seconds(
                after.cpu_ticks.saturating_sub(before.cpu_ticks),
            )),
            ..Measured::default()
        };
        push_row(ctx, "in-process", concurrency, calls, &measured, &latencies);
    }
    for service in registry.services() {
        service.shutdown().await;
    }
    Ok(())
}

/// A registry holding only the staged echo-service, in this process.
async fn in_process_registry(ctx: &Ctx) -> anyhow::Result<Arc<Registry>> {
    let discovery = crate::plugins::loader::discover(ctx.plugins())?;
    anyhow::ensure!(
        !discovery.plugins.is_empty(),
        "echo-service did not load in-process: {:?}",
        discovery.skipped
    );
    let slot = Arc::new(OnceLock::new());
    let sources = Sources {
        plugins: discovery.plugins,
        core: Vec::new(),
        remotes: Vec::new(),
        selection: None,
        plugin_config: BTreeMap::new(),
        default_concurrency: 256,
        call_timeout: Duration::from_secs(30),
        service_timeouts: HashMap::new(),
        host_facts: json!({ "version": env!("CARGO_PKG_VERSION") }),
        isolate_plugins: false,
        max_result_bytes: 16 << 20,
        max_stuck_calls: 4,
    };
    let registry = Arc::new(Registry::new(assemble(sources, slot.clone()).await?));
    let _ = slot.set(Arc::downgrade(&registry));
    Ok(registry)
}

async fn http_rows(ctx: &mut Ctx, calls: usize) -> anyhow::Result<()> {
    let db = ctx.database(super::database::DbKind::Sqlite).await?;
    let host = ctx.start_host(db.url(), &HostOptions::default()).await?;
    let url = format!("{}/echo", host.service_url("echo-service")?);
    for concurrency in [1, CONCURRENCY] {
        let call = {
            let (client, url) = (ctx.client.clone(), url.clone());
            move |i: usize| {
                let request = client.post(&url).json(&json!({ "i": i }));
                async move { data(request).await.context("HTTP plugin call") }
            }
        };
        call(0).await?; // warm-up
        let probe = Probe::start(&[&host], None).await;
        let (latencies, _) = drive(calls, concurrency, call).await?;
        let measured = probe.finish(&[&host], None).await;
        push_row(ctx, "HTTP port", concurrency, calls, &measured, &latencies);
    }
    drop(host);
    ctx.release(db).await;
    Ok(())
}

fn push_row(
    ctx: &mut Ctx,
    path: &str,
    concurrency: usize,
    calls: usize,
    measured: &Measured,
    latencies: &[f64],
) {
    let variant = if concurrency == 1 {
        format!("{path} seq")
    } else {
        format!("{path} x{concurrency}")
    };
    let mut row = Row::new("plugin-call", variant, "-")
        .measured(calls as u64, calls as u64, measured, latencies)
        .param("path", path)
        .param("concurrency", concurrency)
        .note(if path == "in-process" {
            "CPU is the bench process's own"
        } else {
            ""
        });
    row.runs_per_sec = None;
    row.per_call_ms = Some(measured.wall.as_secs_f64() * 1000.0 / calls.max(1) as f64);
    ctx.push(row);
}

/// Makes `calls` calls with `concurrency` callers; returns each call's time (ms) and the wall time.
async fn drive<F, Fut>(
    calls: usize,
    concurrency: usize,
    call: F,
) -> anyhow::Result<(Vec<f64>, Duration)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<serde_json::Value>> + Send,
{
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let call = call.clone();
        callers.spawn(async move {
            let mut latencies = Vec::new();
            for i in (worker..calls).step_by(concurrency) {
                let t = Instant::now();
                call(i).await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::with_capacity(calls);
    while let Some(joined) = callers.join_next().await {
        all.extend(joined.context("a caller panicked")??);
    }
    Ok((all, started.elapsed()))
}
