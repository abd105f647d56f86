//! Finds a task's handler: CommonJS (`module.exports = fn`, `exports.main`, an object's first
//! function), ES modules (`export default` / `export async function main`) and plain scripts
//! (`async function main`). Compiles and evaluates the task's top level; never calls the handler.

use boa_engine::builtins::promise::PromiseState;
use boa_engine::module::Module;
use boa_engine::object::builtins::JsPromise;
use boa_engine::script::Script;
use boa_engine::{Context, JsObject, JsResult, JsValue, Source, js_string};

use crate::model::{FailureKind, TaskFailure};
use crate::outcome::{describe_error, engine_failure};

/// The task's handler and the `this` it is called with.
pub(crate) struct Handler {
    pub(crate) function: JsObject,
    pub(crate) this: JsValue,
}

/// Picks the CommonJS handler in JavaScript, outside the task's scope: `module.exports` if callable;
/// else its `main`, `default` or first own enumerable function property (the original's rule, with
/// `main` preferred); else a script-level `function main`. Yields `[handler, this]` or `undefined`.
const COMMONJS_PICK: &str = r#"
  const exported = pair[0], scriptMain = pair[1];
  if (typeof exported === "function") return [exported, undefined];
  if (exported !== null && typeof exported === "object") {
    for (const key of ["main", "default"]) if (typeof exported[key] === "function") return [exported[key], exported];
    for (const key of Object.keys(exported)) if (typeof exported[key] === "function") return [exported[key], exported];
  }
  return typeof scriptMain === "function" ? [scriptMain, undefined] : undefined;
})()"#;

/// Loads `code` and returns its handler, or the failure to report.
pub(crate) fn load_handler(
    code: &str,
    task_name: &str,
    ctx: &mut Context,
) -> Result<Handler, TaskFailure> {
    // The wrapper keeps line numbers: the task's first line is the wrapper's first line.
    let wrapped = format!(
        "(function () {{ const module = {{ exports: {{}} }}; const pair = (function (module, exports) {{{code}\n;\
         return [module.exports, typeof main === \"function\" ? main : undefined];\n\
         }}).call(module.exports, module, module.exports);{COMMONJS_PICK}"
    );
    match Script::parse(Source::from_bytes(wrapped.as_bytes()), None, ctx) {
        Ok(script) => {
            let picked = script
                .evaluate(ctx)
                .map_err(|e| top_level_failure(&e, ctx))?;
            let read = |index: u32, ctx: &mut Context| match picked.as_object() {
                Some(pair) => pair.get(index, ctx).map_err(|e| top_level_failure(&e, ctx)),
                None => Ok(JsValue::undefined()),
            };
            let function = read(0, ctx)?;
            let this = read(1, ctx)?;
            match function.as_object().filter(|o| o.is_callable()) {
                Some(function) => Ok(Handler {
                    function: function.clone(),
                    this,
                }),
                None => Err(no_handler(task_name)),
            }
        }
        Err(script_error) => {
            // Not a valid function body: maybe an ES module (export/import/top-level await).
            let module = match Module::parse(Source::from_bytes(code.as_bytes()), None, ctx) {
                Ok(module) => module,
                Err(module_error) => {
                    let error = if has_module_syntax(code) {
                        module_error
                    } else {
                        script_error
                    };
                    return Err(invalid(format!(
                        "task {task_name} does not compile: {error}"
                    )));
                }
            };
            module_handler(&module, task_name, ctx)
        }
    }
}

fn has_module_syntax(code: &str) -> bool {
    code.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("export ") || line.starts_with("export{") || line.starts_with("import ")
    })
}

fn module_handler(
    module: &Module,
    task_name: &str,
    ctx: &mut Context,
) -> Result<Handler, TaskFailure> {
    let evaluation = module.load_link_evaluate(ctx);
    ctx.run_jobs().map_err(|e| engine_failure(&e, ctx))?;
    match evaluation.state() {
        PromiseState::Fulfilled(_) => {}
        PromiseState::Rejected(reason) => {
            let (message, stack) = describe_error(&reason, ctx);
            return Err(TaskFailure {
                kind: FailureKind::InvalidTask,
                message: format!("task {task_name} failed while loading: {message}"),
                stack,
            });
        }
        PromiseState::Pending => {
            return Err(invalid(format!(
                "task {task_name} awaits at module top level; make host calls from the exported handler"
            )));
        }
    }
    let namespace = module.namespace(ctx);
    for key in ["default", "main"] {
        let value = namespace
            .get(js_string!(key), ctx)
            .map_err(|e| top_level_failure(&e, ctx))?;
        if let Some(function) = value.as_object().filter(|o| o.is_callable()) {
            return Ok(Handler {
                function: function.clone(),
                this: JsValue::undefined(),
            });
        }
    }
    Err(no_handler(task_name))
}

/// An error thrown by the task's top-level code (before the handler runs).
fn top_level_failure(error: &boa_engine::JsError, ctx: &mut Context) -> TaskFailure {
    let mut failure = engine_failure(error, ctx);
    if failure.kind == FailureKind::Threw {
        failure.kind = FailureKind::InvalidTask;
        failure.message = format!("task top-level code threw: {}", failure.message);
    }
    failure
}

fn invalid(message: String) -> TaskFailure {
    TaskFailure {
        kind: FailureKind::InvalidTask,
        message,
        stack: None,
    }
}

fn no_handler(task_name: &str) -> TaskFailure {
    invalid(format!(
        "no task handler found in {task_name}: expected `module.exports = async function (input) {{...}}`, \
         `exports.main = ...`, `export default async function`, `export async function main`, or a script \
         defining `async function main(input)`"
    ))
}

/// Wraps whatever the handler returned in a promise (a sync handler's value resolves at once).
pub(crate) fn as_promise(value: JsValue, ctx: &mut Context) -> JsResult<JsPromise> {
    if let Some(object) = value.as_object()
        && let Ok(promise) = JsPromise::from_object(object.clone())
    {
        return Ok(promise);
    }
    JsPromise::resolve(value, ctx)
}
