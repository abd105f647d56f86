//! Per-request context for every listener: accepts or generates `X-Request-Id`, opens a
//! tracing span carrying it (so every log line about the request has it), answers CORS
//! preflights, adds CORS headers, and turns poem's own routing errors (404, 405) into the
//! error envelope. Must not inspect or log request bodies (they may hold secrets).

use std::sync::Arc;
use std::time::Instant;

use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tasker_plugin_api::ErrorCode;
use tracing::Instrument;

use crate::http::envelope::{ApiError, RequestMeta};

/// The request-context middleware.
#[derive(Debug, Clone)]
pub struct RequestContext {
    cors_origin: Arc<str>,
    listener: Arc<str>,
}

impl RequestContext {
    /// `cors_origin` is sent as `Access-Control-Allow-Origin`; `listener` names the
    /// listener (gateway or service) in log lines.
    pub fn new(cors_origin: &str, listener: &str) -> Self {
        Self {
            cors_origin: cors_origin.into(),
            listener: listener.into(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint {
            inner,
            ctx: self.clone(),
        }
    }
}

/// The endpoint produced by [`RequestContext`].
#[derive(Debug)]
pub struct RequestContextEndpoint<E> {
    inner: E,
    ctx: RequestContext,
}

/// A client-supplied request id is kept only if it is short, visible ASCII.
fn accepted_request_id(req: &Request) -> Option<String> {
    let value = req.headers().get("x-request-id")?.to_str().ok()?;
    let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_owned())
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let request_id =
            accepted_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let meta = RequestMeta {
            request_id: request_id.clone(),
            started: Instant::now(),
        };
        req.extensions_mut().insert(meta.clone());
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", request_id = %request_id, listener = %self.ctx.listener, method = %method, path = %path);

        let mut response = if method == Method::OPTIONS {
            preflight()
        } else {
            match self.inner.call(req).instrument(span.clone()).await {
                Ok(output) => output.into_response(),
                Err(err) => routing_error(&err, &method, &path).into_response(&meta),
            }
        };
        let status = response.status();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.ctx.cors_origin) {
            headers.insert("access-control-allow-origin", v);
        }
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-request-id"),
        );
        span.in_scope(|| {
            tracing::debug!(
                status = status.as_u16(),
                elapsed_ms = meta.started.elapsed().as_secs_f64() * 1000.0,
                "answered"
            );
        });
        Ok(response)
    }
}

fn preflight() -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(
            "access-control-allow-methods",
            "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        )
        .header(
            "access-control-allow-headers",
            "authorization, x-client-info, apikey, content-type, x-request-id, idempotency-key",
        )
        .header("access-control-max-age", "86400")
        .finish()
}

/// poem's routing errors, in our envelope.
fn routing_error(err: &poem::Error, method: &Method, path: &str) -> ApiError {
    let status = err.status();
    let mut e = match status {
        StatusCode::NOT_FOUND => {
            ApiError::new(ErrorCode::NotFound, format!("no route for {method} {path}"))
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::Validation,
            format!("method {method} is not allowed on {path}"),
        ),
        s if s.is_client_error() => ApiError::new(ErrorCode::Validation, err.to_string()),
        _ => ApiError::new(ErrorCode::Internal, "internal error"),
    };
    e.status = Some(status);
    e
}
