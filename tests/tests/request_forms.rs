//! The request forms of the original: `{method, args}`, `{action, ...fields}`,
//! `{chain: [{property, args}]}` on `POST /` and `POST /<method>` all reach the same
//! method with the same arguments, on a service's own port and on the gateway.

use serde_json::{Value, json};
use tasker_e2e::{Result, TestHost};

/// Sends every body to `POST <base>/` and returns the data each produced.
fn data_of_each(host: &TestHost, base: &str, bodies: &[Value]) -> Result<Vec<Value>> {
    bodies
        .iter()
        .map(|body| host.post_json(&format!("{base}/"), body)?.expect_data(200))
        .collect()
}

#[test]
fn all_request_forms_reach_the_same_method() -> Result {
    let host = TestHost::builder().plugins(&["hello_world"]).start()?;
    let expected = json!({ "message": "Hello, Ada!" });
    let bodies = [
        json!({ "method": "hello", "args": ["Ada"] }),
        json!({ "method": "hello", "args": [{ "name": "Ada" }] }),
        json!({ "method": "hello", "args": { "name": "Ada" } }),
        json!({ "action": "hello", "name": "Ada" }),
        json!({ "chain": [{ "property": "hello", "args": ["Ada"] }] }),
    ];
    for base in [
        host.service_url("hello-world")?,
        host.gateway_service_url("hello-world"),
    ] {
        for (body, data) in bodies.iter().zip(data_of_each(&host, &base, &bodies)?) {
            assert_eq!(data, expected, "{body} via {base}");
        }
        let direct = host
            .post_json(&format!("{base}/hello"), &json!({ "name": "Ada" }))?
            .expect_data(200)?;
        assert_eq!(direct, expected, "POST {base}/hello");
    }
    Ok(())
}

#[test]
fn echo_receives_the_arguments_of_every_form_unchanged() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let base = host.service_url("echo-service")?;
    let object = json!({ "a": 1, "b": [true, null], "c": { "d": "e" } });
    let list = json!([1, "two", { "three": 3 }]);

    let cases = [
        (json!({ "method": "echo", "args": object }), object.clone()),
        (json!({ "method": "echo", "args": list }), list.clone()),
        (
            json!({ "action": "echo", "a": 1, "b": [true, null], "c": { "d": "e" } }),
            object.clone(),
        ),
        (
            json!({ "chain": [{ "property": "echo", "args": list }] }),
            list.clone(),
        ),
    ];
    for (body, expected) in cases {
        let data = host
            .post_json(&format!("{base}/"), &body)?
            .expect_data(200)?;
        assert_eq!(data, expected, "{body}");
    }
    let direct = host
        .post_json(&format!("{base}/echo"), &object)?
        .expect_data(200)?;
    assert_eq!(direct, object, "POST /echo");
    Ok(())
}

#[test]
fn positional_arguments_map_by_position() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let base = host.service_url("echo-service")?;
    let sleep = host.post_json(
        &format!("{base}/"),
        &json!({ "chain": [{ "property": "sleep", "args": [1] }] }),
    )?;
    assert_eq!(sleep.expect_data(200)?, json!({ "slept": 1 }));

    let fail = host.post_json(
        &format!("{base}/"),
        &json!({ "method": "fail", "args": ["CONFLICT_ERROR", "taken"] }),
    )?;
    let body = fail.expect_error(409, "CONFLICT_ERROR")?;
    assert_eq!(
        body["error"], "taken",
        "the second positional argument is the message"
    );
    Ok(())
}

#[test]
fn a_chain_of_properties_names_a_dotted_method_path() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    let body = json!({ "chain": [{ "property": "deeply" }, { "property": "nested", "args": [] }] });
    let reply = host.call("echo-service", &body)?;
    reply.expect_error(404, "NOT_FOUND_ERROR")?;
    assert!(
        reply.error_message().contains("deeply.nested"),
        "message names the joined path: {}",
        reply.text
    );
    Ok(())
}
