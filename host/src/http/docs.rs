//! OpenAPI documents and Swagger UI pages per mount point (a service's own port, its
//! gateway prefix, the gateway as a whole), rendered once at start-up from the manifests
//! by the `tasker-openapi` crate. Serving them is a lookup, never a re-render.

use poem::Response;
use poem::http::StatusCode;
use serde_json::Value;

use crate::registry::{Registry, ServiceEntry};

/// The rendered documents for one mount point.
#[derive(Debug, Clone)]
pub struct ServiceDocs {
    /// The OpenAPI document, serialised.
    pub openapi: String,
    /// The Swagger UI page that loads it.
    pub html: String,
}

impl ServiceDocs {
    /// `GET /openapi.json`.
    pub fn openapi_response(&self) -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .body(self.openapi.clone())
    }
}

/// The document of one service mounted at `prefix` ("" or "/services/<name>").
pub fn service_document(entry: &ServiceEntry, prefix: &str) -> Value {
    let opts = tasker_openapi::DocOptions {
        path_prefix: prefix.to_owned(),
        servers: Vec::new(),
    };
    let mut doc = tasker_openapi::service_document(&entry.manifest, &opts);
    if entry.name == "task-executor" {
        crate::http::tasks_doc::merge_into(&mut doc, prefix);
    }
    doc
}

/// The documents and page of one service mounted at `prefix`.
pub fn service_docs(entry: &ServiceEntry, prefix: &str) -> ServiceDocs {
    let doc = service_document(entry, prefix);
    ServiceDocs {
        openapi: doc.to_string(),
        html: swagger_page(&format!("{} API", entry.name), prefix),
    }
}

/// The combined document of the gateway and its Swagger UI page.
pub fn gateway_docs(registry: &Registry) -> ServiceDocs {
    let doc = gateway_document(registry);
    ServiceDocs {
        openapi: doc.to_string(),
        html: swagger_page("tasker gateway", ""),
    }
}

/// The combined document of every service, as the gateway serves it.
pub fn gateway_document(registry: &Registry) -> Value {
    let services: Vec<_> = registry
        .services()
        .iter()
        .map(|s| {
            let kind = serde_json::to_value(s.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            (
                s.manifest.clone(),
                tasker_openapi::ServiceInfo { kind, url: None },
            )
        })
        .collect();
    let host_paths = serde_json::json!({ "paths": crate::http::tasks_doc::task_api_paths("/services/task-executor") });
    tasker_openapi::combined_document(&services, Some(&host_paths))
}

/// A small Swagger UI page for the mount at `prefix`; its JS and CSS come from
/// `{prefix}/docs/assets/` (one shared copy in the binary, not ~2 MB inlined per page).
fn swagger_page(title: &str, prefix: &str) -> String {
    tasker_openapi::swagger_ui_html_linked(
        title,
        &format!("{prefix}/openapi.json"),
        &format!("{prefix}/docs/assets/"),
    )
}

/// `GET /docs/assets/{file}`: the vendored Swagger UI files.
#[poem::handler]
pub fn swagger_asset(poem::web::Path(file): poem::web::Path<String>) -> Response {
    match tasker_openapi::swagger_asset(&file) {
        Some(asset) => Response::builder()
            .status(StatusCode::OK)
            .content_type(asset.content_type)
            .header("cache-control", "public, max-age=86400")
            .body(asset.bytes),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body("no such Swagger UI asset"),
    }
}
