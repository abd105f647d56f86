//! The gateway's combined OpenAPI document: every service under `/services/<name>/...`, the
//! gateway's own endpoints, and optionally the host's own API merged in. Component names of
//! different sources never collide (service schemas are named after their service; clashing
//! host components are renamed). No HTTP serving here.

use serde_json::{Value, json};
use tasker_plugin_api::Manifest;

use crate::builder::{DocBuilder, docs_response, json_response};
use crate::envelope::{names as shared, schema_ref};
use crate::security::Access;

/// What the gateway knows about a service besides its manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    /// `core`, `plugin` or `remote`.
    pub kind: Option<String>,
    /// The URL of the service's own port (e.g. `http://localhost:3104`), if it has one.
    pub url: Option<String>,
}

/// One document covering every service (under `/services/<name>`) plus the gateway's
/// `GET /health`, `GET /services`, `GET /openapi.json`, `GET /docs`. `host_paths` is either
/// a full OpenAPI document (its paths, components and tags are merged) or a bare `paths`
/// object, for routes the host serves itself.
pub fn combined_document(
    services: &[(Manifest, ServiceInfo)],
    host_paths: Option<&Value>,
) -> Value {
    let mut builder = DocBuilder::new();
    add_gateway_routes(&mut builder);
    for (manifest, info) in services {
        builder.add_service(manifest, &format!("/services/{}", manifest.name));
        describe_service_tag(&mut builder, manifest, info);
    }
    if let Some(extra) = host_paths {
        merge_host_document(&mut builder, extra);
    }
    let listing: Vec<String> = services
        .iter()
        .map(|(m, _)| format!("`{}` {}", m.name, m.version))
        .collect();
    let info = json!({
        "title": "tasker gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "description": format!(
            "Every service of this tasker host, under `/services/<name>/`, plus the gateway's own endpoints. Services: {}.",
            if listing.is_empty() { "none".to_owned() } else { listing.join(", ") }
        ),
    });
    builder.finish(info, Vec::new())
}

fn add_gateway_routes(builder: &mut DocBuilder) {
    builder
        .tags
        .push(json!({ "name": "gateway", "description": "The gateway's own endpoints" }));
    let registry = json!({
        "type": "object",
        "description": "The service registry (the seed's .service-registry.json format plus gateway, kind, version, openapi, file)",
        "properties": {
            "timestamp": { "type": "string", "format": "date-time" },
            "gateway": { "type": "string" },
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string" },
                        "port": { "type": "integer" },
                        "url": { "type": "string" },
                        "kind": { "type": "string", "enum": ["core", "plugin", "remote"] },
                        "version": { "type": "string" },
                        "openapi": { "type": "string" }
                    },
                    "additionalProperties": true
                }
            }
        },
        "additionalProperties": true
    });
    let routes = [
        (
            "/health",
            "gateway._health",
            "Health of the host and every service",
            json_response("Host and service health", schema_ref(shared::HEALTH)),
        ),
        (
            "/services",
            "gateway._services",
            "The service registry",
            json_response("The registry", registry),
        ),
        (
            "/cluster",
            "gateway._cluster",
            "Hosts sharing the database: liveness, services, leases held, queue depth per service, oldest ready call, services no live host serves",
            json_response("The cluster report", cluster_report_schema()),
        ),
        (
            "/openapi.json",
            "gateway._openapi",
            "This combined OpenAPI document",
            json_response("The OpenAPI 3.0 document", json!({ "type": "object" })),
        ),
        (
            "/docs",
            "gateway._docs",
            "Swagger UI over every service",
            docs_response(),
        ),
    ];
    for (path, operation_id, summary, ok) in routes {
        let mut operation = json!({
            "tags": ["gateway"],
            "summary": summary,
            "operationId": builder.operation_ids.claim(operation_id),
            "responses": { "200": ok }
        });
        // `/health` stays open (load balancers probe it); `/cluster` is operator information
        // (admin); the rest needs any valid token.
        match path {
            "/health" => {}
            "/cluster" => Access::scope(tasker_plugin_api::Scope::Admin).apply(&mut operation),
            _ => Access::any_token().apply(&mut operation),
        }
        builder.add_operation(path, "get", operation);
    }
}

fn describe_service_tag(builder: &mut DocBuilder, manifest: &Manifest, info: &ServiceInfo) {
    let Some(tag) = builder
        .tags
        .iter_mut()
        .rev()
        .find(|t| t["name"] == manifest.name.as_str())
    else {
        return;
    };
    let mut notes = Vec::new();
    if let Some(kind) = &info.kind {
        notes.push(format!("kind: {kind}"));
    }
    if let Some(url) = &info.url {
        notes.push(format!("own port: {url}"));
    }
    if notes.is_empty() {
        return;
    }
    let base = tag["description"].as_str().unwrap_or_default().to_owned();
    tag["description"] = json!(format!("{base} [{}]", notes.join("; ")).trim().to_owned());
}

/// Merges the host's own routes. Its components keep their names unless that name is taken
/// by different content, in which case they are renamed `host.<name>` and every `$ref` to
/// them inside the host document is rewritten; operationIds are deduplicated likewise.
fn merge_host_document(builder: &mut DocBuilder, extra: &Value) {
    let mut host = if extra.get("paths").is_some() {
        extra.clone()
    } else {
        json!({ "paths": extra })
    };
    for section in ["schemas", "responses"] {
        let Some(Value::Object(components)) =
            host.pointer(&format!("/components/{section}")).cloned()
        else {
            continue;
        };
        // First rename every clashing component and rewrite the references to it, so that
        // components merged afterwards already point at the new names.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (name, body) in &components {
            let ours = if section == "schemas" {
                &builder.schemas
            } else {
                &builder.responses
            };
            match ours.get(name) {
                Some(existing) if existing == body => {}
                Some(_) => {
                    let renamed = builder.component_names.claim(&format!("host.{name}"));
                    let from = format!("#/components/{section}/{name}");
                    rewrite_refs(
                        &mut host,
                        &from,
                        &format!("#/components/{section}/{renamed}"),
                    );
                    merged.push((name.clone(), renamed));
                }
                None => {
                    let claimed = builder.component_names.claim(name);
                    if &claimed != name {
                        let from = format!("#/components/{section}/{name}");
                        rewrite_refs(
                            &mut host,
                            &from,
                            &format!("#/components/{section}/{claimed}"),
                        );
                    }
                    merged.push((name.clone(), claimed));
                }
            }
        }
        for (name, final_name) in merged {
            let body = host
                .pointer(&format!("/components/{section}/{name}"))
                .cloned()
                .unwrap_or_default();
            let target = if section == "schemas" {
                &mut builder.schemas
            } else {
                &mut builder.responses
            };
            target.insert(final_name, body);
        }
    }
    if let Some(Value::Array(tags)) = host.get("tags") {
        for tag in tags {
            if !builder.tags.iter().any(|t| t["name"] == tag["name"]) {
                builder.tags.push(tag.clone());
            }
        }
    }
    let Some(Value::Object(paths)) = host.get_mut("paths") else {
        return;
    };
    for (path, item) in std::mem::take(paths) {
        let Value::Object(mut operations) = item else {
            continue;
        };
        for operation in operations.values_mut() {
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                let unique = builder.operation_ids.claim(id);
                operation["operationId"] = json!(unique);
            }
        }
        // A host route takes the whole path: the router matches it before the generic
        // `POST /{method}`, so a method of the same name is not reachable there.
        builder.paths.insert(path, Value::Object(operations));
    }
}

/// Replaces every `"$ref": from` inside `value` with `to`.
fn rewrite_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "$ref" && child.as_str() == Some(from) {
                    *child = json!(to);
                } else {
                    rewrite_refs(child, from, to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_refs(item, from, to)),
        _ => {}
    }
}

/// The shape of `GET /cluster` (see the host's engine/cluster.rs).
fn cluster_report_schema() -> Value {
    let count_map = json!({ "type": "object", "additionalProperties": { "type": "integer" } });
    json!({
        "type": "object",
        "properties": {
            "self": { "type": "string", "nullable": true, "description": "This host's id" },
            "backend": { "type": "string" },
            "leaseMs": { "type": "integer" },
            "hosts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" },
                        "self": { "type": "boolean" },
                        "address": { "type": "string" },
                        "version": { "type": "string" },
                        "live": { "type": "boolean" },
                        "startedAt": { "type": "string", "format": "date-time" },
                        "heartbeatAgeMs": { "type": "integer" },
                        "services": { "type": "array", "items": { "type": "string" } },
                        "leases": {
                            "type": "object",
                            "properties": {
                                "runs": { "type": "integer" },
                                "calls": { "type": "integer" }
                            }
                        }
                    }
                }
            },
            "orphanedLeases": { "type": "array", "items": { "type": "object" } },
            "queue": {
                "type": "object",
                "properties": {
                    "runs": count_map,
                    "calls": count_map,
                    "pendingByService": count_map,
                    "oldestReadyAgeMs": { "type": "integer", "nullable": true }
                }
            },
            "unservedServices": { "type": "array", "items": { "type": "string" } }
        }
    })
}
