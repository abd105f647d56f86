//! The SQLite side: schema from `sqlite_master` and `pragma_table_info`, statements bound
//! with native SQLite types, and rows decoded by declared kind (0/1 → booleans, JSON text
//! → JSON, `YYYY-MM-DD HH:MM:SS` → ISO `T` form).

use serde_json::{Map, Number, Value};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Row, SqliteConnection, TypeInfo, ValueRef};

use crate::backend::{Conn, from_sqlx};
use crate::coerce::Bind;
use crate::response::Result;
use crate::schema::{Column, Kind, Table};
use crate::sql::{Output, Statement};

fn query(statement: &Statement) -> sqlx::query::Query<'static, sqlx::Sqlite, SqliteArguments> {
    // The SQL text is built from schema-checked identifiers and `$n` placeholders only.
    let mut q = sqlx::query(AssertSqlSafe(statement.sql.clone()));
    for bind in &statement.binds {
        q = match bind {
            Bind::Null => q.bind(None::<String>),
            Bind::Bool(b) => q.bind(*b),
            Bind::Int(i) => q.bind(*i),
            Bind::Float(f) => q.bind(*f),
            Bind::Text(t) => q.bind(t.clone()),
        };
    }
    q
}

impl Conn for SqliteConnection {
    async fn load_table(&mut self, _schema: &str, name: &str) -> Result<Option<Table>> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name = $1 COLLATE NOCASE",
        )
        .bind(name)
        .fetch_optional(&mut *self)
        .await
        .map_err(from_sqlx)?;
        let Some(real_name) = found else {
            return Ok(None);
        };
        let rows = sqlx::query("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(&real_name)
            .fetch_all(&mut *self)
            .await
            .map_err(from_sqlx)?;
        let mut columns = Vec::with_capacity(rows.len());
        let mut keyed: Vec<(i64, String)> = Vec::new();
        for row in rows {
            let column: String = row.try_get(0).map_err(from_sqlx)?;
            let declared: String = row.try_get(1).map_err(from_sqlx)?;
            let pk: i64 = row.try_get(2).map_err(from_sqlx)?;
            if pk > 0 {
                keyed.push((pk, column.clone()));
            }
            columns.push(Column {
                kind: Kind::from_sqlite_decl(&declared),
                name: column,
                pg_cast: String::new(),
            });
        }
        keyed.sort();
        Ok(Some(Table {
            name: real_name,
            schema: String::new(),
            columns,
            primary_key: keyed.into_iter().map(|(_, c)| c).collect(),
        }))
    }

    async fn rows(&mut self, statement: &Statement) -> Result<Vec<Value>> {
        let rows = query(statement)
            .fetch_all(&mut *self)
            .await
            .map_err(from_sqlx)?;
        rows.iter()
            .map(|row| decode_row(row, &statement.output))
            .collect()
    }

    async fn count(&mut self, statement: &Statement) -> Result<i64> {
        let row = query(statement)
            .fetch_one(&mut *self)
            .await
            .map_err(from_sqlx)?;
        row.try_get::<i64, _>(0).map_err(from_sqlx)
    }

    async fn execute(&mut self, statement: &Statement) -> Result<u64> {
        Ok(query(statement)
            .execute(&mut *self)
            .await
            .map_err(from_sqlx)?
            .rows_affected())
    }
}

fn decode_row(row: &SqliteRow, output: &[Output]) -> Result<Value> {
    let mut object = Map::with_capacity(output.len());
    for (i, out) in output.iter().enumerate() {
        object.insert(out.name.clone(), decode_cell(row, i, out.kind)?);
    }
    Ok(Value::Object(object))
}

fn decode_cell(row: &SqliteRow, i: usize, kind: Kind) -> Result<Value> {
    let raw = row.try_get_raw(i).map_err(from_sqlx)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_owned();
    let value = match storage.as_str() {
        "INTEGER" => {
            let n: i64 = row.try_get_unchecked(i).map_err(from_sqlx)?;
            if kind == Kind::Boolean {
                Value::Bool(n != 0)
            } else {
                Value::from(n)
            }
        }
        "REAL" => {
            let f: f64 = row.try_get_unchecked(i).map_err(from_sqlx)?;
            Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        "BLOB" => {
            let bytes: Vec<u8> = row.try_get_unchecked(i).map_err(from_sqlx)?;
            match (kind, std::str::from_utf8(&bytes)) {
                (Kind::Json, Ok(text)) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
                }
                _ => Value::String(format!(
                    "\\x{}",
                    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )),
            }
        }
        _ => {
            let text: String = row.try_get_unchecked(i).map_err(from_sqlx)?;
            match kind {
                Kind::Json => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                Kind::Boolean => match text.to_ascii_lowercase().as_str() {
                    "true" | "t" => Value::Bool(true),
                    "false" | "f" => Value::Bool(false),
                    _ => Value::String(text),
                },
                Kind::Timestamp => Value::String(iso_timestamp(text)),
                _ => Value::String(text),
            }
        }
    };
    Ok(value)
}

/// `2024-01-02 03:04:05` (SQLite's CURRENT_TIMESTAMP) → `2024-01-02T03:04:05`.
fn iso_timestamp(text: String) -> String {
    let bytes = text.as_bytes();
    if bytes.len() >= 19 && bytes[10] == b' ' && bytes[4] == b'-' && bytes[13] == b':' {
        let mut fixed = text;
        fixed.replace_range(10..11, "T");
        fixed
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_become_iso() {
        assert_eq!(
            iso_timestamp("2024-01-02 03:04:05".into()),
            "2024-01-02T03:04:05"
        );
        assert_eq!(iso_timestamp("2024-01-02".into()), "2024-01-02");
    }
}
