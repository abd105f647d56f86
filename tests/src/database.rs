//! A fresh database per test, on either backend: a SQLite file in a temporary directory,
//! or a new database on the test PostgreSQL server (`TASKER_TEST_POSTGRES_URL`, or a
//! throw-away cluster this test process starts; see `tasker_store::testing`).

use anyhow::Context;

/// Which database backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A real PostgreSQL server.
    Postgres,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty database on `backend`.
    pub fn create(backend: Backend) -> crate::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("tasker-db-")
                    .tempdir()
                    .context("creating a temp dir")?;
                let url = format!("sqlite://{}", dir.path().join("tasker.db").display());
                Ok(Self {
                    url,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let url = runtime
                    .block_on(tasker_store::testing::postgres::create_database())
                    .map_err(|e| anyhow::anyhow!("creating a PostgreSQL test database: {e}"))?;
                Ok(Self { url, _dir: None })
            }
        }
    }

    /// Its URL, for `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}
