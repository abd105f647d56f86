//! The plugin manifest and the call context: versioned JSON documents that describe a
//! plugin's methods (the source of its OpenAPI document) and one call's provenance.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Scope;

/// A plugin's self-description, read by the host at discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The service name (unique in a host), e.g. `keystore`.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// One paragraph for humans.
    #[serde(default)]
    pub description: String,
    /// The plugin API version it speaks ([`crate::API_VERSION`]).
    pub api_version: u32,
    /// Other names the service answers to (e.g. the seed's `wrappedkeystore`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// When set, requests in the chain form (`{"chain": [...]}`) are delivered whole to this
    /// method as `{"chain": [...]}` instead of being reduced to a dotted method path (for
    /// builders such as supabase-js, whose chain is the query itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_method: Option<String>,
    /// Most calls the host runs at once against this plugin (None: the host's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// The methods, in the order they should be documented.
    pub methods: Vec<MethodSpec>,
}

/// One callable method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodSpec {
    /// The method path, dotted for nested APIs (`admin.users.list`).
    pub name: String,
    /// One line for the docs.
    #[serde(default)]
    pub summary: String,
    /// Longer description (Markdown).
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments. When `positional` is set it describes an object whose
    /// properties are the positional arguments by name.
    #[serde(default = "any_schema")]
    pub params: Value,
    /// Names of positional arguments, in order: `["name", "namespace"]` lets callers send
    /// `args: ["KEY", "ns"]` as well as `{"name": "KEY", "namespace": "ns"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positional: Option<Vec<String>>,
    /// JSON Schema of the result.
    #[serde(default = "any_schema")]
    pub result: Value,
    /// Example argument documents, shown in the docs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Value>,
    /// The token scope a caller needs (None: `execute`). Tasks are checked against the
    /// scope of whoever submitted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The result is a secret (e.g. a keystore value): over HTTP the method needs `admin`
    /// whatever `scope` says; tasks still call it with `scope`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

fn any_schema() -> Value {
    Value::Object(Default::default())
}

impl MethodSpec {
    /// A method with a name and summary, accepting anything and returning anything.
    pub fn new(name: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            summary: summary.into(),
            description: String::new(),
            params: any_schema(),
            positional: None,
            result: any_schema(),
            examples: Vec::new(),
            scope: None,
            secret: false,
        }
    }
    /// Sets the scope a caller needs (default `execute`).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }
    /// Marks the result as a secret: only `admin` tokens may call it over HTTP.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    /// The scope a caller needs: over HTTP (`via_http`) secrets need `admin`; otherwise
    /// the declared scope, `execute` when none is declared.
    pub fn required_scope(&self, via_http: bool) -> Scope {
        let declared = self.scope.unwrap_or(Scope::Execute);
        if via_http && self.secret {
            Scope::Admin
        } else {
            declared
        }
    }
    /// Sets the argument schema.
    pub fn params(mut self, schema: Value) -> Self {
        self.params = schema;
        self
    }
    /// Sets the positional argument names.
    pub fn positional(mut self, names: &[&str]) -> Self {
        self.positional = Some(names.iter().map(|n| (*n).to_owned()).collect());
        self
    }
    /// Sets the result schema.
    pub fn result(mut self, schema: Value) -> Self {
        self.result = schema;
        self
    }
    /// Sets the long description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    /// Adds an example argument document.
    pub fn example(mut self, args: Value) -> Self {
        self.examples.push(args);
        self
    }
}

/// Where a call comes from, passed with every call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallContext {
    /// The HTTP request id (`X-Request-Id`) that led to this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The task run, when the call comes from a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_run_id: Option<i64>,
    /// The stack run (journal entry), when the call comes from a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_run_id: Option<i64>,
    /// Stays the same across retries and hosts for one logical call: deduplicate on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Which attempt this is (1 for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The service that made the call, when one plugin calls another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The API token scope of the HTTP caller that led to this call (None when
    /// authentication is off, and for calls made by tasks or plugins). The host has
    /// already checked it against the method's scope; a service that starts work on the
    /// caller's behalf (a task run) passes it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_without_scope_needs_execute_and_old_json_still_parses() {
        let old: MethodSpec = serde_json::from_value(serde_json::json!({ "name": "echo" }))
            .expect("an old method description parses");
        assert_eq!(old.scope, None);
        assert!(!old.secret);
        assert_eq!(old.required_scope(true), Scope::Execute);
        let json = serde_json::to_value(&old).expect("serialises");
        assert!(json.get("scope").is_none() && json.get("secret").is_none());
    }

    #[test]
    fn secrets_need_admin_over_http_only() {
        let get = MethodSpec::new("getKey", "").secret();
        assert_eq!(get.required_scope(true), Scope::Admin);
        assert_eq!(get.required_scope(false), Scope::Execute);
        let set = MethodSpec::new("setKey", "").scope(Scope::Admin);
        assert_eq!(set.required_scope(false), Scope::Admin);
        let parsed: MethodSpec = serde_json::from_value(
            serde_json::json!({ "name": "q", "scope": "read", "secret": true }),
        )
        .expect("parses");
        assert_eq!((parsed.scope, parsed.secret), (Some(Scope::Read), true));
    }
}
