//! Opening the database: URL → backend, pool settings, SQLite pragmas, embedded migrations.
//!
//! Must not hold any queue logic; it only hands out a ready, migrated [`Store`].

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;

use crate::error::StepExt;
use crate::sql::Sql;
use crate::{Clock, Error, Result};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from a database URL (`sqlite:...`, `postgres://...`, `postgresql://...`).
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            // Only the scheme: the rest of a URL may carry a password.
            let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
            Err(Error::UnsupportedUrl(scheme.to_owned()))
        }
    }

    /// Human name: "SQLite" or "PostgreSQL".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Durability of a commit on SQLite (PostgreSQL follows its own `synchronous_commit` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// WAL + `synchronous=NORMAL`: a committed transaction survives a process crash.
    #[default]
    Normal,
    /// WAL + `synchronous=FULL`: a committed transaction also survives power loss.
    Full,
}

/// Settings for [`Store::connect`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub sync: SyncMode,
    /// Pool size; forced to 1 for `sqlite::memory:` (each connection would be its own database).
    pub max_connections: u32,
    /// Source of "now" for timestamps and leases.
    pub clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sync: SyncMode::Normal,
            max_connections: 8,
            clock: Clock::system(),
        }
    }
}

/// A migrated connection pool plus the clock; cheap to clone (shares the pool).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    clock: Clock,
    /// The connection URL (PostgreSQL only: `LISTEN` needs its own connection).
    listen_url: Option<crate::cluster::ListenUrl>,
}

impl Store {
    /// Connects (creating a SQLite file if missing) and runs the embedded migrations of the backend.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self> {
        static INSTALL_DRIVERS: Once = Once::new();
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);

        let backend = Backend::from_url(url)?;
        let connect_error = |source| Error::Connect {
            backend: backend.as_str(),
            source,
        };
        let (url, in_memory) = match backend {
            Backend::Sqlite => normalize_sqlite_url(url),
            Backend::Postgres => (url.to_owned(), false),
        };
        let connect_options = AnyConnectOptions::from_str(&url).map_err(connect_error)?;

        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // A request that needs the database answers 503 after this long when the server
            // is down (sqlx retries a refused connection until then); 30 s outlasted proxies.
            .acquire_timeout(Duration::from_secs(10));
        if in_memory {
            // One connection that never closes: it *is* the database.
            pool_options = pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        if backend == Backend::Sqlite {
            let sync = options.sync;
            pool_options = pool_options.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for pragma in sqlite_pragmas(sync) {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        if backend == Backend::Postgres {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query(POSTGRES_SESSION).execute(&mut *conn).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(connect_options)
            .await
            .map_err(connect_error)?;

        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|source| Error::Migrate {
            backend: backend.as_str(),
            source,
        })?;

        Ok(Self {
            listen_url: (backend == Backend::Postgres)
                .then(|| crate::cluster::ListenUrl(url.as_str().into())),
            pool,
            backend,
            clock: options.clock,
        })
    }

    /// The backend behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clock all timestamps come from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The PostgreSQL URL for a `LISTEN` connection; None on SQLite.
    pub(crate) fn listen_url(&self) -> Option<&str> {
        self.listen_url.as_ref().map(|u| &*u.0)
    }

    /// The underlying pool, for callers that need a feature the store does not wrap.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Starts a transaction that writes: `BEGIN IMMEDIATE` on SQLite takes the write lock up front, so a
    /// transaction that reads before it writes never fails to upgrade its lock.
    pub(crate) async fn begin_write(
        &self,
        step: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await.step(step),
            Backend::Postgres => self.pool.begin().await.step(step),
        }
    }

    /// The statement text for this store's backend.
    pub(crate) fn sql(&self, sql: &Sql) -> &'static str {
        match self.backend {
            Backend::Sqlite => sql.sqlite,
            Backend::Postgres => sql.postgres,
        }
    }
}

/// Adds `mode=rwc` (create if missing) to file URLs and tells whether the URL is an in-memory database.
fn normalize_sqlite_url(url: &str) -> (String, bool) {
    let in_memory = url.starts_with("sqlite::memory:") || url.contains("mode=memory");
    if in_memory || url.contains("mode=") {
        return (url.to_owned(), in_memory);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    (format!("{url}{separator}mode=rwc"), false)
}

/// Session setting of every PostgreSQL connection: no sequential scans where an index
/// serves. Every statement of the engine finds its rows by key, but a prepared statement
/// keeps the plan it got when its table was small, and on a new database the tables grow
/// from nothing faster than autovacuum re-analyzes them: the batch statements kept
/// scanning whole tables, so each call cost more the longer the run (measured: 3x the
/// per-statement time after 2,000 sequential calls; flat with this setting).
const POSTGRES_SESSION: &str = "SET enable_seqscan = off";

fn sqlite_pragmas(sync: SyncMode) -> [&'static str; 4] {
    [
        // Wait up to 5 s for the write lock instead of failing with "database is locked".
        "PRAGMA busy_timeout = 5000",
        "PRAGMA journal_mode = WAL",
        "PRAGMA foreign_keys = ON",
        match sync {
            SyncMode::Normal => "PRAGMA synchronous = NORMAL",
            SyncMode::Full => "PRAGMA synchronous = FULL",
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_and_url_normalization() {
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgresql://x/y").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://x").is_err());
        assert_eq!(
            normalize_sqlite_url("sqlite://a.db"),
            ("sqlite://a.db?mode=rwc".to_owned(), false)
        );
        assert_eq!(
            normalize_sqlite_url("sqlite://a.db?cache=shared"),
            ("sqlite://a.db?cache=shared&mode=rwc".to_owned(), false)
        );
        assert!(normalize_sqlite_url("sqlite::memory:").1);
    }
}
