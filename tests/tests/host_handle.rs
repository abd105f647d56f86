//! The host handle: a plugin calls another service through the host's registry
//! (echo-service `callService` → hello-world), by name and with positional arguments,
//! and a call to an unknown service comes back as a clean error.

use serde_json::json;
use tasker_e2e::{Result, TestHost};

#[test]
fn a_plugin_calls_another_through_the_host_handle() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    let expected = json!({ "via": "echo-service", "result": { "message": "Hello, Ada!" } });

    let named = json!({ "service": "hello-world", "method": "hello", "args": { "name": "Ada" } });
    assert_eq!(
        host.call_method("echo-service", "callService", &named)?
            .expect_data(200)?,
        expected
    );

    let positional =
        json!({ "method": "callService", "args": ["hello-world", "hello", { "name": "Ada" }] });
    assert_eq!(
        host.call("echo-service", &positional)?.expect_data(200)?,
        expected
    );

    let through_gateway = format!("{}/callService", host.gateway_service_url("echo-service"));
    assert_eq!(
        host.post_json(&through_gateway, &named)?.expect_data(200)?,
        expected
    );
    Ok(())
}

#[test]
fn a_host_handle_call_to_an_unknown_service_is_a_clean_error() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let reply = host.call_method(
        "echo-service",
        "callService",
        &json!({ "service": "no-such-service", "method": "x" }),
    )?;
    let body = reply.json()?;
    assert!(
        reply.status >= 400,
        "an error status: {} {}",
        reply.status,
        reply.text
    );
    assert_eq!(body["success"], false, "{}", reply.text);
    assert!(
        reply.error_message().contains("no-such-service"),
        "the message names the service: {}",
        reply.text
    );
    let still = host
        .call_method("echo-service", "echo", &json!([1]))?
        .expect_data(200)?;
    assert_eq!(still, json!([1]));
    Ok(())
}
