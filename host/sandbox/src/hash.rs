//! Canonical hashing of call arguments for the journal: SHA-256 of a JSON form with sorted object
//! keys, so the hash does not depend on serde_json's map ordering feature or on who serialised it.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of `args` in canonical JSON (object keys sorted, compact, serde_json's number and
/// string formatting). Stable across processes and serde_json feature sets.
pub fn args_hash(args: &Value) -> String {
    let mut hasher = Sha256::new();
    write_canonical(args, &mut hasher);
    hex::encode(hasher.finalize())
}

fn write_canonical(value: &Value, out: &mut Sha256) {
    match value {
        Value::Array(items) => {
            out.update(b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.update(b",");
                }
                write_canonical(item, out);
            }
            out.update(b"]");
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.update(b"{");
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.update(b",");
                }
                write_scalar(&Value::String(key.clone()), out);
                out.update(b":");
                if let Some(item) = map.get(key) {
                    write_canonical(item, out);
                }
            }
            out.update(b"}");
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Sha256) {
    // Serialising a scalar cannot fail; an empty update on the impossible error keeps this total.
    out.update(serde_json::to_vec(value).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = json!({"b": 1, "a": [1, {"y": 2, "x": 3}]});
        let b: Value = serde_json::from_str(r#"{"a":[1,{"x":3,"y":2}],"b":1}"#).unwrap();
        assert_eq!(args_hash(&a), args_hash(&b));
        assert_ne!(args_hash(&a), args_hash(&json!({"b": 2})));
        assert_eq!(args_hash(&json!([])).len(), 64);
    }
}
