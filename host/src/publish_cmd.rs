//! `tasker-host publish DIR`: uploads every `*.js` in a folder to a running host's task API
//! (name = file name without `.js`; the host takes the description and input schema from
//! the first JSDoc block), as the original's publish script did.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

/// Options of `tasker-host publish`.
#[derive(Debug, Args)]
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
    let endpoint = format!("{}/tasks", args.url.trim_end_matches('/'));
    for file in &files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let code = std::fs::read_to_string(file)?;
        let response = client
            .post(&endpoint)
            .json(&json!({ "name": name, "code": code }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!(
                "publishing {name} failed (HTTP {status}): {}",
                body["error"].as_str().unwrap_or("no message")
            );
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
