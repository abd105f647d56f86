//! `supabase` (aliases `database`, `wrappedsupabase`): the original's supabase-js chain
//! proxy, reimplemented. Chains are parsed into a query, checked against the plugin's
//! access rules and the live schema, and run as parameterised SQL on the host's SQLite or
//! PostgreSQL database, or forwarded to a PostgREST server. It must never interpolate
//! caller input into SQL, and never log the PostgREST key.
//!
//! Error mapping (PostgREST status → host error code; the supabase-js response, with the
//! exact `status` and the `{code, message, details, hint}` object, is always in the
//! error's `details`): 400/416 → VALIDATION, 401 → AUTHENTICATION, 403/405 →
//! AUTHORIZATION, 404 → NOT_FOUND, 406 (PGRST116) → NOT_FOUND for zero rows and
//! VALIDATION for several, 409 → CONFLICT, 501 → NOT_IMPLEMENTED, 502 → EXTERNAL_SERVICE,
//! 503 → CONFIGURATION, 504 → TIMEOUT, other 5xx → INTERNAL.

mod backend;
pub mod chain;
pub mod coerce;
pub mod config;
pub mod convenience;
pub mod filter;
pub mod forward;
mod manifest;
mod postgres;
pub mod query;
pub mod response;
mod rpc;
pub mod runner;
pub mod schema;
pub mod sql;
mod sql_filter;
mod sqlite;

use serde_json::Value;
use tasker_plugin_api::{
    CallContext, ErrorCode, Host, Manifest, Plugin, PluginError, export_plugin,
};

use crate::config::{Config, Target};
use crate::forward::Forwarder;
use crate::query::Query;
use crate::response::{Failure, Success};
use crate::runner::{Database, check_access};

/// Where the plugin sends queries.
#[derive(Debug)]
enum Backend {
    Database(Database),
    Forward(Forwarder),
}

/// The plugin instance.
pub struct Supabase {
    host: Host,
    config: Config,
    backend: Backend,
    runtime: tokio::runtime::Runtime,
}

impl Supabase {
    fn run_chain(&self, chain: &Value) -> Result<Success, Failure> {
        let query: Query = chain::parse_chain(chain)?;
        match &self.backend {
            Backend::Database(db) => self.runtime.block_on(db.run(&self.config, &query)),
            Backend::Forward(fwd) => {
                check_access(&self.config, &query)?;
                self.runtime.block_on(fwd.run(&query))
            }
        }
    }
}

impl Plugin for Supabase {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        let config = Config::parse(&config)
            .map_err(|e| PluginError::new(ErrorCode::Configuration, e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("supabase-plugin")
            .enable_all()
            .build()
            .map_err(|e| {
                PluginError::new(
                    ErrorCode::Configuration,
                    format!("cannot start the plugin runtime: {e}"),
                )
            })?;
        let backend = match &config.target {
            Target::Database { url } => {
                // Pools spawn background tasks, so they are created inside the runtime.
                let _guard = runtime.enter();
                let db = Database::connect_lazy(url).map_err(Failure::into_plugin_error)?;
                host.info(&format!(
                    "supabase: serving {:?} database queries",
                    db.dialect()
                ));
                Backend::Database(db)
            }
            Target::Forward { rest_url, key } => {
                host.info(&format!("supabase: forwarding queries to {rest_url}"));
                Backend::Forward(
                    Forwarder::new(rest_url.clone(), key.clone())
                        .map_err(Failure::into_plugin_error)?,
                )
            }
        };
        Ok(Self {
            host,
            config,
            backend,
            runtime,
        })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        let chain = match method {
            "query" => args.get("chain").cloned().unwrap_or(Value::Null),
            "select" | "insert" | "update" | "upsert" | "delete" | "rpc" => {
                convenience::to_chain(method, &args).map_err(Failure::into_plugin_error)?
            }
            other => return Err(PluginError::unknown_method("supabase", other)),
        };
        match self.run_chain(&chain) {
            Ok(success) => Ok(success.response()),
            Err(failure) => {
                if failure.status >= 500 {
                    self.host.warn(&format!(
                        "supabase.{method} failed: {} ({})",
                        failure.message, failure.code
                    ));
                }
                Err(failure.into_plugin_error())
            }
        }
    }

    fn health(&self) -> Result<Value, PluginError> {
        match &self.backend {
            Backend::Database(db) => {
                self.runtime
                    .block_on(db.ping())
                    .map_err(Failure::into_plugin_error)?;
                Ok(
                    serde_json::json!({ "status": "healthy", "backend": format!("{:?}", db.dialect()) }),
                )
            }
            Backend::Forward(_) => {
                Ok(serde_json::json!({ "status": "healthy", "backend": "PostgREST" }))
            }
        }
    }

    fn shutdown(&self) {
        if let Backend::Database(db) = &self.backend {
            self.runtime.block_on(db.close());
        }
    }
}

export_plugin!(Supabase);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_query_and_convenience_methods() {
        let m = manifest::manifest();
        assert_eq!(m.chain_method.as_deref(), Some("query"));
        assert_eq!(m.aliases, ["database", "wrappedsupabase"]);
        let names: Vec<_> = m.methods.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "query", "select", "insert", "upsert", "update", "delete", "rpc"
            ]
        );
    }
}
