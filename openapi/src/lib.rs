//! `tasker-openapi`: turns plugin manifests into OpenAPI 3.0.3 documents (one per service and
//! one combined for the gateway), provides an offline Swagger UI page, and turns a task's JSDoc
//! header into its input schema. It builds documents only: it must not depend on the host, the
//! database or the JS engine, and it serves nothing over HTTP itself.

mod builder;
mod combined;
mod envelope;
pub mod jsdoc;
mod names;
mod schema_convert;
mod security;
mod service_doc;
mod swagger;

pub use builder::OPENAPI_VERSION;
pub use combined::{ServiceInfo, combined_document};
pub use jsdoc::{SchemaFormat, TaskDoc, parse_task_doc, task_schema};
pub use schema_convert::to_openapi_schema;
pub use security::{Access, BEARER_AUTH, REQUIRED_SCOPE_EXTENSION, security_schemes};
pub use service_doc::{DocOptions, Server, service_document};
pub use swagger::{
    SWAGGER_UI_VERSION, SwaggerAsset, swagger_asset, swagger_ui_html, swagger_ui_html_linked,
};
