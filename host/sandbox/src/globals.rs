//! Builds a fresh sandbox context: deterministic clock and PRNG, no WeakRef/FinalizationRegistry,
//! plus `console`, `crypto.randomUUID`, `__callHostTool__` and the `tools` proxy. Adds nothing that
//! reaches the filesystem, network, environment, timers or host objects.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use boa_engine::object::builtins::JsFunction;
use boa_engine::object::{FunctionObjectBuilder, ObjectInitializer};
use boa_engine::property::{Attribute, PropertyDescriptor};
use boa_engine::{Context, JsNativeError, JsResult, JsValue, NativeFunction, Source, js_string};

use crate::clock::{SandboxHooks, SegmentClock};
use crate::console::console_object;
use crate::hostcall::call_host_tool;
use crate::limits::SandboxLimits;
use crate::rng::SeededRng;
use crate::state::HostState;

/// Globals removed because they are non-deterministic (GC timing).
const REMOVED_GLOBALS: &[&str] = &["WeakRef", "FinalizationRegistry"];

/// JavaScript for the `tools` proxy: `tools.svc.a.b(x, y)` calls `__callHostTool__("svc", ["a","b"], [x, y])`.
/// `then` is never a method so that awaiting a proxy does not call the host.
const TOOLS_PRELUDE: &str = r#"(function (call) {
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
})"#;

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
    let make_tools = ctx.eval(Source::from_bytes(TOOLS_PRELUDE))?;
    let make_tools = make_tools
        .as_callable()
        .ok_or_else(|| JsNativeError::typ().with_message("tools prelude is not a function"))?;
    let tools = make_tools.call(&JsValue::undefined(), &[host_call.into()], &mut ctx)?;
    ctx.register_global_property(js_string!("tools"), tools, Attribute::CONFIGURABLE)?;
    Ok((ctx, clock))
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
