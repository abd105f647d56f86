//! `admin-debug`: diagnostics for operators. Each of the original's actions is a method
//! (`{"action": "registry"}` reaches the `registry` method through the host):
//! `test-direct-gapi`, `test-stack-processor`, `registry`, `plugin-health` and `queue`.
//!
//! It must only observe: it never changes data, never retries on its own, and never
//! reports secrets (gapi's own errors are already free of them).

mod probes;
mod registry;

use serde_json::{Value, json};
use tasker_plugin_api::{
    CallContext, Host, Manifest, MethodSpec, Plugin, PluginError, Scope, export_plugin,
};

/// The plugin instance.
pub struct AdminDebug {
    host: Host,
    config: Value,
    client: reqwest::blocking::Client,
}

fn object(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties, "additionalProperties": false })
}

fn manifest() -> Manifest {
    let customer = json!({ "customer": { "type": "string", "description": "Customer id (default my_customer)" } });
    let stack = json!({
        "customer": { "type": "string", "description": "Customer id (default my_customer)" },
        "waitSeconds": { "type": "number", "minimum": 0, "maximum": 300, "description": "How long to wait for the run (default 60)" }
    });
    let report = json!({ "type": "object" });
    Manifest {
        name: "admin-debug".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Operator diagnostics: gapi probes (direct and through the durable engine), the service \
                      registry, every service's health, and the stack-run queue. Send `{\"action\": NAME}` or \
                      call the method NAME."
            .into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec![],
        chain_method: None,
        max_concurrency: Some(8),
        methods: vec![
            MethodSpec::new("test-direct-gapi", "Call gapi admin.domains.list through the registry and summarise")
                .params(object(customer))
                .result(report.clone())
                .scope(Scope::Admin)
                .example(json!({ "customer": "my_customer" })),
            MethodSpec::new("test-stack-processor", "Run gapi admin.domains.list inside a durable task and report timings")
                .params(object(stack))
                .result(report.clone())
                .scope(Scope::Admin)
                .example(json!({ "waitSeconds": 30 })),
            MethodSpec::new("registry", "Every service with kind, version, file, port and aliases")
                .params(object(json!({})))
                .result(report.clone())
                .scope(Scope::Admin),
            MethodSpec::new("plugin-health", "Every service's /health, with timings")
                .params(object(json!({})))
                .result(report.clone())
                .scope(Scope::Admin),
            MethodSpec::new("queue", "Task runs and stack runs by status, pending calls by service, oldest ready age")
                .params(object(json!({})))
                .result(report)
                .scope(Scope::Admin),
        ],
    }
}

impl Plugin for AdminDebug {
    fn manifest() -> Manifest {
        manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        Ok(Self {
            host,
            config,
            client: registry::health_client()?,
        })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        match method {
            "test-direct-gapi" => probes::direct_gapi(&self.host, &args),
            "test-stack-processor" => probes::stack_processor(&self.host, &args),
            "registry" => registry::registry(&self.config),
            "plugin-health" => registry::plugin_health(&self.config, &self.client),
            "queue" => {
                let mut report =
                    self.host
                        .call_service("simple-stack-processor", "queue", &json!({}))?;
                if let Some(obj) = report.as_object_mut() {
                    obj.insert("source".into(), json!("simple-stack-processor.queue"));
                }
                Ok(report)
            }
            other => Err(PluginError::not_found(format!(
                "Unknown action '{other}'; available actions: test-direct-gapi, test-stack-processor, registry, plugin-health, queue"
            ))),
        }
    }
}

export_plugin!(AdminDebug);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_a_method() {
        let names: Vec<String> = manifest().methods.into_iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "test-direct-gapi",
                "test-stack-processor",
                "registry",
                "plugin-health",
                "queue"
            ]
        );
    }
}
