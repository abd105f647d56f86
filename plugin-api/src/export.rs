//! The [`export_plugin!`](crate::export_plugin) macro and the panic-guarded shims it
//! instantiates. Everything unsafe or `extern "C"` that a plugin needs lives here, so
//! plugin crates hold only their logic. A panic never unwinds across the boundary: each
//! shim catches it and returns a `PLUGIN_PANIC` error, and the plugin keeps serving.

/// Declares the type that implements [`crate::Plugin`] as this cdylib's plugin.
///
/// ```ignore
/// struct Hello;
/// impl tasker_plugin_api::Plugin for Hello { /* ... */ }
/// tasker_plugin_api::export_plugin!(Hello);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        // The exported root-module symbol needs `export_name`, which the `unsafe_code` lint
        // flags; the symbol's contents are built by safe, layout-checked abi_stable code.
        #[allow(unsafe_code)]
        mod __tasker_plugin_export {
            use super::*;
            use $crate::__private as p;

            type Slot = p::Slot<$plugin>;
            static SLOT: Slot = p::Slot::new();

            extern "C" fn api_version() -> u32 {
                $crate::API_VERSION
            }
            extern "C" fn manifest() -> p::RResult<p::RString, $crate::RPluginError> {
                p::manifest::<$plugin>()
            }
            extern "C" fn init(
                host: $crate::HostHandle,
                config: p::RStr<'_>,
            ) -> p::RResult<(), $crate::RPluginError> {
                p::init::<$plugin>(&SLOT, host, config)
            }
            extern "C" fn call(
                method: p::RStr<'_>,
                args: p::RStr<'_>,
                ctx: p::RStr<'_>,
            ) -> p::RResult<p::RString, $crate::RPluginError> {
                p::call::<$plugin>(&SLOT, method, args, ctx)
            }
            extern "C" fn health() -> p::RResult<p::RString, $crate::RPluginError> {
                p::health::<$plugin>(&SLOT)
            }
            extern "C" fn shutdown() {
                p::shutdown::<$plugin>(&SLOT)
            }
            fn root_module() -> $crate::PluginModuleRef {
                p::root_module(p::Shims {
                    api_version,
                    manifest,
                    init,
                    call,
                    health,
                    shutdown,
                })
            }
            extern "C" fn loader() -> p::RootModuleResult {
                p::load_root_module(root_module)
            }

            #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
            pub static TASKER_PLUGIN_ROOT: p::LibHeader = p::lib_header(loader);
        }
    };
}

#[doc(hidden)]
pub mod __private {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::OnceLock;

    pub use abi_stable::library::{LibHeader, RootModuleResult};
    use abi_stable::prefix_type::PrefixTypeTrait;
    pub use abi_stable::std_types::{RResult, RStr, RString};

    use crate::{
        CallContext, ErrorCode, Host, HostHandle, Plugin, PluginError, PluginModule,
        PluginModuleRef, RPluginError,
    };

    /// The symbol name abi_stable looks for; a unit test pins it to abi_stable's constant.
    pub const ROOT_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

    /// Holds the one plugin instance built by `init`.
    pub struct Slot<P>(OnceLock<P>);

    impl<P> Slot<P> {
        #[allow(clippy::new_without_default)] // used in a `static`, which needs a const fn
        pub const fn new() -> Self {
            Self(OnceLock::new())
        }
    }

    /// The six shims the macro instantiates for one plugin type.
    pub struct Shims {
        pub api_version: extern "C" fn() -> u32,
        pub manifest: extern "C" fn() -> RResult<RString, RPluginError>,
        pub init: extern "C" fn(HostHandle, RStr<'_>) -> RResult<(), RPluginError>,
        pub call: extern "C" fn(RStr<'_>, RStr<'_>, RStr<'_>) -> RResult<RString, RPluginError>,
        pub health: extern "C" fn() -> RResult<RString, RPluginError>,
        pub shutdown: extern "C" fn(),
    }

    pub fn root_module(s: Shims) -> PluginModuleRef {
        PluginModule {
            api_version: s.api_version,
            manifest: s.manifest,
            init: s.init,
            call: s.call,
            health: s.health,
            shutdown: s.shutdown,
        }
        .leak_into_prefix()
    }

    pub fn load_root_module(f: fn() -> PluginModuleRef) -> RootModuleResult {
        abi_stable::library::__call_root_module_loader(f)
    }

    pub const fn lib_header(loader: extern "C" fn() -> RootModuleResult) -> LibHeader {
        // SAFETY: `loader` returns the `PluginModuleRef` root module, which is exactly the
        // type the layout constants describe; abi_stable checks the layout at load time.
        #[allow(unsafe_code)]
        unsafe {
            LibHeader::from_constructor::<PluginModuleRef>(
                loader,
                abi_stable::library::CheckTypeLayout::Yes,
            )
        }
    }

    /// Runs `f`, turning a panic into a `PLUGIN_PANIC` error with the panic message.
    fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, RPluginError> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(v)) => RResult::ROk(v),
            Ok(Err(e)) => RResult::RErr(e.into()),
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic payload".to_owned());
                RResult::RErr(
                    PluginError::new(ErrorCode::PluginPanic, format!("plugin panicked: {text}"))
                        .into(),
                )
            }
        }
    }

    fn instance<P>(slot: &Slot<P>) -> Result<&P, PluginError> {
        slot.0
            .get()
            .ok_or_else(|| PluginError::new(ErrorCode::Configuration, "plugin used before init"))
    }

    fn to_json_text(v: &serde_json::Value) -> RString {
        RString::from(v.to_string())
    }

    pub fn manifest<P: Plugin>() -> RResult<RString, RPluginError> {
        guard(|| {
            let m = P::manifest();
            serde_json::to_string(&m)
                .map(RString::from)
                .map_err(|e| PluginError::internal(format!("manifest is not serialisable: {e}")))
        })
    }

    pub fn init<P: Plugin>(
        slot: &Slot<P>,
        host: HostHandle,
        config: RStr<'_>,
    ) -> RResult<(), RPluginError> {
        guard(|| {
            let config: serde_json::Value = if config.is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                serde_json::from_str(config.as_str()).map_err(|e| {
                    PluginError::validation(format!("plugin configuration is not JSON: {e}"))
                })?
            };
            if slot.0.get().is_some() {
                return Ok(()); // the same file loaded twice shares its statics: init once
            }
            let plugin = P::init(Host::new(host), config)?;
            let _ = slot.0.set(plugin);
            Ok(())
        })
    }

    pub fn call<P: Plugin>(
        slot: &Slot<P>,
        method: RStr<'_>,
        args: RStr<'_>,
        ctx: RStr<'_>,
    ) -> RResult<RString, RPluginError> {
        guard(|| {
            let plugin = instance(slot)?;
            let args: serde_json::Value = serde_json::from_str(args.as_str())
                .map_err(|e| PluginError::validation(format!("arguments are not JSON: {e}")))?;
            let ctx: CallContext = if ctx.is_empty() {
                CallContext::default()
            } else {
                serde_json::from_str(ctx.as_str())
                    .map_err(|e| PluginError::internal(format!("call context is not valid: {e}")))?
            };
            plugin
                .call(method.as_str(), args, &ctx)
                .map(|v| to_json_text(&v))
        })
    }

    pub fn health<P: Plugin>(slot: &Slot<P>) -> RResult<RString, RPluginError> {
        guard(|| instance(slot)?.health().map(|v| to_json_text(&v)))
    }

    pub fn shutdown<P: Plugin>(slot: &Slot<P>) {
        let _ = guard(|| {
            if let Ok(p) = instance(slot) {
                p.shutdown();
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_symbol_matches_abi_stable() {
        assert_eq!(
            super::__private::ROOT_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
