//! `tasker-host publish` against a host with API tokens: without a token it fails with a
//! clear 401 message, with a token lacking `admin` a clear 403, and with an admin token (from
//! `TASKER_API_TOKEN` or `--token`) it publishes; the token shows up in no output.

use std::path::Path;
use std::process::Output;

use anyhow::{Result, ensure};
use tasker_e2e::TestHost;

const ADMIN: &str = "admin-token-publish-0123456789";
const EXECUTE: &str = "execute-token-publish-0123456789";
const READ: &str = "read-token-publish-0123456789";

/// Runs `tasker-host publish DIR --url URL EXTRA...` with `token_env` as `TASKER_API_TOKEN`.
fn publish(h: &TestHost, dir: &Path, extra: &[&str], token_env: Option<&str>) -> Result<Output> {
    let mut command = std::process::Command::new(tasker_e2e::host_binary()?);
    command
        .arg("publish")
        .arg(dir)
        .args(["--url", &h.gateway_service_url("task-executor")])
        .args(extra)
        .env_remove("TASKER_API_TOKEN");
    if let Some(token) = token_env {
        command.env("TASKER_API_TOKEN", token);
    }
    Ok(command.output()?)
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn publish_needs_an_admin_token_on_a_host_with_tokens() -> Result<()> {
    let h = TestHost::builder()
        .env(
            "TASKER_API_TOKENS",
            &format!("admin:{ADMIN},execute:{EXECUTE},read:{READ}"),
        )
        .start()?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("greet.js"),
        "/** Greets */\nmodule.exports = async ({ name }) => `hi ${name}`;",
    )?;

    let anonymous = publish(&h, dir.path(), &[], None)?;
    let text = output_text(&anonymous);
    ensure!(
        !anonymous.status.success(),
        "published without a token: {text}"
    );
    ensure!(
        text.contains("publishing greet failed (HTTP 401")
            && text.contains("--token")
            && text.contains("TASKER_API_TOKEN"),
        "the 401 message should say a token is needed and how to pass it: {text}"
    );

    let weak = publish(&h, dir.path(), &["--token", EXECUTE], None)?;
    let text = output_text(&weak);
    ensure!(!weak.status.success(), "published with execute: {text}");
    ensure!(
        text.contains("HTTP 403") && text.contains("admin"),
        "the 403 message should name the admin scope: {text}"
    );
    ensure!(!text.contains(EXECUTE), "the token was printed: {text}");

    let listed = h
        .get_as(
            READ,
            &format!("{}/list", h.gateway_service_url("task-executor")),
        )?
        .expect_data(200)?;
    ensure!(
        !listed.to_string().contains("greet"),
        "a refused publish registered the task: {listed}"
    );

    for (flag, env) in [(vec![], Some(ADMIN)), (vec!["--token", ADMIN], None)] {
        let ok = publish(&h, dir.path(), &flag, env)?;
        let text = output_text(&ok);
        ensure!(
            ok.status.success(),
            "publish with an admin token failed: {text}"
        );
        ensure!(text.contains("published greet: Greets"), "{text}");
        ensure!(!text.contains(ADMIN), "the token was printed: {text}");
    }
    let listed = h
        .get_as(
            READ,
            &format!("{}/list", h.gateway_service_url("task-executor")),
        )?
        .expect_data(200)?;
    ensure!(listed.to_string().contains("greet"), "{listed}");

    let logs = h.logs().text();
    for token in [ADMIN, EXECUTE] {
        ensure!(
            !logs.contains(token),
            "a token appears in the host's output"
        );
    }
    Ok(())
}
