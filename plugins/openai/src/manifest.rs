//! The openai plugin's manifest: the five OpenAI REST methods with argument and result
//! schemas (the OpenAI request and response bodies, open to fields added upstream) so
//! they show in Swagger UI. Descriptions only; no behaviour lives here.

use serde_json::{Value, json};
use tasker_plugin_api::{Manifest, MethodSpec};

/// The service name.
pub const SERVICE: &str = "openai";

/// `{type: object}` open to every field OpenAI adds, with the given core properties.
fn open_object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

fn message_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "role": { "type": "string", "description": "system, developer, user, assistant or tool" },
            "content": { "description": "Text, or an array of content parts" },
            "name": { "type": "string" }
        },
        "required": ["role"]
    })
}

fn stream_schema() -> Value {
    json!({ "type": "boolean", "enum": [false], "description": "Streaming is not supported: omit it or send false" })
}

fn usage_schema() -> Value {
    json!({ "type": "object", "description": "Token counts as reported by the server" })
}

/// The manifest.
pub fn manifest() -> Manifest {
    let chat = MethodSpec::new("chat.completions.create", "Creates a chat completion (POST /chat/completions)")
        .description("The argument is the OpenAI chat completion request body and the result the response body, both passed through unchanged, so any OpenAI-compatible server (llama.cpp server, vLLM, Ollama) works. Upstream errors keep their status and message: 401/403 → AUTHENTICATION_ERROR, 429 → RATE_LIMIT_ERROR (after retries), 5xx → EXTERNAL_SERVICE_ERROR (after retries), timeout → TIMEOUT_ERROR.")
        .params(open_object(
            json!({
                "model": { "type": "string", "minLength": 1 },
                "messages": { "type": "array", "minItems": 1, "items": message_schema() },
                "temperature": { "type": "number" },
                "max_tokens": { "type": "integer" },
                "stream": stream_schema()
            }),
            &["model", "messages"],
        ))
        .result(open_object(
            json!({
                "id": { "type": "string" },
                "object": { "type": "string", "example": "chat.completion" },
                "created": { "type": "integer" },
                "model": { "type": "string" },
                "choices": { "type": "array", "items": { "type": "object", "properties": {
                    "index": { "type": "integer" },
                    "message": message_schema(),
                    "finish_reason": { "type": ["string", "null"] }
                } } },
                "usage": usage_schema()
            }),
            &[],
        ))
        .example(json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Say hello" }] }));

    let embeddings = MethodSpec::new("embeddings.create", "Creates embeddings (POST /embeddings)")
        .description("The OpenAI embeddings request body in, the response body out, unchanged.")
        .params(open_object(
            json!({
                "model": { "type": "string", "minLength": 1 },
                "input": { "description": "A string, an array of strings, or token arrays" },
                "dimensions": { "type": "integer" },
                "encoding_format": { "type": "string", "enum": ["float", "base64"] }
            }),
            &["model", "input"],
        ))
        .result(open_object(
            json!({
                "object": { "type": "string", "example": "list" },
                "data": { "type": "array", "items": { "type": "object", "properties": {
                    "object": { "type": "string" },
                    "index": { "type": "integer" },
                    "embedding": { "description": "Array of numbers, or base64 text" }
                } } },
                "model": { "type": "string" },
                "usage": usage_schema()
            }),
            &[],
        ))
        .example(json!({ "model": "text-embedding-3-small", "input": "hello" }));

    let model_object = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "object": { "type": "string", "example": "model" },
            "created": { "type": "integer" },
            "owned_by": { "type": "string" }
        }
    });
    let models_list = MethodSpec::new("models.list", "Lists the models (GET /models)")
        .params(json!({ "type": "object", "properties": {}, "additionalProperties": false }))
        .result(open_object(
            json!({ "object": { "type": "string" }, "data": { "type": "array", "items": model_object.clone() } }),
            &[],
        ));
    let models_retrieve = MethodSpec::new("models.retrieve", "Describes one model (GET /models/{model})")
        .params(json!({
            "type": "object",
            "properties": { "model": { "type": "string", "minLength": 1, "description": "The model id" } },
            "required": ["model"],
            "additionalProperties": false
        }))
        .positional(&["model"])
        .result(model_object)
        .example(json!({ "model": "gpt-4o-mini" }));

    let responses = MethodSpec::new(
        "responses.create",
        "Creates a model response (POST /responses)",
    )
    .description("The OpenAI Responses API request body in, the response body out, unchanged.")
    .params(open_object(
        json!({
            "model": { "type": "string", "minLength": 1 },
            "input": { "description": "Text, or an array of input items" },
            "instructions": { "type": "string" },
            "stream": stream_schema()
        }),
        &["model"],
    ))
    .result(open_object(
        json!({
            "id": { "type": "string" },
            "object": { "type": "string", "example": "response" },
            "status": { "type": "string" },
            "output": { "type": "array", "items": { "type": "object" } },
            "output_text": { "type": "string" },
            "usage": usage_schema()
        }),
        &[],
    ))
    .example(json!({ "model": "gpt-4o-mini", "input": "Say hello" }));

    Manifest {
        name: SERVICE.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "The OpenAI REST API (chat completions, embeddings, models, responses) with bodies passed through. Key from the keystore (OPENAI_API_KEY) or the environment; base URL from config `baseUrl` or OPENAI_BASE_URL, so OpenAI-compatible servers work too.".into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec!["wrappedopenai".into()],
        chain_method: None,
        max_concurrency: Some(64),
        methods: vec![chat, embeddings, models_list, models_retrieve, responses],
    }
}
