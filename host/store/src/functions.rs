//! `task_functions`: registered task code by name (upsert, get, list, delete). The store does not
//! parse the code or its schema; both are opaque text.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StepExt;
use crate::sql::Sql;
use crate::{Result, Store};

macro_rules! function_columns {
    () => {
        "id, name, code, description, schema, code_hash, created_at, updated_at"
    };
}

const UPSERT: Sql = Sql::same(concat!(
    "INSERT INTO task_functions (name, code, description, schema, code_hash, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO UPDATE SET code = excluded.code, \
     description = excluded.description, schema = excluded.schema, code_hash = excluded.code_hash, \
     updated_at = excluded.updated_at RETURNING ",
    function_columns!()
));
const GET: Sql = Sql::same(concat!(
    "SELECT ",
    function_columns!(),
    " FROM task_functions WHERE name = $1"
));
const LIST: Sql = Sql::same(concat!(
    "SELECT ",
    function_columns!(),
    " FROM task_functions ORDER BY name"
));
const DELETE: Sql = Sql::same("DELETE FROM task_functions WHERE name = $1");

/// A task function to register (or replace, by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFunction {
    pub name: String,
    pub code: String,
    pub description: Option<String>,
    /// Input schema, JSON text.
    pub schema: Option<String>,
    pub code_hash: String,
}

/// A registered task function (`task_functions` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFunction {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub description: Option<String>,
    /// Input schema, JSON text.
    pub schema: Option<String>,
    pub code_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TaskFunction {
    fn from_row(row: &AnyRow) -> Result<Self> {
        const STEP: &str = "decode task function";
        Ok(Self {
            id: row.try_get(0).step(STEP)?,
            name: row.try_get(1).step(STEP)?,
            code: row.try_get(2).step(STEP)?,
            description: row.try_get(3).step(STEP)?,
            schema: row.try_get(4).step(STEP)?,
            code_hash: row.try_get(5).step(STEP)?,
            created_at: row.try_get(6).step(STEP)?,
            updated_at: row.try_get(7).step(STEP)?,
        })
    }
}

impl Store {
    /// Registers a function, or replaces code/description/schema/hash of the one with that name
    /// (keeping its id and created_at).
    pub async fn upsert_function(&self, function: &NewFunction) -> Result<TaskFunction> {
        let row = sqlx::query(self.sql(&UPSERT))
            .bind(function.name.as_str())
            .bind(function.code.as_str())
            .bind(function.description.as_deref())
            .bind(function.schema.as_deref())
            .bind(function.code_hash.as_str())
            .bind(self.now())
            .fetch_one(&self.pool)
            .await
            .step("upsert task function")?;
        TaskFunction::from_row(&row)
    }

    /// The function registered under `name`.
    pub async fn get_function(&self, name: &str) -> Result<Option<TaskFunction>> {
        let row = sqlx::query(self.sql(&GET))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .step("get task function")?;
        row.as_ref().map(TaskFunction::from_row).transpose()
    }

    /// All functions by name.
    pub async fn list_functions(&self) -> Result<Vec<TaskFunction>> {
        let rows = sqlx::query(self.sql(&LIST))
            .fetch_all(&self.pool)
            .await
            .step("list task functions")?;
        rows.iter().map(TaskFunction::from_row).collect()
    }

    /// Deletes the function `name`; false if there was none. Its past runs stay.
    pub async fn delete_function(&self, name: &str) -> Result<bool> {
        let result = sqlx::query(self.sql(&DELETE))
            .bind(name)
            .execute(&self.pool)
            .await
            .step("delete task function")?;
        Ok(result.rows_affected() > 0)
    }
}
