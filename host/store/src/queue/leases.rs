//! Leases: renew (heartbeat of a busy host), release (graceful drain) and reclaim (a dead host's
//! work goes back to the queue once its leases expire).

use super::{LeaseScope, Reclaimed};
use crate::error::StepExt;
use crate::sql::{Sql, json_int_list, json_list, pg_ids};
use crate::{Result, Store};

/// $1 owner, $2 new expiry, optionally $3 = JSON array of ids.
const RENEW_CALLS_ALL: Sql = Sql::same(
    "UPDATE stack_runs SET lease_expires_at = $2 WHERE status = 'processing' AND lease_owner = $1",
);
const RENEW_CALLS_IDS: Sql = Sql {
    sqlite: concat!(
        "UPDATE stack_runs SET lease_expires_at = $2 WHERE status = 'processing' AND lease_owner = $1 \
         AND id IN ",
        json_int_list!(sqlite, "$3")
    ),
    // Rows locked in id order, as journal batches lock them (no deadlock between the two).
    postgres: concat!(
        "UPDATE stack_runs SET lease_expires_at = $2 WHERE id IN (SELECT id FROM stack_runs \
         WHERE status = 'processing' AND lease_owner = $1 AND id = ANY(",
        pg_ids!("$3"),
        ") ORDER BY id FOR UPDATE)"
    ),
};
const RENEW_RUNS_ALL: Sql = Sql::same(
    "UPDATE task_runs SET lease_expires_at = $2 WHERE status = 'running' AND lease_owner = $1",
);
const RENEW_RUNS_IDS: Sql = Sql {
    sqlite: concat!(
        "UPDATE task_runs SET lease_expires_at = $2 WHERE status = 'running' AND lease_owner = $1 \
         AND id IN ",
        json_int_list!(sqlite, "$3")
    ),
    // Rows locked in id order, as journal batches lock them (no deadlock between the two).
    postgres: concat!(
        "UPDATE task_runs SET lease_expires_at = $2 WHERE id IN (SELECT id FROM task_runs \
         WHERE status = 'running' AND lease_owner = $1 AND id = ANY(",
        pg_ids!("$3"),
        ") ORDER BY id FOR UPDATE)"
    ),
};

/// Released calls were never executed, so the claim's attempt is given back. $1 owner, $2 now.
const RELEASE_CALLS: Sql = Sql::same(
    "UPDATE stack_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, ready_at = $2, updated_at = $2 \
     WHERE status = 'processing' AND lease_owner = $1",
);

/// A run goes back to where it was ready: `pending` if it never suspended, else `resumable`
/// (the next segment replays from the journal).
macro_rules! requeue_runs {
    () => {
        "UPDATE task_runs SET \
         status = CASE WHEN suspended_at IS NULL THEN 'pending' ELSE 'resumable' END, \
         lease_owner = NULL, lease_expires_at = NULL, ready_at = $2, updated_at = $2 \
         WHERE status = 'running' "
    };
}
const RELEASE_RUNS: Sql = Sql::same(concat!(requeue_runs!(), "AND lease_owner = $1"));

/// $1 now. The attempt may have run (at-least-once effects); it stays counted.
const RECLAIM_CALLS: Sql = Sql::same(
    "UPDATE stack_runs SET status = 'pending', \
     error = 'lease of ' || COALESCE(lease_owner, '?') || ' expired', \
     lease_owner = NULL, lease_expires_at = NULL, ready_at = $1, updated_at = $1 \
     WHERE status = 'processing' AND lease_expires_at < $1",
);
const RECLAIM_RUNS: Sql = Sql::same(
    "UPDATE task_runs SET \
     status = CASE WHEN suspended_at IS NULL THEN 'pending' ELSE 'resumable' END, \
     lease_owner = NULL, lease_expires_at = NULL, ready_at = $1, updated_at = $1 \
     WHERE status = 'running' AND lease_expires_at < $1",
);

impl Store {
    /// Extends `owner`'s leases on processing calls to now + `lease_ms`; returns how many.
    pub async fn renew_call_leases(
        &self,
        owner: &str,
        scope: LeaseScope<'_>,
        lease_ms: i64,
    ) -> Result<u64> {
        self.renew(owner, scope, lease_ms, &RENEW_CALLS_ALL, &RENEW_CALLS_IDS)
            .await
    }

    /// Extends `owner`'s leases on running task runs to now + `lease_ms`; returns how many.
    pub async fn renew_run_leases(
        &self,
        owner: &str,
        scope: LeaseScope<'_>,
        lease_ms: i64,
    ) -> Result<u64> {
        self.renew(owner, scope, lease_ms, &RENEW_RUNS_ALL, &RENEW_RUNS_IDS)
            .await
    }

    /// Graceful drain: hands every call and run `owner` holds back to the queue at once (calls to
    /// pending with their attempt given back, runs to pending/resumable).
    pub async fn release_leases(&self, owner: &str) -> Result<Reclaimed> {
        const STEP: &str = "release leases";
        let now = self.now();
        let mut tx = self.begin_write(STEP).await?;
        let calls = sqlx::query(self.sql(&RELEASE_CALLS))
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?
            .rows_affected();
        let runs = sqlx::query(self.sql(&RELEASE_RUNS))
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?
            .rows_affected();
        tx.commit().await.step(STEP)?;
        Ok(Reclaimed { calls, runs })
    }

    /// Puts calls and runs whose lease expired before now back in the queue (stale-lock recovery).
    pub async fn reclaim_expired(&self) -> Result<Reclaimed> {
        const STEP: &str = "reclaim expired leases";
        let now = self.now();
        let mut tx = self.begin_write(STEP).await?;
        let calls = sqlx::query(self.sql(&RECLAIM_CALLS))
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?
            .rows_affected();
        let runs = sqlx::query(self.sql(&RECLAIM_RUNS))
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?
            .rows_affected();
        tx.commit().await.step(STEP)?;
        Ok(Reclaimed { calls, runs })
    }

    async fn renew(
        &self,
        owner: &str,
        scope: LeaseScope<'_>,
        lease_ms: i64,
        all: &Sql,
        by_ids: &Sql,
    ) -> Result<u64> {
        let expires = self.now().saturating_add(lease_ms);
        let result = match scope {
            LeaseScope::All => {
                sqlx::query(self.sql(all))
                    .bind(owner)
                    .bind(expires)
                    .execute(&self.pool)
                    .await
            }
            LeaseScope::Ids(ids) => {
                sqlx::query(self.sql(by_ids))
                    .bind(owner)
                    .bind(expires)
                    .bind(json_list(ids))
                    .execute(&self.pool)
                    .await
            }
        };
        Ok(result.step("renew leases")?.rows_affected())
    }
}
