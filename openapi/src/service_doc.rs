//! The OpenAPI document of one service, generated from its manifest: what the service's own
//! port (and `/services/<name>/openapi.json` on the gateway) serves. No HTTP serving here.

use serde_json::{Value, json};
use tasker_plugin_api::Manifest;

use crate::builder::DocBuilder;

/// An entry of the document's `servers` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Absolute (`http://localhost:3104`) or relative to the document (`/`).
    pub url: String,
    /// Shown in Swagger UI's server picker.
    pub description: Option<String>,
}

impl Server {
    /// A server with a URL and no description.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            description: None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match &self.description {
            Some(description) => json!({ "url": self.url, "description": description }),
            None => json!({ "url": self.url }),
        }
    }
}

/// How to render one service's document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocOptions {
    /// Put before every path: `""` on the service's own port, `/services/<name>` on the gateway.
    pub path_prefix: String,
    /// The `servers` list; empty leaves it out, which OpenAPI reads as `/` (the host that
    /// served the document), the right default for both the service port and the gateway.
    pub servers: Vec<Server>,
}

impl DocOptions {
    /// Options for the copy served by the gateway under `/services/<name>`.
    pub fn for_gateway(service: &str) -> Self {
        Self {
            path_prefix: format!("/services/{service}"),
            servers: Vec::new(),
        }
    }
}

/// The OpenAPI 3.0.3 document of one service: `POST /` (three request forms), one
/// `POST /<method>` per manifest method, `GET /health`, `GET /openapi.json`, `GET /docs`.
pub fn service_document(manifest: &Manifest, opts: &DocOptions) -> Value {
    let mut builder = DocBuilder::new();
    builder.add_service(manifest, &opts.path_prefix);
    let info = json!({
        "title": manifest.name,
        "version": manifest.version,
        "description": service_description(manifest),
    });
    builder.finish(info, opts.servers.iter().map(Server::to_json).collect())
}

fn service_description(manifest: &Manifest) -> String {
    let mut text = manifest.description.clone();
    if !manifest.aliases.is_empty() {
        let aliases = manifest.aliases.join(", ");
        text.push_str(&format!("\n\nAlso answers to: {aliases}."));
    }
    text.push_str(
        "\n\nEvery response uses the envelope `{success, data | error+code, metadata}`; \
         errors come with their HTTP status (never 200).",
    );
    text.trim().to_owned()
}
