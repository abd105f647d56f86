//! Host-side errors of the sandbox API (the executor itself failed, or the caller asked for something
//! impossible). Task failures are not errors: they are `RunOutcome::Failed`.

use crate::model::RunId;

/// Errors returned by [`crate::Sandbox`] methods.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An executor thread could not be started.
    #[error("starting sandbox executor thread {index}: {source}")]
    SpawnExecutor {
        /// Thread index.
        index: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// The executor thread owning the run is gone (it panicked outside a segment, or shut down).
    #[error("sandbox executor thread for run {run_id} is gone")]
    ExecutorGone {
        /// The run whose thread is gone.
        run_id: RunId,
    },
    /// The engine panicked while running a segment; the run's live context was dropped.
    #[error("the JavaScript engine panicked while running run {run_id}: {message}")]
    EnginePanicked {
        /// The run.
        run_id: RunId,
        /// The panic message.
        message: String,
    },
    /// A live delivery answered a call that is not outstanding in that run; nothing was applied.
    #[error("delivery for run {run_id} answers call #{seq}, which is not outstanding")]
    UnknownCall {
        /// The run.
        run_id: RunId,
        /// The offending seq.
        seq: u64,
    },
    /// A sandbox worker process could not be started or did not finish its start-up handshake.
    #[error("starting sandbox worker process {index} ({program}): {message}")]
    WorkerStart {
        /// Worker slot.
        index: usize,
        /// The program that was run.
        program: String,
        /// What failed.
        message: String,
    },
    /// The worker's pipe failed (worker side: stdin/stdout; host side: an unexpected reply).
    #[error("sandbox worker pipe, {step}: {source}")]
    WorkerPipe {
        /// What was being done.
        step: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A worker process reported an error that has no variant of its own.
    #[error("sandbox worker: {0}")]
    Worker(String),
    /// A fresh JavaScript context could not be set up.
    #[error("setting up the JavaScript context: {0}")]
    ContextSetup(String),
}

/// Result alias for sandbox operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
