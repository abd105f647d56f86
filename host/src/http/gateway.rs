//! The gateway listener: every service under `/services/{name}` (and its aliases) with the
//! same routes as its own port, plus `GET /health` (host and every service),
//! `GET /services` (the registry), `GET /openapi.json` (one combined document) and
//! `GET /docs` (Swagger UI over all services) and `GET /cluster` (hosts sharing the database,
//! their leases and the queue).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Html};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::http::docs::{ServiceDocs, gateway_docs, service_docs};
use crate::http::envelope::{self, RequestMeta};
use crate::http::guard::Caller;
use crate::http::service_routes::{ServiceCtx, service_routes};
use crate::registry::Registry;
use crate::registry_file::ServiceListing;

/// What the gateway's own handlers need.
#[derive(Clone)]
pub struct GatewayCtx {
    /// The registry.
    pub registry: Arc<Registry>,
    /// The engine (cluster and queue reports).
    pub engine: Arc<Engine>,
    /// The service list as published (ports and URLs included).
    pub listing: Arc<Vec<ServiceListing>>,
    /// The combined documents.
    pub docs: Arc<ServiceDocs>,
    /// When the host started, for uptime.
    pub started: std::time::Instant,
}

/// Builds the gateway's routes.
pub fn gateway_routes(
    registry: Arc<Registry>,
    engine: Arc<Engine>,
    listing: Arc<Vec<ServiceListing>>,
    body_limit: usize,
) -> impl poem::Endpoint<Output = Response> {
    let mut route = Route::new()
        .at("/", get(health))
        .at("/health", get(health).post(health))
        .at("/services", get(services))
        .at("/cluster", get(cluster))
        .at("/openapi.json", get(openapi))
        .at("/docs", get(docs))
        .at("/docs/", get(docs))
        .at("/docs/assets/:file", get(crate::http::docs::swagger_asset));
    for entry in registry.services() {
        let names = std::iter::once(&entry.name).chain(entry.aliases.iter());
        for name in names {
            let prefix = format!("/services/{name}");
            let ctx = ServiceCtx {
                entry: entry.clone(),
                docs: Arc::new(service_docs(entry, &prefix)),
                body_limit,
            };
            route = route.nest(prefix, service_routes(ctx));
        }
    }
    let ctx = GatewayCtx {
        docs: Arc::new(gateway_docs(&registry)),
        registry,
        engine,
        listing,
        started: std::time::Instant::now(),
    };
    route.data(ctx).map_to_response()
}

#[handler]
async fn health(ctx: Data<&GatewayCtx>, meta: Data<&RequestMeta>) -> Response {
    // Every service is checked at once; a slow plugin delays the answer by its own time only.
    let mut checks = tokio::task::JoinSet::new();
    for service in ctx.registry.services() {
        let service = service.clone();
        checks.spawn(async move { (service.name.clone(), service.health().await) });
    }
    let reports: Vec<(String, Value)> = checks.join_all().await;
    let healthy = reports
        .iter()
        .all(|(_, r)| r.get("status").and_then(Value::as_str) == Some("healthy"));
    let per_service: serde_json::Map<String, Value> = reports.into_iter().collect();
    let data = json!({
        "service": "tasker-host",
        "version": env!("CARGO_PKG_VERSION"),
        "status": if healthy { "healthy" } else { "degraded" },
        "uptimeSeconds": ctx.started.elapsed().as_secs(),
        "services": per_service,
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    envelope::success_with_status(status, data, &meta)
}

#[handler]
fn services(ctx: Data<&GatewayCtx>, meta: Data<&RequestMeta>) -> Response {
    envelope::success(json!({ "services": *ctx.listing }), &meta)
}

#[handler]
async fn cluster(
    ctx: Data<&GatewayCtx>,
    caller: Option<Data<&Caller>>,
    meta: Data<&RequestMeta>,
) -> Response {
    // Hosts, addresses and lease holders are operator information: admin only.
    let allowed = caller.map_or(Ok(()), |c| {
        c.principal
            .require(tasker_plugin_api::Scope::Admin, "GET /cluster")
    });
    let report = match allowed {
        Ok(()) => ctx.engine.cluster_report().await.map_err(Into::into),
        Err(e) => Err(e),
    };
    envelope::outcome(report, &meta)
}

#[handler]
fn openapi(ctx: Data<&GatewayCtx>) -> Response {
    ctx.docs.openapi_response()
}

#[handler]
fn docs(ctx: Data<&GatewayCtx>) -> Response {
    Html(ctx.docs.html.clone()).into_response()
}
