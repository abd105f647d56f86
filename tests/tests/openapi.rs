//! OpenAPI and Swagger UI: each plugin's `/openapi.json` is an OpenAPI 3 document listing
//! every manifest method as `POST /<method>` with its argument and result schemas; `/docs`
//! serves Swagger UI; the gateway's combined document covers every service.

use anyhow::Context;
use serde_json::Value;
use tasker_e2e::known::{ECHO_SERVICE_METHODS, HELLO_WORLD_METHODS};
use tasker_e2e::{Result, TestHost, find_key, resolve_refs};

const PLUGINS: [(&str, &[&str]); 2] = [
    ("echo-service", &ECHO_SERVICE_METHODS),
    ("hello-world", &HELLO_WORLD_METHODS),
];

fn assert_openapi_3(doc: &Value, what: &str) -> Result {
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3."),
        "{what}: openapi field is 3.x, got {:?}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string(), "{what}: info.title");
    assert!(doc["info"]["version"].is_string(), "{what}: info.version");
    let paths = doc["paths"]
        .as_object()
        .with_context(|| format!("{what}: paths is an object"))?;
    for (path, item) in paths {
        let item = item
            .as_object()
            .with_context(|| format!("{what}: {path} is an object"))?;
        for (verb, op) in item {
            if ["get", "post", "put", "patch", "delete", "options", "head"].contains(&verb.as_str())
            {
                assert!(
                    op["responses"].is_object(),
                    "{what}: {verb} {path} has responses"
                );
            }
        }
    }
    Ok(())
}

/// The `POST` operation at `path`, with local `$ref`s inlined.
fn post_operation(doc: &Value, path: &str, what: &str) -> Result<Value> {
    let op = doc["paths"][path]["post"].clone();
    anyhow::ensure!(
        op.is_object(),
        "{what}: no POST {path}; paths: {:?}",
        doc["paths"]
            .as_object()
            .map(|p| p.keys().collect::<Vec<_>>())
    );
    Ok(resolve_refs(doc, &op))
}

fn request_schema(op: &Value) -> &Value {
    &op["requestBody"]["content"]["application/json"]["schema"]
}

/// Whether any schema inside `value` declares `property` with JSON type `ty`.
fn declares_property(value: &Value, property: &str, ty: &str) -> bool {
    find_key(value, "properties")
        .into_iter()
        .any(|props| props[property]["type"] == ty)
}

fn requires(schema: &Value, field: &str) -> bool {
    find_key(schema, "required")
        .into_iter()
        .any(|r| r.as_array().is_some_and(|a| a.iter().any(|f| f == field)))
}

/// Checks the bundled plugins' specific schemas in a document whose method paths start with `prefix`.
fn assert_known_schemas(doc: &Value, prefix: &str, what: &str) -> Result {
    let sleep = post_operation(doc, &format!("{prefix}/sleep"), what)?;
    assert!(
        declares_property(request_schema(&sleep), "ms", "integer"),
        "{what}: sleep request has integer ms: {sleep}"
    );
    assert!(
        requires(request_schema(&sleep), "ms"),
        "{what}: sleep requires ms: {sleep}"
    );
    assert!(
        declares_property(&sleep["responses"]["200"], "slept", "integer"),
        "{what}: sleep result schema: {sleep}"
    );

    let call_service = post_operation(doc, &format!("{prefix}/callService"), what)?;
    for field in ["service", "method"] {
        assert!(
            requires(request_schema(&call_service), field),
            "{what}: callService requires {field}"
        );
    }
    Ok(())
}

#[test]
fn each_plugin_document_lists_every_manifest_method_with_schemas() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    for (service, methods) in PLUGINS {
        let own = host.get(&format!("{}/openapi.json", host.service_url(service)?))?;
        assert_eq!(own.status, 200, "{service} /openapi.json");
        let doc = own.json()?;
        assert_openapi_3(&doc, service)?;
        let registered = host
            .registry()
            .service(service)
            .context("registered")?
            .openapi
            .clone();
        assert_eq!(
            host.get(&registered)?.json()?,
            doc,
            "{service}: the registry's openapi URL serves the same document"
        );
        let via_gateway = host.get(&format!(
            "{}/openapi.json",
            host.gateway_service_url(service)
        ))?;
        assert_eq!(
            via_gateway.status, 200,
            "{service} /openapi.json through the gateway"
        );

        for method in methods {
            let op = post_operation(&doc, &format!("/{method}"), service)?;
            assert!(
                request_schema(&op).is_object(),
                "{service}.{method} has a JSON request schema: {op}"
            );
            assert!(
                op["responses"]["200"].is_object(),
                "{service}.{method} documents its 200 response: {op}"
            );
        }
    }

    let echo_doc = host
        .get(&format!(
            "{}/openapi.json",
            host.service_url("echo-service")?
        ))?
        .json()?;
    assert_known_schemas(&echo_doc, "", "echo-service")?;
    let hello_doc = host
        .get(&format!(
            "{}/openapi.json",
            host.service_url("hello-world")?
        ))?
        .json()?;
    let hello = post_operation(&hello_doc, "/hello", "hello-world")?;
    assert!(
        declares_property(request_schema(&hello), "name", "string"),
        "hello request has string name: {hello}"
    );
    assert!(
        declares_property(&hello["responses"]["200"], "message", "string"),
        "hello result has message: {hello}"
    );
    Ok(())
}

#[test]
fn docs_serve_swagger_ui() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    let mut pages = vec![format!("{}/docs", host.gateway_url())];
    for (service, _) in PLUGINS {
        pages.push(format!("{}/docs", host.service_url(service)?));
        pages.push(format!("{}/docs", host.gateway_service_url(service)));
    }
    for page in pages {
        let reply = host.get(&page)?;
        assert_eq!(reply.status, 200, "{page}");
        assert!(
            reply.header("content-type").starts_with("text/html"),
            "{page}: {:?}",
            reply.header("content-type")
        );
        let body = reply.text.to_ascii_lowercase();
        assert!(
            body.contains("<html") && body.contains("swagger"),
            "{page} is a Swagger UI page"
        );
    }
    // The page's Swagger UI files are served next to it (no CDN).
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        for base in [
            host.gateway_url().to_owned(),
            host.gateway_service_url("echo-service"),
        ] {
            let url = format!("{base}/docs/assets/{asset}");
            let reply = host.get(&url)?;
            assert_eq!(reply.status, 200, "{url}");
            assert!(reply.text.len() > 10_000, "{url} is the real asset");
        }
    }
    Ok(())
}

#[test]
fn combined_document_covers_all_services() -> Result {
    let host = TestHost::builder()
        .plugins(&["echo_service", "hello_world"])
        .start()?;
    let doc = host
        .get(&format!("{}/openapi.json", host.gateway_url()))?
        .json()?;
    assert_openapi_3(&doc, "combined")?;
    let paths: Vec<&String> = doc["paths"].as_object().context("paths")?.keys().collect();
    for name in host.registry().names() {
        let prefix = format!("/services/{name}/");
        assert!(
            paths.iter().any(|p| p.starts_with(&prefix)),
            "combined document has paths under {prefix}: {paths:?}"
        );
    }
    for (service, methods) in PLUGINS {
        for method in methods {
            post_operation(&doc, &format!("/services/{service}/{method}"), "combined")?;
        }
    }
    assert_known_schemas(&doc, "/services/echo-service", "combined")?;
    Ok(())
}

/// With API tokens configured the served documents declare the bearer scheme and each
/// operation's scope: admin methods and REST routes `admin`, health open.
#[test]
fn served_documents_declare_bearer_auth_and_scopes() -> Result {
    const READ: &str = "read-token-openapi-0123456789";
    let host = TestHost::builder()
        .plugins(&["keystore"])
        .env("TASKER_API_TOKENS", &format!("read:{READ}"))
        .start()?;
    let gateway = host
        .get_as(READ, &format!("{}/openapi.json", host.gateway_url()))?
        .json()?;
    let own_port = host
        .get_as(
            READ,
            &format!("{}/openapi.json", host.service_url("keystore")?),
        )?
        .json()?;
    for (doc, prefix, what) in [
        (&gateway, "/services/keystore", "gateway"),
        (&own_port, "", "keystore port"),
    ] {
        assert_openapi_3(doc, what)?;
        let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
        assert_eq!(scheme["type"], "http", "{what}: {scheme}");
        assert_eq!(scheme["scheme"], "bearer", "{what}: {scheme}");
        let set_key = &doc["paths"][format!("{prefix}/setKey")]["post"];
        assert_eq!(set_key["x-required-scope"], "admin", "{what}: setKey");
        assert_eq!(
            set_key["security"],
            serde_json::json!([{ "bearerAuth": [] }])
        );
        assert!(
            set_key["description"]
                .as_str()
                .unwrap_or_default()
                .contains("Requires a token with the `admin` scope"),
            "{what}: {}",
            set_key["description"]
        );
        let get_key = &doc["paths"][format!("{prefix}/getKey")]["post"];
        assert_eq!(get_key["x-required-scope"], "admin", "{what}: getKey");
        assert!(
            get_key["description"]
                .as_str()
                .unwrap_or_default()
                .contains("tasks may call it with `execute`"),
            "{what}: {}",
            get_key["description"]
        );
        assert!(doc["paths"][format!("{prefix}/health")]["get"]["security"].is_null());
    }
    let register = &gateway["paths"]["/services/task-executor/tasks"]["post"];
    assert_eq!(register["x-required-scope"], "admin");
    assert!(register["responses"]["401"].is_object() && register["responses"]["403"].is_object());
    assert_eq!(
        gateway["paths"]["/services"]["get"]["x-required-scope"],
        "read"
    );
    Ok(())
}
