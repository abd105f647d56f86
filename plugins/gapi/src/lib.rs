//! `gapi` (alias `wrappedgapi`): Google Workspace APIs for tasks, authenticated as a
//! service account with domain-wide delegation. Admin SDK calls impersonate the admin
//! e-mail; Gmail calls impersonate the mailbox they read. Method names are the original's
//! dotted chains (`admin.users.list`); results are Google's JSON unchanged.
//!
//! It must never log, return or put into an error a private key, an assertion or an
//! access token, and never call Google except through the configured roots.

mod api;
mod credentials;
mod endpoints;
mod error;
mod plan;
mod settings;
mod token;
mod upstream;

use serde_json::{Map, Value, json};
use tasker_plugin_api::{
    CallContext, ErrorCode, Host, Manifest, MethodSpec, Plugin, PluginError, export_plugin,
};
use tasker_plugin_kit::time::now_iso;

use crate::api::Api;
use crate::credentials::{CredentialStore, KeystoreSource};
use crate::settings::Settings;
use crate::token::TokenProvider;
use crate::upstream::Upstream;

/// The plugin instance.
pub struct Gapi {
    host: Host,
    api: Api,
}

fn object_schema(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties, "additionalProperties": false })
}

fn manifest() -> Manifest {
    let mut methods: Vec<MethodSpec> = endpoints::ENDPOINTS
        .iter()
        .map(|e| {
            let mut spec = MethodSpec::new(e.name, e.summary)
                .description(format!(
                    "`{} {}` under the {:?} API root. Impersonates {}. Scopes: {}.",
                    match e.verb {
                        endpoints::Verb::Get => "GET",
                        endpoints::Verb::Post => "POST",
                    },
                    e.path,
                    e.family,
                    match e.subject {
                        endpoints::Subject::Admin => "the admin e-mail".to_owned(),
                        _ => "the user the call is about (`me`: the admin)".to_owned(),
                    },
                    e.scopes.join(" ")
                ))
                .params(e.params_schema())
                .result(e.result_schema());
            if let Some(example) = example(e.name) {
                spec = spec.example(example);
            }
            spec
        })
        .collect();
    methods.extend([
        MethodSpec::new("checkCredentials", "Report which credentials are configured (never their values)")
            .params(object_schema(json!({
                "verify": { "type": "boolean", "description": "Also fetch an admin token to prove the key works" }
            })))
            .result(json!({ "type": "object", "properties": {
                "status": { "type": "string" }, "adminEmail": { "type": ["string", "null"] },
                "clientEmail": { "type": "string" }, "timestamp": { "type": "string" } } })),
        MethodSpec::new("getTokenInfo", "List cached tokens: scope key, expiry, validity (never the tokens)")
            .params(object_schema(json!({})))
            .result(json!({ "type": "object", "properties": {
                "tokens": { "type": "array" }, "count": { "type": "integer" }, "timestamp": { "type": "string" } } })),
        MethodSpec::new("clearTokenCache", "Drop one cached token (by its scope key) or all")
            .params(object_schema(json!({ "cacheKey": { "type": "string", "description": "A key from getTokenInfo; all when absent" } })))
            .positional(&["cacheKey"])
            .result(json!({ "type": "object", "properties": { "status": { "type": "string" }, "message": { "type": "string" } } })),
        MethodSpec::new("echo", "Return the argument as {echo: ...} (connectivity check)")
            .result(json!({ "type": "object", "properties": { "echo": {} } }))
            .example(json!({ "hello": "gapi" })),
    ]);
    Manifest {
        name: "gapi".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Google Workspace (Admin SDK Directory, Gmail, Calendar, Drive) through a service account \
                      with domain-wide delegation. Credentials: keystore GAPI_KEY / GAPI_ADMIN_EMAIL, or env \
                      GAPI_SERVICE_ACCOUNT_JSON / GAPI_ADMIN_EMAIL."
            .into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec!["wrappedgapi".into()],
        chain_method: None,
        max_concurrency: Some(32),
        methods,
    }
}

fn example(name: &str) -> Option<Value> {
    Some(match name {
        "admin.domains.list" => json!({ "customer": "my_customer" }),
        "admin.users.list" => {
            json!({ "customer": "my_customer", "domain": "example.com", "maxResults": 100, "orderBy": "email" })
        }
        "gmail.users.messages.list" => {
            json!({ "userId": "ada@example.com", "q": "newer_than:7d", "maxResults": 10 })
        }
        "gmail.users.messages.get" => {
            json!({ "userId": "ada@example.com", "id": "18c0ffee", "format": "metadata", "metadataHeaders": ["Subject", "From", "Date"] })
        }
        _ => return None,
    })
}

impl Gapi {
    fn check_credentials(&self, args: &Value) -> Result<Value, PluginError> {
        // A check must see the current keystore state, not a cached copy.
        self.api.credentials.invalidate();
        let creds = self.api.credentials.current()?;
        let mut report = json!({
            "status": "ok",
            "adminEmail": creds.admin_email,
            "clientEmail": creds.account.client_email,
            "tokenUri": creds.account.token_uri,
            "sources": {
                "serviceAccount": creds.account_source.as_str(),
                "adminEmail": creds.admin_source.map(|s| s.as_str()),
            },
            "timestamp": now_iso(),
        });
        if args.get("verify").and_then(Value::as_bool) == Some(true) {
            let admin = creds.admin()?;
            let scopes = endpoints::find("admin.domains.list")
                .map(|e| e.scopes)
                .unwrap_or_default();
            self.api.tokens.token(&creds, scopes, admin)?;
            report["verified"] = json!(true);
        }
        Ok(report)
    }

    fn token_info(&self) -> Value {
        let tokens = self.api.tokens.describe();
        json!({ "count": tokens.len(), "tokens": tokens, "timestamp": now_iso() })
    }

    fn clear_tokens(&self, args: &Value) -> Value {
        let key = args
            .get("cacheKey")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty());
        let cleared = self.api.tokens.clear(key);
        let message = match key {
            Some(k) => format!("Cleared token cache for scope: {k}"),
            None => "Cleared all token caches".to_owned(),
        };
        json!({ "status": "ok", "message": message, "cleared": cleared, "timestamp": now_iso() })
    }
}

impl Plugin for Gapi {
    fn manifest() -> Manifest {
        manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        let env = |name: &str| std::env::var(name).ok();
        let settings = Settings::load(&config, &env)
            .map_err(|e| PluginError::new(ErrorCode::Configuration, e))?;
        let upstream = Upstream::new(settings.timeout, settings.retry.clone())?;
        let keystore = KeystoreSource {
            host: host.clone(),
            service: settings.keystore_service.clone(),
            namespace: settings.keystore_namespace.clone(),
        };
        let warn_host = host.clone();
        let credentials = CredentialStore::new(
            Some(Box::new(keystore)),
            Box::new(env),
            settings.credential_ttl,
            Box::new(move |message| warn_host.warn(message)),
        );
        let tokens = TokenProvider::new(upstream.clone(), settings.refresh_margin);
        host.debug(&format!(
            "gapi ready: admin root {}, gmail root {}, timeout {:?}, {} retries",
            settings.roots.admin,
            settings.roots.gmail,
            settings.timeout,
            settings.retry.max_retries
        ));
        Ok(Self {
            host,
            api: Api {
                settings,
                credentials,
                tokens,
                upstream,
            },
        })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        match method {
            // The original answered `{"echo": args[0] || {}}`.
            "echo" => {
                let value = match args {
                    Value::Array(items) => items.into_iter().next().unwrap_or(Value::Null),
                    other => other,
                };
                Ok(json!({ "echo": if value.is_null() { json!({}) } else { value } }))
            }
            "checkCredentials" => self.check_credentials(&args),
            "getTokenInfo" => Ok(self.token_info()),
            "clearTokenCache" => Ok(self.clear_tokens(&args)),
            name => {
                let endpoint = endpoints::find(name)
                    .ok_or_else(|| PluginError::unknown_method("gapi", name))?;
                let args = match args {
                    Value::Object(map) => map,
                    Value::Null => Map::new(),
                    other => {
                        return Err(PluginError::validation(format!(
                            "{name} takes an object of arguments, got {other}"
                        )));
                    }
                };
                let result = self.api.call(endpoint, args);
                if let Err(e) = &result {
                    self.host.debug(&format!("{name} failed: {e}"));
                }
                Ok(result?)
            }
        }
    }

    fn health(&self) -> Result<Value, PluginError> {
        Ok(json!({
            "status": "healthy",
            "service": "wrappedgapi",
            "cache_size": self.api.tokens.len(),
            "timestamp": now_iso(),
        }))
    }
}

export_plugin!(Gapi);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_the_google_methods_and_service_operations() {
        let m = manifest();
        let names: Vec<&str> = m.methods.iter().map(|s| s.name.as_str()).collect();
        for name in [
            "admin.domains.list",
            "gmail.users.messages.get",
            "drive.files.list",
            "checkCredentials",
            "echo",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert_eq!(m.aliases, ["wrappedgapi"]);
    }
}
