//! `__callHostTool__`: validates and records a host call, returns a pending promise, and later settles
//! that promise from a delivered result. Also the JSON bridges used for arguments and results.
//! Never performs the call itself and never blocks: the caller executes parked calls.

use std::io::Write;

use boa_engine::error::{EngineError, PanicError};
use boa_engine::object::builtins::JsPromise;
use boa_engine::property::PropertyDescriptor;
use boa_engine::{Context, JsError, JsNativeError, JsResult, JsValue, js_string};
use serde_json::Value;

use crate::hash::args_hash;
use crate::limits::LimitKind;
use crate::model::{CallResult, FailureKind, ParkedCall};
use crate::state::HostState;

/// The native `__callHostTool__(service, methodPath, args)`.
pub(crate) fn call_host_tool(
    _this: &JsValue,
    args: &[JsValue],
    ctx: &mut Context,
) -> JsResult<JsValue> {
    if let Some(fatal) = &HostState::get(ctx)?.fatal {
        return Err(abort(fatal.message.clone()));
    }
    let service = service_name(args.first())?;
    let method = method_path(args.get(1), ctx)?;
    let call_args = call_arguments(args.get(2), &service, &method, ctx)?;
    let args_bytes = json_size(&call_args);
    let hash = args_hash(&call_args);

    let state = HostState::get(ctx)?;
    let seq = state.next_seq;
    if seq >= state.limits.max_host_calls {
        let message =
            format!("call #{seq} ({service}.{method}) would exceed the per-run host call limit");
        let error = state.poison_limit(LimitKind::HostCalls, message);
        return Err(abort(error.to_string()));
    }
    state.next_seq += 1;
    if let Err(error) =
        state.add_journal_bytes(args_bytes, &format!("the arguments of call #{seq}"))
    {
        return Err(abort(error.to_string()));
    }
    if let Some(journaled) = state.journal.get(seq as usize) {
        if journaled.service != service || journaled.method != method || journaled.args_hash != hash
        {
            let message = format!(
                "replay diverged at call #{seq}: the code called {service}.{method} with args hash {hash}, \
                 the journal holds {}.{} with args hash {}",
                journaled.service, journaled.method, journaled.args_hash
            );
            state.poison(FailureKind::Divergence, message.clone());
            return Err(abort(message));
        }
    } else if state.replaying {
        let message = format!(
            "replay diverged at call #{seq}: the code called {service}.{method}, but the journal holds only {} \
             calls before its next delivery",
            state.journal.len()
        );
        state.poison(FailureKind::Divergence, message.clone());
        return Err(abort(message));
    } else {
        state.new_calls.push(ParkedCall {
            seq,
            service,
            method,
            args: call_args,
            args_hash: hash,
        });
    }
    let (promise, resolvers) = JsPromise::new_pending(ctx);
    HostState::get(ctx)?.parked.insert(seq, resolvers);
    Ok(promise.into())
}

/// An error JavaScript cannot catch: it unwinds to the run, which then reports `HostState::fatal`.
pub(crate) fn abort(message: String) -> JsError {
    EngineError::from(PanicError::new(message)).into()
}

fn type_error(message: String) -> JsError {
    JsNativeError::typ().with_message(message).into()
}

fn service_name(value: Option<&JsValue>) -> JsResult<String> {
    match value.and_then(JsValue::as_string) {
        Some(name) if !name.is_empty() => Ok(name.to_std_string_escaped()),
        _ => Err(type_error(
            "__callHostTool__: the first argument (service name) must be a non-empty string"
                .to_owned(),
        )),
    }
}

fn method_path(value: Option<&JsValue>, ctx: &mut Context) -> JsResult<String> {
    let invalid = || {
        type_error(
            "__callHostTool__: the second argument (method path) must be a non-empty string or an array of strings"
                .to_owned(),
        )
    };
    let value = value.ok_or_else(invalid)?;
    if let Some(text) = value.as_string() {
        return if text.is_empty() {
            Err(invalid())
        } else {
            Ok(text.to_std_string_escaped())
        };
    }
    let Some(object) = value.as_object().filter(|o| o.is_array()) else {
        return Err(invalid());
    };
    let length = object.get(js_string!("length"), ctx)?.to_length(ctx)?;
    let mut parts = Vec::with_capacity(length as usize);
    for index in 0..length {
        let part = object.get(index, ctx)?;
        match part.as_string() {
            Some(text) if !text.is_empty() => parts.push(text.to_std_string_escaped()),
            _ => return Err(invalid()),
        }
    }
    if parts.is_empty() {
        return Err(invalid());
    }
    Ok(parts.join("."))
}

fn call_arguments(
    value: Option<&JsValue>,
    service: &str,
    method: &str,
    ctx: &mut Context,
) -> JsResult<Value> {
    let value = match value {
        None => return Ok(Value::Array(Vec::new())),
        Some(v) if v.is_undefined() => return Ok(Value::Array(Vec::new())),
        Some(v) if v.is_object() && !v.as_object().is_some_and(|o| o.is_callable()) => v.clone(),
        Some(_) => {
            return Err(type_error(format!(
                "__callHostTool__(\"{service}\", \"{method}\"): args must be an array or an object"
            )));
        }
    };
    match to_json(&value, ctx) {
        Ok(json) => Ok(json.unwrap_or(Value::Null)),
        Err(error) if error.as_engine().is_some() => Err(error),
        Err(error) => Err(type_error(format!(
            "__callHostTool__(\"{service}\", \"{method}\"): args cannot be converted to JSON: {error}"
        ))),
    }
}

/// `JSON.stringify(value)` with the original builtin, parsed into serde_json. `None` for `undefined`
/// (and functions/symbols). Cycles, BigInt and throwing getters surface as the JS error.
pub(crate) fn to_json(value: &JsValue, ctx: &mut Context) -> JsResult<Option<Value>> {
    refuse_polluted_prototypes(ctx)?;
    let stringify = HostState::get(ctx)?.json_stringify.clone();
    let text = stringify.call(&JsValue::undefined(), std::slice::from_ref(value), ctx)?;
    let Some(text) = text.as_string() else {
        return Ok(None);
    };
    serde_json::from_str(&text.to_std_string_escaped())
        .map(Some)
        .map_err(|e| type_error(format!("JSON.stringify produced invalid JSON: {e}")))
}

/// `JSON.stringify` looks `toJSON` up through the prototype chain, so a `toJSON` planted on a shared
/// built-in prototype would silently rewrite every argument and result. Refuse instead: the task
/// gets a specific error rather than the host receiving substituted data.
fn refuse_polluted_prototypes(ctx: &mut Context) -> JsResult<()> {
    let constructors = ctx.intrinsics().constructors();
    let prototypes = [
        ("Object", constructors.object().prototype()),
        ("Array", constructors.array().prototype()),
        ("String", constructors.string().prototype()),
        ("Number", constructors.number().prototype()),
        ("Boolean", constructors.boolean().prototype()),
        ("BigInt", constructors.bigint().prototype()),
    ];
    for (name, prototype) in prototypes {
        if prototype.has_own_property(js_string!("toJSON"), ctx)? {
            return Err(type_error(format!(
                "refusing to convert to JSON: {name}.prototype.toJSON was defined by the task \
                 (prototype pollution); define toJSON on your own classes instead"
            )));
        }
    }
    Ok(())
}

/// Settles the promise of call `seq` with `result`. The caller has checked that `seq` is parked.
pub(crate) fn settle_call(seq: u64, result: &CallResult, ctx: &mut Context) -> JsResult<()> {
    let state = HostState::get(ctx)?;
    let Some(resolvers) = state.parked.remove(&seq) else {
        return Err(abort(format!("call #{seq} is not waiting for a result")));
    };
    let bytes = match result {
        CallResult::Ok(value) => json_size(value),
        CallResult::Err(error) => error.message.len() + error.code.len(),
    };
    if bytes > state.limits.max_call_result_bytes {
        let error = state.poison_limit(
            LimitKind::CallResultBytes,
            format!("the result of call #{seq} is {bytes} bytes"),
        );
        return Err(abort(error.to_string()));
    }
    if let Err(error) = state.add_journal_bytes(bytes, &format!("the result of call #{seq}")) {
        return Err(abort(error.to_string()));
    }
    match result {
        CallResult::Ok(value) => {
            let value = JsValue::from_json(value, ctx)?;
            resolvers
                .resolve
                .call(&JsValue::undefined(), &[value], ctx)?;
        }
        CallResult::Err(failure) => {
            let error = JsNativeError::error()
                .with_message(failure.message.clone())
                .into_opaque(ctx);
            for (key, value) in [
                ("code", &failure.code),
                ("service", &failure.service),
                ("method", &failure.method),
            ] {
                let descriptor = PropertyDescriptor::builder()
                    .value(js_string!(value.as_str()))
                    .writable(true)
                    .enumerable(true)
                    .configurable(true);
                error.define_property_or_throw(js_string!(key), descriptor, ctx)?;
            }
            resolvers
                .reject
                .call(&JsValue::undefined(), &[error.into()], ctx)?;
        }
    }
    Ok(())
}

/// Compact JSON size of `value` without building the string.
pub(crate) fn json_size(value: &Value) -> usize {
    struct Counter(usize);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}
