//! The service registry: every service the host serves (core, plugin, remote) by name and
//! alias, with its manifest, compiled argument validators and a way to call it. All calls,
//! from HTTP, tasks or other plugins, go through [`Registry::call`]. The registry knows
//! nothing of HTTP or ports.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, Manifest, MethodSpec, PluginError, Scope};

use crate::plugins::runtime::PluginHandle;
use crate::services::args::{ArgsValidator, shape_args};
use crate::services::core::CoreService;
use crate::services::remote::RemoteService;

/// Where a service comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// Built into the host.
    Core,
    /// A plugin file.
    Plugin,
    /// An HTTP service added with `--remote`.
    Remote,
}

/// How a service is reached.
pub enum Backend {
    /// A loaded plugin.
    Plugin(PluginHandle),
    /// A host-internal service.
    Core(Arc<dyn CoreService>),
    /// An HTTP service.
    Remote(RemoteService),
}

struct Method {
    spec: MethodSpec,
    validator: ArgsValidator,
}

/// One service.
pub struct ServiceEntry {
    /// Its canonical name.
    pub name: String,
    /// Other names it answers to.
    pub aliases: Vec<String>,
    /// Core, plugin or remote.
    pub kind: ServiceKind,
    /// Its manifest (synthesised for remote services).
    pub manifest: Manifest,
    /// The plugin file, for plugins.
    pub file: Option<PathBuf>,
    methods: HashMap<String, Method>,
    backend: Backend,
}

impl std::fmt::Debug for ServiceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceEntry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl ServiceEntry {
    /// Builds an entry, compiling every method's argument schema.
    pub fn new(
        manifest: Manifest,
        kind: ServiceKind,
        file: Option<PathBuf>,
        aliases: Vec<String>,
        backend: Backend,
    ) -> Result<Self, String> {
        let mut methods = HashMap::new();
        for spec in &manifest.methods {
            let validator = ArgsValidator::compile(spec)?;
            methods.insert(
                spec.name.clone(),
                Method {
                    spec: spec.clone(),
                    validator,
                },
            );
        }
        Ok(Self {
            name: manifest.name.clone(),
            aliases,
            kind,
            manifest,
            file,
            methods,
            backend,
        })
    }

    /// The built-in service behind this entry, for core services.
    pub fn core_service(&self) -> Option<Arc<dyn CoreService>> {
        match &self.backend {
            Backend::Core(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// The service's version (from its manifest).
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// The token scope a caller needs for `method`, from its manifest entry
    /// (`MethodSpec::required_scope`; `via_http` makes secret-returning methods `admin`).
    /// A method missing from the manifest needs `execute` on a remote service (whose
    /// manifest lists nothing) and `admin` on a core service, where only undocumented
    /// aliases reach: failing closed there keeps an alias from bypassing its method's scope.
    pub fn required_scope(&self, method: &str, via_http: bool) -> Scope {
        match (self.methods.get(method), &self.backend) {
            (Some(m), _) => m.spec.required_scope(via_http),
            (None, Backend::Remote(_)) => Scope::Execute,
            (None, _) => Scope::Admin,
        }
    }

    /// Calls `method`: resolves it, shapes and validates the arguments, dispatches.
    pub async fn call(
        &self,
        method: &str,
        args: Value,
        ctx: CallContext,
    ) -> Result<Value, PluginError> {
        let args = match (&self.backend, self.methods.get(method)) {
            (_, Some(m)) => {
                let shaped = shape_args(&m.spec, args);
                m.validator.check(&self.name, method, &shaped)?;
                shaped
            }
            // Remote services and core services without a manifest entry decide themselves.
            (Backend::Remote(_), None) | (Backend::Core(_), None) => args,
            (Backend::Plugin(_), None) => return Err(self.unknown_method(method)),
        };
        match &self.backend {
            Backend::Plugin(p) => p
                .call(method, &args, &ctx)
                .await
                .map_err(|e| self.contain_panic(method, e, &ctx)),
            Backend::Core(c) => c.call(method, args, ctx).await,
            Backend::Remote(r) => r.call(method, &args, &ctx).await,
        }
    }

    /// Panic text can hold anything (paths, data); it goes to the log, not to the caller.
    fn contain_panic(&self, method: &str, e: PluginError, ctx: &CallContext) -> PluginError {
        if e.code != tasker_plugin_api::ErrorCode::PluginPanic {
            return e;
        }
        tracing::error!(service = %self.name, method, request_id = ctx.request_id.as_deref().unwrap_or("-"), "plugin panicked: {}", e.message);
        PluginError::new(
            e.code,
            format!(
                "plugin '{}' panicked while handling '{method}'; the panic was logged and the plugin keeps serving",
                self.name
            ),
        )
    }

    /// The service's health report: `{"status": "healthy" | "unhealthy", ...}`.
    pub async fn health(&self) -> Value {
        let report = match &self.backend {
            Backend::Plugin(p) => p.health().await,
            Backend::Core(c) => c.health().await,
            Backend::Remote(r) => r.health().await,
        };
        match report {
            Ok(Value::Object(mut obj)) => {
                obj.entry("status").or_insert_with(|| json!("healthy"));
                Value::Object(obj)
            }
            Ok(other) => json!({ "status": "healthy", "details": other }),
            Err(e) => json!({ "status": "unhealthy", "error": e.message, "code": e.code.as_str() }),
        }
    }

    /// Releases the service's resources at shutdown.
    pub async fn shutdown(&self) {
        if let Backend::Plugin(p) = &self.backend {
            p.shutdown().await;
        }
    }

    fn unknown_method(&self, method: &str) -> PluginError {
        let mut names: Vec<&str> = self
            .manifest
            .methods
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        names.sort_unstable();
        PluginError::not_found(format!(
            "service '{}' has no method '{method}'; available: {}",
            self.name,
            names.join(", ")
        ))
    }
}

/// Every service of this host.
#[derive(Debug, Default)]
pub struct Registry {
    services: Vec<Arc<ServiceEntry>>,
    index: HashMap<String, usize>,
}

impl Registry {
    /// Builds the registry; names and aliases must be unique (checked by the caller).
    pub fn new(services: Vec<ServiceEntry>) -> Self {
        let mut registry = Registry::default();
        for entry in services {
            let i = registry.services.len();
            registry.index.insert(entry.name.clone(), i);
            for alias in &entry.aliases {
                registry.index.entry(alias.clone()).or_insert(i);
            }
            registry.services.push(Arc::new(entry));
        }
        registry
    }

    /// Every service, in port order.
    pub fn services(&self) -> &[Arc<ServiceEntry>] {
        &self.services
    }

    /// Finds a service by name or alias.
    pub fn resolve(&self, name: &str) -> Option<&Arc<ServiceEntry>> {
        self.index.get(name).map(|&i| &self.services[i])
    }

    /// Calls `service.method` with `args`.
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        args: Value,
        ctx: CallContext,
    ) -> Result<Value, PluginError> {
        let entry = self
            .resolve(service)
            .ok_or_else(|| self.unknown_service(service))?;
        entry.call(method, args, ctx).await
    }

    /// The error for an unknown service name, listing what exists.
    pub fn unknown_service(&self, service: &str) -> PluginError {
        let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        PluginError::not_found(format!(
            "unknown service '{service}'; available: {}",
            names.join(", ")
        ))
    }
}
