//! `tasker-host publish DIR`: uploads every `*.js` in a folder to a running host's task API
//! (name = file name without `.js`; the host takes the description and input schema from
//! the first JSDoc block), as the original's publish script did. With `--token` (or
//! `TASKER_API_TOKEN`) it sends `Authorization: Bearer`; the token is never printed or logged.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

/// Options of `tasker-host publish`. `Debug` is written by hand to keep the token out.
#[derive(Args)]
pub struct PublishArgs {
    /// The folder with task files.
    pub dir: PathBuf,
    /// The task API of a running host.
    #[arg(
        long,
        env = "TASKER_URL",
        default_value = "http://127.0.0.1:3099/services/task-executor"
    )]
    pub url: String,
    /// An API token with the `admin` scope, for a host with authentication on (registering
    /// tasks needs `admin`). Prefer the environment variable: command lines are visible to
    /// other users of the machine.
    #[arg(long, env = "TASKER_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl std::fmt::Debug for PublishArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishArgs")
            .field("dir", &self.dir)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why an upload was refused, in words a user can act on.
fn refusal(name: &str, status: reqwest::StatusCode, body: &Value, sent_token: bool) -> String {
    let message = body["error"].as_str().unwrap_or("no message");
    let hint = match (status.as_u16(), sent_token) {
        (401, false) => {
            " (the host needs an API token: pass --token or set TASKER_API_TOKEN to an admin token)"
        }
        (401, true) => " (the host rejected the token given with --token / TASKER_API_TOKEN)",
        (403, _) => " (publishing needs a token with the admin scope)",
        _ => "",
    };
    format!("publishing {name} failed (HTTP {status}): {message}{hint}")
}

/// Uploads the tasks; returns how many were published, or the first failure.
pub async fn run(args: &PublishArgs) -> anyhow::Result<usize> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no .js files in {}", args.dir.display());
    }
    let client = reqwest::Client::new();
    let token = args
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let endpoint = format!("{}/tasks", args.url.trim_end_matches('/'));
    for file in &files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let code = std::fs::read_to_string(file)?;
        let mut request = client
            .post(&endpoint)
            .json(&json!({ "name": name, "code": code }));
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!(refusal(name, status, &body, token.is_some()));
        }
        let description = body["data"]["description"].as_str().unwrap_or("");
        println!(
            "published {name}{}",
            if description.is_empty() {
                String::new()
            } else {
                format!(": {description}")
            }
        );
    }
    Ok(files.len())
}
