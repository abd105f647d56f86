//! `rpc(fn, args)` on PostgreSQL: finds the function in `pg_catalog` (overloads matched by
//! argument names), calls it with named arguments cast to the declared types, and shapes
//! the answer like PostgREST (set → array, composite → object, scalar → value, void → null).
//! Filters, order and limit apply to set-returning functions' columns.

use serde_json::{Map, Value};
use sqlx::{PgConnection, Row};

use crate::backend::{Conn, from_sqlx};
use crate::coerce::{Purpose, coerce};
use crate::config::Config;
use crate::query::Query;
use crate::response::{Failure, Result, Success};
use crate::runner::{select_status, shape_rows};
use crate::schema::{Column, Kind, Table, quote_ident};
use crate::sql::{self, Builder, Dialect, Statement};

/// One overload of the function.
#[derive(Debug)]
struct Overload {
    returns_set: bool,
    /// `c` composite, `b` base, `p` pseudo (void, record), ...
    return_kind: String,
    return_type: String,
    return_relid: i64,
    /// Input arguments (name, type for CAST, typname).
    inputs: Vec<Column>,
    /// Output columns of `RETURNS TABLE` / OUT arguments.
    outputs: Vec<Column>,
    defaults: usize,
}

async fn overloads(conn: &mut PgConnection, schema: &str, function: &str) -> Result<Vec<Overload>> {
    let rows = sqlx::query(
        "SELECT p.proretset, t.typtype::text, t.typname::text, t.typrelid::int8, \
           COALESCE(p.proargnames, ARRAY[]::text[]), COALESCE(p.proargmodes::text[], ARRAY[]::text[]), \
           ARRAY(SELECT format_type(u.a, NULL) FROM unnest(COALESCE(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS u(a, i) ORDER BY u.i), \
           ARRAY(SELECT ty.typname::text FROM unnest(COALESCE(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS u(a, i) JOIN pg_type ty ON ty.oid = u.a ORDER BY u.i), \
           p.pronargdefaults::int4 \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type t ON t.oid = p.prorettype \
         WHERE n.nspname = $1 AND p.proname = $2 AND p.prokind = 'f'",
    )
    .bind(schema)
    .bind(function)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let names: Vec<String> = row.try_get(4).map_err(from_sqlx)?;
        let modes: Vec<String> = row.try_get(5).map_err(from_sqlx)?;
        let types: Vec<String> = row.try_get(6).map_err(from_sqlx)?;
        let typnames: Vec<String> = row.try_get(7).map_err(from_sqlx)?;
        let defaults: i32 = row.try_get(8).map_err(from_sqlx)?;
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for (i, cast) in types.iter().enumerate() {
            let mode = modes.get(i).map(String::as_str).unwrap_or("i");
            let column = Column {
                name: names.get(i).cloned().unwrap_or_default(),
                kind: Kind::from_pg_type(typnames.get(i).map(String::as_str).unwrap_or("")),
                pg_cast: cast.clone(),
            };
            if matches!(mode, "i" | "b" | "v") {
                inputs.push(column.clone());
            }
            if matches!(mode, "o" | "b" | "t") {
                outputs.push(column);
            }
        }
        out.push(Overload {
            returns_set: row.try_get(0).map_err(from_sqlx)?,
            return_kind: row.try_get(1).map_err(from_sqlx)?,
            return_type: row.try_get(2).map_err(from_sqlx)?,
            return_relid: row.try_get(3).map_err(from_sqlx)?,
            inputs,
            outputs,
            defaults: usize::try_from(defaults).unwrap_or(0),
        });
    }
    Ok(out)
}

/// The overload whose named inputs cover `args` and whose required inputs are all given.
fn choose<'o>(candidates: &'o [Overload], args: &Map<String, Value>) -> Option<&'o Overload> {
    candidates.iter().find(|o| {
        let required = o.inputs.len().saturating_sub(o.defaults);
        args.keys().all(|k| o.inputs.iter().any(|c| &c.name == k))
            && o.inputs[..required]
                .iter()
                .all(|c| args.contains_key(&c.name))
    })
}

async fn composite_columns(conn: &mut PgConnection, relid: i64) -> Result<Vec<Column>> {
    let rows = sqlx::query(
        "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
         JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(relid)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    rows.iter()
        .map(|r| {
            Ok(Column {
                name: r.try_get(0).map_err(from_sqlx)?,
                kind: Kind::from_pg_type(&r.try_get::<String, _>(1).map_err(from_sqlx)?),
                pg_cast: r.try_get(2).map_err(from_sqlx)?,
            })
        })
        .collect()
}

/// Calls the function; returns the answer and whether to commit.
pub async fn call(
    conn: &mut PgConnection,
    config: &Config,
    function: &str,
    args: &Map<String, Value>,
    query: &Query,
) -> Result<(Success, bool)> {
    let candidates = overloads(conn, &config.schema, function).await?;
    let mut names: Vec<&str> = args.keys().map(String::as_str).collect();
    names.sort_unstable();
    let overload = choose(&candidates, args).ok_or_else(|| {
        Failure::new(
            404,
            "PGRST202",
            format!(
                "Could not find the function {}.{function}({}) in the schema cache",
                config.schema,
                names.join(", ")
            ),
        )
    })?;
    let callee = format!("{}.{}", quote_ident(&config.schema), quote_ident(function));
    let write_args = |b: &mut Builder<'_>| -> Result<String> {
        let mut parts = Vec::new();
        for column in &overload.inputs {
            if let Some(value) = args.get(&column.name) {
                let bind = coerce(value, column, Purpose::Write)?;
                let p = b.param(bind, Some(column));
                parts.push(format!("{} => {p}", quote_ident(&column.name)));
            }
        }
        Ok(format!("{callee}({})", parts.join(", ")))
    };
    let composite = overload.return_kind == "c"
        || (overload.return_type == "record" && !overload.outputs.is_empty());
    let columns = if overload.return_kind == "c" {
        composite_columns(conn, overload.return_relid).await?
    } else if composite {
        overload.outputs.clone()
    } else {
        vec![Column {
            name: function.to_owned(),
            kind: Kind::Other,
            pg_cast: String::new(),
        }]
    };
    let table = Table {
        name: function.to_owned(),
        schema: config.schema.clone(),
        columns,
        primary_key: Vec::new(),
    };

    if overload.return_type == "void" {
        let mut b = Builder::new(Dialect::Postgres, &table);
        let call = write_args(&mut b)?;
        conn.execute(&Statement {
            sql: format!("SELECT {call}"),
            binds: b.binds,
            output: Vec::new(),
        })
        .await?;
        return Ok((
            Success {
                data: Value::Null,
                count: None,
                status: 204,
            },
            !query.rollback,
        ));
    }
    if !composite && !overload.returns_set {
        let mut b = Builder::new(Dialect::Postgres, &table);
        let call = write_args(&mut b)?;
        let rows = conn
            .rows(&Statement {
                sql: format!("SELECT {call} AS {}", quote_ident(function)),
                binds: b.binds,
                output: Vec::new(),
            })
            .await?;
        let value = rows
            .into_iter()
            .next()
            .and_then(|r| r.get(function).cloned())
            .unwrap_or(Value::Null);
        return Ok((
            Success {
                data: value,
                count: None,
                status: 200,
            },
            !query.rollback,
        ));
    }
    let alias = if composite {
        "r".to_owned()
    } else {
        format!("r({})", quote_ident(function))
    };
    let from =
        |b: &mut Builder<'_>| -> Result<String> { Ok(format!("{} AS {alias}", write_args(b)?)) };
    let plan = sql::plan_select(Dialect::Postgres, query, &table, config.max_rows, &from)?;
    let rows = match plan.statements.first() {
        Some(statement) => conn.rows(statement).await?,
        None => Vec::new(),
    };
    let count = match &plan.count {
        Some(statement) => Some(conn.count(statement).await?),
        None => None,
    };
    let status = select_status(query, rows.len(), count);
    let rows: Vec<Value> = if composite {
        rows
    } else {
        rows.into_iter()
            .map(|r| r.get(function).cloned().unwrap_or(Value::Null))
            .collect()
    };
    let data = if query.head {
        Value::Null
    } else if overload.returns_set {
        shape_rows(rows, query.cardinality)?
    } else {
        rows.into_iter().next().unwrap_or(Value::Null)
    };
    Ok((
        Success {
            data,
            count,
            status,
        },
        !query.rollback,
    ))
}
