//! The scope check of a task's host calls: a run acts with the API token scope of whoever
//! submitted it (stored on the run), so a task submitted with `execute` cannot call a
//! method that needs `admin` (e.g. keystore.setKey). Without tokens configured nothing is
//! checked. The policy itself lives in `crate::auth`; this only fetches what it needs.

use tasker_plugin_api::{ErrorCode, PluginError, Scope};
use tasker_store::StackRun;

use super::Engine;
use crate::registry::Registry;

impl Engine {
    /// Ok when the run that made `call` may call its method. A database failure is a
    /// retryable `CONFIGURATION_ERROR`; a refusal is a final `AUTHORIZATION_ERROR`.
    pub(super) async fn authorize_call(
        &self,
        registry: &Registry,
        call: &StackRun,
    ) -> Result<(), PluginError> {
        if !self.cfg.enforce_run_scopes {
            return Ok(());
        }
        // An unknown service fails later with its own, clearer error.
        let Some(entry) = registry.resolve(&call.service) else {
            return Ok(());
        };
        let needed = entry.required_scope(&call.method, false);
        // Every run has at least `execute` (needed to submit): no query for ordinary calls.
        if needed <= Scope::Execute {
            return Ok(());
        }
        let stored =
            self.store.run_scope(call.task_run_id).await.map_err(|e| {
                PluginError::new(ErrorCode::Configuration, format!("database: {e}"))
            })?;
        let run_scope = stored.and_then(|s| s.parse::<Scope>().ok());
        crate::auth::check_task_call(
            call.task_run_id,
            run_scope,
            needed,
            &call.service,
            &call.method,
        )
    }
}
