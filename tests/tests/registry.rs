//! The registry file: it matches `GET /services`, and every entry describes what is
//! really served (ports, URLs, kinds, versions, OpenAPI URLs, plugin files, aliases);
//! remote services and `--single-port` appear in it too.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tasker_e2e::known::{CORE_SERVICES, WORKSPACE_VERSION};
use tasker_e2e::{Result, TestHost};

/// The service list inside a `GET /services` body (a bare list, `{services}`, or an
/// envelope around either).
fn services_list(body: &Value) -> Result<Value> {
    let candidates = [
        body,
        &body["services"],
        &body["data"],
        &body["data"]["services"],
    ];
    candidates
        .into_iter()
        .find(|v| v.is_array())
        .cloned()
        .with_context(|| format!("GET /services body holds no service list: {body}"))
}

fn looks_like_iso_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 19
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[10] == b'T'
}

#[test]
fn registry_file_matches_get_services_and_what_is_served() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    let registry = host.read_registry_file()?;

    let served = services_list(
        &host
            .get(&format!("{}/services", host.gateway_url()))?
            .json()?,
    )?;
    assert_eq!(
        served, registry.raw["services"],
        "GET /services equals the registry file's services"
    );

    let names: BTreeSet<&str> = registry.names().into_iter().collect();
    let expected: BTreeSet<&str> = CORE_SERVICES
        .into_iter()
        .chain(["echo-service", "hello-world"])
        .collect();
    assert_eq!(names, expected);
    assert!(
        looks_like_iso_timestamp(&registry.timestamp),
        "timestamp: {}",
        registry.timestamp
    );
    assert_eq!(
        registry.gateway.url.trim_end_matches('/'),
        format!("http://127.0.0.1:{}", registry.gateway.port)
    );

    let mut ports = BTreeSet::from([registry.gateway.port]);
    for entry in &registry.services {
        let port = entry
            .port
            .with_context(|| format!("{} has a port", entry.name))?;
        assert!(
            ports.insert(port),
            "{} has a port of its own: {port}",
            entry.name
        );
        assert_eq!(
            entry.url.trim_end_matches('/'),
            format!("http://127.0.0.1:{port}"),
            "{}",
            entry.name
        );
        let health = host.get(&format!("{}/health", entry.url.trim_end_matches('/')))?;
        assert_eq!(
            health.status, 200,
            "{} /health: {}",
            entry.name, health.text
        );
        let openapi = host.get(&entry.openapi)?;
        assert_eq!(
            openapi.status, 200,
            "{} openapi at {}",
            entry.name, entry.openapi
        );
        let version = openapi.json()?["openapi"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            version.starts_with("3."),
            "{} serves OpenAPI 3.x, got {version:?}",
            entry.name
        );
        assert!(!entry.version.is_empty(), "{} has a version", entry.name);

        if CORE_SERVICES.contains(&entry.name.as_str()) {
            assert_eq!(entry.kind, "core", "{}", entry.name);
            assert_eq!(entry.file, None, "{} has no plugin file", entry.name);
        } else {
            assert_eq!(entry.kind, "plugin", "{}", entry.name);
            assert_eq!(
                entry.version, WORKSPACE_VERSION,
                "{} reports its manifest version",
                entry.name
            );
            let file = entry
                .file
                .as_deref()
                .with_context(|| format!("{} names its plugin file", entry.name))?;
            let expected_file = tasker_e2e::plugin_file_name(&entry.name);
            assert_eq!(
                Path::new(file).file_name().and_then(|f| f.to_str()),
                Some(expected_file.as_str())
            );
            let dir = Path::new(file)
                .parent()
                .map(Path::canonicalize)
                .transpose()?;
            assert_eq!(
                dir,
                Some(host.plugin_dir().canonicalize()?),
                "{} file is in the plugin dir",
                entry.name
            );
        }
    }
    Ok(())
}

#[test]
fn remote_services_are_registered_and_reachable() -> Result {
    let far = TestHost::builder().plugins(&["echo_service"]).start()?;
    let far_echo = far.service_url("echo-service")?;
    let near = TestHost::builder()
        .plugins(&["echo_service"])
        .args(&["--remote", &format!("far-echo={far_echo}")])
        .start()?;

    let entry = near
        .registry()
        .service("far-echo")
        .context("far-echo is registered")?;
    assert_eq!(entry.kind, "remote");
    assert_eq!(entry.file, None);

    let args = json!({ "across": "hosts" });
    let data = near
        .post_json(
            &format!("{}/", near.gateway_service_url("far-echo")),
            &json!({ "method": "echo", "args": args }),
        )?
        .expect_data(200)?;
    assert_eq!(data, args, "a remote service answers through the gateway");

    let via_handle = near
        .call_method(
            "echo-service",
            "callService",
            &json!({ "service": "far-echo", "method": "echo", "args": args }),
        )?
        .expect_data(200)?;
    assert_eq!(
        via_handle,
        json!({ "via": "echo-service", "result": args }),
        "a plugin reaches a remote service"
    );
    Ok(())
}

#[test]
fn single_port_serves_every_service_through_the_gateway() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .args(&["--single-port"])
        .start()?;
    let data = host
        .post_json(
            &format!("{}/hello", host.gateway_service_url("hello-world")),
            &json!({ "name": "one port" }),
        )?
        .expect_data(200)?;
    assert_eq!(data, json!({ "message": "Hello, one port!" }));
    let gateway_port = host.registry().gateway.port;
    for entry in &host.registry().services {
        assert!(
            entry.port.is_none_or(|p| p == gateway_port),
            "with --single-port only the gateway listens; {} has port {:?}",
            entry.name,
            entry.port
        );
        let health = host.get(&format!("{}/health", entry.url.trim_end_matches('/')))?;
        if health.status != 200 {
            bail!(
                "with --single-port, {} registered at {} does not answer /health: {}",
                entry.name,
                entry.url,
                health.status
            );
        }
    }
    Ok(())
}
