//! Panic containment: a plugin that panics answers `PLUGIN_PANIC` (HTTP 500), and the
//! host and that plugin keep serving later calls, also when panics and normal calls
//! arrive at the same time.

use serde_json::json;
use tasker_e2e::{Result, TestHost};

/// Threads hammering the plugin at once in the concurrent test.
const CONCURRENT_CALLERS: usize = 8;

#[test]
fn a_panicking_call_returns_plugin_panic_and_the_next_call_succeeds() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    for round in 0..3 {
        host.call_method("echo-service", "panic", &json!({}))?
            .expect_error(500, "PLUGIN_PANIC")?;
        host.call(
            "echo-service",
            &json!({ "method": "panic", "args": { "message": "boom" } }),
        )?
        .expect_error(500, "PLUGIN_PANIC")?;
        let data = host
            .call(
                "echo-service",
                &json!({ "method": "echo", "args": { "round": round } }),
            )?
            .expect_data(200)?;
        assert_eq!(
            data,
            json!({ "round": round }),
            "echo-service still answers after a panic"
        );
    }
    let hello = host
        .call_method("hello-world", "hello", &json!({ "name": "survivor" }))?
        .expect_data(200)?;
    assert_eq!(
        hello,
        json!({ "message": "Hello, survivor!" }),
        "other plugins are unaffected"
    );
    assert_eq!(
        host.get(&format!("{}/health", host.gateway_url()))?.status,
        200
    );
    Ok(())
}

#[test]
fn panics_and_normal_calls_at_the_same_time_are_contained() -> Result {
    let host = TestHost::builder().plugins(&["echo_service"]).start()?;
    std::thread::scope(|scope| -> Result {
        let workers: Vec<_> = (0..CONCURRENT_CALLERS)
            .map(|i| {
                let host = &host;
                scope.spawn(move || -> Result {
                    host.call_method(
                        "echo-service",
                        "panic",
                        &json!({ "message": format!("panic {i}") }),
                    )?
                    .expect_error(500, "PLUGIN_PANIC")?;
                    let data = host
                        .call_method("echo-service", "echo", &json!({ "caller": i }))?
                        .expect_data(200)?;
                    assert_eq!(data, json!({ "caller": i }));
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a caller thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(())
}
