//! JSDoc → task schema on a realistic task header (the original's comprehensive-gmail-search),
//! in all three formats, plus the original parser's bugs staying fixed.

mod common;

use serde_json::{Value, json};
use tasker_openapi::jsdoc::{ParamDoc, ReturnsDoc, ThrowsDoc};
use tasker_openapi::{SchemaFormat, parse_task_doc, task_schema};

const GMAIL_TASK: &str = r#"
/**
 * Comprehensive Gmail search across all users in all domains
 * @param {Object} input
 * @param {string} [input.gmailSearchQuery=""] - Gmail search query
 * @param {number} [input.maxResultsPerUser=10] - Max results per user
 * @param {Object} [input.options] - Options
 * @param {boolean} [input.options.includeSpam=false] - include spam
 * @returns {Object} Comprehensive search results with summary
 * @throws {Error} When the domain list cannot be read
 */
module.exports = async function ({ gmailSearchQuery = "", maxResultsPerUser = 10, options = {} } = {}) {
  const domains = await __callHostTool__("gapi", ["admin", "domains", "list"], {});
  return { domains, gmailSearchQuery, maxResultsPerUser, options };
};

/**
 * Helper whose tags must not leak into the task schema.
 * @param {string} user
 * @returns {number} count
 */
function countFor(user) { return user.length; }
"#;

#[test]
fn parses_the_gmail_task_header() {
    let doc = parse_task_doc(GMAIL_TASK);
    assert_eq!(
        doc.description,
        "Comprehensive Gmail search across all users in all domains"
    );
    assert_eq!(doc.params.len(), 5);
    assert_eq!(
        doc.params[1],
        ParamDoc {
            name: "input.gmailSearchQuery".into(),
            type_expr: "string".into(),
            optional: true,
            default: Some(json!("")),
            description: "Gmail search query".into(),
        }
    );
    assert_eq!(doc.params[2].default, Some(json!(10)));
    assert_eq!(doc.params[4].default, Some(json!(false)));
    assert_eq!(
        doc.returns,
        Some(ReturnsDoc {
            type_expr: "Object".into(),
            description: "Comprehensive search results with summary".into()
        })
    );
    assert_eq!(
        doc.throws,
        [ThrowsDoc {
            type_expr: "Error".into(),
            description: "When the domain list cannot be read".into()
        }]
    );
}

fn expected_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "gmailSearchQuery": { "type": "string", "description": "Gmail search query", "default": "" },
            "maxResultsPerUser": { "type": "number", "description": "Max results per user", "default": 10 },
            "options": {
                "type": "object",
                "description": "Options",
                "properties": {
                    "includeSpam": { "type": "boolean", "description": "include spam", "default": false }
                }
            }
        }
    })
}

#[test]
fn json_format() {
    let schema = task_schema(
        &parse_task_doc(GMAIL_TASK),
        "comprehensive-gmail-search",
        SchemaFormat::Json,
    );
    assert_eq!(
        schema,
        json!({
            "name": "comprehensive-gmail-search",
            "description": "Comprehensive Gmail search across all users in all domains",
            "input": expected_input(),
            "returns": { "type": "object", "description": "Comprehensive search results with summary" },
            "throws": [{ "type": "Error", "description": "When the domain list cannot be read" }]
        })
    );
    // The original's bugs: defaults kept in names, `input.` kept, the first word of @returns
    // taken as a property. The exact comparison above already excludes them; say it plainly too.
    let keys: Vec<&String> = schema["input"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        keys.iter()
            .all(|k| !k.contains('=') && !k.starts_with("input")),
        "{keys:?}"
    );
    assert!(schema["returns"].get("properties").is_none());
}

#[test]
fn openai_format() {
    let schema = task_schema(
        &parse_task_doc(GMAIL_TASK),
        "comprehensive-gmail-search",
        SchemaFormat::OpenAi,
    );
    assert_eq!(
        schema,
        json!({
            "name": "comprehensive-gmail-search",
            "description": "Comprehensive Gmail search across all users in all domains",
            "parameters": expected_input()
        })
    );
    let dotted = task_schema(
        &parse_task_doc(GMAIL_TASK),
        "gmail.search v2",
        SchemaFormat::OpenAi,
    );
    assert_eq!(dotted["name"], "gmail_search_v2");
}

#[test]
fn openapi_format_is_a_valid_document() {
    let doc = task_schema(
        &parse_task_doc(GMAIL_TASK),
        "comprehensive-gmail-search",
        SchemaFormat::OpenApi,
    );
    common::assert_valid_openapi(&doc);
    let body =
        &doc["paths"]["/execute"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["required"], json!(["taskName"]));
    assert_eq!(
        body["properties"]["taskName"]["enum"],
        json!(["comprehensive-gmail-search"])
    );
    assert_eq!(body["properties"]["input"], expected_input());
    let responses = &doc["paths"]["/execute"]["post"]["responses"];
    assert!(
        responses["202"].is_object()
            && responses["200"].is_object()
            && responses["404"].is_object()
    );
    let result = &responses["200"]["content"]["application/json"]["schema"]["properties"]["data"]["properties"]
        ["result"];
    assert_eq!(
        result["description"],
        "Comprehensive search results with summary"
    );
    assert!(
        doc["paths"]["/execute"]["post"]["description"]
            .as_str()
            .unwrap()
            .contains("domain list cannot be read")
    );
}

#[test]
fn required_nested_arrays_and_nullable_types() {
    let code = r#"
/**
 * Sends messages.
 * @param {Object} params - The task input
 * @param {string} params.to - Recipient
 * @param {?string} [params.subject] - Subject or null
 * @param {Array<Object>} params.attachments - Files
 * @param {string} params.attachments[].name - File name
 * @param {number} [params.attachments[].size] - Bytes
 * @param {'low'|'high'} [params.priority='low'] - Priority
 * @param {string[]} params.labels.names - Labels (parent implicit)
 * @return {Promise<string[]>} ids
 */
"#;
    let doc = parse_task_doc(code);
    let json = task_schema(&doc, "send", SchemaFormat::Json);
    let input = &json["input"];
    assert_eq!(input["description"], "The task input");
    assert_eq!(input["required"], json!(["to", "attachments"]));
    assert_eq!(
        input["properties"]["subject"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        input["properties"]["attachments"]["items"],
        json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "description": "File name" },
                "size": { "type": "number", "description": "Bytes" }
            },
            "required": ["name"]
        })
    );
    assert_eq!(
        input["properties"]["priority"],
        json!({ "enum": ["low", "high"], "description": "Priority", "default": "low" })
    );
    assert_eq!(
        input["properties"]["labels"]["properties"]["names"]["items"],
        json!({ "type": "string" })
    );
    assert_eq!(input["properties"]["labels"]["required"], json!(["names"]));
    assert_eq!(
        json["returns"],
        json!({ "type": "array", "items": { "type": "string" }, "description": "ids" })
    );
    // In the OpenAPI rendering the nullable type is converted and the document validates.
    let openapi = task_schema(&doc, "send", SchemaFormat::OpenApi);
    common::assert_valid_openapi(&openapi);
    let input = &openapi["paths"]["/execute"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["input"];
    assert_eq!(
        input["properties"]["subject"],
        json!({ "type": "string", "nullable": true, "description": "Subject or null" })
    );
}

#[test]
fn params_without_an_input_root_and_without_dashes() {
    let doc = parse_task_doc(
        "/** Plain.\n * @param {string} query the text\n * @param {number} [limit=5]\n */",
    );
    let json = task_schema(&doc, "plain", SchemaFormat::Json);
    assert_eq!(
        json["input"],
        json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "description": "the text" },
                "limit": { "type": "number", "default": 5 }
            },
            "required": ["query"]
        })
    );
    assert_eq!(json["returns"], Value::Null);
    assert_eq!(json["throws"], json!([]));
}

#[test]
fn format_names_parse() {
    assert_eq!("openapi".parse::<SchemaFormat>(), Ok(SchemaFormat::OpenApi));
    assert_eq!("OpenAI".parse::<SchemaFormat>(), Ok(SchemaFormat::OpenAi));
    assert_eq!("".parse::<SchemaFormat>(), Ok(SchemaFormat::Json));
    let err = "yaml".parse::<SchemaFormat>().unwrap_err();
    assert!(err.to_string().contains("yaml"));
}
