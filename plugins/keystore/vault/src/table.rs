//! The `keystore` table on SQLite or PostgreSQL: creating it (idempotent, at every start),
//! sealed reads and atomic upserts, listings and deletes. Statements are static text with
//! bound parameters only; every write is one short statement or one short transaction, so
//! the host's queue (on PostgreSQL, the same database) is never held up for long.

use std::str::FromStr;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::{Error, MasterKey, Result, Sealed, open, seal};

/// How long a SQLite statement waits for other writers (other hosts, `keys rotate`) before
/// failing with "locked".
const SQLITE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 10000";
/// Connections per vault: calls are short; the host's queue needs the rest.
const MAX_CONNECTIONS: u32 = 4;

const CREATE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS keystore (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    nonce BLOB NOT NULL,
    kid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (namespace, name)
)";
const CREATE_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS keystore (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    kid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (namespace, name)
)";
const PROBE: &str = "SELECT namespace, name, ciphertext, nonce, kid, created_at, updated_at FROM keystore WHERE 1 = 0";
/// One statement, so two concurrent writers of the same key both land (the later wins) and
/// neither sees a "duplicate key" error; `created_at` keeps the first write's time.
const UPSERT: &str =
    "INSERT INTO keystore (namespace, name, ciphertext, nonce, kid, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $6)
    ON CONFLICT (namespace, name) DO UPDATE SET
        ciphertext = excluded.ciphertext, nonce = excluded.nonce, kid = excluded.kid,
        updated_at = excluded.updated_at";
const SELECT_ONE: &str =
    "SELECT ciphertext, nonce, kid FROM keystore WHERE namespace = $1 AND name = $2";
const EXISTS: &str = "SELECT COUNT(*) FROM keystore WHERE namespace = $1 AND name = $2";
const NAMES: &str = "SELECT name FROM keystore WHERE namespace = $1 ORDER BY name";
const NAMESPACES: &str = "SELECT DISTINCT namespace FROM keystore ORDER BY namespace";
const DELETE: &str = "DELETE FROM keystore WHERE namespace = $1 AND name = $2";
const COUNT_OTHER_KIDS: &str = "SELECT COUNT(*) FROM keystore WHERE kid <> $1";
const COUNT_ALL: &str = "SELECT COUNT(*) FROM keystore";

/// Which database the vault talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (the keystore's own, see [`crate::keystore_database_url`]).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Backend {
    /// Picks the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(Error::UnsupportedUrl)
        }
    }

    /// "SQLite" or "PostgreSQL".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// The `keystore` table behind a small connection pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Vault {
    pool: AnyPool,
    backend: Backend,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn query_error(step: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { step, source }
}

impl Vault {
    /// Connects to `database_url` (creating a missing SQLite file) and creates the table when
    /// it does not exist; a `keystore` table of another layout is refused.
    pub async fn connect(database_url: &str) -> Result<Self> {
        static INSTALL_DRIVERS: Once = Once::new();
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);

        let backend = Backend::from_url(database_url)?;
        let connect_error = |source| Error::Connect {
            backend: backend.as_str(),
            source,
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating_file(database_url),
            Backend::Postgres => database_url.to_owned(),
        };
        let in_memory =
            backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"));
        let options = AnyConnectOptions::from_str(&url).map_err(connect_error)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(if in_memory { 1 } else { MAX_CONNECTIONS })
            .acquire_timeout(Duration::from_secs(30));
        if in_memory {
            // The one connection is the database: never let the pool close it.
            pool_options = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query(SQLITE_BUSY_TIMEOUT).execute(&mut *conn).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        let vault = Self { pool, backend };
        vault.create_table().await?;
        Ok(vault)
    }

    /// The backend behind this vault.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn create_table(&self) -> Result<()> {
        let ddl = match self.backend {
            Backend::Sqlite => CREATE_SQLITE,
            Backend::Postgres => CREATE_POSTGRES,
        };
        if let Err(source) = sqlx::query(ddl).execute(&self.pool).await {
            // Two hosts creating the table at once on PostgreSQL: one loses the race on the
            // catalog; the probe below tells whether the table is there after all.
            if sqlx::query(PROBE).fetch_all(&self.pool).await.is_err() {
                return Err(Error::CreateTable { source });
            }
        }
        sqlx::query(PROBE)
            .fetch_all(&self.pool)
            .await
            .map_err(|source| Error::ForeignTable { source })?;
        Ok(())
    }

    /// Seals `value` and stores it, replacing any previous value of (`namespace`, `name`).
    pub async fn put(
        &self,
        key: &MasterKey,
        namespace: &str,
        name: &str,
        value: &[u8],
    ) -> Result<()> {
        let sealed = seal(key, namespace, name, value)?;
        sqlx::query(UPSERT)
            .bind(namespace.to_owned())
            .bind(name.to_owned())
            .bind(sealed.ciphertext)
            .bind(sealed.nonce)
            .bind(sealed.kid)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(query_error("storing a value"))?;
        Ok(())
    }

    /// The decrypted value of (`namespace`, `name`), or None when there is none.
    pub async fn get(
        &self,
        key: &MasterKey,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>> {
        let Some(sealed) = self.sealed(namespace, name).await? else {
            return Ok(None);
        };
        open(key, namespace, name, &sealed).map(Some)
    }

    /// The stored (still sealed) row, for tests and tools.
    pub async fn sealed(&self, namespace: &str, name: &str) -> Result<Option<Sealed>> {
        let row = sqlx::query(SELECT_ONE)
            .bind(namespace.to_owned())
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading a value"))?;
        row.map(|row| {
            Ok(Sealed {
                ciphertext: row.try_get(0)?,
                nonce: row.try_get(1)?,
                kid: row.try_get(2)?,
            })
        })
        .transpose()
        .map_err(query_error("decoding a stored value"))
    }

    /// Whether (`namespace`, `name`) holds a value (without decrypting it).
    pub async fn contains(&self, namespace: &str, name: &str) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(EXISTS)
            .bind(namespace.to_owned())
            .bind(name.to_owned())
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("checking for a key"))?;
        Ok(count > 0)
    }

    /// The key names of `namespace`, sorted.
    pub async fn names(&self, namespace: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(NAMES)
            .bind(namespace.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("listing keys"))
    }

    /// Every namespace holding at least one key, sorted.
    pub async fn namespaces(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(NAMESPACES)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("listing namespaces"))
    }

    /// Deletes (`namespace`, `name`); true when there was a value.
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<bool> {
        let done = sqlx::query(DELETE)
            .bind(namespace.to_owned())
            .bind(name.to_owned())
            .execute(&self.pool)
            .await
            .map_err(query_error("deleting a key"))?;
        Ok(done.rows_affected() > 0)
    }

    /// How many values are sealed under a key other than `key` (unreadable with it).
    pub async fn count_sealed_with_other_keys(&self, key: &MasterKey) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(COUNT_OTHER_KIDS)
            .bind(key.kid().to_owned())
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("counting values of other master keys"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// How many values are stored in all namespaces.
    pub async fn count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(COUNT_ALL)
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("counting values"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Closes the pool; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Adds `mode=rwc` to a SQLite file URL so a missing file is created, as the host does.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}
