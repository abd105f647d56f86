//! API authentication and authorisation against the real binary: bearer tokens with scopes
//! (`read` ⊂ `execute` ⊂ `admin`) on the gateway and a service's own port, `/health` open,
//! secrets readable over HTTP by `admin` only while tasks read them with their submitter's
//! `execute`, a task refused an `admin` method, tokens absent from the logs, the bind rule,
//! the body limit, the submission rate limit and the slow-client timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Reply, TestHost};

const ADMIN: &str = "admin-token-e2e-0123456789";
const EXECUTE: &str = "execute-token-e2e-0123456789";
const READ: &str = "read-token-e2e-0123456789";

fn tokens_env() -> String {
    format!("admin:{ADMIN},execute:{EXECUTE},read:{READ}")
}

fn host_with_tokens(plugins: &[&str]) -> Result<TestHost> {
    TestHost::builder()
        .plugins(plugins)
        .env("TASKER_API_TOKENS", &tokens_env())
        .start()
}

/// Asserts a 401 with the envelope and `WWW-Authenticate: Bearer`.
fn expect_unauthenticated(reply: &Reply) -> Result<()> {
    reply.expect_error(401, "AUTHENTICATION_ERROR")?;
    ensure!(
        reply.header("www-authenticate").starts_with("Bearer"),
        "{}: 401 without WWW-Authenticate: Bearer ({:?})",
        reply.request,
        reply.headers
    );
    Ok(())
}

/// Asserts a 403 whose message names the scope needed.
fn expect_forbidden(reply: &Reply, needed: &str) -> Result<()> {
    reply.expect_error(403, "AUTHORIZATION_ERROR")?;
    let message = reply.error_message();
    ensure!(
        message.contains(&format!("scope '{needed}'")),
        "{}: the message should name scope '{needed}': {message}",
        reply.request
    );
    Ok(())
}

#[test]
fn scopes_gate_the_gateway_and_a_service_port() -> Result<()> {
    let h = host_with_tokens(&["echo-service", "keystore"])?;
    let gw = h.gateway_url().to_owned();
    let echo_port = h.service_url("echo-service")?;
    let echo_gw = h.gateway_service_url("echo-service");

    // /health stays open everywhere.
    for url in [
        format!("{gw}/health"),
        format!("{echo_gw}/health"),
        format!("{echo_port}/health"),
    ] {
        h.get(&url)?.expect_data(200)?;
    }
    // Everything else needs a valid token: docs and documents included.
    for url in [
        format!("{gw}/services"),
        format!("{gw}/docs"),
        format!("{gw}/openapi.json"),
        format!("{echo_port}/docs"),
        format!("{echo_port}/openapi.json"),
    ] {
        expect_unauthenticated(&h.get(&url)?)?;
        expect_unauthenticated(&h.get_as("not-a-configured-token-123", &url)?)?;
        let ok = h.get_as(READ, &url)?;
        ensure!(ok.status == 200, "{url} with a read token: {}", ok.status);
    }
    // The cluster report is operator information: admin only.
    let cluster = format!("{gw}/cluster");
    expect_unauthenticated(&h.get(&cluster)?)?;
    expect_forbidden(&h.get_as(EXECUTE, &cluster)?, "admin")?;
    let report = h.get_as(ADMIN, &cluster)?.expect_data(200)?;
    ensure!(report["hosts"].is_array(), "{report:#}");
    // An ordinary method needs execute, on both mounts and in every request form.
    for base in [&echo_port, &echo_gw] {
        let url = format!("{base}/echo");
        expect_unauthenticated(&h.post_json(&url, &json!({ "a": 1 }))?)?;
        expect_forbidden(&h.post_json_as(READ, &url, &json!({ "a": 1 }))?, "execute")?;
        let echoed = h
            .post_json_as(EXECUTE, &url, &json!({ "a": 1 }))?
            .expect_data(200)?;
        ensure!(echoed == json!({ "a": 1 }), "echo returned {echoed}");
        let root = format!("{base}/");
        let form = json!({ "method": "echo", "args": [2] });
        expect_forbidden(&h.post_json_as(READ, &root, &form)?, "execute")?;
        h.post_json_as(EXECUTE, &root, &form)?.expect_data(200)?;
    }

    // Keystore: writes need admin; a value is a secret over HTTP (admin), in every form.
    let keystore = h.gateway_service_url("keystore");
    let set = json!({ "name": "API_SECRET", "value": "s3cret-value-xyz" });
    expect_forbidden(
        &h.post_json_as(EXECUTE, &format!("{keystore}/setKey"), &set)?,
        "admin",
    )?;
    h.post_json_as(ADMIN, &format!("{keystore}/setKey"), &set)?
        .expect_data(200)?;
    let get = json!({ "name": "API_SECRET" });
    expect_forbidden(
        &h.post_json_as(EXECUTE, &format!("{keystore}/getKey"), &get)?,
        "admin",
    )?;
    let action_form = json!({ "action": "getKey", "key": "API_SECRET" });
    expect_forbidden(
        &h.post_json_as(
            EXECUTE,
            &format!("{}/", h.service_url("keystore")?),
            &action_form,
        )?,
        "admin",
    )?;
    let value = h
        .post_json_as(ADMIN, &format!("{keystore}/getKey"), &get)?
        .expect_data(200)?;
    ensure!(
        value == json!("s3cret-value-xyz"),
        "getKey returned {value}"
    );
    // Names are not secrets: listing needs only execute.
    h.post_json_as(EXECUTE, &format!("{keystore}/listKeys"), &json!({}))?
        .expect_data(200)?;

    // Task API: register is admin, execute is execute, status and list are read.
    let tasks = h.gateway_service_url("task-executor");
    let task = json!({ "name": "noop", "code": "module.exports = async () => 1;" });
    expect_forbidden(
        &h.post_json_as(EXECUTE, &format!("{tasks}/tasks"), &task)?,
        "admin",
    )?;
    h.post_json_as(ADMIN, &format!("{tasks}/tasks"), &task)?
        .expect_data(200)?;
    let submit = json!({ "task_identifier": "noop", "input": {} });
    expect_forbidden(
        &h.post_json_as(READ, &format!("{tasks}/execute"), &submit)?,
        "execute",
    )?;
    h.post_json_as(EXECUTE, &format!("{tasks}/execute"), &submit)?
        .expect_data(202)?;
    h.get_as(READ, &format!("{tasks}/list"))?.expect_data(200)?;
    h.get_as(READ, &format!("{tasks}/status"))?
        .expect_data(200)?;
    // Running unregistered code is as powerful as registering it.
    let direct = json!({ "taskCode": "module.exports = async () => 2;", "taskName": "direct" });
    expect_forbidden(
        &h.post_json_as(EXECUTE, &format!("{gw}/services/deno-executor/"), &direct)?,
        "admin",
    )?;

    // No token ever reaches the log output.
    let logs = h.logs().text();
    for token in [ADMIN, EXECUTE, READ, "not-a-configured-token-123"] {
        ensure!(
            !logs.contains(token),
            "a token appears in the host's output:\n{logs}"
        );
    }
    ensure!(
        logs.contains("authentication on: 3 API tokens"),
        "no start-up line about authentication:\n{logs}"
    );
    Ok(())
}

/// Submits `task` with `token` and waits for the finished run.
fn run_as(h: &TestHost, token: &str, task: &str) -> Result<Value> {
    let url = format!("{}/execute?wait=60", h.gateway_service_url("task-executor"));
    h.post_json_as(
        token,
        &url,
        &json!({ "task_identifier": task, "input": {} }),
    )?
    .expect_data(200)
}

#[test]
fn tasks_act_with_their_submitters_scope() -> Result<()> {
    let h = host_with_tokens(&["keystore"])?;
    let keystore = h.gateway_service_url("keystore");
    let tasks = h.gateway_service_url("task-executor");
    h.post_json_as(
        ADMIN,
        &format!("{keystore}/setKey"),
        &json!({ "name": "API_SECRET", "value": "s3cret-value-xyz" }),
    )?
    .expect_data(200)?;
    let register = |name: &str, code: &str| -> Result<()> {
        h.post_json_as(
            ADMIN,
            &format!("{tasks}/tasks"),
            &json!({ "name": name, "code": code }),
        )?
        .expect_data(200)?;
        Ok(())
    };
    register(
        "reader",
        r#"module.exports = async () => await __callHostTool__("keystore", "getKey", ["API_SECRET"]);"#,
    )?;
    register(
        "writer",
        r#"module.exports = async () => { await __callHostTool__("keystore", "setKey", ["OTHER", "v"]); return "wrote"; };"#,
    )?;

    // A task submitted with execute reads a secret through __callHostTool__.
    let read = run_as(&h, EXECUTE, "reader")?;
    ensure!(
        read["status"] == "completed" && read["result"] == "s3cret-value-xyz",
        "reader run: {read}"
    );
    // ... but cannot call an admin method: the run fails with a clear error.
    let refused = run_as(&h, EXECUTE, "writer")?;
    ensure!(
        refused["status"] == "failed",
        "writer run with execute: {refused}"
    );
    let error = refused["error"].to_string();
    ensure!(
        error.contains("keystore.setKey")
            && error.contains("scope 'admin'")
            && error.contains("'execute'"),
        "the run's error should name the method and both scopes: {error}"
    );
    // The same task submitted by an admin succeeds: it is the scope, not the method.
    let allowed = run_as(&h, ADMIN, "writer")?;
    ensure!(
        allowed["status"] == "completed" && allowed["result"] == "wrote",
        "writer run with admin: {allowed}"
    );
    Ok(())
}

#[test]
fn without_tokens_the_host_stays_on_loopback_unless_told_otherwise() -> Result<()> {
    let failure = TestHost::builder()
        .args(&["--bind", "0.0.0.0"])
        .start_expect_failure()?;
    ensure!(
        failure.stderr.contains("--insecure-no-auth") && failure.stderr.contains("0.0.0.0"),
        "the refusal should name the address and --insecure-no-auth:\n{}",
        failure.stderr
    );

    let local = TestHost::builder().start()?;
    let logs = local.logs().text();
    ensure!(
        logs.contains("authentication is OFF"),
        "no start-up warning that auth is off:\n{logs}"
    );
    // Without tokens everything is allowed (loopback only).
    local
        .get(&format!("{}/services", local.gateway_url()))?
        .expect_data(200)?;

    let exposed = TestHost::builder()
        .args(&["--bind", "0.0.0.0", "--insecure-no-auth", "--single-port"])
        .start()?;
    ensure!(
        exposed.logs().text().contains("--insecure-no-auth"),
        "no warning about the insecure bind:\n{}",
        exposed.logs().text()
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_tokens_file_must_be_private() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("tokens");
    std::fs::write(&file, format!("# operators\nadmin {ADMIN}\nread {READ}\n"))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let path = file.display().to_string();
    let failure = TestHost::builder()
        .args(&["--api-tokens-file", &path])
        .start_expect_failure()?;
    ensure!(
        failure.stderr.contains("chmod 600") && !failure.stderr.contains(ADMIN),
        "a world-readable tokens file should be refused:\n{}",
        failure.stderr
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    let h = TestHost::builder()
        .args(&["--api-tokens-file", &path])
        .start()?;
    let services = format!("{}/services", h.gateway_url());
    expect_unauthenticated(&h.get(&services)?)?;
    h.get_as(READ, &services)?.expect_data(200)?;
    Ok(())
}

#[test]
fn bodies_over_the_limit_are_refused_with_413() -> Result<()> {
    let h = TestHost::builder()
        .plugins(&["echo-service"])
        .args(&["--max-body-bytes", "1024"])
        .start()?;
    let url = format!("{}/echo", h.gateway_service_url("echo-service"));
    h.post_json(&url, &json!({ "text": "x".repeat(900) }))?
        .expect_data(200)?;
    let reply = h.post_json(&url, &json!({ "text": "x".repeat(2000) }))?;
    reply.expect_error(413, "VALIDATION_ERROR")?;
    ensure!(
        reply.error_message().contains("1024"),
        "the 413 should name the limit: {}",
        reply.text
    );
    Ok(())
}

#[test]
fn submissions_are_rate_limited_per_client() -> Result<()> {
    // Two submissions in a burst, then one per 100 s: the third is refused at once.
    let h = TestHost::builder()
        .args(&["--submit-rate-per-sec", "0.01", "--submit-burst", "2"])
        .start()?;
    let tasks = h.gateway_service_url("task-executor");
    h.post_json(
        &format!("{tasks}/tasks"),
        &json!({ "name": "noop", "code": "module.exports = async () => 1;" }),
    )?
    .expect_data(200)?;
    let submit = json!({ "task_identifier": "noop", "input": {} });
    for _ in 0..2 {
        h.post_json(&format!("{tasks}/execute"), &submit)?
            .expect_data(202)?;
    }
    let limited = h.post_json(&format!("{tasks}/execute"), &submit)?;
    limited.expect_error(429, "RATE_LIMIT_ERROR")?;
    let retry_after: u64 = limited
        .header("retry-after")
        .parse()
        .with_context(|| format!("Retry-After missing or not a number: {:?}", limited.headers))?;
    ensure!(retry_after >= 1, "Retry-After {retry_after}");
    // The method form counts too; reads are not limited.
    let method_form = json!({ "method": "execute", "args": submit });
    h.post_json(&format!("{tasks}/"), &method_form)?
        .expect_error(429, "RATE_LIMIT_ERROR")?;
    h.get(&format!("{tasks}/status"))?.expect_data(200)?;
    Ok(())
}

#[test]
fn a_client_trickling_its_request_head_is_disconnected() -> Result<()> {
    let h = TestHost::builder()
        .args(&["--header-timeout-secs", "1"])
        .start()?;
    let port = h.registry().gateway.port;
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")?;
    let started = Instant::now();
    let mut buf = [0u8; 256];
    // One header byte every 100 ms: an idle timeout reset by every byte never fires.
    let closed = loop {
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        if stream.write_all(b"X").is_err() {
            break true;
        }
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break true,
        }
    };
    ensure!(
        closed,
        "the host kept a connection open for 20 s while its request head trickled in"
    );
    // The host still serves everyone else.
    h.get(&format!("{}/health", h.gateway_url()))?
        .expect_data(200)?;
    Ok(())
}
