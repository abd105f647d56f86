//! Errors of the store; each variant names the step that failed. Never carries SQL text to callers
//! beyond what sqlx puts in its own error.

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL selects no supported backend.
    #[error(
        "unsupported database URL scheme {0:?}: expected sqlite:..., sqlite::memory: or postgres://..."
    )]
    UnsupportedUrl(String),
    /// Opening the pool (or the first connection) failed.
    #[error("connecting to the {backend} database failed")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// Running the embedded migrations failed.
    #[error("running the {backend} migrations failed")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query of the named step failed.
    #[error("database step '{step}' failed")]
    Query {
        step: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A status column holds a value this version does not know (a newer schema wrote it?).
    #[error("unknown {kind} status {value:?} in the database")]
    UnknownStatus { kind: &'static str, value: String },
    /// A JSON column could not be parsed or built.
    #[error("column {column} does not hold valid JSON")]
    Json {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Adds the step name to a sqlx error.
pub(crate) trait StepExt<T> {
    fn step(self, step: &'static str) -> Result<T>;
}

impl<T> StepExt<T> for std::result::Result<T, sqlx::Error> {
    fn step(self, step: &'static str) -> Result<T> {
        self.map_err(|source| Error::Query { step, source })
    }
}
