//! What several hosts sharing one PostgreSQL database need from the store beyond the queue:
//! `LISTEN` for cross-host wake-ups (the NOTIFYs come from triggers, see migration 0004),
//! who holds which leases, and the pending calls no live host can take.
//!
//! Must not decide policy: which host is live, when to give up on a call, and what to wake
//! are the engine's decisions.

use sqlx::Row;
use sqlx::postgres::PgListener;

use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, json_text_list, stack_run_columns};
use crate::{Result, StackRun, Store};

/// Channel of calls that became pending; payload = service name.
pub const CALLS_CHANNEL: &str = "tasker_calls";
/// Channel of runs that became ready; payload = the host holding the live context, or ''.
pub const RUNS_CHANNEL: &str = "tasker_runs";
/// Channel of runs that ended; payload = run id.
pub const ENDED_CHANNEL: &str = "tasker_ended";

/// A connection URL that may carry a password: never printed.
#[derive(Clone)]
pub(crate) struct ListenUrl(pub(crate) std::sync::Arc<str>);

impl std::fmt::Debug for ListenUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenUrl(***)")
    }
}

/// One notification received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// A dedicated `LISTEN` connection (PostgreSQL).
pub struct Listener {
    inner: PgListener,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// The next notification; `None` when the connection was lost and re-established
    /// (notifications may have been missed meanwhile: the caller should look for work).
    pub async fn recv(&mut self) -> Result<Option<Notification>> {
        let received = self.inner.try_recv().await.step("receive notification")?;
        Ok(received.map(|n| Notification {
            channel: n.channel().to_owned(),
            payload: n.payload().to_owned(),
        }))
    }
}

/// Leases one host holds right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldLeases {
    pub owner: String,
    pub runs: i64,
    pub calls: i64,
}

const RUN_LEASES: Sql = Sql::same(
    "SELECT lease_owner, COUNT(*) FROM task_runs WHERE status = 'running' \
     AND lease_owner IS NOT NULL GROUP BY lease_owner",
);
const CALL_LEASES: Sql = Sql::same(
    "SELECT lease_owner, COUNT(*) FROM stack_runs WHERE status = 'processing' \
     AND lease_owner IS NOT NULL GROUP BY lease_owner",
);
/// Pending calls to services outside $1 (a JSON array of the services live hosts serve).
const PENDING_OUTSIDE: Sql = Sql {
    sqlite: concat!(
        "SELECT ",
        stack_run_columns!(),
        " FROM stack_runs WHERE status = 'pending' AND service NOT IN ",
        json_text_list!(sqlite, "$1"),
        " ORDER BY id LIMIT $2"
    ),
    postgres: concat!(
        "SELECT ",
        stack_run_columns!(),
        " FROM stack_runs WHERE status = 'pending' AND service NOT IN ",
        json_text_list!(postgres, "$1"),
        " ORDER BY id LIMIT $2"
    ),
};
const SET_ADDRESS: Sql = Sql::same("UPDATE hosts SET address = $2 WHERE id = $1");

impl Store {
    /// Opens a `LISTEN` connection on `channels`; `None` on SQLite (one process: wake-ups stay in
    /// memory).
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>> {
        let Some(url) = self.listen_url() else {
            return Ok(None);
        };
        let mut inner = PgListener::connect(url).await.step("listen: connect")?;
        inner
            .listen_all(channels.iter().copied())
            .await
            .step("listen")?;
        Ok(Some(Listener { inner }))
    }

    /// Leases held per owner (running task runs and processing calls).
    pub async fn held_leases(&self) -> Result<Vec<HeldLeases>> {
        let mut by_owner: std::collections::BTreeMap<String, HeldLeases> = Default::default();
        for (sql, is_run) in [(&RUN_LEASES, true), (&CALL_LEASES, false)] {
            let rows = sqlx::query(self.sql(sql))
                .fetch_all(&self.pool)
                .await
                .step("count leases")?;
            for row in rows {
                let owner: String = row.try_get(0).step("decode leases")?;
                let count: i64 = row.try_get(1).step("decode leases")?;
                let entry = by_owner.entry(owner.clone()).or_insert_with(|| HeldLeases {
                    owner,
                    ..HeldLeases::default()
                });
                if is_run {
                    entry.runs = count;
                } else {
                    entry.calls = count;
                }
            }
        }
        Ok(by_owner.into_values().collect())
    }

    /// Up to `limit` pending calls whose service is not in `served` (what live hosts serve),
    /// oldest first.
    pub async fn pending_calls_outside(
        &self,
        served: &[String],
        limit: i64,
    ) -> Result<Vec<StackRun>> {
        let rows = sqlx::query(self.sql(&PENDING_OUTSIDE))
            .bind(crate::sql::json_list(served))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .step("pending calls outside served services")?;
        decode_all(&rows, StackRun::from_row)
    }

    /// Records the address a host listens on (known only once its listeners are bound).
    pub async fn set_host_address(&self, host_id: &str, address: &str) -> Result<bool> {
        let result = sqlx::query(self.sql(&SET_ADDRESS))
            .bind(host_id)
            .bind(address)
            .execute(&self.pool)
            .await
            .step("set host address")?;
        Ok(result.rows_affected() > 0)
    }
}
