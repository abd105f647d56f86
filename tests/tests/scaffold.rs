//! Scaffolding: `tasker-host new NAME --template echo` writes a standalone plugin crate
//! that `cargo build` turns into a `.so` the host loads and serves under NAME.
//! The crate is built in `target/scaffold-test` so repeated runs reuse its dependencies.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::json;
use tasker_e2e::{Result, TestHost};

const SCAFFOLD_NAME: &str = "e2e-scaffolded";

fn run(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{what} failed with {}:\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status
        );
    }
    Ok(stdout)
}

#[test]
fn a_scaffolded_plugin_builds_and_loads() -> Result {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let scratch = tempfile::Builder::new()
        .prefix("tasker-e2e-scaffold-")
        .tempdir()?;
    run(
        Command::new(tasker_e2e::host_binary()?)
            .current_dir(scratch.path())
            .args(["new", SCAFFOLD_NAME, "--template", "echo", "--dir"])
            .arg(scratch.path())
            .arg("--plugin-api")
            .arg(workspace.join("plugin-api")),
        "tasker-host new",
    )?;
    let crate_dir = scratch.path().join(SCAFFOLD_NAME);
    for file in ["Cargo.toml", "src/lib.rs"] {
        assert!(
            crate_dir.join(file).is_file(),
            "the scaffold wrote {file} in {}",
            crate_dir.display()
        );
    }

    let target_dir = tasker_e2e::cargo_target_dir()?.join("scaffold-test");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(
        Command::new(cargo)
            .arg("build")
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", &target_dir),
        "cargo build of the scaffolded crate",
    )?;
    let plugin = target_dir
        .join("debug")
        .join(tasker_e2e::plugin_file_name(SCAFFOLD_NAME));
    assert!(
        plugin.is_file(),
        "cargo build produced {}",
        plugin.display()
    );

    let host = TestHost::builder().plugin_path(&plugin).start()?;
    let entry = host
        .registry()
        .service(SCAFFOLD_NAME)
        .context("the scaffolded service is registered")?;
    assert_eq!(entry.kind, "plugin");
    let doc = host.get(&entry.openapi)?.json()?;
    assert!(
        doc["paths"]["/echo"]["post"].is_object(),
        "the echo template documents POST /echo: {doc}"
    );
    let args = json!({ "from": "a scaffolded plugin" });
    let data = host
        .call(SCAFFOLD_NAME, &json!({ "method": "echo", "args": args }))?
        .expect_data(200)?;
    // The echo template is the original's boilerplate: `echo(args)` -> `{echo: args, timestamp}`.
    assert_eq!(
        data["echo"], args,
        "the scaffolded echo returns its arguments: {data}"
    );
    assert!(data["timestamp"].is_string(), "and a timestamp: {data}");
    Ok(())
}
