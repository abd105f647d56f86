//! Graceful shutdown: SIGTERM makes the host exit 0, after letting a call that is
//! already running inside a plugin finish and answer.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use tasker_e2e::{Result, TestHost};

/// How long the in-flight call sleeps inside the plugin.
const IN_FLIGHT_SLEEP_MS: u64 = 1000;
/// How long to wait for the in-flight call to show up in the plugin's call log.
const IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the host may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn sigterm_exits_zero() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    host.call_method("hello-world", "hello", &json!({}))?
        .expect_data(200)?;
    let status = host.stop()?;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}

#[test]
fn sigterm_lets_an_in_flight_call_finish() -> Result {
    let mut host = TestHost::builder().plugins(&["echo_service"]).start()?;
    host.call_method("echo-service", "resetCalls", &json!({}))?
        .expect_data(200)?;
    let sleep_url = format!("{}/sleep", host.service_url("echo-service")?);

    let in_flight = std::thread::spawn(move || -> Result<tasker_e2e::Reply> {
        tasker_e2e::Reply::send(
            tasker_e2e::client()?
                .post(sleep_url)
                .json(&json!({ "ms": IN_FLIGHT_SLEEP_MS })),
        )
    });
    // The plugin records a call before it sleeps, so once `sleep` is in the log the call is in flight.
    let deadline = Instant::now() + IN_FLIGHT_TIMEOUT;
    loop {
        let calls = host
            .call_method("echo-service", "calls", &json!({}))?
            .expect_data(200)?;
        if calls["calls"]
            .as_array()
            .is_some_and(|c| c.iter().any(|call| call["method"] == "sleep"))
        {
            break;
        }
        if Instant::now() >= deadline {
            bail!("the sleep call never reached the plugin: {calls}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    host.terminate()?;
    let reply = in_flight
        .join()
        .map_err(|_| anyhow::anyhow!("the in-flight caller panicked"))??;
    assert_eq!(
        reply.expect_data(200)?,
        json!({ "slept": IN_FLIGHT_SLEEP_MS }),
        "the in-flight call completes"
    );
    let status = host.wait_exit(EXIT_TIMEOUT)?;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}
