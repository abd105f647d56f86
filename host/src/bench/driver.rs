//! Drives bench hosts over HTTP the way a user does: registers tasks (`POST /tasks`),
//! submits runs and waits for their results (`POST /execute?wait=S`), reads run status
//! and the queue counts, and keeps a fixed number of runs in flight for a duration (the
//! closed loop that throughput rows use). It measures client-side wall time only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use super::host::BenchHost;

/// The task API of one host.
#[derive(Debug, Clone)]
pub struct TaskApi {
    client: reqwest::Client,
    tasks_url: String,
    queue_url: String,
    wait_secs: u64,
}

impl TaskApi {
    /// The task API of `host`, over `client`; a run not ended after `wait_secs` (at most
    /// the host's long-poll limit of 300 s) fails the measurement.
    pub fn of(host: &BenchHost, client: &reqwest::Client, wait_secs: u64) -> anyhow::Result<Self> {
        Ok(Self {
            client: client.clone(),
            wait_secs,
            tasks_url: host.service_url("task-executor")?.to_owned(),
            queue_url: format!("{}/queue", host.service_url("simple-stack-processor")?),
        })
    }

    /// Registers (or replaces) task `name` with `code`.
    pub async fn register(&self, name: &str, code: &str) -> anyhow::Result<()> {
        let url = format!("{}/tasks", self.tasks_url);
        data(
            self.client
                .post(url)
                .json(&json!({ "name": name, "code": code })),
        )
        .await?;
        Ok(())
    }

    /// Submits a run and waits for its end; fails unless it completed. Returns the run view.
    pub async fn run(&self, name: &str, input: &Value) -> anyhow::Result<Value> {
        let url = format!("{}/execute?wait={}", self.tasks_url, self.wait_secs);
        let body = json!({ "task_identifier": name, "input": input });
        let run = data(self.client.post(url).json(&body)).await?;
        ensure!(
            run["status"] == "completed",
            "run {} of '{name}' is {} after the {} s wait; error: {}",
            run["taskRunId"],
            run["status"],
            self.wait_secs,
            run["error"]
        );
        Ok(run)
    }

    /// Submits a run without waiting; returns its id.
    pub async fn submit(&self, name: &str, input: &Value) -> anyhow::Result<i64> {
        let url = format!("{}/execute", self.tasks_url);
        let body = json!({ "task_identifier": name, "input": input });
        let run = data(self.client.post(url).json(&body)).await?;
        run["taskRunId"]
            .as_i64()
            .with_context(|| format!("no taskRunId in {run}"))
    }

    /// The status of run `id` (`completed`, `suspended`...).
    pub async fn status(&self, id: i64) -> anyhow::Result<String> {
        let url = format!("{}/status?id={id}", self.tasks_url);
        let run = data(self.client.get(url)).await?;
        Ok(run["status"].as_str().unwrap_or_default().to_owned())
    }

    /// How many runs have status `status`, from the queue report.
    pub async fn runs_with_status(&self, status: &str) -> anyhow::Result<i64> {
        let report = data(self.client.post(&self.queue_url).json(&json!({}))).await?;
        Ok(report["runs"][status].as_i64().unwrap_or(0))
    }
}

/// Sends a request and unwraps the `{success, data}` envelope.
pub async fn data(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await.context("HTTP request to the host")?;
    let status = response.status();
    let body: Value = response.json().await.context("reading the host's answer")?;
    if !status.is_success() || body["success"] != true {
        bail!("the host answered HTTP {status}: {body}");
    }
    Ok(body["data"].clone())
}

/// What a closed loop measured.
#[derive(Debug, Default)]
pub struct LoopResult {
    /// Runs completed.
    pub runs: u64,
    /// Submit-to-result time of each run, ms.
    pub latencies_ms: Vec<f64>,
    /// From the first submit until the last run ended.
    pub wall: Duration,
}

/// Keeps `concurrency` runs of `name` in flight (each worker submits the next run as soon
/// as its previous one ends) until `duration` has passed, spreading workers over `apis`.
/// Every worker completes at least one run (so `Duration::ZERO` is one round).
pub async fn closed_loop(
    apis: &[TaskApi],
    name: &str,
    input: &Value,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LoopResult> {
    ensure!(!apis.is_empty(), "no host to drive");
    let started = Instant::now();
    let deadline = started + duration;
    let input = Arc::new(input.clone());
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        let api = apis[i % apis.len()].clone();
        let (name, input) = (name.to_owned(), input.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let submitted = Instant::now();
                api.run(&name, &input).await?;
                latencies.push(submitted.elapsed().as_secs_f64() * 1000.0);
                if Instant::now() >= deadline {
                    break;
                }
            }
            anyhow::Ok(latencies)
        });
    }
    let mut result = LoopResult::default();
    while let Some(joined) = workers.join_next().await {
        let latencies = joined.context("a load worker panicked")??;
        result.runs += latencies.len() as u64;
        result.latencies_ms.extend(latencies);
    }
    result.wall = started.elapsed();
    Ok(result)
}

/// Runs `name` `times` times one after the other; returns each submit-to-result time, ms.
pub async fn sequential(
    api: &TaskApi,
    name: &str,
    input: &Value,
    times: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(times);
    for _ in 0..times {
        let submitted = Instant::now();
        api.run(name, input).await?;
        latencies.push(submitted.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}

/// Polls `condition` every `every` until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut condition: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}
