//! `keystore`: namespaced secrets for tasks and plugins, stored encrypted in a `keystore`
//! table next to the host's data (its PostgreSQL database, or a SQLite file beside its SQLite
//! file; see the `keystore-vault` crate and README.md). Operations keep the
//! original's names and argument order: `getKey(name, namespace?)`,
//! `setKey(name, value, namespace?)`, `hasKey`, `listKeys(namespace?)`, `listNamespaces()`,
//! `getServerTime()`, plus `deleteKey`; the namespace defaults to `global`.
//!
//! It must never log, or put into an error or a result other than `getKey`'s, a secret value
//! or the master key. It owns a small tokio runtime (a cdylib cannot use the host's).

mod args;
mod clock;
mod config;
mod manifest;

use keystore_vault::{MasterKey, Vault};
use serde_json::{Value, json};
use tasker_plugin_api::{
    CallContext, ErrorCode, Host, Manifest, Plugin, PluginError, export_plugin,
};
use tokio::runtime::Runtime;

pub use config::MASTER_KEY_ENV;
pub use keystore_vault::DEFAULT_KEY_FILE;
pub use manifest::{DEFAULT_NAMESPACE, SERVICE};

use crate::args::KeyRef;
use crate::config::KeyOrigin;

/// The plugin instance: the vault, the master key and the runtime its calls run on.
pub struct Keystore {
    host: Host,
    vault: Vault,
    key: MasterKey,
    runtime: Runtime,
}

/// Maps a vault error to the caller's error code; the vault's messages hold no secrets.
fn plugin_error(error: keystore_vault::Error) -> PluginError {
    use keystore_vault::Error as E;
    let code = match &error {
        E::KeyMismatch { .. } | E::InvalidMasterKey { .. } | E::KeyFile { .. } => {
            ErrorCode::Configuration
        }
        E::ForeignTable { .. } | E::UnsupportedUrl => ErrorCode::Configuration,
        E::Tampered { .. } => ErrorCode::Authentication,
        _ => ErrorCode::Internal,
    };
    PluginError::new(code, error.to_string())
}

impl Keystore {
    fn block_on<T>(
        &self,
        work: impl Future<Output = keystore_vault::Result<T>>,
    ) -> Result<T, PluginError> {
        self.runtime.block_on(work).map_err(plugin_error)
    }

    fn get_key(&self, key: &KeyRef) -> Result<Value, PluginError> {
        let value = self
            .block_on(self.vault.get(&self.key, &key.namespace, &key.name))?
            .ok_or_else(|| {
                PluginError::not_found(format!(
                    "no key '{}' in namespace '{}'",
                    key.name, key.namespace
                ))
                .with_details(json!({ "name": key.name, "namespace": key.namespace }))
            })?;
        let text = String::from_utf8(value).map_err(|_| {
            PluginError::internal(format!(
                "the value of '{}' in namespace '{}' is not UTF-8 text",
                key.name, key.namespace
            ))
        })?;
        Ok(Value::String(text))
    }

    fn set_key(&self, key: &KeyRef, value: &str) -> Result<Value, PluginError> {
        self.block_on(
            self.vault
                .put(&self.key, &key.namespace, &key.name, value.as_bytes()),
        )?;
        self.host.debug(&format!(
            "stored key '{}' in namespace '{}'",
            key.name, key.namespace
        ));
        Ok(Value::Bool(true))
    }

    fn dispatch(&self, method: &str, args: &Value) -> Result<Value, PluginError> {
        match method {
            "getKey" => self.get_key(&args::key_ref(args)?),
            "setKey" => {
                let key = args::key_ref(args)?;
                self.set_key(&key, args::value(args)?)
            }
            "hasKey" => {
                let key = args::key_ref(args)?;
                let found = self.block_on(self.vault.contains(&key.namespace, &key.name))?;
                Ok(Value::Bool(found))
            }
            "listKeys" => {
                let namespace = args::namespace(args)?;
                Ok(json!(self.block_on(self.vault.names(&namespace))?))
            }
            "listNamespaces" => Ok(json!(self.block_on(self.vault.namespaces())?)),
            "getServerTime" => {
                let now = clock::now_unix_ms();
                Ok(json!({ "timestamp": clock::iso8601(now), "unixMs": now, "source": SERVICE }))
            }
            "deleteKey" => {
                let key = args::key_ref(args)?;
                let existed = self.block_on(self.vault.delete(&key.namespace, &key.name))?;
                if existed {
                    self.host.debug(&format!(
                        "deleted key '{}' in namespace '{}'",
                        key.name, key.namespace
                    ));
                }
                Ok(Value::Bool(existed))
            }
            other => Err(PluginError::unknown_method(SERVICE, other)),
        }
    }
}

impl Plugin for Keystore {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        let config = config::parse_config(&config)?;
        let env_key = std::env::var(MASTER_KEY_ENV).ok();
        let (key, origin) = config::load_master_key(&config, env_key)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keystore")
            .enable_all()
            .build()
            .map_err(|e| {
                PluginError::internal(format!("cannot start the keystore runtime: {e}"))
            })?;
        let vault = runtime
            .block_on(Vault::connect(&config.database_url))
            .map_err(plugin_error)?;
        let source = match &origin {
            KeyOrigin::Env => format!("from {MASTER_KEY_ENV}"),
            KeyOrigin::File {
                path,
                created: true,
            } => {
                format!("from key file {} (created now, mode 0600)", path.display())
            }
            KeyOrigin::File { path, .. } => format!("from key file {}", path.display()),
        };
        host.info(&format!(
            "keystore ready on {}: master key {} {source}",
            vault.backend().as_str(),
            key.kid()
        ));
        if let Some(warning) = config::permission_warning(&origin) {
            host.warn(&warning);
        }
        let foreign = runtime
            .block_on(vault.count_sealed_with_other_keys(&key))
            .map_err(plugin_error)?;
        if foreign > 0 {
            host.warn(&format!(
                "{foreign} keystore value(s) were stored under another master key than {}; \
                 reading them fails until the right key is configured or `tasker-host keys rotate` is run",
                key.kid()
            ));
        }
        Ok(Self {
            host,
            vault,
            key,
            runtime,
        })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        self.dispatch(method, &args)
    }

    fn health(&self) -> Result<Value, PluginError> {
        let keys = self.block_on(self.vault.count())?;
        Ok(json!({
            "status": "healthy",
            "backend": self.vault.backend().as_str(),
            "keys": keys,
            "masterKeyId": self.key.kid(),
        }))
    }

    fn shutdown(&self) {
        self.runtime.block_on(self.vault.close());
    }
}

export_plugin!(Keystore);
