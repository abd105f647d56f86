//! A fake Google for the gapi and admin-debug tests, on 127.0.0.1: an OAuth token
//! endpoint that VERIFIES each service-account JWT (RS256 signature with the account's
//! public key, `iss`, `aud`, `scope`, `sub`, one-hour lifetime) and a small Workspace
//! (domains, users, Gmail messages) served with Google's JSON shapes and pagination.
//! Access is checked like Google does: unknown token 401, missing scope or wrong
//! impersonated user 403. Tests can script failures and delays per path. Never listens
//! beyond loopback; every JWT problem is also recorded so tests can assert none occurred.
// Each test file that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tasker_e2e::{FakeHttpServer, FakeRequest, FakeResponse};

pub const ADMIN: &str = "admin@alpha.test";
pub const CLIENT_EMAIL: &str = "tasker-sa@project.iam.gserviceaccount.com";
pub const SCOPE_DOMAIN: &str = "https://www.googleapis.com/auth/admin.directory.domain.readonly";
pub const SCOPE_USER: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
pub const SCOPE_GMAIL: &str = "https://www.googleapis.com/auth/gmail.readonly";

/// An RSA key pair as the PEM and DER forms the tests need.
pub struct TestKey {
    /// PKCS#8 PEM, as in a service-account JSON.
    pub private_pem: String,
    /// RFC 8017 RSAPublicKey DER, for verification.
    pub public_der: Vec<u8>,
}

impl TestKey {
    pub fn generate() -> Result<Self> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| anyhow::anyhow!("generating an RSA key: {e}"))?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
            .map_err(|e| anyhow::anyhow!("encoding the RSA key: {e}"))?;
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line)?);
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(Self {
            private_pem: pem,
            public_der: pair.public_key().as_ref().to_vec(),
        })
    }
}

/// The key the fake trusts, generated once per test process (2048-bit generation is slow in debug).
pub fn trusted_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate().expect("RSA key generation"))
}

/// One message in a mailbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub subject: String,
    pub from: String,
    pub date: String,
}

/// A scripted answer for the next requests whose path starts with a prefix.
struct Scripted {
    prefix: String,
    remaining: usize,
    status: u16,
    body: Value,
    retry_after: Option<String>,
    delay: Duration,
}

/// A verified token grant.
#[derive(Debug, Clone)]
pub struct Grant {
    pub scopes: Vec<String>,
    pub subject: String,
    pub claims: Value,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    users: Vec<String>,
    mailboxes: HashMap<String, Vec<Message>>,
    tokens: HashMap<String, Grant>,
    token_requests: Vec<Grant>,
    violations: Vec<String>,
    scripts: Vec<Scripted>,
}

/// The fake server and its state.
pub struct FakeGoogle {
    pub server: FakeHttpServer,
    state: Arc<Mutex<State>>,
    expires_in: Arc<AtomicU64>,
}

/// A mailbox: its owner and its messages as (subject, from).
type Mailbox = (&'static str, Vec<(&'static str, &'static str)>);

/// The standard Workspace: two domains, five users, a few messages each.
pub fn standard_workspace() -> (Vec<&'static str>, Vec<&'static str>, Vec<Mailbox>) {
    let domains = vec!["alpha.test", "beta.test"];
    let users = vec![
        ADMIN,
        "ada@alpha.test",
        "alan@alpha.test",
        "bob@beta.test",
        "bea@beta.test",
    ];
    let mail = vec![
        (
            ADMIN,
            vec![
                ("Invoice 1001", "billing@vendor.test"),
                ("Lunch", "ada@alpha.test"),
            ],
        ),
        (
            "ada@alpha.test",
            vec![
                ("Invoice 2001", "billing@vendor.test"),
                ("Invoice 2002", "billing@vendor.test"),
                ("Hello", "bob@beta.test"),
            ],
        ),
        ("alan@alpha.test", vec![("Weekly notes", "ada@alpha.test")]),
        (
            "bob@beta.test",
            vec![
                ("invoice overdue", "billing@vendor.test"),
                ("Re: invoice overdue", "bea@beta.test"),
            ],
        ),
        ("bea@beta.test", vec![]),
    ];
    (domains, users, mail)
}

impl FakeGoogle {
    /// Starts the fake with the standard Workspace.
    pub fn start() -> Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        {
            let (domains, users, mail) = standard_workspace();
            let mut s = state.lock().unwrap();
            s.domains = domains.iter().map(|d| (*d).to_owned()).collect();
            s.users = users.iter().map(|u| (*u).to_owned()).collect();
            for (n, (user, messages)) in mail.into_iter().enumerate() {
                let list = messages
                    .into_iter()
                    .enumerate()
                    .map(|(i, (subject, from))| Message {
                        id: format!("m{n}x{i}"),
                        subject: subject.to_owned(),
                        from: from.to_owned(),
                        date: format!("Mon, {} Jan 2024 10:00:00 +0000", i + 1),
                    })
                    .collect();
                s.mailboxes.insert(user.to_owned(), list);
            }
        }
        let expires_in = Arc::new(AtomicU64::new(3600));
        let token_uri = Arc::new(OnceLock::<String>::new());
        let server = {
            let state = state.clone();
            let expires_in = expires_in.clone();
            let token_uri = token_uri.clone();
            FakeHttpServer::start(move |req| {
                let uri = token_uri.get().cloned().unwrap_or_default();
                handle(&state, &expires_in, &uri, req)
            })?
        };
        let _ = token_uri.set(format!("{}/token", server.url()));
        Ok(Self {
            server,
            state,
            expires_in,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.url())
    }

    /// The service-account JSON for `key` (the trusted key unless a test wants a bad one).
    pub fn service_account_json(&self, key: &TestKey) -> String {
        json!({
            "type": "service_account",
            "project_id": "tasker-test",
            "private_key_id": "kid-1",
            "private_key": key.private_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    /// Environment for a host whose gapi uses this fake (fast retries).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "GAPI_SERVICE_ACCOUNT_JSON".into(),
                self.service_account_json(trusted_key()),
            ),
            ("GAPI_ADMIN_EMAIL".into(), ADMIN.into()),
            ("GAPI_API_ROOT".into(), self.url()),
            ("GAPI_RETRY_BASE_MS".into(), "10".into()),
            ("GAPI_MAX_RETRY_DELAY_MS".into(), "3000".into()),
        ]
    }

    /// Lifetime of the tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// Answers the next `times` requests under `prefix` with `status` (Google's error body),
    /// optionally with `Retry-After` and after a delay.
    pub fn fail_next(
        &self,
        prefix: &str,
        times: usize,
        status: u16,
        retry_after: Option<&str>,
        delay: Duration,
    ) {
        let body = json!({ "error": {
            "code": status,
            "message": format!("scripted failure {status} for {prefix}"),
            "status": if status == 429 { "RESOURCE_EXHAUSTED" } else { "INTERNAL" },
            "errors": [{ "reason": if status == 429 { "rateLimitExceeded" } else { "backendError" } }],
        }});
        self.state.lock().unwrap().scripts.push(Scripted {
            prefix: prefix.to_owned(),
            remaining: times,
            status,
            body,
            retry_after: retry_after.map(str::to_owned),
            delay,
        });
    }

    /// Every verified token request so far.
    pub fn token_requests(&self) -> Vec<Grant> {
        self.state.lock().unwrap().token_requests.clone()
    }

    /// JWT or access problems seen (wrong signature, audience, scope, subject...).
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// API requests (everything but the token endpoint) whose path starts with `prefix`.
    pub fn api_requests(&self, prefix: &str) -> Vec<FakeRequest> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Messages of `user` whose subject contains `q` (case-insensitive), as Gmail's search would find them.
    pub fn matching_messages(&self, user: &str, q: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .mailboxes
            .get(user)
            .map(|m| m.iter().filter(|m| matches_query(m, q)).count())
            .unwrap_or(0)
    }
}

fn matches_query(message: &Message, q: &str) -> bool {
    q.is_empty() || message.subject.to_lowercase().contains(&q.to_lowercase())
}

fn google_error(status: u16, message: &str, reason: &str) -> FakeResponse {
    FakeResponse::json(
        status,
        &json!({ "error": { "code": status, "message": message, "errors": [{ "reason": reason, "message": message }] } }),
    )
}

fn handle(
    state: &Mutex<State>,
    expires_in: &AtomicU64,
    token_uri: &str,
    req: &FakeRequest,
) -> FakeResponse {
    if let Some(response) = scripted(state, req) {
        return response;
    }
    if req.method == "POST" && req.path_only() == "/token" {
        return token(state, expires_in, token_uri, req);
    }
    let grant = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| state.lock().unwrap().tokens.get(t).cloned());
    let Some(grant) = grant else {
        return google_error(
            401,
            "Request had invalid authentication credentials.",
            "authError",
        );
    };
    let outcome = api(state, &grant, req);
    outcome.unwrap_or_else(|(status, message)| {
        state
            .lock()
            .unwrap()
            .violations
            .push(format!("{} {}: {message}", req.method, req.path));
        google_error(
            status,
            &message,
            if status == 403 {
                "forbidden"
            } else {
                "notFound"
            },
        )
    })
}

fn scripted(state: &Mutex<State>, req: &FakeRequest) -> Option<FakeResponse> {
    let (response, delay) = {
        let mut s = state.lock().unwrap();
        let script = s
            .scripts
            .iter_mut()
            .find(|s| s.remaining > 0 && req.path.starts_with(&s.prefix))?;
        script.remaining -= 1;
        let mut response = FakeResponse::json(script.status, &script.body);
        if let Some(after) = &script.retry_after {
            response = response.header("Retry-After", after);
        }
        (response, script.delay)
    };
    std::thread::sleep(delay);
    Some(response)
}

/// The token endpoint: verifies the assertion the way Google does and issues a token.
fn token(
    state: &Mutex<State>,
    expires_in: &AtomicU64,
    token_uri: &str,
    req: &FakeRequest,
) -> FakeResponse {
    match verify_assertion(token_uri, req) {
        Ok(grant) => {
            let mut s = state.lock().unwrap();
            let token = format!("ya29.fake-{}", s.token_requests.len() + 1);
            s.tokens.insert(token.clone(), grant.clone());
            s.token_requests.push(grant);
            FakeResponse::json(
                200,
                &json!({ "access_token": token, "expires_in": expires_in.load(Ordering::SeqCst), "token_type": "Bearer" }),
            )
        }
        Err(e) => {
            state
                .lock()
                .unwrap()
                .violations
                .push(format!("token request rejected: {e:#}"));
            FakeResponse::json(
                400,
                &json!({ "error": "invalid_grant", "error_description": format!("{e:#}") }),
            )
        }
    }
}

fn form_value(body: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn verify_assertion(token_uri: &str, req: &FakeRequest) -> Result<Grant> {
    let body = req.body_text();
    ensure!(
        form_value(&body, "grant_type").as_deref()
            == Some("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        "wrong grant_type in {body}"
    );
    let assertion = form_value(&body, "assertion").context("no assertion")?;
    let parts: Vec<&str> = assertion.split('.').collect();
    ensure!(parts.len() == 3, "the assertion is not a JWS");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0])?)?;
    ensure!(header["alg"] == "RS256", "alg is {}", header["alg"]);
    let signed = format!("{}.{}", parts[0], parts[1]);
    let sig = URL_SAFE_NO_PAD.decode(parts[2])?;
    signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &trusted_key().public_der,
    )
    .verify(signed.as_bytes(), &sig)
    .map_err(|_| anyhow::anyhow!("Invalid JWT Signature."))?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
    ensure!(claims["iss"] == CLIENT_EMAIL, "iss is {}", claims["iss"]);
    ensure!(
        claims["aud"] == token_uri,
        "aud is {}, expected {token_uri}",
        claims["aud"]
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let iat = claims["iat"].as_i64().context("iat")?;
    let exp = claims["exp"].as_i64().context("exp")?;
    ensure!((iat - now).abs() < 120, "iat {iat} is not now ({now})");
    ensure!(exp - iat == 3600, "lifetime is {} s", exp - iat);
    let scope = claims["scope"].as_str().context("scope")?;
    ensure!(!scope.is_empty(), "empty scope");
    let subject = claims["sub"].as_str().context("sub")?.to_owned();
    ensure!(
        subject.contains('@') && subject != "me",
        "sub {subject:?} is not an account"
    );
    Ok(Grant {
        scopes: scope.split(' ').map(str::to_owned).collect(),
        subject,
        claims,
    })
}

type ApiResult = std::result::Result<FakeResponse, (u16, String)>;

fn need_scope(grant: &Grant, scope: &str) -> std::result::Result<(), (u16, String)> {
    if grant.scopes.iter().any(|s| s == scope) {
        Ok(())
    } else {
        Err((
            403,
            format!(
                "Request had insufficient authentication scopes (needs {scope}, has {:?}).",
                grant.scopes
            ),
        ))
    }
}

fn need_subject(grant: &Grant, subject: &str) -> std::result::Result<(), (u16, String)> {
    if grant.subject == subject {
        Ok(())
    } else {
        Err((
            403,
            format!(
                "Delegation denied for {} (token impersonates {})",
                subject, grant.subject
            ),
        ))
    }
}

fn decode(segment: &str) -> String {
    reqwest::Url::parse(&format!("http://x/?v={segment}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(_, v)| v.into_owned()))
        .unwrap_or_default()
}

/// A page of `items` by offset tokens (`p<offset>`).
fn page<T: Clone>(items: &[T], req: &FakeRequest, default_size: usize) -> (Vec<T>, Option<String>) {
    let size = req
        .query("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(default_size)
        .max(1);
    let start: usize = req
        .query("pageToken")
        .and_then(|t| t.strip_prefix('p').and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("p{end}"));
    (
        items.get(start..end).map(<[T]>::to_vec).unwrap_or_default(),
        next,
    )
}

fn api(state: &Mutex<State>, grant: &Grant, req: &FakeRequest) -> ApiResult {
    let path = req.path_only().to_owned();
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let s = state.lock().unwrap();
    match seg.as_slice() {
        ["admin", "directory", "v1", "customer", customer, "domains"] => {
            need_scope(grant, SCOPE_DOMAIN)?;
            need_subject(grant, ADMIN)?;
            if *customer != "my_customer" {
                return Err((404, format!("customer {customer} not found")));
            }
            let domains: Vec<Value> = s
                .domains
                .iter()
                .enumerate()
                .map(|(i, d)| json!({ "kind": "admin#directory#domain", "domainName": d, "isPrimary": i == 0, "verified": true }))
                .collect();
            Ok(FakeResponse::json(
                200,
                &json!({ "kind": "admin#directory#domains", "domains": domains }),
            ))
        }
        ["admin", "directory", "v1", "users"] => {
            need_scope(grant, SCOPE_USER)?;
            need_subject(grant, ADMIN)?;
            let domain = req.query("domain");
            let mut users: Vec<&String> = s
                .users
                .iter()
                .filter(|u| {
                    domain
                        .as_ref()
                        .is_none_or(|d| u.ends_with(&format!("@{d}")))
                })
                .collect();
            if req.query("orderBy").as_deref() == Some("email") {
                users.sort();
            }
            let (items, next) = page(&users, req, 100);
            let list: Vec<Value> = items
                .iter()
                .map(|u| json!({ "kind": "admin#directory#user", "primaryEmail": u, "id": format!("id-{u}"), "name": { "fullName": u.split('@').next() } }))
                .collect();
            let mut body = json!({ "kind": "admin#directory#users", "users": list });
            if let Some(next) = next {
                body["nextPageToken"] = json!(next);
            }
            Ok(FakeResponse::json(200, &body))
        }
        ["gmail", "v1", "users", user, "messages"] => {
            need_scope(grant, SCOPE_GMAIL)?;
            let user = if *user == "me" {
                grant.subject.as_str()
            } else {
                user
            };
            need_subject(grant, user)?;
            let q = req.query("q").unwrap_or_default();
            let found: Vec<&Message> = s
                .mailboxes
                .get(user)
                .map(|m| m.iter().filter(|m| matches_query(m, &q)).collect())
                .unwrap_or_default();
            let (items, next) = page(&found, req, 100);
            // Gmail leaves `messages` out of an empty answer.
            let mut body = json!({ "resultSizeEstimate": found.len() });
            if !items.is_empty() {
                body["messages"] = items
                    .iter()
                    .map(|m| json!({ "id": m.id, "threadId": format!("t-{}", m.id) }))
                    .collect();
            }
            if let Some(next) = next {
                body["nextPageToken"] = json!(next);
            }
            Ok(FakeResponse::json(200, &body))
        }
        ["gmail", "v1", "users", user, "messages", id] => {
            need_scope(grant, SCOPE_GMAIL)?;
            let user = if *user == "me" {
                grant.subject.as_str()
            } else {
                user
            };
            need_subject(grant, user)?;
            let message = s
                .mailboxes
                .get(user)
                .and_then(|m| m.iter().find(|m| m.id == *id))
                .ok_or((404, format!("message {id} not found")))?;
            // Gmail returns only the headers named by (repeated) metadataHeaders parameters.
            let wanted: Vec<String> = req
                .query_pairs()
                .into_iter()
                .filter(|(k, _)| k == "metadataHeaders")
                .map(|(_, v)| v)
                .collect();
            let all = [
                ("Subject", &message.subject),
                ("From", &message.from),
                ("Date", &message.date),
                ("To", &user.to_owned()),
            ];
            let headers: Vec<Value> = all
                .iter()
                .filter(|(name, _)| {
                    wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(name))
                })
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect();
            Ok(FakeResponse::json(
                200,
                &json!({
                    "id": message.id,
                    "threadId": format!("t-{}", message.id),
                    "labelIds": ["INBOX"],
                    "snippet": format!("snippet of {}", message.subject),
                    "payload": { "mimeType": "text/plain", "headers": headers },
                    "sizeEstimate": 1234,
                }),
            ))
        }
        _ => Err((404, format!("no such fake endpoint {path}"))),
    }
}

/// Fails unless no JWT or access problem was seen.
pub fn assert_clean(google: &FakeGoogle) -> Result<()> {
    let violations = google.violations();
    if !violations.is_empty() {
        bail!("the fake Google saw problems: {violations:#?}");
    }
    Ok(())
}
