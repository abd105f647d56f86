//! The OpenAPI documents committed under `openapi/generated/` match what the current
//! bundled plugins and core services produce; regenerate with `scripts/regen-openapi`.

use std::process::Command;

use anyhow::{Context, Result, ensure};
use tasker_e2e::{host_binary, plugin_file};

/// The bundled plugins' crate names: every `plugins/*/Cargo.toml`, as
/// `scripts/stage-plugins` stages them.
fn bundled_plugins() -> Result<Vec<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let manifest = entry?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if !text.contains("cdylib") {
            continue; // support crates such as plugins/kit are not plugins
        }
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .with_context(|| format!("no package name in {}", manifest.display()))?;
        names.push(name.replace('-', "_"));
    }
    Ok(names)
}

#[test]
fn committed_openapi_documents_are_current() -> Result<()> {
    let staging = tempfile::tempdir()?;
    for name in bundled_plugins()? {
        let file = plugin_file(&name)?;
        std::fs::copy(
            &file,
            staging.path().join(file.file_name().context("file name")?),
        )?;
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/generated");
    let output = Command::new(host_binary()?)
        .args(["openapi", "--check", "--plugins"])
        .arg(staging.path())
        .arg("--out")
        .arg(&out)
        .output()?;
    ensure!(
        output.status.success(),
        "openapi/generated is stale (run scripts/regen-openapi): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
