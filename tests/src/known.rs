//! What the tests know about the bundled plugins and the core services without asking
//! the host: service names, manifest method names and aliases. Keep in step with
//! `plugins/*/src/lib.rs` and the host's core services; it holds data only.

/// The core services every host serves, built into the binary.
pub const CORE_SERVICES: [&str; 3] = ["deno-executor", "simple-stack-processor", "task-executor"];

/// Core aliases: (alias, service).
pub const CORE_ALIASES: [(&str, &str); 2] =
    [("executor", "deno-executor"), ("tasks", "task-executor")];

/// `echo-service`'s manifest methods, in manifest order.
pub const ECHO_SERVICE_METHODS: [&str; 7] = [
    "echo",
    "sleep",
    "fail",
    "panic",
    "callService",
    "calls",
    "resetCalls",
];

/// `hello-world`'s manifest methods.
pub const HELLO_WORLD_METHODS: [&str; 1] = ["hello"];

/// The workspace version, which the bundled plugins report as theirs.
pub const WORKSPACE_VERSION: &str = env!("CARGO_PKG_VERSION");
