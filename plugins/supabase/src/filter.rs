//! Parses PostgREST filter text: the logic trees of `or('a.eq.1,and(b.gt.2,c.is.null)')`
//! and the raw operator/value pairs of `not(col, op, value)` and `filter(col, op, value)`.
//! Produces `Condition`s with string values; knows nothing about SQL or schemas.

use serde_json::Value;

use crate::query::{Condition, Operator};
use crate::response::{Failure, Result};

/// Splits on commas that are not inside quotes, parentheses, braces or brackets.
fn split_top_level(text: &str) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    let mut depth: i32 = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(Failure::parse(format!("unbalanced '{c}' in \"{text}\"")));
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || in_quotes {
        return Err(Failure::parse(format!(
            "unbalanced parentheses or quotes in \"{text}\""
        )));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// `"a,b"` → `a,b` (with `\"` and `\\` unescaped); other text unchanged.
fn unquote(text: &str) -> String {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => text.to_owned(),
    }
}

/// Parses a list written `(a,b)` or `{a,b}` into strings.
fn parse_list(text: &str, open: char, close: char) -> Result<Vec<Value>> {
    let inner = text
        .strip_prefix(open)
        .and_then(|t| t.strip_suffix(close))
        .ok_or_else(|| {
            Failure::parse(format!(
                "expected a list like {open}a,b{close}, got \"{text}\""
            ))
        })?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(split_top_level(inner)?
        .into_iter()
        .map(|item| Value::String(unquote(item.trim())))
        .collect())
}

/// The value part of `op.value` as the operator reads it.
pub fn parse_wire_value(op: &Operator, text: &str) -> Result<Value> {
    match op {
        Operator::In => Ok(Value::Array(parse_list(text, '(', ')')?)),
        Operator::LikeList { .. } => Ok(Value::Array(parse_list(text, '{', '}')?)),
        Operator::Is => is_keyword(&Value::String(text.to_owned())),
        _ => Ok(Value::String(unquote(text))),
    }
}

/// Reads an `is` operand: null, true, false, unknown or not_null.
pub fn is_keyword(value: &Value) -> Result<Value> {
    match value {
        Value::Null | Value::Bool(_) => Ok(value.clone()),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "null" => Ok(Value::Null),
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            k @ ("unknown" | "not_null") => Ok(Value::String(k.to_owned())),
            _ => Err(Failure::parse(format!(
                "\"is\" takes null, true, false or unknown, not \"{s}\""
            ))),
        },
        other => Err(Failure::parse(format!(
            "\"is\" takes null, true, false or unknown, not {other}"
        ))),
    }
}

/// The operand of `not(col, op, value)` / `filter(col, op, value)`: strings are wire text
/// (`(1,2)` for `in`), other JSON is used as given.
pub fn raw_operand(op: &Operator, value: &Value) -> Result<Value> {
    match (op, value) {
        (Operator::Is, v) => is_keyword(v),
        (_, Value::String(text)) => parse_wire_value(op, text),
        (_, v) => Ok(v.clone()),
    }
}

/// Parses an operator name, with a clear error.
pub fn operator(name: &str) -> Result<Operator> {
    Operator::parse(name)
        .ok_or_else(|| Failure::parse(format!("unknown filter operator \"{name}\"")))
}

/// Parses `a.eq.1,b.gt.2,and(c.lt.3,d.is.null)` (the text inside `or(...)`).
pub fn parse_logic_list(text: &str) -> Result<Vec<Condition>> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::parse("empty logic filter"));
    }
    split_top_level(text)?
        .into_iter()
        .map(|part| parse_condition(part.trim()))
        .collect()
}

/// One element of a logic list.
fn parse_condition(text: &str) -> Result<Condition> {
    let (negated, rest) = match text.strip_prefix("not.") {
        Some(rest) if rest.starts_with("and(") || rest.starts_with("or(") => (true, rest),
        _ => (false, text),
    };
    for (prefix, is_and) in [("and(", true), ("or(", false)] {
        if let Some(inner) = rest.strip_prefix(prefix) {
            let inner = inner
                .strip_suffix(')')
                .ok_or_else(|| Failure::parse(format!("missing ')' in \"{text}\"")))?;
            let items = parse_logic_list(inner)?;
            let group = if is_and {
                Condition::All(items)
            } else {
                Condition::Any(items)
            };
            return Ok(if negated {
                Condition::Not(Box::new(group))
            } else {
                group
            });
        }
    }
    let (column, rest) = text.split_once('.').ok_or_else(|| {
        Failure::parse(format!(
            "\"{text}\" is not of the form column.operator.value"
        ))
    })?;
    let (negated, rest) = match rest.strip_prefix("not.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (op_name, value) = split_operator(rest).ok_or_else(|| {
        Failure::parse(format!(
            "\"{text}\" is not of the form column.operator.value"
        ))
    })?;
    let op = operator(op_name)?;
    let value = parse_wire_value(&op, value)?;
    if column.is_empty() {
        return Err(Failure::parse(format!("missing column in \"{text}\"")));
    }
    Ok(Condition::Test {
        column: column.to_owned(),
        negated,
        op,
        value,
    })
}

/// `like(any).{a,b}` → (`like(any)`, `{a,b}`); `eq.1.5` → (`eq`, `1.5`).
fn split_operator(text: &str) -> Option<(&str, &str)> {
    let dot = match text.find('(') {
        Some(paren) if paren < text.find('.').unwrap_or(usize::MAX) => {
            let close = text[paren..].find(')')? + paren;
            close + 1
        }
        _ => text.find('.')?,
    };
    if text.as_bytes().get(dot) != Some(&b'.') {
        return None;
    }
    Some((&text[..dot], &text[dot + 1..]))
}

/// Renders a condition in PostgREST's logic-tree syntax (for forwarding `or`).
pub fn render_logic(condition: &Condition) -> String {
    match condition {
        Condition::Test {
            column,
            negated,
            op,
            value,
        } => format!(
            "{column}.{}{}.{}",
            if *negated { "not." } else { "" },
            op.wire_name(),
            render_value(op, value, true)
        ),
        Condition::All(items) => format!("and({})", render_list(items)),
        Condition::Any(items) => format!("or({})", render_list(items)),
        Condition::Not(inner) => format!("not.{}", render_logic(inner)),
    }
}

fn render_list(items: &[Condition]) -> String {
    items.iter().map(render_logic).collect::<Vec<_>>().join(",")
}

/// Quotes a list element or logic-tree value when it holds reserved characters.
fn quote_if_needed(text: &str, in_logic: bool) -> String {
    let reserved = |c: char| {
        matches!(c, ',' | '(' | ')' | '"' | '\\')
            || (in_logic && matches!(c, '{' | '}' | '[' | ']'))
    };
    if text.chars().any(reserved) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.to_owned()
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// The wire text of a filter value: `(a,b)` for `in`, `{a,b}` for arrays, JSON for objects.
pub fn render_value(op: &Operator, value: &Value, in_logic: bool) -> String {
    match (op, value) {
        (Operator::In, Value::Array(items)) => format!(
            "({})",
            items
                .iter()
                .map(|v| quote_if_needed(&scalar_text(v), false))
                .collect::<Vec<_>>()
                .join(",")
        ),
        (Operator::Contains | Operator::ContainedBy | Operator::Overlaps, Value::Object(_)) => {
            value.to_string()
        }
        (_, Value::Array(items)) => format!(
            "{{{}}}",
            items
                .iter()
                .map(|v| quote_if_needed(&scalar_text(v), false))
                .collect::<Vec<_>>()
                .join(",")
        ),
        (_, v) => {
            let text = scalar_text(v);
            if in_logic {
                quote_if_needed(&text, true)
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(column: &str, negated: bool, op: Operator, value: Value) -> Condition {
        Condition::Test {
            column: column.into(),
            negated,
            op,
            value,
        }
    }

    #[test]
    fn parses_nested_logic() {
        let parsed = parse_logic_list(
            "id.eq.1,and(title.like.a*,done.is.true),not.or(id.gt.5,id.in.(7,\"8,9\"))",
        )
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                test("id", false, Operator::Eq, json!("1")),
                Condition::All(vec![
                    test("title", false, Operator::Like, json!("a*")),
                    test("done", false, Operator::Is, json!(true)),
                ]),
                Condition::Not(Box::new(Condition::Any(vec![
                    test("id", false, Operator::Gt, json!("5")),
                    test("id", false, Operator::In, json!(["7", "8,9"])),
                ]))),
            ]
        );
    }

    #[test]
    fn values_keep_dots_and_quotes() {
        let parsed =
            parse_logic_list("score.not.gte.1.5,name.eq.\"a,b\",tags.like(any).{x*,y*}").unwrap();
        assert_eq!(parsed[0], test("score", true, Operator::Gte, json!("1.5")));
        assert_eq!(parsed[1], test("name", false, Operator::Eq, json!("a,b")));
        assert_eq!(
            parsed[2],
            test(
                "tags",
                false,
                Operator::LikeList {
                    insensitive: false,
                    all: false
                },
                json!(["x*", "y*"])
            )
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_logic_list("").is_err());
        assert!(parse_logic_list("id").is_err());
        assert!(parse_logic_list("id.nope.1").is_err());
        assert!(parse_logic_list("and(id.eq.1").is_err());
        assert!(parse_logic_list("id.is.maybe").is_err());
    }

    #[test]
    fn renders_round_trip() {
        let text = "id.eq.1,and(title.like.a*,done.is.true),not.or(id.gt.5,id.in.(7,\"8,9\"))";
        let parsed = parse_logic_list(text).unwrap();
        assert_eq!(render_list(&parsed), text);
    }
}
