//! Host-call execution: claims ready stack runs, calls the service through the registry
//! with the call's context (task run, stack run, idempotency key, attempt) under a
//! timeout, and settles the journal entry: complete, retry later (retryable errors only,
//! exponential backoff with jitter) or fail. `tasks.execute` starts a child run and
//! settles with the child's result. Only the lease owner settles a call.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tasker_plugin_api::{CallContext, ErrorCode, PluginError};
use tasker_store::queue::{CallClaim, CallOutcome, RetryOutcome};
use tasker_store::{StackRun, TaskRunStatus};

use super::Causes;
use super::batch::JournalWriter;
use super::journal::error_text;
use super::segment::SegmentStart;
use super::{Engine, EngineError};

/// How a dispatched call ends.
enum Settle {
    Complete(Value),
    Retry(PluginError),
    Fail(PluginError),
}

/// Errors worth retrying: timeouts, rate limits, upstream and internal (5xx) failures.
pub fn is_retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Timeout
            | ErrorCode::RateLimit
            | ErrorCode::ExternalService
            | ErrorCode::Internal
            | ErrorCode::Configuration
    )
}

impl Engine {
    /// Claims ready calls (new, retried or reclaimed) and dispatches them.
    pub(super) async fn call_loop(self: Arc<Self>) {
        loop {
            if self.draining() {
                return;
            }
            let free = self.call_slots.available_permits().min(256);
            // Several hosts may carry different plugins: take only calls this host can run.
            let services = self.capability_filter().then(|| self.served());
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                self.store
                    .claim_calls(&CallClaim {
                        lease: self.lease(),
                        limit: free as i64,
                        services,
                    })
                    .await
            };
            match claimed {
                Ok(calls) if !calls.is_empty() => {
                    for call in calls {
                        self.spawn_dispatch(call, false);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("claiming calls failed (will retry): {}", Causes(&e)),
            }
            let _ = tokio::time::timeout(self.cfg.poll_interval, self.wake_calls.notified()).await;
        }
    }

    /// Runs a call this host holds the lease of, in its own task. `sole`: its run waits on
    /// nothing else, so its result may resume the live context before it is journaled.
    pub(super) fn spawn_dispatch(self: &Arc<Self>, call: StackRun, sole: bool) {
        let engine = self.clone();
        super::hold(&self.held_calls, call.id, true);
        tokio::spawn(async move {
            let call_id = call.id;
            if let Ok(_permit) = engine.call_slots.clone().acquire_owned().await {
                engine.dispatch(call, sole).await;
            }
            super::hold(&engine.held_calls, call_id, false);
        });
    }

    async fn dispatch(self: &Arc<Self>, call: StackRun, sole: bool) {
        let settle = self.execute_call(&call).await;
        let owner = self.cfg.owner.as_str();
        let outcome = match settle {
            Settle::Complete(value) => match self.journal.get() {
                Some(batch) => {
                    // Resuming here is worth a take-over only where the live context is.
                    let hand_off = self.cfg.live_cache
                        && !self.draining()
                        && self.sandbox.may_be_live(call.task_run_id);
                    if hand_off
                        && sole
                        && let Ok(slot) = self.segment_slots.clone().try_acquire_owned()
                    {
                        return self.resume_early(batch, call, value, slot).await;
                    }
                    return self.journal_completion(batch, &call, value, hand_off).await;
                }
                None => self
                    .store
                    .complete_call(call.id, owner, &value.to_string())
                    .await
                    .map_err(Into::into),
            },
            Settle::Retry(e) if call.attempts < call.max_attempts => {
                let backoff = self.backoff(call.attempts);
                tracing::debug!(
                    call_id = call.id,
                    attempt = call.attempts,
                    "retrying {}.{} in {backoff:?}: {}",
                    call.service,
                    call.method,
                    e.message
                );
                let text = error_text(e.code.as_str(), &e.message, &call.service, &call.method);
                match self
                    .store
                    .retry_call(call.id, owner, &text, backoff.as_millis() as i64)
                    .await
                {
                    Ok(RetryOutcome::Scheduled { .. }) => {
                        let engine = self.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(backoff).await;
                            engine.wake_calls.notify_one();
                        });
                    }
                    Ok(RetryOutcome::NotOwner) => {
                        tracing::warn!(call_id = call.id, "lost the call's lease before retrying")
                    }
                    Err(e) => tracing::error!(
                        call_id = call.id,
                        "recording a retry failed: {}",
                        Causes(&e)
                    ),
                }
                return;
            }
            Settle::Retry(e) | Settle::Fail(e) => {
                let text = error_text(e.code.as_str(), &e.message, &call.service, &call.method);
                self.store
                    .fail_call(call.id, owner, &text)
                    .await
                    .map_err(Into::into)
            }
        };
        self.report_settled(call.id, outcome);
    }

    /// Journals a call's result with the next batch, taking its run over if `hand_off` and the
    /// result wakes it (see [`tasker_store::queue::Completion`]).
    pub(super) async fn journal_completion(
        self: &Arc<Self>,
        batch: &JournalWriter,
        call: &StackRun,
        value: Value,
        hand_off: bool,
    ) {
        let done = batch
            .complete(call.task_run_id, (call.id, call.seq), value, hand_off)
            .await;
        let outcome = match done {
            Ok(done) => match done.handed_off {
                Some((run, results)) => {
                    return self.spawn_held(*run, SegmentStart::HandedOff(results));
                }
                None => Ok(done.outcome),
            },
            Err(e) => Err(e),
        };
        self.report_settled(call.id, outcome);
    }

    /// Acts on a settled call's outcome: wakes the run loop for a run made resumable, logs a
    /// lost lease or a failed write.
    pub(super) fn report_settled(&self, call_id: i64, outcome: Result<CallOutcome, EngineError>) {
        match outcome {
            Ok(CallOutcome::Settled(wake)) => {
                if wake.run_status == TaskRunStatus::Resumable {
                    self.wake_runs.notify_one();
                }
            }
            Ok(CallOutcome::NotOwner) => {
                tracing::warn!(
                    call_id,
                    "lost the call's lease; its result was discarded (another host owns it)"
                )
            }
            Err(e) => tracing::error!(call_id, "settling the call failed: {}", Causes(&e)),
        }
    }

    fn backoff(&self, attempt: i64) -> Duration {
        let exp = self
            .cfg
            .retry_base
            .saturating_mul(1u32 << attempt.clamp(0, 10) as u32);
        let capped = exp.min(Duration::from_secs(30));
        // Full jitter in [50%, 100%] so retries of many calls do not arrive together.
        let jitter = 0.5 + 0.5 * (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        capped.mul_f64(jitter)
    }

    async fn execute_call(self: &Arc<Self>, call: &StackRun) -> Settle {
        let Some(registry) = self.registry() else {
            return Settle::Retry(PluginError::new(
                ErrorCode::Configuration,
                "the host is shutting down",
            ));
        };
        if let Err(e) = self.authorize_call(&registry, call).await {
            return if is_retryable(e.code) {
                Settle::Retry(e)
            } else {
                Settle::Fail(e)
            };
        }
        let args: Value = serde_json::from_str(&call.args).unwrap_or(Value::Null);
        // Resolved once: the canonical name decides nesting and the per-service timeout.
        let canonical = registry
            .resolve(&call.service)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let is_nested = canonical == "task-executor" && call.method == "execute";
        if is_nested {
            return self.run_nested(call, args).await;
        }
        let ctx = CallContext {
            request_id: None,
            task_run_id: Some(call.task_run_id),
            stack_run_id: Some(call.id),
            idempotency_key: Some(call.idempotency_key.clone()),
            attempt: u32::try_from(call.attempts).ok(),
            caller: None,
            scope: None,
        };
        let timeout = self
            .cfg
            .service_timeouts
            .get(&call.service)
            .or_else(|| self.cfg.service_timeouts.get(&canonical))
            .copied()
            .unwrap_or(self.cfg.call_timeout);
        let result = tokio::time::timeout(
            timeout,
            registry.call(&call.service, &call.method, args, ctx),
        )
        .await;
        match result {
            Ok(Ok(value)) => Settle::Complete(value),
            Ok(Err(e)) if is_retryable(e.code) => Settle::Retry(e),
            Ok(Err(e)) => Settle::Fail(e),
            Err(_) => Settle::Retry(PluginError::new(
                ErrorCode::Timeout,
                format!(
                    "{}.{} did not finish within {} s",
                    call.service,
                    call.method,
                    timeout.as_secs_f64()
                ),
            )),
        }
    }

    /// `tasks.execute({taskName | task_identifier, input})`: starts (or finds, after a
    /// crash) the child run and settles with its result once it ends.
    async fn run_nested(self: &Arc<Self>, call: &StackRun, args: Value) -> Settle {
        let (name, input) = nested_args(&args);
        let Some(name) = name else {
            return Settle::Fail(PluginError::validation(
                "tasks.execute needs {taskName, input}",
            ));
        };
        let child = match self.store.child_run(call.id).await {
            Ok(Some(child)) => child,
            Ok(None) => match self.submit(&name, &input, Some(call.id)).await {
                Ok(run) => run,
                // The database being down is not the task's fault: try again later
                // instead of failing the parent's call for good.
                Err(e @ (super::EngineError::Store(_) | super::EngineError::Batch(_))) => {
                    return Settle::Retry(e.into());
                }
                Err(e) => return Settle::Fail(e.into()),
            },
            Err(e) => {
                return Settle::Retry(PluginError::new(
                    ErrorCode::Configuration,
                    format!("database: {}", Causes(&e)),
                ));
            }
        };
        loop {
            match self.wait_for_end(child.id, Duration::from_secs(3600)).await {
                Ok(Some(run)) if run.status == TaskRunStatus::Completed => {
                    let value = run
                        .result
                        .as_deref()
                        .and_then(|r| serde_json::from_str(r).ok())
                        .unwrap_or(Value::Null);
                    return Settle::Complete(value);
                }
                Ok(Some(run)) if run.status.is_terminal() => {
                    let message = run
                        .error
                        .as_deref()
                        .and_then(|e| serde_json::from_str::<Value>(e).ok())
                        .and_then(|e| e.get("message").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_else(|| format!("child run {} {}", run.id, run.status.as_str()));
                    return Settle::Fail(PluginError::new(
                        ErrorCode::ExternalService,
                        format!("task '{name}' (run {}) failed: {message}", run.id),
                    ));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Settle::Fail(PluginError::internal(format!(
                        "child run {} disappeared",
                        child.id
                    )));
                }
                Err(e) => {
                    return Settle::Retry(PluginError::new(
                        ErrorCode::Configuration,
                        format!("database: {}", Causes(&e)),
                    ));
                }
            }
        }
    }
}

/// Reads `{taskName|task_identifier|name, input}` or `[name, input]`.
fn nested_args(args: &Value) -> (Option<String>, Value) {
    match args {
        Value::Array(items) => (
            items.first().and_then(Value::as_str).map(str::to_owned),
            items
                .get(1)
                .cloned()
                .unwrap_or(Value::Object(Default::default())),
        ),
        Value::Object(obj) => (
            ["taskName", "task_identifier", "name"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_str))
                .map(str::to_owned),
            obj.get("input")
                .cloned()
                .unwrap_or(Value::Object(Default::default())),
        ),
        _ => (None, Value::Null),
    }
}
