//! Test support: a sample manifest with awkward schemas, and two independent OpenAPI 3.0
//! checks (structural assertions here, plus `openapi-spec-validator` when installed).

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};
use tasker_plugin_api::{Manifest, MethodSpec};

/// An echo-service-like manifest plus draft-07 features OpenAPI 3.0 does not accept.
pub fn sample_manifest(name: &str) -> Manifest {
    Manifest {
        name: name.into(),
        version: "1.2.3".into(),
        description: "Echoes, sleeps and lists users.".into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec![format!("wrapped{name}")],
        chain_method: None,
        max_concurrency: None,
        methods: vec![
            MethodSpec::new("echo", "Returns its arguments unchanged").example(json!({ "hello": "world" })),
            MethodSpec::new("sleep", "Waits `ms` milliseconds")
                .params(json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": { "ms": { "type": "integer", "minimum": 0, "exclusiveMaximum": 600000 } },
                    "required": ["ms"],
                    "additionalProperties": false
                }))
                .positional(&["ms"])
                .result(json!({ "type": "object", "properties": { "slept": { "type": "integer" } } }))
                .example(json!({ "ms": 50 })),
            MethodSpec::new("admin.users.list", "Lists users of a domain")
                .params(json!({
                    "type": "object",
                    "definitions": {
                        "Filter": { "type": "object", "properties": { "field": { "const": "email" }, "value": { "type": ["string", "null"] } } }
                    },
                    "properties": {
                        "domain": { "type": "string", "examples": ["example.com"] },
                        "limit": { "type": ["integer", "string"], "exclusiveMinimum": 0 },
                        "filters": { "type": "array", "items": { "$ref": "#/definitions/Filter" } },
                        "pair": { "type": "array", "items": [{ "type": "string" }, { "type": "number" }] },
                        "anything": true,
                        "nothing": false,
                        "labels": { "type": "object", "patternProperties": { "^x": { "type": "string" } } },
                        "tags": { "type": "array" },
                        "parent": { "$ref": "#", "description": "recursive" }
                    },
                    "required": []
                }))
                .result(json!({ "type": "array", "items": { "type": "object" } })),
            MethodSpec::new("weird name/with{braces}", "A method whose name needs escaping"),
        ],
    }
}

/// Keywords an OpenAPI 3.0 Schema Object may carry.
const SCHEMA_KEYWORDS: &[&str] = &[
    "title",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "items",
    "properties",
    "additionalProperties",
    "description",
    "format",
    "default",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "example",
    "deprecated",
];

/// Structural OpenAPI 3.0 checks that need no external tool.
pub fn assert_structurally_valid(doc: &Value) {
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        assert!(path.starts_with('/'), "path {path}");
        for (method, operation) in item.as_object().expect("path item") {
            assert!(
                [
                    "get", "post", "put", "delete", "patch", "head", "options", "trace"
                ]
                .contains(&method.as_str())
            );
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{path} {method} responses"
            );
            if let Some(id) = operation["operationId"].as_str() {
                assert!(
                    operation_ids.insert(id.to_owned()),
                    "duplicate operationId {id}"
                );
            }
        }
    }
    for section in doc["components"].as_object().into_iter().flatten() {
        for key in section.1.as_object().expect("component section").keys() {
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)),
                "component key {key}"
            );
        }
    }
    check_node(doc, doc, "#");
}

/// Walks the document: resolves every `$ref` and checks every schema's keywords.
fn check_node(doc: &Value, node: &Value, at: &str) {
    match node {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let pointer = target
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("non-local $ref {target} at {at}"));
                assert!(
                    doc.pointer(pointer).is_some(),
                    "unresolved $ref {target} at {at}"
                );
            }
            for (key, child) in map {
                let here = format!("{at}/{key}");
                if key == "schema" || (at.ends_with("/components/schemas")) {
                    check_schema(child, &here);
                }
                check_node(doc, child, &here);
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, item)| check_node(doc, item, &format!("{at}/{i}"))),
        _ => {}
    }
}

fn check_schema(schema: &Value, at: &str) {
    let map = schema
        .as_object()
        .unwrap_or_else(|| panic!("schema at {at} is not an object: {schema}"));
    if map.contains_key("$ref") {
        return;
    }
    for (key, value) in map {
        assert!(
            SCHEMA_KEYWORDS.contains(&key.as_str()) || key.starts_with("x-"),
            "keyword {key} at {at}"
        );
        match key.as_str() {
            "type" => assert!(
                value.is_string() && value != "null",
                "type at {at}: {value}"
            ),
            "required" | "enum" => assert!(
                value.as_array().is_some_and(|a| !a.is_empty()),
                "{key} at {at}"
            ),
            "exclusiveMinimum" | "exclusiveMaximum" => assert!(value.is_boolean(), "{key} at {at}"),
            "properties" => value
                .as_object()
                .unwrap()
                .iter()
                .for_each(|(k, s)| check_schema(s, &format!("{at}/properties/{k}"))),
            "items" | "not" => check_schema(value, &format!("{at}/{key}")),
            "additionalProperties" if value.is_object() => {
                check_schema(value, &format!("{at}/{key}"))
            }
            "allOf" | "anyOf" | "oneOf" => value
                .as_array()
                .unwrap()
                .iter()
                .for_each(|s| check_schema(s, &format!("{at}/{key}"))),
            _ => {}
        }
    }
    if map.get("type").and_then(Value::as_str) == Some("array") {
        assert!(map.contains_key("items"), "array without items at {at}");
    }
}

/// Runs `openapi-spec-validator` on `doc` when it is installed (`pip install
/// openapi-spec-validator`). Returns whether it ran; set TASKER_REQUIRE_OPENAPI_VALIDATOR=1 to
/// make its absence a failure.
pub fn validate_with_external_tool(doc: &Value) -> bool {
    let available = Command::new("openapi-spec-validator")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("TASKER_REQUIRE_OPENAPI_VALIDATOR").is_none(),
            "openapi-spec-validator is required but not installed"
        );
        eprintln!("openapi-spec-validator not installed: only structural checks ran");
        return false;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).expect("serialise")).expect("write");
    let output = Command::new("openapi-spec-validator")
        .args(["--schema", "3.0"])
        .arg(&file)
        .output()
        .expect("run validator");
    assert!(
        output.status.success(),
        "openapi-spec-validator rejected the document:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

/// Both checks.
pub fn assert_valid_openapi(doc: &Value) {
    assert_structurally_valid(doc);
    validate_with_external_tool(doc);
}
