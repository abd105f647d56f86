//! OAuth access tokens for a service account: builds the RS256 JWT assertion
//! (`iss`, `scope`, `aud` = token_uri, `sub`, `iat`/`exp` one hour), exchanges it at the
//! account's `token_uri`, and caches tokens per (scopes, subject) until they come within
//! the refresh margin of expiry. Tokens and assertions are never logged or returned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};
use tasker_plugin_kit::time::iso8601;

use crate::credentials::{Credentials, ServiceAccount};
use crate::error::{Error, Phase, Result};
use crate::upstream::{Replay, Request, Upstream};

/// Lifetime asked for in each assertion (Google's maximum).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: String,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
}

/// The cache key of a token: sorted scopes joined by `,`, then `|` and the subject
/// (the original's format, shown by `getTokenInfo`).
pub fn cache_key(scopes: &[&str], subject: &str) -> String {
    let mut sorted: Vec<&str> = scopes.to_vec();
    sorted.sort_unstable();
    format!("{}|{subject}", sorted.join(","))
}

/// Signs the assertion for `subject` with the account's key.
pub fn build_assertion(
    account: &ServiceAccount,
    scopes: &[&str],
    subject: &str,
    now: SystemTime,
) -> Result<String> {
    let iat = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = Claims {
        iss: &account.client_email,
        scope: scopes.join(" "),
        aud: &account.token_uri,
        sub: subject,
        iat,
        exp: iat + ASSERTION_LIFETIME.as_secs(),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = account.private_key_id.clone();
    // jsonwebtoken's errors describe the key format, never the key itself.
    let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
        .map_err(|e| Error::BadCredentials(format!("private_key is not an RSA PEM key: {e}")))?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| Error::Signing(e.to_string()))
}

#[derive(Clone)]
struct CachedToken {
    access_token: String,
    expires_at: SystemTime,
    generation: u64,
}

/// Fetches and caches access tokens.
pub struct TokenProvider {
    upstream: Upstream,
    refresh_margin: Duration,
    tokens: Mutex<HashMap<String, CachedToken>>,
    /// One lock per cache key, so concurrent calls for the same user fetch one token.
    fetch_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl TokenProvider {
    /// A provider sending token requests through `upstream`.
    pub fn new(upstream: Upstream, refresh_margin: Duration) -> Self {
        Self {
            upstream,
            refresh_margin,
            tokens: Mutex::new(HashMap::new()),
            fetch_locks: Mutex::new(HashMap::new()),
        }
    }

    /// A valid access token for (scopes, subject), fetched when none is cached or the
    /// cached one expires within the refresh margin or belongs to an older key.
    pub fn token(&self, creds: &Credentials, scopes: &[&str], subject: &str) -> Result<String> {
        let key = cache_key(scopes, subject);
        if let Some(token) = self.cached(&key, creds.generation) {
            return Ok(token);
        }
        let lock = {
            let mut locks = self.fetch_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Another caller may have fetched it while we waited.
        if let Some(token) = self.cached(&key, creds.generation) {
            return Ok(token);
        }
        let fetched = self.fetch(&creds.account, scopes, subject)?;
        let token = fetched.access_token.clone();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(
            key,
            CachedToken {
                generation: creds.generation,
                ..fetched
            },
        );
        Ok(token)
    }

    fn cached(&self, key: &str, generation: u64) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let token = tokens.get(key)?;
        let fresh = token.generation == generation
            && token.expires_at > SystemTime::now() + self.refresh_margin;
        fresh.then(|| token.access_token.clone())
    }

    fn fetch(
        &self,
        account: &ServiceAccount,
        scopes: &[&str],
        subject: &str,
    ) -> Result<CachedToken> {
        let assertion = build_assertion(account, scopes, subject, SystemTime::now())?;
        let build = |client: &reqwest::blocking::Client| {
            client.post(&account.token_uri).form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
        };
        let body = self.upstream.send(&Request {
            what: "token exchange",
            phase: Phase::Token,
            replay: Replay::Safe,
            build: &build,
        })?;
        let access_token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::BadResponse {
                what: "token exchange".into(),
                detail: "no access_token in the answer".into(),
            })?
            .to_owned();
        let expires_in = body["expires_in"]
            .as_u64()
            .unwrap_or(ASSERTION_LIFETIME.as_secs());
        Ok(CachedToken {
            access_token,
            expires_at: SystemTime::now() + Duration::from_secs(expires_in),
            generation: 0,
        })
    }

    /// Forgets one token (by cache key) or all; returns how many were dropped.
    pub fn clear(&self, key: Option<&str>) -> usize {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match key {
            Some(k) => usize::from(tokens.remove(k).is_some()),
            None => {
                let n = tokens.len();
                tokens.clear();
                n
            }
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The cached tokens without their values: `[{scope, expires, valid}]`.
    pub fn describe(&self) -> Vec<Value> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        let mut list: Vec<Value> = tokens
            .iter()
            .map(|(key, t)| {
                json!({
                    "scope": key,
                    "expires": iso8601(t.expires_at),
                    "valid": t.expires_at > now + self.refresh_margin,
                })
            })
            .collect();
        list.sort_by(|a, b| a["scope"].as_str().cmp(&b["scope"].as_str()));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_sort_scopes() {
        assert_eq!(cache_key(&["b", "a"], "u@x"), "a,b|u@x");
    }

    #[test]
    fn a_bad_key_is_a_credentials_error() {
        let account = ServiceAccount::parse(
            r#"{"client_email":"sa@x","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
        )
        .unwrap();
        let err = build_assertion(&account, &["s"], "u@x", SystemTime::now()).unwrap_err();
        assert!(matches!(err, Error::BadCredentials(_)), "{err}");
    }
}
