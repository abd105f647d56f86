//! The supabase plugin's manifest: the `query` chain method (delivered the whole chain by
//! the host through `chain_method`) and the convenience methods, with schemas and examples.

use serde_json::{Value, json};
use tasker_plugin_api::{Manifest, MethodSpec};

fn response_schema() -> Value {
    json!({
        "type": "object",
        "description": "What supabase-js returns: {data, error, count, status, statusText}",
        "properties": {
            "data": {},
            "error": { "type": ["object", "null"] },
            "count": { "type": ["integer", "null"] },
            "status": { "type": "integer" },
            "statusText": { "type": "string" }
        }
    })
}

const TABLE: &str = "A table (or view) of the database";

/// The manifest.
pub fn manifest() -> Manifest {
    let step = json!({
        "type": "object",
        "properties": { "property": { "type": "string" }, "args": { "type": "array" } },
        "required": ["property"]
    });
    let filters = json!({ "type": "object", "description": "column → value, ANDed equality filters (match)" });
    Manifest {
        name: "supabase".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "PostgREST / supabase-js queries (`from(t).select().eq()...` recorded as a chain) on the host's \
                      SQLite or PostgreSQL database, or forwarded to a Supabase/PostgREST server. Identifiers are \
                      checked against the live schema and values are always bound parameters; the engine's own \
                      tables are refused unless allowed in the plugin config."
            .into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec!["database".into(), "wrappedsupabase".into()],
        chain_method: Some("query".into()),
        max_concurrency: None,
        methods: vec![
            MethodSpec::new("query", "Runs a supabase-js chain such as from('todos').select('id').eq('done', false)")
                .description(
                    "The chain is the supabase-js builder recorded as data: `from(table)` or `rpc(fn, args)`, then \
                     `select`, `insert`, `upsert`, `update`, `delete`, filters (`eq neq gt gte lt lte like ilike in is \
                     isDistinct contains containedBy overlaps match not or filter textSearch likeAllOf likeAnyOf \
                     ilikeAllOf ilikeAnyOf regexMatch regexIMatch`) and modifiers (`order limit range single maybeSingle \
                     rollback maxAffected`). Errors carry the PostgREST error object and status in `details`.",
                )
                .params(json!({
                    "type": "object",
                    "properties": { "chain": { "type": "array", "items": step, "minItems": 1 } },
                    "required": ["chain"],
                    "additionalProperties": false
                }))
                .positional(&["chain"])
                .result(response_schema())
                .example(json!({ "chain": [
                    { "property": "from", "args": ["todos"] },
                    { "property": "select", "args": ["id,title"] },
                    { "property": "eq", "args": ["done", false] },
                    { "property": "order", "args": ["id", { "ascending": false }] },
                    { "property": "limit", "args": [10] }
                ] })),
            MethodSpec::new("select", "Reads rows: from(table).select(columns) with equality filters, order and paging")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "table": { "type": "string", "description": TABLE },
                        "columns": { "type": "string", "default": "*" },
                        "match": filters,
                        "or": { "type": "string", "description": "PostgREST filter string, e.g. a.eq.1,b.gt.2" },
                        "order": { "description": "a column, or [{column, ascending, nullsFirst}]" },
                        "limit": { "type": "integer", "minimum": 0 },
                        "offset": { "type": "integer", "minimum": 0 },
                        "count": { "enum": ["exact", "planned", "estimated"] },
                        "head": { "type": "boolean" },
                        "single": { "type": "boolean" },
                        "maybeSingle": { "type": "boolean" }
                    },
                    "required": ["table"],
                    "additionalProperties": false
                }))
                .positional(&["table", "columns"])
                .result(response_schema())
                .example(json!({ "table": "todos", "columns": "id,title", "match": { "done": false }, "limit": 10 })),
            MethodSpec::new("insert", "Inserts one row or many; rows come back only with `select`")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "table": { "type": "string", "description": TABLE },
                        "values": { "type": ["object", "array"] },
                        "select": { "type": ["string", "boolean"], "description": "columns to return" },
                        "defaultToNull": { "type": "boolean" },
                        "count": { "enum": ["exact", "planned", "estimated"] }
                    },
                    "required": ["table", "values"],
                    "additionalProperties": false
                }))
                .positional(&["table", "values"])
                .result(response_schema())
                .example(json!({ "table": "todos", "values": { "title": "write tests" }, "select": "id" })),
            MethodSpec::new("upsert", "Inserts or merges rows on the primary key or `onConflict` columns")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "table": { "type": "string", "description": TABLE },
                        "values": { "type": ["object", "array"] },
                        "onConflict": { "type": "string" },
                        "ignoreDuplicates": { "type": "boolean" },
                        "select": { "type": ["string", "boolean"] },
                        "defaultToNull": { "type": "boolean" },
                        "count": { "enum": ["exact", "planned", "estimated"] }
                    },
                    "required": ["table", "values"],
                    "additionalProperties": false
                }))
                .positional(&["table", "values"])
                .result(response_schema()),
            MethodSpec::new("update", "Updates the rows matching `match` (a filter is required)")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "table": { "type": "string", "description": TABLE },
                        "values": { "type": "object" },
                        "match": filters,
                        "or": { "type": "string" },
                        "select": { "type": ["string", "boolean"] },
                        "count": { "enum": ["exact", "planned", "estimated"] }
                    },
                    "required": ["table", "values"],
                    "additionalProperties": false
                }))
                .positional(&["table", "values", "match"])
                .result(response_schema()),
            MethodSpec::new("delete", "Deletes the rows matching `match` (a filter is required)")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "table": { "type": "string", "description": TABLE },
                        "match": filters,
                        "or": { "type": "string" },
                        "select": { "type": ["string", "boolean"] },
                        "count": { "enum": ["exact", "planned", "estimated"] }
                    },
                    "required": ["table"],
                    "additionalProperties": false
                }))
                .positional(&["table", "match"])
                .result(response_schema()),
            MethodSpec::new("rpc", "Calls a PostgreSQL function with named arguments (not available on SQLite)")
                .params(json!({
                    "type": "object",
                    "properties": {
                        "function": { "type": "string" },
                        "args": { "type": "object" }
                    },
                    "required": ["function"],
                    "additionalProperties": false
                }))
                .positional(&["function", "args"])
                .result(response_schema()),
        ],
    }
}
