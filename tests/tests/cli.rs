//! Command-line behaviour around start-up: `--help`, `--log-format json` (one JSON object
//! per line, skipped files reported as structured warnings) and the original's
//! `--deno/--node/--bun` flags accepted and ignored with a notice.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tasker_e2e::{Result, TestHost};

/// How long to wait for a log line that should already be written at readiness.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn help_lists_the_documented_options() -> Result {
    let output = Command::new(tasker_e2e::host_binary()?)
        .arg("--help")
        .output()?;
    assert!(output.status.success(), "--help exits 0: {}", output.status);
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--plugins",
        "--services",
        "--port",
        "--gateway-port",
        "--single-port",
        "--registry-file",
    ] {
        assert!(help.contains(option), "--help lists {option}:\n{help}");
    }
    for option in [
        "--remote",
        "--debug",
        "--log-format",
        "--database-url",
        "new",
    ] {
        assert!(help.contains(option), "--help lists {option}:\n{help}");
    }
    Ok(())
}

#[test]
fn json_log_format_writes_one_object_per_line() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "not_a_plugin"])
        .args(&["--log-format", "json", "--deno"])
        .start()?;
    host.call("echo-service", &json!({ "method": "echo", "args": [] }))?
        .expect_data(200)?;
    let warning = host
        .logs()
        .wait_for_line(&["libnot_a_plugin.so"], LOG_TIMEOUT)?;
    let warning: Value = serde_json::from_str(&warning).context("the skip warning is JSON")?;
    assert_eq!(warning["level"], "WARN", "{warning}");

    let stdout = std::fs::read_to_string(&host.logs().stdout)?;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line)
            .with_context(|| format!("log line is not JSON: {line}"))?;
    }
    host.logs().wait_for_line(&["--deno"], LOG_TIMEOUT)?;
    Ok(())
}
