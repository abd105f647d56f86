//! Command-line and environment configuration for `tasker-host` (clap derive).
//! This is the only module that reads environment variables; everything else receives
//! plain config structs.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tasker-host: serves service plugins over HTTP and runs JavaScript tasks durably.
#[derive(Debug, Parser)]
#[command(name = "tasker-host", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a subcommand the host is started.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for starting the host.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a new plugin crate that builds with `cargo build` and loads in the host.
    New(NewArgs),
    /// Write (or check) the OpenAPI documents of every plugin in a directory.
    Openapi(OpenapiArgs),
    /// Run one task file against the local database and plugins, streaming its progress.
    Run(crate::run_cmd::RunArgs),
    /// Upload every `*.js` in a folder to a running host's task API.
    Publish(crate::publish_cmd::PublishArgs),
    /// Keystore master-key management (`keys rotate`).
    Keys(KeysArgs),
    /// Measure the durable engine (starts its own hosts; prints a table).
    Bench(crate::bench::BenchArgs),
    /// Hosts sharing the database: `cluster status`.
    Cluster(crate::cluster_cmd::ClusterArgs),
    /// Serve one plugin file over stdin/stdout for a host started with `--isolate-plugins`.
    #[command(hide = true)]
    PluginWorker(crate::plugins::worker::PluginWorkerArgs),
    /// Internal: serve task segments for a host over stdin/stdout (started by the host itself).
    #[command(hide = true)]
    Worker,
}

/// Options of `tasker-host new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin (and service) name: lowercase letters, digits and '-'.
    pub name: String,
    /// Which template to start from.
    #[arg(long, default_value = "hello-world")]
    pub template: String,
    /// Parent directory of the new crate.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Path to the tasker-plugin-api crate to depend on (default: the one this host was built from).
    #[arg(long)]
    pub plugin_api: Option<PathBuf>,
}

/// Options of `tasker-host keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// Keystore key actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Re-encrypt every stored value under a new master key, in one transaction.
    Rotate(RotateArgs),
}

/// Options of `tasker-host keys rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The host's database URL (the keystore's location follows from it).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tasker.db")]
    pub database_url: String,
    /// The current master key (64 hex digits or base64 of 32 bytes).
    #[arg(
        long = "old-key-env-value",
        env = "TASKER_MASTER_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub old_key_text: Option<String>,
    /// File holding the current master key (default: `TASKER_MASTER_KEY`, else the default key file).
    #[arg(long)]
    pub old_key_file: Option<PathBuf>,
    /// File holding the new master key.
    #[arg(long, conflicts_with = "generate_new_key_file")]
    pub new_key_file: Option<PathBuf>,
    /// Generate a new random master key into this new file (0600).
    #[arg(long)]
    pub generate_new_key_file: Option<PathBuf>,
}

/// Options of `tasker-host openapi`.
#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// Directory holding the plugin files.
    #[arg(long, env = "TASKER_PLUGINS", default_value = "./plugins")]
    pub plugins: PathBuf,
    /// Directory the documents are written to.
    #[arg(long, default_value = "openapi/generated")]
    pub out: PathBuf,
    /// Compare with the files in `--out` instead of writing; exit 1 when they differ.
    #[arg(long)]
    pub check: bool,
}

/// SQLite synchronous mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// WAL + synchronous=NORMAL: committed entries survive a process crash.
    Normal,
    /// synchronous=FULL: committed entries also survive power loss.
    Full,
}

/// Where task code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxMode {
    /// In a pool of `tasker-host worker` processes under OS memory and CPU limits.
    Workers,
    /// On threads inside the host: faster, but memory is not bounded.
    InProcess,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options for serving.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Directory scanned for plugin files (every file with the platform's library extension).
    #[arg(long, env = "TASKER_PLUGINS", default_value = "./plugins")]
    pub plugins: PathBuf,
    /// Only start these services (comma-separated names or aliases).
    #[arg(long, value_delimiter = ',')]
    pub services: Option<Vec<String>>,
    /// Base port: services get consecutive ports in the seed's order. 0 picks free ports.
    #[arg(long, env = "PORT", default_value_t = 3100)]
    pub port: u16,
    /// Port of the gateway serving every service (default 3099, or a free port with --port 0).
    #[arg(long, env = "TASKER_GATEWAY_PORT")]
    pub gateway_port: Option<u16>,
    /// Serve only the gateway, no per-service ports (for containers).
    #[arg(long)]
    pub single_port: bool,
    /// Address to bind. Loopback by default.
    #[arg(long, env = "TASKER_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Allow `--bind` to a non-loopback address without API tokens (anyone who can reach
    /// the address may then call every service).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// API tokens from the environment only (`TASKER_API_TOKENS=admin:TOKEN,execute:TOKEN2`),
    /// never from the command line, where other users could read them.
    #[arg(
        long = "api-tokens-env-value",
        env = "TASKER_API_TOKENS",
        hide_env_values = true,
        hide = true
    )]
    pub api_tokens: Option<SecretText>,
    /// File of API tokens, one `SCOPE TOKEN` per line (scopes: read, execute, admin; `#`
    /// comments); must not be accessible to other users. With tokens (here or in
    /// TASKER_API_TOKENS) every endpoint but /health needs `Authorization: Bearer TOKEN`.
    #[arg(long, env = "TASKER_API_TOKENS_FILE")]
    pub api_tokens_file: Option<PathBuf>,
    /// Largest accepted request body in bytes (larger: 413).
    #[arg(long, env = "TASKER_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Run submissions each client (peer IP) may make per second on average (0 = no limit;
    /// over the limit: 429 with Retry-After).
    #[arg(long, env = "TASKER_SUBMIT_RATE_PER_SEC", default_value_t = 500.0)]
    pub submit_rate_per_sec: f64,
    /// Submissions a client may make in a burst above the average rate.
    #[arg(long, env = "TASKER_SUBMIT_BURST", default_value_t = 1000)]
    pub submit_burst: u32,
    /// Seconds a connection has to deliver a complete request head, counted from its
    /// opening or from the previous response (also closes idle keep-alive connections).
    #[arg(long, env = "TASKER_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a whole request body (slower: 408).
    #[arg(long, env = "TASKER_BODY_TIMEOUT_SECS", default_value_t = 60)]
    pub body_timeout_secs: u64,
    /// Where the service registry JSON is written at start-up.
    #[arg(
        long,
        env = "TASKER_REGISTRY_FILE",
        default_value = ".service-registry.json"
    )]
    pub registry_file: PathBuf,
    /// A remote HTTP service speaking the seed's request format: `name=http://host:port`.
    #[arg(long = "remote", value_name = "NAME=URL")]
    pub remotes: Vec<String>,
    /// Database URL: `sqlite://tasker.db` (default), `sqlite::memory:` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tasker.db")]
    pub database_url: String,
    /// Durability of SQLite commits: `normal` survives a process crash, `full` also power loss.
    #[arg(long, value_enum, env = "TASKER_SYNC", default_value_t = SyncArg::Normal)]
    pub sync: SyncArg,
    /// Most suspended runs kept live in memory (the resume fast path); the rest replay.
    #[arg(long, env = "TASKER_MAX_LIVE_TASKS", default_value_t = 2000)]
    pub max_live_tasks: usize,
    /// Disable the live-context cache: every resume replays the journal (for benchmarks).
    #[arg(long)]
    pub replay_only: bool,
    /// Most loop iterations in one JavaScript call frame before the run fails.
    #[arg(
        long,
        env = "TASKER_MAX_LOOP_ITERATIONS",
        default_value_t = 100_000_000
    )]
    pub max_loop_iterations: u64,
    /// JavaScript instructions a run may execute in total (about 10 s of CPU by default; 0 = unbounded).
    #[arg(
        long,
        env = "TASKER_INSTRUCTION_BUDGET",
        default_value_t = 2_000_000_000
    )]
    pub instruction_budget: u64,
    /// Most host calls one run may make.
    #[arg(long, env = "TASKER_MAX_CALLS_PER_RUN", default_value_t = 10_000)]
    pub max_calls_per_run: u64,
    /// Threads running JavaScript task segments in-process (default: number of cores).
    #[arg(long, env = "TASKER_JS_THREADS")]
    pub js_threads: Option<usize>,
    /// Where task code runs: `workers` (child processes with memory and CPU limits) or `in-process`.
    #[arg(long, value_enum, env = "TASKER_SANDBOX", default_value_t = SandboxMode::Workers)]
    pub sandbox: SandboxMode,
    /// Sandbox worker processes (default: number of cores).
    #[arg(long, env = "TASKER_SANDBOX_WORKERS")]
    pub sandbox_workers: Option<usize>,
    /// Memory of one sandbox worker (its live runs plus the running segment) in MB (0 = unbounded; workers mode).
    #[arg(long, env = "TASKER_TASK_MEMORY_MB", default_value_t = 512)]
    pub task_memory_mb: u64,
    /// CPU seconds one task segment may use (0 = unbounded; workers mode). The wall-clock deadline is twice this plus 5 s.
    #[arg(long, env = "TASKER_SEGMENT_CPU_SECS", default_value_t = 20)]
    pub segment_cpu_secs: u64,
    /// Most host calls executing at once.
    #[arg(long, env = "TASKER_WORKERS", default_value_t = 512)]
    pub workers: usize,
    /// Lease length in seconds: a crashed host's work is taken over after this.
    #[arg(long, env = "TASKER_LEASE_SECS", default_value_t = 10)]
    pub lease_secs: u64,
    /// How often a host renews its leases and heartbeat, in milliseconds (default: a third of
    /// the lease).
    #[arg(long, env = "TASKER_LEASE_RENEW_MS")]
    pub lease_renew_ms: Option<u64>,
    /// Fallback poll period in milliseconds: how late work is found when a wake-up was missed
    /// (wake-ups are immediate: in memory, and across hosts by PostgreSQL NOTIFY).
    #[arg(long, env = "TASKER_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// How long a host call may wait for a live host that serves its service before it fails
    /// (PostgreSQL clusters; on SQLite the one host runs or rejects every call at once).
    #[arg(long, env = "TASKER_UNSERVED_DEADLINE_SECS", default_value_t = 60)]
    pub unserved_deadline_secs: u64,
    /// This host's id in the cluster (default: generated per start).
    #[arg(long, env = "TASKER_HOST_ID")]
    pub host_id: Option<String>,
    /// First retry delay of a failed host call in milliseconds (doubles per attempt, jittered).
    #[arg(long, default_value_t = 200)]
    pub retry_base_ms: u64,
    /// Attempts per host call for retryable errors (timeouts, 429, 5xx), the first included.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// JSON file with per-plugin configuration: `{"<service>": {...}}`.
    #[arg(long, env = "TASKER_PLUGIN_CONFIG")]
    pub plugin_config: Option<PathBuf>,
    /// Most concurrent calls into one plugin, unless its manifest says otherwise.
    #[arg(long, default_value_t = 256)]
    pub plugin_concurrency: u32,
    /// Per-call timeout for plugin and remote calls, in seconds.
    #[arg(long, default_value_t = 30)]
    pub call_timeout_secs: u64,
    /// Run each plugin in its own `plugin-worker` child process, restarted when it crashes,
    /// so that a plugin that segfaults or aborts cannot take the host down.
    #[arg(long, env = "TASKER_ISOLATE_PLUGINS")]
    pub isolate_plugins: bool,
    /// Largest result a plugin call may return, in bytes; larger results fail the call.
    #[arg(long, env = "TASKER_MAX_RESULT_BYTES", default_value_t = crate::plugins::limits::DEFAULT_MAX_RESULT_BYTES)]
    pub max_result_bytes: usize,
    /// Calls per plugin abandoned after their timeout but still running inside it before
    /// the plugin is reported unhealthy and refused (in-process) or restarted (isolated).
    #[arg(long, default_value_t = crate::plugins::limits::DEFAULT_MAX_STUCK_CALLS)]
    pub max_stuck_calls: usize,
    /// Per-service call timeout overriding `--call-timeout-secs`: `name=seconds` (repeatable).
    #[arg(long = "service-timeout", value_name = "NAME=SECS")]
    pub service_timeouts: Vec<String>,
    /// `Access-Control-Allow-Origin` sent on every response.
    #[arg(long, env = "TASKER_CORS_ORIGIN", default_value = "*")]
    pub cors_origin: String,
    /// How long in-flight requests may take to finish at shutdown, in seconds.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Debug logging.
    #[arg(long)]
    pub debug: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Accepted for compatibility with the original CLI; ignored.
    #[arg(long, hide = true)]
    pub deno: bool,
    /// Accepted for compatibility with the original CLI; ignored.
    #[arg(long, hide = true)]
    pub node: bool,
    /// Accepted for compatibility with the original CLI; ignored.
    #[arg(long, hide = true)]
    pub bun: bool,
}

/// A secret from the environment (API tokens): its `Debug` never shows the text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(String);

impl SecretText {
    /// The secret text itself; pass it on, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(***)")
    }
}

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl ServeArgs {
    /// True when API tokens are configured (from the environment or a file).
    pub fn api_tokens_configured(&self) -> bool {
        self.api_tokens
            .as_ref()
            .is_some_and(|t| !t.expose().trim().is_empty())
            || self.api_tokens_file.is_some()
    }

    /// The gateway port actually requested: explicit, or 0 when `--port 0`, else 3099.
    pub fn effective_gateway_port(&self) -> u16 {
        match (self.gateway_port, self.port) {
            (Some(p), _) => p,
            (None, 0) => 0,
            (None, _) => 3099,
        }
    }

    /// Parsed `--remote name=url` pairs.
    pub fn parsed_remotes(&self) -> Result<Vec<(String, String)>, String> {
        self.remotes
            .iter()
            .map(|r| match r.split_once('=') {
                Some((name, url))
                    if !name.is_empty()
                        && (url.starts_with("http://") || url.starts_with("https://")) =>
                {
                    Ok((name.to_owned(), url.trim_end_matches('/').to_owned()))
                }
                _ => Err(format!("--remote expects NAME=http://host:port, got '{r}'")),
            })
            .collect()
    }

    /// Parsed `--service-timeout name=secs` pairs.
    pub fn parsed_service_timeouts(&self) -> Result<Vec<(String, u64)>, String> {
        self.service_timeouts
            .iter()
            .map(
                |t| match t.split_once('=').map(|(n, s)| (n, s.parse::<u64>())) {
                    Some((name, Ok(secs))) if !name.is_empty() && secs > 0 => {
                        Ok((name.to_owned(), secs))
                    }
                    _ => Err(format!(
                        "--service-timeout expects NAME=SECONDS (seconds > 0), got '{t}'"
                    )),
                },
            )
            .collect()
    }

    /// The runtime flag the user passed, if any (for the compatibility notice).
    pub fn runtime_flag(&self) -> Option<&'static str> {
        [
            (self.deno, "--deno"),
            (self.node, "--node"),
            (self.bun, "--bun"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}
