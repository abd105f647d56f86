//! Authentication and authorisation policy: the configured API tokens ([`TokenSet`]),
//! who a request acts as ([`Principal`]) and the checks every entry point shares, with
//! messages that name the scope needed. The scope a method needs is declared in its
//! manifest (`MethodSpec::scope` / `secret`, see [`crate::registry::ServiceEntry::required_scope`]);
//! nothing here lists service or method names. Must never log or echo a token.

pub mod startup;
pub mod tokens;

use serde_json::json;
use tasker_plugin_api::{ErrorCode, PluginError, Scope};

pub use tokens::{TokenError, TokenSet};

/// Who an HTTP request acts as, set by the guard middleware for every request it lets
/// through. `scope: None` means authentication is off and everything is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    scope: Option<Scope>,
}

impl Principal {
    /// A caller on a host without tokens: everything is allowed.
    pub const UNRESTRICTED: Principal = Principal { scope: None };

    /// A caller holding a token with `scope`.
    pub fn with_scope(scope: Scope) -> Self {
        Self { scope: Some(scope) }
    }

    /// The token's scope (None when authentication is off).
    pub fn scope(&self) -> Option<Scope> {
        self.scope
    }

    /// Allows `what` when this caller's token has `needed` (or authentication is off).
    pub fn require(&self, needed: Scope, what: &str) -> Result<(), PluginError> {
        match self.scope {
            Some(granted) if !granted.allows(needed) => Err(PluginError::new(
                ErrorCode::Authorization,
                format!(
                    "{what} needs a token with scope '{needed}'; this token has scope '{granted}'"
                ),
            )
            .with_details(json!({ "requiredScope": needed, "tokenScope": granted }))),
            _ => Ok(()),
        }
    }
}

/// The check for a host call made by a task: the run acts with its submitter's scope.
/// `run_scope: None` on a host with tokens (a run submitted while authentication was
/// off) counts as `execute`, the least a submitter needs.
pub fn check_task_call(
    run_id: i64,
    run_scope: Option<Scope>,
    needed: Scope,
    service: &str,
    method: &str,
) -> Result<(), PluginError> {
    let granted = run_scope.unwrap_or(Scope::Execute);
    if granted.allows(needed) {
        return Ok(());
    }
    Err(PluginError::new(
        ErrorCode::Authorization,
        format!(
            "task run {run_id} acts with its submitter's scope '{granted}' and cannot call {service}.{method}, which needs scope '{needed}'"
        ),
    )
    .with_details(json!({ "requiredScope": needed, "runScope": granted })))
}

/// The 401 for a request without a usable token (the message never quotes the header).
pub fn unauthenticated(problem: &str) -> PluginError {
    PluginError::new(
        ErrorCode::Authentication,
        format!(
            "{problem}: send `Authorization: Bearer <token>` (every endpoint but /health needs one)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weaker_token_is_refused_naming_the_scope_needed() {
        let reader = Principal::with_scope(Scope::Read);
        let err = reader
            .require(Scope::Admin, "keystore.setKey")
            .expect_err("read cannot write");
        assert_eq!(err.code, ErrorCode::Authorization);
        assert!(err.message.contains("scope 'admin'"), "{}", err.message);
        assert!(reader.require(Scope::Read, "docs").is_ok());
        assert!(
            Principal::UNRESTRICTED
                .require(Scope::Admin, "anything")
                .is_ok()
        );
    }

    #[test]
    fn task_calls_use_the_run_scope() {
        let err = check_task_call(7, Some(Scope::Execute), Scope::Admin, "keystore", "setKey")
            .expect_err("execute cannot call admin methods");
        assert!(err.message.contains("keystore.setKey") && err.message.contains("'admin'"));
        assert!(check_task_call(7, None, Scope::Execute, "keystore", "getKey").is_ok());
        assert!(check_task_call(7, None, Scope::Admin, "keystore", "setKey").is_err());
        assert!(check_task_call(7, Some(Scope::Admin), Scope::Admin, "k", "s").is_ok());
    }
}
