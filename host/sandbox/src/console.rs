//! The sandbox `console` object: log/info/warn/error/debug/trace lines captured into the run's host
//! state with their level and time, formatted JSON-like. Writes nowhere else (the caller decides).

use std::time::{SystemTime, UNIX_EPOCH};

use boa_engine::object::ObjectInitializer;
use boa_engine::{Context, JsObject, JsResult, JsValue, NativeFunction, js_string};

use crate::hostcall::{abort, to_json};
use crate::limits::LimitKind;
use crate::model::{LogLevel, LogLine};
use crate::state::HostState;

const DEBUG: u8 = 0;
const INFO: u8 = 1;
const WARN: u8 = 2;
const ERROR: u8 = 3;

/// Builds the `console` object.
pub(crate) fn console_object(ctx: &mut Context) -> JsObject {
    ObjectInitializer::new(ctx)
        .function(
            NativeFunction::from_fn_ptr(write::<INFO>),
            js_string!("log"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(write::<INFO>),
            js_string!("info"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(write::<WARN>),
            js_string!("warn"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(write::<ERROR>),
            js_string!("error"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(write::<DEBUG>),
            js_string!("debug"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(write::<DEBUG>),
            js_string!("trace"),
            0,
        )
        .build()
}

fn write<const LEVEL: u8>(
    _this: &JsValue,
    args: &[JsValue],
    ctx: &mut Context,
) -> JsResult<JsValue> {
    let mut parts = Vec::with_capacity(args.len());
    for arg in args {
        parts.push(format_value(arg, ctx)?);
    }
    let mut message = parts.join(" ");
    let state = HostState::get(ctx)?;
    if let Some(fatal) = &state.fatal {
        return Err(abort(fatal.message.clone()));
    }
    truncate(&mut message, state.limits.max_log_line_bytes);
    // Counted while replaying too, so live runs and replays fail at the same line.
    state.log_count += 1;
    state.log_bytes = state.log_bytes.saturating_add(message.len() as u64);
    if state.log_count > state.limits.max_log_lines {
        let count = state.log_count;
        let error = state.poison_limit(
            LimitKind::LogLines,
            format!(
                "console line #{count} would exceed the per-run console line limit (console flood)"
            ),
        );
        return Err(abort(error.to_string()));
    }
    if state.log_bytes > state.limits.max_log_bytes {
        let bytes = state.log_bytes;
        let error = state.poison_limit(
            LimitKind::LogBytes,
            format!("the run's console output reached {bytes} bytes (console flood)"),
        );
        return Err(abort(error.to_string()));
    }
    let level = match LEVEL {
        DEBUG => LogLevel::Debug,
        WARN => LogLevel::Warn,
        ERROR => LogLevel::Error,
        _ => LogLevel::Info,
    };
    if !state.suppress_logs {
        state.logs.push(LogLine {
            level,
            message,
            time_ms: wall_clock_ms(),
        });
    }
    Ok(JsValue::undefined())
}

fn truncate(message: &mut String, max_bytes: usize) {
    if message.len() <= max_bytes {
        return;
    }
    let mut cut = max_bytes;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let total = message.len();
    message.truncate(cut);
    message.push_str(&format!("… [truncated, {total} bytes]"));
}

/// Log time is wall-clock on purpose: lines are only reported by the segment that really ran them.
fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Strings as-is, errors with their stack, functions by name, everything else JSON-like.
fn format_value(value: &JsValue, ctx: &mut Context) -> JsResult<String> {
    if let Some(text) = value.as_string() {
        return Ok(text.to_std_string_escaped());
    }
    let Some(object) = value.as_object() else {
        return Ok(value.display().to_string());
    };
    if object.is_callable() {
        let name = object.get(js_string!("name"), ctx)?;
        let name = name
            .as_string()
            .map(|s| s.to_std_string_escaped())
            .unwrap_or_default();
        return Ok(if name.is_empty() {
            "[Function (anonymous)]".to_owned()
        } else {
            format!("[Function: {name}]")
        });
    }
    if object.is::<boa_engine::builtins::error::Error>() {
        return Ok(crate::outcome::describe_error(value, ctx).0);
    }
    match to_json(value, ctx) {
        Ok(Some(json)) => Ok(json.to_string()),
        Ok(None) => Ok(value.display().to_string()),
        Err(error) if error.as_engine().is_some() => Err(error),
        Err(error) => Ok(format!("[unserialisable object: {error}]")),
    }
}
