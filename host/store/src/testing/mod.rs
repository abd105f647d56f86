//! Test support (feature `testing`): a fresh database per test on either backend, so the same test
//! body runs on SQLite and PostgreSQL. Used by this crate's tests and by the end-to-end tests.
//!
//! Must not be used by production code: it starts servers and creates databases freely.
//!
//! * SQLite: a new file in a temporary directory, removed when the [`TestDatabase`] drops.
//! * PostgreSQL: a new uniquely named database on `TASKER_TEST_POSTGRES_URL` when set, otherwise on
//!   one throw-away cluster per test process (see [`postgres`]).

pub mod postgres;

use std::error::Error as StdError;

use crate::{Backend, Store, StoreOptions};

/// Errors of test support: anything, boxed (tests use `anyhow` or `?` on it).
pub type TestResult<T> = Result<T, Box<dyn StdError + Send + Sync>>;

/// A fresh, empty database for one test; the SQLite file lives as long as this value.
#[derive(Debug)]
pub struct TestDatabase {
    backend: Backend,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh database on `backend`.
    pub async fn create(backend: Backend) -> TestResult<Self> {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A new SQLite file in its own temporary directory.
    pub fn sqlite() -> TestResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tasker-sqlite-")
            .tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("tasker.db").display());
        Ok(Self {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
        })
    }

    /// A new database on the test PostgreSQL server.
    pub async fn postgres() -> TestResult<Self> {
        let url = postgres::create_database().await?;
        Ok(Self {
            backend: Backend::Postgres,
            url,
            _dir: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL to hand to `Store::connect` or to a host process (`--database-url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects with `options` (migrations run).
    pub async fn connect(&self, options: StoreOptions) -> TestResult<Store> {
        Ok(Store::connect(&self.url, options).await?)
    }
}

/// Runs an async test body on both backends: expands to a module `$name` with tests `sqlite` and
/// `postgres`, each calling `$body(store, database)` with a fresh database and a store opened with
/// `$options` (an expression of type `StoreOptions`; default when omitted). The body returns
/// `anyhow::Result<()>` (the calling crate needs `anyhow` and `tokio`).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        $crate::on_both_backends!($name, $body, $crate::StoreOptions::default());
    };
    ($name:ident, $body:path, $options:expr) => {
        mod $name {
            #[allow(unused_imports)] // the body may be a path relative to the parent module
            use super::*;

            async fn run(backend: $crate::Backend) -> anyhow::Result<()> {
                let database = $crate::testing::TestDatabase::create(backend)
                    .await
                    .map_err(|error| anyhow::anyhow!("creating the test database: {error}"))?;
                let store = database
                    .connect($options)
                    .await
                    .map_err(|error| anyhow::anyhow!("connecting to the test database: {error}"))?;
                let result = $body(store.clone(), &database).await;
                store.close().await;
                result
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                run($crate::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                run($crate::Backend::Postgres).await
            }
        }
    };
}
