//! Credentials looked up at first use: the keystore service (through the host handle),
//! then environment variables, cached for a short time so a rotated key takes effect
//! without a restart. It must never log or return a secret's value in a message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, Host};

/// The keystore's service name (its alias `wrappedkeystore` would work too).
const KEYSTORE_SERVICE: &str = "keystore";

/// Where a credential was found (for debug logs; never the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The keystore service.
    Keystore,
    /// An environment variable.
    Env,
}

/// One credential to look up.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The keystore key name, e.g. `OPENAI_API_KEY`.
    pub key: &'a str,
    /// Environment variables to try in order when the keystore has nothing.
    pub env: &'a [&'a str],
}

#[derive(Debug, Clone)]
struct Cached {
    value: Option<(String, Origin)>,
    fetched: Instant,
}

/// Looks credentials up and caches them for `ttl`.
#[derive(Debug)]
pub struct Credentials {
    host: Host,
    namespace: Option<String>,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Credentials {
    /// `namespace` is the keystore namespace (None: the keystore's default).
    pub fn new(host: Host, namespace: Option<String>, ttl: Duration) -> Self {
        Self {
            host,
            namespace,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The credential's value, from the cache while it is fresh, else from the keystore,
    /// else from the environment. None when neither has it.
    pub fn get(&self, lookup: Lookup<'_>) -> Option<String> {
        if let Some(cached) = self.cached(lookup.key) {
            return cached.value.map(|(v, _)| v);
        }
        // Looked up without holding the lock: the keystore call may take a while, and two
        // concurrent first uses only cost one extra lookup.
        let value = self
            .read_keystore(lookup.key)
            .map(|v| (v, Origin::Keystore))
            .or_else(|| from_env(lookup.env).map(|v| (v, Origin::Env)));
        match &value {
            Some((_, origin)) => self
                .host
                .debug(&format!("credential {} read from {origin:?}", lookup.key)),
            None => self
                .host
                .debug(&format!("credential {} is not set", lookup.key)),
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(
            lookup.key.to_owned(),
            Cached {
                value: value.clone(),
                fetched: Instant::now(),
            },
        );
        value.map(|(v, _)| v)
    }

    /// Drops a cached credential (e.g. after the upstream rejected it), so the next use
    /// reads it again.
    pub fn forget(&self, key: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn cached(&self, key: &str) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|c| c.fetched.elapsed() < self.ttl)
            .cloned()
    }

    fn read_keystore(&self, key: &str) -> Option<String> {
        let args = match &self.namespace {
            Some(ns) => json!([key, ns]),
            None => json!([key]),
        };
        match self.host.call_service(KEYSTORE_SERVICE, "getKey", &args) {
            Ok(value) => secret_from(&value),
            // No keystore loaded, or no such key in it: the environment decides.
            Err(e) if e.code == ErrorCode::NotFound => None,
            Err(e) => {
                // The keystore's message never holds the value; keep it for diagnosis.
                self.host.warn(&format!(
                    "keystore lookup of {key} failed ({}), falling back to the environment",
                    e.code.as_str()
                ));
                None
            }
        }
    }
}

/// The secret inside a keystore answer: a bare string, or `{value}` / `{keyValue}`.
fn secret_from(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => ["value", "keyValue", "key_value"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str)),
        _ => None,
    }?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn from_env(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystore_answers_of_several_shapes_hold_the_secret() {
        assert_eq!(secret_from(&json!("sk-1")), Some("sk-1".into()));
        assert_eq!(
            secret_from(&json!({ "value": " sk-2 " })),
            Some("sk-2".into())
        );
        assert_eq!(
            secret_from(&json!({ "keyValue": "sk-3" })),
            Some("sk-3".into())
        );
        assert_eq!(secret_from(&json!(null)), None);
        assert_eq!(secret_from(&json!("")), None);
        assert_eq!(secret_from(&json!({ "other": 1 })), None);
    }
}
