//! JSDoc type expressions (`string`, `?number`, `string[]`, `Array<Object>`, `Object<string, T>`,
//! `'a'|'b'`, `{a: string}`, `Promise<T>`) to draft-07 JSON Schema. Unknown names become the
//! empty schema (anything) rather than a guess; this module only maps types.

use serde_json::{Map, Value, json};

/// Deepest nesting of a type expression that is mapped; anything deeper becomes `{}`.
/// Task code is user input, and unbounded recursion on `??????...string` or
/// `Array<Array<...>>` would overflow the stack of the thread registering the task.
pub const MAX_TYPE_DEPTH: usize = 32;

/// The JSON Schema for a JSDoc type expression; `""`, `*`, `any` give `{}`.
pub fn type_schema(expr: &str) -> Value {
    schema_at(expr, 0)
}

fn schema_at(expr: &str, depth: usize) -> Value {
    if depth > MAX_TYPE_DEPTH {
        return json!({});
    }
    let next = depth + 1;
    let expr = strip_parens(expr.trim());
    if let Some(inner) = expr.strip_prefix('?') {
        return nullable(schema_at(inner, next));
    }
    if let Some(inner) = expr.strip_prefix('!') {
        return schema_at(inner, next);
    }
    if let Some(inner) = expr.strip_prefix("...") {
        return json!({ "type": "array", "items": schema_at(inner, next) });
    }
    if let Some(inner) = expr.strip_suffix('=') {
        return schema_at(inner, next);
    }
    let variants = split_top_level(expr, '|');
    if variants.len() > 1 {
        return union_schema(&variants, next);
    }
    if let Some(inner) = expr.strip_suffix("[]") {
        return json!({ "type": "array", "items": schema_at(inner, next) });
    }
    if expr.starts_with('{') && expr.ends_with('}') {
        return record_schema(&expr[1..expr.len() - 1], next);
    }
    if let Some((base, args)) = generic_parts(expr) {
        return generic_schema(base, &args, next);
    }
    if let Some(literal) = literal_value(expr) {
        return json!({ "enum": [literal] });
    }
    named_schema(expr)
}

fn named_schema(name: &str) -> Value {
    match name.to_ascii_lowercase().as_str() {
        "string" | "str" => json!({ "type": "string" }),
        "number" | "float" | "double" | "bigint" => json!({ "type": "number" }),
        "integer" | "int" => json!({ "type": "integer" }),
        "boolean" | "bool" => json!({ "type": "boolean" }),
        "object" => json!({ "type": "object" }),
        "array" => json!({ "type": "array", "items": {} }),
        "date" => json!({ "type": "string", "format": "date-time" }),
        "null" => json!({ "type": "null" }),
        _ => json!({}),
    }
}

/// `Array<T>`, `Array.<T>`, `Object<K, V>`, `Record<K, V>`, `Promise<T>` → (base, args).
fn generic_parts(expr: &str) -> Option<(&str, Vec<&str>)> {
    let open = expr.find('<')?;
    let inner = expr.strip_suffix('>')?.get(open + 1..)?;
    let base = expr[..open].trim().trim_end_matches('.');
    Some((base, split_top_level(inner, ',')))
}

fn generic_schema(base: &str, args: &[&str], depth: usize) -> Value {
    let last = args
        .last()
        .map(|a| schema_at(a, depth))
        .unwrap_or_else(|| json!({}));
    match base.to_ascii_lowercase().as_str() {
        "array" | "set" | "readonlyarray" => json!({ "type": "array", "items": last }),
        "object" | "record" | "map" => json!({ "type": "object", "additionalProperties": last }),
        // A task's result is what the promise settles to.
        "promise" => last,
        _ => json!({}),
    }
}

/// `{a: string, b?: number}` → object with properties (`b` optional).
fn record_schema(body: &str, depth: usize) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in split_top_level(body, ',') {
        let Some((name, ty)) = field.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let (name, optional) = match name.strip_suffix('?') {
            Some(stripped) => (stripped.trim(), true),
            None => (name, ty.trim().ends_with('=')),
        };
        if name.is_empty() {
            continue;
        }
        properties.insert(name.to_owned(), schema_at(ty, depth));
        if !optional {
            required.push(json!(name));
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

/// `string|number|null`; literal alternatives (`'a'|'b'`) collapse into one `enum`.
fn union_schema(variants: &[&str], depth: usize) -> Value {
    let mut is_nullable = false;
    let mut literals: Vec<Value> = Vec::new();
    let mut schemas: Vec<Value> = Vec::new();
    for variant in variants {
        let variant = strip_parens(variant.trim());
        match variant {
            "null" | "undefined" | "void" => is_nullable = true,
            _ => match literal_value(variant) {
                Some(literal) => literals.push(literal),
                None => schemas.push(schema_at(variant, depth)),
            },
        }
    }
    if !literals.is_empty() {
        schemas.push(json!({ "enum": literals }));
    }
    let schema = match schemas.len() {
        0 => json!({}),
        1 => schemas.remove(0),
        _ if schemas
            .iter()
            .any(|s| s.as_object().is_some_and(Map::is_empty)) =>
        {
            json!({})
        }
        _ => json!({ "anyOf": schemas }),
    };
    if is_nullable {
        nullable(schema)
    } else {
        schema
    }
}

/// Adds `null` to a schema's types (draft-07 style; the OpenAPI renderer converts it).
fn nullable(mut schema: Value) -> Value {
    match schema.get("type").cloned() {
        Some(Value::String(ty)) => schema["type"] = json!([ty, "null"]),
        Some(Value::Array(mut types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            schema["type"] = Value::Array(types);
        }
        _ => {
            if let Some(Value::Array(values)) = schema.get_mut("enum") {
                values.push(Value::Null);
            } else if schema.as_object().is_some_and(|m| !m.is_empty()) {
                schema = json!({ "anyOf": [schema, { "type": "null" }] });
            }
        }
    }
    schema
}

/// `'a'`, `"a"`, `42`, `true`.
fn literal_value(expr: &str) -> Option<Value> {
    let quoted = expr
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| expr.strip_prefix('"').and_then(|t| t.strip_suffix('"')));
    if let Some(text) = quoted {
        return Some(json!(text));
    }
    match expr {
        "true" => Some(json!(true)),
        "false" => Some(json!(false)),
        _ => expr
            .parse::<f64>()
            .ok()
            .and_then(|_| serde_json::from_str(expr).ok()),
    }
}

/// Removes enclosing parentheses, at most [`MAX_TYPE_DEPTH`] layers (each layer scans the
/// whole text, so an unbounded loop would be quadratic on `((((...))))`).
fn strip_parens(expr: &str) -> &str {
    let mut expr = expr.trim();
    for _ in 0..=MAX_TYPE_DEPTH {
        if !(expr.starts_with('(') && closing_paren(expr) == Some(expr.len() - 1)) {
            break;
        }
        expr = expr[1..expr.len() - 1].trim();
    }
    expr
}

/// The index of the `)` matching the `(` at index 0.
fn closing_paren(expr: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in expr.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits on `separator` outside `<>`, `()`, `{}`, `[]` and quotes.
fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '<' | '(' | '{' | '[' => depth += 1,
            '>' | ')' | '}' | ']' => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(text[start..index].trim());
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_types() {
        assert_eq!(type_schema("string"), json!({ "type": "string" }));
        assert_eq!(type_schema("Number"), json!({ "type": "number" }));
        assert_eq!(type_schema("Object"), json!({ "type": "object" }));
        assert_eq!(type_schema("*"), json!({}));
        assert_eq!(
            type_schema("Date"),
            json!({ "type": "string", "format": "date-time" })
        );
        assert_eq!(
            type_schema("string[]"),
            json!({ "type": "array", "items": { "type": "string" } })
        );
        assert_eq!(
            type_schema("Array<string>"),
            json!({ "type": "array", "items": { "type": "string" } })
        );
        assert_eq!(
            type_schema("Array.<number>"),
            json!({ "type": "array", "items": { "type": "number" } })
        );
        assert_eq!(
            type_schema("Array"),
            json!({ "type": "array", "items": {} })
        );
        assert_eq!(
            type_schema("Object<string, number>"),
            json!({ "type": "object", "additionalProperties": { "type": "number" } })
        );
        assert_eq!(
            type_schema("Promise<boolean>"),
            json!({ "type": "boolean" })
        );
    }

    #[test]
    fn nullable_unions_and_literals() {
        assert_eq!(
            type_schema("?string"),
            json!({ "type": ["string", "null"] })
        );
        assert_eq!(
            type_schema("string|null"),
            json!({ "type": ["string", "null"] })
        );
        assert_eq!(
            type_schema("'asc'|'desc'"),
            json!({ "enum": ["asc", "desc"] })
        );
        assert_eq!(
            type_schema("(string|number)[]"),
            json!({ "type": "array", "items": { "anyOf": [{ "type": "string" }, { "type": "number" }] } })
        );
        assert_eq!(
            type_schema("{id: string, tags?: string[]}"),
            json!({ "type": "object", "properties": { "id": { "type": "string" }, "tags": { "type": "array", "items": { "type": "string" } } }, "required": ["id"] })
        );
    }
}
