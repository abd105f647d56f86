//! `tasker-host run FILE.js`: the quickest way to try a task. Starts the engine in-process
//! against the local database and plugins (no HTTP listeners), registers the file as a
//! task, runs it with `--input`, streams its console lines and host calls as they happen
//! with a progress line, and prints the result. Exit code 0 when the run completed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser};
use serde_json::{Value, json};

use crate::config::ServeArgs;
use crate::services::tasks::TaskService;

/// Options of `tasker-host run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task file (CommonJS, ES module or a script defining `main`).
    pub file: PathBuf,
    /// The task input, a JSON object.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// Directory holding plugin files.
    #[arg(long, env = "TASKER_PLUGINS", default_value = "./plugins")]
    pub plugins: PathBuf,
    /// Database URL (default `sqlite://tasker.db`).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tasker.db")]
    pub database_url: String,
    /// Give up waiting after this many seconds (the run stays in the database).
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// Errors of `run`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file could not be read or the input is not JSON.
    #[error("{0}")]
    Input(String),
    /// The host could not start.
    #[error(transparent)]
    Start(#[from] crate::server::StartError),
    /// Registering or submitting failed.
    #[error("{0}")]
    Task(String),
}

/// Runs the command; returns whether the run completed.
pub async fn run(args: &RunArgs) -> Result<bool, RunError> {
    let code = std::fs::read_to_string(&args.file)
        .map_err(|e| RunError::Input(format!("cannot read {}: {e}", args.file.display())))?;
    let input: Value = serde_json::from_str(&args.input)
        .map_err(|e| RunError::Input(format!("--input is not JSON: {e}")))?;
    let name = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("task")
        .to_owned();
    let mut serve: ServeArgs = crate::config::Cli::parse_from(["tasker-host"]).serve;
    serve.plugins = args.plugins.clone();
    serve.database_url = args.database_url.clone();
    // A local run is the operator's own: no API tokens apply to it.
    serve.api_tokens = None;
    serve.api_tokens_file = None;
    let (registry, engine) = crate::server::build_host(&serve).await?;
    eprintln!(
        "services: {}",
        registry
            .services()
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let tasks = TaskService::new(engine.clone());
    tasks
        .register(&json!({ "name": name, "code": code }))
        .await
        .map_err(|e| RunError::Task(e.message))?;
    let submitted = tasks
        .execute(
            &json!({ "task_identifier": name, "input": input }),
            None,
            // The operator's run (it may be finished by a host that checks scopes).
            Some(tasker_plugin_api::Scope::Admin),
        )
        .await
        .map_err(|e| RunError::Task(e.message))?;
    let run_id = submitted.1["taskRunId"].as_i64().unwrap_or_default();
    eprintln!("run {run_id} of {name} started");

    let store = engine.store();
    let started = Instant::now();
    let (mut log_seq, mut announced, mut settled) = (0_i64, HashSet::new(), HashSet::new());
    loop {
        for log in store
            .read_logs(run_id, log_seq, 1000)
            .await
            .map_err(|e| RunError::Task(e.to_string()))?
        {
            log_seq = log.seq;
            eprintln!("[{}] {}", log.level, log.message);
        }
        let journal = store
            .journal(run_id)
            .await
            .map_err(|e| RunError::Task(e.to_string()))?;
        for call in &journal {
            if announced.insert(call.id) {
                eprintln!("  -> #{} {}.{}", call.seq, call.service, call.method);
            }
            if call.status.is_settled() && settled.insert(call.id) {
                let ms = call
                    .ended_at
                    .zip(call.started_at)
                    .map(|(e, s)| e - s)
                    .unwrap_or(0);
                eprintln!(
                    "  <- #{} {} ({ms} ms, attempt {})",
                    call.seq,
                    call.status.as_str(),
                    call.attempts
                );
            }
        }
        let run = store
            .get_run(run_id)
            .await
            .map_err(|e| RunError::Task(e.to_string()))?
            .ok_or_else(|| RunError::Task("the run disappeared".into()))?;
        if run.status.is_terminal() {
            eprintln!(
                "run {run_id} {} in {:.1?} with {} calls",
                run.status.as_str(),
                started.elapsed(),
                journal.len()
            );
            let view = crate::services::views::run_view(&run);
            let shown = if run.status.as_str() == "completed" {
                &view["result"]
            } else {
                &view["error"]
            };
            println!(
                "{}",
                serde_json::to_string_pretty(shown).unwrap_or_default()
            );
            engine.drain(Duration::from_secs(1)).await;
            return Ok(run.status.as_str() == "completed");
        }
        if started.elapsed() > Duration::from_secs(args.timeout_secs) {
            return Err(RunError::Task(format!(
                "run {run_id} still {} after {} s",
                run.status.as_str(),
                args.timeout_secs
            )));
        }
        let pending = journal.len() - settled.len();
        eprint!(
            "\r  progress: {} calls done, {pending} pending   \r",
            settled.len()
        );
        let _ = engine
            .wait_for_end(run_id, Duration::from_millis(100))
            .await;
    }
}
