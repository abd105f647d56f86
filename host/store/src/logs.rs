//! `task_logs`: console lines of a run, numbered per run by the store (append in batches, read in order).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StepExt;
use crate::sql::Sql;
use crate::{Result, Store};

const LAST_SEQ: Sql =
    Sql::same("SELECT COALESCE(MAX(seq), 0) FROM task_logs WHERE task_run_id = $1");
const INSERT: Sql = Sql::same(
    "INSERT INTO task_logs (task_run_id, seq, level, message, created_at) VALUES ($1, $2, $3, $4, $5)",
);
const READ: Sql = Sql::same(
    "SELECT id, task_run_id, seq, level, message, created_at FROM task_logs \
     WHERE task_run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
);

/// A console line to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLog {
    /// e.g. "log", "info", "warn", "error", "debug".
    pub level: String,
    pub message: String,
    /// When it was emitted, unix ms.
    pub at_ms: i64,
}

/// A stored console line; `seq` counts from 1 within its run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLog {
    pub id: i64,
    pub task_run_id: i64,
    pub seq: i64,
    pub level: String,
    pub message: String,
    pub created_at: i64,
}

impl TaskLog {
    fn from_row(row: &AnyRow) -> Result<Self> {
        const STEP: &str = "decode task log";
        Ok(Self {
            id: row.try_get(0).step(STEP)?,
            task_run_id: row.try_get(1).step(STEP)?,
            seq: row.try_get(2).step(STEP)?,
            level: row.try_get(3).step(STEP)?,
            message: row.try_get(4).step(STEP)?,
            created_at: row.try_get(5).step(STEP)?,
        })
    }
}

impl Store {
    /// Appends lines to run `run_id` in one transaction, numbering them after the last stored line;
    /// returns the seq of the last line (the line count).
    pub async fn append_logs(&self, run_id: i64, lines: &[NewLog]) -> Result<i64> {
        const STEP: &str = "append logs";
        let mut tx = self.begin_write(STEP).await?;
        let seq = self.append_logs_in(&mut tx, run_id, lines).await?;
        tx.commit().await.step(STEP)?;
        Ok(seq)
    }

    /// [`Store::append_logs`] inside the caller's transaction `tx`.
    pub(crate) async fn append_logs_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        run_id: i64,
        lines: &[NewLog],
    ) -> Result<i64> {
        const STEP: &str = "append logs";
        let mut seq: i64 = sqlx::query(self.sql(&LAST_SEQ))
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await
            .step(STEP)?
            .try_get(0)
            .step(STEP)?;
        for line in lines {
            seq += 1;
            sqlx::query(self.sql(&INSERT))
                .bind(run_id)
                .bind(seq)
                .bind(line.level.as_str())
                .bind(line.message.as_str())
                .bind(line.at_ms)
                .execute(&mut *tx)
                .await
                .step(STEP)?;
        }
        Ok(seq)
    }

    /// Lines of run `run_id` with seq > `after_seq` (0 = from the start), at most `limit`, in order.
    pub async fn read_logs(&self, run_id: i64, after_seq: i64, limit: i64) -> Result<Vec<TaskLog>> {
        let rows = sqlx::query(self.sql(&READ))
            .bind(run_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .step("read logs")?;
        rows.iter().map(TaskLog::from_row).collect()
    }
}
