//! Assembles OpenAPI 3.0.3 documents: one service's operations under a path prefix, the shared
//! envelope components, tags, and unique operationIds and component names. Both the per-service
//! and the combined gateway document are built with it. It must not do I/O.

use serde_json::{Map, Value, json};
use tasker_plugin_api::{Manifest, MethodSpec};

use crate::envelope::{self, names as shared};
use crate::names::{UniqueNames, method_path, prefixed};
use crate::schema_convert::{
    local_definition_name, local_definitions, to_openapi_schema_with_refs,
};
use crate::security::{self, Access};

/// The OpenAPI version every generated document declares.
pub const OPENAPI_VERSION: &str = "3.0.3";

/// A document under construction.
#[derive(Debug, Default)]
pub struct DocBuilder {
    pub paths: Map<String, Value>,
    pub schemas: Map<String, Value>,
    pub responses: Map<String, Value>,
    pub tags: Vec<Value>,
    pub operation_ids: UniqueNames,
    pub component_names: UniqueNames,
}

impl DocBuilder {
    /// A builder holding the shared envelope components.
    pub fn new() -> Self {
        let mut builder = Self::default();
        for (name, schema) in envelope::shared_schemas() {
            builder.component_names.claim(&name);
            builder.schemas.insert(name, schema);
        }
        builder.responses = envelope::shared_responses();
        builder
    }

    /// Adds one operation at `path` (already prefixed).
    pub fn add_operation(&mut self, path: &str, method: &str, operation: Value) {
        let entry = self
            .paths
            .entry(path.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(item) = entry.as_object_mut() {
            item.insert(method.to_owned(), operation);
        }
    }

    /// Adds every route of one service under `prefix` ("" or `/services/<name>`).
    pub fn add_service(&mut self, manifest: &Manifest, prefix: &str) {
        let service = manifest.name.as_str();
        self.tags.push(service_tag(manifest));
        // Methods claim their operationIds first so they keep the plain `<service>.<method>`.
        let method_ids: Vec<String> = manifest
            .methods
            .iter()
            .map(|m| self.operation_ids.claim(&format!("{service}.{}", m.name)))
            .collect();
        for (method, operation_id) in manifest.methods.iter().zip(method_ids) {
            let mut operation = self.method_operation(service, method, operation_id);
            Access::of_method(method).apply(&mut operation);
            self.add_operation(&method_path(prefix, &method.name), "post", operation);
        }
        let mut call = self.generic_call_operation(manifest);
        Access::of_any_method(manifest).apply(&mut call);
        self.add_operation(&prefixed(prefix, "/"), "post", call);
        let health = json!({
            "tags": [service],
            "summary": format!("Health of {service}"),
            "operationId": self.operation_ids.claim(&format!("{service}._health")),
            "responses": {
                "200": {
                    "description": "The service is healthy",
                    "content": { "application/json": { "schema": envelope::schema_ref(shared::HEALTH) } }
                },
                "503": { "$ref": "#/components/responses/ServiceUnavailable" }
            }
        });
        self.add_operation(&prefixed(prefix, "/health"), "get", health);
        let mut spec = json!({
            "tags": [service],
            "summary": format!("This OpenAPI document of {service}"),
            "operationId": self.operation_ids.claim(&format!("{service}._openapi")),
            "responses": { "200": json_document_response("The OpenAPI 3.0 document") }
        });
        Access::any_token().apply(&mut spec);
        self.add_operation(&prefixed(prefix, "/openapi.json"), "get", spec);
        let mut docs = json!({
            "tags": [service],
            "summary": format!("Swagger UI for {service}"),
            "operationId": self.operation_ids.claim(&format!("{service}._docs")),
            "responses": { "200": html_response() }
        });
        Access::any_token().apply(&mut docs);
        self.add_operation(&prefixed(prefix, "/docs"), "get", docs);
    }

    fn method_operation(
        &mut self,
        service: &str,
        method: &MethodSpec,
        operation_id: String,
    ) -> Value {
        let params =
            self.register_schema(&format!("{service}.{}.Params", method.name), &method.params);
        let result =
            self.register_schema(&format!("{service}.{}.Result", method.name), &method.result);
        let mut media = Map::new();
        media.insert("schema".into(), params);
        if !method.examples.is_empty() {
            let examples: Map<String, Value> = method
                .examples
                .iter()
                .enumerate()
                .map(|(index, value)| (format!("example{}", index + 1), json!({ "value": value })))
                .collect();
            media.insert("examples".into(), Value::Object(examples));
        }
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            envelope::success_response("The method's result", result),
        );
        responses.extend(envelope::error_responses());
        let summary = if method.summary.is_empty() {
            method.name.clone()
        } else {
            method.summary.clone()
        };
        json!({
            "tags": [service],
            "summary": summary,
            "description": method_description(method),
            "operationId": operation_id,
            "requestBody": {
                "description": "The method's arguments as named fields",
                "required": true,
                "content": { "application/json": Value::Object(media) }
            },
            "responses": Value::Object(responses)
        })
    }

    fn generic_call_operation(&mut self, manifest: &Manifest) -> Value {
        let service = manifest.name.as_str();
        let methods: Vec<&str> = manifest.methods.iter().map(|m| m.name.as_str()).collect();
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "The method's result",
                "content": { "application/json": { "schema": envelope::schema_ref(shared::SUCCESS_RESPONSE) } }
            }),
        );
        responses.extend(envelope::error_responses());
        json!({
            "tags": [service],
            "summary": format!("Call any method of {service} (the seed's three request forms)"),
            "description": format!(
                "One of `{{\"method\", \"args\"}}`, `{{\"action\", ...fields}}` or `{{\"chain\": [{{\"property\", \"args\"}}]}}`. Methods: {}.",
                if methods.is_empty() { "none".to_owned() } else { methods.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ") }
            ),
            "operationId": self.operation_ids.claim(&format!("{service}._call")),
            "requestBody": {
                "required": true,
                "content": {
                    "application/json": {
                        "schema": envelope::schema_ref(shared::SERVICE_REQUEST),
                        "examples": request_form_examples(manifest)
                    }
                }
            },
            "responses": Value::Object(responses)
        })
    }

    /// Converts `schema` into a component named after `wanted` (hoisting its local
    /// definitions next to it) and returns a `$ref` to it; an empty schema stays inline.
    fn register_schema(&mut self, wanted: &str, schema: &Value) -> Value {
        if schema.as_object().is_some_and(Map::is_empty) || schema == &Value::Bool(true) {
            return json!({});
        }
        let root = self.component_names.claim(wanted);
        let definitions: Vec<(String, String, &Value)> = local_definitions(schema)
            .into_iter()
            .map(|(name, def)| {
                let component = self.component_names.claim(&format!("{root}.{name}"));
                (name, component, def)
            })
            .collect();
        let rewrite = |reference: &str| -> String {
            if reference == "#" {
                return format!("#/components/schemas/{root}");
            }
            match local_definition_name(reference)
                .and_then(|name| definitions.iter().find(|(local, _, _)| local == name))
            {
                Some((_, component, _)) => format!("#/components/schemas/{component}"),
                None => reference.to_owned(),
            }
        };
        for (_, component, def) in &definitions {
            self.schemas.insert(
                component.clone(),
                to_openapi_schema_with_refs(def, &rewrite),
            );
        }
        self.schemas
            .insert(root.clone(), to_openapi_schema_with_refs(schema, &rewrite));
        envelope::schema_ref(&root)
    }

    /// The finished document.
    pub fn finish(self, info: Value, servers: Vec<Value>) -> Value {
        let mut document = Map::new();
        document.insert("openapi".into(), json!(OPENAPI_VERSION));
        document.insert("info".into(), info);
        if !servers.is_empty() {
            document.insert("servers".into(), Value::Array(servers));
        }
        document.insert("tags".into(), Value::Array(self.tags));
        document.insert("paths".into(), Value::Object(self.paths));
        document.insert(
            "components".into(),
            json!({
                "schemas": Value::Object(self.schemas),
                "responses": Value::Object(self.responses),
                "securitySchemes": security::security_schemes()
            }),
        );
        Value::Object(document)
    }
}

fn service_tag(manifest: &Manifest) -> Value {
    let mut description = manifest.description.clone();
    if !manifest.aliases.is_empty() {
        let aliases = manifest.aliases.join(", ");
        description = format!("{description} (also answers to: {aliases})")
            .trim()
            .to_owned();
    }
    json!({ "name": manifest.name, "description": description })
}

fn method_description(method: &MethodSpec) -> String {
    let mut text = method.description.clone();
    if let Some(order) = method.positional.as_ref().filter(|names| !names.is_empty()) {
        let order = order
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let note = format!(
            "Positional order (for `{{\"method\": \"{}\", \"args\": [...]}}`): {order}.",
            method.name
        );
        text = if text.is_empty() {
            note
        } else {
            format!("{text}\n\n{note}")
        };
    }
    text
}

/// One example per request form, for the first method (with its first example arguments).
fn request_form_examples(manifest: &Manifest) -> Value {
    let Some(method) = manifest.methods.first() else {
        return json!({ "method": { "summary": "method + args", "value": { "method": "name", "args": [] } } });
    };
    let args = method
        .examples
        .first()
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut action = Map::new();
    action.insert("action".into(), json!(method.name));
    if let Value::Object(fields) = &args {
        action.extend(fields.clone());
    }
    let chain_args = match &args {
        Value::Object(fields) if fields.is_empty() => json!([]),
        other => json!([other]),
    };
    let chain: Vec<Value> = method
        .name
        .split('.')
        .map(|part| json!({ "property": part }))
        .collect();
    let mut chain = chain;
    if let Some(Value::Object(last)) = chain.last_mut() {
        last.insert("args".into(), chain_args);
    }
    json!({
        "method": { "summary": "method + args", "value": { "method": method.name, "args": args } },
        "action": { "summary": "action + fields", "value": Value::Object(action) },
        "chain": { "summary": "property chain", "value": { "chain": chain } }
    })
}

fn json_document_response(description: &str) -> Value {
    json_response(description, json!({ "type": "object" }))
}

fn html_response() -> Value {
    json!({ "description": "An HTML page", "content": { "text/html": { "schema": { "type": "string" } } } })
}

/// A JSON-document endpoint's 200 response (used by the gateway document as well).
pub fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// The gateway's `GET /docs` response.
pub fn docs_response() -> Value {
    html_response()
}
