//! The bench's databases: a fresh SQLite file per measured host, or a fresh database on a
//! PostgreSQL server (the one given with `--database-url`, else a throw-away local cluster
//! started through `tasker_store::testing`), and their size on disk, so each row can
//! report database growth. Databases created on a user's server are dropped at the end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use sqlx::{Connection, PgConnection};
use tasker_store::testing::postgres::with_database;

/// Which database a row ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl DbKind {
    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One fresh database.
#[derive(Debug)]
pub struct BenchDb {
    kind: DbKind,
    url: String,
    sqlite_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDb {
    /// A new empty SQLite file in its own temporary directory.
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tasker-bench-db-")
            .tempdir()?;
        let file = dir.path().join("bench.db");
        Ok(Self {
            kind: DbKind::Sqlite,
            url: format!("sqlite://{}", file.display()),
            sqlite_file: Some(file),
            _dir: Some(dir),
        })
    }

    /// A new empty database on the PostgreSQL server `server` (any database in its URL).
    pub async fn postgres(server: &str) -> anyhow::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tasker_bench_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&with_database(server, "postgres"))
            .await
            .context("connecting to the PostgreSQL server")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .context("creating the bench database")?;
        admin.close().await?;
        Ok(Self {
            kind: DbKind::Postgres,
            url: with_database(server, &name),
            sqlite_file: None,
            _dir: None,
        })
    }

    /// Its backend.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// The URL for `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bytes on disk: the SQLite file plus its `-wal`, or `pg_database_size`.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        match &self.sqlite_file {
            Some(file) => {
                let mut wal = file.clone().into_os_string();
                wal.push("-wal");
                let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                Ok(size(file) + size(std::path::Path::new(&wal)))
            }
            None => {
                let mut conn = PgConnection::connect(&self.url).await?;
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut conn)
                    .await?;
                conn.close().await?;
                Ok(u64::try_from(size).unwrap_or(0))
            }
        }
    }

    /// True for a PostgreSQL database (it must be dropped on its server when done).
    pub fn is_postgres(&self) -> bool {
        self.kind == DbKind::Postgres
    }

    /// Drops a PostgreSQL database (its hosts must be stopped); SQLite files go with the value.
    pub async fn drop_postgres(self, server: &str) {
        if self.kind != DbKind::Postgres {
            return;
        }
        let name = self.url.rsplit('/').next().unwrap_or_default().to_owned();
        let name = name.split('?').next().unwrap_or_default();
        if let Ok(mut admin) = PgConnection::connect(&with_database(server, "postgres")).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}
