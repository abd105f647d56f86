//! Builds a fresh sandbox context: deterministic clock and PRNG, no WeakRef/FinalizationRegistry,
//! plus `console`, `crypto.randomUUID`, `__callHostTool__` and the `tools` proxy (built on first
//! use). Adds nothing that reaches the filesystem, network, environment, timers or host objects.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use boa_engine::object::builtins::JsFunction;
use boa_engine::object::{FunctionObjectBuilder, ObjectInitializer};
use boa_engine::property::{Attribute, PropertyDescriptor};
use boa_engine::{Context, JsNativeError, JsResult, JsValue, NativeFunction, js_string};

use crate::clock::{SandboxHooks, SegmentClock};
use crate::console::console_object;
use crate::hostcall::call_host_tool;
use crate::limits::SandboxLimits;
use crate::rng::SeededRng;
use crate::state::HostState;

/// Globals removed because they are non-deterministic (GC timing).
const REMOVED_GLOBALS: &[&str] = &["WeakRef", "FinalizationRegistry"];

/// Body of the function that makes the `tools` proxy from `call` (`__callHostTool__`):
/// `tools.svc.a.b(x, y)` calls `call("svc", ["a","b"], [x, y])`. `then` is never a method so
/// that awaiting a proxy does not call the host.
const TOOLS_BODY: &str = r#"
  "use strict";
  function method(service, path) {
    return new Proxy(function () {}, {
      get(target, key) {
        if (typeof key !== "string" || key === "then") return undefined;
        return method(service, path.concat([key]));
      },
      apply(target, self, args) {
        if (path.length === 0) {
          throw new TypeError("tools." + service + " is a service; call one of its methods, e.g. tools." + service + ".method(...)");
        }
        return call(service, path, args);
      },
    });
  }
  return new Proxy(Object.create(null), {
    get(target, service) {
      if (typeof service !== "string" || service === "then") return undefined;
      return method(service, []);
    },
  });
"#;

/// A context built ahead of need (seed and start time still to set), so that starting a run
/// does not pay for building one: boa's realm set-up is the largest fixed cost of a short task.
pub(crate) struct SpareContext {
    ctx: Context,
    clock: Rc<SegmentClock>,
}

impl SpareContext {
    /// Builds a context for a later run under `limits`.
    pub(crate) fn build(limits: Arc<SandboxLimits>) -> JsResult<Self> {
        let (ctx, clock) = new_context(limits, 0, 0)?;
        Ok(Self { ctx, clock })
    }

    /// The context for a run with `seed` starting at `start_time_ms`: the same state a fresh
    /// [`new_context`] would have (no code has run in it; only the PRNG and clock differ).
    pub(crate) fn into_run(
        mut self,
        seed: u64,
        start_time_ms: i64,
    ) -> JsResult<(Context, Rc<SegmentClock>)> {
        HostState::get(&mut self.ctx)?.rng = SeededRng::new(seed);
        self.clock.set(start_time_ms);
        Ok((self.ctx, self.clock))
    }
}

/// A fresh context and its clock, with the host state installed.
pub(crate) fn new_context(
    limits: Arc<SandboxLimits>,
    seed: u64,
    start_time_ms: i64,
) -> JsResult<(Context, Rc<SegmentClock>)> {
    let clock = SegmentClock::new(start_time_ms);
    let builder = Context::builder()
        .clock(clock.clone())
        .host_hooks(Rc::new(SandboxHooks));
    #[cfg(feature = "instruction-budget")]
    let builder = builder.instructions_remaining(
        limits
            .instruction_budget
            .map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX)),
    );
    let mut ctx = builder.build()?;
    ctx.set_runtime_limits(limits.runtime_limits());

    let global = ctx.global_object();
    for name in REMOVED_GLOBALS {
        global.delete_property_or_throw(js_string!(*name), &mut ctx)?;
    }
    let json_stringify = builtin_function(&mut ctx, "JSON", "stringify")?;
    ctx.insert_data(HostState {
        limits,
        next_seq: 0,
        parked: BTreeMap::new(),
        new_calls: Vec::new(),
        journal: Vec::new(),
        replaying: false,
        journal_bytes: 0,
        rng: SeededRng::new(seed),
        json_stringify,
        logs: Vec::new(),
        log_count: 0,
        log_bytes: 0,
        suppress_logs: false,
        fatal: None,
        tools: None,
    });

    let math = global.get(js_string!("Math"), &mut ctx)?;
    let math = math
        .as_object()
        .ok_or_else(|| JsNativeError::typ().with_message("Math is missing"))?;
    let random = native(&ctx, math_random, "random", 0);
    math.define_property_or_throw(js_string!("random"), method_descriptor(random), &mut ctx)?;

    let random_uuid = native(&ctx, random_uuid, "randomUUID", 0);
    let crypto = ObjectInitializer::new(&mut ctx)
        .property(js_string!("randomUUID"), random_uuid, Attribute::all())
        .build();
    ctx.register_global_property(
        js_string!("crypto"),
        crypto,
        Attribute::WRITABLE | Attribute::CONFIGURABLE,
    )?;

    let console = console_object(&mut ctx);
    ctx.register_global_property(
        js_string!("console"),
        console,
        Attribute::WRITABLE | Attribute::CONFIGURABLE,
    )?;

    let host_call = native(&ctx, call_host_tool, "__callHostTool__", 3);
    ctx.register_global_property(
        js_string!("__callHostTool__"),
        host_call.clone(),
        Attribute::WRITABLE | Attribute::CONFIGURABLE,
    )?;
    // `tools` is built on first use: evaluating its prelude costs about as much again as the
    // rest of a context (0.36 of 0.84 ms, release build), and most tasks never touch it.
    let build_tools = NativeFunction::from_copy_closure_with_captures(install_tools, host_call);
    let getter = FunctionObjectBuilder::new(ctx.realm(), build_tools)
        .name(js_string!("get tools"))
        .length(0)
        .build();
    let lazy_tools = PropertyDescriptor::builder()
        .get(getter)
        .enumerable(false)
        .configurable(true)
        .build();
    global.define_property_or_throw(js_string!("tools"), lazy_tools, &mut ctx)?;
    Ok((ctx, clock))
}

/// The `tools` getter. The first use builds the proxy maker with the intrinsic `Function`
/// constructor (a script evaluation cannot run inside a getter; a dynamic function can), calls
/// it with the original `__callHostTool__` (a task may overwrite the global one) and keeps the
/// proxy in the host state; later uses return the same proxy. (The property stays an accessor:
/// redefining the global inside its own getter confused boa's property caches.) Deterministic:
/// this reads no clock, PRNG or host state, so a replay builds the same proxy at the same point.
fn install_tools(
    _this: &JsValue,
    _args: &[JsValue],
    host_call: &JsFunction,
    ctx: &mut Context,
) -> JsResult<JsValue> {
    if let Some(tools) = &HostState::get(ctx)?.tools {
        return Ok(tools.clone().into());
    }
    let function = ctx.intrinsics().constructors().function().constructor();
    let source = [js_string!("call").into(), js_string!(TOOLS_BODY).into()];
    let make_tools = function.construct(&source, None, ctx)?;
    let tools = make_tools.call(&JsValue::undefined(), &[host_call.clone().into()], ctx)?;
    let proxy = tools
        .as_object()
        .ok_or_else(|| JsNativeError::typ().with_message("the tools proxy is not an object"))?;
    HostState::get(ctx)?.tools = Some(proxy.clone());
    Ok(tools)
}

fn native(
    ctx: &Context,
    function: fn(&JsValue, &[JsValue], &mut Context) -> JsResult<JsValue>,
    name: &str,
    length: usize,
) -> JsFunction {
    FunctionObjectBuilder::new(ctx.realm(), NativeFunction::from_fn_ptr(function))
        .name(js_string!(name))
        .length(length)
        .build()
}

fn method_descriptor(function: JsFunction) -> PropertyDescriptor {
    PropertyDescriptor::builder()
        .value(function)
        .writable(true)
        .enumerable(false)
        .configurable(true)
        .build()
}

fn builtin_function(ctx: &mut Context, object: &str, name: &str) -> JsResult<JsFunction> {
    let holder = ctx.global_object().get(js_string!(object), ctx)?;
    let function = holder
        .as_object()
        .map(|o| o.get(js_string!(name), ctx))
        .transpose()?
        .and_then(|f| f.as_object().and_then(JsFunction::from_object));
    function.ok_or_else(|| {
        JsNativeError::typ()
            .with_message(format!("{object}.{name} is missing"))
            .into()
    })
}

fn math_random(_this: &JsValue, _args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    Ok(JsValue::new(HostState::get(ctx)?.rng.next_f64()))
}

fn random_uuid(_this: &JsValue, _args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let uuid = HostState::get(ctx)?.rng.next_uuid();
    Ok(js_string!(uuid.as_str()).into())
}
