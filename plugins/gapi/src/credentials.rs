//! Service-account credentials: the JSON key (`GAPI_KEY`) and the admin e-mail to
//! impersonate (`GAPI_ADMIN_EMAIL`), read from the keystore at first use with environment
//! fallbacks, and cached for a short TTL so a rotated key takes effect without a restart.
//! The private key never appears in `Debug` output, logs or errors.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tasker_plugin_api::{ErrorCode, Host};

use crate::error::{Error, Result};
use crate::settings::EnvLookup;

/// Keystore key and environment variables holding the service-account JSON.
pub const KEY_NAME: &str = "GAPI_KEY";
const KEY_ENV: [&str; 2] = ["GAPI_SERVICE_ACCOUNT_JSON", "GAPI_KEY"];
/// Keystore key and environment variable holding the admin e-mail.
pub const ADMIN_NAME: &str = "GAPI_ADMIN_EMAIL";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The parts of a Google service-account JSON key gapi uses.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The account's e-mail: the JWT issuer.
    pub client_email: String,
    /// PKCS#8 PEM private key.
    pub private_key: String,
    /// Key id, sent as the JWT `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// The token endpoint and the JWT audience.
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    DEFAULT_TOKEN_URI.to_owned()
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

impl ServiceAccount {
    /// Parses the JSON key text.
    pub fn parse(text: &str) -> Result<Self> {
        let account: ServiceAccount = serde_json::from_str(text).map_err(|e| {
            // serde's message names the missing field; it never quotes the key material.
            Error::BadCredentials(format!("the service-account JSON is not usable: {e}"))
        })?;
        if account.client_email.trim().is_empty() || !account.private_key.contains("PRIVATE KEY") {
            return Err(Error::BadCredentials(
                "the service-account JSON needs client_email and a PEM private_key".into(),
            ));
        }
        Ok(account)
    }
}

/// Where a credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The keystore service.
    Keystore,
    /// An environment variable.
    Environment,
}

impl Source {
    /// Lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Keystore => "keystore",
            Source::Environment => "environment",
        }
    }
}

/// One loaded set of credentials.
#[derive(Debug)]
pub struct Credentials {
    /// The service account.
    pub account: ServiceAccount,
    /// Where the account JSON came from.
    pub account_source: Source,
    /// The admin to impersonate for Admin SDK calls (and Gmail `me`).
    pub admin_email: Option<String>,
    /// Where the admin e-mail came from.
    pub admin_source: Option<Source>,
    /// Changes whenever the loaded key differs from the previous load (token caches key on it).
    pub generation: u64,
}

impl Credentials {
    /// The admin e-mail, or a configuration error saying where to put it.
    pub fn admin(&self) -> Result<&str> {
        self.admin_email.as_deref().ok_or_else(|| {
            Error::NotConfigured(format!(
                "no admin e-mail to impersonate: set keystore key {ADMIN_NAME} or env {ADMIN_NAME}"
            ))
        })
    }
}

/// Reads one named secret from some store; `Ok(None)` when it is not there.
pub trait SecretSource: Send + Sync {
    /// Looks `name` up.
    fn get(&self, name: &str) -> Result<Option<String>, String>;
}

/// Secrets from the keystore service, through the host.
pub struct KeystoreSource {
    /// The host handle.
    pub host: Host,
    /// Keystore service name.
    pub service: String,
    /// Optional namespace.
    pub namespace: Option<String>,
}

impl SecretSource for KeystoreSource {
    fn get(&self, name: &str) -> Result<Option<String>, String> {
        let args = match &self.namespace {
            Some(ns) => json!([name, ns]),
            None => json!([name]),
        };
        match self.host.call_service(&self.service, "getKey", &args) {
            Ok(value) => Ok(secret_text(&value)),
            // Not stored, or no keystore loaded at all: fall back to the environment.
            Err(e) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(format!("{} ({})", e.code.as_str(), e.message)),
        }
    }
}

/// A keystore answer as text: a bare string, or an object holding the value.
fn secret_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(obj) => ["value", "keyValue", "key_value", "data"]
            .iter()
            .find_map(|k| obj.get(*k))
            .and_then(secret_text),
        _ => None,
    };
    text.filter(|t| !t.trim().is_empty())
}

struct Cached {
    loaded_at: Instant,
    credentials: Arc<Credentials>,
}

/// Loads credentials and caches them for a TTL.
pub struct CredentialStore {
    keystore: Option<Box<dyn SecretSource>>,
    env: Box<EnvLookup>,
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
    warn: Box<dyn Fn(&str) + Send + Sync>,
}

impl CredentialStore {
    /// A store reading `keystore` first, then `env`. `warn` reports keystore failures.
    pub fn new(
        keystore: Option<Box<dyn SecretSource>>,
        env: Box<EnvLookup>,
        ttl: Duration,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Self {
        Self {
            keystore,
            env,
            ttl,
            cached: Mutex::new(None),
            warn,
        }
    }

    /// The current credentials, re-read when older than the TTL.
    pub fn current(&self) -> Result<Arc<Credentials>> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref().filter(|c| c.loaded_at.elapsed() < self.ttl) {
            return Ok(c.credentials.clone());
        }
        let previous = cached.as_ref().map(|c| c.credentials.clone());
        let loaded = Arc::new(self.load(previous.as_deref())?);
        *cached = Some(Cached {
            loaded_at: Instant::now(),
            credentials: loaded.clone(),
        });
        Ok(loaded)
    }

    /// Forgets the cached credentials (the next call re-reads them).
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn load(&self, previous: Option<&Credentials>) -> Result<Credentials> {
        let (key_text, account_source) = self.lookup(KEY_NAME, &KEY_ENV).ok_or_else(|| {
            Error::NotConfigured(format!(
                "no service-account JSON: set keystore key {KEY_NAME} or env {}",
                KEY_ENV[0]
            ))
        })?;
        let account = ServiceAccount::parse(&key_text)?;
        let admin = self.lookup(ADMIN_NAME, &[ADMIN_NAME]);
        let same_key = previous.is_some_and(|p| {
            p.account.client_email == account.client_email
                && p.account.private_key == account.private_key
                && p.account.token_uri == account.token_uri
        });
        let generation = match previous {
            Some(p) if same_key => p.generation,
            Some(p) => p.generation + 1,
            None => 1,
        };
        Ok(Credentials {
            account,
            account_source,
            admin_email: admin.as_ref().map(|(a, _)| a.trim().to_owned()),
            admin_source: admin.map(|(_, s)| s),
            generation,
        })
    }

    fn lookup(&self, name: &str, env_names: &[&str]) -> Option<(String, Source)> {
        if let Some(keystore) = &self.keystore {
            match keystore.get(name) {
                Ok(Some(value)) => return Some((value, Source::Keystore)),
                Ok(None) => {}
                Err(e) => (self.warn)(&format!(
                    "reading {name} from the keystore failed, falling back to the environment: {e}"
                )),
            }
        }
        env_names
            .iter()
            .find_map(|var| (self.env)(var).filter(|v| !v.trim().is_empty()))
            .map(|v| (v, Source::Environment))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Map(Mutex<HashMap<String, String>>);
    impl SecretSource for Arc<Map> {
        fn get(&self, name: &str) -> Result<Option<String>, String> {
            Ok(self.0.lock().unwrap().get(name).cloned())
        }
    }

    fn key_json(email: &str) -> String {
        json!({ "client_email": email, "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n" })
            .to_string()
    }

    #[test]
    fn keystore_wins_env_falls_back_and_rotation_bumps_the_generation() {
        let keystore = Arc::new(Map(Mutex::new(HashMap::new())));
        let env = |var: &str| match var {
            "GAPI_SERVICE_ACCOUNT_JSON" => Some(key_json("env@sa.test")),
            "GAPI_ADMIN_EMAIL" => Some("admin@env.test".into()),
            _ => None,
        };
        let store = CredentialStore::new(
            Some(Box::new(keystore.clone())),
            Box::new(env),
            Duration::ZERO,
            Box::new(|_| {}),
        );
        let first = store.current().unwrap();
        assert_eq!(first.account.client_email, "env@sa.test");
        assert_eq!(first.account_source, Source::Environment);
        assert_eq!(first.account.token_uri, DEFAULT_TOKEN_URI);

        keystore
            .0
            .lock()
            .unwrap()
            .insert(KEY_NAME.into(), key_json("ks@sa.test"));
        let second = store.current().unwrap();
        assert_eq!(second.account.client_email, "ks@sa.test");
        assert_eq!(second.account_source, Source::Keystore);
        assert_eq!(second.admin_email.as_deref(), Some("admin@env.test"));
        assert_eq!(second.generation, first.generation + 1);
        assert_eq!(store.current().unwrap().generation, second.generation);
    }

    #[test]
    fn missing_and_bad_keys_are_configuration_errors_without_key_material() {
        let store = CredentialStore::new(
            None,
            Box::new(|_| None),
            Duration::from_secs(60),
            Box::new(|_| {}),
        );
        assert!(matches!(store.current(), Err(Error::NotConfigured(_))));
        let env =
            |_: &str| Some(r#"{"client_email":"a@b","private_key":"SECRET-MATERIAL"}"#.to_owned());
        let store = CredentialStore::new(
            None,
            Box::new(env),
            Duration::from_secs(60),
            Box::new(|_| {}),
        );
        let err = store.current().unwrap_err().to_string();
        assert!(!err.contains("SECRET-MATERIAL"), "{err}");
        let account = ServiceAccount::parse(&key_json("a@b")).unwrap();
        assert!(!format!("{account:?}").contains("BEGIN"));
    }

    #[test]
    fn keystore_answers_in_several_shapes() {
        assert_eq!(secret_text(&json!("v")), Some("v".into()));
        assert_eq!(secret_text(&json!({ "value": "v" })), Some("v".into()));
        assert_eq!(
            secret_text(&json!({ "data": { "key_value": "v" } })),
            Some("v".into())
        );
        assert_eq!(secret_text(&json!(null)), None);
    }
}
