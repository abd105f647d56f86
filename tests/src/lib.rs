//! tasker-e2e: the harness the end-to-end tests share. [`TestHost`] copies real plugin
//! files into a fresh temporary directory, starts the real `tasker-host` binary on free
//! loopback ports, waits until it is ready and talks HTTP to it.
//!
//! This crate must never link the host or a plugin as a library: everything it proves goes
//! through the built binary, the built `.so` files and HTTP, exactly as a user sees them.

mod artifacts;
mod database;
mod fake_http;
mod http;
mod json;
pub mod known;
mod logs;
mod registry;
mod tasks;
mod test_host;

pub use artifacts::{cargo_target_dir, host_binary, plugin_file, plugin_file_name, profile_dir};
pub use database::{Backend, TestDatabase};
pub use fake_http::{FakeHttpServer, FakeRequest, FakeResponse};
pub use http::{Reply, client};
pub use json::{find_key, resolve_refs};
pub use logs::Logs;
pub use registry::{Endpoint, Registry, ServiceEntry};
pub use test_host::{StartFailure, TestHost, TestHostBuilder};

/// Runs test bodies on both backends: expands to modules `sqlite` and `postgres`, each with
/// one `#[test]` per listed function `fn(Backend) -> anyhow::Result<()>` of the calling module.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() -> anyhow::Result<()> { super::$name($crate::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() -> anyhow::Result<()> { super::$name($crate::Backend::Postgres) })*
        }
    };
}

/// What every test returns.
pub type Result<T = (), E = anyhow::Error> = std::result::Result<T, E>;
