//! Authentication in the generated documents: the `bearerAuth` scheme, `security` on every
//! operation but health, the scope from the manifest (`x-required-scope` and a sentence), the
//! secret-method wording, and 401/403 responses, on a service's own document and the gateway's.

mod common;

use common::{assert_valid_openapi, sample_manifest};
use serde_json::{Value, json};
use tasker_openapi::{DocOptions, ServiceInfo, combined_document, service_document};
use tasker_plugin_api::{MethodSpec, Scope};

fn manifest_with_scopes() -> tasker_plugin_api::Manifest {
    let mut manifest = sample_manifest("vault");
    manifest
        .methods
        .push(MethodSpec::new("setKey", "Stores a key").scope(Scope::Admin));
    manifest
        .methods
        .push(MethodSpec::new("getKey", "Reads a key").secret());
    manifest
        .methods
        .push(MethodSpec::new("peek", "Lists keys").scope(Scope::Read));
    manifest
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (verb, op) in item.as_object().expect("path item") {
            all.push((path.clone(), verb.clone(), op.clone()));
        }
    }
    all
}

fn assert_secured(doc: &Value, what: &str) {
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"]
        }),
        "{what}: the scheme"
    );
    for (path, verb, op) in operations(doc) {
        let is_health = path.ends_with("/health");
        if is_health {
            assert!(
                op.get("security").is_none(),
                "{what}: {verb} {path} is open"
            );
            assert!(
                op.get("x-required-scope").is_none(),
                "{what}: {verb} {path}"
            );
            continue;
        }
        assert_eq!(
            op["security"],
            json!([{ "bearerAuth": [] }]),
            "{what}: {verb} {path}"
        );
        let scope = op["x-required-scope"].as_str().unwrap_or_default();
        assert!(
            ["read", "execute", "admin"].contains(&scope),
            "{what}: {verb} {path} scope {scope:?}"
        );
        let description = op["description"].as_str().unwrap_or_default();
        assert!(
            description.contains(&format!("`{scope}`")),
            "{what}: {verb} {path} description names `{scope}`: {description}"
        );
        assert!(
            op["responses"]["401"].is_object(),
            "{what}: {verb} {path} 401"
        );
        if scope != "read" {
            assert!(
                op["responses"]["403"].is_object(),
                "{what}: {verb} {path} 403"
            );
        }
    }
}

#[test]
fn service_document_declares_bearer_auth_and_each_method_scope() {
    let doc = service_document(&manifest_with_scopes(), &DocOptions::default());
    assert_valid_openapi(&doc);
    assert_secured(&doc, "service");
    let paths = &doc["paths"];
    assert_eq!(paths["/setKey"]["post"]["x-required-scope"], "admin");
    assert!(
        paths["/setKey"]["post"]["description"]
            .as_str()
            .unwrap()
            .ends_with("Requires a token with the `admin` scope.")
    );
    assert_eq!(paths["/echo"]["post"]["x-required-scope"], "execute");
    assert_eq!(paths["/peek"]["post"]["x-required-scope"], "read");
    let secret = &paths["/getKey"]["post"];
    assert_eq!(secret["x-required-scope"], "admin");
    let text = secret["description"].as_str().unwrap();
    assert!(
        text.contains("`admin` scope over HTTP")
            && text.contains("tasks may call it with `execute`"),
        "{text}"
    );
    // `POST /` needs the scope of the method named in the body: at least the lowest one.
    assert_eq!(paths["/"]["post"]["x-required-scope"], "read");
    assert_eq!(paths["/openapi.json"]["get"]["x-required-scope"], "read");
    assert_eq!(
        doc["components"]["responses"]["Unauthorized"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorResponse"
    );
}

#[test]
fn gateway_document_secures_its_own_routes_and_host_routes_keep_theirs() {
    let host_route = json!({ "paths": { "/services/vault/tasks": { "post": {
        "operationId": "vault.rest.tasks",
        "description": "Registers.\n\nRequires a token with the `admin` scope.",
        "security": [{ "bearerAuth": [] }],
        "x-required-scope": "admin",
        "responses": {
            "200": { "description": "ok" },
            "401": { "$ref": "#/components/responses/Unauthorized" },
            "403": { "$ref": "#/components/responses/Forbidden" }
        }
    } } } });
    let services = [
        (manifest_with_scopes(), ServiceInfo::default()),
        (sample_manifest("echo-service"), ServiceInfo::default()),
    ];
    let doc = combined_document(&services, Some(&host_route));
    assert_valid_openapi(&doc);
    assert_secured(&doc, "gateway");
    assert!(doc["paths"]["/health"]["get"].get("security").is_none());
    for path in ["/services", "/openapi.json", "/docs"] {
        let op = &doc["paths"][path]["get"];
        assert_eq!(op["x-required-scope"], "read", "{path}");
        assert!(op["responses"]["401"].is_object(), "{path}");
    }
    assert_eq!(
        doc["paths"]["/services/vault/getKey"]["post"]["x-required-scope"],
        "admin"
    );
    assert_eq!(
        doc["paths"]["/services/vault/tasks"]["post"]["x-required-scope"],
        "admin"
    );
}
