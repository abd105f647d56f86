//! [`TestHost`]: one running `tasker-host` process with its own temporary directory
//! (plugin dir, registry file, SQLite database, captured output) on free loopback ports.
//! It starts, waits for readiness by polling, stops with SIGTERM and kills on drop; it
//! never shares a directory or a port between tests.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tempfile::TempDir;

use crate::{Endpoint, Logs, Registry, Reply, artifacts};

/// How long a host may take to become ready (debug build, busy 2-core machine).
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a host may take to exit after SIGTERM or after a failed start.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between polls of a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Set to keep each test's temporary directory for inspection.
const KEEP_DIR_ENV: &str = "TASKER_E2E_KEEP";
/// Environment the host (or its HTTP client) would read that must not leak in from the
/// developer's shell; every `TASKER_*` variable is removed as well.
const SCRUBBED_ENV: &[&str] = &[
    "PORT",
    "RUST_LOG",
    "DATABASE_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];
/// Prefix of the host's own environment variables.
const HOST_ENV_PREFIX: &str = "TASKER_";

/// One file to put in the host's plugin directory.
#[derive(Debug, Clone)]
enum PluginSource {
    /// A copy of an existing file (a built plugin).
    Copy { from: PathBuf, file_name: String },
    /// A workspace plugin crate, resolved to its built `.so` at start.
    Crate {
        crate_name: String,
        file_name: String,
    },
    /// Literal bytes (corrupt files, stray non-library files).
    Bytes { file_name: String, bytes: Vec<u8> },
}

/// Configures and starts a [`TestHost`].
#[derive(Debug, Clone)]
pub struct TestHostBuilder {
    sources: Vec<PluginSource>,
    args: Vec<String>,
    ready_timeout: Duration,
    database_url: Option<String>,
    env: Vec<(String, String)>,
}

/// What a host that refused to start left behind.
#[derive(Debug)]
pub struct StartFailure {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Everything it wrote to stdout.
    pub stdout: String,
}

/// A running host. Dropping it kills the process.
#[derive(Debug)]
pub struct TestHost {
    child: Option<Child>,
    /// Held only so the directory lives (and is removed) with the host; None when kept.
    _dir: Option<TempDir>,
    root: PathBuf,
    plugin_dir: PathBuf,
    registry: Registry,
    logs: Logs,
}

impl Default for TestHostBuilder {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            args: Vec::new(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            database_url: None,
            env: Vec::new(),
        }
    }
}

impl TestHostBuilder {
    /// Copies the built plugins of these crates (`echo_service` or `echo-service`) under
    /// their usual file names.
    pub fn plugins(mut self, crate_names: &[&str]) -> Self {
        for name in crate_names {
            let file_name = artifacts::plugin_file_name(name);
            self.sources.push(PluginSource::Crate {
                crate_name: (*name).to_owned(),
                file_name,
            });
        }
        self
    }

    /// Copies one crate's built plugin under another file name (e.g. to duplicate it).
    pub fn plugin_as(mut self, crate_name: &str, file_name: &str) -> Self {
        self.sources.push(PluginSource::Crate {
            crate_name: crate_name.to_owned(),
            file_name: file_name.to_owned(),
        });
        self
    }

    /// Copies an arbitrary file (e.g. a scaffolded plugin) into the plugin directory.
    pub fn plugin_path(mut self, from: &Path) -> Self {
        let file_name = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.sources.push(PluginSource::Copy {
            from: from.to_path_buf(),
            file_name,
        });
        self
    }

    /// Writes literal bytes into the plugin directory under `file_name`.
    pub fn plugin_bytes(mut self, file_name: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.sources.push(PluginSource::Bytes {
            file_name: file_name.to_owned(),
            bytes: bytes.into(),
        });
        self
    }

    /// Extra command-line arguments, after the harness's own
    /// (`--plugins`, `--registry-file`, `--database-url`, and `--port 0` unless given here).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Uses this database instead of a fresh SQLite file in the host's temp dir (to share
    /// one database between hosts, or across a restart, or to use PostgreSQL).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// Sets an environment variable for the host process (after scrubbing the inherited
    /// `TASKER_*` and similar variables).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// How long to wait for readiness.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the host and waits until its registry file exists and the gateway's
    /// `/health` answers 200.
    pub fn start(self) -> crate::Result<TestHost> {
        let ready_timeout = self.ready_timeout;
        let mut host = self.spawn()?;
        host.wait_ready(ready_timeout)?;
        Ok(host)
    }

    /// Starts a host that is expected to refuse to start: waits for it to exit with a
    /// non-zero status and returns what it printed.
    pub fn start_expect_failure(self) -> crate::Result<StartFailure> {
        let mut host = self.spawn()?;
        let status = match host.wait_exit(EXIT_TIMEOUT) {
            Ok(status) => status,
            Err(e) => bail!("expected tasker-host to fail at start-up, but it kept running: {e}"),
        };
        let failure = StartFailure {
            status,
            code: status.code(),
            stderr: host.logs.stderr_text(),
            stdout: std::fs::read_to_string(&host.logs.stdout).unwrap_or_default(),
        };
        if status.success() {
            bail!(
                "expected tasker-host to fail at start-up, but it exited 0; output:\n{}",
                host.logs.text()
            );
        }
        Ok(failure)
    }

    fn spawn(self) -> crate::Result<TestHost> {
        let binary = artifacts::host_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("tasker-e2e-")
            .tempdir()
            .context("creating the temp dir")?;
        let root = dir.path().to_path_buf();
        let plugin_dir = root.join("plugins");
        std::fs::create_dir(&plugin_dir).context("creating the plugin dir")?;
        for source in &self.sources {
            place(source, &plugin_dir)?;
        }
        let logs = Logs {
            stdout: root.join("host.stdout.log"),
            stderr: root.join("host.stderr.log"),
        };
        let registry_file = root.join("registry.json");
        let mut args: Vec<String> = vec![
            "--plugins".into(),
            plugin_dir.display().to_string(),
            "--registry-file".into(),
            registry_file.display().to_string(),
            "--database-url".into(),
            self.database_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", root.join("tasker.db").display())),
        ];
        if !self
            .args
            .iter()
            .any(|a| a == "--port" || a.starts_with("--port="))
        {
            args.extend(["--port".into(), "0".into()]);
        }
        args.extend(self.args.iter().cloned());

        let mut command = Command::new(&binary);
        command
            .args(&args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                File::create(&logs.stdout).context("creating the stdout log")?,
            ))
            .stderr(Stdio::from(
                File::create(&logs.stderr).context("creating the stderr log")?,
            ))
            .env("NO_COLOR", "1");
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with(HOST_ENV_PREFIX) {
                command.env_remove(name);
            }
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("spawning {} {args:?}", binary.display()))?;
        let dir = if std::env::var_os(KEEP_DIR_ENV).is_some() {
            eprintln!("tasker-e2e: keeping {}", root.display());
            let _kept = dir.keep();
            None
        } else {
            Some(dir)
        };
        // Replaced by the real registry once the host is ready.
        let registry = Registry {
            timestamp: String::new(),
            gateway: Endpoint {
                port: 0,
                url: String::new(),
            },
            services: Vec::new(),
            raw: Value::Null,
        };
        Ok(TestHost {
            child: Some(child),
            _dir: dir,
            root,
            plugin_dir,
            registry,
            logs,
        })
    }
}

fn place(source: &PluginSource, plugin_dir: &Path) -> crate::Result<()> {
    match source {
        PluginSource::Copy { from, file_name } => copy(from, &plugin_dir.join(file_name)),
        PluginSource::Crate {
            crate_name,
            file_name,
        } => copy(
            &artifacts::plugin_file(crate_name)?,
            &plugin_dir.join(file_name),
        ),
        PluginSource::Bytes { file_name, bytes } => {
            std::fs::write(plugin_dir.join(file_name), bytes)
                .with_context(|| format!("writing {file_name} into the plugin dir"))
        }
    }
}

fn copy(from: &Path, to: &Path) -> crate::Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

impl TestHost {
    /// A builder with no plugins and no extra arguments.
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder::default()
    }

    /// The gateway's base URL (`http://127.0.0.1:<port>`).
    pub fn gateway_url(&self) -> &str {
        &self.registry.gateway.url
    }

    /// A service's base URL on its own port (name or alias), from the registry.
    pub fn service_url(&self, name: &str) -> crate::Result<String> {
        self.registry
            .service(name)
            .map(|s| s.url.trim_end_matches('/').to_owned())
            .with_context(|| {
                format!(
                    "service {name} is not in the registry: {:?}",
                    self.registry.names()
                )
            })
    }

    /// A service's base URL on the gateway (`<gateway>/services/<name>`); not checked.
    pub fn gateway_service_url(&self, name: &str) -> String {
        format!(
            "{}/services/{name}",
            self.gateway_url().trim_end_matches('/')
        )
    }

    /// The registry file as read when the host became ready.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Reads the registry file again.
    pub fn read_registry_file(&self) -> crate::Result<Registry> {
        let text =
            std::fs::read_to_string(self.registry_path()).context("reading the registry file")?;
        Registry::parse(&text)
    }

    /// Where the registry file is.
    pub fn registry_path(&self) -> PathBuf {
        self.root.join("registry.json")
    }

    /// The host's captured output.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// The test's temporary directory (the host's working directory).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The plugin directory given to `--plugins`.
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> crate::Result<Reply> {
        Reply::send(crate::client()?.get(url))
    }

    /// `POST url` with a JSON body.
    pub fn post_json(&self, url: &str, body: &Value) -> crate::Result<Reply> {
        Reply::send(crate::client()?.post(url).json(body))
    }

    /// `POST url` with a raw body sent as `application/json`.
    pub fn post_raw(&self, url: &str, body: &str) -> crate::Result<Reply> {
        Reply::send(
            crate::client()?
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
    }

    /// `GET url` with `Authorization: Bearer <token>`.
    pub fn get_as(&self, token: &str, url: &str) -> crate::Result<Reply> {
        Reply::send(crate::client()?.get(url).bearer_auth(token))
    }

    /// `POST url` with a JSON body and `Authorization: Bearer <token>`.
    pub fn post_json_as(&self, token: &str, url: &str, body: &Value) -> crate::Result<Reply> {
        Reply::send(crate::client()?.post(url).bearer_auth(token).json(body))
    }

    /// `POST <service own url>/` with a request-form body (`{"method": ...}` etc.).
    pub fn call(&self, service: &str, body: &Value) -> crate::Result<Reply> {
        self.post_json(&format!("{}/", self.service_url(service)?), body)
    }

    /// `POST <service own url>/<method>` with the arguments as the body.
    pub fn call_method(&self, service: &str, method: &str, args: &Value) -> crate::Result<Reply> {
        self.post_json(&format!("{}/{method}", self.service_url(service)?), args)
    }

    /// The host's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM (through `kill`, which keeps this crate free of unsafe code).
    pub fn terminate(&self) -> crate::Result<()> {
        let pid = self.pid().context("the host was already stopped")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed: {status}");
        }
        Ok(())
    }

    /// Polls until the process exits; fails (leaving it running) after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> crate::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self
            .child
            .as_mut()
            .context("the host was already stopped")?;
        loop {
            if let Some(status) = child.try_wait().context("waiting for tasker-host")? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "tasker-host did not exit within {timeout:?}; logs:\n{}",
                    self.logs.text()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGKILL: the host dies at once, as in a crash; nothing is drained or released.
    pub fn kill(mut self) -> crate::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing tasker-host")?;
            child.wait().context("reaping tasker-host")?;
        }
        Ok(())
    }

    /// SIGTERM, then waits for the exit status (a host that hangs is killed by Drop).
    pub fn stop(mut self) -> crate::Result<ExitStatus> {
        self.terminate()?;
        self.wait_exit(EXIT_TIMEOUT)
    }

    fn wait_ready(&mut self, timeout: Duration) -> crate::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .context("no child")?
                .try_wait()
                .context("polling tasker-host")?
            {
                self.child = None;
                bail!(
                    "tasker-host exited with {status} before it was ready; logs:\n{}",
                    self.logs.text()
                );
            }
            let problem = match self.probe_ready() {
                Ok(registry) => {
                    self.registry = registry;
                    return Ok(());
                }
                Err(problem) => problem,
            };
            if let Some(malformed) = self.malformed_registry() {
                return Err(malformed);
            }
            if Instant::now() >= deadline {
                bail!(
                    "tasker-host not ready within {timeout:?} ({problem:#}); logs:\n{}",
                    self.logs.text()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn probe_ready(&self) -> crate::Result<Registry> {
        let registry = self.read_registry_file()?;
        let health = Reply::send(crate::client()?.get(format!("{}/health", registry.gateway.url)))?;
        if health.status != 200 {
            bail!(
                "gateway /health answered {}: {}",
                health.status,
                health.text
            );
        }
        Ok(registry)
    }

    /// A registry file that is complete JSON but not of the documented shape will not
    /// get better by waiting (the host writes it atomically): report it at once.
    fn malformed_registry(&self) -> Option<anyhow::Error> {
        let text = std::fs::read_to_string(self.registry_path()).ok()?;
        serde_json::from_str::<Value>(&text).ok()?;
        Registry::parse(&text)
            .err()
            .map(|e| e.context(format!("registry file content: {text}")))
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The temp dir (unless kept) is removed when `self._dir` drops right after this.
    }
}
