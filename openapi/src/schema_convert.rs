//! Converts the draft-07-style JSON Schemas found in manifests and JSDoc into OpenAPI 3.0
//! Schema Objects. It keeps only the keywords OpenAPI 3.0 accepts, so whatever a plugin
//! writes, the generated document validates; it must never fail or panic on odd input.

use serde_json::{Map, Value, json};

/// Keywords an OpenAPI 3.0 Schema Object accepts whose values are copied unchanged.
const PLAIN_KEYWORDS: &[&str] = &[
    "title",
    "multipleOf",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "description",
    "format",
    "default",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "example",
    "deprecated",
];

/// The `type` values OpenAPI 3.0 knows (`null` is expressed with `nullable`).
const OPENAPI_TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];

/// Rewrites a JSON Schema `$ref` target (for example `#/definitions/Item`) to where the
/// referenced schema lives in the OpenAPI document.
pub type RefRewriter<'a> = &'a dyn Fn(&str) -> String;

/// Converts one schema with local `$ref`s left untouched.
pub fn to_openapi_schema(schema: &Value) -> Value {
    to_openapi_schema_with_refs(schema, &|r: &str| r.to_owned())
}

/// Converts one schema, passing every `$ref` through `rewrite_ref`.
pub fn to_openapi_schema_with_refs(schema: &Value, rewrite_ref: RefRewriter<'_>) -> Value {
    match schema {
        // Draft-06+ boolean schemas: `true` accepts anything, `false` nothing.
        Value::Bool(true) => json!({}),
        Value::Bool(false) => json!({ "not": {} }),
        Value::Object(map) => convert_object(map, rewrite_ref),
        // Not a schema at all: document it as "anything" rather than emit an invalid document.
        _ => json!({}),
    }
}

fn convert_object(src: &Map<String, Value>, rewrite_ref: RefRewriter<'_>) -> Value {
    if let Some(Value::String(target)) = src.get("$ref") {
        return convert_ref(src, &rewrite_ref(target), rewrite_ref);
    }
    let mut out = Map::new();
    for key in PLAIN_KEYWORDS {
        if let Some(value) = src.get(*key) {
            out.insert((*key).to_owned(), value.clone());
        }
    }
    for (key, value) in src {
        if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    copy_bounds(src, &mut out);
    copy_enum(src, &mut out);
    copy_required(src, &mut out);
    copy_subschemas(src, &mut out, rewrite_ref);
    copy_type(src, &mut out);
    if !out.contains_key("example")
        && let Some(Value::Array(examples)) = src.get("examples")
        && let Some(first) = examples.first()
    {
        out.insert("example".into(), first.clone());
    }
    // OpenAPI 3.0 requires `items` whenever `type` is `array`.
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.insert("items".into(), json!({}));
    }
    Value::Object(out)
}

/// A `$ref` with sibling keywords is not a valid Reference Object in 3.0 (siblings are
/// ignored at best), so siblings are kept by wrapping the reference in `allOf`.
fn convert_ref(src: &Map<String, Value>, target: &str, rewrite_ref: RefRewriter<'_>) -> Value {
    let reference = json!({ "$ref": target });
    let mut rest = src.clone();
    rest.remove("$ref");
    let rest = convert_object(&rest, rewrite_ref);
    match rest.as_object() {
        Some(siblings) if !siblings.is_empty() => {
            let mut wrapped = siblings.clone();
            wrapped.insert("allOf".into(), json!([reference]));
            Value::Object(wrapped)
        }
        _ => reference,
    }
}

/// Draft-06+ numeric `exclusiveMinimum: 5` becomes 3.0's `minimum: 5, exclusiveMinimum: true`.
fn copy_bounds(src: &Map<String, Value>, out: &mut Map<String, Value>) {
    for (bound, exclusive) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if let Some(value) = src.get(bound).filter(|v| v.is_number()) {
            out.insert(bound.into(), value.clone());
        }
        match src.get(exclusive) {
            Some(Value::Bool(flag)) if out.contains_key(bound) => {
                out.insert(exclusive.into(), Value::Bool(*flag));
            }
            Some(number @ Value::Number(_)) => {
                out.insert(bound.into(), number.clone());
                out.insert(exclusive.into(), Value::Bool(true));
            }
            _ => {}
        }
    }
}

fn copy_enum(src: &Map<String, Value>, out: &mut Map<String, Value>) {
    if let Some(Value::Array(values)) = src.get("enum")
        && !values.is_empty()
    {
        out.insert("enum".into(), Value::Array(values.clone()));
    } else if let Some(constant) = src.get("const") {
        out.insert("enum".into(), json!([constant]));
        if constant.is_null() {
            out.insert("nullable".into(), Value::Bool(true));
        }
    }
}

/// 3.0 requires a non-empty list of unique strings.
fn copy_required(src: &Map<String, Value>, out: &mut Map<String, Value>) {
    let Some(Value::Array(names)) = src.get("required") else {
        return;
    };
    let mut unique: Vec<Value> = Vec::new();
    for name in names.iter().filter(|n| n.is_string()) {
        if !unique.contains(name) {
            unique.push(name.clone());
        }
    }
    if !unique.is_empty() {
        out.insert("required".into(), Value::Array(unique));
    }
}

fn copy_subschemas(
    src: &Map<String, Value>,
    out: &mut Map<String, Value>,
    rewrite_ref: RefRewriter<'_>,
) {
    let convert = |schema: &Value| to_openapi_schema_with_refs(schema, rewrite_ref);
    if let Some(Value::Object(properties)) = src.get("properties") {
        let converted = properties
            .iter()
            .map(|(name, schema)| (name.clone(), convert(schema)));
        out.insert("properties".into(), Value::Object(converted.collect()));
    }
    match src.get("additionalProperties") {
        Some(Value::Bool(flag)) => {
            out.insert("additionalProperties".into(), Value::Bool(*flag));
        }
        Some(schema @ Value::Object(_)) => {
            out.insert("additionalProperties".into(), convert(schema));
        }
        _ => {}
    }
    match src.get("items") {
        Some(Value::Array(tuple)) if !tuple.is_empty() => {
            // Tuples do not exist in 3.0: every position may hold any of the listed schemas.
            let any_of: Vec<Value> = tuple.iter().map(convert).collect();
            out.insert("items".into(), json!({ "anyOf": any_of }));
        }
        Some(Value::Array(_)) => {
            out.insert("items".into(), json!({}));
        }
        Some(schema) => {
            out.insert("items".into(), convert(schema));
        }
        None => {
            if let Some(Value::Array(prefix)) = src.get("prefixItems")
                && !prefix.is_empty()
            {
                let any_of: Vec<Value> = prefix.iter().map(convert).collect();
                out.insert("items".into(), json!({ "anyOf": any_of }));
            }
        }
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = src.get(combinator)
            && !list.is_empty()
        {
            out.insert(
                combinator.into(),
                Value::Array(list.iter().map(convert).collect()),
            );
        }
    }
    if let Some(negated) = src.get("not") {
        out.insert("not".into(), convert(negated));
    }
}

/// `type: ["string", "null"]` becomes `type: string, nullable: true`; several non-null
/// types become an `anyOf` of single-type schemas, since 3.0 takes one type only.
fn copy_type(src: &Map<String, Value>, out: &mut Map<String, Value>) {
    let types: Vec<&str> = match src.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => return,
    };
    if types.contains(&"null") {
        out.insert("nullable".into(), Value::Bool(true));
    }
    let mut real: Vec<&str> = Vec::new();
    for ty in types.into_iter().filter(|t| OPENAPI_TYPES.contains(t)) {
        if !real.contains(&ty) {
            real.push(ty);
        }
    }
    match real.as_slice() {
        [] => {}
        [one] => {
            out.insert("type".into(), json!(one));
        }
        several => {
            let variants: Vec<Value> = several
                .iter()
                .map(|ty| {
                    if *ty == "array" {
                        json!({ "type": ty, "items": {} })
                    } else {
                        json!({ "type": ty })
                    }
                })
                .collect();
            match out.get_mut("anyOf") {
                // An existing anyOf must hold as well: require both.
                Some(existing) => {
                    let previous = existing.take();
                    out.remove("anyOf");
                    let all_of = vec![json!({ "anyOf": previous }), json!({ "anyOf": variants })];
                    append_all_of(out, all_of);
                }
                None => {
                    out.insert("anyOf".into(), Value::Array(variants));
                }
            }
        }
    }
}

fn append_all_of(out: &mut Map<String, Value>, extra: Vec<Value>) {
    match out.get_mut("allOf") {
        Some(Value::Array(list)) => list.extend(extra),
        _ => {
            out.insert("allOf".into(), Value::Array(extra));
        }
    }
}

/// Local definitions of a schema (`definitions` / `$defs`), which 3.0 has no place for
/// inside a schema: the document builder hoists them into `components/schemas`.
pub fn local_definitions(schema: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for keyword in ["definitions", "$defs"] {
        if let Some(Value::Object(defs)) = schema.get(keyword) {
            found.extend(defs.iter().map(|(name, def)| (name.clone(), def)));
        }
    }
    found
}

/// The definition name a local `$ref` (`#/definitions/X` or `#/$defs/X`) points to.
pub fn local_definition_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/definitions/")
        .or_else(|| reference.strip_prefix("#/$defs/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_only_and_const_null() {
        assert_eq!(
            to_openapi_schema(&json!({ "type": "null" })),
            json!({ "nullable": true })
        );
        assert_eq!(
            to_openapi_schema(&json!({ "const": null })),
            json!({ "enum": [null], "nullable": true })
        );
    }

    #[test]
    fn several_types_with_an_existing_any_of_require_both() {
        let converted = to_openapi_schema(&json!({
            "type": ["array", "object"],
            "anyOf": [{ "minItems": 1 }, { "minProperties": 1 }]
        }));
        assert_eq!(
            converted,
            json!({ "allOf": [
                { "anyOf": [{ "minItems": 1 }, { "minProperties": 1 }] },
                { "anyOf": [{ "type": "array", "items": {} }, { "type": "object" }] }
            ] })
        );
    }

    #[test]
    fn drops_keywords_openapi_30_lacks_but_keeps_extensions() {
        let converted = to_openapi_schema(&json!({
            "$id": "x", "$comment": "c", "if": {}, "then": {}, "contains": {}, "x-kind": "k",
            "type": "string", "contentEncoding": "base64", "minLength": 1
        }));
        assert_eq!(
            converted,
            json!({ "type": "string", "minLength": 1, "x-kind": "k" })
        );
    }
}
