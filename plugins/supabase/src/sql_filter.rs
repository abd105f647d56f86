//! Filter conditions → SQL text with bound parameters, for SQLite and PostgreSQL. Column
//! names are looked up in the live schema and quoted from the schema's spelling; values
//! only ever become parameters. The few backend differences (LIKE case, JSON containment
//! on SQLite, regex and full-text search on PostgreSQL only) are decided here.

use serde_json::Value;

use crate::coerce::{Bind, Purpose, as_text, coerce};
use crate::query::{Condition, FtsKind, Operator};
use crate::response::{Failure, Result};
use crate::schema::{Column, Table, quote_ident};

/// Which SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35+.
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
}

/// Accumulates SQL text parameters.
#[derive(Debug)]
pub struct Builder<'a> {
    /// Which dialect.
    pub dialect: Dialect,
    /// The table the statement is about.
    pub table: &'a Table,
    /// Parameters, in `$n` order.
    pub binds: Vec<Bind>,
}

impl<'a> Builder<'a> {
    /// A builder for `table`.
    pub fn new(dialect: Dialect, table: &'a Table) -> Self {
        Self {
            dialect,
            table,
            binds: Vec::new(),
        }
    }

    /// The schema's column, or 42703 naming it.
    pub fn column(&self, name: &str) -> Result<&'a Column> {
        self.table
            .column(name)
            .ok_or_else(|| Failure::unknown_column(&self.table.name, name))
    }

    /// Adds a parameter typed like `column` and returns its placeholder.
    pub fn param(&mut self, bind: Bind, column: Option<&Column>) -> String {
        self.binds.push(bind);
        let n = self.binds.len();
        match (self.dialect, column) {
            (Dialect::Postgres, Some(c)) if !c.pg_cast.is_empty() => {
                format!("CAST(${n} AS {})", c.pg_cast)
            }
            _ => format!("${n}"),
        }
    }

    /// Adds a plain text parameter.
    pub fn text_param(&mut self, text: String) -> String {
        self.param(Bind::Text(text), None)
    }

    /// Converts and binds a filter value for `column`.
    fn value_param(&mut self, value: &Value, column: &Column) -> Result<String> {
        let bind = coerce(value, column, Purpose::Filter)?;
        Ok(self.param(bind, Some(column)))
    }

    /// ANDs conditions; empty → no WHERE clause.
    pub fn where_clause(&mut self, conditions: &[Condition]) -> Result<String> {
        if conditions.is_empty() {
            return Ok(String::new());
        }
        let parts = conditions
            .iter()
            .map(|c| self.condition(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(format!(" WHERE {}", parts.join(" AND ")))
    }

    /// One condition as a parenthesised SQL boolean expression.
    pub fn condition(&mut self, condition: &Condition) -> Result<String> {
        match condition {
            Condition::All(items) => self.group(items, " AND ", "(1=1)"),
            Condition::Any(items) => self.group(items, " OR ", "(1=0)"),
            Condition::Not(inner) => Ok(format!("(NOT {})", self.condition(inner)?)),
            Condition::Test {
                column,
                negated,
                op,
                value,
            } => {
                let column = self.column(column)?;
                let test = self.test(column, op, value)?;
                Ok(if *negated {
                    format!("(NOT {test})")
                } else {
                    test
                })
            }
        }
    }

    fn group(&mut self, items: &[Condition], joiner: &str, empty: &str) -> Result<String> {
        if items.is_empty() {
            return Ok(empty.to_owned());
        }
        let parts = items
            .iter()
            .map(|c| self.condition(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(format!("({})", parts.join(joiner)))
    }

    fn test(&mut self, column: &Column, op: &Operator, value: &Value) -> Result<String> {
        let col = quote_ident(&column.name);
        let pg = self.dialect == Dialect::Postgres;
        let sql = match op {
            Operator::Eq
            | Operator::Neq
            | Operator::Gt
            | Operator::Gte
            | Operator::Lt
            | Operator::Lte => {
                let symbol = match op {
                    Operator::Eq => "=",
                    Operator::Neq => "<>",
                    Operator::Gt => ">",
                    Operator::Gte => ">=",
                    Operator::Lt => "<",
                    _ => "<=",
                };
                format!("({col} {symbol} {})", self.value_param(value, column)?)
            }
            Operator::Like | Operator::Ilike => {
                self.like(&col, column, &as_text(value), *op == Operator::Ilike)
            }
            Operator::LikeList { insensitive, all } => {
                let Value::Array(patterns) = value else {
                    return Err(Failure::parse("like(all|any) needs a list of patterns"));
                };
                let parts: Vec<String> = patterns
                    .iter()
                    .map(|p| self.like(&col, column, &as_text(p), *insensitive))
                    .collect();
                match (parts.is_empty(), all) {
                    (true, true) => "(1=1)".into(),
                    (true, false) => "(1=0)".into(),
                    (false, true) => format!("({})", parts.join(" AND ")),
                    (false, false) => format!("({})", parts.join(" OR ")),
                }
            }
            Operator::Match | Operator::Imatch => {
                if !pg {
                    return Err(Failure::unsupported(
                        "regular expression filters (match, imatch) are not supported on SQLite",
                    ));
                }
                let p = self.text_param(as_text(value));
                let symbol = if *op == Operator::Match { "~" } else { "~*" };
                format!("(CAST({col} AS text) {symbol} {p})")
            }
            Operator::In => {
                let Value::Array(items) = value else {
                    return Err(Failure::parse("in needs a list of values"));
                };
                if items.is_empty() {
                    "(1=0)".into()
                } else {
                    let params = items
                        .iter()
                        .map(|v| self.value_param(v, column))
                        .collect::<Result<Vec<_>>>()?;
                    format!("({col} IN ({}))", params.join(", "))
                }
            }
            Operator::Is => match value {
                Value::Null => format!("({col} IS NULL)"),
                Value::Bool(true) => format!("({col} IS TRUE)"),
                Value::Bool(false) => format!("({col} IS FALSE)"),
                Value::String(k) if k == "not_null" => format!("({col} IS NOT NULL)"),
                Value::String(k) if k == "unknown" && pg => format!("({col} IS UNKNOWN)"),
                Value::String(k) if k == "unknown" => format!("({col} IS NULL)"),
                other => {
                    return Err(Failure::parse(format!(
                        "\"is\" takes null, true, false or unknown, not {other}"
                    )));
                }
            },
            Operator::IsDistinct => {
                let p = self.value_param(value, column)?;
                if pg {
                    format!("({col} IS DISTINCT FROM {p})")
                } else {
                    format!("({col} IS NOT {p})")
                }
            }
            Operator::Contains | Operator::ContainedBy | Operator::Overlaps => {
                if pg {
                    let symbol = match op {
                        Operator::Contains => "@>",
                        Operator::ContainedBy => "<@",
                        _ => "&&",
                    };
                    format!("({col} {symbol} {})", self.value_param(value, column)?)
                } else {
                    // Qualified: `json_each` has columns of its own (`id`, `key`, `value`,
                    // `type`...) that would shadow a bare column name inside the subqueries.
                    let qualified = format!("{}.{col}", quote_ident(&self.table.name));
                    self.sqlite_json_containment(&qualified, op, value)?
                }
            }
            Operator::Fts { kind, config } => {
                if !pg {
                    return Err(Failure::unsupported(
                        "full-text search (textSearch, fts) is not supported on SQLite",
                    ));
                }
                let function = match kind {
                    FtsKind::Plain => "to_tsquery",
                    FtsKind::PlainText => "plainto_tsquery",
                    FtsKind::Phrase => "phraseto_tsquery",
                    FtsKind::Websearch => "websearch_to_tsquery",
                };
                let is_vector = column.pg_cast.ends_with("\"tsvector\"");
                match config {
                    Some(cfg) => {
                        let c1 = self.text_param(cfg.clone());
                        let document = if is_vector {
                            col.clone()
                        } else {
                            format!("to_tsvector(CAST({c1} AS regconfig), CAST({col} AS text))")
                        };
                        let c2 = self.text_param(cfg.clone());
                        let q = self.text_param(as_text(value));
                        format!("({document} @@ {function}(CAST({c2} AS regconfig), {q}))")
                    }
                    None => {
                        let document = if is_vector {
                            col.clone()
                        } else {
                            format!("to_tsvector(CAST({col} AS text))")
                        };
                        let q = self.text_param(as_text(value));
                        format!("({document} @@ {function}({q}))")
                    }
                }
            }
        };
        Ok(sql)
    }

    /// `like` is case-sensitive and `ilike` is not, on both backends; `*` stands for `%`
    /// as in PostgREST URLs. SQLite's LIKE ignores ASCII case, so `like` uses GLOB there.
    fn like(&mut self, col: &str, column: &Column, pattern: &str, insensitive: bool) -> String {
        let pattern = pattern.replace('*', "%");
        match (self.dialect, insensitive) {
            (Dialect::Postgres, _) => {
                let target = if column.kind.is_textual() {
                    col.to_owned()
                } else {
                    format!("CAST({col} AS text)")
                };
                let p = self.text_param(pattern);
                format!(
                    "({target} {} {p})",
                    if insensitive { "ILIKE" } else { "LIKE" }
                )
            }
            (Dialect::Sqlite, true) => {
                let p = self.text_param(pattern);
                format!("({col} LIKE {p} ESCAPE '\\')")
            }
            (Dialect::Sqlite, false) => {
                let p = self.text_param(like_to_glob(&pattern));
                format!("({col} GLOB {p})")
            }
        }
    }

    /// JSON containment on SQLite (JSON stored as text): top-level elements of arrays, or
    /// top-level keys of objects, compared by JSON type and value.
    fn sqlite_json_containment(
        &mut self,
        col: &str,
        op: &Operator,
        value: &Value,
    ) -> Result<String> {
        let needle = sqlite_json_needle(value)?;
        let (a, b, c) = (
            self.text_param(needle.clone()),
            self.text_param(needle.clone()),
            self.text_param(needle),
        );
        let sql = match op {
            Operator::Contains => format!(
                "(CASE WHEN json_valid({col}) THEN (json_type({col}) = json_type({a}) AND NOT EXISTS (SELECT 1 FROM json_each({b}) AS needle WHERE NOT EXISTS (SELECT 1 FROM json_each({col}) AS hay WHERE hay.type = needle.type AND hay.value IS needle.value AND (hay.key IS needle.key OR json_type({c}) = 'array')))) ELSE 0 END)"
            ),
            Operator::ContainedBy => format!(
                "(CASE WHEN json_valid({col}) THEN (json_type({col}) = json_type({a}) AND NOT EXISTS (SELECT 1 FROM json_each({col}) AS hay WHERE NOT EXISTS (SELECT 1 FROM json_each({b}) AS needle WHERE hay.type = needle.type AND hay.value IS needle.value AND (hay.key IS needle.key OR json_type({c}) = 'array')))) ELSE 0 END)"
            ),
            _ => format!(
                "(CASE WHEN json_valid({col}) AND json_type({a}) = 'array' THEN EXISTS (SELECT 1 FROM json_each({col}) AS hay JOIN json_each({b}) AS needle ON hay.type = needle.type AND hay.value IS needle.value) AND json_type({c}) = 'array' ELSE 0 END)"
            ),
        };
        Ok(sql)
    }
}

/// The JSON text to look for: JSON values as given, strings parsed as JSON or as a
/// PostgreSQL array literal `{a,b}`.
fn sqlite_json_needle(value: &Value) -> Result<String> {
    match value {
        Value::Array(_) | Value::Object(_) => Ok(value.to_string()),
        Value::String(s) => {
            if let Ok(parsed) = serde_json::from_str::<Value>(s)
                && (parsed.is_array() || parsed.is_object())
            {
                return Ok(parsed.to_string());
            }
            if let Some(inner) = s.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                let items: Vec<Value> = if inner.trim().is_empty() {
                    Vec::new()
                } else {
                    inner
                        .split(',')
                        .map(|i| Value::String(i.trim().trim_matches('"').to_owned()))
                        .collect()
                };
                return Ok(Value::Array(items).to_string());
            }
            Err(Failure::parse(format!(
                "contains/containedBy/overlaps need an array or object, got \"{s}\""
            )))
        }
        other => Err(Failure::parse(format!(
            "contains/containedBy/overlaps need an array or object, got {other}"
        ))),
    }
}

/// Translates a LIKE pattern (with `\` escapes) into a GLOB pattern.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => push_glob_literal(&mut out, next),
                None => push_glob_literal(&mut out, '\\'),
            },
            '%' => out.push('*'),
            '_' => out.push('?'),
            other => push_glob_literal(&mut out, other),
        }
    }
    out
}

fn push_glob_literal(out: &mut String, c: char) {
    match c {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Kind;
    use serde_json::json;

    fn table() -> Table {
        let col = |name: &str, kind, cast: &str| Column {
            name: name.into(),
            kind,
            pg_cast: cast.into(),
        };
        Table {
            name: "todos".into(),
            schema: "public".into(),
            columns: vec![
                col("id", Kind::Integer, "\"pg_catalog\".\"int4\""),
                col("title", Kind::Text, "\"pg_catalog\".\"text\""),
                col("tags", Kind::Json, "\"pg_catalog\".\"jsonb\""),
            ],
            primary_key: vec!["id".into()],
        }
    }

    fn test(column: &str, op: Operator, value: Value) -> Condition {
        Condition::Test {
            column: column.into(),
            negated: false,
            op,
            value,
        }
    }

    #[test]
    fn comparisons_bind_values_with_casts_on_postgres() {
        let t = table();
        let mut b = Builder::new(Dialect::Postgres, &t);
        let sql = b
            .where_clause(&[
                test("id", Operator::Gt, json!(3)),
                test("title", Operator::Ilike, json!("a*")),
            ])
            .unwrap();
        assert_eq!(
            sql,
            " WHERE (\"id\" > CAST($1 AS \"pg_catalog\".\"int4\")) AND (\"title\" ILIKE $2)"
        );
        assert_eq!(b.binds, vec![Bind::Int(3), Bind::Text("a%".into())]);
    }

    #[test]
    fn sqlite_like_is_case_sensitive_via_glob() {
        let t = table();
        let mut b = Builder::new(Dialect::Sqlite, &t);
        let sql = b
            .condition(&test("title", Operator::Like, json!("a_b%[x]")))
            .unwrap();
        assert_eq!(sql, "(\"title\" GLOB $1)");
        assert_eq!(b.binds, vec![Bind::Text("a?b*[[]x]".into())]);
        assert_eq!(like_to_glob(r"100\%"), "100%");
    }

    #[test]
    fn unknown_columns_and_injection_attempts_are_refused() {
        let t = table();
        let mut b = Builder::new(Dialect::Sqlite, &t);
        let err = b
            .condition(&test("id\" OR 1=1 --", Operator::Eq, json!(1)))
            .unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "42703"));
        let ok = b
            .condition(&test("title", Operator::Eq, json!("x' OR '1'='1")))
            .unwrap();
        assert_eq!(ok, "(\"title\" = $1)");
    }

    #[test]
    fn logic_trees_nest_and_negate() {
        let t = table();
        let mut b = Builder::new(Dialect::Sqlite, &t);
        let tree = Condition::Any(vec![
            test("id", Operator::In, json!(["1", 2])),
            Condition::Not(Box::new(Condition::All(vec![test(
                "title",
                Operator::Is,
                Value::Null,
            )]))),
        ]);
        assert_eq!(
            b.condition(&tree).unwrap(),
            "((\"id\" IN ($1, $2)) OR (NOT ((\"title\" IS NULL))))"
        );
        assert_eq!(b.binds, vec![Bind::Int(1), Bind::Int(2)]);
    }
}
