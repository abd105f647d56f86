//! REST routes of the task API (task-executor's port and `/services/task-executor/` on the
//! gateway): `POST /tasks`, `DELETE /tasks/{name}`, `POST /execute[?wait=S]`,
//! `GET /status[?id=N]`, `GET /runs/{id}`, `POST /runs/{id}/cancel`, `GET /logs?task_id=N`,
//! `GET /list`, `GET /schema?task=NAME[&format=json|openapi|openai]`. Parsing and
//! rendering only; the work is done by [`TaskService`].

use std::collections::HashMap;
use std::sync::Arc;

use poem::web::{Data, Path, Query};
use poem::{Body, EndpointExt, Response, Route, delete, get, handler, post};
use serde_json::{Map, Value};

use crate::http::envelope::{self, ApiError, RequestMeta};
use crate::http::guard::{Caller, RequireScope};
use crate::services::tasks::{TaskService, manifest};

/// Adds the task API's routes to `route`. Each route stands for a task-executor method
/// and needs that method's scope from the manifest.
pub fn add_task_routes(route: Route, service: Arc<TaskService>) -> Route {
    let svc = || service.clone();
    let manifest = manifest();
    let scope = |method: &str| RequireScope::of_method(&manifest, method);
    route
        .at("/tasks", post(register).data(svc()).with(scope("register")))
        .at(
            "/tasks/:name",
            delete(remove).data(svc()).with(scope("delete")),
        )
        .at("/execute", post(execute).data(svc()).with(scope("execute")))
        .at("/status", get(status).data(svc()).with(scope("status")))
        .at("/runs/:id", get(run_tree).data(svc()).with(scope("run")))
        .at(
            "/runs/:id/cancel",
            post(cancel).data(svc()).with(scope("cancel")),
        )
        .at("/logs", get(logs).data(svc()).with(scope("logs")))
        .at("/list", get(list).data(svc()).with(scope("list")))
        .at("/schema", get(schema).data(svc()).with(scope("schema")))
}

fn query_args(query: HashMap<String, String>) -> Value {
    Value::Object(
        query
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect::<Map<_, _>>(),
    )
}

fn render(result: Result<Value, tasker_plugin_api::PluginError>, meta: &RequestMeta) -> Response {
    envelope::outcome(result, meta)
}

#[handler]
async fn register(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    caller: Data<&Caller>,
    body: Body,
) -> Response {
    match caller.read_json(body).await {
        Ok(args) => render(svc.register(&args).await, &meta),
        Err(e) => e.into_response(&meta),
    }
}

#[handler]
async fn remove(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    Path(name): Path<String>,
) -> Response {
    render(svc.delete(&name).await, &meta)
}

#[handler]
async fn execute(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    caller: Data<&Caller>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    let args = match caller.read_json(body).await {
        Ok(v) => v,
        Err(e) => return e.into_response(&meta),
    };
    let wait = match query.get("wait").map(|w| w.parse::<f64>()) {
        None => None,
        Some(Ok(w)) if w.is_finite() && w >= 0.0 => Some(w),
        Some(_) => {
            return ApiError::new(
                tasker_plugin_api::ErrorCode::Validation,
                "'wait' must be a number of seconds",
            )
            .into_response(&meta);
        }
    };
    if let Err(e) = caller.limit_submission("task-executor", "execute") {
        return e.into_response(&meta);
    }
    match svc.execute(&args, wait, caller.scope()).await {
        Ok((code, data)) => envelope::success_with_status(code, data, &meta),
        Err(e) => ApiError::from(e).into_response(&meta),
    }
}

#[handler]
async fn status(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    render(svc.status(&query_args(query)).await, &meta)
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            tasker_plugin_api::ErrorCode::Validation,
            format!("run id must be an integer, got '{raw}'"),
        )
    })
}

#[handler]
async fn run_tree(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    Path(id): Path<String>,
) -> Response {
    match parse_id(&id) {
        Ok(id) => render(svc.run_tree(id).await, &meta),
        Err(e) => e.into_response(&meta),
    }
}

#[handler]
async fn cancel(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    Path(id): Path<String>,
) -> Response {
    match parse_id(&id) {
        Ok(id) => render(svc.cancel(id).await, &meta),
        Err(e) => e.into_response(&meta),
    }
}

#[handler]
async fn logs(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    render(svc.logs(&query_args(query)).await, &meta)
}

#[handler]
async fn list(svc: Data<&Arc<TaskService>>, meta: Data<&RequestMeta>) -> Response {
    render(svc.list().await, &meta)
}

#[handler]
async fn schema(
    svc: Data<&Arc<TaskService>>,
    meta: Data<&RequestMeta>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    render(svc.schema(&query_args(query)).await, &meta)
}
