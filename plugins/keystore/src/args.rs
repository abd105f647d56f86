//! Reading a call's arguments into a key reference (`name` or its synonym `key`, plus the
//! namespace, `global` by default) and a value. The host has validated them against the
//! manifest already; these checks repeat the rules for calls that bypass it and cover what
//! the schema leaves out on purpose (the value). No message ever contains the value.

use serde_json::Value;
use tasker_plugin_api::PluginError;

use crate::manifest::{DEFAULT_NAMESPACE, MAX_NAME_LEN, MAX_NAMESPACE_LEN, MAX_VALUE_BYTES};

/// One key: where it lives and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The namespace (`global` when the call named none).
    pub namespace: String,
    /// The key name.
    pub name: String,
}

fn string_field<'a>(args: &'a Value, field: &str) -> Result<Option<&'a str>, PluginError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(PluginError::validation(format!(
            "'{field}' must be a string"
        ))),
    }
}

/// The namespace argument, defaulting to `global`.
pub fn namespace(args: &Value) -> Result<String, PluginError> {
    let namespace = string_field(args, "namespace")?.unwrap_or(DEFAULT_NAMESPACE);
    let valid = !namespace.is_empty()
        && namespace.len() <= MAX_NAMESPACE_LEN
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:/-".contains(&b));
    if !valid {
        return Err(PluginError::validation(format!(
            "'namespace' must be 1 to {MAX_NAMESPACE_LEN} letters, digits or `_ . : / -`"
        )));
    }
    Ok(namespace.to_owned())
}

/// The key named by `name` (or `key`) and `namespace`.
pub fn key_ref(args: &Value) -> Result<KeyRef, PluginError> {
    let name = match (string_field(args, "name")?, string_field(args, "key")?) {
        (Some(name), Some(key)) if name != key => {
            return Err(PluginError::validation(
                "'name' and 'key' name the same thing; give one of them",
            ));
        }
        (Some(name), _) | (None, Some(name)) => name,
        (None, None) => {
            return Err(PluginError::validation(
                "'name' (or 'key') is required: the name of the key",
            ));
        }
    };
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(PluginError::validation(format!(
            "'name' must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(PluginError::validation(
            "'name' must not contain control characters",
        ));
    }
    Ok(KeyRef {
        namespace: namespace(args)?,
        name: name.to_owned(),
    })
}

/// The secret `value` of a `setKey` call.
pub fn value(args: &Value) -> Result<&str, PluginError> {
    let value = match args.get("value") {
        Some(Value::String(s)) => s.as_str(),
        None | Some(Value::Null) => {
            return Err(PluginError::validation(
                "'value' is required: the secret to store",
            ));
        }
        Some(other) => {
            return Err(PluginError::validation(format!(
                "'value' must be a string, not {}",
                kind(other)
            )));
        }
    };
    if value.len() > MAX_VALUE_BYTES {
        return Err(PluginError::validation(format!(
            "'value' must be at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(value)
}

/// The JSON type of a value, for messages that must not quote it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_is_a_synonym_of_name_and_namespace_defaults_to_global() {
        let expected = KeyRef {
            namespace: "global".into(),
            name: "K".into(),
        };
        assert_eq!(key_ref(&json!({ "name": "K" })).unwrap(), expected);
        assert_eq!(key_ref(&json!({ "key": "K" })).unwrap(), expected);
        assert_eq!(
            key_ref(&json!({ "key": "K", "name": "K" })).unwrap(),
            expected
        );
        let ns = key_ref(&json!({ "key": "K", "namespace": "openai" })).unwrap();
        assert_eq!(ns.namespace, "openai");
        assert!(key_ref(&json!({ "key": "K", "name": "L" })).is_err());
        assert!(key_ref(&json!({})).is_err());
        assert!(key_ref(&json!({ "name": "K", "namespace": "bad space" })).is_err());
        assert!(key_ref(&json!({ "name": "" })).is_err());
    }

    #[test]
    fn value_errors_never_quote_the_value() {
        assert_eq!(value(&json!({ "value": "s3cr3t" })).unwrap(), "s3cr3t");
        for bad in [
            json!({ "value": 424242 }),
            json!({ "value": { "pin": "424242" } }),
        ] {
            let err = value(&bad).unwrap_err();
            assert!(!err.message.contains("424242"), "{}", err.message);
        }
        let huge = "x".repeat(MAX_VALUE_BYTES + 1);
        let err = value(&json!({ "value": huge })).unwrap_err();
        assert!(err.message.len() < 100);
    }
}
