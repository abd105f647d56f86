//! The admin-debug plugin end to end: both gapi probes actually work against the fake
//! Google (directly through the registry, and as a durable task run with its journal),
//! every action answers as a method and in the `{"action": ...}` form, on the service's
//! port and the gateway; `registry`, `plugin-health` and `queue` report the real host;
//! gapi failures come back as clear errors, not as a success.

mod fake_google;

use anyhow::{Context, Result, ensure};
use fake_google::{FakeGoogle, assert_clean};
use serde_json::{Value, json};
use tasker_e2e::TestHost;

fn host(google: &FakeGoogle, with_credentials: bool) -> Result<TestHost> {
    let mut builder = TestHost::builder().plugins(&["gapi", "admin_debug", "echo_service"]);
    for (name, value) in google.env() {
        if with_credentials || !name.starts_with("GAPI_SERVICE_ACCOUNT") {
            builder = builder.env(&name, &value);
        }
    }
    builder.start()
}

#[test]
fn gapi_probes_work_directly_and_through_the_engine() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host(&google, true)?;

    let direct = h
        .call_method("admin-debug", "test-direct-gapi", &json!({}))?
        .expect_data(200)?;
    ensure!(
        direct["success"] == true && direct["message"] == "Direct GAPI call successful",
        "{direct:#}"
    );
    ensure!(
        direct["domainsCount"] == 2 && direct["resultType"] == "object",
        "{direct:#}"
    );
    ensure!(
        direct["fullResult"]["domains"][0]["domainName"] == "alpha.test",
        "{direct:#}"
    );
    let by_action = h
        .call("admin-debug", &json!({ "action": "test-direct-gapi" }))?
        .expect_data(200)?;
    ensure!(by_action["domainsCount"] == 2, "{by_action:#}");

    let url = format!(
        "{}/test-stack-processor",
        h.gateway_service_url("admin-debug")
    );
    let stack = h
        .post_json(&url, &json!({ "waitSeconds": 60 }))?
        .expect_data(200)?;
    ensure!(
        stack["success"] == true && stack["runStatus"] == "completed",
        "{stack:#}"
    );
    ensure!(
        stack["domainsCount"] == 2 && stack["taskRunId"].as_i64().is_some(),
        "{stack:#}"
    );
    ensure!(stack["timings"]["totalMs"].as_u64().is_some(), "{stack:#}");
    let calls = stack["calls"].as_array().context("calls")?;
    ensure!(calls.len() == 1, "{stack:#}");
    ensure!(
        calls[0]["service"] == "gapi" && calls[0]["method"] == "admin.domains.list",
        "{stack:#}"
    );
    ensure!(
        calls[0]["status"] == "completed" && calls[0]["attempts"] == 1,
        "{stack:#}"
    );
    ensure!(
        google
            .api_requests("/admin/directory/v1/customer/my_customer/domains")
            .len()
            == 3
    );
    assert_clean(&google)
}

#[test]
fn registry_health_and_queue_describe_the_running_host() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host(&google, true)?;

    let registry = h
        .call("admin-debug", &json!({ "action": "registry" }))?
        .expect_data(200)?;
    let services = registry["services"].as_array().context("services")?;
    let names: Vec<&str> = services.iter().filter_map(|s| s["name"].as_str()).collect();
    for expected in ["task-executor", "gapi", "admin-debug", "echo-service"] {
        ensure!(
            names.contains(&expected),
            "{expected} missing: {registry:#}"
        );
    }
    ensure!(
        registry["count"].as_u64() == Some(names.len() as u64),
        "{registry:#}"
    );
    let gapi = services
        .iter()
        .find(|s| s["name"] == "gapi")
        .context("gapi entry")?;
    ensure!(
        gapi["kind"] == "plugin" && gapi["port"].as_u64().is_some(),
        "{gapi:#}"
    );
    ensure!(
        gapi["file"].as_str().is_some_and(|f| f.contains("gapi"))
            && gapi["version"].as_str().is_some(),
        "{gapi:#}"
    );
    ensure!(
        gapi["aliases"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("wrappedgapi"))),
        "{gapi:#}"
    );
    ensure!(
        registry["hostGaps"]
            .as_array()
            .is_some_and(|g| !g.is_empty()),
        "{registry:#}"
    );

    let health = h
        .call_method("admin-debug", "plugin-health", &json!({}))?
        .expect_data(200)?;
    ensure!(
        health["unhealthy"] == 0 && health["healthy"].as_u64() == Some(names.len() as u64),
        "{health:#}"
    );
    let gapi_health = health["services"]
        .as_array()
        .context("services")?
        .iter()
        .find(|s| s["name"] == "gapi")
        .context("gapi")?;
    ensure!(
        gapi_health["report"]["details"]["cache_size"]
            .as_u64()
            .is_some()
            && gapi_health["httpStatus"] == 200,
        "{gapi_health:#}"
    );

    h.call_method("admin-debug", "test-stack-processor", &json!({}))?
        .expect_data(200)?;
    let queue = h
        .call_method("admin-debug", "queue", &json!({}))?
        .expect_data(200)?;
    ensure!(
        queue["runs"]["completed"].as_u64().is_some_and(|n| n >= 1),
        "{queue:#}"
    );
    ensure!(
        queue["calls"].is_object() && queue.get("oldestReadyAgeMs").is_some(),
        "{queue:#}"
    );

    let unknown = h.call("admin-debug", &json!({ "action": "no-such-action" }))?;
    ensure!(
        unknown.status == 404 && unknown.error_message().contains("no-such-action"),
        "{}",
        unknown.text
    );
    Ok(())
}

#[test]
fn gapi_failures_are_reported_as_errors() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host(&google, false)?;
    let body = h
        .call_method("admin-debug", "test-direct-gapi", &json!({}))?
        .expect_error(503, "CONFIGURATION_ERROR")?;
    ensure!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Direct GAPI call failed"),
        "{body:#}"
    );

    let reply = h.call_method(
        "admin-debug",
        "test-stack-processor",
        &json!({ "waitSeconds": 60 }),
    )?;
    let body: Value = reply.json()?;
    ensure!(
        reply.status >= 400 && body["success"] == false,
        "{}",
        reply.text
    );
    ensure!(
        reply
            .error_message()
            .starts_with("Stack processor test failed"),
        "{}",
        reply.text
    );
    ensure!(
        body["details"]["taskRunId"].as_i64().is_some(),
        "{}",
        reply.text
    );
    Ok(())
}
