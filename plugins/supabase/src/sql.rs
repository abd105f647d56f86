//! Whole statements from a `Query` and a live `Table`: SELECT (+ COUNT), INSERT/UPSERT,
//! UPDATE and DELETE with optional RETURNING. Every identifier comes from the schema,
//! every value is a parameter, LIMIT/OFFSET are integers formatted here.

use serde_json::{Map, Value};

use crate::coerce::{Bind, Purpose, coerce};
use crate::query::{Action, Query, SelectItem};
use crate::response::{Failure, Result};
use crate::schema::{Kind, Table, quote_ident};
pub use crate::sql_filter::{Builder, Dialect};

/// One output column (SQLite rows are decoded by it).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The JSON key.
    pub name: String,
    /// How to decode it.
    pub kind: Kind,
}

/// SQL text, its parameters and what its rows look like.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// Parameters for `$1..$n`.
    pub binds: Vec<Bind>,
    /// Output columns when the statement returns rows; empty when it does not.
    pub output: Vec<Output>,
}

/// What to run for one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The statements, in order (several for inserts of rows with different columns).
    pub statements: Vec<Statement>,
    /// `SELECT count(*)` for `{count: "exact"}` on selects.
    pub count: Option<Statement>,
    /// Whether rows are returned to the caller.
    pub returns_rows: bool,
}

/// The quoted table name.
pub fn table_ref(dialect: Dialect, table: &Table) -> String {
    match dialect {
        Dialect::Sqlite => quote_ident(&table.name),
        Dialect::Postgres => format!(
            "{}.{}",
            quote_ident(&table.schema),
            quote_ident(&table.name)
        ),
    }
}

/// The select list (or RETURNING list) and its output columns.
fn select_list(builder: &Builder<'_>, items: &[SelectItem]) -> Result<(String, Vec<Output>)> {
    let mut sql = Vec::new();
    let mut output = Vec::new();
    for item in items {
        if item.column == "*" {
            for c in &builder.table.columns {
                sql.push(format!("{0} AS {0}", quote_ident(&c.name)));
                output.push(Output {
                    name: c.name.clone(),
                    kind: c.kind,
                });
            }
            continue;
        }
        let column = builder.column(&item.column)?;
        let name = item.alias.clone().unwrap_or_else(|| column.name.clone());
        sql.push(format!(
            "{} AS {}",
            quote_ident(&column.name),
            quote_ident(&name)
        ));
        output.push(Output {
            name,
            kind: column.kind,
        });
    }
    Ok((sql.join(", "), output))
}

fn all_columns() -> Vec<SelectItem> {
    vec![SelectItem {
        column: "*".into(),
        alias: None,
    }]
}

/// Builds the plan for a table query. `max_rows` caps selects.
pub fn plan(dialect: Dialect, query: &Query, table: &Table, max_rows: Option<u64>) -> Result<Plan> {
    match &query.action {
        Action::Select => {
            let from = table_ref(dialect, table);
            plan_select(dialect, query, table, max_rows, &|_| Ok(from.clone()))
        }
        Action::Insert {
            rows,
            default_to_null,
        } => plan_insert(dialect, query, table, rows, *default_to_null, None),
        Action::Upsert {
            rows,
            on_conflict,
            ignore_duplicates,
            default_to_null,
        } => {
            let conflict = match on_conflict {
                Some(cols) => cols.clone(),
                None if !table.primary_key.is_empty() => table.primary_key.clone(),
                None => {
                    return Err(Failure::new(
                        400,
                        "42P10",
                        format!(
                            "upsert on {} needs onConflict: the table has no primary key",
                            table.name
                        ),
                    ));
                }
            };
            plan_insert(
                dialect,
                query,
                table,
                rows,
                *default_to_null,
                Some((conflict, *ignore_duplicates)),
            )
        }
        Action::Update { values } => plan_update(dialect, query, table, values),
        Action::Delete => plan_delete(dialect, query, table),
    }
}

fn order_and_page(builder: &Builder<'_>, query: &Query, max_rows: Option<u64>) -> Result<String> {
    let mut sql = String::new();
    if !query.order.is_empty() {
        let terms = query
            .order
            .iter()
            .map(|t| {
                let column = builder.column(&t.column)?;
                Ok(format!(
                    "{} {} NULLS {}",
                    quote_ident(&column.name),
                    if t.ascending { "ASC" } else { "DESC" },
                    if t.nulls_first_resolved() {
                        "FIRST"
                    } else {
                        "LAST"
                    }
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        sql.push_str(" ORDER BY ");
        sql.push_str(&terms.join(", "));
    }
    let limit = match (query.limit, max_rows) {
        (Some(l), Some(m)) => Some(l.min(m)),
        (l, m) => l.or(m),
    };
    // Both databases take 64-bit signed counts; a larger one means "all rows" anyway, and
    // written as is it would be a SQL error (SQLite: datatype mismatch).
    let signed = |n: u64| n.min(i64::MAX as u64);
    match (limit, query.offset, builder.dialect) {
        (Some(l), _, _) => sql.push_str(&format!(" LIMIT {}", signed(l))),
        (None, Some(_), Dialect::Sqlite) => sql.push_str(" LIMIT -1"),
        _ => {}
    }
    if let Some(offset) = query.offset {
        sql.push_str(&format!(" OFFSET {}", signed(offset)));
    }
    Ok(sql)
}

/// A `FROM` source written into the builder (a table name, or a function call whose
/// arguments become the first parameters).
pub type FromClause<'f> = dyn Fn(&mut Builder<'_>) -> Result<String> + 'f;

/// SELECT (and COUNT) over `table`'s columns from `from`.
pub fn plan_select(
    dialect: Dialect,
    query: &Query,
    table: &Table,
    max_rows: Option<u64>,
    from: &FromClause<'_>,
) -> Result<Plan> {
    let mut builder = Builder::new(dialect, table);
    let source = from(&mut builder)?;
    let items = query.columns.clone().unwrap_or_else(all_columns);
    let (list, output) = select_list(&builder, &items)?;
    let filter = builder.where_clause(&query.filters)?;
    let tail = order_and_page(&builder, query, max_rows)?;
    let main = Statement {
        sql: format!("SELECT {list} FROM {source}{filter}{tail}"),
        binds: std::mem::take(&mut builder.binds),
        output,
    };
    let count = if query.count {
        let mut counter = Builder::new(dialect, table);
        let source = from(&mut counter)?;
        let filter = counter.where_clause(&query.filters)?;
        Some(Statement {
            sql: format!("SELECT count(*) FROM {source}{filter}"),
            binds: counter.binds,
            output: Vec::new(),
        })
    } else {
        None
    };
    let statements = if query.head { Vec::new() } else { vec![main] };
    Ok(Plan {
        statements,
        count,
        returns_rows: !query.head,
    })
}

fn returning(builder: &Builder<'_>, query: &Query) -> Result<(String, Vec<Output>)> {
    match &query.columns {
        Some(items) => {
            let (list, output) = select_list(builder, items)?;
            Ok((format!(" RETURNING {list}"), output))
        }
        None => Ok((String::new(), Vec::new())),
    }
}

fn unknown_payload_column(table: &Table, name: &str) -> Failure {
    Failure::new(
        400,
        "PGRST204",
        format!(
            "Could not find the '{name}' column of '{}' in the schema cache",
            table.name
        ),
    )
}

/// Groups rows into statements: one statement with the union of keys (missing → NULL)
/// when `default_to_null` and there are several rows, else consecutive rows with the same
/// keys (missing columns take their defaults).
/// Rows sharing one column list: (columns, rows).
type RowGroup<'r> = (Vec<String>, Vec<&'r Map<String, Value>>);

fn row_groups(rows: &[Map<String, Value>], default_to_null: bool) -> Vec<RowGroup<'_>> {
    let keys = |row: &Map<String, Value>| row.keys().cloned().collect::<Vec<_>>();
    if default_to_null && rows.len() > 1 {
        let mut union: Vec<String> = Vec::new();
        for row in rows {
            for k in row.keys() {
                if !union.contains(k) {
                    union.push(k.clone());
                }
            }
        }
        if !union.is_empty() {
            return vec![(union, rows.iter().collect())];
        }
    }
    let mut groups: Vec<RowGroup<'_>> = Vec::new();
    for row in rows {
        let k = keys(row);
        match groups.last_mut() {
            Some((last, members)) if *last == k && !k.is_empty() => members.push(row),
            _ => groups.push((k, vec![row])),
        }
    }
    groups
}

fn plan_insert(
    dialect: Dialect,
    query: &Query,
    table: &Table,
    rows: &[Map<String, Value>],
    default_to_null: bool,
    upsert: Option<(Vec<String>, bool)>,
) -> Result<Plan> {
    if rows.is_empty() {
        return Ok(Plan {
            statements: Vec::new(),
            count: None,
            returns_rows: query.columns.is_some(),
        });
    }
    let into = table_ref(dialect, table);
    let mut statements = Vec::new();
    for (keys, members) in row_groups(rows, default_to_null) {
        let mut builder = Builder::new(dialect, table);
        let columns = keys
            .iter()
            .map(|k| {
                table
                    .column(k)
                    .ok_or_else(|| unknown_payload_column(table, k))
            })
            .collect::<Result<Vec<_>>>()?;
        // SQLite accepts no upsert clause after DEFAULT VALUES; an upsert of an empty row
        // (which PostgreSQL answers with DO NOTHING) is `INSERT OR IGNORE` there.
        let sqlite_default_upsert =
            dialect == Dialect::Sqlite && columns.is_empty() && upsert.is_some();
        let mut sql = if sqlite_default_upsert {
            format!("INSERT OR IGNORE INTO {into}")
        } else {
            format!("INSERT INTO {into}")
        };
        if columns.is_empty() {
            sql.push_str(" DEFAULT VALUES");
        } else {
            let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
            let mut tuples = Vec::with_capacity(members.len());
            for row in &members {
                let mut cells = Vec::with_capacity(columns.len());
                for column in &columns {
                    let value = row.get(&column.name).unwrap_or(&Value::Null);
                    let bind = coerce(value, column, Purpose::Write)?;
                    cells.push(builder.param(bind, Some(column)));
                }
                tuples.push(format!("({})", cells.join(", ")));
            }
            sql.push_str(&format!(
                " ({}) VALUES {}",
                names.join(", "),
                tuples.join(", ")
            ));
        }
        if let Some((conflict, ignore)) = &upsert {
            let targets = conflict
                .iter()
                .map(|c| builder.column(c).map(|col| quote_ident(&col.name)))
                .collect::<Result<Vec<_>>>()?;
            if sqlite_default_upsert {
                // Conflict targets are still checked above, so both backends refuse the same.
            } else if *ignore || columns.is_empty() {
                sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", targets.join(", ")));
            } else {
                let sets: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{0} = excluded.{0}", quote_ident(&c.name)))
                    .collect();
                sql.push_str(&format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    targets.join(", "),
                    sets.join(", ")
                ));
            }
        }
        let (ret, output) = returning(&builder, query)?;
        sql.push_str(&ret);
        statements.push(Statement {
            sql,
            binds: builder.binds,
            output,
        });
    }
    Ok(Plan {
        statements,
        count: None,
        returns_rows: query.columns.is_some(),
    })
}

fn plan_update(
    dialect: Dialect,
    query: &Query,
    table: &Table,
    values: &Map<String, Value>,
) -> Result<Plan> {
    let mut builder = Builder::new(dialect, table);
    let mut sets = Vec::with_capacity(values.len());
    for (name, value) in values {
        let column = table
            .column(name)
            .ok_or_else(|| unknown_payload_column(table, name))?;
        let bind = coerce(value, column, Purpose::Write)?;
        let p = builder.param(bind, Some(column));
        sets.push(format!("{} = {p}", quote_ident(&column.name)));
    }
    let filter = builder.where_clause(&query.filters)?;
    let (ret, output) = returning(&builder, query)?;
    let sql = format!(
        "UPDATE {} SET {}{filter}{ret}",
        table_ref(dialect, table),
        sets.join(", ")
    );
    Ok(Plan {
        statements: vec![Statement {
            sql,
            binds: builder.binds,
            output,
        }],
        count: None,
        returns_rows: query.columns.is_some(),
    })
}

fn plan_delete(dialect: Dialect, query: &Query, table: &Table) -> Result<Plan> {
    let mut builder = Builder::new(dialect, table);
    let filter = builder.where_clause(&query.filters)?;
    let (ret, output) = returning(&builder, query)?;
    let sql = format!("DELETE FROM {}{filter}{ret}", table_ref(dialect, table));
    Ok(Plan {
        statements: vec![Statement {
            sql,
            binds: builder.binds,
            output,
        }],
        count: None,
        returns_rows: query.columns.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::parse_chain;
    use crate::schema::Column;
    use serde_json::json;

    fn table() -> Table {
        let col = |name: &str, kind| Column {
            name: name.into(),
            kind,
            pg_cast: String::new(),
        };
        Table {
            name: "todos".into(),
            schema: "public".into(),
            columns: vec![
                col("id", Kind::Integer),
                col("title", Kind::Text),
                col("done", Kind::Boolean),
            ],
            primary_key: vec!["id".into()],
        }
    }

    fn plan_for(chain: Value, dialect: Dialect) -> Result<Plan> {
        plan(dialect, &parse_chain(&chain)?, &table(), None)
    }

    #[test]
    fn the_issue_example_becomes_one_parameterised_select() {
        let p = plan_for(
            json!([
                {"property": "from", "args": ["todos"]},
                {"property": "select", "args": ["id,title"]},
                {"property": "eq", "args": ["done", false]},
                {"property": "order", "args": ["id", {"ascending": false}]},
                {"property": "limit", "args": [10]}
            ]),
            Dialect::Sqlite,
        )
        .unwrap();
        assert_eq!(
            p.statements[0].sql,
            "SELECT \"id\" AS \"id\", \"title\" AS \"title\" FROM \"todos\" WHERE (\"done\" = $1) ORDER BY \"id\" DESC NULLS FIRST LIMIT 10"
        );
        assert_eq!(p.statements[0].binds, vec![Bind::Bool(false)]);
        assert!(p.count.is_none());
    }

    #[test]
    fn count_head_and_range() {
        let p = plan_for(
            json!([{"property": "from", "args": ["todos"]}, {"property": "select", "args": ["*", {"count": "exact", "head": true}]}, {"property": "gt", "args": ["id", 1]}]),
            Dialect::Postgres,
        )
        .unwrap();
        assert!(p.statements.is_empty());
        assert_eq!(
            p.count.unwrap().sql,
            "SELECT count(*) FROM \"public\".\"todos\" WHERE (\"id\" > $1)"
        );
        let r = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "select"}, {"property": "range", "args": [1, 2]}]), Dialect::Sqlite).unwrap();
        assert!(
            r.statements[0].sql.ends_with("LIMIT 2 OFFSET 1"),
            "{}",
            r.statements[0].sql
        );
    }

    #[test]
    fn bulk_insert_uses_the_union_of_keys_and_returns_only_with_select() {
        let p = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "insert", "args": [[{"title": "a"}, {"title": "b", "done": true}]]}]), Dialect::Sqlite).unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(
            p.statements[0].sql,
            "INSERT INTO \"todos\" (\"title\", \"done\") VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            p.statements[0].binds,
            vec![
                Bind::Text("a".into()),
                Bind::Null,
                Bind::Text("b".into()),
                Bind::Bool(true)
            ]
        );
        assert!(!p.returns_rows);
        let s = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "insert", "args": [{"title": "a"}]}, {"property": "select", "args": ["id"]}]), Dialect::Sqlite).unwrap();
        assert!(s.statements[0].sql.ends_with("RETURNING \"id\" AS \"id\""));
    }

    #[test]
    fn upsert_merges_or_ignores_on_the_primary_key() {
        let p = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "upsert", "args": [{"id": 1, "title": "x"}]}]), Dialect::Postgres).unwrap();
        assert!(p.statements[0].sql.ends_with("ON CONFLICT (\"id\") DO UPDATE SET \"id\" = excluded.\"id\", \"title\" = excluded.\"title\""), "{}", p.statements[0].sql);
        let i = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "upsert", "args": [{"id": 1}, {"onConflict": "title", "ignoreDuplicates": true}]}]), Dialect::Sqlite).unwrap();
        assert!(
            i.statements[0]
                .sql
                .ends_with("ON CONFLICT (\"title\") DO NOTHING")
        );
    }

    #[test]
    fn payload_and_filter_columns_are_checked() {
        let e = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "insert", "args": [{"nope": 1}]}]), Dialect::Sqlite).unwrap_err();
        assert_eq!(e.code, "PGRST204");
        let e = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "update", "args": [{"title": "x"}]}, {"property": "eq", "args": ["id;drop", 1]}]), Dialect::Sqlite).unwrap_err();
        assert_eq!(e.code, "42703");
        let e = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "select", "args": ["id,secret"]}]), Dialect::Sqlite).unwrap_err();
        assert!(e.message.contains("todos.secret"));
    }

    #[test]
    fn update_and_delete() {
        let p = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "update", "args": [{"done": true}]}, {"property": "eq", "args": ["id", 2]}, {"property": "select"}]), Dialect::Sqlite).unwrap();
        assert!(
            p.statements[0]
                .sql
                .starts_with("UPDATE \"todos\" SET \"done\" = $1 WHERE (\"id\" = $2) RETURNING")
        );
        let d = plan_for(json!([{"property": "from", "args": ["todos"]}, {"property": "delete"}, {"property": "in", "args": ["id", [1, 2, 2]]}]), Dialect::Sqlite).unwrap();
        assert_eq!(
            d.statements[0].sql,
            "DELETE FROM \"todos\" WHERE (\"id\" IN ($1, $2))"
        );
    }
}
