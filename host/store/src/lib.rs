//! tasker's persistence layer: task functions, task runs, the stack-run queue (the durable journal of
//! host calls), task logs and the host registry, on SQLite or PostgreSQL through sqlx's Any driver.
//!
//! This crate must not know anything about JavaScript, HTTP or plugins: values such as task input,
//! call arguments and results are opaque JSON text to it. Every queue state change is one named,
//! atomic function in [`queue`]; the statuses and their state machine are documented in [`status`].
//!
//! ```no_run
//! # async fn demo() -> tasker_store::Result<()> {
//! use tasker_store::{Store, StoreOptions};
//! let store = Store::connect("sqlite://tasker.db", StoreOptions::default()).await?;
//! let run = store.create_run(&tasker_store::NewRun::new("hello", "hash", "{}")).await?;
//! # let _ = run; Ok(()) }
//! ```

mod clock;
pub mod cluster;
mod connect;
mod error;
mod functions;
mod hosts;
mod logs;
mod model;
pub mod queue;
mod read;
mod sql;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::Clock;
pub use connect::{Backend, Store, StoreOptions, SyncMode};
pub use error::{Error, Result};
pub use functions::{NewFunction, TaskFunction};
pub use hosts::{HostInfo, NewHost};
pub use logs::{NewLog, TaskLog};
pub use model::{StackRun, TaskRun};
pub use queue::{
    CallClaim, CallOutcome, EndOutcome, Enqueued, Lease, LeaseScope, NewCall, NewRun, Reclaimed,
    RetryOutcome, RunClaim, RunWake, SegmentEnd, SuspendOutcome,
};
pub use read::RunPage;
pub use status::{StackRunStatus, TaskRunStatus};
