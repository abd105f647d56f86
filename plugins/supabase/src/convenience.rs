//! The convenience methods (`select`, `insert`, `update`, `upsert`, `delete`, `rpc`, the
//! original ServiceRegistry's `database.*` names) rewritten as the equivalent chain, so
//! they share every rule of the chain form. No SQL here.

use serde_json::{Map, Value, json};

use crate::response::{Failure, Result};

fn step(property: &str, args: Vec<Value>) -> Value {
    json!({ "property": property, "args": args })
}

fn table(args: &Map<String, Value>) -> Result<Value> {
    match args.get("table") {
        Some(Value::String(t)) if !t.is_empty() => Ok(Value::String(t.clone())),
        _ => Err(Failure::parse("\"table\" is required")),
    }
}

fn filters(args: &Map<String, Value>, chain: &mut Vec<Value>) {
    if let Some(m) = args.get("match").filter(|m| m.is_object()) {
        chain.push(step("match", vec![m.clone()]));
    }
    if let Some(or) = args.get("or").filter(|o| o.is_string()) {
        chain.push(step("or", vec![or.clone()]));
    }
}

fn returning(args: &Map<String, Value>, chain: &mut Vec<Value>) {
    match args.get("select") {
        Some(Value::String(cols)) => chain.push(step("select", vec![Value::String(cols.clone())])),
        Some(Value::Bool(true)) => chain.push(step("select", vec![])),
        _ => {}
    }
}

fn options(args: &Map<String, Value>, names: &[&str]) -> Value {
    let mut opts = Map::new();
    for name in names {
        if let Some(v) = args.get(*name) {
            opts.insert((*name).to_owned(), v.clone());
        }
    }
    Value::Object(opts)
}

/// The chain for a convenience call.
pub fn to_chain(method: &str, args: &Value) -> Result<Value> {
    let empty = Map::new();
    let args = args.as_object().unwrap_or(&empty);
    let mut chain = Vec::new();
    match method {
        "select" => {
            chain.push(step("from", vec![table(args)?]));
            let columns = args
                .get("columns")
                .cloned()
                .unwrap_or(Value::String("*".into()));
            chain.push(step(
                "select",
                vec![columns, options(args, &["count", "head"])],
            ));
            filters(args, &mut chain);
            match args.get("order") {
                Some(Value::String(c)) => chain.push(step("order", vec![Value::String(c.clone())])),
                Some(Value::Array(terms)) => {
                    for term in terms {
                        let column = term.get("column").cloned().unwrap_or(Value::Null);
                        chain.push(step(
                            "order",
                            vec![
                                column,
                                options(
                                    term.as_object().unwrap_or(&empty),
                                    &["ascending", "nullsFirst"],
                                ),
                            ],
                        ));
                    }
                }
                _ => {}
            }
            if let (Some(offset), Some(limit)) = (
                args.get("offset").and_then(Value::as_u64),
                args.get("limit").and_then(Value::as_u64),
            ) {
                if limit > 0 {
                    chain.push(step(
                        "range",
                        vec![json!(offset), json!(offset + limit - 1)],
                    ));
                } else {
                    chain.push(step("limit", vec![json!(0)]));
                }
            } else if let Some(limit) = args.get("limit") {
                chain.push(step("limit", vec![limit.clone()]));
            }
            if args.get("single") == Some(&Value::Bool(true)) {
                chain.push(step("single", vec![]));
            } else if args.get("maybeSingle") == Some(&Value::Bool(true)) {
                chain.push(step("maybeSingle", vec![]));
            }
        }
        "insert" | "upsert" => {
            chain.push(step("from", vec![table(args)?]));
            let values = args
                .get("values")
                .cloned()
                .ok_or_else(|| Failure::parse("\"values\" is required"))?;
            let opts = options(
                args,
                &["onConflict", "ignoreDuplicates", "defaultToNull", "count"],
            );
            chain.push(step(method, vec![values, opts]));
            returning(args, &mut chain);
        }
        "update" => {
            chain.push(step("from", vec![table(args)?]));
            let values = args
                .get("values")
                .cloned()
                .ok_or_else(|| Failure::parse("\"values\" is required"))?;
            chain.push(step("update", vec![values, options(args, &["count"])]));
            filters(args, &mut chain);
            returning(args, &mut chain);
        }
        "delete" => {
            chain.push(step("from", vec![table(args)?]));
            chain.push(step("delete", vec![options(args, &["count"])]));
            filters(args, &mut chain);
            returning(args, &mut chain);
        }
        "rpc" => {
            let function = args
                .get("function")
                .cloned()
                .ok_or_else(|| Failure::parse("\"function\" is required"))?;
            chain.push(step(
                "rpc",
                vec![function, args.get("args").cloned().unwrap_or(json!({}))],
            ));
        }
        other => {
            return Err(Failure::new(
                400,
                "METHOD_NOT_FOUND",
                format!("unknown method {other}"),
            ));
        }
    }
    Ok(Value::Array(chain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::parse_chain;
    use crate::query::{Action, QueryTarget};

    #[test]
    fn select_becomes_a_chain() {
        let chain = to_chain("select", &json!({"table": "todos", "columns": "id", "match": {"done": true}, "limit": 2, "offset": 1})).unwrap();
        let q = parse_chain(&chain).unwrap();
        assert_eq!(q.target, QueryTarget::Table("todos".into()));
        assert_eq!((q.offset, q.limit, q.filters.len()), (Some(1), Some(2), 1));
    }

    #[test]
    fn delete_keeps_its_filter() {
        let q = parse_chain(
            &to_chain(
                "delete",
                &json!({"table": "t", "match": {"id": 1}, "select": "id"}),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(q.action, Action::Delete);
        assert_eq!(q.filters.len(), 1);
        assert!(q.columns.is_some());
    }
}
