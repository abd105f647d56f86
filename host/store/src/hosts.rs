//! `hosts`: the registry of live tasker hosts sharing one database (id, address, services,
//! heartbeat). Liveness is decided by callers from `heartbeat_at`; nothing here expires hosts.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StepExt;
use crate::sql::Sql;
use crate::{Error, Result, Store};

const REGISTER: Sql = Sql::same(
    "INSERT INTO hosts (id, address, services, version, started_at, heartbeat_at) \
     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
     services = excluded.services, version = excluded.version, started_at = excluded.started_at, \
     heartbeat_at = excluded.heartbeat_at \
     RETURNING id, address, services, version, started_at, heartbeat_at",
);
const HEARTBEAT: Sql = Sql::same("UPDATE hosts SET heartbeat_at = $2 WHERE id = $1");
const SET_SERVICES: Sql = Sql::same("UPDATE hosts SET services = $2 WHERE id = $1");
const DEREGISTER: Sql = Sql::same("DELETE FROM hosts WHERE id = $1");
const LIST: Sql = Sql::same(
    "SELECT id, address, services, version, started_at, heartbeat_at FROM hosts \
     WHERE heartbeat_at >= $1 ORDER BY id",
);

/// A host announcing itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHost {
    pub id: String,
    pub address: String,
    pub services: Vec<String>,
    pub version: String,
}

/// A registered host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    pub id: String,
    pub address: String,
    pub services: Vec<String>,
    pub version: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

impl HostInfo {
    fn from_row(row: &AnyRow) -> Result<Self> {
        const STEP: &str = "decode host";
        let services: String = row.try_get(2).step(STEP)?;
        Ok(Self {
            id: row.try_get(0).step(STEP)?,
            address: row.try_get(1).step(STEP)?,
            services: serde_json::from_str(&services).map_err(|source| Error::Json {
                column: "hosts.services",
                source,
            })?,
            version: row.try_get(3).step(STEP)?,
            started_at: row.try_get(4).step(STEP)?,
            heartbeat_at: row.try_get(5).step(STEP)?,
        })
    }
}

impl Store {
    /// Registers (or re-registers after a restart) a host, heartbeat = started = now.
    pub async fn register_host(&self, host: &NewHost) -> Result<HostInfo> {
        let row = sqlx::query(self.sql(&REGISTER))
            .bind(host.id.as_str())
            .bind(host.address.as_str())
            .bind(crate::sql::json_list(&host.services))
            .bind(host.version.as_str())
            .bind(self.now())
            .fetch_one(&self.pool)
            .await
            .step("register host")?;
        HostInfo::from_row(&row)
    }

    /// Records a heartbeat; false if the host is not registered (it was removed: register again).
    pub async fn heartbeat_host(&self, host_id: &str) -> Result<bool> {
        let result = sqlx::query(self.sql(&HEARTBEAT))
            .bind(host_id)
            .bind(self.now())
            .execute(&self.pool)
            .await
            .step("host heartbeat")?;
        Ok(result.rows_affected() > 0)
    }

    /// Replaces the services a host serves (plugins loaded or unloaded).
    pub async fn set_host_services(&self, host_id: &str, services: &[String]) -> Result<bool> {
        let result = sqlx::query(self.sql(&SET_SERVICES))
            .bind(host_id)
            .bind(crate::sql::json_list(services))
            .execute(&self.pool)
            .await
            .step("set host services")?;
        Ok(result.rows_affected() > 0)
    }

    /// Removes a host (graceful shutdown).
    pub async fn deregister_host(&self, host_id: &str) -> Result<bool> {
        let result = sqlx::query(self.sql(&DEREGISTER))
            .bind(host_id)
            .execute(&self.pool)
            .await
            .step("deregister host")?;
        Ok(result.rows_affected() > 0)
    }

    /// Hosts whose last heartbeat is at most `within_ms` old (`None`: all registered hosts).
    pub async fn list_hosts(&self, within_ms: Option<i64>) -> Result<Vec<HostInfo>> {
        let since = within_ms.map_or(i64::MIN, |ms| self.now().saturating_sub(ms));
        let rows = sqlx::query(self.sql(&LIST))
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .step("list hosts")?;
        rows.iter().map(HostInfo::from_row).collect()
    }
}

impl Store {
    /// PostgreSQL `NOTIFY channel, payload` for cross-host wake-ups (listen with
    /// `sqlx::postgres::PgListener` on the same URL); does nothing on SQLite, where every worker
    /// shares one process and is woken in memory.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if self.backend() == crate::Backend::Postgres {
            // pg_notify returns void, a type the Any driver cannot carry: wrap it so it is not returned.
            sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS sent")
                .bind(channel)
                .bind(payload)
                .execute(&self.pool)
                .await
                .step("notify")?;
        }
        Ok(())
    }
}
