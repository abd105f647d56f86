//! OpenAPI description of the task API's REST routes (see `tasks_routes.rs`), merged into
//! task-executor's document and the gateway's combined document. Keep it in step with the
//! routes: the committed documents under `openapi/generated/` make every change visible.
//! Each route needs the token scope of the task-executor method it stands for (read from the
//! manifest, as `tasks_routes.rs` enforces it).

use serde_json::{Map, Value, json};
use tasker_openapi::Access;
use tasker_plugin_api::Manifest;

use crate::services::tasks::manifest;

fn envelope(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": {
            "type": "object",
            "properties": {
                "success": { "type": "boolean" },
                "data": { "type": "object" },
                "metadata": { "type": "object" }
            }
        } } }
    })
}

/// The operation of the route standing for task-executor's `method`.
fn op(
    executor: &Manifest,
    summary: &str,
    method: &str,
    params: Value,
    body: Option<Value>,
    ok: &str,
) -> Value {
    let mut op = json!({
        "tags": ["task-executor"],
        "summary": summary,
        "operationId": format!("task-executor.rest.{method}"),
        "parameters": params,
        "responses": {
            "200": envelope(ok),
            "400": envelope("Invalid request (the message names the problem)"),
            "404": envelope("Unknown task or run"),
            "500": envelope("Internal error (logged with the request id)"),
            "503": envelope("The database is not available")
        }
    });
    if let Some(schema) = body {
        op["responses"]["413"] = envelope("The request body is larger than the host's limit");
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    }
    Access::of_manifest_method(executor, method).apply(&mut op);
    op
}

fn query(name: &str, description: &str, kind: &str, required: bool) -> Value {
    json!({ "name": name, "in": "query", "required": required, "description": description, "schema": { "type": kind } })
}

fn path_param(name: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
}

/// The REST paths, each prefixed with `prefix` ("" or "/services/task-executor").
pub fn task_api_paths(prefix: &str) -> Map<String, Value> {
    let executor = manifest();
    let op = |summary: &str, method: &str, params: Value, body: Option<Value>, ok: &str| {
        op(&executor, summary, method, params, body, ok)
    };
    let register = json!({
        "type": "object", "required": ["name", "code"],
        "properties": { "name": { "type": "string" }, "code": { "type": "string" }, "description": { "type": "string" } }
    });
    let execute = json!({
        "type": "object",
        "properties": { "task_identifier": { "type": "string" }, "taskName": { "type": "string" }, "input": { "type": "object" } }
    });
    let mut execute_op = op(
        "Submit a run (202 {taskRunId, status}); with ?wait=S, the finished run if it ends in time",
        "execute",
        json!([query(
            "wait",
            "Seconds to wait for the run to end (max 300)",
            "number",
            false
        )]),
        Some(execute),
        "The finished run",
    );
    execute_op["responses"]["202"] = envelope("Accepted: {taskRunId, status}");
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, operation: Value| {
        let entry = paths
            .entry(format!("{prefix}{path}"))
            .or_insert_with(|| json!({}));
        entry[method] = operation;
    };
    add(
        "/tasks",
        "post",
        op(
            "Register or update a task (description and schema from its JSDoc)",
            "register",
            json!([]),
            Some(register),
            "The task",
        ),
    );
    add(
        "/tasks/{name}",
        "delete",
        op(
            "Delete a task",
            "delete",
            json!([path_param("name", "string")]),
            None,
            "Deleted",
        ),
    );
    add("/execute", "post", execute_op);
    add(
        "/status",
        "get",
        op(
            "One run (?id=N) or the newest runs (?limit, ?before)",
            "status",
            json!([
                query("id", "Run id", "integer", false),
                query("limit", "Page size (1-500)", "integer", false),
                query("before", "Ids below this (next page)", "integer", false)
            ]),
            None,
            "A run with call counts, or {runs, nextBefore}",
        ),
    );
    add(
        "/runs/{id}",
        "get",
        op(
            "A run with its full call tree",
            "run",
            json!([path_param("id", "integer")]),
            None,
            "The run and its calls",
        ),
    );
    let mut cancel_op = op(
        "Cancel a run",
        "cancel",
        json!([path_param("id", "integer")]),
        None,
        "Cancelled",
    );
    cancel_op["responses"]["409"] = envelope("The run has already ended");
    add("/runs/{id}/cancel", "post", cancel_op);
    add(
        "/logs",
        "get",
        op(
            "Console lines of a run",
            "logs",
            json!([
                query("task_id", "Run id", "integer", true),
                query("after", "Only lines after this seq", "integer", false),
                query("limit", "Most lines", "integer", false)
            ]),
            None,
            "{taskRunId, logs}",
        ),
    );
    add(
        "/list",
        "get",
        op("Registered tasks", "list", json!([]), None, "{tasks}"),
    );
    add(
        "/schema",
        "get",
        op(
            "A task's input schema from its JSDoc",
            "schema",
            json!([
                query("task", "Task name", "string", true),
                query("format", "json | openapi | openai", "string", false)
            ]),
            None,
            "The schema",
        ),
    );
    paths
}

/// Adds the REST paths to a task-executor document.
pub fn merge_into(doc: &mut Value, prefix: &str) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.extend(task_api_paths(prefix));
    }
}
