//! `tasker-host bench`: the benchmark suite of issue 7. It starts real host processes
//! (this binary) with the bundled `echo-service` plugin on throw-away SQLite files and
//! PostgreSQL databases, drives them over HTTP like a user would, and prints one table row
//! per workload variant (throughput, latency percentiles, per-call time, peak memory, CPU
//! per durable call, database growth), optionally as JSON and as an SVG chart.
//! BENCHMARKS.md describes every scenario. Never used by the server or by tests' hosts.

mod calls;
mod database;
mod driver;
mod echo_server;
mod host;
mod load;
mod measure;
mod memory;
mod plugin_call;
mod proc;
mod recovery;
mod report;
mod stats;
mod svg;
mod tree;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::config::{SandboxMode, ServeArgs};
use database::{BenchDb, DbKind};
use report::Row;

/// Which backends to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    /// A fresh SQLite file per host.
    Sqlite,
    /// A fresh PostgreSQL database per host (on `--database-url`, or a throw-away cluster).
    Postgres,
    /// Both.
    Both,
}

/// The workloads (issue 7, plus the multi-host rows of issue 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// One task doing n sequential echo calls, live cache vs replay-only.
    CallsN,
    /// 200 concurrent runs of a 10-call task.
    Throughput,
    /// Promise.all of 100 × echo-service.sleep({ms: 50}).
    Fanout,
    /// 0-call and 1-call tasks submitted one at a time.
    SubmitLatency,
    /// Like throughput, each call POSTing to a loopback echo HTTP server.
    HttpStep,
    /// Direct plugin calls: in-process through the registry vs over the HTTP port.
    PluginCall,
    /// Host memory per suspended run, live cache full vs evicted.
    SuspendedMemory,
    /// PostgreSQL: SIGKILL a host holding a call; time until another host takes it over.
    Recovery,
    /// PostgreSQL: throughput with 1, 2 and 3 hosts on one database.
    MultiHost,
    /// Every scenario above.
    All,
}

impl Scenario {
    /// Every scenario in the order `all` runs them (cheap ones first).
    const ORDER: [Scenario; 9] = [
        Scenario::PluginCall,
        Scenario::SubmitLatency,
        Scenario::CallsN,
        Scenario::Fanout,
        Scenario::Throughput,
        Scenario::HttpStep,
        Scenario::MultiHost,
        Scenario::SuspendedMemory,
        Scenario::Recovery,
    ];

    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// Options of `tasker-host bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Scenarios to run (comma-separated), or `all`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<Scenario>,
    /// PostgreSQL server to create the bench databases on (default: a throw-away local cluster).
    #[arg(long, alias = "postgres-url", env = "TASKER_BENCH_POSTGRES_URL")]
    pub database_url: Option<String>,
    /// Backends to measure.
    #[arg(long, value_enum, default_value_t = BenchBackend::Both)]
    pub backend: BenchBackend,
    /// Seconds each throughput-style row keeps load on (default 10, or 1 with --quick).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Write the rows (and the machine) as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the chart (per-call latency vs n, throughput per backend) to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Small sizes and short durations: a smoke run of every scenario in under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Directory holding the echo-service plugin file (default: next to this binary, else ./plugins).
    #[arg(long, env = "TASKER_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// Calls per task for calls-n (default 1,10,100,1000, or 1,10 with --quick).
    #[arg(long, value_delimiter = ',')]
    pub ns: Option<Vec<u32>>,
    /// Runs parked by suspended-memory (default 10000, or 150 with --quick).
    #[arg(long)]
    pub suspended_runs: Option<usize>,
    /// Where the bench hosts run task code (`--sandbox` of the host; default: the host's default).
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxMode>,
}

/// What every scenario needs: sizes, the staged plugins, the HTTP client, databases.
pub struct Ctx {
    /// Small sizes.
    pub quick: bool,
    /// Load time of throughput-style rows.
    pub duration: Duration,
    /// Backends to measure.
    pub backends: Vec<DbKind>,
    /// calls-n sizes.
    pub ns: Vec<u32>,
    /// suspended-memory size.
    pub suspended_runs: usize,
    /// The HTTP client every driver shares.
    pub client: reqwest::Client,
    /// `--sandbox` passed to every host (None: the host's default).
    pub sandbox: Option<SandboxMode>,
    plugins: tempfile::TempDir,
    postgres_server: Option<String>,
    rows: Vec<Row>,
}

impl Ctx {
    /// The staged plugin directory (echo-service only).
    pub fn plugins(&self) -> &Path {
        self.plugins.path()
    }

    /// A fresh database on `kind`.
    pub async fn database(&mut self, kind: DbKind) -> anyhow::Result<BenchDb> {
        match kind {
            DbKind::Sqlite => BenchDb::sqlite(),
            DbKind::Postgres => BenchDb::postgres(&self.postgres_server()?).await,
        }
    }

    /// Drops a database once its hosts are gone.
    pub async fn release(&mut self, db: BenchDb) {
        // A SQLite file goes with its directory; asking for the server here would start a
        // throw-away PostgreSQL cluster for a SQLite-only run.
        if db.is_postgres()
            && let Ok(server) = self.postgres_server()
        {
            db.drop_postgres(&server).await;
        }
    }

    /// True when PostgreSQL is among the backends.
    pub fn has_postgres(&self) -> bool {
        self.backends.contains(&DbKind::Postgres)
    }

    fn postgres_server(&mut self) -> anyhow::Result<String> {
        if let Some(server) = &self.postgres_server {
            return Ok(server.clone());
        }
        let server = tasker_store::testing::postgres::server_url()
            .map_err(|e| anyhow::anyhow!("starting a throw-away PostgreSQL for the bench: {e}"))?;
        self.postgres_server = Some(server.clone());
        Ok(server)
    }

    /// Prints a row and keeps it for the JSON and the chart.
    pub fn push(&mut self, row: Row) {
        println!("{}", report::line(&row));
        self.rows.push(row);
    }
}

/// Runs the selected scenarios, printing rows as they are measured; writes `--json` and
/// `--svg`; fails (after writing them) when any scenario failed.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut ctx = context(args)?;
    let scenarios: Vec<Scenario> = if args.scenario.contains(&Scenario::All) {
        Scenario::ORDER.to_vec()
    } else {
        Scenario::ORDER
            .into_iter()
            .filter(|s| args.scenario.contains(s))
            .collect()
    };
    let machine = report::machine();
    let sandbox = sandbox_label(ctx.sandbox);
    println!(
        "tasker-host bench ({} build, {} cores, {}, sandbox: {sandbox}){}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        machine["cores"],
        machine["cpu"].as_str().unwrap_or("?"),
        if ctx.quick { ", quick" } else { "" }
    );
    println!("{}", report::header());
    let mut failures = Vec::new();
    for scenario in scenarios {
        let result = match scenario {
            Scenario::CallsN => calls::calls_n(&mut ctx).await,
            Scenario::SubmitLatency => calls::submit_latency(&mut ctx).await,
            Scenario::Fanout => calls::fanout(&mut ctx).await,
            Scenario::Throughput => load::throughput(&mut ctx).await,
            Scenario::HttpStep => load::http_step(&mut ctx).await,
            Scenario::MultiHost => load::multi_host(&mut ctx).await,
            Scenario::PluginCall => plugin_call::run(&mut ctx).await,
            Scenario::SuspendedMemory => memory::run(&mut ctx).await,
            Scenario::Recovery => recovery::run(&mut ctx).await,
            Scenario::All => Ok(()),
        };
        if let Err(error) = result {
            let message = format!("{}: {error:#}", scenario.name());
            println!("FAILED {message}");
            failures.push(message);
        }
    }
    let options = json!({
        "quick": ctx.quick,
        "durationSecs": ctx.duration.as_secs_f64(),
        "backends": ctx.backends.iter().map(|b| b.label()).collect::<Vec<_>>(),
        "ns": ctx.ns,
        "suspendedRuns": ctx.suspended_runs,
        "sandbox": sandbox,
        "elapsedSecs": started.elapsed().as_secs_f64(),
    });
    if let Some(path) = &args.json {
        let doc = report::document(&ctx.rows, options, &failures);
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg::chart(&ctx.rows))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "{} rows in {:.0} s",
        ctx.rows.len(),
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// The sandbox mode the hosts run: the one asked for, else the host's `--sandbox` default
/// (read from its argument definition, so the label follows a changed default).
fn sandbox_label(mode: Option<SandboxMode>) -> String {
    use clap::{Args as _, ValueEnum as _};
    match mode.and_then(|m| m.to_possible_value()) {
        Some(value) => value.get_name().to_owned(),
        None => ServeArgs::augment_args(clap::Command::new("serve"))
            .get_arguments()
            .find(|arg| arg.get_id() == "sandbox")
            .and_then(|arg| arg.get_default_values().first().cloned())
            .map(|value| format!("{} (host default)", value.to_string_lossy()))
            .unwrap_or_else(|| "host default".to_owned()),
    }
}

fn context(args: &BenchArgs) -> anyhow::Result<Ctx> {
    let quick = args.quick;
    let backends = match args.backend {
        BenchBackend::Sqlite => vec![DbKind::Sqlite],
        BenchBackend::Postgres => vec![DbKind::Postgres],
        BenchBackend::Both => vec![DbKind::Sqlite, DbKind::Postgres],
    };
    let duration = args.duration.unwrap_or(if quick { 1.0 } else { 10.0 });
    anyhow::ensure!(
        duration.is_finite() && duration > 0.0,
        "--duration must be a positive number of seconds"
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .pool_max_idle_per_host(1024)
        .build()?;
    Ok(Ctx {
        quick,
        duration: Duration::from_secs_f64(duration),
        backends,
        ns: args.ns.clone().unwrap_or_else(|| {
            if quick {
                vec![1, 10]
            } else {
                vec![1, 10, 100, 1000]
            }
        }),
        suspended_runs: args
            .suspended_runs
            .unwrap_or(if quick { 150 } else { 10_000 })
            .max(1),
        client,
        sandbox: args.sandbox,
        plugins: stage_plugins(args.plugins.as_deref())?,
        postgres_server: args.database_url.clone(),
        rows: Vec::new(),
    })
}

/// Copies the echo-service plugin into a fresh directory, so bench hosts load it alone.
fn stage_plugins(dir: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let file_name = crate::scaffold::library_file_name("echo-service");
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let candidates: Vec<PathBuf> = match dir {
        Some(dir) => vec![dir.join(&file_name)],
        None => vec![
            exe_dir.join(&file_name),
            PathBuf::from("plugins").join(&file_name),
        ],
    };
    let source = candidates.iter().find(|p| p.is_file()).with_context(|| {
        format!(
            "no echo-service plugin found (looked for {}); build it (cargo build -p echo-service) or pass --plugins DIR",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let staged = tempfile::Builder::new()
        .prefix("tasker-bench-plugins-")
        .tempdir()?;
    std::fs::copy(source, staged.path().join(&file_name))
        .with_context(|| format!("staging {}", source.display()))?;
    Ok(staged)
}

impl Ctx {
    /// A fresh database on `kind` with one host on it, and that host's task API.
    pub async fn host_on(
        &mut self,
        kind: DbKind,
        options: &host::HostOptions,
    ) -> anyhow::Result<(BenchDb, host::BenchHost, driver::TaskApi)> {
        let db = self.database(kind).await?;
        let host = self.start_host(db.url(), options).await?;
        let api = self.api(&host)?;
        Ok((db, host, api))
    }

    /// A host on `database_url` with the staged plugins, `options` and this run's
    /// `--sandbox` mode (unless `options` names one).
    pub async fn start_host(
        &self,
        database_url: &str,
        options: &host::HostOptions,
    ) -> anyhow::Result<host::BenchHost> {
        let options = host::HostOptions {
            sandbox: options.sandbox.or(self.sandbox),
            ..options.clone()
        };
        host::BenchHost::start(self.plugins(), database_url, &options).await
    }

    /// The task API of `host` with this run's wait limit.
    pub fn api(&self, host: &host::BenchHost) -> anyhow::Result<driver::TaskApi> {
        // Generous for a healthy run (the slowest, replay-only n=1000, takes ~30 s), short
        // enough that a stuck run fails its row in minutes, not the host's 300 s long-poll.
        let wait_secs = if self.quick { 60 } else { 120 };
        driver::TaskApi::of(host, &self.client, wait_secs)
    }

    /// Runs kept in flight by the load scenarios (fewer with --quick: a debug build on a
    /// shared machine would take seconds per run at 200).
    pub fn load_concurrency(&self) -> usize {
        if self.quick { 20 } else { 200 }
    }
}
