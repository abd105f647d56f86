//! The generated service and gateway documents: valid OpenAPI 3.0, every manifest method with
//! its schemas and the envelopes, stable unique names, and draft-07 schemas converted.

mod common;

use common::{assert_valid_openapi, sample_manifest};
use serde_json::{Value, json};
use tasker_openapi::{DocOptions, Server, ServiceInfo, combined_document, service_document};
use tasker_plugin_api::ErrorCode;

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => doc
            .pointer(target.trim_start_matches('#'))
            .expect("ref resolves"),
        None => schema,
    }
}

#[test]
fn service_document_on_its_own_port_is_valid_and_complete() {
    let manifest = sample_manifest("echo-service");
    let opts = DocOptions {
        path_prefix: String::new(),
        servers: vec![Server::new("http://localhost:3100")],
    };
    let doc = service_document(&manifest, &opts);
    assert_valid_openapi(&doc);

    assert_eq!(doc["info"]["title"], "echo-service");
    assert_eq!(doc["info"]["version"], "1.2.3");
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Echoes, sleeps")
    );
    assert_eq!(doc["servers"], json!([{ "url": "http://localhost:3100" }]));
    assert_eq!(doc["tags"][0]["name"], "echo-service");

    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/",
        "/echo",
        "/sleep",
        "/admin.users.list",
        "/weird%20name%2Fwith%7Bbraces%7D",
        "/health",
        "/openapi.json",
        "/docs",
    ] {
        assert!(
            paths.contains_key(path),
            "missing {path}: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }

    // POST /: the three request forms as a oneOf.
    let call = &doc["paths"]["/"]["post"];
    let forms = resolve(
        &doc,
        &call["requestBody"]["content"]["application/json"]["schema"],
    );
    let required: Vec<&Value> = forms["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &resolve(&doc, f)["required"][0])
        .collect();
    assert_eq!(
        required,
        [&json!("method"), &json!("action"), &json!("chain")]
    );
    let examples = &call["requestBody"]["content"]["application/json"]["examples"];
    assert_eq!(
        examples["action"]["value"],
        json!({ "action": "echo", "hello": "world" })
    );

    // POST /sleep: params schema with its example, success envelope around the result schema.
    let sleep = &doc["paths"]["/sleep"]["post"];
    assert_eq!(sleep["operationId"], "echo-service.sleep");
    assert_eq!(sleep["tags"], json!(["echo-service"]));
    let media = &sleep["requestBody"]["content"]["application/json"];
    assert_eq!(media["examples"]["example1"]["value"], json!({ "ms": 50 }));
    let params = resolve(&doc, &media["schema"]);
    assert_eq!(params["required"], json!(["ms"]));
    assert_eq!(
        params["properties"]["ms"],
        json!({ "type": "integer", "minimum": 0, "maximum": 600000, "exclusiveMaximum": true })
    );
    assert!(params.get("$schema").is_none());
    assert!(
        sleep["description"].as_str().unwrap().contains("`ms`"),
        "positional order documented"
    );
    let ok = &sleep["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(ok["required"], json!(["success", "data", "metadata"]));
    assert_eq!(ok["properties"]["success"]["enum"], json!([true]));
    assert_eq!(
        resolve(&doc, &ok["properties"]["data"])["properties"]["slept"]["type"],
        "integer"
    );
    let metadata = resolve(&doc, &ok["properties"]["metadata"]);
    assert_eq!(
        metadata["properties"]["timestamp"],
        json!({ "type": "string", "format": "date-time" })
    );
    assert_eq!(metadata["properties"]["duration"]["type"], "number");
    assert_eq!(metadata["properties"]["requestId"]["type"], "string");

    // Error responses and the error envelope.
    for status in ["400", "404", "500", "502", "503", "504"] {
        let response = resolve(&doc, &sleep["responses"][status]);
        let body = resolve(&doc, &response["content"]["application/json"]["schema"]);
        assert_eq!(
            body["properties"]["success"]["enum"],
            json!([false]),
            "{status}"
        );
        let codes = &resolve(&doc, &body["properties"]["code"])["enum"];
        let expected: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, &json!(expected));
        assert!(body["properties"].get("details").is_some());
    }
}

#[test]
fn draft07_schemas_are_converted() {
    let doc = service_document(&sample_manifest("gapi"), &DocOptions::default());
    assert_valid_openapi(&doc);
    let list = &doc["paths"]["/admin.users.list"]["post"];
    assert_eq!(list["operationId"], "gapi.admin.users.list");
    let params = resolve(
        &doc,
        &list["requestBody"]["content"]["application/json"]["schema"],
    );
    let props = &params["properties"];
    assert_eq!(
        props["domain"],
        json!({ "type": "string", "example": "example.com" })
    );
    assert_eq!(
        props["limit"]["anyOf"],
        json!([{ "type": "integer" }, { "type": "string" }])
    );
    assert_eq!(
        (
            &props["limit"]["minimum"],
            &props["limit"]["exclusiveMinimum"]
        ),
        (&json!(0), &json!(true))
    );
    assert_eq!(
        props["pair"]["items"],
        json!({ "anyOf": [{ "type": "string" }, { "type": "number" }] })
    );
    assert_eq!(props["anything"], json!({}));
    assert_eq!(props["nothing"], json!({ "not": {} }));
    assert_eq!(props["labels"], json!({ "type": "object" }));
    assert_eq!(props["tags"], json!({ "type": "array", "items": {} }));
    assert!(
        params.get("required").is_none(),
        "empty required list dropped"
    );
    // Local definitions are hoisted into components and the references follow them.
    let filter_ref = props["filters"]["items"]["$ref"].as_str().unwrap();
    assert_eq!(
        filter_ref,
        "#/components/schemas/gapi.admin.users.list.Params.Filter"
    );
    let filter = resolve(&doc, &props["filters"]["items"]);
    assert_eq!(filter["properties"]["field"], json!({ "enum": ["email"] }));
    assert_eq!(
        filter["properties"]["value"],
        json!({ "type": "string", "nullable": true })
    );
    assert_eq!(
        props["parent"],
        json!({ "description": "recursive", "allOf": [{ "$ref": "#/components/schemas/gapi.admin.users.list.Params" }] })
    );
}

#[test]
fn gateway_prefix_and_stable_names() {
    let manifest = sample_manifest("keystore");
    let doc = service_document(&manifest, &DocOptions::for_gateway("keystore"));
    assert_valid_openapi(&doc);
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|p| p.starts_with("/services/keystore/")),
        "{paths:?}"
    );
    assert!(doc["paths"]["/services/keystore/admin.users.list"]["post"].is_object());
    assert!(doc["paths"]["/services/keystore/"]["post"].is_object());
    // The same manifest always gives the same document.
    assert_eq!(
        doc,
        service_document(&manifest, &DocOptions::for_gateway("keystore"))
    );
}

#[test]
fn combined_document_covers_every_service_and_the_gateway() {
    let services = vec![
        (
            sample_manifest("echo-service"),
            ServiceInfo {
                kind: Some("plugin".into()),
                url: Some("http://localhost:3109".into()),
            },
        ),
        (sample_manifest("keystore"), ServiceInfo::default()),
    ];
    // A host API document whose `ErrorResponse` differs from ours: it must be renamed, not clash.
    let host = json!({
        "openapi": "3.0.3",
        "info": { "title": "host", "version": "1" },
        "tags": [{ "name": "admin" }],
        "paths": {
            "/admin/plugins": { "get": {
                "tags": ["admin"],
                "operationId": "gateway._health",
                "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorResponse" } } } } }
            } }
        },
        "components": { "schemas": { "ErrorResponse": { "type": "object", "properties": { "message": { "type": "string" } } } } }
    });
    let doc = combined_document(&services, Some(&host));
    assert_valid_openapi(&doc);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/services",
        "/openapi.json",
        "/docs",
        "/services/echo-service/sleep",
        "/services/keystore/sleep",
        "/services/keystore/",
        "/admin/plugins",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas.contains_key("echo-service.sleep.Params")
            && schemas.contains_key("keystore.sleep.Params")
    );
    let host_ref = &doc["paths"]["/admin/plugins"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(host_ref, "#/components/schemas/host.ErrorResponse");
    assert_eq!(
        schemas["ErrorResponse"]["properties"]["success"]["enum"],
        json!([false])
    );
    assert_eq!(
        doc["paths"]["/admin/plugins"]["get"]["operationId"],
        "gateway._health_2"
    );
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["gateway", "echo-service", "keystore", "admin"]);
    assert!(
        doc["tags"][1]["description"]
            .as_str()
            .unwrap()
            .contains("own port: http://localhost:3109")
    );
}

#[test]
fn combined_document_accepts_bare_paths_and_no_services() {
    let extra =
        json!({ "/tasks": { "post": { "responses": { "200": { "description": "ok" } } } } });
    let doc = combined_document(&[], Some(&extra));
    assert_valid_openapi(&doc);
    assert!(doc["paths"]["/tasks"]["post"].is_object());
}

#[test]
fn a_host_route_replaces_the_generated_method_path() {
    // Found by schemathesis: the host serves `GET /list` itself, so `POST /list` (the
    // generated method route) answers 405 and must not be documented.
    let services = vec![(sample_manifest("echo-service"), ServiceInfo::default())];
    let extra = json!({ "/services/echo-service/sleep": { "get": { "responses": { "200": { "description": "ok" } } } } });
    let doc = combined_document(&services, Some(&extra));
    assert_valid_openapi(&doc);
    let item = doc["paths"]["/services/echo-service/sleep"]
        .as_object()
        .unwrap();
    assert_eq!(item.keys().collect::<Vec<_>>(), ["get"]);
}
