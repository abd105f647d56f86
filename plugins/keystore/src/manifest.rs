//! The keystore's manifest: the original's operations with their names and positional
//! argument order (`getKey(name, namespace?)`), plus `deleteKey`. Schemas never constrain the
//! secret `value` itself, because a schema violation message would quote it back; the plugin
//! checks it with messages that do not.

use serde_json::{Value, json};
use tasker_plugin_api::{Manifest, MethodSpec, Scope};

/// The service name.
pub const SERVICE: &str = "keystore";
/// Namespace used when a call names none.
pub const DEFAULT_NAMESPACE: &str = "global";
/// Longest key name accepted.
pub const MAX_NAME_LEN: usize = 256;
/// Longest namespace accepted.
pub const MAX_NAMESPACE_LEN: usize = 128;
/// Largest value accepted, in bytes of UTF-8.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

fn name_schema(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": MAX_NAME_LEN, "description": description })
}

fn namespace_schema() -> Value {
    json!({
        "type": "string",
        "pattern": "^[A-Za-z0-9_.:/-]{1,128}$",
        "default": DEFAULT_NAMESPACE,
        "description": "Namespace of the key (letters, digits, `_ . : / -`); `global` when omitted"
    })
}

/// `{name | key, namespace?}`: `key` is the original action form's spelling of `name`.
fn key_params() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": name_schema("The key name, e.g. OPENAI_API_KEY"),
            "key": name_schema("Synonym of `name` (the `{action, namespace, key}` request form)"),
            "namespace": namespace_schema()
        },
        "additionalProperties": false
    })
}

fn method(name: &str, summary: &str, params: Value, positional: &[&str]) -> MethodSpec {
    MethodSpec::new(name, summary)
        .params(params)
        .positional(positional)
}

/// The plugin's self-description.
pub fn manifest() -> Manifest {
    let set_params = json!({
        "type": "object",
        "properties": {
            "name": name_schema("The key name"),
            "key": name_schema("Synonym of `name` (the `{action, namespace, key, value}` request form)"),
            "value": { "description": "The secret, a string of at most 64 KiB (checked by the plugin, which never echoes it)" },
            "namespace": namespace_schema()
        },
        "additionalProperties": false
    });
    let names = json!({ "type": "array", "items": { "type": "string" } });
    Manifest {
        name: SERVICE.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Namespaced secrets, encrypted at rest (XChaCha20-Poly1305) in the host's database. \
            Values are returned only by getKey and never appear in logs or errors."
            .into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec!["wrappedkeystore".into()],
        chain_method: None,
        max_concurrency: Some(64),
        methods: vec![
            method("getKey", "Returns the value of a key", key_params(), &["name", "namespace"])
                .description("Fails with NOT_FOUND_ERROR naming the key and namespace when there is no such key, \
                    and with CONFIGURATION_ERROR when the value was stored under another master key.")
                .result(json!({ "type": "string" }))
                // Tasks read secrets with `execute`; over HTTP only `admin` may.
                .secret()
                .example(json!({ "name": "OPENAI_API_KEY" }))
                .example(json!({ "name": "GAPI_KEY", "namespace": "default" })),
            method("setKey", "Stores (or replaces) the value of a key", set_params, &["name", "value", "namespace"])
                .description("Atomic upsert: concurrent writers never lose an update; the last write wins.")
                .result(json!({ "type": "boolean", "const": true }))
                .scope(Scope::Admin)
                .example(json!({ "name": "OPENAI_API_KEY", "value": "sk-...", "namespace": "global" })),
            method("hasKey", "Tells whether a key exists", key_params(), &["name", "namespace"])
                .result(json!({ "type": "boolean" }))
                .example(json!({ "name": "OPENAI_API_KEY" })),
            method("listKeys", "Lists the key names of a namespace (names only, never values)",
                json!({
                    "type": "object",
                    "properties": { "namespace": namespace_schema() },
                    "additionalProperties": false
                }),
                &["namespace"])
                .result(names.clone())
                .example(json!({ "namespace": "global" })),
            method("listNamespaces", "Lists the namespaces that hold at least one key",
                json!({ "type": "object", "properties": {}, "additionalProperties": false }), &[])
                .result(names),
            method("getServerTime", "Returns the server's time",
                json!({ "type": "object", "properties": {}, "additionalProperties": false }), &[])
                .result(json!({
                    "type": "object",
                    "properties": {
                        "timestamp": { "type": "string", "description": "ISO 8601, UTC, milliseconds" },
                        "unixMs": { "type": "integer" },
                        "source": { "type": "string", "const": SERVICE }
                    },
                    "required": ["timestamp", "unixMs", "source"]
                })),
            method("deleteKey", "Deletes a key; tells whether it existed", key_params(), &["name", "namespace"])
                .result(json!({ "type": "boolean" }))
                .scope(Scope::Admin)
                .example(json!({ "name": "OLD_TOKEN", "namespace": "global" })),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_keep_the_original_names_and_order() {
        let m = manifest();
        let names: Vec<_> = m.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "getKey",
                "setKey",
                "hasKey",
                "listKeys",
                "listNamespaces",
                "getServerTime",
                "deleteKey"
            ]
        );
        let set = &m.methods[1];
        assert_eq!(
            set.positional.as_deref(),
            Some(
                &[
                    "name".to_owned(),
                    "value".to_owned(),
                    "namespace".to_owned()
                ][..]
            )
        );
        assert_eq!(m.aliases, ["wrappedkeystore"]);
        // Writes need admin; reading a value is a secret (admin over HTTP, execute in tasks).
        assert_eq!(set.scope, Some(Scope::Admin));
        assert!(m.methods[0].secret);
        assert_eq!(m.methods[6].scope, Some(Scope::Admin));
        // The secret's schema must not constrain it (a violation message would quote it).
        assert_eq!(
            set.params["properties"]["value"]
                .as_object()
                .map(|o| o.len()),
            Some(1)
        );
    }
}
