//! Plugin files: discovery and loading, the host handle given to plugins, and the two
//! runtimes through which the host calls them (in-process on blocking threads, or isolated
//! in supervised `plugin-worker` child processes speaking a framed pipe protocol).

pub mod host_handle;
pub mod in_process;
pub mod isolated;
pub mod limits;
pub mod loader;
pub mod runtime;
pub mod supervisor;
pub mod wire;
pub mod worker;
pub mod worker_link;
