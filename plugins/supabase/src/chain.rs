//! Turns the recorded supabase-js chain (`[{property, args}]`) into a `Query`. Only the
//! builder methods listed here are accepted (an unknown step is an error, never a call);
//! values stay JSON, names stay unchecked (the schema check happens later).

use serde_json::{Map, Value};

use crate::filter;
use crate::query::{
    Action, Cardinality, Condition, FtsKind, Operator, OrderTerm, Query, QueryTarget, SelectItem,
};
use crate::response::{Failure, Result};

/// One step: the builder method and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The method name (`from`, `eq`, ...).
    pub property: String,
    /// Its arguments.
    pub args: Vec<Value>,
}

/// Reads `[{property, args?}]`.
pub fn parse_steps(chain: &Value) -> Result<Vec<Step>> {
    let invalid = |m: String| Failure::new(400, "INVALID_CHAIN_FORMAT", m);
    let steps = chain
        .as_array()
        .ok_or_else(|| invalid("\"chain\" must be an array of {property, args} steps".into()))?;
    if steps.is_empty() {
        return Err(invalid("\"chain\" must not be empty".into()));
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let property = step
                .get("property")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    invalid(format!("chain[{i}].property must be a non-empty string"))
                })?;
            let args = match step.get("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(other) => vec![other.clone()],
            };
            Ok(Step {
                property: property.to_owned(),
                args,
            })
        })
        .collect()
}

/// Parses a whole chain into a query.
pub fn parse_chain(chain: &Value) -> Result<Query> {
    let steps = parse_steps(chain)?;
    let mut query = Query::default();
    for (i, step) in steps.iter().enumerate() {
        apply(&mut query, step, i).map_err(|mut e| {
            if e.code == "PGRST100" || e.code == "METHOD_NOT_FOUND" {
                e.details
                    .get_or_insert_with(|| format!("at chain[{i}] ({})", step.property));
            }
            e
        })?;
    }
    if query.target == QueryTarget::None {
        return Err(Failure::new(
            400,
            "INVALID_CHAIN_FORMAT",
            "the chain must start with from(table) or rpc(fn, args)",
        ));
    }
    Ok(query)
}

fn arg(step: &Step, i: usize) -> Option<&Value> {
    step.args.get(i).filter(|v| !v.is_null())
}

fn str_arg<'a>(step: &'a Step, i: usize, what: &str) -> Result<&'a str> {
    arg(step, i).and_then(Value::as_str).ok_or_else(|| {
        Failure::parse(format!(
            "{}() needs {what} as argument {}",
            step.property,
            i + 1
        ))
    })
}

fn value_arg(step: &Step, i: usize, what: &str) -> Result<Value> {
    step.args.get(i).cloned().ok_or_else(|| {
        Failure::parse(format!(
            "{}() needs {what} as argument {}",
            step.property,
            i + 1
        ))
    })
}

fn options(step: &Step, i: usize) -> Result<Map<String, Value>> {
    match arg(step, i) {
        None => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o.clone()),
        Some(_) => Err(Failure::parse(format!(
            "{}() options must be an object",
            step.property
        ))),
    }
}

fn count_option(opts: &Map<String, Value>) -> Result<bool> {
    match opts.get("count") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if matches!(s.as_str(), "exact" | "planned" | "estimated") => {
            Ok(true)
        }
        Some(other) => Err(Failure::parse(format!(
            "count must be \"exact\", \"planned\" or \"estimated\", not {other}"
        ))),
    }
}

fn bool_option(opts: &Map<String, Value>, name: &str, default: bool) -> Result<bool> {
    match opts.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Failure::parse(format!(
            "option {name} must be true or false, not {other}"
        ))),
    }
}

fn no_referenced_table(opts: &Map<String, Value>) -> Result<()> {
    if opts.contains_key("referencedTable") || opts.contains_key("foreignTable") {
        return Err(Failure::unsupported(
            "embedded resources (referencedTable) are not supported",
        ));
    }
    Ok(())
}

fn rows_arg(step: &Step) -> Result<Vec<Map<String, Value>>> {
    match value_arg(step, 0, "a row or an array of rows")? {
        Value::Object(row) => Ok(vec![row]),
        Value::Array(rows) => rows
            .into_iter()
            .map(|r| match r {
                Value::Object(o) => Ok(o),
                _ => Err(Failure::parse(format!(
                    "{}() rows must be objects",
                    step.property
                ))),
            })
            .collect(),
        _ => Err(Failure::parse(format!(
            "{}() needs a row object or an array of row objects",
            step.property
        ))),
    }
}

fn u64_arg(step: &Step, i: usize, what: &str) -> Result<u64> {
    let v = value_arg(step, i, what)?;
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| {
            Failure::parse(format!(
                "{}() needs {what} (a non-negative integer), got {v}",
                step.property
            ))
        })
}

fn set_action(query: &mut Query, action: Action, step: &Step) -> Result<()> {
    if query.action.is_mutation() || query.columns.is_some() || !query.filters.is_empty() {
        return Err(Failure::parse(format!(
            "{}() must come right after from(table)",
            step.property
        )));
    }
    if !matches!(query.target, QueryTarget::Table(_)) {
        return Err(Failure::parse(format!(
            "{}() needs from(table) first",
            step.property
        )));
    }
    query.action = action;
    Ok(())
}

fn push_test(query: &mut Query, column: &str, op: Operator, value: Value) {
    query.filters.push(Condition::Test {
        column: column.to_owned(),
        negated: false,
        op,
        value,
    });
}

fn apply(query: &mut Query, step: &Step, index: usize) -> Result<()> {
    let name = step.property.as_str();
    if index == 0 && !matches!(name, "from" | "rpc") {
        return Err(Failure::new(
            400,
            "INVALID_CHAIN_FORMAT",
            format!("the chain must start with from(table) or rpc(fn, args), not {name}()"),
        ));
    }
    if index > 0 && matches!(name, "from" | "rpc") {
        return Err(Failure::parse(format!("{name}() may only start the chain")));
    }
    match name {
        "from" => query.target = QueryTarget::Table(str_arg(step, 0, "a table name")?.to_owned()),
        "rpc" => {
            let function = str_arg(step, 0, "a function name")?.to_owned();
            let args = match arg(step, 1) {
                None => Map::new(),
                Some(Value::Object(o)) => o.clone(),
                Some(_) => {
                    return Err(Failure::parse(
                        "rpc() arguments must be an object of named arguments",
                    ));
                }
            };
            let opts = options(step, 2)?;
            query.count = count_option(&opts)?;
            query.head = bool_option(&opts, "head", false)?;
            query.target = QueryTarget::Rpc { function, args };
        }
        "select" => {
            if query.columns.is_some() {
                return Err(Failure::parse("select() given twice"));
            }
            let list = match arg(step, 0) {
                None => "*",
                Some(Value::String(s)) => s.as_str(),
                Some(_) => {
                    return Err(Failure::parse(
                        "select() columns must be a string such as \"id,title\"",
                    ));
                }
            };
            query.columns = Some(parse_select_list(list)?);
            let opts = options(step, 1)?;
            if !query.action.is_mutation() {
                query.count = query.count || count_option(&opts)?;
                query.head = query.head || bool_option(&opts, "head", false)?;
            }
        }
        "insert" | "upsert" => {
            let rows = rows_arg(step)?;
            let opts = options(step, 1)?;
            // supabase-js: defaultToNull only matters for bulk inserts (it sets ?columns=).
            let default_to_null = bool_option(&opts, "defaultToNull", true)?;
            let action = if name == "insert" {
                Action::Insert {
                    rows,
                    default_to_null,
                }
            } else {
                let on_conflict = match opts.get("onConflict") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(
                        s.split(',')
                            .map(|c| c.trim().to_owned())
                            .filter(|c| !c.is_empty())
                            .collect(),
                    ),
                    Some(_) => {
                        return Err(Failure::parse(
                            "onConflict must be a string such as \"id\" or \"a,b\"",
                        ));
                    }
                };
                Action::Upsert {
                    rows,
                    on_conflict,
                    ignore_duplicates: bool_option(&opts, "ignoreDuplicates", false)?,
                    default_to_null,
                }
            };
            set_action(query, action, step)?;
            query.count = count_option(&opts)?;
        }
        "update" => {
            let values = match value_arg(step, 0, "an object of new values")? {
                Value::Object(o) if !o.is_empty() => o,
                _ => {
                    return Err(Failure::parse(
                        "update() needs a non-empty object of new values",
                    ));
                }
            };
            let opts = options(step, 1)?;
            set_action(query, Action::Update { values }, step)?;
            query.count = count_option(&opts)?;
        }
        "delete" => {
            let opts = options(step, 0)?;
            set_action(query, Action::Delete, step)?;
            query.count = count_option(&opts)?;
        }
        "eq" | "neq" | "gt" | "gte" | "lt" | "lte" | "like" | "ilike" | "isDistinct"
        | "contains" | "containedBy" | "overlaps" => {
            let op = match name {
                "eq" => Operator::Eq,
                "neq" => Operator::Neq,
                "gt" => Operator::Gt,
                "gte" => Operator::Gte,
                "lt" => Operator::Lt,
                "lte" => Operator::Lte,
                "like" => Operator::Like,
                "ilike" => Operator::Ilike,
                "isDistinct" => Operator::IsDistinct,
                "contains" => Operator::Contains,
                "containedBy" => Operator::ContainedBy,
                _ => Operator::Overlaps,
            };
            let column = str_arg(step, 0, "a column name")?;
            let value = value_arg(step, 1, "a value")?;
            if value.is_null() && matches!(op, Operator::Eq | Operator::Neq) {
                return Err(Failure::parse(format!(
                    "{name}() with null never matches; use is(column, null)"
                )));
            }
            push_test(query, column, op, value);
        }
        "regexMatch" | "regexIMatch" => {
            let op = if name == "regexMatch" {
                Operator::Match
            } else {
                Operator::Imatch
            };
            push_test(
                query,
                str_arg(step, 0, "a column name")?,
                op,
                Value::String(str_arg(step, 1, "a pattern")?.to_owned()),
            );
        }
        "likeAllOf" | "likeAnyOf" | "ilikeAllOf" | "ilikeAnyOf" => {
            let op = Operator::LikeList {
                insensitive: name.starts_with('i'),
                all: name.ends_with("AllOf"),
            };
            let patterns = value_arg(step, 1, "an array of patterns")?;
            if !patterns.is_array() {
                return Err(Failure::parse(format!(
                    "{name}() needs an array of patterns"
                )));
            }
            push_test(query, str_arg(step, 0, "a column name")?, op, patterns);
        }
        "in" => {
            let values = value_arg(step, 1, "an array of values")?;
            let Value::Array(items) = values else {
                return Err(Failure::parse("in() needs an array of values"));
            };
            let mut unique: Vec<Value> = Vec::with_capacity(items.len());
            for v in items {
                if !unique.contains(&v) {
                    unique.push(v);
                }
            }
            push_test(
                query,
                str_arg(step, 0, "a column name")?,
                Operator::In,
                Value::Array(unique),
            );
        }
        "is" => {
            let value = filter::is_keyword(step.args.get(1).unwrap_or(&Value::Null))?;
            push_test(
                query,
                str_arg(step, 0, "a column name")?,
                Operator::Is,
                value,
            );
        }
        "textSearch" => {
            let column = str_arg(step, 0, "a column name")?;
            let text = str_arg(step, 1, "a query")?;
            let opts = options(step, 2)?;
            let kind = match opts.get("type").and_then(Value::as_str) {
                None => FtsKind::Plain,
                Some("plain") => FtsKind::PlainText,
                Some("phrase") => FtsKind::Phrase,
                Some("websearch") => FtsKind::Websearch,
                Some(other) => {
                    return Err(Failure::parse(format!(
                        "textSearch type must be plain, phrase or websearch, not {other}"
                    )));
                }
            };
            let config = opts
                .get("config")
                .and_then(Value::as_str)
                .map(str::to_owned);
            push_test(
                query,
                column,
                Operator::Fts { kind, config },
                Value::String(text.to_owned()),
            );
        }
        "match" => {
            let Some(Value::Object(pairs)) = arg(step, 0) else {
                return Err(Failure::parse("match() needs an object {column: value}"));
            };
            for (column, value) in pairs {
                push_test(query, column, Operator::Eq, value.clone());
            }
        }
        "not" | "filter" => {
            let column = str_arg(step, 0, "a column name")?;
            let op = filter::operator(str_arg(step, 1, "an operator")?)?;
            let value = filter::raw_operand(&op, &value_arg(step, 2, "a value")?)?;
            query.filters.push(Condition::Test {
                column: column.to_owned(),
                negated: name == "not",
                op,
                value,
            });
        }
        "or" => {
            no_referenced_table(&options(step, 1)?)?;
            let text = str_arg(step, 0, "a filter string such as \"a.eq.1,b.gt.2\"")?;
            query
                .filters
                .push(Condition::Any(filter::parse_logic_list(text)?));
        }
        "order" => {
            let column = str_arg(step, 0, "a column name")?;
            let opts = options(step, 1)?;
            no_referenced_table(&opts)?;
            let nulls_first = match opts.get("nullsFirst") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(Failure::parse("nullsFirst must be true or false")),
            };
            query.order.push(OrderTerm {
                column: column.to_owned(),
                ascending: bool_option(&opts, "ascending", true)?,
                nulls_first,
            });
        }
        "limit" => {
            no_referenced_table(&options(step, 1)?)?;
            query.limit = Some(u64_arg(step, 0, "a row count")?);
        }
        "range" => {
            no_referenced_table(&options(step, 2)?)?;
            let from = u64_arg(step, 0, "the first row index")?;
            let to = u64_arg(step, 1, "the last row index")?;
            if to < from {
                return Err(
                    Failure::new(416, "PGRST103", "Requested range not satisfiable").details(
                        format!("range({from}, {to}): the last index is before the first"),
                    ),
                );
            }
            query.offset = Some(from);
            // `range(0, u64::MAX)` asks for every row; the count must not overflow.
            query.limit = Some((to - from).saturating_add(1));
        }
        "single" => query.cardinality = Cardinality::Single,
        "maybeSingle" => query.cardinality = Cardinality::MaybeSingle,
        "rollback" => query.rollback = true,
        "maxAffected" => query.max_affected = Some(u64_arg(step, 0, "a row count")?),
        // Client-side only in supabase-js: they change nothing on the server.
        "throwOnError" | "returns" | "overrideTypes" | "abortSignal" | "setHeader" => {}
        "csv" | "geojson" | "explain" | "schema" | "rangeGt" | "rangeGte" | "rangeLt"
        | "rangeLte" | "rangeAdjacent" => {
            return Err(Failure::unsupported(format!(
                "{name}() is not supported by this service"
            )));
        }
        other => {
            return Err(Failure::new(
                400,
                "METHOD_NOT_FOUND",
                format!("unknown or unsupported chain method \"{other}\""),
            ));
        }
    }
    Ok(())
}

/// Parses `id, title, label:name` (whitespace outside quotes ignored).
pub fn parse_select_list(text: &str) -> Result<Vec<SelectItem>> {
    let mut cleaned = String::with_capacity(text.len());
    let mut in_quotes = false;
    for c in text.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if in_quotes || !c.is_whitespace() {
            cleaned.push(c);
        }
    }
    if cleaned.is_empty() {
        cleaned.push('*');
    }
    let mut items = Vec::new();
    for part in split_items(&cleaned)? {
        if part.contains('(') {
            return Err(Failure::unsupported(format!(
                "embedded resources are not supported: \"{part}\""
            )));
        }
        if part.contains("->") || part.contains("::") {
            return Err(Failure::unsupported(format!(
                "JSON paths and casts in select are not supported: \"{part}\""
            )));
        }
        let (alias, column) = match part.split_once(':') {
            Some((a, c)) => (Some(unquote_ident(a)), unquote_ident(c)),
            None => (None, unquote_ident(part)),
        };
        if column.is_empty() || alias.as_deref() == Some("") {
            return Err(Failure::parse(format!(
                "empty column name in select \"{text}\""
            )));
        }
        if column == "*" && alias.is_some() {
            return Err(Failure::parse("\"*\" cannot have an alias"));
        }
        items.push(SelectItem { column, alias });
    }
    Ok(items)
}

fn split_items(text: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut in_quotes, mut start) = (0i32, false, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '(' if !in_quotes => depth += 1,
            ')' if !in_quotes => depth -= 1,
            ',' if !in_quotes && depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quotes || depth != 0 {
        return Err(Failure::parse(format!(
            "unbalanced quotes or parentheses in select \"{text}\""
        )));
    }
    out.push(&text[start..]);
    Ok(out)
}

fn unquote_ident(text: &str) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map(|t| t.replace("\"\"", "\""))
        .unwrap_or_else(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_issue_example() {
        let q = parse_chain(&json!([
            {"property": "from", "args": ["todos"]},
            {"property": "select", "args": ["id,title"]},
            {"property": "eq", "args": ["done", false]},
            {"property": "order", "args": ["id", {"ascending": false}]},
            {"property": "limit", "args": [10]}
        ]))
        .unwrap();
        assert_eq!(q.target, QueryTarget::Table("todos".into()));
        assert_eq!(q.columns.as_ref().unwrap().len(), 2);
        assert_eq!(
            q.filters,
            vec![Condition::Test {
                column: "done".into(),
                negated: false,
                op: Operator::Eq,
                value: json!(false)
            }]
        );
        assert_eq!(
            q.order,
            vec![OrderTerm {
                column: "id".into(),
                ascending: false,
                nulls_first: None
            }]
        );
        assert_eq!(q.limit, Some(10));
    }

    #[test]
    fn range_is_inclusive_and_mutations_need_from_first() {
        let q = parse_chain(
            &json!([{"property": "from", "args": ["t"]}, {"property": "range", "args": [2, 4]}]),
        )
        .unwrap();
        assert_eq!((q.offset, q.limit), (Some(2), Some(3)));
        assert!(parse_chain(&json!([{"property": "select", "args": ["*"]}])).is_err());
        assert!(parse_chain(&json!([{"property": "from", "args": ["t"]}, {"property": "eq", "args": ["a", 1]}, {"property": "delete"}])).is_err());
        let err = parse_chain(
            &json!([{"property": "from", "args": ["t"]}, {"property": "range", "args": [4, 2]}]),
        )
        .unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (416, "PGRST103"));
    }

    #[test]
    fn unknown_steps_are_refused() {
        let err =
            parse_chain(&json!([{"property": "from", "args": ["t"]}, {"property": "constructor"}]))
                .unwrap_err();
        assert_eq!(err.code, "METHOD_NOT_FOUND");
    }

    #[test]
    fn select_list_with_aliases_and_quotes() {
        let items = parse_select_list(" id , label : title, \"odd name\"").unwrap();
        assert_eq!(
            items[1],
            SelectItem {
                column: "title".into(),
                alias: Some("label".into())
            }
        );
        assert_eq!(items[2].column, "odd name");
        assert!(parse_select_list("author(name)").is_err());
    }

    #[test]
    fn insert_then_select_asks_for_representation() {
        let q = parse_chain(&json!([
            {"property": "from", "args": ["t"]},
            {"property": "insert", "args": [[{"a": 1}, {"b": 2}]]},
            {"property": "select"}
        ]))
        .unwrap();
        assert!(
            matches!(q.action, Action::Insert { ref rows, default_to_null: true } if rows.len() == 2)
        );
        assert!(q.columns.is_some());
    }
}
