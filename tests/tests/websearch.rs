//! The websearch plugin end to end against fake search providers on 127.0.0.1: each
//! provider's request shape (query parameters, headers, keys from the environment) and
//! response parsing, DuckDuckGo's HTML with redirect decoding and duplicates, the service
//! port, gateway, alias and a task through the engine, empty queries rejected, and
//! upstream 401/429/500/timeouts mapped to the documented errors with retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{FakeHttpServer, FakeRequest, FakeResponse, TestHost};

const API_KEY: &str = "ws-key-test-0123456789";

/// A DuckDuckGo HTML result page: an ad, redirect links (one with an encoded query and
/// a non-ASCII path), a duplicate of the first result, a direct link, markup and entities.
const DDG_PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>rust at DuckDuckGo</title></head><body>
<div class="serp__results"><div id="links" class="results">
  <div class="result results_links results_links_deep result--ad">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a rel="nofollow" class="result__a" href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x">Buy Rust</a></h2>
      <a class="result__snippet" href="https://duckduckgo.com/y.js?x">Sponsored</a>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title">
        <a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fwww.rust%2Dlang.org%2Flearn%3Fa%3D1%26b%3D2&amp;rut=abc123">Learn <b>Rust</b> - Rust Programming Language</a>
      </h2>
      <div class="result__extras"><div class="result__extras__url"><a class="result__url" href="//duckduckgo.com/l/?uddg=x">www.rust-lang.org/learn</a></div></div>
      <a class="result__snippet" href="//duckduckgo.com/l/?uddg=x">A language empowering <b>everyone</b> to build reliable &amp; efficient software.&nbsp; &#x27;Fast&#x27;</a>
      <div class="clear"></div>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.com%2Fcaf%C3%A9%2F&amp;rut=def">Caf&eacute; &lt;guide&gt;</a></h2>
      <a class="result__snippet" href="x">Second
         result   snippet</a>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fwww.rust%2Dlang.org%2Flearn%3Fa%3D1%26b%3D2%23top&amp;rut=zzz">Duplicate of the first</a></h2>
      <a class="result__snippet" href="x">dup</a>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a rel="nofollow" class="result__a" href="https://doc.rust-lang.org/book/">The Book</a></h2>
      <div class="result__snippet">No snippet link here</div>
    </div>
  </div>
</div></div></body></html>"#;

fn ddg_fake() -> Result<FakeHttpServer> {
    FakeHttpServer::start(|_req: &FakeRequest| {
        FakeResponse::raw(200, "text/html; charset=utf-8", DDG_PAGE)
    })
}

/// A host with websearch configured by `config` (retries fast, 1.5 s timeout), keys in env.
fn start(config: Value, env: &[(&str, &str)]) -> Result<TestHost> {
    let mut full = json!({ "maxAttempts": 3, "retryBaseDelayMs": 10, "maxRetryWaitMs": 5000, "timeoutMs": 1500 });
    if let (Some(c), Some(extra)) = (full.as_object_mut(), config.as_object()) {
        c.extend(extra.clone());
    }
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), json!({ "websearch": full }).to_string())?;
    let mut builder = TestHost::builder()
        .plugins(&["websearch"])
        .args(&["--plugin-config", &file.path().display().to_string()])
        .env("WEBSEARCH_PROVIDER", "")
        .env("WEBSEARCH_BASE_URL", "")
        .env("WEBSEARCH_API_KEY", API_KEY)
        .env("WEBSEARCH_ENGINE_ID", "engine-test");
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    builder.start()
}

fn search(h: &TestHost, args: Value) -> Result<Value> {
    h.call_method("websearch", "search", &args)?
        .expect_data(200)
}

fn urls(data: &Value) -> Vec<String> {
    data["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["url"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn duckduckgo_html_is_parsed_with_redirects_decoded_and_duplicates_dropped() -> Result<()> {
    let fake = ddg_fake()?;
    let h = start(
        json!({ "provider": "duckduckgo", "baseUrl": format!("{}/html/", fake.url()) }),
        &[],
    )?;
    let data = search(
        &h,
        json!({ "query": "rust", "site": "rust-lang.org", "lang": "en", "limit": 10 }),
    )?;
    ensure!(data["provider"] == "duckduckgo", "{data:#}");
    ensure!(
        urls(&data)
            == [
                "https://www.rust-lang.org/learn?a=1&b=2",
                "https://example.com/café/",
                "https://doc.rust-lang.org/book/"
            ],
        "{data:#}"
    );
    let first = &data["results"][0];
    ensure!(
        first["title"] == "Learn Rust - Rust Programming Language",
        "{first}"
    );
    ensure!(
        first["snippet"]
            == "A language empowering everyone to build reliable & efficient software. 'Fast'",
        "{first}"
    );
    ensure!(first["source"] == "duckduckgo", "{first}");
    ensure!(
        data["results"][1]["title"] == "Café <guide>"
            && data["results"][1]["snippet"] == "Second result snippet",
        "{data:#}"
    );
    ensure!(
        data["results"][2]["snippet"] == "No snippet link here",
        "{data:#}"
    );

    let req = &fake.requests()[0];
    ensure!(
        req.method == "GET" && req.path_only() == "/html/",
        "{req:?}"
    );
    ensure!(
        req.query("q").as_deref() == Some("rust site:rust-lang.org"),
        "{req:?}"
    );
    ensure!(req.query("kl").as_deref() == Some("us-en"), "{req:?}");
    ensure!(
        req.header("user-agent")
            .is_some_and(|ua| ua.contains("Mozilla")),
        "{req:?}"
    );

    // The limit cuts after de-duplication; the original's positional form works too.
    let two = search(&h, json!({ "query": "rust", "limit": 2 }))?;
    ensure!(urls(&two).len() == 2, "{two:#}");
    let positional = h
        .call(
            "websearch",
            &json!({ "method": "search", "args": ["rust", 1] }),
        )?
        .expect_data(200)?;
    ensure!(
        urls(&positional) == ["https://www.rust-lang.org/learn?a=1&b=2"],
        "{positional:#}"
    );
    // Gateway and the seed's alias with the stack processor's `{method, args}` form.
    let url = format!("{}/search", h.gateway_service_url("websearch"));
    ensure!(
        urls(
            &h.post_json(&url, &json!({ "query": "rust", "limit": 10 }))?
                .expect_data(200)?
        )
        .len()
            == 3
    );
    let alias = format!("{}/", h.gateway_service_url("wrappedwebsearch"));
    let via_alias = h
        .post_json(
            &alias,
            &json!({ "method": "search", "args": [{ "query": "rust", "limit": 3 }] }),
        )?
        .expect_data(200)?;
    ensure!(urls(&via_alias).len() == 3, "{via_alias:#}");
    Ok(())
}

#[test]
fn google_request_shape_and_parsing() -> Result<()> {
    let fake = FakeHttpServer::start(|_req: &FakeRequest| {
        FakeResponse::json(
            200,
            &json!({
                "kind": "customsearch#search",
                "items": [
                    { "title": "Tokio - <b>async</b>", "link": "https://tokio.rs/", "snippet": "An asynchronous\nruntime &amp; more", "displayLink": "tokio.rs" },
                    { "title": "Tokio again", "link": "https://TOKIO.rs", "snippet": "duplicate" },
                    { "title": "docs", "link": "https://docs.rs/tokio", "snippet": "" }
                ]
            }),
        )
    })?;
    let h = start(
        json!({ "provider": "google", "baseUrl": format!("{}/customsearch/v1", fake.url()) }),
        &[],
    )?;
    let data = search(
        &h,
        json!({ "query": "tokio", "limit": 20, "lang": "de-DE", "site": "tokio.rs" }),
    )?;
    ensure!(data["provider"] == "google", "{data:#}");
    ensure!(
        urls(&data) == ["https://tokio.rs/", "https://docs.rs/tokio"],
        "{data:#}"
    );
    ensure!(
        data["results"][0]["title"] == "Tokio - async"
            && data["results"][0]["snippet"] == "An asynchronous runtime & more",
        "{data:#}"
    );
    let req = &fake.requests()[0];
    ensure!(req.path_only() == "/customsearch/v1", "{req:?}");
    let q: HashMap<_, _> = req.query_pairs().into_iter().collect();
    ensure!(q.get("key").map(String::as_str) == Some(API_KEY), "{q:?}");
    ensure!(
        q.get("cx").map(String::as_str) == Some("engine-test"),
        "{q:?}"
    );
    ensure!(
        q.get("q").map(String::as_str) == Some("tokio site:tokio.rs"),
        "{q:?}"
    );
    ensure!(
        q.get("num").map(String::as_str) == Some("10"),
        "Google's maximum per request: {q:?}"
    );
    ensure!(
        q.get("lr").map(String::as_str) == Some("lang_de")
            && q.get("hl").map(String::as_str) == Some("de"),
        "{q:?}"
    );

    // No `items` at all means no results, not an error.
    let empty = FakeHttpServer::start(|_r: &FakeRequest| {
        FakeResponse::json(200, &json!({ "kind": "customsearch#search" }))
    })?;
    let h2 = start(
        json!({ "provider": "google", "baseUrl": empty.url(), "engineId": "from-config" }),
        &[],
    )?;
    ensure!(search(&h2, json!({ "query": "nothing" }))?["results"] == json!([]));
    ensure!(empty.requests()[0].query("cx").as_deref() == Some("from-config"));
    Ok(())
}

#[test]
fn google_without_keys_is_a_configuration_error() -> Result<()> {
    let fake = FakeHttpServer::start(|_r: &FakeRequest| FakeResponse::json(200, &json!({})))?;
    let h = start(
        json!({ "provider": "google", "baseUrl": fake.url() }),
        &[("WEBSEARCH_API_KEY", "")],
    )?;
    let reply = h.call_method("websearch", "search", &json!({ "query": "x" }))?;
    reply.expect_error(503, "CONFIGURATION_ERROR")?;
    ensure!(
        reply.error_message().contains("WEBSEARCH_API_KEY"),
        "{}",
        reply.text
    );
    ensure!(fake.request_count() == 0);
    Ok(())
}

#[test]
fn brave_request_shape_and_parsing() -> Result<()> {
    let fake = FakeHttpServer::start(|_req: &FakeRequest| {
        FakeResponse::json(
            200,
            &json!({
                "type": "search",
                "query": { "original": "serde" },
                "web": { "type": "search", "results": [
                    { "title": "<strong>Serde</strong>", "url": "https://serde.rs/", "description": "Serialization &#8212; <strong>fast</strong>", "profile": { "name": "Serde" } },
                    { "title": "serde - crates.io", "url": "https://crates.io/crates/serde", "description": "A framework" },
                    { "title": "dup", "url": "https://serde.rs/#intro", "description": "same page" }
                ] }
            }),
        )
    })?;
    let h = start(
        json!({ "provider": "brave", "baseUrl": format!("{}/res/v1/web/search", fake.url()) }),
        &[],
    )?;
    let data = search(&h, json!({ "query": "serde", "limit": 3, "lang": "fr" }))?;
    ensure!(data["provider"] == "brave", "{data:#}");
    ensure!(
        urls(&data) == ["https://serde.rs/", "https://crates.io/crates/serde"],
        "{data:#}"
    );
    ensure!(
        data["results"][0]["title"] == "Serde"
            && data["results"][0]["snippet"] == "Serialization — fast",
        "{data:#}"
    );
    let req = &fake.requests()[0];
    ensure!(
        req.method == "GET" && req.path_only() == "/res/v1/web/search",
        "{req:?}"
    );
    ensure!(
        req.header("x-subscription-token") == Some(API_KEY),
        "{req:?}"
    );
    ensure!(req.header("accept") == Some("application/json"), "{req:?}");
    ensure!(
        req.query("q").as_deref() == Some("serde") && req.query("count").as_deref() == Some("3"),
        "{req:?}"
    );
    ensure!(req.query("search_lang").as_deref() == Some("fr"), "{req:?}");
    ensure!(
        !req.path.contains(API_KEY),
        "Brave's key travels in the header only"
    );
    Ok(())
}

#[test]
fn searxng_request_shape_and_parsing() -> Result<()> {
    let fake = FakeHttpServer::start(|_req: &FakeRequest| {
        FakeResponse::json(
            200,
            &json!({
                "query": "boa", "number_of_results": 2,
                "results": [
                    { "title": "Boa JS", "url": "https://boajs.dev/", "content": "A JavaScript engine <em>in Rust</em>", "engine": "bing" },
                    { "title": "boa_engine", "url": "https://docs.rs/boa_engine", "content": "docs", "engine": "google" }
                ]
            }),
        )
    })?;
    let h = start(
        json!({ "provider": "searxng", "baseUrl": fake.url() }),
        &[("WEBSEARCH_API_KEY", "")],
    )?;
    let data = search(&h, json!({ "query": "boa", "lang": "en" }))?;
    ensure!(
        data["provider"] == "searxng" && urls(&data).len() == 2,
        "{data:#}"
    );
    ensure!(
        data["results"][0]["snippet"] == "A JavaScript engine in Rust",
        "{data:#}"
    );
    let req = &fake.requests()[0];
    ensure!(req.path_only() == "/search", "{req:?}");
    ensure!(
        req.query("format").as_deref() == Some("json") && req.query("q").as_deref() == Some("boa"),
        "{req:?}"
    );
    ensure!(req.query("language").as_deref() == Some("en"), "{req:?}");
    ensure!(
        req.header("x-subscription-token").is_none() && req.query("key").is_none(),
        "no key: {req:?}"
    );
    Ok(())
}

#[test]
fn empty_queries_are_validation_errors_and_server_time_answers() -> Result<()> {
    let fake = ddg_fake()?;
    let h = start(json!({ "baseUrl": fake.url() }), &[])?;
    for args in [json!({ "query": "" }), json!({ "query": "   " }), json!({})] {
        h.call_method("websearch", "search", &args)?
            .expect_error(400, "VALIDATION_ERROR")?;
    }
    ensure!(
        fake.request_count() == 0,
        "no upstream request for an empty query"
    );
    let time = h
        .call_method("websearch", "getServerTime", &json!({}))?
        .expect_data(200)?;
    ensure!(time["source"] == "websearch", "{time}");
    let stamp = time["timestamp"].as_str().context("timestamp")?;
    ensure!(
        stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{stamp}"
    );
    Ok(())
}

#[test]
fn a_task_searches_through_the_engine() -> Result<()> {
    let fake = ddg_fake()?;
    let h = start(json!({ "baseUrl": fake.url() }), &[])?;
    let tasks = h.service_url("task-executor")?;
    let code = r#"module.exports = async function({ q }) {
        const found = await __callHostTool__("websearch", "search", [{ query: q, limit: 3 }]);
        const time = await __callHostTool__("wrappedwebsearch", "getServerTime", []);
        return { provider: found.provider, urls: found.results.map(r => r.url), hasTime: typeof time.timestamp === "string" };
    }"#;
    h.post_json(
        &format!("{tasks}/tasks"),
        &json!({ "name": "find", "code": code }),
    )?
    .expect_data(200)?;
    let run = h
        .post_json(
            &format!("{tasks}/execute?wait=60"),
            &json!({ "task_identifier": "find", "input": { "q": "rust" } }),
        )?
        .expect_data(200)?;
    ensure!(run["status"] == "completed", "{run:#}");
    ensure!(
        run["result"]["provider"] == "duckduckgo" && run["result"]["hasTime"] == true,
        "{run:#}"
    );
    ensure!(
        run["result"]["urls"].as_array().map(Vec::len) == Some(3),
        "{run:#}"
    );
    Ok(())
}

#[test]
fn upstream_errors_map_to_documented_codes_with_retries() -> Result<()> {
    let attempts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let fake = FakeHttpServer::start(move |req: &FakeRequest| {
        let q = req.query("q").unwrap_or_default();
        let attempt = {
            let mut seen = attempts.lock().unwrap();
            let n = seen.entry(q.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let ok = FakeResponse::json(
            200,
            &json!({ "web": { "results": [{ "title": q, "url": "https://ok.example/", "description": "" }] } }),
        );
        let error = |status: u16, detail: &str| {
            FakeResponse::json(
                status,
                &json!({ "type": "ErrorResponse", "error": { "status": status, "detail": detail } }),
            )
        };
        match q.as_str() {
            "unauthorized" => error(401, "The provided subscription token is invalid"),
            "busy" if attempt == 1 => {
                error(429, "Request rate limit exceeded").header("Retry-After", "1")
            }
            "throttled" => error(429, "Request rate limit exceeded").header("Retry-After", "0"),
            "flaky" if attempt == 1 => error(500, "internal"),
            "down" => FakeResponse::raw(502, "text/html", "<html>Bad Gateway</html>"),
            "slow" => {
                std::thread::sleep(Duration::from_secs(5));
                ok
            }
            _ => ok,
        }
    })?;
    let h = start(json!({ "provider": "brave", "baseUrl": fake.url() }), &[])?;
    let count = |q: &str| {
        fake.requests()
            .into_iter()
            .filter(|r| r.query("q").as_deref() == Some(q))
            .collect::<Vec<_>>()
    };
    let call = |q: &str| h.call_method("websearch", "search", &json!({ "query": q }));

    let reply = call("unauthorized")?;
    let body = reply.expect_error(401, "AUTHENTICATION_ERROR")?;
    ensure!(
        reply
            .error_message()
            .contains("subscription token is invalid"),
        "{}",
        reply.text
    );
    ensure!(
        body["details"]["upstreamStatus"] == 401 && count("unauthorized").len() == 1,
        "{body}"
    );
    ensure!(!reply.text.contains(API_KEY), "key leaked: {}", reply.text);

    let data = call("busy")?.expect_data(200)?;
    ensure!(data["results"][0]["title"] == "busy", "{data}");
    let tries = count("busy");
    ensure!(tries.len() == 2, "{} attempts", tries.len());
    let gap = tries[1].received_at - tries[0].received_at;
    ensure!(
        gap >= Duration::from_millis(950),
        "Retry-After ignored: retried after {gap:?}"
    );

    let body = call("throttled")?.expect_error(429, "RATE_LIMIT_ERROR")?;
    ensure!(
        body["details"]["attempts"] == 3 && count("throttled").len() == 3,
        "{body}"
    );

    call("flaky")?.expect_data(200)?;
    ensure!(count("flaky").len() == 2);

    let reply = call("down")?;
    let body = reply.expect_error(502, "EXTERNAL_SERVICE_ERROR")?;
    ensure!(
        body["details"]["upstreamStatus"] == 502 && count("down").len() == 3,
        "{body}"
    );
    ensure!(
        reply.error_message().contains("Bad Gateway"),
        "{}",
        reply.text
    );

    call("slow")?.expect_error(504, "TIMEOUT_ERROR")?;
    Ok(())
}

/// With the keystore plugin built in this target dir: Brave's key stored there wins over
/// the environment (and reaches the upstream only in its header).
#[test]
fn the_keystore_key_wins_over_the_environment() -> Result<()> {
    if tasker_e2e::plugin_file("keystore").is_err() {
        eprintln!("keystore plugin not built in this target dir: keystore path not tested here");
        return Ok(());
    }
    let fake = FakeHttpServer::start(|_r: &FakeRequest| {
        FakeResponse::json(200, &json!({ "web": { "results": [] } }))
    })?;
    let file = tempfile::NamedTempFile::new()?;
    let keys_dir = tempfile::tempdir()?;
    let keys_db = format!("sqlite://{}", keys_dir.path().join("keys.db").display());
    let config = json!({
        "websearch": { "provider": "brave", "baseUrl": fake.url() },
        "keystore": { "databaseUrl": keys_db }
    });
    std::fs::write(file.path(), config.to_string())?;
    let h = TestHost::builder()
        .plugins(&["websearch", "keystore"])
        .args(&["--plugin-config", &file.path().display().to_string()])
        .env("WEBSEARCH_PROVIDER", "")
        .env("WEBSEARCH_BASE_URL", "")
        .env("WEBSEARCH_API_KEY", API_KEY)
        .start()?;
    h.call(
        "keystore",
        &json!({ "method": "setKey", "args": ["WEBSEARCH_API_KEY", "ws-from-keystore"] }),
    )?
    .expect_data(200)?;
    search(&h, json!({ "query": "x" }))?;
    let req = &fake.requests()[0];
    ensure!(
        req.header("x-subscription-token") == Some("ws-from-keystore"),
        "{req:?}"
    );
    Ok(())
}
