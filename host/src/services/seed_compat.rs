//! The seed's other two core services, on top of the same engine:
//! `simple-stack-processor` (`POST {"trigger": "process-next"}` or `{"stackRunId": N}`
//! wakes the queue workers; the engine already processes everything without triggers) and
//! `deno-executor` (`POST {taskCode, taskName, taskInput}` runs code directly as a durable
//! run and answers with its result, or with the suspension record while it waits).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, Manifest, MethodSpec, PluginError, Scope};

use crate::engine::{Engine, code_hash};
use crate::services::core::{BoxFuture, CoreService};
use crate::services::tasks::TaskService;
use crate::services::views::run_view;

fn manifest(name: &str, description: &str, methods: Vec<MethodSpec>) -> Manifest {
    Manifest {
        name: name.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: description.into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec![],
        chain_method: None,
        max_concurrency: None,
        methods,
    }
}

/// `simple-stack-processor`.
#[derive(Debug)]
pub struct StackProcessor {
    engine: Arc<Engine>,
}

impl StackProcessor {
    /// Over an engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

/// The simple-stack-processor manifest.
pub fn stack_processor_manifest() -> Manifest {
    manifest(
        "simple-stack-processor",
        "The stack-run queue. Workers process it continuously; these calls only wake them and report the queue.",
        vec![
            MethodSpec::new(
                "trigger",
                "Wake the workers (`{\"trigger\": \"process-next\"}`)",
            )
            .params(json!({"type": "object"})),
            MethodSpec::new(
                "process",
                "Wake the workers for one stack run (`{\"stackRunId\": N}`)",
            )
            .params(json!({"type": "object"})),
            MethodSpec::new("queue", "Counts of task runs and stack runs by status")
                .params(json!({"type": "object"}))
                .scope(Scope::Read),
        ],
    )
}

impl CoreService for StackProcessor {
    fn manifest(&self) -> Manifest {
        stack_processor_manifest()
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        args: Value,
        _ctx: CallContext,
    ) -> BoxFuture<'a, Result<Value, PluginError>> {
        Box::pin(async move {
            match method {
                "trigger" | "process" => {
                    self.engine.wake();
                    Ok(json!({ "triggered": true, "stackRunId": args.get("stackRunId") }))
                }
                "queue" => self.engine.queue_report().await.map_err(PluginError::from),
                other => Err(PluginError::unknown_method("simple-stack-processor", other)),
            }
        })
    }
}

/// `deno-executor`.
#[derive(Debug)]
pub struct DirectExecutor {
    engine: Arc<Engine>,
    tasks: Arc<TaskService>,
}

impl DirectExecutor {
    /// Over an engine and the task service (for registration).
    pub fn new(engine: Arc<Engine>, tasks: Arc<TaskService>) -> Self {
        Self { engine, tasks }
    }

    async fn run(&self, args: &Value, scope: Option<Scope>) -> Result<Value, PluginError> {
        let code = args
            .get("taskCode")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let name = args
            .get("taskName")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let (Some(code), Some(name)) = (code, name) else {
            return Err(PluginError::validation("Missing taskCode or taskName"));
        };
        // Direct code is registered under a name derived from its hash, so it never
        // replaces a task registered under `taskName`.
        let hash = code_hash(code);
        let direct_name = format!("{name}.direct-{}", &hash[..12]);
        self.tasks
            .register(&json!({ "name": direct_name, "code": code }))
            .await?;
        let input = args.get("taskInput").cloned().unwrap_or_else(|| json!({}));
        let run = self
            .engine
            .submit_as(&direct_name, &input, None, scope)
            .await?;
        let wait = args
            .get("waitSeconds")
            .and_then(Value::as_f64)
            .unwrap_or(30.0)
            .clamp(0.0, 300.0);
        let latest = self
            .engine
            .wait_for_end(run.id, Duration::from_secs_f64(wait))
            .await?
            .unwrap_or(run);
        let view = run_view(&latest);
        Ok(match latest.status.as_str() {
            "completed" => {
                json!({ "status": "completed", "result": view["result"], "taskRunId": latest.id })
            }
            "failed" | "cancelled" => {
                json!({ "status": "error", "error": view["error"], "taskRunId": latest.id })
            }
            other => json!({ "status": "suspended", "runStatus": other, "taskRunId": latest.id }),
        })
    }
}

/// The deno-executor manifest.
pub fn direct_executor_manifest() -> Manifest {
    manifest(
        "deno-executor",
        "Runs task code directly (`{taskCode, taskName, taskInput}`) as a durable run and returns its result.",
        vec![
            MethodSpec::new(
                "run",
                "Run code: {taskCode, taskName, taskInput, waitSeconds?}",
            )
            .params(json!({"type": "object"}))
            // Runs code that was never registered: as powerful as registering a task.
            .scope(Scope::Admin),
            MethodSpec::new(
                "resume",
                "Journal an external result for a waiting call: {stackRunId, result}",
            )
            .params(json!({"type": "object"}))
            // Injects a result into any run's journal.
            .scope(Scope::Admin),
        ],
    )
}

impl CoreService for DirectExecutor {
    fn manifest(&self) -> Manifest {
        direct_executor_manifest()
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        args: Value,
        ctx: CallContext,
    ) -> BoxFuture<'a, Result<Value, PluginError>> {
        Box::pin(async move {
            match method {
                "run" | "execute" => self.run(&args, ctx.scope).await,
                "resume" => {
                    let id = ["stackRunId", "stackRunIdToResume"]
                        .iter()
                        .find_map(|k| {
                            args.get(*k)
                                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                        })
                        .ok_or_else(|| PluginError::validation("'stackRunId' is required"))?;
                    let result = args
                        .get("result")
                        .or_else(|| args.get("resultToInject"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    Ok(self.engine.resume_call(id, &result).await?)
                }
                other => Err(PluginError::unknown_method("deno-executor", other)),
            }
        })
    }
}
