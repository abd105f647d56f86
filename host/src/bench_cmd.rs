//! `tasker-host bench`: starts its own host processes (this binary, the bundled
//! `echo-service` plugin, a throw-away database) and measures the durable engine from the
//! outside, over HTTP. Scenario `calls-n`: one task doing n sequential `echo` host calls,
//! n = 1, 10, 100, 1,000, live cache vs replay-only, on SQLite and PostgreSQL, so the growth
//! with n is visible, and SQLite with `--sync full`. Prints a table (and JSON with `--json`). Never used by tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

/// Which backends to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh database on `--postgres-url`, or on a throw-away local cluster.
    Postgres,
    /// Both.
    Both,
}

/// Options of `tasker-host bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Directory with the plugin files (must contain echo-service).
    #[arg(long, env = "TASKER_PLUGINS", default_value = "./plugins")]
    pub plugins: PathBuf,
    /// Backends to measure.
    #[arg(long, value_enum, default_value_t = BenchBackend::Both)]
    pub backend: BenchBackend,
    /// PostgreSQL server to create the bench database on (default: start a local cluster).
    #[arg(long, env = "TASKER_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Calls per task to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    pub ns: Vec<u32>,
    /// Write the rows as JSON to this file too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

const TASK: &str = r#"module.exports = async function({ n }) {
  let sum = 0;
  for (let i = 0; i < n; i++) { const r = await __callHostTool__("echo-service", "echo", { i }); sum += r.i; }
  return { sum };
};"#;

struct HostProcess {
    child: Child,
    tasks_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a bench host runs.
#[derive(Debug, Clone, Copy)]
struct HostMode {
    /// `--replay-only`: no live-context cache.
    replay_only: bool,
    /// `--sync full`: SQLite commits survive power loss.
    sync_full: bool,
}

fn start_host(plugins: &Path, database_url: &str, mode: HostMode) -> anyhow::Result<HostProcess> {
    let dir = tempfile::tempdir()?;
    let registry = dir.path().join("registry.json");
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--port", "0", "--plugins"])
        .arg(plugins)
        .arg("--registry-file")
        .arg(&registry)
        .args(["--database-url", database_url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(
            dir.path().join("host.log"),
        )?));
    if mode.replay_only {
        command.arg("--replay-only");
    }
    if mode.sync_full {
        command.args(["--sync", "full"]);
    }
    let child = command.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !registry.exists() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bench host did not start; see {}",
            dir.path().join("host.log").display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&registry)?)?;
    let tasks_url = doc["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "task-executor"))
        .and_then(|s| s["url"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no task-executor in the registry file"))?
        .to_owned();
    Ok(HostProcess {
        child,
        tasks_url,
        _dir: dir,
    })
}

/// Runs the benchmark and prints the table.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let plugins = std::fs::canonicalize(&args.plugins)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()?;
    let sqlite_dir = tempfile::tempdir()?;
    let backends: Vec<&str> = match args.backend {
        BenchBackend::Sqlite => vec!["sqlite"],
        BenchBackend::Postgres => vec!["postgres"],
        BenchBackend::Both => vec!["sqlite", "postgres"],
    };
    let mut rows = Vec::new();
    println!(
        "{:<9} {:<7} {:>6} {:>11} {:>13} {:>11}",
        "backend", "mode", "n", "total ms", "per call ms", "calls/s"
    );
    for backend in &backends {
        // SQLite also runs with synchronous=FULL (survives power loss), to show its price.
        let modes: &[(&str, bool, bool)] = if *backend == "sqlite" {
            &[
                ("live", false, false),
                ("replay", true, false),
                ("live-full", false, true),
            ]
        } else {
            &[("live", false, false), ("replay", true, false)]
        };
        for &(mode, replay_only, sync_full) in modes {
            let url = match *backend {
                "sqlite" => format!("sqlite://{}/bench-{mode}.db", sqlite_dir.path().display()),
                _ => postgres_database(args.postgres_url.as_deref())?,
            };
            let host = start_host(
                &plugins,
                &url,
                HostMode {
                    replay_only,
                    sync_full,
                },
            )?;
            let register = client
                .post(format!("{}/tasks", host.tasks_url))
                .json(&json!({ "name": "calls-n", "code": TASK }))
                .send()?;
            anyhow::ensure!(
                register.status().is_success(),
                "registering the bench task failed: {}",
                register.text()?
            );
            for &n in &args.ns {
                // Warm up once, then take the best of a few runs (less noise on shared machines).
                let reps = if n >= 1000 { 2 } else { 4 };
                let mut best = f64::MAX;
                for _ in 0..reps {
                    let started = Instant::now();
                    let reply: Value = client
                        .post(format!("{}/execute?wait=900", host.tasks_url))
                        .json(&json!({ "task_identifier": "calls-n", "input": { "n": n } }))
                        .send()?
                        .json()?;
                    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                    anyhow::ensure!(
                        reply["data"]["status"] == "completed",
                        "bench run failed: {reply}"
                    );
                    best = best.min(elapsed);
                }
                let per_call = best / f64::from(n.max(1));
                let row = json!({ "backend": backend, "mode": mode, "n": n, "totalMs": best, "perCallMs": per_call, "callsPerSec": 1000.0 / per_call });
                println!(
                    "{:<9} {:<7} {:>6} {:>11.1} {:>13.3} {:>11.0}",
                    backend,
                    mode,
                    n,
                    best,
                    per_call,
                    1000.0 / per_call
                );
                rows.push(row);
            }
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(())
}

fn postgres_database(server: Option<&str>) -> anyhow::Result<String> {
    if let Some(url) = server {
        return Ok(url.to_owned());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(tasker_store::testing::postgres::create_database())
        .map_err(|e| anyhow::anyhow!("starting a throw-away PostgreSQL for the bench: {e}"))
}
