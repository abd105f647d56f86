//! `suspended-memory`: parks many runs on a host call that does not complete (an
//! echo-service sleep of ten minutes with `--workers 1`, so one call runs and the rest
//! wait in the queue) and reports the resident memory of the host's process tree (host +
//! sandbox worker children, where live contexts live in `workers` mode) per suspended run,
//! once with a live cache large enough for all of them and once with a cache of one
//! (every run evicted to the journal). The host is killed afterwards; nothing waits for
//! the sleeps.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::Ctx;
use super::driver::{TaskApi, sequential, wait_until};
use super::host::HostOptions;
use super::measure::Probe;
use super::report::Row;
use super::tree::sample_tree;

const PARK_TASK: &str = r#"module.exports = async function({ i, ms }) {
  await __callHostTool__("echo-service", "sleep", { ms });
  return { i };
};"#;

const WARM_TASK: &str = r#"module.exports = async function(input) {
  return await __callHostTool__("echo-service", "echo", { warm: true });
};"#;

/// Submitters at once while parking.
const SUBMITTERS: usize = 16;
/// The parked call: the manifest's longest sleep.
const PARK_MS: u64 = 600_000;

/// Both variants on every backend.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let runs = ctx.suspended_runs;
    for kind in ctx.backends.clone() {
        for (variant, max_live) in [("live cache full", runs * 2 + 100), ("evicted", 1)] {
            let options = HostOptions {
                workers: Some(1),
                max_live_tasks: Some(max_live),
                call_timeout_secs: Some(7200),
                ..HostOptions::default()
            };
            let (db, host, api) = ctx.host_on(kind, &options).await?;
            api.register("park", PARK_TASK).await?;
            api.register("warm", WARM_TASK).await?;
            sequential(&api, "warm", &json!({}), 20).await?;
            let base = sample_tree(host.pid()).context("reading the host's memory")?;
            let probe = Probe::start(&[&host], Some(&db)).await;
            park(&api, runs).await?;
            let parked = sample_tree(host.pid()).context("reading the host's memory")?;
            let measured = probe.finish(&[&host], Some(&db)).await;
            let per_run_kib = (parked.rss_kb as f64 - base.rss_kb as f64) / runs as f64;
            let mut row = Row::new("suspended-memory", variant, kind.label())
                .measured(runs as u64, runs as u64, &measured, &[])
                .param("runs", runs)
                .param("maxLiveTasks", max_live)
                .param("baseRssKib", base.rss_kb)
                .param("parkedRssKib", parked.rss_kb)
                .param("treeProcesses", parked.processes)
                .param("perSuspendedRunKib", per_run_kib)
                .note(format!(
                    "{per_run_kib:.1} KiB tree RSS per suspended run ({runs} runs, {} processes; target: < 100 KB evicted)",
                    parked.processes
                ));
            row.calls_per_sec = None;
            row.cpu_us_per_call = None;
            ctx.push(row);
            drop(host);
            ctx.release(db).await;
        }
    }
    Ok(())
}

/// Submits `runs` parked runs and waits until every one is suspended on its call.
async fn park(api: &TaskApi, runs: usize) -> anyhow::Result<()> {
    let mut submitters = tokio::task::JoinSet::new();
    for worker in 0..SUBMITTERS {
        let api = api.clone();
        submitters.spawn(async move {
            for i in (worker..runs).step_by(SUBMITTERS) {
                api.submit("park", &json!({ "i": i, "ms": PARK_MS }))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = submitters.join_next().await {
        joined.context("a submitter panicked")??;
    }
    let started = Instant::now();
    let timeout = Duration::from_secs(120) + Duration::from_millis(runs as u64 * 20);
    wait_until(
        "every parked run to suspend",
        timeout,
        Duration::from_millis(200),
        || async { Ok(api.runs_with_status("suspended").await? >= runs as i64) },
    )
    .await
    .with_context(|| format!("after {:?}", started.elapsed()))
}
