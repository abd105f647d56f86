//! `hello-world`: the smallest useful tasker plugin, `hello({name})` → a greeting.
//! It must stay dependency-free: it is the template new plugin authors copy.

use serde_json::{Value, json};
use tasker_plugin_api::{
    CallContext, Host, Manifest, MethodSpec, Plugin, PluginError, export_plugin,
};

/// The plugin instance; it keeps the host handle only to log.
pub struct HelloWorld {
    host: Host,
}

impl Plugin for HelloWorld {
    fn manifest() -> Manifest {
        Manifest {
            name: "hello-world".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Says hello. The smallest example plugin.".into(),
            api_version: tasker_plugin_api::API_VERSION,
            aliases: vec![],
            chain_method: None,
            max_concurrency: None,
            methods: vec![
                MethodSpec::new("hello", "Greets someone by name")
                    .params(json!({
                        "type": "object",
                        "properties": { "name": { "type": "string", "description": "Who to greet", "default": "world" } },
                        "additionalProperties": false
                    }))
                    .positional(&["name"])
                    .result(json!({
                        "type": "object",
                        "properties": { "message": { "type": "string" } },
                        "required": ["message"]
                    }))
                    .example(json!({ "name": "Ada" })),
            ],
        }
    }

    fn init(host: Host, _config: Value) -> Result<Self, PluginError> {
        Ok(Self { host })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        match method {
            "hello" => {
                let name = args.get("name").and_then(Value::as_str).unwrap_or("world");
                self.host.debug(&format!("greeting {name}"));
                Ok(json!({ "message": format!("Hello, {name}!") }))
            }
            other => Err(PluginError::unknown_method("hello-world", other)),
        }
    }
}

export_plugin!(HelloWorld);
