//! The PostgreSQL side: schema from `information_schema`, every value bound as text and
//! cast to the column's type in SQL, and rows returned by PostgreSQL itself as JSON
//! (`json_agg`), so every type keeps its JSON form (timestamps as ISO strings).

use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::backend::{Conn, from_sqlx};
use crate::response::Result;
use crate::schema::{Column, Kind, Table, quote_ident};
use crate::sql::Statement;

fn query(
    sql: String,
    statement: &Statement,
) -> sqlx::query::Query<'static, sqlx::Postgres, PgArguments> {
    // The SQL text is built from schema-checked identifiers and `$n` placeholders only.
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for bind in &statement.binds {
        q = q.bind(bind.pg_text());
    }
    q
}

impl Conn for PgConnection {
    async fn load_table(&mut self, schema: &str, name: &str) -> Result<Option<Table>> {
        let rows = sqlx::query(
            "SELECT column_name::text, udt_schema::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(schema)
        .bind(name)
        .fetch_all(&mut *self)
        .await
        .map_err(from_sqlx)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut columns = Vec::with_capacity(rows.len());
        for row in rows {
            let column: String = row.try_get(0).map_err(from_sqlx)?;
            let udt_schema: String = row.try_get(1).map_err(from_sqlx)?;
            let udt_name: String = row.try_get(2).map_err(from_sqlx)?;
            columns.push(Column {
                name: column,
                kind: Kind::from_pg_type(&udt_name),
                pg_cast: format!("{}.{}", quote_ident(&udt_schema), quote_ident(&udt_name)),
            });
        }
        let primary_key: Vec<String> = sqlx::query_scalar(
            "SELECT kcu.column_name::text FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name \
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = $1 AND tc.table_name = $2 \
             ORDER BY kcu.ordinal_position",
        )
        .bind(schema)
        .bind(name)
        .fetch_all(&mut *self)
        .await
        .map_err(from_sqlx)?;
        Ok(Some(Table {
            name: name.to_owned(),
            schema: schema.to_owned(),
            columns,
            primary_key,
        }))
    }

    async fn rows(&mut self, statement: &Statement) -> Result<Vec<Value>> {
        let sql = format!(
            "WITH q AS ({}) SELECT COALESCE(json_agg(q), '[]'::json) FROM q",
            statement.sql
        );
        let row = query(sql, statement)
            .fetch_one(&mut *self)
            .await
            .map_err(from_sqlx)?;
        let Json(value): Json<Value> = row.try_get(0).map_err(from_sqlx)?;
        match value {
            Value::Array(rows) => Ok(rows),
            other => Ok(vec![other]),
        }
    }

    async fn count(&mut self, statement: &Statement) -> Result<i64> {
        let row = query(statement.sql.clone(), statement)
            .fetch_one(&mut *self)
            .await
            .map_err(from_sqlx)?;
        row.try_get::<i64, _>(0).map_err(from_sqlx)
    }

    async fn execute(&mut self, statement: &Statement) -> Result<u64> {
        Ok(query(statement.sql.clone(), statement)
            .execute(&mut *self)
            .await
            .map_err(from_sqlx)?
            .rows_affected())
    }
}
