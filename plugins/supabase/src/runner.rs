//! Runs a parsed query against the database: access rules (tables, read-only, filters
//! required for update/delete), schema lookup, one transaction per request (rolled back
//! on `rollback()`, `maxAffected` overflow or a failed `single()` after a mutation), and
//! the supabase-js answer (status, count, single/maybeSingle shaping).

use std::str::FromStr;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

use crate::backend::{Conn, from_sqlx};
use crate::config::Config;
use crate::query::{Action, Cardinality, Condition, Query, QueryTarget};
use crate::response::{Failure, Result, Success, not_one_row};
use crate::sql::{self, Dialect};

/// A connection pool to the configured database.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file.
    Sqlite(SqlitePool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

/// Most connections the plugin keeps open.
const MAX_CONNECTIONS: u32 = 4;

impl Database {
    /// Prepares a pool; connections are opened on first use (so `init` never blocks on
    /// an unreachable server). Must run inside the plugin's tokio runtime.
    pub fn connect_lazy(url: &str) -> Result<Self> {
        let bad_url = |e: sqlx::Error| {
            Failure::new(503, "PGRST000", "the database URL is invalid").details(e.to_string())
        };
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(bad_url)?;
            Ok(Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .connect_lazy_with(options),
            ))
        } else if url.starts_with("sqlite:") {
            let mut options = SqliteConnectOptions::from_str(url).map_err(bad_url)?;
            // The default data file (`<host db>-data.db`) does not exist on a fresh start;
            // without this every query failed with "unable to open database file". An
            // explicit `mode=` in the URL (e.g. `mode=ro`) is left as written.
            if !url.contains("mode=") {
                options = options.create_if_missing(true);
            }
            Ok(Self::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .connect_lazy_with(options),
            ))
        } else {
            Err(Failure::new(
                503,
                "PGRST000",
                "the database URL must start with sqlite:, postgres: or postgresql:",
            ))
        }
    }

    /// Which SQL dialect it speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Self::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Self::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
        .map_err(from_sqlx)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }

    /// Runs one query in its own transaction.
    pub async fn run(&self, config: &Config, query: &Query) -> Result<Success> {
        check_access(config, query)?;
        match self {
            Self::Sqlite(pool) => {
                if matches!(query.target, QueryTarget::Rpc { .. }) {
                    return Err(Failure::unsupported(
                        "rpc() calls PostgreSQL functions; SQLite has none, so it is not supported on a SQLite database",
                    ));
                }
                // IMMEDIATE takes the write lock up front: a deferred transaction that reads
                // the schema first could not upgrade while the engine is writing.
                let begin = if query.action.is_mutation() {
                    "BEGIN IMMEDIATE"
                } else {
                    "BEGIN"
                };
                let mut tx = pool.begin_with(begin).await.map_err(from_sqlx)?;
                let (success, commit) = execute(&mut *tx, Dialect::Sqlite, config, query).await?;
                finish(tx, commit).await?;
                Ok(success)
            }
            Self::Postgres(pool) => {
                let begin = if config.read_only {
                    "BEGIN READ ONLY"
                } else {
                    "BEGIN"
                };
                let mut tx = pool.begin_with(begin).await.map_err(from_sqlx)?;
                let (success, commit) = match &query.target {
                    QueryTarget::Rpc { function, args } => {
                        crate::rpc::call(&mut tx, config, function, args, query).await?
                    }
                    _ => execute(&mut *tx, Dialect::Postgres, config, query).await?,
                };
                finish(tx, commit).await?;
                Ok(success)
            }
        }
    }
}

async fn finish<DB: sqlx::Database>(
    tx: sqlx::Transaction<'static, DB>,
    commit: bool,
) -> Result<()> {
    if commit {
        tx.commit().await
    } else {
        tx.rollback().await
    }
    .map_err(from_sqlx)
}

/// Tables, read-only mode and the filter rule, checked before anything runs. Also used
/// in forward mode.
pub fn check_access(config: &Config, query: &Query) -> Result<()> {
    if let QueryTarget::Table(table) = &query.target
        && !config.table_allowed(table)
    {
        return Err(Failure::forbidden_table(table));
    }
    if config.read_only && query.action.is_mutation() {
        return Err(Failure::new(
            405,
            "25006",
            format!(
                "cannot execute {} in a read-only transaction",
                query.action.verb()
            ),
        )
        .hint("the supabase plugin is configured with readOnly: true"));
    }
    if config.read_only
        && matches!(query.target, QueryTarget::Rpc { .. })
        && !config.allows_read_only_rpc()
    {
        return Err(Failure::new(
            405,
            "25006",
            "rpc() is refused in read-only mode on this backend",
        ));
    }
    let needs_filter = matches!(query.action, Action::Update { .. } | Action::Delete);
    if needs_filter && !config.allow_unfiltered_mutations && !has_filter(&query.filters) {
        return Err(Failure::new(400, "21000", format!("{} requires a WHERE clause", query.action.verb()))
            .hint("add a filter such as .eq(\"id\", 1), or set allowUnfilteredMutations: true in the plugin config"));
    }
    Ok(())
}

fn has_filter(filters: &[Condition]) -> bool {
    filters.iter().any(|c| match c {
        Condition::Test { .. } => true,
        Condition::All(items) | Condition::Any(items) => has_filter(items),
        Condition::Not(inner) => has_filter(std::slice::from_ref(inner)),
    })
}

/// Applies `single()` / `maybeSingle()` to rows.
pub fn shape_rows(rows: Vec<Value>, cardinality: Cardinality) -> Result<Value> {
    match (cardinality, rows.len()) {
        (Cardinality::Many, _) => Ok(Value::Array(rows)),
        (Cardinality::MaybeSingle, 0) => Ok(Value::Null),
        (_, 1) => Ok(rows.into_iter().next().unwrap_or(Value::Null)),
        (_, n) => Err(not_one_row(n)),
    }
}

/// The status of a select: 206 when a counted result is only part of the matching rows.
pub fn select_status(query: &Query, returned: usize, count: Option<i64>) -> u16 {
    match count {
        Some(total)
            if !query.head && (query.offset.unwrap_or(0) > 0 || (returned as i64) < total) =>
        {
            206
        }
        _ => 200,
    }
}

/// Runs a table query on an open transaction; returns the answer and whether to commit.
async fn execute<C: Conn>(
    conn: &mut C,
    dialect: Dialect,
    config: &Config,
    query: &Query,
) -> Result<(Success, bool)> {
    let QueryTarget::Table(name) = &query.target else {
        return Err(Failure::parse("the chain must start with from(table)"));
    };
    let table = conn
        .load_table(&config.schema, name)
        .await?
        .ok_or_else(|| Failure::unknown_table(&config.schema, name))?;
    if !config.table_allowed(&table.name) {
        return Err(Failure::forbidden_table(&table.name));
    }
    let plan = sql::plan(dialect, query, &table, config.max_rows)?;
    if !query.action.is_mutation() {
        let rows = match plan.statements.first() {
            Some(statement) => conn.rows(statement).await?,
            None => Vec::new(),
        };
        let count = match &plan.count {
            Some(statement) => Some(conn.count(statement).await?),
            None => None,
        };
        let status = select_status(query, rows.len(), count);
        let data = if plan.returns_rows {
            shape_rows(rows, query.cardinality)?
        } else {
            Value::Null
        };
        return Ok((
            Success {
                data,
                count,
                status,
            },
            true,
        ));
    }
    let mut rows = Vec::new();
    let mut affected: u64 = 0;
    for statement in &plan.statements {
        if plan.returns_rows {
            let mut returned = conn.rows(statement).await?;
            affected += returned.len() as u64;
            rows.append(&mut returned);
        } else {
            affected += conn.execute(statement).await?;
        }
    }
    if let Some(max) = query.max_affected
        && affected > max
    {
        return Err(Failure::new(
            400,
            "PGRST124",
            "Query result exceeds max-affected preference constraint",
        )
        .details(format!("The query affects {affected} rows")));
    }
    let data = if plan.returns_rows {
        shape_rows(rows, query.cardinality)?
    } else {
        Value::Null
    };
    let status = match (&query.action, plan.returns_rows) {
        (Action::Insert { .. } | Action::Upsert { .. }, _) => 201,
        (_, true) => 200,
        (_, false) => 204,
    };
    let count = query.count.then_some(affected as i64);
    Ok((
        Success {
            data,
            count,
            status,
        },
        !query.rollback,
    ))
}
