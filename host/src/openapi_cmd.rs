//! `tasker-host openapi`: renders the OpenAPI documents of the core services and of every
//! plugin in a directory (from manifests only: plugins are not initialised) and writes
//! them to a directory, or checks that the committed copies there are up to date.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use tasker_plugin_api::Manifest;

use crate::config::OpenapiArgs;
use crate::plugins::loader;
use crate::services::seed_compat::{direct_executor_manifest, stack_processor_manifest};

/// Failures of the command; `Stale` lists the files that differ.
#[derive(Debug, thiserror::Error)]
pub enum OpenapiError {
    /// Discovery failed.
    #[error(transparent)]
    Discovery(#[from] loader::DiscoveryError),
    /// Reading or writing a document failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `--check` found differences.
    #[error("OpenAPI documents are stale: {0}. Regenerate with `scripts/regen-openapi`.")]
    Stale(String),
}

/// Every document by file name: `<service>.json` and `gateway.json`.
pub fn render_all(plugins_dir: &Path) -> Result<BTreeMap<String, String>, OpenapiError> {
    let discovery = loader::discover(plugins_dir)?;
    for skipped in &discovery.skipped {
        tracing::warn!("skipping {}: {}", skipped.path.display(), skipped.reason);
    }
    let mut manifests: Vec<(Manifest, &'static str)> = [
        direct_executor_manifest(),
        stack_processor_manifest(),
        crate::services::tasks::manifest(),
    ]
    .into_iter()
    .map(|m| (m, "core"))
    .collect();
    manifests.extend(
        discovery
            .plugins
            .into_iter()
            .map(|p| (p.manifest, "plugin")),
    );
    manifests.sort_by(|a, b| a.0.name.cmp(&b.0.name));

    let mut docs = BTreeMap::new();
    for (manifest, _) in &manifests {
        let mut doc =
            tasker_openapi::service_document(manifest, &tasker_openapi::DocOptions::default());
        if manifest.name == "task-executor" {
            crate::http::tasks_doc::merge_into(&mut doc, "");
        }
        docs.insert(format!("{}.json", manifest.name), pretty(&doc));
    }
    let services: Vec<_> = manifests
        .into_iter()
        .map(|(m, kind)| {
            (
                m,
                tasker_openapi::ServiceInfo {
                    kind: Some(kind.to_owned()),
                    url: None,
                },
            )
        })
        .collect();
    docs.insert(
        "gateway.json".to_owned(),
        pretty(&tasker_openapi::combined_document(
            &services,
            Some(&serde_json::json!({ "paths": crate::http::tasks_doc::task_api_paths("/services/task-executor") })),
        )),
    );
    Ok(docs)
}

fn pretty(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Runs the command.
pub fn run(args: &OpenapiArgs) -> Result<(), OpenapiError> {
    let docs = render_all(&args.plugins)?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| OpenapiError::Io { path, source }
    };
    if args.check {
        let mut stale = Vec::new();
        for (name, text) in &docs {
            let path = args.out.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name.clone());
            }
        }
        if let Ok(entries) = std::fs::read_dir(&args.out) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") && !docs.contains_key(&name) {
                    stale.push(format!("{name} (no longer generated)"));
                }
            }
        }
        return if stale.is_empty() {
            Ok(())
        } else {
            Err(OpenapiError::Stale(stale.join(", ")))
        };
    }
    std::fs::create_dir_all(&args.out).map_err(io(&args.out))?;
    for (name, text) in &docs {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    println!("wrote {} documents to {}", docs.len(), args.out.display());
    Ok(())
}
