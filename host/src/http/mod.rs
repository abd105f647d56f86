//! The HTTP layer (poem): per-service routes, the gateway, the response envelope and the
//! request-context middleware. It calls the registry and renders; it never runs plugin
//! code on async workers and never runs task code itself.

pub mod docs;
pub mod envelope;
pub mod gateway;
pub mod guard;
pub mod middleware;
pub mod rate_limit;
pub mod service_routes;
pub mod slow_client;
pub mod tasks_doc;
pub mod tasks_routes;
