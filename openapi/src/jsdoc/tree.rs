//! Builds the task input's JSON Schema from dotted `@param` names: `input.options.limit` becomes
//! nested object schemas with `required` lists, `items[].name` (or `items.0.name`) describes
//! array elements, and the input parameter itself (`input`) is the root, not a property.

use serde_json::{Map, Value, json};

use super::{ParamDoc, TaskDoc, types::type_schema};

/// The path segment that stands for "the elements of this array".
const ITEMS: &str = "[]";

/// Deepest parameter path that is described; deeper `@param` names are left out of the
/// schema (building them recurses once per segment, and task code is user input).
const MAX_PATH_DEPTH: usize = 32;

/// The JSON Schema of the task's input object.
pub fn input_schema(doc: &TaskDoc) -> Value {
    let paths: Vec<Vec<String>> = doc.params.iter().map(|p| split_path(&p.name)).collect();
    let root_name = root_parameter(&paths);
    let mut root = json!({ "type": "object", "properties": {} });
    for (param, path) in doc.params.iter().zip(&paths) {
        let relative: &[String] = match &root_name {
            Some(root_name) if path.len() == 1 && &path[0] == root_name => {
                describe_root(&mut root, param);
                continue;
            }
            Some(root_name) if path.first() == Some(root_name) => &path[1..],
            // With an input root, other parameters (a second `context` argument) are not input.
            Some(_) => continue,
            None => path,
        };
        if !relative.is_empty() && relative.len() <= MAX_PATH_DEPTH {
            insert(&mut root, relative, leaf_schema(param), param.optional);
        }
    }
    root
}

/// `a.b[].c` / `a.b.0.c` → `["a", "b", "[]", "c"]`.
fn split_path(name: &str) -> Vec<String> {
    let mut segments = Vec::new();
    for part in name.split('.').map(str::trim).filter(|p| !p.is_empty()) {
        let mut base = part;
        let mut element_levels = 0;
        while let Some(stripped) = base.strip_suffix("[]") {
            base = stripped;
            element_levels += 1;
        }
        if base.chars().all(|c| c.is_ascii_digit()) && !base.is_empty() {
            segments.push(ITEMS.to_owned());
        } else if !base.is_empty() {
            segments.push(base.to_owned());
        }
        segments.extend(std::iter::repeat_n(ITEMS.to_owned(), element_levels));
    }
    segments
}

/// The parameter that is the whole input: the first one, when it has a single segment and
/// is called `input` or has children; else `input` when others are written `input.x`.
fn root_parameter(paths: &[Vec<String>]) -> Option<String> {
    let has_children = |name: &str| paths.iter().any(|p| p.len() > 1 && p[0] == name);
    if let Some([first]) = paths.first().map(Vec::as_slice)
        && first != ITEMS
        && (first == "input" || has_children(first))
    {
        return Some(first.clone());
    }
    has_children("input").then(|| "input".to_owned())
}

fn describe_root(root: &mut Value, param: &ParamDoc) {
    if !param.description.is_empty() {
        root["description"] = json!(param.description);
    }
    if let Some(default) = &param.default {
        root["default"] = default.clone();
    }
}

/// The schema of one parameter: its type plus description and default.
fn leaf_schema(param: &ParamDoc) -> Value {
    let mut schema = type_schema(&param.type_expr);
    if let Some(map) = schema.as_object_mut() {
        if !param.description.is_empty() {
            map.insert("description".into(), json!(param.description));
        }
        if let Some(default) = &param.default {
            map.insert("default".into(), default.clone());
        }
    }
    schema
}

fn insert(node: &mut Value, path: &[String], leaf: Value, optional: bool) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        let slot = child_slot(node, head);
        let merged = overlay(slot.take(), leaf);
        *slot = merged;
        if head != ITEMS && !optional {
            add_required(node, head);
        }
        return;
    }
    let mut child = child_slot(node, head);
    if child.is_null() {
        *child = json!({ "type": "object" });
    }
    // `list.name` under an array of objects means the elements' `name`.
    if is_array(child) && rest[0] != ITEMS {
        child = child_slot(child, ITEMS);
        if child.is_null() {
            *child = json!({ "type": "object" });
        }
    }
    insert(child, rest, leaf, optional);
}

/// The property `name` of `node` (or its `items` for `[]`), created as `null` when missing.
fn child_slot<'a>(node: &'a mut Value, name: &str) -> &'a mut Value {
    if !node.is_object() {
        *node = json!({});
    }
    if name == ITEMS {
        if node.get("type").is_none() {
            node["type"] = json!("array");
        }
        return &mut node["items"];
    }
    if node.get("type").is_none() {
        node["type"] = json!("object");
    }
    if !node.get("properties").is_some_and(Value::is_object) {
        node["properties"] = Value::Object(Map::new());
    }
    &mut node["properties"][name]
}

fn is_array(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(ty)) => ty == "array",
        Some(Value::Array(types)) => types.iter().any(|t| t == "array"),
        _ => false,
    }
}

/// A parameter declared after (or without) its children keeps the children already built.
fn overlay(existing: Value, leaf: Value) -> Value {
    match (existing, leaf) {
        (Value::Object(mut base), Value::Object(top)) => {
            base.extend(top);
            Value::Object(base)
        }
        (_, leaf) => leaf,
    }
}

fn add_required(node: &mut Value, name: &str) {
    let required = &mut node["required"];
    if !required.is_array() {
        *required = json!([]);
    }
    if let Some(list) = required.as_array_mut()
        && !list.iter().any(|n| n == name)
    {
        list.push(json!(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_array_markers() {
        assert_eq!(
            split_path("input.items[].name"),
            ["input", "items", "[]", "name"]
        );
        assert_eq!(
            split_path("input.items.0.name"),
            ["input", "items", "[]", "name"]
        );
        assert_eq!(split_path("query"), ["query"]);
    }
}
