//! How the documents show authentication: the `bearerAuth` HTTP bearer scheme (which makes
//! Swagger UI's "Authorize" button work) and, per operation, the `security` requirement, the
//! scope needed (`x-required-scope` plus a sentence in the description) and the 401/403
//! responses. It must not decide scopes itself: they come from the manifest
//! (`MethodSpec::required_scope`) or from whoever builds the operation.

use serde_json::{Value, json};
use tasker_plugin_api::{Manifest, MethodSpec, Scope};

/// The name of the security scheme in `components.securitySchemes`.
pub const BEARER_AUTH: &str = "bearerAuth";

/// The operation extension naming the scope an operation needs (`read`, `execute`, `admin`).
pub const REQUIRED_SCOPE_EXTENSION: &str = "x-required-scope";

/// `components.securitySchemes` of every document.
pub fn security_schemes() -> Value {
    json!({
        BEARER_AUTH: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token of the host (`TASKER_API_TOKENS` or `--api-tokens-file`), \
                sent as `Authorization: Bearer TOKEN`. Scopes: `read` ⊂ `execute` ⊂ `admin`; \
                each operation names the one it needs in `x-required-scope`. Without configured \
                tokens the host does not check it."
        }
    })
}

/// What an operation needs from the caller's token, and the sentence that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The lowest token scope that may call the operation.
    pub scope: Scope,
    /// Appended to the operation's description.
    pub note: String,
}

impl Access {
    /// An operation that needs a token with `scope`.
    pub fn scope(scope: Scope) -> Self {
        let note = match scope {
            Scope::Read => "Requires a token with the `read` scope (any valid token).".to_owned(),
            other => format!("Requires a token with the `{other}` scope."),
        };
        Self { scope, note }
    }

    /// Any valid token: documents, Swagger UI, the registry.
    pub fn any_token() -> Self {
        Self::scope(Scope::Read)
    }

    /// What calling `method` over HTTP needs (a secret method: `admin`, while tasks call it
    /// with its declared scope).
    pub fn of_method(method: &MethodSpec) -> Self {
        let over_http = method.required_scope(true);
        let in_tasks = method.required_scope(false);
        if over_http == in_tasks {
            return Self::scope(over_http);
        }
        Self {
            scope: over_http,
            note: format!(
                "Requires a token with the `{over_http}` scope over HTTP (its result is a secret); \
                 tasks may call it with `{in_tasks}`."
            ),
        }
    }

    /// What the REST route standing for `manifest`'s `method` needs; `admin` when the
    /// manifest does not list it (as the host enforces it: fail closed).
    pub fn of_manifest_method(manifest: &Manifest, method: &str) -> Self {
        manifest
            .methods
            .iter()
            .find(|m| m.name == method)
            .map_or_else(|| Self::scope(Scope::Admin), Self::of_method)
    }

    /// `POST /` of a service: each call needs the scope of the method it names, so the
    /// operation shows the lowest of them.
    pub fn of_any_method(manifest: &Manifest) -> Self {
        let lowest = manifest
            .methods
            .iter()
            .map(|m| m.required_scope(true))
            .min()
            .unwrap_or(Scope::Read);
        Self {
            scope: lowest,
            note: format!(
                "Requires a token with the scope of the method called (see that method's \
                 operation); at least `{lowest}`."
            ),
        }
    }

    /// Marks `operation` (an OpenAPI Operation Object) as needing this access: `security`,
    /// `x-required-scope`, the note in its description, and the 401 (and, above `read`, 403)
    /// responses unless it documents them already. The responses are `$ref`s to the shared
    /// `Unauthorized` and `Forbidden` components every document of this crate holds.
    pub fn apply(&self, operation: &mut Value) {
        let Some(op) = operation.as_object_mut() else {
            return;
        };
        op.insert("security".into(), json!([{ BEARER_AUTH: [] }]));
        op.insert(REQUIRED_SCOPE_EXTENSION.into(), json!(self.scope.as_str()));
        let description = match op.get("description").and_then(Value::as_str) {
            Some(text) if !text.trim().is_empty() => {
                format!("{}\n\n{}", text.trim_end(), self.note)
            }
            _ => self.note.clone(),
        };
        op.insert("description".into(), json!(description));
        let responses = op.entry("responses").or_insert_with(|| json!({}));
        if let Some(responses) = responses.as_object_mut() {
            responses
                .entry("401")
                .or_insert_with(|| json!({ "$ref": "#/components/responses/Unauthorized" }));
            if self.scope > Scope::Read {
                responses
                    .entry("403")
                    .or_insert_with(|| json!({ "$ref": "#/components/responses/Forbidden" }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_method_needs_admin_over_http_and_says_what_tasks_need() {
        let access = Access::of_method(&MethodSpec::new("getKey", "").secret());
        assert_eq!(access.scope, Scope::Admin);
        assert!(
            access.note.contains("`admin` scope over HTTP"),
            "{}",
            access.note
        );
        assert!(access.note.contains("tasks may call it with `execute`"));
        let plain = Access::of_method(&MethodSpec::new("echo", ""));
        assert_eq!(plain.scope, Scope::Execute);
        assert_eq!(plain.note, "Requires a token with the `execute` scope.");
    }

    #[test]
    fn apply_adds_security_scope_note_and_missing_error_responses() {
        let mut op = json!({
            "description": "Does things.",
            "responses": { "200": { "description": "ok" }, "403": { "description": "mine" } }
        });
        Access::scope(Scope::Admin).apply(&mut op);
        assert_eq!(op["security"], json!([{ "bearerAuth": [] }]));
        assert_eq!(op["x-required-scope"], "admin");
        assert_eq!(
            op["description"],
            "Does things.\n\nRequires a token with the `admin` scope."
        );
        assert_eq!(
            op["responses"]["401"]["$ref"],
            "#/components/responses/Unauthorized"
        );
        assert_eq!(op["responses"]["403"]["description"], "mine", "kept");

        let mut read = json!({ "responses": {} });
        Access::any_token().apply(&mut read);
        assert_eq!(read["x-required-scope"], "read");
        assert!(read["responses"].get("403").is_none(), "any token: no 403");
    }

    #[test]
    fn unknown_rest_methods_fail_closed_and_post_root_shows_the_lowest_scope() {
        let manifest = Manifest {
            name: "m".into(),
            version: "1".into(),
            description: String::new(),
            api_version: tasker_plugin_api::API_VERSION,
            aliases: Vec::new(),
            chain_method: None,
            max_concurrency: None,
            methods: vec![
                MethodSpec::new("put", "").scope(Scope::Admin),
                MethodSpec::new("get", "").scope(Scope::Read),
            ],
        };
        assert_eq!(
            Access::of_manifest_method(&manifest, "gone").scope,
            Scope::Admin
        );
        assert_eq!(
            Access::of_manifest_method(&manifest, "get").scope,
            Scope::Read
        );
        assert_eq!(Access::of_any_method(&manifest).scope, Scope::Read);
    }
}
