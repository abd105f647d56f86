//! The HTTP surface of one service, identical on its own port and under
//! `/services/{name}` on the gateway: `POST /` (the three request forms), `POST /{method}`
//! (arguments as the body, what Swagger UI's "Try it out" sends), `GET /health`,
//! `GET /openapi.json` and `GET /docs`. Handlers only parse, call the registry and render.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Html, Path};
use poem::{Body, EndpointExt, IntoResponse, Response, Route, get, handler, post};
use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, ErrorCode};

use crate::http::docs::ServiceDocs;
use crate::http::envelope::{self, ApiError, RequestMeta};
use crate::http::guard::Caller;
use crate::registry::ServiceEntry;

/// What a service's handlers need.
#[derive(Clone)]
pub struct ServiceCtx {
    /// The service.
    pub entry: Arc<ServiceEntry>,
    /// Its OpenAPI document and Swagger UI page for this mount point.
    pub docs: Arc<ServiceDocs>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

/// The routes of one service.
pub fn service_routes(ctx: ServiceCtx) -> impl poem::Endpoint<Output = Response> {
    let mut route = Route::new();
    if let Some(core) = ctx.entry.core_service() {
        route = core.extend_routes(route);
    }
    route
        .at("/", post(call_root).get(health))
        .at("/health", get(health).post(health))
        .at("/openapi.json", get(openapi))
        .at("/docs", get(docs))
        .at("/docs/", get(docs))
        .at("/:method", post(call_method))
        .at("/docs/assets/:file", get(crate::http::docs::swagger_asset))
        .data(ctx)
        .map_to_response()
}

/// Reads a JSON body (empty → `null`); errors name the problem.
pub async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = body.into_bytes_limit(limit).await.map_err(|e| {
        let mut err = ApiError::new(
            ErrorCode::Validation,
            format!("cannot read request body: {e}"),
        );
        if matches!(e, poem::error::ReadBodyError::PayloadTooLarge) {
            err.message = format!("request body is larger than the limit of {limit} bytes");
            err.status = Some(StatusCode::PAYLOAD_TOO_LARGE);
        }
        err
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::Validation,
            format!("request body is not valid JSON: {e}"),
        )
    })
}

fn call_context(meta: &RequestMeta, caller: &Caller) -> CallContext {
    CallContext {
        request_id: Some(meta.request_id.clone()),
        scope: caller.scope(),
        ..CallContext::default()
    }
}

/// `?action=` on `POST /` (the original admin-debug took its action from the query).
#[derive(Debug, serde::Deserialize)]
struct RootQuery {
    action: Option<String>,
}

/// Checks the caller's scope and submission rate, then calls `method` and renders.
async fn call_checked(
    ctx: &ServiceCtx,
    meta: &RequestMeta,
    caller: &Caller,
    method: &str,
    args: Value,
) -> Response {
    let checked = caller
        .authorize(&ctx.entry, method)
        .and_then(|()| caller.limit_submission(&ctx.entry.name, method));
    if let Err(e) = checked {
        return e.into_response(meta);
    }
    let result = ctx
        .entry
        .call(method, args, call_context(meta, caller))
        .await;
    log_failure(&ctx.entry.name, method, &result);
    envelope::outcome(result, meta)
}

#[handler]
async fn call_root(
    ctx: Data<&ServiceCtx>,
    meta: Data<&RequestMeta>,
    caller: Data<&Caller>,
    poem::web::Query(query): poem::web::Query<RootQuery>,
    body: Body,
) -> Response {
    let mut body = match caller.read_json(body).await {
        Ok(v) => v,
        Err(e) => return e.into_response(&meta),
    };
    if let Some(action) = query.action.filter(|a| !a.is_empty()) {
        match &mut body {
            Value::Object(obj) if !obj.contains_key("method") && !obj.contains_key("chain") => {
                obj.insert("action".into(), Value::String(action));
            }
            Value::Null => body = json!({ "action": action }),
            _ => {}
        }
    }
    // Builders like supabase-js send their whole chain as the query: deliver it intact.
    if let (Some(method), Some(chain)) = (&ctx.entry.manifest.chain_method, body.get("chain")) {
        let args = serde_json::json!({ "chain": chain });
        return call_checked(&ctx, &meta, &caller, method, args).await;
    }
    let request = match crate::services::args::normalise_request(body) {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(&meta),
    };
    call_checked(&ctx, &meta, &caller, &request.method, request.args).await
}

#[handler]
async fn call_method(
    ctx: Data<&ServiceCtx>,
    meta: Data<&RequestMeta>,
    caller: Data<&Caller>,
    Path(method): Path<String>,
    body: Body,
) -> Response {
    let args = match caller.read_json(body).await {
        Ok(v) => v,
        Err(e) => return e.into_response(&meta),
    };
    call_checked(&ctx, &meta, &caller, &method, args).await
}

fn log_failure(
    service: &str,
    method: &str,
    result: &Result<Value, tasker_plugin_api::PluginError>,
) {
    if let Err(e) = result {
        match e.code {
            ErrorCode::PluginPanic | ErrorCode::Internal => {
                tracing::error!(
                    service,
                    method,
                    code = e.code.as_str(),
                    "call failed: {}",
                    e.message
                )
            }
            _ => tracing::debug!(
                service,
                method,
                code = e.code.as_str(),
                "call failed: {}",
                e.message
            ),
        }
    }
}

#[handler]
async fn health(ctx: Data<&ServiceCtx>, meta: Data<&RequestMeta>) -> Response {
    let report = ctx.entry.health().await;
    let healthy = report.get("status").and_then(Value::as_str) == Some("healthy");
    let data = json!({
        "service": ctx.entry.name,
        "kind": ctx.entry.kind,
        "version": ctx.entry.version(),
        "status": if healthy { "healthy" } else { "unhealthy" },
        "details": report,
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    envelope::success_with_status(status, data, &meta)
}

#[handler]
fn openapi(ctx: Data<&ServiceCtx>) -> Response {
    ctx.docs.openapi_response()
}

#[handler]
fn docs(ctx: Data<&ServiceCtx>) -> Response {
    Html(ctx.docs.html.as_str().to_owned()).into_response()
}
