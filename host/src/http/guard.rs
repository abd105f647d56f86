//! The request guard of every listener (inside the request-context middleware): answers
//! an oversized `Content-Length` with 413, authenticates the bearer token (401 without a
//! valid one, `/health` excepted) and hands handlers a [`Caller`]: who is calling (scope,
//! peer IP) and the checks they share: a method's scope (403), the submission rate limit
//! (429) and a bounded, timed body read (413, 408). Routes whose scope comes from a
//! manifest method use [`RequireScope`]. Never logs or echoes the Authorization header.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, Manifest, PluginError, Scope};

use crate::auth::{Principal, TokenSet, unauthenticated};
use crate::http::envelope::{ApiError, RequestMeta};
use crate::http::rate_limit::RateLimiter;
use crate::http::slow_client::ConnTable;
use crate::registry::ServiceEntry;

/// What the guard enforces, shared by every listener.
#[derive(Debug)]
pub struct GuardConfig {
    /// The API tokens (empty: authentication off).
    pub tokens: TokenSet,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest a client may take to send a body.
    pub body_timeout: Duration,
    /// Per-client limit on run submissions (None: unlimited).
    pub submit_limiter: Option<RateLimiter>,
}

/// The guard middleware of one listener.
#[derive(Debug, Clone)]
pub struct Guard {
    cfg: Arc<GuardConfig>,
    conns: Option<Arc<ConnTable>>,
}

impl Guard {
    /// A guard enforcing `cfg`; `conns` is the listener's slow-client table, if any.
    pub fn new(cfg: Arc<GuardConfig>, conns: Option<Arc<ConnTable>>) -> Self {
        Self { cfg, conns }
    }
}

impl<E: Endpoint> Middleware<E> for Guard {
    type Output = GuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardEndpoint {
            inner,
            guard: self.clone(),
        }
    }
}

/// The endpoint produced by [`Guard`].
#[derive(Debug)]
pub struct GuardEndpoint<E> {
    inner: E,
    guard: Guard,
}

/// Who is calling, for handlers (`Data<&Caller>`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's scope (unrestricted when authentication is off).
    pub principal: Principal,
    /// The client's IP address.
    pub peer: Option<IpAddr>,
    cfg: Arc<GuardConfig>,
}

/// `/health` of the host or of one service stays open: load balancers probe it.
fn is_health_path(path: &str) -> bool {
    if path == "/health" {
        return true;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(segments.as_slice(), ["services", name, "health"] if !name.is_empty())
}

/// The scope of a valid bearer token, or why there is none (never quoting the header).
fn authenticate(tokens: &TokenSet, req: &Request) -> Result<Principal, PluginError> {
    if !tokens.is_enabled() {
        return Ok(Principal::UNRESTRICTED);
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("missing bearer token"))?;
    let value = header
        .to_str()
        .map_err(|_| unauthenticated("malformed Authorization header"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(unauthenticated(
                "the Authorization header is not a bearer token",
            ));
        }
    };
    tokens
        .scope_of(token)
        .map(Principal::with_scope)
        .ok_or_else(|| unauthenticated("invalid bearer token"))
}

fn too_large(limit: usize) -> ApiError {
    let mut err = ApiError::new(
        ErrorCode::Validation,
        format!("request body is larger than the limit of {limit} bytes (--max-body-bytes)"),
    );
    err.status = Some(StatusCode::PAYLOAD_TOO_LARGE);
    err
}

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl<E: Endpoint> GuardEndpoint<E> {
    /// Guard refusals are rendered here; the inner endpoint's errors (poem's 404/405) go
    /// on to the request-context middleware, which renders them in the envelope.
    async fn check_and_call(&self, mut req: Request, meta: &RequestMeta) -> poem::Result<Response> {
        let cfg = &self.guard.cfg;
        if declared_length(&req).is_some_and(|n| n > cfg.max_body_bytes as u64) {
            return Ok(too_large(cfg.max_body_bytes).into_response(meta));
        }
        let principal = if is_health_path(req.uri().path()) {
            Principal::UNRESTRICTED
        } else {
            match authenticate(&cfg.tokens, &req) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!("request refused: {}", e.message);
                    return Ok(ApiError::from(e).into_response(meta));
                }
            }
        };
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        req.extensions_mut().insert(Caller {
            principal,
            peer,
            cfg: cfg.clone(),
        });
        Ok(self.inner.call(req).await?.into_response())
    }
}

impl<E: Endpoint> Endpoint for GuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let meta = req
            .extensions()
            .get::<RequestMeta>()
            .cloned()
            .unwrap_or_else(|| RequestMeta {
                request_id: uuid::Uuid::new_v4().to_string(),
                started: Instant::now(),
            });
        let peer = req.remote_addr().as_socket_addr().copied();
        if let Some(conns) = &self.guard.conns {
            conns.request_started(peer.as_ref());
        }
        let response = self.check_and_call(req, &meta).await;
        if let Some(conns) = &self.guard.conns {
            conns.request_finished(peer.as_ref());
        }
        response
    }
}

impl Caller {
    /// The caller's token scope (None when authentication is off).
    pub fn scope(&self) -> Option<Scope> {
        self.principal.scope()
    }

    /// 403 unless the caller may call `entry.method` over HTTP (per its manifest).
    pub fn authorize(&self, entry: &ServiceEntry, method: &str) -> Result<(), ApiError> {
        let needed = entry.required_scope(method, true);
        self.principal
            .require(needed, &format!("{}.{method}", entry.name))
            .map_err(ApiError::from)
    }

    /// 429 (with `Retry-After`) when this call starts a task run and the client is over
    /// its submission rate.
    pub fn limit_submission(&self, service: &str, method: &str) -> Result<(), ApiError> {
        let (Some(limiter), Some(peer)) = (&self.cfg.submit_limiter, self.peer) else {
            return Ok(());
        };
        if !starts_run(service, method) {
            return Ok(());
        }
        limiter.try_acquire(peer, Instant::now()).map_err(|wait| {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::from(
                PluginError::new(
                    ErrorCode::RateLimit,
                    format!(
                        "too many run submissions from {peer}; retry in {secs} s (--submit-rate-per-sec)"
                    ),
                )
                .with_details(json!({ "retryAfterSeconds": secs })),
            )
        })
    }

    /// Reads a JSON body within the size limit (413) and the body timeout (408).
    pub async fn read_json(&self, body: Body) -> Result<Value, ApiError> {
        let limit = self.cfg.max_body_bytes;
        match tokio::time::timeout(
            self.cfg.body_timeout,
            crate::http::service_routes::read_json(body, limit),
        )
        .await
        {
            Ok(Err(mut e)) if e.status == Some(StatusCode::PAYLOAD_TOO_LARGE) => {
                e.message = too_large(limit).message;
                Err(e)
            }
            Ok(result) => result,
            Err(_) => {
                let mut err = ApiError::new(
                    ErrorCode::Timeout,
                    format!(
                        "the request body did not arrive within {} s (--body-timeout-secs)",
                        self.cfg.body_timeout.as_secs()
                    ),
                );
                err.status = Some(StatusCode::REQUEST_TIMEOUT);
                Err(err)
            }
        }
    }
}

/// Calls that start a task run (by canonical service name), the ones the submission
/// rate limit counts.
fn starts_run(service: &str, method: &str) -> bool {
    matches!(
        (service, method),
        ("task-executor", "execute") | ("deno-executor", "run" | "execute")
    )
}

/// Route-level scope for REST routes that stand for a manifest method (the task API's
/// `POST /tasks` is task-executor's `register`): the scope is read from the manifest.
#[derive(Debug, Clone)]
pub struct RequireScope {
    needed: Scope,
    what: Arc<str>,
}

impl RequireScope {
    /// The scope `manifest`'s `method` needs over HTTP (`admin` when it is not listed).
    pub fn of_method(manifest: &Manifest, method: &str) -> Self {
        let needed = manifest
            .methods
            .iter()
            .find(|m| m.name == method)
            .map_or(Scope::Admin, |m| m.required_scope(true));
        Self {
            needed,
            what: format!("{}.{method}", manifest.name).into(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for RequireScope {
    type Output = RequireScopeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequireScopeEndpoint {
            inner,
            rule: self.clone(),
        }
    }
}

/// The endpoint produced by [`RequireScope`].
#[derive(Debug)]
pub struct RequireScopeEndpoint<E> {
    inner: E,
    rule: RequireScope,
}

impl<E: Endpoint> Endpoint for RequireScopeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        // Without the guard there is no caller: fail closed with the lowest scope.
        let principal = req
            .extensions()
            .get::<Caller>()
            .map_or(Principal::with_scope(Scope::Read), |c| c.principal);
        if let Err(e) = principal.require(self.rule.needed, &self.rule.what) {
            let meta = req
                .extensions()
                .get::<RequestMeta>()
                .cloned()
                .unwrap_or_else(|| RequestMeta {
                    request_id: String::new(),
                    started: Instant::now(),
                });
            return Ok(ApiError::from(e).into_response(&meta));
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_health_paths_are_open() {
        for open in ["/health", "/services/keystore/health"] {
            assert!(is_health_path(open), "{open}");
        }
        for closed in [
            "/",
            "/docs",
            "/health/x",
            "/services/keystore/getKey",
            "/services//health",
            "/x/services/k/health",
            "/healthz",
        ] {
            assert!(!is_health_path(closed), "{closed}");
        }
    }
}
