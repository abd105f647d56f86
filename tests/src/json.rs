//! Small JSON helpers for checking OpenAPI documents and envelopes: inlining local
//! `$ref`s and searching nested values. Pure functions over `serde_json::Value`.

use serde_json::Value;

/// How deep `$ref`s are followed before giving up (recursive schemas stay finite).
const MAX_REF_DEPTH: usize = 16;

/// Returns `value` with every local `$ref` (`#/components/...`) inlined from `doc`.
pub fn resolve_refs(doc: &Value, value: &Value) -> Value {
    resolve(doc, value, 0)
}

fn resolve(doc: &Value, value: &Value, depth: usize) -> Value {
    if depth > MAX_REF_DEPTH {
        return value.clone();
    }
    match value {
        Value::Object(map) => {
            if let Some(target) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| lookup(doc, r))
            {
                return resolve(doc, target, depth + 1);
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve(doc, v, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(doc, v, depth)).collect()),
        other => other.clone(),
    }
}

fn lookup<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// Every value stored under `key` anywhere inside `value` (depth first).
pub fn find_key<'a>(value: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    collect(value, key, &mut found);
    found
}

fn collect<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    found.push(v);
                }
                collect(v, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, key, found)),
        _ => {}
    }
}
