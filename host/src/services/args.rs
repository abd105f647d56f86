//! Argument handling shared by every service kind: turns the three request forms of the
//! original (`{method,args}`, `{action,...}`, `{chain:[...]}`) into a method path and
//! arguments, maps positional argument arrays onto named parameters, and validates
//! arguments against the method's JSON Schema. Knows nothing of HTTP or plugins.

use serde_json::{Map, Value};
use tasker_plugin_api::{MethodSpec, PluginError};

/// A request body reduced to the method it names and its raw arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalisedRequest {
    /// The method path, dotted (`admin.users.list`).
    pub method: String,
    /// The arguments as sent (array, object or anything else).
    pub args: Value,
}

/// Reads one of the three request forms. Errors name what is missing or malformed.
pub fn normalise_request(body: Value) -> Result<NormalisedRequest, PluginError> {
    let Value::Object(mut obj) = body else {
        return Err(PluginError::validation(
            "request body must be a JSON object with \"method\", \"action\" or \"chain\"",
        ));
    };
    if let Some(chain) = obj.remove("chain") {
        return normalise_chain(chain);
    }
    if let Some(method) = obj.remove("method") {
        let method = non_empty_str(method, "method")?;
        let args = obj.remove("args").unwrap_or(Value::Array(vec![]));
        return Ok(NormalisedRequest { method, args });
    }
    if let Some(action) = obj.remove("action") {
        let method = non_empty_str(action, "action")?;
        // `{action, namespace, key, value}`: the remaining fields are the arguments,
        // unless an explicit `args` was given.
        let args = match obj.remove("args") {
            Some(args) => args,
            None => Value::Object(obj),
        };
        return Ok(NormalisedRequest { method, args });
    }
    // The seed's core services took their own bodies; they name their method implicitly.
    if obj.contains_key("trigger") {
        return Ok(NormalisedRequest {
            method: "trigger".into(),
            args: Value::Object(obj),
        });
    }
    if obj.contains_key("stackRunId") {
        return Ok(NormalisedRequest {
            method: "process".into(),
            args: Value::Object(obj),
        });
    }
    if obj.contains_key("taskCode") {
        return Ok(NormalisedRequest {
            method: "run".into(),
            args: Value::Object(obj),
        });
    }
    Err(PluginError::validation(
        "request body needs one of \"method\", \"action\" or \"chain\"",
    ))
}

fn non_empty_str(value: Value, field: &str) -> Result<String, PluginError> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(PluginError::validation(format!(
            "\"{field}\" must be a non-empty string"
        ))),
    }
}

/// A chain of `{property, args?}` steps: the properties name the method path; the last
/// step's args are the arguments (the original's supabase-js-like recording).
fn normalise_chain(chain: Value) -> Result<NormalisedRequest, PluginError> {
    let Value::Array(steps) = chain else {
        return Err(PluginError::validation(
            "\"chain\" must be an array of {property, args} steps",
        ));
    };
    if steps.is_empty() {
        return Err(PluginError::validation("\"chain\" must not be empty"));
    }
    let mut path = Vec::with_capacity(steps.len());
    let mut args = Value::Array(vec![]);
    for (i, step) in steps.into_iter().enumerate() {
        let Value::Object(mut step) = step else {
            return Err(PluginError::validation(format!(
                "chain[{i}] must be an object with \"property\""
            )));
        };
        let property = step
            .remove("property")
            .and_then(|p| p.as_str().map(str::to_owned))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                PluginError::validation(format!("chain[{i}].property must be a non-empty string"))
            })?;
        path.push(property);
        if let Some(a) = step.remove("args") {
            args = a;
        }
    }
    Ok(NormalisedRequest {
        method: path.join("."),
        args,
    })
}

/// Joins a method path given as a string or an array of strings.
pub fn method_path(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(parts) if !parts.is_empty() => {
            let parts: Option<Vec<&str>> = parts.iter().map(Value::as_str).collect();
            parts.map(|p| p.join("."))
        }
        _ => None,
    }
}

/// Maps raw arguments onto the shape the method's schema describes:
/// positional arrays become objects by parameter name; a one-element array holding an
/// object is unwrapped (the original's `args: [{...}]` convention); missing arguments of
/// an object-typed method become `{}`. Methods without a schema get the arguments as sent.
pub fn shape_args(spec: &MethodSpec, args: Value) -> Value {
    let wants_object = spec.params.get("type").and_then(Value::as_str) == Some("object");
    match (args, &spec.positional) {
        (Value::Array(items), Some(names)) => {
            if items.len() == 1 && items[0].is_object() && !first_param_is_object(spec, names) {
                return items.into_iter().next().unwrap_or(Value::Null);
            }
            let mut obj = Map::new();
            for (name, value) in names.iter().zip(items) {
                if !value.is_null() {
                    obj.insert(name.clone(), value);
                }
            }
            Value::Object(obj)
        }
        (Value::Array(items), None) if wants_object && items.len() == 1 && items[0].is_object() => {
            items.into_iter().next().unwrap_or(Value::Null)
        }
        (Value::Array(items), None) if wants_object && items.is_empty() => {
            Value::Object(Map::new())
        }
        (Value::Null, _) if wants_object => Value::Object(Map::new()),
        (args, _) => args,
    }
}

fn first_param_is_object(spec: &MethodSpec, names: &[String]) -> bool {
    names
        .first()
        .and_then(|n| {
            spec.params
                .get("properties")?
                .get(n)?
                .get("type")?
                .as_str()
                .map(|t| t == "object")
        })
        .unwrap_or(false)
}

/// A compiled argument schema for one method.
pub struct ArgsValidator {
    validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for ArgsValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArgsValidator")
    }
}

impl ArgsValidator {
    /// Compiles the method's params schema; an empty schema accepts anything.
    pub fn compile(spec: &MethodSpec) -> Result<Self, String> {
        let is_empty = spec.params.as_object().is_some_and(Map::is_empty) || spec.params.is_null();
        if is_empty {
            return Ok(Self { validator: None });
        }
        jsonschema::validator_for(&spec.params)
            .map(|v| Self { validator: Some(v) })
            .map_err(|e| format!("method '{}' has an invalid params schema: {e}", spec.name))
    }

    /// Checks `args`; the error names the offending field and what was wrong.
    pub fn check(&self, service: &str, method: &str, args: &Value) -> Result<(), PluginError> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        let problems: Vec<(String, String)> = validator
            .iter_errors(args)
            .take(5)
            .map(|e| {
                let mut field = field_name(e.instance_path().as_str());
                // A missing property is reported at its parent; name the property itself.
                if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind() {
                    let name = property
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| property.to_string());
                    field = if field.is_empty() {
                        name
                    } else {
                        format!("{field}.{name}")
                    };
                }
                (field, e.to_string())
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        let text = problems
            .iter()
            .map(|(field, msg)| {
                if field.is_empty() {
                    msg.clone()
                } else {
                    format!("'{field}': {msg}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let fields: Vec<&str> = problems
            .iter()
            .map(|(f, _)| f.as_str())
            .filter(|f| !f.is_empty())
            .collect();
        Err(
            PluginError::validation(format!("invalid arguments for {service}.{method}: {text}"))
                .with_details(serde_json::json!({ "fields": fields })),
        )
    }
}

/// `/options/limit` → `options.limit`.
fn field_name(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn three_forms_name_the_same_method() {
        let a = normalise_request(json!({"method": "echo", "args": [1]})).unwrap();
        let b = normalise_request(json!({"chain": [{"property": "echo", "args": [1]}]})).unwrap();
        assert_eq!(a, b);
        let c =
            normalise_request(json!({"action": "getKey", "namespace": "n", "name": "k"})).unwrap();
        assert_eq!(c.method, "getKey");
        assert_eq!(c.args, json!({"namespace": "n", "name": "k"}));
        let d = normalise_request(json!({"chain": [{"property": "admin"}, {"property": "users"}, {"property": "list", "args": [{}]}]})).unwrap();
        assert_eq!(d.method, "admin.users.list");
    }

    #[test]
    fn positional_and_wrapped_args_are_shaped() {
        let spec = MethodSpec::new("getKey", "")
            .params(json!({"type": "object", "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}}}))
            .positional(&["name", "namespace"]);
        assert_eq!(shape_args(&spec, json!(["K"])), json!({"name": "K"}));
        assert_eq!(
            shape_args(&spec, json!(["K", "ns"])),
            json!({"name": "K", "namespace": "ns"})
        );
        assert_eq!(
            shape_args(&spec, json!([{"name": "K"}])),
            json!({"name": "K"})
        );
        let gapi = MethodSpec::new("admin.users.list", "").params(json!({"type": "object"}));
        assert_eq!(
            shape_args(&gapi, json!([{"customer": "c"}])),
            json!({"customer": "c"})
        );
        let echo = MethodSpec::new("echo", "");
        assert_eq!(shape_args(&echo, json!([1, 2])), json!([1, 2]));
    }

    #[test]
    fn validation_names_the_field() {
        let spec = MethodSpec::new("sleep", "").params(json!({
            "type": "object", "properties": {"ms": {"type": "integer"}}, "required": ["ms"]
        }));
        let v = ArgsValidator::compile(&spec).unwrap();
        let err = v
            .check("echo-service", "sleep", &json!({"ms": "x"}))
            .unwrap_err();
        assert!(err.message.contains("'ms'"), "{}", err.message);
        let err = v.check("echo-service", "sleep", &json!({})).unwrap_err();
        assert!(err.message.contains("ms"), "{}", err.message);
    }
}
