//! Service names the host knows before any plugin loads: the seed's nine services in the
//! seed README's port order, and the original's edge-function names as aliases.

/// The bundled services in port order (base port + index).
pub const SEED_ORDER: [&str; 9] = [
    "deno-executor",
    "simple-stack-processor",
    "task-executor",
    "gapi",
    "keystore",
    "supabase",
    "openai",
    "websearch",
    "admin-debug",
];

/// The services built into the host (the durable engine), always present.
pub const CORE_SERVICES: [&str; 3] = ["deno-executor", "simple-stack-processor", "task-executor"];

/// Aliases that resolve to a service name, whether or not the plugin declares them.
pub const SEED_ALIASES: [(&str, &str); 9] = [
    ("executor", "deno-executor"),
    ("tasks", "task-executor"),
    ("database", "supabase"),
    ("wrappedgapi", "gapi"),
    ("wrappedkeystore", "keystore"),
    ("wrappedsupabase", "supabase"),
    ("wrappedopenai", "openai"),
    ("wrappedwebsearch", "websearch"),
    ("wrappedadmin-debug", "admin-debug"),
];

/// The seed aliases of `service`.
pub fn seed_aliases_of(service: &str) -> impl Iterator<Item = &'static str> + '_ {
    SEED_ALIASES
        .iter()
        .filter(move |(_, target)| *target == service)
        .map(|(alias, _)| *alias)
}

/// The port offset of a seed service, if it is one.
pub fn seed_offset(service: &str) -> Option<u16> {
    SEED_ORDER
        .iter()
        .position(|s| *s == service)
        .map(|i| i as u16)
}
