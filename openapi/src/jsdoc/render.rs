//! Renders a [`TaskDoc`] in the three formats of `GET /schema?task=NAME&format=...`: plain JSON
//! (`{name, description, input, returns, throws}`), an OpenAPI 3.0.3 document for
//! `POST /execute`, or an OpenAI function tool. Formatting only; parsing lives in `parse`.

use serde_json::{Value, json};

use super::{SchemaFormat, TaskDoc, tree::input_schema, types::type_schema};
use crate::builder::OPENAPI_VERSION;
use crate::envelope::{self, names as shared};
use crate::schema_convert::to_openapi_schema;

/// The schema of task `name` in `format`.
pub fn task_schema(doc: &TaskDoc, name: &str, format: SchemaFormat) -> Value {
    match format {
        SchemaFormat::Json => json_schema(doc, name),
        SchemaFormat::OpenApi => openapi_document(doc, name),
        SchemaFormat::OpenAi => openai_tool(doc, name),
    }
}

fn returns_schema(doc: &TaskDoc) -> Value {
    let Some(returns) = &doc.returns else {
        return Value::Null;
    };
    let mut schema = type_schema(&returns.type_expr);
    if !returns.description.is_empty()
        && let Some(map) = schema.as_object_mut()
    {
        map.insert("description".into(), json!(returns.description));
    }
    schema
}

fn json_schema(doc: &TaskDoc, name: &str) -> Value {
    let throws: Vec<Value> = doc
        .throws
        .iter()
        .map(|t| json!({ "type": if t.type_expr.is_empty() { "Error" } else { t.type_expr.as_str() }, "description": t.description }))
        .collect();
    json!({
        "name": name,
        "description": doc.description,
        "input": input_schema(doc),
        "returns": returns_schema(doc),
        "throws": throws,
    })
}

/// OpenAI function names allow `[a-zA-Z0-9_-]{1,64}`.
fn openai_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "task".to_owned()
    } else {
        cleaned
    }
}

fn openai_tool(doc: &TaskDoc, name: &str) -> Value {
    json!({
        "name": openai_name(name),
        "description": doc.description,
        "parameters": input_schema(doc),
    })
}

fn openapi_document(doc: &TaskDoc, name: &str) -> Value {
    let input = to_openapi_schema(&input_schema(doc));
    let input_required = input.get("required").is_some();
    let mut body_required = vec![json!("taskName")];
    if input_required {
        body_required.push(json!("input"));
    }
    let result = match returns_schema(doc) {
        Value::Null => json!({}),
        schema => to_openapi_schema(&schema),
    };
    let started = json!({
        "type": "object",
        "required": ["taskRunId", "status"],
        "properties": { "taskRunId": { "type": "integer" }, "status": { "type": "string" } }
    });
    let finished = json!({
        "type": "object",
        "required": ["taskRunId", "status"],
        "properties": {
            "taskRunId": { "type": "integer" },
            "status": { "type": "string" },
            "result": result,
            "error": { "description": "Why the run failed, when it did" }
        }
    });
    let mut responses = serde_json::Map::new();
    responses.insert(
        "200".into(),
        envelope::success_response("The run ended within `wait` seconds", finished),
    );
    responses.insert(
        "202".into(),
        envelope::success_response("The run was queued (or is still running)", started),
    );
    responses.insert(
        "400".into(),
        json!({ "$ref": "#/components/responses/BadRequest" }),
    );
    responses.insert(
        "404".into(),
        json!({ "$ref": "#/components/responses/NotFound" }),
    );
    let mut schemas = envelope::shared_schemas();
    schemas.retain(|key, _| {
        key == shared::METADATA || key == shared::ERROR_CODE || key == shared::ERROR_RESPONSE
    });
    let mut error_responses = envelope::shared_responses();
    error_responses.retain(|key, _| key == "BadRequest" || key == "NotFound");
    let description = if doc.description.is_empty() {
        format!("Runs the task `{name}`")
    } else {
        doc.description.clone()
    };
    let throws: Vec<String> = doc
        .throws
        .iter()
        .map(|t| {
            format!("`{}` {}", t.type_expr, t.description)
                .trim()
                .to_owned()
        })
        .collect();
    let operation_description = if throws.is_empty() {
        description.clone()
    } else {
        format!("{description}\n\nThrows: {}", throws.join("; "))
    };
    json!({
        "openapi": OPENAPI_VERSION,
        "info": { "title": format!("Task {name}"), "version": "1.0.0", "description": description },
        "paths": {
            "/execute": {
                "post": {
                    "summary": format!("Run the task `{name}`"),
                    "description": operation_description,
                    "operationId": format!("execute.{}", crate::names::sanitise(name)),
                    "parameters": [{
                        "name": "wait",
                        "in": "query",
                        "required": false,
                        "description": "Seconds to wait for the run to end before answering 202",
                        "schema": { "type": "integer", "minimum": 0 }
                    }],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "required": body_required,
                            "properties": {
                                "taskName": { "type": "string", "enum": [name] },
                                "input": input
                            }
                        } } }
                    },
                    "responses": responses
                }
            }
        },
        "components": { "schemas": schemas, "responses": error_responses }
    })
}
