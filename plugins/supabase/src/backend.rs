//! What the query runner needs from a database connection, implemented for SQLite and
//! PostgreSQL in their own modules, plus the translation of sqlx errors into
//! PostgREST-style failures (SQLSTATE codes and statuses as PostgREST maps them).

use serde_json::Value;

use crate::response::{Failure, Result};
use crate::schema::Table;
use crate::sql::Statement;

/// One connection (inside a transaction) that can run planned statements.
pub(crate) trait Conn {
    /// The live description of `name`, or `None` when there is no such table or view.
    async fn load_table(&mut self, schema: &str, name: &str) -> Result<Option<Table>>;
    /// Runs a statement that returns rows; each row becomes a JSON object.
    async fn rows(&mut self, statement: &Statement) -> Result<Vec<Value>>;
    /// Runs `SELECT count(*) ...`.
    async fn count(&mut self, statement: &Statement) -> Result<i64>;
    /// Runs a statement without rows; returns the affected row count.
    async fn execute(&mut self, statement: &Statement) -> Result<u64>;
}

/// The HTTP status PostgREST answers a SQLSTATE with.
pub fn status_for_sqlstate(code: &str) -> u16 {
    match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "42883" | "42P01" => 404,
        "42501" => 403,
        "42P17" => 500,
        "P0001" => 400,
        _ => match code.get(..2).unwrap_or("") {
            "08" | "53" => 503,
            "0L" | "0P" | "28" => 403,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "P0" | "XX" => 500,
            _ => 400,
        },
    }
}

/// sqlx error → failure. Connection problems are 503 (retryable by the engine); database
/// errors keep their SQLSTATE (SQLite constraint errors get the PostgreSQL code).
pub fn from_sqlx(error: sqlx::Error) -> Failure {
    match error {
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let mut f = Failure::new(status_for_sqlstate(pg.code()), pg.code(), pg.message());
                f.details = pg.detail().map(str::to_owned);
                f.hint = pg.hint().map(str::to_owned);
                return f;
            }
            let message = db.message().to_owned();
            let code = match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => "23505",
                sqlx::error::ErrorKind::ForeignKeyViolation => "23503",
                sqlx::error::ErrorKind::NotNullViolation => "23502",
                sqlx::error::ErrorKind::CheckViolation => "23514",
                _ if message.contains("ON CONFLICT clause does not match") => "42P10",
                _ if message.contains("malformed JSON") => "22P02",
                _ if message.contains("database is locked") || message.contains("busy") => "55P03",
                _ => "",
            };
            match code {
                "" => Failure::new(
                    500,
                    &format!("SQLITE_{}", db.code().unwrap_or_default()),
                    format!("database error: {message}"),
                ),
                "55P03" => Failure::new(503, code, message),
                _ => Failure::new(status_for_sqlstate(code), code, message),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => {
            Failure::new(503, "PGRST000", "Could not connect with the database")
                .details(error.to_string())
        }
        other => Failure::new(500, "XX000", format!("database error: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_like_postgrest() {
        assert_eq!(status_for_sqlstate("23505"), 409);
        assert_eq!(status_for_sqlstate("23502"), 400);
        assert_eq!(status_for_sqlstate("22P02"), 400);
        assert_eq!(status_for_sqlstate("42P01"), 404);
        assert_eq!(status_for_sqlstate("08006"), 503);
        assert_eq!(status_for_sqlstate("XX000"), 500);
    }
}
