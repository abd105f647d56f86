//! Plugin files: discovery and loading, the host handle given to plugins, and the
//! blocking-thread runtime through which the host calls them.

pub mod host_handle;
pub mod loader;
pub mod runtime;
