//! Turning engine state into run outcomes: the handler promise's state, thrown values and engine
//! errors become `RunOutcome`s and `TaskFailure`s. Reads the context; never runs task code except
//! for reading an error's `name`/`message`/`stack` and serialising the result.

use boa_engine::builtins::promise::PromiseState;
use boa_engine::error::EngineError;
use boa_engine::error::RuntimeLimitError;
use boa_engine::object::builtins::JsPromise;
use boa_engine::{Context, JsError, JsValue, js_string};
use serde_json::Value;

use crate::hostcall::to_json;
use crate::limits::LimitKind;
use crate::model::{FailureKind, RunOutcome, TaskFailure};
use crate::state::HostState;

pub(crate) const NEVER_SETTLES: &str = "task is waiting on a promise that can never settle \
     (no host call is outstanding and no job is queued; note: a recursion, stack-size or loop limit hit \
     after an `await` also ends here, because boa 0.22 drops engine errors in await continuations)";

/// The run's outcome from the handler promise, after the job queue has drained.
pub(crate) fn current_outcome(promise: &JsPromise, ctx: &mut Context) -> RunOutcome {
    if let Some(failure) = fatal(ctx) {
        return RunOutcome::Failed(failure);
    }
    // boa drops engine errors raised after an `await` (its await closure ignores the resumption's
    // completion), so an exhausted budget is detected from the counter, not from an error.
    #[cfg(feature = "instruction-budget")]
    if ctx.instructions_remaining() == 0 {
        let value = HostState::get(ctx)
            .map(|s| LimitKind::InstructionBudget.value_in(&s.limits))
            .unwrap_or_default();
        return RunOutcome::Failed(TaskFailure {
            kind: FailureKind::Limit(LimitKind::InstructionBudget),
            message: format!(
                "sandbox limit instruction_budget ({value}) exceeded: the run executed all its instructions"
            ),
            stack: None,
        });
    }
    match promise.state() {
        PromiseState::Fulfilled(value) => match to_json(&value, ctx) {
            Ok(json) => RunOutcome::Completed {
                result: json.unwrap_or(Value::Null),
            },
            Err(error) => RunOutcome::Failed(fatal(ctx).unwrap_or_else(|| TaskFailure {
                kind: FailureKind::ResultNotJson,
                message: format!("the task's result cannot be converted to JSON: {error}"),
                stack: None,
            })),
        },
        PromiseState::Rejected(reason) => {
            let (message, stack) = describe_error(&reason, ctx);
            RunOutcome::Failed(fatal(ctx).unwrap_or(TaskFailure {
                kind: FailureKind::Threw,
                message,
                stack,
            }))
        }
        PromiseState::Pending => match HostState::get(ctx) {
            Ok(state) if !state.parked.is_empty() => RunOutcome::Suspended {
                new_calls: std::mem::take(&mut state.new_calls),
                outstanding: state.parked.keys().copied().collect(),
            },
            Ok(_) => RunOutcome::Failed(TaskFailure {
                kind: FailureKind::NeverSettles,
                message: NEVER_SETTLES.to_owned(),
                stack: None,
            }),
            Err(error) => RunOutcome::Failed(engine_failure(&error, ctx)),
        },
    }
}

/// The poison set by limits or divergence, if any.
pub(crate) fn fatal(ctx: &mut Context) -> Option<TaskFailure> {
    HostState::get(ctx)
        .ok()
        .and_then(|state| state.fatal.clone())
}

/// A failure for an error that escaped to Rust (engine limits, aborts, or a thrown value).
pub(crate) fn engine_failure(error: &JsError, ctx: &mut Context) -> TaskFailure {
    if let Some(failure) = fatal(ctx) {
        return failure;
    }
    let limits = HostState::get(ctx).map(|s| s.limits.clone()).ok();
    let limit = match error.as_engine() {
        Some(EngineError::RuntimeLimit(RuntimeLimitError::LoopIteration)) => {
            Some(LimitKind::LoopIterations)
        }
        Some(EngineError::RuntimeLimit(RuntimeLimitError::Recursion)) => {
            Some(LimitKind::RecursionDepth)
        }
        Some(EngineError::RuntimeLimit(RuntimeLimitError::StackSize)) => Some(LimitKind::StackSize),
        #[cfg(feature = "instruction-budget")]
        Some(EngineError::NoInstructionsRemain) => Some(LimitKind::InstructionBudget),
        _ => None,
    };
    if let Some(kind) = limit {
        let value = limits.map_or_else(String::new, |l| kind.value_in(&l));
        return TaskFailure {
            kind: FailureKind::Limit(kind),
            message: format!("sandbox limit {} ({value}) exceeded: {error}", kind.name()),
            stack: None,
        };
    }
    if error.as_engine().is_some() {
        return TaskFailure {
            kind: FailureKind::Engine,
            message: format!("JavaScript engine error: {error}"),
            stack: None,
        };
    }
    let value = error.clone().into_opaque(ctx).unwrap_or_default();
    let (message, stack) = describe_error(&value, ctx);
    TaskFailure {
        kind: FailureKind::Threw,
        message,
        stack,
    }
}

/// `("Name: message", stack)` for an Error object; `("Uncaught <value>", None)` for other values.
pub(crate) fn describe_error(value: &JsValue, ctx: &mut Context) -> (String, Option<String>) {
    let Some(object) = value.as_object() else {
        let text = match value.as_string() {
            Some(s) => s.to_std_string_escaped(),
            None => value.display().to_string(),
        };
        return (format!("Uncaught {text}"), None);
    };
    let mut read = |key: &str| {
        object
            .get(js_string!(key), ctx)
            .ok()
            .and_then(|v| v.as_string().map(|s| s.to_std_string_escaped()))
    };
    let name = read("name");
    let message = read("message");
    let stack = read("stack").filter(|s| !s.trim().is_empty());
    match (name, message) {
        (Some(name), Some(message)) if !message.is_empty() => (format!("{name}: {message}"), stack),
        (Some(name), _) => (name, stack),
        (None, Some(message)) => (message, stack),
        (None, None) => (format!("Uncaught {}", value.display()), stack),
    }
}
