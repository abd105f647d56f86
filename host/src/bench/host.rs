//! One bench host: this very binary (`current_exe`) started as a child process on free
//! loopback ports with the staged plugin directory and a given database, plus its
//! service URLs read from the registry file it writes when ready. The child's environment
//! is scrubbed of `TASKER_*` settings so the user's shell cannot skew a measurement.
//! Dropping a [`BenchHost`] kills the process; it never signals anything it did not start.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use serde_json::Value;

use crate::config::SandboxMode;

/// How long a host may take to become ready (a debug build on a busy 2-core machine).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Settings that differ between bench hosts (everything else is the host's default).
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// `--replay-only`: no live-context cache.
    pub replay_only: bool,
    /// `--max-live-tasks N`.
    pub max_live_tasks: Option<usize>,
    /// `--workers N`: host calls executing at once.
    pub workers: Option<usize>,
    /// `--lease-secs N`.
    pub lease_secs: Option<u64>,
    /// `--call-timeout-secs N`.
    pub call_timeout_secs: Option<u64>,
    /// `--sandbox MODE` (None: the host's default).
    pub sandbox: Option<SandboxMode>,
}

impl HostOptions {
    fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.replay_only {
            args.push("--replay-only".to_owned());
        }
        if let Some(name) = self
            .sandbox
            .and_then(|mode| mode.to_possible_value())
            .map(|value| value.get_name().to_owned())
        {
            args.push("--sandbox".to_owned());
            args.push(name);
        }
        let numbers = [
            ("--max-live-tasks", self.max_live_tasks.map(|n| n as u64)),
            ("--workers", self.workers.map(|n| n as u64)),
            ("--lease-secs", self.lease_secs),
            ("--call-timeout-secs", self.call_timeout_secs),
        ];
        for (flag, value) in numbers {
            if let Some(value) = value {
                args.push(flag.to_owned());
                args.push(value.to_string());
            }
        }
        args
    }
}

/// A running host process.
#[derive(Debug)]
pub struct BenchHost {
    child: Child,
    dir: tempfile::TempDir,
    services: HashMap<String, String>,
}

impl BenchHost {
    /// Starts a host serving the plugins in `plugins` on `database_url` and waits until it
    /// has written its registry file (all listeners bound, database migrated).
    pub async fn start(
        plugins: &Path,
        database_url: &str,
        options: &HostOptions,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tasker-bench-host-")
            .tempdir()?;
        let registry = dir.path().join("registry.json");
        let log = dir.path().join("host.log");
        let mut command = Command::new(std::env::current_exe()?);
        for (name, _) in std::env::vars_os() {
            let scrub = name.to_str().is_some_and(|n| {
                n.starts_with("TASKER_") || ["DATABASE_URL", "PORT", "RUST_LOG"].contains(&n)
            });
            if scrub {
                command.env_remove(&name);
            }
        }
        command
            .args(["--port", "0", "--plugins"])
            .arg(plugins)
            .arg("--registry-file")
            .arg(&registry)
            .args(["--database-url", database_url])
            // The bench is the hosts' only client and measures the engine, not the
            // per-client admission limit (its default would answer 429 while parking).
            .args(["--submit-rate-per-sec", "0"])
            .args(options.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(&log).context("creating the host log")?,
            ));
        let child = command.spawn().context("starting a bench host")?;
        let mut host = Self {
            child,
            dir,
            services: HashMap::new(),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while !registry.exists() {
            if let Some(status) = host.child.try_wait()? {
                bail!("the bench host exited with {status}:\n{}", host.log_tail());
            }
            if Instant::now() > deadline {
                bail!("the bench host did not become ready:\n{}", host.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&registry)?)
            .context("reading the host's registry file")?;
        for service in doc["services"].as_array().into_iter().flatten() {
            if let (Some(name), Some(url)) = (service["name"].as_str(), service["url"].as_str()) {
                host.services.insert(name.to_owned(), url.to_owned());
            }
        }
        Ok(host)
    }

    /// The process id (for `/proc` readings and SIGKILL).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Base URL of one of its services (e.g. `task-executor`, `echo-service`).
    pub fn service_url(&self, name: &str) -> anyhow::Result<&str> {
        self.services
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("the bench host serves no '{name}'"))
    }

    /// SIGKILL (no graceful drain: the crash the recovery bench simulates), then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The end of the host's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for BenchHost {
    fn drop(&mut self) {
        self.kill();
    }
}
