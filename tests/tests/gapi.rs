//! The gapi plugin end to end against a fake Google on 127.0.0.1 that verifies every
//! service-account JWT: calls through the service's own port, the gateway and the
//! `wrappedgapi` chain form; impersonation (admin for Admin SDK, the mailbox for Gmail);
//! repeated query parameters; pagination; token reuse and the refresh window; upstream
//! 401/429/500/timeout mapping with retries; credentials from env and from the keystore;
//! and tasks on the durable engine, including the original's comprehensive Gmail search.

mod fake_google;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fake_google::{
    ADMIN, FakeGoogle, SCOPE_DOMAIN, SCOPE_GMAIL, SCOPE_USER, TestKey, assert_clean,
};
use serde_json::{Value, json};
use tasker_e2e::{TestHost, plugin_file};

const DOMAINS: &str = "/admin/directory/v1/customer/my_customer/domains";

fn host_with(google: &FakeGoogle, plugins: &[&str], env: &[(&str, &str)]) -> Result<TestHost> {
    let mut builder = TestHost::builder().plugins(plugins);
    for (name, value) in google.env() {
        if !env.iter().any(|(n, _)| *n == name) {
            builder = builder.env(&name, &value);
        }
    }
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    builder.start()
}

fn domains(h: &TestHost) -> Result<Value> {
    h.call_method(
        "gapi",
        "admin.domains.list",
        &json!({ "customer": "my_customer" }),
    )?
    .expect_data(200)
}

#[test]
fn domains_list_works_on_the_port_the_gateway_and_the_chain_form() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[])?;
    let own_port = domains(&h)?;
    let names: Vec<&str> = own_port["domains"]
        .as_array()
        .context("domains")?
        .iter()
        .filter_map(|d| d["domainName"].as_str())
        .collect();
    ensure!(names == ["alpha.test", "beta.test"], "{own_port:#}");
    ensure!(
        own_port["kind"] == "admin#directory#domains",
        "Google's JSON is passed through unchanged: {own_port:#}"
    );

    let gateway = h
        .post_json(
            &format!("{}/admin.domains.list", h.gateway_service_url("gapi")),
            &json!({ "customer": ADMIN }),
        )?
        .expect_data(200)?;
    ensure!(
        gateway == own_port,
        "the admin's e-mail means my_customer: {gateway:#}"
    );
    let chain = json!({ "chain": [
        { "type": "get", "property": "admin" },
        { "type": "get", "property": "domains" },
        { "type": "call", "property": "list", "args": [{ "customer": "my_customer" }] }
    ] });
    ensure!(h.call("wrappedgapi", &chain)?.expect_data(200)? == own_port);

    // One verified token, impersonating the admin with the domain scope, served all three.
    let grants = google.token_requests();
    ensure!(grants.len() == 1, "{grants:#?}");
    ensure!(
        grants[0].subject == ADMIN && grants[0].scopes == [SCOPE_DOMAIN],
        "{grants:#?}"
    );
    ensure!(
        grants[0].claims["aud"] == google.token_uri(),
        "{:#?}",
        grants[0].claims
    );
    ensure!(google.api_requests(DOMAINS).len() == 3);
    assert_clean(&google)
}

#[test]
fn gmail_impersonates_the_mailbox_and_repeats_metadata_headers() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[])?;
    let list = h
        .call_method(
            "gapi",
            "gmail.users.messages.list",
            &json!({ "userId": "ada@alpha.test", "q": "invoice" }),
        )?
        .expect_data(200)?;
    let ids: Vec<&str> = list["messages"]
        .as_array()
        .context("messages")?
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    ensure!(
        ids.len() == 2 && list["resultSizeEstimate"] == 2,
        "{list:#}"
    );

    let args = json!({ "userId": "ada@alpha.test", "id": ids[0], "format": "metadata", "metadataHeaders": ["Subject", "From", "Date"] });
    let message = h
        .call_method("gapi", "gmail.users.messages.get", &args)?
        .expect_data(200)?;
    let headers: Vec<&str> = message["payload"]["headers"]
        .as_array()
        .context("headers")?
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    ensure!(
        headers == ["Subject", "From", "Date"],
        "only the named headers come back: {message:#}"
    );
    let get = google
        .api_requests("/gmail/v1/users/ada@alpha.test/messages/")
        .pop()
        .context("the get request")?;
    let repeated: Vec<String> = get
        .query_pairs()
        .into_iter()
        .filter(|(k, _)| k == "metadataHeaders")
        .map(|(_, v)| v)
        .collect();
    ensure!(
        repeated == ["Subject", "From", "Date"],
        "sent repeated, not comma-joined: {}",
        get.path
    );

    // `me` is the admin's own mailbox.
    let mine = h
        .call_method(
            "gapi",
            "gmail.users.messages.list",
            &json!({ "userId": "me" }),
        )?
        .expect_data(200)?;
    ensure!(mine["resultSizeEstimate"] == 2, "{mine:#}");
    let subjects: Vec<(String, Vec<String>)> = google
        .token_requests()
        .into_iter()
        .map(|g| (g.subject, g.scopes))
        .collect();
    ensure!(
        subjects
            == [
                ("ada@alpha.test".to_owned(), vec![SCOPE_GMAIL.to_owned()]),
                (ADMIN.to_owned(), vec![SCOPE_GMAIL.to_owned()])
            ],
        "one token per mailbox, never sub=me: {subjects:?}"
    );
    assert_clean(&google)
}

#[test]
fn auto_paginate_merges_every_page() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[])?;
    let args = json!({ "domain": "alpha.test", "maxResults": 2, "orderBy": "email" });
    let first = h
        .call_method("gapi", "admin.users.list", &args)?
        .expect_data(200)?;
    ensure!(
        first["users"].as_array().map(Vec::len) == Some(2) && first["nextPageToken"] == "p2",
        "{first:#}"
    );

    let mut all_args = args.clone();
    all_args["autoPaginate"] = json!(true);
    let all = h
        .call_method("gapi", "admin.users.list", &all_args)?
        .expect_data(200)?;
    let emails: Vec<&str> = all["users"]
        .as_array()
        .context("users")?
        .iter()
        .filter_map(|u| u["primaryEmail"].as_str())
        .collect();
    ensure!(
        emails == ["ada@alpha.test", ADMIN, "alan@alpha.test"],
        "{all:#}"
    );
    ensure!(
        all.get("nextPageToken").is_none() && all["kind"] == "admin#directory#users",
        "{all:#}"
    );
    let pages = google.api_requests("/admin/directory/v1/users");
    ensure!(pages.len() == 3, "one plain call, then two pages");
    ensure!(
        pages[2].query("pageToken").as_deref() == Some("p2")
            && pages[2].query("domain").as_deref() == Some("alpha.test")
    );

    let mail = h
        .call_method(
            "gapi",
            "gmail.users.messages.list",
            &json!({ "userId": "bob@beta.test", "maxResults": 1, "autoPaginate": true }),
        )?
        .expect_data(200)?;
    ensure!(
        mail["messages"].as_array().map(Vec::len) == Some(2) && mail.get("nextPageToken").is_none(),
        "{mail:#}"
    );
    assert_clean(&google)
}

#[test]
fn tokens_are_reused_until_their_refresh_window() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[])?;
    for _ in 0..3 {
        domains(&h)?;
    }
    h.call_method("gapi", "admin.users.list", &json!({}))?
        .expect_data(200)?;
    h.call_method(
        "gapi",
        "gmail.users.messages.list",
        &json!({ "userId": "bob@beta.test" }),
    )?
    .expect_data(200)?;
    ensure!(
        google.token_requests().len() == 3,
        "one token per (scopes, subject): {:#?}",
        google.token_requests()
    );
    let grants: Vec<(String, String)> = google
        .token_requests()
        .into_iter()
        .map(|g| (g.scopes.join(" "), g.subject))
        .collect();
    ensure!(
        grants[1] == (SCOPE_USER.to_owned(), ADMIN.to_owned()),
        "{grants:?}"
    );

    let info = h
        .call_method("gapi", "getTokenInfo", &json!({}))?
        .expect_data(200)?;
    ensure!(info["count"] == 3, "{info:#}");
    let tokens = info["tokens"].as_array().context("tokens")?;
    ensure!(
        tokens
            .iter()
            .all(|t| t["valid"] == true && t["expires"].as_str().is_some()),
        "{info:#}"
    );
    ensure!(
        !info.to_string().contains("ya29."),
        "token values are never shown: {info}"
    );
    let bob_key = format!("{SCOPE_GMAIL}|bob@beta.test");
    ensure!(
        tokens.iter().any(|t| t["scope"] == bob_key.as_str()),
        "{info:#}"
    );

    let cleared = h
        .call(
            "gapi",
            &json!({ "method": "clearTokenCache", "args": [bob_key] }),
        )?
        .expect_data(200)?;
    ensure!(
        cleared["message"] == format!("Cleared token cache for scope: {bob_key}"),
        "{cleared:#}"
    );
    domains(&h)?;
    ensure!(
        google.token_requests().len() == 3,
        "other tokens stay cached"
    );
    h.call_method(
        "gapi",
        "gmail.users.messages.list",
        &json!({ "userId": "bob@beta.test" }),
    )?
    .expect_data(200)?;
    ensure!(
        google.token_requests().len() == 4,
        "the cleared token is fetched again"
    );

    // Tokens that expire within the 5-minute refresh margin are never reused.
    google.set_expires_in(200);
    h.call_method("gapi", "clearTokenCache", &json!({}))?
        .expect_data(200)?;
    domains(&h)?;
    domains(&h)?;
    ensure!(
        google.token_requests().len() == 6,
        "each call refreshed: {}",
        google.token_requests().len()
    );
    let info = h
        .call_method("gapi", "getTokenInfo", &json!({}))?
        .expect_data(200)?;
    ensure!(info["tokens"][0]["valid"] == false, "{info:#}");
    assert_clean(&google)
}

#[test]
fn upstream_errors_map_to_the_envelope_with_retries() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[("GAPI_TIMEOUT_MS", "1500")])?;
    let no_delay = Duration::ZERO;
    let attempts = |since: usize| google.api_requests(DOMAINS).len() - since;

    // 429 twice, then success: retried transparently.
    let before = attempts(0);
    google.fail_next(DOMAINS, 2, 429, Some("0"), no_delay);
    domains(&h)?;
    ensure!(attempts(before) == 3, "two retries");

    // Retry-After is honoured: the retry arrives no sooner than asked.
    let before = attempts(0);
    google.fail_next(DOMAINS, 1, 503, Some("1"), no_delay);
    domains(&h)?;
    let sent = google.api_requests(DOMAINS);
    let gap = sent[before + 1].received_at - sent[before].received_at;
    ensure!(gap >= Duration::from_millis(900), "retried after {gap:?}");

    // 429 on every attempt: RATE_LIMIT_ERROR with Google's status and message.
    let before = attempts(0);
    google.fail_next(DOMAINS, 4, 429, Some("0"), no_delay);
    let body = h
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(429, "RATE_LIMIT_ERROR")?;
    ensure!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("scripted failure 429"),
        "{body:#}"
    );
    ensure!(
        body["details"]["upstreamStatus"] == 429 && body["details"]["attempts"] == 4,
        "{body:#}"
    );
    ensure!(attempts(before) == 4, "first attempt and three retries");

    // A Retry-After longer than we would block for ends the retries at once.
    let before = attempts(0);
    google.fail_next(DOMAINS, 1, 429, Some("120"), no_delay);
    let body = h
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(429, "RATE_LIMIT_ERROR")?;
    ensure!(
        body["details"]["retryAfterSeconds"] == 120 && attempts(before) == 1,
        "{body:#}"
    );

    // 500 on every attempt: EXTERNAL_SERVICE_ERROR (502), never a bare 500.
    google.fail_next(DOMAINS, 4, 500, None, no_delay);
    let body = h
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(502, "EXTERNAL_SERVICE_ERROR")?;
    ensure!(body["details"]["upstreamStatus"] == 500, "{body:#}");
    ensure!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{body:#}"
    );

    // 401: the token is dropped and fetched once more, then AUTHENTICATION_ERROR.
    let (before, tokens_before) = (attempts(0), google.token_requests().len());
    google.fail_next(DOMAINS, 2, 401, None, no_delay);
    let body = h
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(401, "AUTHENTICATION_ERROR")?;
    ensure!(body["details"]["upstreamStatus"] == 401, "{body:#}");
    ensure!(
        attempts(before) == 2 && google.token_requests().len() == tokens_before + 1,
        "one refresh, no blind retries"
    );

    // No answer within the timeout: TIMEOUT_ERROR (504).
    google.fail_next(DOMAINS, 1, 500, None, Duration::from_secs(5));
    let body = h
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(504, "TIMEOUT_ERROR")?;
    ensure!(body["details"]["timeoutMs"] == 1500, "{body:#}");

    // And the plugin keeps serving.
    domains(&h)?;
    ensure!(
        !h.logs().text().contains("ya29."),
        "no token in the host's logs"
    );
    Ok(())
}

#[test]
fn credentials_come_from_env_and_bad_ones_are_clear_errors() -> Result<()> {
    let google = FakeGoogle::start()?;
    // Nothing configured at all.
    let bare = TestHost::builder()
        .plugins(&["gapi"])
        .env("GAPI_API_ROOT", &google.url())
        .start()?;
    let body = bare
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(503, "CONFIGURATION_ERROR")?;
    ensure!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("GAPI_SERVICE_ACCOUNT_JSON"),
        "{body:#}"
    );
    bare.call_method("gapi", "checkCredentials", &json!({}))?
        .expect_error(503, "CONFIGURATION_ERROR")?;
    drop(bare);

    let h = host_with(&google, &["gapi"], &[])?;
    let check = h
        .call_method("gapi", "checkCredentials", &json!({ "verify": true }))?
        .expect_data(200)?;
    ensure!(
        check["status"] == "ok" && check["adminEmail"] == ADMIN && check["verified"] == true,
        "{check:#}"
    );
    ensure!(
        check["sources"]["serviceAccount"] == "environment",
        "{check:#}"
    );
    ensure!(!check.to_string().contains("PRIVATE KEY"), "{check}");
    drop(h);

    // A key Google does not know: the token exchange is refused with Google's message.
    let stranger = TestKey::generate()?;
    let json = google.service_account_json(&stranger);
    let h = host_with(&google, &["gapi"], &[("GAPI_SERVICE_ACCOUNT_JSON", &json)])?;
    let body = h
        .call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(401, "AUTHENTICATION_ERROR")?;
    let message = body["error"].as_str().unwrap_or_default();
    ensure!(
        message.contains("invalid_grant") && message.contains("Invalid JWT Signature"),
        "{body:#}"
    );
    ensure!(
        !h.logs().text().contains("PRIVATE KEY"),
        "the key never reaches the logs"
    );
    Ok(())
}

#[test]
fn credentials_come_from_the_keystore_and_rotate_without_restart() -> Result<()> {
    if plugin_file("keystore").is_err() {
        eprintln!("skipped: the keystore plugin is not built in this target dir");
        return Ok(());
    }
    let google = FakeGoogle::start()?;
    let env = [
        ("GAPI_SERVICE_ACCOUNT_JSON", ""),
        ("GAPI_ADMIN_EMAIL", ""),
        ("GAPI_CREDENTIAL_TTL_SECONDS", "0"),
        (
            "TASKER_MASTER_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
    ];
    // The keystore keeps its own SQLite file; passed explicitly so the test does not
    // depend on the host handing plugins its database URL.
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("plugins.json");
    let keystore_db = format!("sqlite://{}", dir.path().join("keystore.db").display());
    std::fs::write(
        &config,
        json!({ "keystore": { "databaseUrl": keystore_db } }).to_string(),
    )?;
    let mut builder = TestHost::builder()
        .plugins(&["gapi", "keystore"])
        .args(&["--plugin-config", &config.display().to_string()]);
    for (name, value) in google.env() {
        builder = builder.env(&name, &value);
    }
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    let h = builder.start()?;
    let set = |name: &str, value: &str| -> Result<()> {
        h.call_method(
            "keystore",
            "setKey",
            &json!({ "name": name, "value": value }),
        )?
        .expect_data(200)?;
        Ok(())
    };
    set(
        "GAPI_KEY",
        &google.service_account_json(fake_google::trusted_key()),
    )?;
    set("GAPI_ADMIN_EMAIL", ADMIN)?;
    let check = h
        .call_method("gapi", "checkCredentials", &json!({}))?
        .expect_data(200)?;
    ensure!(
        check["sources"] == json!({ "serviceAccount": "keystore", "adminEmail": "keystore" }),
        "{check:#}"
    );
    domains(&h)?;

    // Rotating the key in the keystore takes effect on the next call.
    set(
        "GAPI_KEY",
        &google.service_account_json(&TestKey::generate()?),
    )?;
    h.call_method("gapi", "admin.domains.list", &json!({}))?
        .expect_error(401, "AUTHENTICATION_ERROR")?;
    set(
        "GAPI_KEY",
        &google.service_account_json(fake_google::trusted_key()),
    )?;
    domains(&h)?;
    Ok(())
}

fn register(h: &TestHost, name: &str, code: &str) -> Result<()> {
    let url = format!("{}/tasks", h.service_url("task-executor")?);
    h.post_json(&url, &json!({ "name": name, "code": code }))?
        .expect_data(200)?;
    Ok(())
}

fn run(h: &TestHost, name: &str, input: Value) -> Result<Value> {
    let url = format!("{}/execute?wait=120", h.service_url("task-executor")?);
    let data = h
        .post_json(&url, &json!({ "task_identifier": name, "input": input }))?
        .expect_data(200)?;
    ensure!(
        data["status"] == "completed",
        "run of {name} did not complete: {data:#}"
    );
    Ok(data["result"].clone())
}

#[test]
fn a_task_calls_gapi_through_the_engine() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[])?;
    register(
        &h,
        "simple-test-task",
        r#"module.exports = async function(input) {
            const result = await __callHostTool__("gapi", ["admin", "domains", "list"], [{ customer: "my_customer" }]);
            const users = await __callHostTool__("wrappedgapi", "admin.users.list", { domain: "beta.test", autoPaginate: true });
            return { success: true, domainCount: result.domains.length, betaUsers: users.users.map(u => u.primaryEmail) };
        }"#,
    )?;
    let result = run(&h, "simple-test-task", json!({}))?;
    ensure!(
        result
            == json!({ "success": true, "domainCount": 2, "betaUsers": ["bob@beta.test", "bea@beta.test"] }),
        "{result:#}"
    );
    assert_clean(&google)
}

/// The original's comprehensive Gmail search (sequential-runner
/// `taskcode/endpoints/comprehensive-gmail-search.js`), in its shape: domains → users per
/// domain → message list per user → message metadata per message.
const COMPREHENSIVE_GMAIL_SEARCH: &str = r#"
module.exports = async function({ gmailSearchQuery = "", maxResultsPerUser = 10, maxUsersPerDomain = 500 } = {}) {
  maxUsersPerDomain = Math.min(Math.max(1, maxUsersPerDomain), 500);
  maxResultsPerUser = Math.min(Math.max(1, maxResultsPerUser), 100);
  console.log(`Starting comprehensive Gmail search for "${gmailSearchQuery}"`);
  let totalApiCalls = 0;

  const domainsResponse = await __callHostTool__("gapi", ["admin", "domains", "list"], [{ customer: "my_customer" }]);
  totalApiCalls++;
  if (!domainsResponse || !Array.isArray(domainsResponse.domains)) {
    return { success: false, error: "Invalid domains response", debug: { domainsResponse } };
  }
  const domains = domainsResponse.domains.map(d => d.domainName);
  console.log(`Found ${domains.length} domains`);

  const domainResults = [];
  const sampleMessages = [];
  let totalUsers = 0;
  let totalMessagesFound = 0;

  for (const domain of domains) {
    const usersResponse = await __callHostTool__("gapi", ["admin", "users", "list"], [{
      customer: "my_customer", domain, maxResults: maxUsersPerDomain, orderBy: "email"
    }]);
    totalApiCalls++;
    const users = (usersResponse.users || []).slice(0, maxUsersPerDomain);
    totalUsers += users.length;
    const userResults = [];

    for (const user of users) {
      const userId = user.primaryEmail;
      const listResponse = await __callHostTool__("gapi", ["gmail", "users", "messages", "list"], [{
        userId, q: gmailSearchQuery, maxResults: maxResultsPerUser
      }]);
      totalApiCalls++;
      const messages = listResponse.messages || [];
      totalMessagesFound += messages.length;

      for (const message of messages) {
        if (sampleMessages.length >= 10) break;
        const details = await __callHostTool__("gapi", ["gmail", "users", "messages", "get"], [{
          userId, id: message.id, format: "metadata", metadataHeaders: ["Subject", "From", "Date"]
        }]);
        totalApiCalls++;
        const headers = (details.payload && details.payload.headers) || [];
        const header = name => (headers.find(h => h.name === name) || {}).value || "";
        sampleMessages.push({
          userEmail: userId, domain, messageId: message.id,
          subject: header("Subject"), from: header("From"), date: header("Date"), snippet: details.snippet
        });
      }
      userResults.push({ email: userId, messageCount: messages.length });
    }
    domainResults.push({
      domain,
      usersProcessed: users.length,
      messagesFound: userResults.reduce((sum, u) => sum + u.messageCount, 0),
      users: userResults
    });
  }

  console.log(`Search complete: ${totalMessagesFound} messages in ${totalUsers} mailboxes`);
  return {
    summary: { totalDomains: domains.length, totalUsers, totalMessagesFound, searchQuery: gmailSearchQuery },
    domainResults,
    sampleMessages,
    executionInfo: {
      completedAt: new Date().toISOString(),
      totalApiCalls,
      description: "Searched Gmail across every user of every domain"
    }
  };
};
"#;

#[test]
fn the_comprehensive_gmail_search_task_completes() -> Result<()> {
    let google = FakeGoogle::start()?;
    let h = host_with(&google, &["gapi"], &[])?;
    register(&h, "comprehensive-gmail-search", COMPREHENSIVE_GMAIL_SEARCH)?;
    let input =
        json!({ "gmailSearchQuery": "invoice", "maxResultsPerUser": 10, "maxUsersPerDomain": 2 });
    let result = run(&h, "comprehensive-gmail-search", input)?;

    // alpha.test: ada (2 invoices) and admin (1) are the first two by e-mail; beta.test: bea (0), bob (2).
    ensure!(
        result["summary"]
            == json!({ "totalDomains": 2, "totalUsers": 4, "totalMessagesFound": 5, "searchQuery": "invoice" }),
        "{result:#}"
    );
    let per_domain: Vec<(String, i64)> = result["domainResults"]
        .as_array()
        .context("domainResults")?
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap_or_default().to_owned(),
                d["messagesFound"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    ensure!(
        per_domain == [("alpha.test".to_owned(), 3), ("beta.test".to_owned(), 2)],
        "{per_domain:?}"
    );
    let samples = result["sampleMessages"]
        .as_array()
        .context("sampleMessages")?;
    ensure!(samples.len() == 5, "{result:#}");
    for sample in samples {
        let subject = sample["subject"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        ensure!(subject.contains("invoice"), "{sample:#}");
        ensure!(
            sample["from"].as_str().is_some_and(|f| f.contains('@'))
                && sample["date"].as_str().is_some_and(|d| !d.is_empty()),
            "{sample:#}"
        );
    }
    ensure!(
        result["executionInfo"]["totalApiCalls"] == 1 + 2 + 4 + 5,
        "{result:#}"
    );
    // One token for the domain scope, one for users, one per searched mailbox.
    ensure!(
        google.token_requests().len() == 2 + 4,
        "{:#?}",
        google.token_requests()
    );
    assert_clean(&google)
}
