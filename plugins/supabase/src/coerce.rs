//! Converts caller JSON into bound parameter values for a column of a known kind, the way
//! PostgreSQL would read the same text (so "5" matches an integer column and "abc" is
//! error 22P02 on both backends). Never produces SQL text.

use serde_json::Value;

use crate::response::{Failure, Result};
use crate::schema::{Column, Kind};

/// A bound parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// SQL NULL.
    Null,
    /// A boolean (SQLite stores 0/1).
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// Text (also JSON text, PostgreSQL array literals and every PostgreSQL value).
    Text(String),
}

impl Bind {
    /// The text PostgreSQL receives (it casts it to the column's type).
    pub fn pg_text(&self) -> Option<String> {
        match self {
            Bind::Null => None,
            Bind::Bool(b) => Some(b.to_string()),
            Bind::Int(i) => Some(i.to_string()),
            Bind::Float(f) => Some(f.to_string()),
            Bind::Text(t) => Some(t.clone()),
        }
    }
}

/// Why a value is being converted: filters take PostgREST text as written (a JSON column
/// compared with `{"a":1}`), writes take JSON values (a JSON column stores `"x"` for "x").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A filter operand.
    Filter,
    /// An inserted or updated value.
    Write,
}

fn invalid(type_name: &str, value: &Value) -> Failure {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Failure::new(
        400,
        "22P02",
        format!("invalid input syntax for type {type_name}: \"{shown}\""),
    )
}

/// Converts `value` for `column`.
pub fn coerce(value: &Value, column: &Column, purpose: Purpose) -> Result<Bind> {
    if value.is_null() {
        return Ok(Bind::Null);
    }
    match column.kind {
        Kind::Integer => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map(Bind::Int)
                .ok_or_else(|| invalid("integer", value)),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Bind::Int)
                .map_err(|_| invalid("integer", value)),
            _ => Err(invalid("integer", value)),
        },
        Kind::Float | Kind::Numeric => match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) if column.kind == Kind::Numeric => Ok(Bind::Int(i)),
                _ => n
                    .as_f64()
                    .map(Bind::Float)
                    .ok_or_else(|| invalid("numeric", value)),
            },
            Value::String(s) => {
                let t = s.trim();
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && !t.is_empty() && !t.eq_ignore_ascii_case("inf"))
                    .map(Bind::Float)
                    .ok_or_else(|| invalid("numeric", value))
            }
            _ => Err(invalid("numeric", value)),
        },
        Kind::Boolean => match value {
            Value::Bool(b) => Ok(Bind::Bool(*b)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Bind::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Bind::Bool(true)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Ok(Bind::Bool(true)),
                "f" | "false" | "n" | "no" | "off" | "0" => Ok(Bind::Bool(false)),
                _ => Err(invalid("boolean", value)),
            },
            _ => Err(invalid("boolean", value)),
        },
        Kind::Json => Ok(Bind::Text(match (value, purpose) {
            (Value::String(s), Purpose::Filter) => s.clone(),
            (v, _) => v.to_string(),
        })),
        Kind::Array => match value {
            Value::Array(_) => Ok(Bind::Text(pg_array_literal(value))),
            Value::String(s) => Ok(Bind::Text(s.clone())),
            _ => Err(invalid("array", value)),
        },
        Kind::Text | Kind::Timestamp | Kind::Bytes | Kind::Other => Ok(Bind::Text(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
    }
}

/// `["a", "b,c", null, [1]]` → `{"a","b,c",NULL,{"1"}}` (PostgreSQL array input syntax).
pub fn pg_array_literal(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(pg_array_literal).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Null => "NULL".into(),
        Value::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        other => format!(
            "\"{}\"",
            other.to_string().replace('\\', "\\\\").replace('"', "\\\"")
        ),
    }
}

/// A filter value as plain text (patterns, full-text queries).
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(kind: Kind) -> Column {
        Column {
            name: "c".into(),
            kind,
            pg_cast: String::new(),
        }
    }

    #[test]
    fn integers_accept_numbers_and_numeric_text_only() {
        assert_eq!(
            coerce(&json!(5), &col(Kind::Integer), Purpose::Filter).unwrap(),
            Bind::Int(5)
        );
        assert_eq!(
            coerce(&json!(" 7"), &col(Kind::Integer), Purpose::Filter).unwrap(),
            Bind::Int(7)
        );
        assert_eq!(
            coerce(&json!(3.0), &col(Kind::Integer), Purpose::Filter).unwrap(),
            Bind::Int(3)
        );
        let err = coerce(&json!("1 OR 1=1"), &col(Kind::Integer), Purpose::Filter).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "22P02"));
    }

    #[test]
    fn booleans_and_json() {
        assert_eq!(
            coerce(&json!("true"), &col(Kind::Boolean), Purpose::Filter).unwrap(),
            Bind::Bool(true)
        );
        assert!(coerce(&json!("maybe"), &col(Kind::Boolean), Purpose::Filter).is_err());
        assert_eq!(
            coerce(&json!("x"), &col(Kind::Json), Purpose::Write).unwrap(),
            Bind::Text("\"x\"".into())
        );
        assert_eq!(
            coerce(&json!({"a": 1}), &col(Kind::Json), Purpose::Write).unwrap(),
            Bind::Text("{\"a\":1}".into())
        );
    }

    #[test]
    fn arrays_become_pg_literals() {
        assert_eq!(
            pg_array_literal(&json!(["a", "b,\"c", null, 1])),
            r#"{"a","b,\"c",NULL,"1"}"#
        );
    }
}
