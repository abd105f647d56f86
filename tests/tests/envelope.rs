//! The response envelope of the seed README: success and error bodies with metadata,
//! error codes mapped to HTTP statuses, `X-Request-Id` accepted or generated, echoed and
//! logged, and CORS (preflight, `Access-Control-Allow-Origin: *`).

use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use tasker_e2e::{Reply, Result, TestHost, client};

/// How long to wait for the log line about a request.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

fn assert_metadata(reply: &Reply) -> Result<String> {
    let body = reply.json()?;
    let metadata = &body["metadata"];
    assert!(
        metadata["duration"].as_f64().is_some_and(|d| d >= 0.0),
        "{}: metadata.duration: {}",
        reply.request,
        reply.text
    );
    let timestamp = metadata["timestamp"].as_str().unwrap_or_default();
    assert!(
        timestamp.len() >= 19 && timestamp.as_bytes()[10] == b'T',
        "{}: ISO metadata.timestamp: {}",
        reply.request,
        reply.text
    );
    let request_id = metadata["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !request_id.is_empty(),
        "{}: metadata.requestId: {}",
        reply.request,
        reply.text
    );
    assert_eq!(
        reply.header("x-request-id"),
        request_id,
        "{}: X-Request-Id header equals metadata.requestId",
        reply.request
    );
    Ok(request_id)
}

#[test]
fn success_and_error_envelopes_carry_metadata_and_a_generated_request_id() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let first = host.call(
        "echo-service",
        &json!({ "method": "echo", "args": { "x": 1 } }),
    )?;
    assert_eq!(first.expect_data(200)?, json!({ "x": 1 }));
    let keys: Vec<String> = first
        .json()?
        .as_object()
        .context("object body")?
        .keys()
        .cloned()
        .collect();
    assert!(
        keys.iter()
            .all(|k| ["success", "data", "metadata"].contains(&k.as_str())),
        "success body keys: {keys:?}"
    );
    let first_id = assert_metadata(&first)?;

    let second = host.call(
        "echo-service",
        &json!({ "method": "echo", "args": { "x": 2 } }),
    )?;
    let second_id = assert_metadata(&second)?;
    assert_ne!(
        first_id, second_id,
        "each request gets its own generated id"
    );

    let error = host.call("echo-service", &json!({ "method": "noSuchMethod" }))?;
    error.expect_error(404, "NOT_FOUND_ERROR")?;
    assert_metadata(&error)?;
    Ok(())
}

#[test]
fn a_given_request_id_is_echoed_and_logged() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service"])
        .args(&["--debug"])
        .start()?;
    let request_id = format!("e2e-request-{}", std::process::id());
    let url = format!("{}/", host.service_url("echo-service")?);
    let send = |body: Value| {
        Reply::send(
            client()?
                .post(&url)
                .header("X-Request-Id", &request_id)
                .json(&body),
        )
    };

    let ok = send(json!({ "method": "echo", "args": [] }))?;
    ok.expect_data(200)?;
    assert_eq!(assert_metadata(&ok)?, request_id);
    let failed = send(json!({ "method": "fail", "args": ["TIMEOUT_ERROR", "slow"] }))?;
    failed.expect_error(504, "TIMEOUT_ERROR")?;
    assert_eq!(assert_metadata(&failed)?, request_id);

    host.logs().wait_for_line(&[&request_id], LOG_TIMEOUT)?;
    Ok(())
}

#[test]
fn plugin_error_codes_map_to_http_statuses() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let table = [
        ("VALIDATION_ERROR", 400),
        ("AUTHENTICATION_ERROR", 401),
        ("AUTHORIZATION_ERROR", 403),
        ("NOT_FOUND_ERROR", 404),
        ("CONFLICT_ERROR", 409),
        ("RATE_LIMIT_ERROR", 429),
        ("INTERNAL_ERROR", 500),
        ("NOT_IMPLEMENTED", 501),
        ("EXTERNAL_SERVICE_ERROR", 502),
        ("CONFIGURATION_ERROR", 503),
        ("TIMEOUT_ERROR", 504),
    ];
    for (code, status) in table {
        let message = format!("asked to fail with {code}");
        let reply = host.call_method(
            "echo-service",
            "fail",
            &json!({ "code": code, "message": message }),
        )?;
        let body = reply.expect_error(status, code)?;
        assert_eq!(
            body["error"],
            message.as_str(),
            "{code}: the plugin's message is passed on"
        );
        assert_metadata(&reply)?;
    }
    Ok(())
}

#[test]
fn cors_preflight_and_allow_origin() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    for base in [
        host.service_url("echo-service")?,
        host.gateway_service_url("echo-service"),
    ] {
        let preflight = Reply::send(
            client()?
                .request(Method::OPTIONS, format!("{base}/"))
                .header("Origin", "http://browser.example")
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "content-type,x-request-id",
                ),
        )?;
        assert!(
            (200..300).contains(&preflight.status),
            "{}: preflight status {}",
            preflight.request,
            preflight.status
        );
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            "*",
            "{}",
            preflight.request
        );
        let methods = preflight
            .header("access-control-allow-methods")
            .to_ascii_uppercase();
        assert!(
            methods.contains("POST") || methods == "*",
            "{}: allow-methods {methods:?}",
            preflight.request
        );

        let actual = Reply::send(
            client()?
                .post(format!("{base}/"))
                .header("Origin", "http://browser.example")
                .json(&json!({ "method": "echo", "args": [] })),
        )?;
        actual.expect_data(200)?;
        assert_eq!(
            actual.header("access-control-allow-origin"),
            "*",
            "{}",
            actual.request
        );
    }
    Ok(())
}
