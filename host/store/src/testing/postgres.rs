//! The PostgreSQL server for tests: `TASKER_TEST_POSTGRES_URL` if set, else one throw-away cluster
//! per test process, started from the PostgreSQL 15 binaries and removed when the process exits.
//!
//! The cluster: `initdb -A trust` into a temporary directory owned by user `postgres` (PostgreSQL
//! refuses to run as root; we use `runuser -u postgres --` when running as root), `pg_ctl start` on a
//! free loopback port with its socket in the same directory and `fsync=off` (tests only). A detached
//! watchdog (`setsid sh -c ...`) waits for the test process to exit, then runs
//! `pg_ctl stop -m immediate` and deletes the directory: this works even when the test process
//! panics or is killed. Leftovers after a machine crash are `/tmp/tasker-pg-*` directories.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

use super::TestResult;

/// Overrides the server (its database part is replaced per test); the user must be allowed to CREATE DATABASE.
pub const URL_ENV: &str = "TASKER_TEST_POSTGRES_URL";
/// Overrides the directory of `initdb` and `pg_ctl`.
pub const BIN_ENV: &str = "TASKER_TEST_POSTGRES_BIN";
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates a uniquely named empty database and returns its URL.
pub async fn create_database() -> TestResult<String> {
    let server = server_url()?;
    let name = unique_database_name();
    let mut admin = PgConnection::connect(&with_database(&server, "postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(with_database(&server, &name))
}

/// The server URL (database part irrelevant): the env override, or the per-process cluster.
pub fn server_url() -> TestResult<String> {
    if let Ok(url) = std::env::var(URL_ENV)
        && !url.is_empty()
    {
        return Ok(url);
    }
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| start_cluster().map_err(|error| error.to_string()))
        .clone()
        .map_err(|error| format!("starting the test PostgreSQL cluster failed: {error}").into())
}

fn unique_database_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!(
        "tasker_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replaces the database path of a `postgres://` URL, keeping credentials, host and query.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

fn start_cluster() -> TestResult<String> {
    Ok(PostgresCluster::start()?.url())
}

/// A throw-away PostgreSQL cluster of its own, for a test that must stop and restart the
/// server (the shared per-process cluster must never go down under other tests). It is
/// removed by the watchdog when the test process exits.
#[derive(Debug)]
pub struct PostgresCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl PostgresCluster {
    /// `initdb` into a fresh temporary directory, then starts the server on a free port.
    pub fn start() -> TestResult<Self> {
        let bin = PathBuf::from(std::env::var(BIN_ENV).unwrap_or_else(|_| DEFAULT_BIN.to_owned()));
        if !bin.join("initdb").exists() || !bin.join("pg_ctl").exists() {
            return Err(format!(
                "no initdb/pg_ctl in {} (install with `apt-get install -y postgresql-15`, set {BIN_ENV}, \
                 or point {URL_ENV} at a server)",
                bin.display()
            )
            .into());
        }
        let dir = tempfile::Builder::new()
            .prefix("tasker-pg-")
            .tempdir()?
            .keep();
        let as_root = running_as_root();
        if as_root {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir))?;
        }
        run(postgres_command(as_root, &bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]))?;
        let cluster = Self {
            port: free_port()?,
            bin,
            dir,
            as_root,
        };
        spawn_watchdog(as_root, &cluster.bin, &cluster.dir)?;
        cluster.resume()?;
        Ok(cluster)
    }

    /// Its server URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections are cut, as in a crash).
    pub fn halt(&self) -> TestResult<()> {
        run(postgres_command(self.as_root, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-t", "60", "-m", "immediate", "stop"]))
    }

    /// Starts the server (again) on the same port and waits until it accepts connections.
    pub fn resume(&self) -> TestResult<()> {
        let server_options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c max_connections=300",
            self.port,
            self.dir.display()
        );
        run(postgres_command(self.as_root, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &server_options, "start"]))?;
        wait_until_accepting(&self.bin, self.port)
    }

    /// Creates a uniquely named empty database on this cluster and returns its URL.
    pub async fn create_database(&self) -> TestResult<String> {
        let server = self.url();
        let name = unique_database_name();
        let mut admin = PgConnection::connect(&server).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(with_database(&server, &name))
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` run as user postgres when we are root (PostgreSQL refuses to run as root).
fn postgres_command(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> TestResult<()> {
    let output = command.stdin(Stdio::null()).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .into())
}

fn free_port() -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A detached shell that outlives us: when this process is gone, it stops the cluster and deletes it.
fn spawn_watchdog(as_root: bool, bin: &Path, dir: &Path) -> TestResult<()> {
    let run_as = if as_root {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {run_as}'{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = dir.join("data").display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(())
}

/// `pg_ctl -w` already waited; `pg_isready` confirms the TCP listener (bounded by [`READY_TIMEOUT`]).
fn wait_until_accepting(bin: &Path, port: u16) -> TestResult<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if ready.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("PostgreSQL on port {port} never accepted connections").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
