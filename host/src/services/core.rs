//! The services built into the host (deno-executor, simple-stack-processor,
//! task-executor). Until the durable engine is wired in they answer health and
//! `NOT_IMPLEMENTED` (501) for everything else. Must not block async workers.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, ErrorCode, Manifest, PluginError};

/// A boxed future, as returned by [`CoreService`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service implemented inside the host.
pub trait CoreService: Send + Sync {
    /// Its self-description (for docs and validation).
    fn manifest(&self) -> Manifest;
    /// Runs one method.
    fn call<'a>(&'a self, method: &'a str, args: Value, ctx: CallContext) -> BoxFuture<'a, Result<Value, PluginError>>;
    /// Its health report.
    fn health(&self) -> BoxFuture<'_, Result<Value, PluginError>> {
        Box::pin(async { Ok(json!({ "status": "healthy" })) })
    }
}

/// A core service whose engine is not wired in yet.
#[derive(Debug)]
pub struct PendingCoreService {
    name: &'static str,
    description: &'static str,
}

impl PendingCoreService {
    /// The three core services, as placeholders.
    pub fn all() -> Vec<PendingCoreService> {
        vec![
            PendingCoreService { name: "deno-executor", description: "Runs task code in the JavaScript sandbox." },
            PendingCoreService {
                name: "simple-stack-processor",
                description: "Processes the stack-run queue (durable host calls).",
            },
            PendingCoreService { name: "task-executor", description: "Registers tasks and submits and inspects runs." },
        ]
    }
}

impl CoreService for PendingCoreService {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: self.name.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: self.description.to_owned(),
            api_version: tasker_plugin_api::API_VERSION,
            aliases: vec![],
            max_concurrency: None,
            methods: vec![],
        }
    }

    fn call<'a>(&'a self, method: &'a str, _args: Value, _ctx: CallContext) -> BoxFuture<'a, Result<Value, PluginError>> {
        Box::pin(async move {
            Err(PluginError::new(
                ErrorCode::NotImplemented,
                format!("{}.{method} is not available yet: the durable task engine is not enabled in this build", self.name),
            ))
        })
    }
}
