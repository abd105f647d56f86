//! The openai plugin end to end against a fake OpenAI server on 127.0.0.1: every method
//! passes its body through (service port, gateway, alias, and from a task through the
//! engine) with the key, organization and project headers; upstream 401, 429 (Retry-After
//! honoured, then success; and exhausted), 500 (retried) and timeouts map to the
//! documented errors; a missing key is a configuration error; the key comes from the
//! environment, and from the keystore when that plugin is built.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{FakeHttpServer, FakeRequest, FakeResponse, TestHost};

const ENV_KEY: &str = "sk-env-test-0123456789";

/// A fake OpenAI: canned bodies per endpoint, plus error scenarios chosen by the model
/// id in `GET /v1/models/{id}` (each scenario counts its own attempts).
fn fake_openai() -> Result<FakeHttpServer> {
    let attempts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    FakeHttpServer::start(move |req: &FakeRequest| {
        let path = req.path_only().to_owned();
        let attempt = {
            let mut seen = attempts.lock().unwrap();
            let n = seen.entry(path.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let body = req.json().unwrap_or(Value::Null);
        let error = |status: u16, message: &str| {
            FakeResponse::json(
                status,
                &json!({ "error": { "message": message, "type": "test", "code": null } }),
            )
        };
        match (req.method.as_str(), path.as_str()) {
            ("POST", "/v1/chat/completions") => FakeResponse::json(
                200,
                &json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
                    "choices": [{ "index": 0, "finish_reason": "stop",
                        "message": { "role": "assistant", "content": format!("echo: {}", body["messages"][0]["content"].as_str().unwrap_or("")) } }],
                    "usage": { "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5 }
                }),
            ),
            ("POST", "/v1/embeddings") => FakeResponse::json(
                200,
                &json!({
                    "object": "list", "model": body["model"],
                    "data": [{ "object": "embedding", "index": 0, "embedding": [0.25, -0.5] }],
                    "usage": { "prompt_tokens": 1, "total_tokens": 1 }
                }),
            ),
            ("POST", "/v1/responses") => FakeResponse::json(
                200,
                &json!({
                    "id": "resp_1", "object": "response", "status": "completed", "model": body["model"],
                    "output": [{ "type": "message", "content": [{ "type": "output_text", "text": "hi" }] }]
                }),
            ),
            ("GET", "/v1/models") => FakeResponse::json(
                200,
                &json!({
                    "object": "list", "data": [{ "id": "gpt-test", "object": "model", "created": 1, "owned_by": "tests" }]
                }),
            ),
            ("GET", "/v1/models/unauthorized") => {
                error(401, &format!("Incorrect API key provided: {ENV_KEY}"))
            }
            ("GET", "/v1/models/busy-then-ok") if attempt == 1 => {
                error(429, "Rate limit reached").header("Retry-After", "1")
            }
            ("GET", "/v1/models/always-busy") => {
                error(429, "Rate limit reached").header("retry-after-ms", "20")
            }
            ("GET", "/v1/models/flaky") if attempt == 1 => error(500, "The server had an error"),
            ("GET", "/v1/models/down") => error(503, "The engine is currently overloaded"),
            ("GET", "/v1/models/slow") => {
                std::thread::sleep(Duration::from_secs(5));
                error(200, "too late")
            }
            ("GET", p) if p.starts_with("/v1/models/") => FakeResponse::json(
                200,
                &json!({
                    "id": p.trim_start_matches("/v1/models/"), "object": "model", "created": 1, "owned_by": "tests"
                }),
            ),
            _ => error(404, "no such endpoint"),
        }
    })
}

/// A host with the openai plugin configured against `fake`; `env` is applied on top of
/// `OPENAI_API_KEY=ENV_KEY`.
fn start(fake: &FakeHttpServer, extra_config: Value, env: &[(&str, &str)]) -> Result<TestHost> {
    start_with(&["openai"], fake, extra_config, env, json!({}))
}

/// `others` is the configuration of the other plugins (`{"keystore": {...}}`).
fn start_with(
    plugins: &[&str],
    fake: &FakeHttpServer,
    extra_config: Value,
    env: &[(&str, &str)],
    others: Value,
) -> Result<TestHost> {
    let mut config = json!({
        "baseUrl": format!("{}/v1", fake.url()),
        "organization": "org-test",
        "project": "proj-test",
        "maxAttempts": 3,
        "retryBaseDelayMs": 10,
        "maxRetryWaitMs": 5000,
        "timeoutMs": 1500
    });
    if let (Some(c), Some(extra)) = (config.as_object_mut(), extra_config.as_object()) {
        c.extend(extra.clone());
    }
    let file = tempfile::NamedTempFile::new()?;
    let mut all = json!({ "openai": config });
    if let (Some(all), Some(others)) = (all.as_object_mut(), others.as_object()) {
        all.extend(others.clone());
    }
    std::fs::write(file.path(), all.to_string())?;
    let mut builder = TestHost::builder()
        .plugins(plugins)
        .args(&["--plugin-config", &file.path().display().to_string()])
        .env("OPENAI_API_KEY", ENV_KEY)
        .env("OPENAI_BASE_URL", "")
        .env("OPENAI_ORGANIZATION", "")
        .env("OPENAI_PROJECT", "");
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    // The host reads the configuration file at start-up only.
    builder.start()
}

fn chat_args() -> Value {
    json!({ "model": "gpt-test", "messages": [{ "role": "user", "content": "ping" }], "temperature": 0.5, "user": "e2e" })
}

#[test]
fn every_method_passes_bodies_through_with_key_and_headers() -> Result<()> {
    let fake = fake_openai()?;
    let h = start(&fake, json!({}), &[])?;

    let chat = h
        .call_method("openai", "chat.completions.create", &chat_args())?
        .expect_data(200)?;
    ensure!(
        chat["choices"][0]["message"]["content"] == "echo: ping",
        "{chat}"
    );
    ensure!(chat["usage"]["total_tokens"] == 5, "{chat}");
    let req = &fake.requests()[0];
    ensure!(
        req.method == "POST" && req.path == "/v1/chat/completions",
        "{req:?}"
    );
    ensure!(
        req.json()? == chat_args(),
        "the body is passed through unchanged: {}",
        req.body_text()
    );
    ensure!(
        req.header("authorization") == Some(&format!("Bearer {ENV_KEY}")[..]),
        "{req:?}"
    );
    ensure!(
        req.header("openai-organization") == Some("org-test"),
        "{req:?}"
    );
    ensure!(req.header("openai-project") == Some("proj-test"), "{req:?}");
    ensure!(
        req.header("content-type") == Some("application/json"),
        "{req:?}"
    );

    let emb = h
        .call_method(
            "openai",
            "embeddings.create",
            &json!({ "model": "emb-test", "input": ["a"] }),
        )?
        .expect_data(200)?;
    ensure!(
        emb["data"][0]["embedding"] == json!([0.25, -0.5]) && emb["model"] == "emb-test",
        "{emb}"
    );
    let list = h
        .call_method("openai", "models.list", &json!({}))?
        .expect_data(200)?;
    ensure!(list["data"][0]["id"] == "gpt-test", "{list}");
    // Positional form, as the original's tasks sent it: `args: ["<model>"]`.
    let one = h
        .call(
            "openai",
            &json!({ "method": "models.retrieve", "args": ["gpt-4o mini"] }),
        )?
        .expect_data(200)?;
    ensure!(
        one["id"] == "gpt-4o%20mini" || one["id"] == "gpt-4o mini",
        "{one}"
    );
    ensure!(fake.requests().last().context("request")?.path == "/v1/models/gpt-4o%20mini");
    let resp = h
        .call_method(
            "openai",
            "responses.create",
            &json!({ "model": "gpt-test", "input": "hi" }),
        )?
        .expect_data(200)?;
    ensure!(
        resp["object"] == "response" && resp["model"] == "gpt-test",
        "{resp}"
    );

    // The gateway, and the seed's alias with the `{action, args}` form.
    let url = format!(
        "{}/chat.completions.create",
        h.gateway_service_url("openai")
    );
    let via_gateway = h.post_json(&url, &chat_args())?.expect_data(200)?;
    ensure!(via_gateway == chat, "{via_gateway}");
    let alias = format!("{}/", h.gateway_service_url("wrappedopenai"));
    let via_alias = h
        .post_json(
            &alias,
            &json!({ "action": "chat.completions.create", "args": [chat_args()] }),
        )?
        .expect_data(200)?;
    ensure!(via_alias == chat, "{via_alias}");

    // Arguments are validated against the manifest before any request goes out.
    let before = fake.request_count();
    h.call_method(
        "openai",
        "chat.completions.create",
        &json!({ "model": "m" }),
    )?
    .expect_error(400, "VALIDATION_ERROR")?;
    ensure!(
        fake.request_count() == before,
        "no upstream request for invalid arguments"
    );
    Ok(())
}

#[test]
fn a_task_calls_openai_through_the_engine() -> Result<()> {
    let fake = fake_openai()?;
    let h = start(&fake, json!({}), &[])?;
    let tasks = h.service_url("task-executor")?;
    let code = r#"module.exports = async function({ question }) {
        const chat = await __callHostTool__("openai", ["chat", "completions", "create"],
            [{ model: "gpt-test", messages: [{ role: "user", content: question }] }]);
        const model = await __callHostTool__("wrappedopenai", "models.retrieve", ["gpt-test"]);
        return { answer: chat.choices[0].message.content, owner: model.owned_by };
    }"#;
    h.post_json(
        &format!("{tasks}/tasks"),
        &json!({ "name": "ask", "code": code }),
    )?
    .expect_data(200)?;
    let run = h
        .post_json(
            &format!("{tasks}/execute?wait=60"),
            &json!({ "task_identifier": "ask", "input": { "question": "hello" } }),
        )?
        .expect_data(200)?;
    ensure!(run["status"] == "completed", "{run:#}");
    ensure!(
        run["result"] == json!({ "answer": "echo: hello", "owner": "tests" }),
        "{run:#}"
    );
    Ok(())
}

#[test]
fn upstream_errors_map_to_documented_codes_with_retries() -> Result<()> {
    let fake = fake_openai()?;
    let h = start(&fake, json!({}), &[])?;
    let retrieve =
        |model: &str| h.call_method("openai", "models.retrieve", &json!({ "model": model }));
    let attempts_at = |model: &str| {
        let path = format!("/v1/models/{model}");
        fake.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect::<Vec<_>>()
    };

    // 401: not retried; upstream status and message kept, the key redacted.
    let reply = retrieve("unauthorized")?;
    let body = reply.expect_error(401, "AUTHENTICATION_ERROR")?;
    let message = reply.error_message();
    ensure!(
        message.contains("401") && message.contains("Incorrect API key provided"),
        "{message}"
    );
    ensure!(
        !reply.text.contains(ENV_KEY),
        "the key leaked: {}",
        reply.text
    );
    ensure!(body["details"]["upstreamStatus"] == 401, "{body}");
    ensure!(attempts_at("unauthorized").len() == 1, "401 is not retried");

    // 429 with Retry-After: 1, then success: retried after at least the asked wait.
    let ok = retrieve("busy-then-ok")?.expect_data(200)?;
    ensure!(ok["id"] == "busy-then-ok", "{ok}");
    let tries = attempts_at("busy-then-ok");
    ensure!(tries.len() == 2, "{} attempts", tries.len());
    let gap = tries[1].received_at - tries[0].received_at;
    ensure!(
        gap >= Duration::from_millis(950),
        "Retry-After ignored: retried after {gap:?}"
    );

    // 429 every time: RATE_LIMIT_ERROR after all attempts.
    let reply = retrieve("always-busy")?;
    let body = reply.expect_error(429, "RATE_LIMIT_ERROR")?;
    ensure!(
        reply.error_message().contains("Rate limit reached"),
        "{}",
        reply.text
    );
    ensure!(
        body["details"]["upstreamStatus"] == 429 && body["details"]["attempts"] == 3,
        "{body}"
    );
    ensure!(attempts_at("always-busy").len() == 3);

    // 500 once: retried, then success.
    retrieve("flaky")?.expect_data(200)?;
    ensure!(attempts_at("flaky").len() == 2);

    // 5xx every time: EXTERNAL_SERVICE_ERROR with the upstream status and message.
    let reply = retrieve("down")?;
    let body = reply.expect_error(502, "EXTERNAL_SERVICE_ERROR")?;
    ensure!(
        reply.error_message().contains("503") && reply.error_message().contains("overloaded"),
        "{}",
        reply.text
    );
    ensure!(body["details"]["upstreamStatus"] == 503, "{body}");
    ensure!(attempts_at("down").len() == 3);

    // No answer within timeoutMs: TIMEOUT_ERROR.
    let reply = retrieve("slow")?;
    reply.expect_error(504, "TIMEOUT_ERROR")?;
    ensure!(reply.error_message().contains("1500 ms"), "{}", reply.text);
    Ok(())
}

#[test]
fn a_missing_key_is_a_configuration_error() -> Result<()> {
    let fake = fake_openai()?;
    let h = start(&fake, json!({}), &[("OPENAI_API_KEY", "")])?;
    let reply = h.call_method("openai", "models.list", &json!({}))?;
    reply.expect_error(503, "CONFIGURATION_ERROR")?;
    ensure!(
        reply.error_message().contains("OPENAI_API_KEY"),
        "{}",
        reply.text
    );
    ensure!(fake.request_count() == 0, "no request without a key");
    Ok(())
}

/// With the keystore plugin built in this target dir: the key stored there wins over the
/// environment, and a rotated key is used once the short cache expires.
#[test]
fn the_keystore_key_wins_and_rotation_takes_effect() -> Result<()> {
    if tasker_e2e::plugin_file("keystore").is_err() {
        eprintln!("keystore plugin not built in this target dir: keystore path not tested here");
        return Ok(());
    }
    let fake = fake_openai()?;
    // The keystore's own SQLite file, named explicitly.
    let keys_dir = tempfile::tempdir()?;
    let keystore = json!({ "keystore": { "databaseUrl": format!("sqlite://{}", keys_dir.path().join("keys.db").display()) } });
    let h = start_with(
        &["openai", "keystore"],
        &fake,
        json!({ "credentialTtlSecs": 1 }),
        &[],
        keystore,
    )?;
    let set = |value: &str| {
        h.call(
            "keystore",
            &json!({ "method": "setKey", "args": ["OPENAI_API_KEY", value] }),
        )
    };
    set("sk-from-keystore-1")?.expect_data(200)?;
    h.call_method("openai", "models.list", &json!({}))?
        .expect_data(200)?;
    let auth = fake
        .requests()
        .last()
        .context("request")?
        .header("authorization")
        .map(str::to_owned);
    ensure!(
        auth.as_deref() == Some("Bearer sk-from-keystore-1"),
        "{auth:?}"
    );

    set("sk-from-keystore-2")?.expect_data(200)?;
    // Poll: the old key may be reused until its 1 s cache entry expires.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        h.call_method("openai", "models.list", &json!({}))?
            .expect_data(200)?;
        let auth = fake
            .requests()
            .last()
            .context("request")?
            .header("authorization")
            .map(str::to_owned);
        if auth.as_deref() == Some("Bearer sk-from-keystore-2") {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "rotated key never used: {auth:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
