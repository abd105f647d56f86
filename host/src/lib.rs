//! tasker-host: a plugin host that discovers service plugins (abi_stable cdylibs), serves
//! each on its own port and through one gateway with OpenAPI documents and Swagger UI,
//! and routes every call (HTTP, task or plugin-to-plugin) through one registry.
//!
//! The binary (`main.rs`) only parses the CLI, sets up logging and calls into this library.
//! This crate must never depend on a concrete plugin: plugins are found at run time.

pub mod auth;
pub mod bench;
pub mod cluster_cmd;
pub mod config;
pub mod engine;
pub mod http;
pub mod keys_cmd;
pub mod logging;
pub mod openapi_cmd;
pub mod plugins;
pub mod publish_cmd;
pub mod registry;
pub mod registry_file;
pub mod run_cmd;
pub mod scaffold;
pub mod server;
pub mod services;

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
