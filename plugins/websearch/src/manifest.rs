//! The websearch plugin's manifest: `search` and `getServerTime` with argument and result
//! schemas, so they show in Swagger UI. Descriptions only; no behaviour lives here.

use serde_json::json;
use tasker_plugin_api::{Manifest, MethodSpec};

use crate::search::MAX_LIMIT;

/// The service name.
pub const SERVICE: &str = "websearch";

/// The manifest.
pub fn manifest() -> Manifest {
    let search = MethodSpec::new("search", "Searches the web with the configured provider")
        .description("Providers (config `provider` or WEBSEARCH_PROVIDER): `google` (Programmable Search JSON API; keystore/env WEBSEARCH_API_KEY and WEBSEARCH_ENGINE_ID), `brave` (Brave Search API; WEBSEARCH_API_KEY), `searxng` (self-hosted JSON endpoint; config baseUrl), `duckduckgo` (HTML page, no key; the default). Results are cleaned of markup, de-duplicated by URL and cut at `limit`. An empty query is a 400 VALIDATION_ERROR; upstream 401/403 → AUTHENTICATION_ERROR, 429 → RATE_LIMIT_ERROR (after retries), 5xx → EXTERNAL_SERVICE_ERROR (after retries), timeout → TIMEOUT_ERROR.")
        .params(json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "minLength": 1, "description": "What to search for" },
                "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 5, "description": "Most results wanted (Google gives at most 10, Brave 20)" },
                "site": { "type": "string", "description": "Only results from this site (adds `site:` to the query)" },
                "lang": { "type": "string", "description": "Language code such as `en`, `de` or `en-GB`" }
            },
            "required": ["query"],
            "additionalProperties": false
        }))
        .positional(&["query", "limit"])
        .result(json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "description": "The query as sent upstream" },
                "provider": { "type": "string", "enum": ["google", "brave", "searxng", "duckduckgo"] },
                "results": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "title": { "type": "string" },
                        "url": { "type": "string", "format": "uri" },
                        "snippet": { "type": "string" },
                        "source": { "type": "string", "description": "The provider that found it" }
                    },
                    "required": ["title", "url", "snippet", "source"]
                } },
                "timestamp": { "type": "string", "format": "date-time" }
            },
            "required": ["provider", "results"]
        }))
        .example(json!({ "query": "rust async runtime", "limit": 3 }))
        .example(json!({ "query": "tokio", "site": "docs.rs", "lang": "en" }));
    let server_time = MethodSpec::new("getServerTime", "The plugin host's current time")
        .params(json!({ "type": "object", "properties": {}, "additionalProperties": false }))
        .result(json!({
            "type": "object",
            "properties": {
                "timestamp": { "type": "string", "format": "date-time" },
                "source": { "type": "string", "const": "websearch" }
            },
            "required": ["timestamp", "source"]
        }));
    Manifest {
        name: SERVICE.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Web search through Google Programmable Search, Brave Search, a SearXNG instance or DuckDuckGo's HTML page (the keyless default), with normalised, de-duplicated results.".into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec!["wrappedwebsearch".into()],
        chain_method: None,
        max_concurrency: Some(64),
        methods: vec![search, server_time],
    }
}
