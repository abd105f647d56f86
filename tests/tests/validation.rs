//! Validation: arguments are checked against the method's JSON Schema before the plugin
//! runs (a 400 naming the field); malformed JSON is a 400; an unknown method or service
//! is a 404 whose message names it.

use serde_json::{Value, json};
use tasker_e2e::{Reply, Result, TestHost};

fn assert_names_field(reply: &Reply, field: &str) -> Result {
    reply.expect_error(400, "VALIDATION_ERROR")?;
    let body = reply.json()?;
    let mentioned = reply.error_message().contains(field)
        || body
            .get("details")
            .is_some_and(|d| d.to_string().contains(field));
    assert!(
        mentioned,
        "{}: the validation error names `{field}`: {}",
        reply.request, reply.text
    );
    Ok(())
}

fn recorded_methods(host: &TestHost) -> Result<Vec<Value>> {
    let data = host
        .call_method("echo-service", "calls", &json!({}))?
        .expect_data(200)?;
    Ok(data["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c["method"].clone())
        .collect())
}

#[test]
fn invalid_arguments_are_400_naming_the_field() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    assert_names_field(
        &host.call_method("hello-world", "hello", &json!({ "name": 5 }))?,
        "name",
    )?;
    assert_names_field(
        &host.call(
            "hello-world",
            &json!({ "method": "hello", "args": { "name": 5 } }),
        )?,
        "name",
    )?;
    assert_names_field(
        &host.call("hello-world", &json!({ "method": "hello", "args": [5] }))?,
        "name",
    )?;

    host.call_method("echo-service", "resetCalls", &json!({}))?
        .expect_data(200)?;
    assert_names_field(
        &host.call_method("echo-service", "sleep", &json!({ "ms": "x" }))?,
        "ms",
    )?;
    assert_names_field(
        &host.call_method("echo-service", "sleep", &json!({}))?,
        "ms",
    )?;
    assert_names_field(
        &host.call("echo-service", &json!({ "action": "sleep", "ms": -1 }))?,
        "ms",
    )?;
    assert_names_field(
        &host.call_method("echo-service", "sleep", &json!({ "ms": 1, "extra": true }))?,
        "extra",
    )?;
    let gateway_sleep = format!("{}/sleep", host.gateway_service_url("echo-service"));
    assert_names_field(
        &host.post_json(&gateway_sleep, &json!({ "ms": "x" }))?,
        "ms",
    )?;

    let reached_plugin = recorded_methods(&host)?;
    assert!(
        !reached_plugin.contains(&json!("sleep")),
        "invalid arguments never reach the plugin; it recorded {reached_plugin:?}"
    );
    Ok(())
}

#[test]
fn malformed_json_is_400() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let own = host.service_url("echo-service")?;
    let gateway = host.gateway_service_url("echo-service");
    for url in [
        format!("{own}/"),
        format!("{own}/sleep"),
        format!("{gateway}/"),
        format!("{gateway}/echo"),
    ] {
        let reply = host.post_raw(&url, "{\"method\": \"echo\", \"args\": ")?;
        reply.expect_error(400, "VALIDATION_ERROR")?;
    }
    let neither_form = host.call(
        "echo-service",
        &json!({ "neither": "method, action nor chain" }),
    )?;
    assert_eq!(
        neither_form.status, 400,
        "a body in none of the request forms: {}",
        neither_form.text
    );
    Ok(())
}

#[test]
fn unknown_method_is_404_naming_it() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let replies = [
        host.call(
            "echo-service",
            &json!({ "method": "noSuchMethod", "args": [] }),
        )?,
        host.call_method("echo-service", "noSuchMethod", &json!({}))?,
        host.post_json(
            &format!("{}/", host.gateway_service_url("echo-service")),
            &json!({ "action": "noSuchMethod" }),
        )?,
    ];
    for reply in replies {
        reply.expect_error(404, "NOT_FOUND_ERROR")?;
        assert!(
            reply.error_message().contains("noSuchMethod"),
            "{}: message names the method: {}",
            reply.request,
            reply.text
        );
    }
    Ok(())
}

#[test]
fn unknown_service_is_404_naming_it() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let base = host.gateway_service_url("no-such-service");
    let replies = [
        host.post_json(
            &format!("{base}/"),
            &json!({ "method": "echo", "args": [] }),
        )?,
        host.post_json(&format!("{base}/echo"), &json!({}))?,
        host.get(&format!("{base}/health"))?,
    ];
    for reply in replies {
        reply.expect_error(404, "NOT_FOUND_ERROR")?;
        assert!(
            reply.error_message().contains("no-such-service"),
            "{}: message names the service: {}",
            reply.request,
            reply.text
        );
    }
    Ok(())
}
