//! The `task-executor` core service (alias `tasks`): registers task functions, submits
//! runs and reads them back. The same operations are reachable as methods (`{method:
//! "execute", args}` or `__callHostTool__("tasks", ...)`) and as REST routes (see
//! `tasks_routes`). It enqueues and reads through the engine; it never runs JS itself.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use serde_json::{Value, json};
use tasker_openapi::{SchemaFormat, parse_task_doc, task_schema};
use tasker_plugin_api::{CallContext, Manifest, MethodSpec, PluginError, Scope};
use tasker_store::{NewFunction, RunPage};

use crate::engine::{Engine, code_hash};
use crate::services::core::{BoxFuture, CoreService};
use crate::services::views::{call_counts, call_view, function_view, log_view, run_view};

/// Longest `?wait=` accepted, in seconds.
pub const MAX_WAIT_SECS: f64 = 300.0;

/// The task-executor service.
#[derive(Debug, Clone)]
pub struct TaskService {
    engine: Arc<Engine>,
}

fn arg_str<'a>(args: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| args.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

fn arg_i64(args: &Value, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| {
        let v = args.get(*k)?;
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

impl TaskService {
    /// The service over an engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// Registers or updates a task function; description and schema come from its JSDoc
    /// when not given.
    pub async fn register(&self, args: &Value) -> Result<Value, PluginError> {
        let name = arg_str(args, &["name", "taskName"])
            .ok_or_else(|| PluginError::validation("'name' is required"))?;
        let valid = name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(PluginError::validation(format!(
                "'name' must be 1-128 letters, digits, '-', '_' or '.', got '{name}'"
            )));
        }
        let code = arg_str(args, &["code"])
            .ok_or_else(|| PluginError::validation("'code' is required"))?;
        let doc = parse_task_doc(code);
        let description = arg_str(args, &["description"])
            .map(str::to_owned)
            .or_else(|| (!doc.description.is_empty()).then(|| doc.description.clone()));
        let schema = task_schema(&doc, name, SchemaFormat::Json);
        let function = NewFunction {
            name: name.to_owned(),
            code: code.to_owned(),
            description,
            schema: Some(schema.to_string()),
            code_hash: code_hash(code),
        };
        let stored = self
            .engine
            .store()
            .upsert_function(&function)
            .await
            .map_err(store_err)?;
        Ok(function_view(&stored, false))
    }

    /// Deletes a task function.
    pub async fn delete(&self, name: &str) -> Result<Value, PluginError> {
        if self
            .engine
            .store()
            .delete_function(name)
            .await
            .map_err(store_err)?
        {
            Ok(json!({ "deleted": name }))
        } else {
            Err(PluginError::not_found(format!(
                "task '{name}' is not registered"
            )))
        }
    }

    /// Submits a run acting with `scope` (the submitter's token scope, None without
    /// authentication); with `wait` seconds, waits for the end. Returns the HTTP status to
    /// use (202 while running, 200 once ended).
    pub async fn execute(
        &self,
        args: &Value,
        wait: Option<f64>,
        scope: Option<Scope>,
    ) -> Result<(StatusCode, Value), PluginError> {
        let name =
            arg_str(args, &["task_identifier", "taskName", "name", "task"]).ok_or_else(|| {
                PluginError::validation("'task_identifier' (or 'taskName') is required")
            })?;
        let input = args.get("input").cloned().unwrap_or_else(|| json!({}));
        let run = self.engine.submit_as(name, &input, None, scope).await?;
        let wait = wait
            .or_else(|| args.get("wait").and_then(Value::as_f64))
            .unwrap_or(0.0);
        if wait <= 0.0 {
            return Ok((
                StatusCode::ACCEPTED,
                json!({ "taskRunId": run.id, "status": run.status.as_str() }),
            ));
        }
        let waited = Duration::from_secs_f64(wait.min(MAX_WAIT_SECS));
        let latest = self
            .engine
            .wait_for_end(run.id, waited)
            .await?
            .unwrap_or(run);
        let status = if latest.status.is_terminal() {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        Ok((status, run_view(&latest)))
    }

    /// One run with call counts, or the newest runs when `id` is absent.
    pub async fn status(&self, args: &Value) -> Result<Value, PluginError> {
        let store = self.engine.store();
        match arg_i64(args, &["id", "taskRunId", "task_id"]) {
            Some(id) => {
                let run = store
                    .get_run(id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| run_not_found(id))?;
                let calls = store.journal(id).await.map_err(store_err)?;
                let mut view = run_view(&run);
                view["calls"] = call_counts(&calls);
                if let Some(why) = self.engine.waiting_reason(&calls).await {
                    view["waiting"] = Value::String(why);
                }
                Ok(view)
            }
            None => {
                let limit = arg_i64(args, &["limit"]).unwrap_or(50).clamp(1, 500);
                let page = RunPage {
                    limit,
                    before_id: arg_i64(args, &["before", "beforeId"]),
                };
                let runs = store.list_runs(page).await.map_err(store_err)?;
                let next = (runs.len() as i64 == limit)
                    .then(|| runs.last().map(|r| r.id))
                    .flatten();
                Ok(
                    json!({ "runs": runs.iter().map(run_view).collect::<Vec<_>>(), "nextBefore": next }),
                )
            }
        }
    }

    /// A run with its full call tree.
    pub async fn run_tree(&self, id: i64) -> Result<Value, PluginError> {
        let store = self.engine.store();
        let run = store
            .get_run(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| run_not_found(id))?;
        let calls = store.journal(id).await.map_err(store_err)?;
        let mut view = run_view(&run);
        view["callCounts"] = call_counts(&calls);
        if let Some(why) = self.engine.waiting_reason(&calls).await {
            view["waiting"] = Value::String(why);
        }
        let mut tree = Vec::with_capacity(calls.len());
        for call in &calls {
            let mut node = call_view(call);
            // Only `tasks.execute` calls have a child run; no query for the others.
            let nested = matches!(call.service.as_str(), "task-executor" | "tasks")
                && call.method == "execute";
            if nested && let Some(child) = store.child_run(call.id).await.map_err(store_err)? {
                node["childRun"] = run_view(&child);
            }
            tree.push(node);
        }
        view["calls"] = Value::Array(tree);
        Ok(view)
    }

    /// The console lines of a run.
    pub async fn logs(&self, args: &Value) -> Result<Value, PluginError> {
        let id = arg_i64(args, &["task_id", "id", "taskRunId"])
            .ok_or_else(|| PluginError::validation("'task_id' is required"))?;
        let store = self.engine.store();
        store
            .get_run(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| run_not_found(id))?;
        let after = arg_i64(args, &["after"]).unwrap_or(0);
        let limit = arg_i64(args, &["limit"]).unwrap_or(1000).clamp(1, 10_000);
        let logs = store.read_logs(id, after, limit).await.map_err(store_err)?;
        Ok(json!({ "taskRunId": id, "logs": logs.iter().map(log_view).collect::<Vec<_>>() }))
    }

    /// Cancels a run.
    pub async fn cancel(&self, id: i64) -> Result<Value, PluginError> {
        let store = self.engine.store();
        store
            .get_run(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| run_not_found(id))?;
        let cancelled = self.engine.cancel(id).await?;
        if !cancelled {
            return Err(PluginError::new(
                tasker_plugin_api::ErrorCode::Conflict,
                format!("run {id} has already ended"),
            ));
        }
        Ok(json!({ "taskRunId": id, "status": "cancelled" }))
    }

    /// Registered tasks.
    pub async fn list(&self) -> Result<Value, PluginError> {
        let functions = self
            .engine
            .store()
            .list_functions()
            .await
            .map_err(store_err)?;
        Ok(
            json!({ "tasks": functions.iter().map(|f| function_view(f, false)).collect::<Vec<_>>() }),
        )
    }

    /// The input schema of a task from its JSDoc, as JSON Schema, OpenAPI or an OpenAI tool.
    pub async fn schema(&self, args: &Value) -> Result<Value, PluginError> {
        let name = arg_str(args, &["task", "name", "taskName"])
            .ok_or_else(|| PluginError::validation("'task' is required"))?;
        let format: SchemaFormat = arg_str(args, &["format"])
            .unwrap_or("json")
            .parse()
            .map_err(|_| PluginError::validation("'format' must be json, openapi or openai"))?;
        let function = self
            .engine
            .store()
            .get_function(name)
            .await
            .map_err(store_err)?
            .ok_or_else(|| PluginError::not_found(format!("task '{name}' is not registered")))?;
        Ok(task_schema(&parse_task_doc(&function.code), name, format))
    }
}

fn run_not_found(id: i64) -> PluginError {
    PluginError::not_found(format!("task run {id} does not exist"))
}

fn store_err(e: tasker_store::Error) -> PluginError {
    PluginError::from(crate::engine::EngineError::Store(e))
}

fn method(name: &str, summary: &str, scope: Scope) -> MethodSpec {
    MethodSpec::new(name, summary)
        .params(json!({ "type": "object" }))
        .scope(scope)
}

/// The task-executor manifest (also used to render its docs without an engine).
pub fn manifest() -> Manifest {
    Manifest {
        name: "task-executor".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description:
            "Registers task functions, submits runs and reads their status, call tree and logs."
                .into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec![],
        chain_method: None,
        max_concurrency: None,
        methods: vec![
            method(
                "execute",
                "Submit a run: {task_identifier | taskName, input, wait?}",
                Scope::Execute,
            ),
            method(
                "register",
                "Register or update a task: {name, code, description?}",
                Scope::Admin,
            ),
            method("delete", "Delete a task: {name}", Scope::Admin),
            method(
                "status",
                "One run ({id}) or the newest runs ({limit?, before?})",
                Scope::Read,
            ),
            method("run", "A run with its call tree: {id}", Scope::Execute),
            method(
                "logs",
                "Console lines of a run: {task_id, after?, limit?}",
                Scope::Read,
            ),
            method("cancel", "Cancel a run: {id}", Scope::Execute),
            method("list", "Registered tasks", Scope::Read),
            method(
                "schema",
                "Input schema of a task from its JSDoc: {task, format?}",
                Scope::Read,
            ),
        ],
    }
}

impl CoreService for TaskService {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn extend_routes(self: Arc<Self>, route: poem::Route) -> poem::Route {
        crate::http::tasks_routes::add_task_routes(route, self)
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        args: Value,
        ctx: CallContext,
    ) -> BoxFuture<'a, Result<Value, PluginError>> {
        Box::pin(async move {
            let id = || {
                arg_i64(&args, &["id", "taskRunId"])
                    .ok_or_else(|| PluginError::validation("'id' is required"))
            };
            match method {
                "execute" => self.execute(&args, None, ctx.scope).await.map(|(_, v)| v),
                "register" => self.register(&args).await,
                "delete" => {
                    self.delete(arg_str(&args, &["name"]).unwrap_or_default())
                        .await
                }
                "status" => self.status(&args).await,
                "run" => self.run_tree(id()?).await,
                "logs" => self.logs(&args).await,
                "cancel" => self.cancel(id()?).await,
                "list" => self.list().await,
                "schema" => self.schema(&args).await,
                other => Err(PluginError::unknown_method("task-executor", other)),
            }
        })
    }
}
