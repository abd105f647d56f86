//! Discovery: plugins found in one directory answer on their own ports and on the
//! gateway; non-plugins, corrupt and incompatible files are skipped with a warning
//! naming each file; duplicates, unknown `--services` names and busy ports stop start-up.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;
use tasker_e2e::known::{CORE_ALIASES, CORE_SERVICES};
use tasker_e2e::{Result, TestHost};

/// How long to wait for a log line that should already be written at readiness.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes that are certainly not a shared library (a fixed xorshift stream, so a failure
/// is reproducible).
fn corrupt_bytes() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn several_plugins_answer_on_their_own_ports_and_on_the_gateway() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    let registry = host.registry();
    let hello = registry
        .service("hello-world")
        .ok_or_else(|| anyhow::anyhow!("hello-world not registered"))?;
    let echo = registry
        .service("echo-service")
        .ok_or_else(|| anyhow::anyhow!("echo-service not registered"))?;
    assert_ne!(hello.port, echo.port, "each plugin has its own port");
    assert_ne!(hello.port, Some(registry.gateway.port));
    assert_ne!(echo.port, Some(registry.gateway.port));

    for base in [
        host.service_url("hello-world")?,
        host.gateway_service_url("hello-world"),
    ] {
        let data = host
            .post_json(&format!("{base}/hello"), &json!({ "name": "Ada" }))?
            .expect_data(200)?;
        assert_eq!(data, json!({ "message": "Hello, Ada!" }), "via {base}");
        assert_eq!(
            host.get(&format!("{base}/health"))?.status,
            200,
            "{base}/health"
        );
    }
    let args = json!({ "nested": { "list": [1, 2, 3] }, "flag": true });
    for base in [
        host.service_url("echo-service")?,
        host.gateway_service_url("echo-service"),
    ] {
        let data = host
            .post_json(
                &format!("{base}/"),
                &json!({ "method": "echo", "args": args }),
            )?
            .expect_data(200)?;
        assert_eq!(data, args, "via {base}");
        assert_eq!(
            host.get(&format!("{base}/health"))?.status,
            200,
            "{base}/health"
        );
    }

    let health = host.get(&format!("{}/health", host.gateway_url()))?;
    assert_eq!(health.status, 200);
    for name in CORE_SERVICES.iter().chain(&["echo-service", "hello-world"]) {
        assert!(
            health.text.contains(&format!("\"{name}\"")),
            "gateway /health names {name}: {}",
            health.text
        );
    }
    Ok(())
}

#[test]
fn core_services_answer_health_and_not_implemented_under_names_and_aliases() -> Result {
    let host = TestHost::builder().start()?;
    for name in CORE_SERVICES {
        let entry = host
            .registry()
            .service(name)
            .ok_or_else(|| anyhow::anyhow!("{name} not registered"))?;
        assert_eq!(entry.kind, "core", "{name}");
        for base in [host.service_url(name)?, host.gateway_service_url(name)] {
            assert_eq!(
                host.get(&format!("{base}/health"))?.status,
                200,
                "{base}/health"
            );
        }
        let err = host
            .call(name, &json!({ "method": "somethingElse", "args": [] }))?
            .expect_error(404, "NOT_FOUND_ERROR")?;
        assert!(
            err["error"]
                .as_str()
                .unwrap_or_default()
                .contains("somethingElse"),
            "{err}"
        );
    }
    for (alias, service) in CORE_ALIASES {
        let entry = host
            .registry()
            .service(service)
            .ok_or_else(|| anyhow::anyhow!("{service} not registered"))?;
        assert!(
            entry.aliases.iter().any(|a| a == alias),
            "{service} lists alias {alias}: {:?}",
            entry.aliases
        );
        let reply = host.get(&format!("{}/health", host.gateway_service_url(alias)))?;
        assert_eq!(
            reply.status, 200,
            "gateway /services/{alias}/health: {}",
            reply.text
        );
    }
    Ok(())
}

#[test]
fn non_plugin_corrupt_and_incompatible_files_are_skipped_with_a_warning() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "not_a_plugin", "incompatible_plugin"])
        .plugin_bytes("libcorrupt.so", corrupt_bytes())
        .plugin_bytes("README.txt", "not a library, and not named like one")
        .start()?;

    let names = host.registry().names();
    assert!(
        names.contains(&"echo-service"),
        "echo-service loaded: {names:?}"
    );
    for skipped in ["incompatible-plugin", "not-a-plugin", "corrupt"] {
        assert!(
            !names.contains(&skipped),
            "{skipped} must not be registered: {names:?}"
        );
    }
    let data = host
        .call(
            "echo-service",
            &json!({ "method": "echo", "args": { "still": "serving" } }),
        )?
        .expect_data(200)?;
    assert_eq!(data, json!({ "still": "serving" }));

    for file in [
        "libnot_a_plugin.so",
        "libcorrupt.so",
        "libincompatible_plugin.so",
    ] {
        let line = host.logs().wait_for_line(&[file], LOG_TIMEOUT)?;
        assert!(
            line.to_ascii_uppercase().contains("WARN"),
            "the line naming {file} is a warning: {line}"
        );
    }
    let incompatible = host
        .logs()
        .lines_with(&["libincompatible_plugin.so"])
        .join("\n");
    assert!(
        incompatible.contains("999") || incompatible.to_ascii_lowercase().contains("version"),
        "the reason for skipping the incompatible plugin mentions its API version: {incompatible}"
    );
    let warned_about_readme: Vec<_> = host
        .logs()
        .lines_with(&["README.txt"])
        .into_iter()
        .filter(|l| l.to_ascii_uppercase().contains("WARN"))
        .collect();
    assert!(
        warned_about_readme.is_empty(),
        "non-.so files are ignored silently: {warned_about_readme:?}"
    );
    Ok(())
}

#[test]
fn duplicate_service_names_fail_start_up_naming_both_files() -> Result {
    let failure = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .plugin_as("echo_service", "libecho_copy.so")
        .start_expect_failure()?;
    for needle in ["libecho_service.so", "libecho_copy.so", "echo-service"] {
        assert!(
            failure.stderr.contains(needle),
            "stderr names {needle}; stderr:\n{}",
            failure.stderr
        );
    }
    Ok(())
}

#[test]
fn services_flag_selects_services() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .args(&["--services", "hello-world"])
        .start()?;
    let names = host.registry().names();
    assert!(names.contains(&"hello-world"), "{names:?}");
    assert!(
        !names.contains(&"echo-service"),
        "echo-service was not selected: {names:?}"
    );
    let data = host
        .call_method("hello-world", "hello", &json!({ "name": "filter" }))?
        .expect_data(200)?;
    assert_eq!(data, json!({ "message": "Hello, filter!" }));
    let reply = host.get(&format!(
        "{}/health",
        host.gateway_service_url("echo-service")
    ))?;
    assert_eq!(
        reply.status, 404,
        "unselected service is not served by the gateway: {}",
        reply.text
    );
    Ok(())
}

#[test]
fn services_flag_rejects_unknown_names_listing_the_available_ones() -> Result {
    let failure = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .args(&["--services", "hello-world,no-such-service"])
        .start_expect_failure()?;
    for needle in ["no-such-service", "echo-service", "hello-world"] {
        assert!(
            failure.stderr.contains(needle),
            "stderr names {needle}; stderr:\n{}",
            failure.stderr
        );
    }
    Ok(())
}

#[test]
fn busy_port_fails_start_up_naming_port_and_service() -> Result {
    // Hold a free port so the first service (deno-executor, at the base port) cannot bind it.
    let blocker = TcpListener::bind("127.0.0.1:0")?;
    let port = blocker.local_addr()?.port().to_string();
    let failure = TestHost::builder()
        .plugins(&["hello_world"])
        .args(&["--port", &port, "--gateway-port", "0"])
        .start_expect_failure()?;
    for needle in [port.as_str(), "deno-executor"] {
        assert!(
            failure.stderr.contains(needle),
            "stderr names {needle}; stderr:\n{}",
            failure.stderr
        );
    }
    drop(blocker);
    Ok(())
}
