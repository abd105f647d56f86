//! The services built into the host (deno-executor, simple-stack-processor,
//! task-executor) implement this trait; their manifests describe them like plugins.
//! Must not block async workers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, Manifest, PluginError};

/// A boxed future, as returned by [`CoreService`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service implemented inside the host.
pub trait CoreService: Send + Sync {
    /// Its self-description (for docs and validation).
    fn manifest(&self) -> Manifest;
    /// Runs one method.
    fn call<'a>(
        &'a self,
        method: &'a str,
        args: Value,
        ctx: CallContext,
    ) -> BoxFuture<'a, Result<Value, PluginError>>;
    /// Adds service-specific HTTP routes (e.g. the task API's REST routes) to its route
    /// tree; they take precedence over the generic `POST /{method}`.
    fn extend_routes(self: Arc<Self>, route: poem::Route) -> poem::Route {
        route
    }
    /// Its health report.
    fn health(&self) -> BoxFuture<'_, Result<Value, PluginError>> {
        Box::pin(async { Ok(json!({ "status": "healthy" })) })
    }
}
