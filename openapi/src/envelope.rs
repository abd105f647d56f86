//! The shared parts of every service document: the response envelopes, the error codes, the
//! three request forms of `POST /`, and the reusable error responses. They are identical in
//! every service, so the combined document keeps one copy. No per-service data here.

use serde_json::{Map, Value, json};
use tasker_plugin_api::ErrorCode;

/// `#/components/schemas/<name>`.
pub fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `#/components/responses/<name>`.
fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// Component names of the shared schemas.
pub mod names {
    /// `{duration, timestamp, requestId}`.
    pub const METADATA: &str = "ResponseMetadata";
    /// The enum of error codes.
    pub const ERROR_CODE: &str = "ErrorCode";
    /// `{success: false, error, code, details?, metadata}`.
    pub const ERROR_RESPONSE: &str = "ErrorResponse";
    /// `{success: true, data: any, metadata}`.
    pub const SUCCESS_RESPONSE: &str = "SuccessResponse";
    /// `{method, args}`.
    pub const METHOD_CALL: &str = "MethodCallRequest";
    /// `{action, ...fields}`.
    pub const ACTION_CALL: &str = "ActionRequest";
    /// `{chain: [{property, args}]}`.
    pub const CHAIN_CALL: &str = "ChainRequest";
    /// oneOf the three forms.
    pub const SERVICE_REQUEST: &str = "ServiceRequest";
    /// What `GET /health` answers.
    pub const HEALTH: &str = "HealthResponse";
}

/// The HTTP statuses every call can fail with, and the name of their shared response.
pub const ERROR_STATUSES: [(&str, &str, &str); 12] = [
    (
        "400",
        "BadRequest",
        "Malformed JSON, unknown method, or arguments that fail the method's schema",
    ),
    (
        "401",
        "Unauthorized",
        "No valid bearer token, or credentials an upstream rejected (code AUTHENTICATION_ERROR)",
    ),
    (
        "403",
        "Forbidden",
        "Not allowed (code AUTHORIZATION_ERROR): the token's scope is too weak, or e.g. a table the plugin refuses",
    ),
    (
        "404",
        "NotFound",
        "Unknown service or method, or the thing asked for does not exist",
    ),
    (
        "409",
        "Conflict",
        "The request conflicts with the current state (code CONFLICT_ERROR)",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The request body is larger than the host's limit",
    ),
    (
        "429",
        "TooManyRequests",
        "Rate limited, by the host or upstream (code RATE_LIMIT_ERROR)",
    ),
    (
        "500",
        "InternalError",
        "The plugin failed or panicked (code PLUGIN_PANIC)",
    ),
    (
        "501",
        "NotImplemented",
        "Not supported by this service or backend (code NOT_IMPLEMENTED)",
    ),
    (
        "502",
        "BadGateway",
        "An upstream service the plugin called failed",
    ),
    (
        "503",
        "ServiceUnavailable",
        "The service is not configured or not available",
    ),
    ("504", "GatewayTimeout", "The call did not finish in time"),
];

/// The success envelope around `data`.
pub fn success_envelope(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["success", "data", "metadata"],
        "properties": {
            "success": { "type": "boolean", "enum": [true] },
            "data": data,
            "metadata": schema_ref(names::METADATA),
        }
    })
}

/// A 200 response whose body is the success envelope around `data`.
pub fn success_response(description: &str, data: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": success_envelope(data) } }
    })
}

/// The error responses shared by every call, as `$ref`s keyed by status.
pub fn error_responses() -> Map<String, Value> {
    ERROR_STATUSES
        .iter()
        .map(|(status, name, _)| ((*status).to_owned(), response_ref(name)))
        .collect()
}

/// The shared schemas, keyed by component name.
pub fn shared_schemas() -> Map<String, Value> {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    let mut schemas = Map::new();
    schemas.insert(
        names::METADATA.into(),
        json!({
            "type": "object",
            "required": ["duration", "timestamp", "requestId"],
            "properties": {
                "duration": { "type": "number", "description": "Milliseconds the call took" },
                "timestamp": { "type": "string", "format": "date-time" },
                "requestId": { "type": "string", "description": "The X-Request-Id of the request" }
            }
        }),
    );
    schemas.insert(
        names::ERROR_CODE.into(),
        json!({ "type": "string", "enum": codes }),
    );
    schemas.insert(
        names::ERROR_RESPONSE.into(),
        json!({
            "type": "object",
            "required": ["success", "error", "code", "metadata"],
            "properties": {
                "success": { "type": "boolean", "enum": [false] },
                "error": { "type": "string", "description": "What went wrong, for humans" },
                "code": schema_ref(names::ERROR_CODE),
                "details": { "description": "Extra machine-readable detail (for example the failing field)" },
                "metadata": schema_ref(names::METADATA)
            }
        }),
    );
    schemas.insert(names::SUCCESS_RESPONSE.into(), success_envelope(json!({})));
    schemas.extend(request_form_schemas());
    schemas.insert(
        names::HEALTH.into(),
        json!({
            "type": "object",
            "description": "Health of the service (the host may add fields)",
            "properties": {
                "status": { "type": "string", "example": "healthy" },
                "service": { "type": "string" },
                "version": { "type": "string" }
            },
            "additionalProperties": true
        }),
    );
    schemas
}

fn request_form_schemas() -> Map<String, Value> {
    let args = json!({
        "description": "Positional arguments (array) or named arguments (object)",
        "oneOf": [ { "type": "array", "items": {} }, { "type": "object", "additionalProperties": true } ]
    });
    let mut schemas = Map::new();
    schemas.insert(
        names::METHOD_CALL.into(),
        json!({
            "type": "object",
            "required": ["method"],
            "properties": { "method": { "type": "string", "example": "echo" }, "args": args.clone() }
        }),
    );
    schemas.insert(
        names::ACTION_CALL.into(),
        json!({
            "type": "object",
            "description": "The seed's action form: the other fields are the named arguments",
            "required": ["action"],
            "properties": { "action": { "type": "string" } },
            "additionalProperties": true
        }),
    );
    schemas.insert(
        names::CHAIN_CALL.into(),
        json!({
            "type": "object",
            "description": "The seed's proxy chain: the properties name the method path (admin.users.list), the last entry's args are the arguments",
            "required": ["chain"],
            "properties": {
                "chain": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["property"],
                        "properties": { "property": { "type": "string" }, "args": { "type": "array", "items": {} } }
                    }
                }
            }
        }),
    );
    schemas.insert(
        names::SERVICE_REQUEST.into(),
        json!({
            "oneOf": [
                schema_ref(names::METHOD_CALL),
                schema_ref(names::ACTION_CALL),
                schema_ref(names::CHAIN_CALL)
            ]
        }),
    );
    schemas
}

/// The shared error responses, keyed by component name.
pub fn shared_responses() -> Map<String, Value> {
    ERROR_STATUSES
        .iter()
        .map(|(_, name, description)| {
            let body = json!({
                "description": description,
                "content": { "application/json": { "schema": schema_ref(names::ERROR_RESPONSE) } }
            });
            ((*name).to_owned(), body)
        })
        .collect()
}
