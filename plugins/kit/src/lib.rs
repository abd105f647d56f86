//! tasker-plugin-kit: helpers that several bundled plugins share, so each plugin keeps only
//! its own logic. [`http`] is a retrying blocking HTTP client with upstream error mapping,
//! [`credentials`] a cached keystore-then-environment secret lookup through the host
//! handle, and [`time`] ISO-8601 UTC formatting.
//!
//! It is an ordinary library linked into each plugin cdylib. It must not contain ABI code
//! (no `extern "C"`, no abi_stable, no `export_plugin!`) and must not depend on host
//! internals: its only workspace dependency is `tasker-plugin-api`.

pub mod credentials;
pub mod http;
pub mod time;
