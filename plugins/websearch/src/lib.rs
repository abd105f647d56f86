//! `websearch`: web search as a tasker service (alias `wrappedwebsearch`):
//! `search({query, limit?, site?, lang?})` → `{results: [{title, url, snippet, source}],
//! provider}` and `getServerTime()`. The provider (Google Programmable Search, Brave,
//! SearXNG or DuckDuckGo HTML) is chosen by configuration; keys come from the keystore or
//! the environment at first use, cached briefly. It must never log or return a key.

mod manifest;
mod normalise;
mod providers;
mod search;
mod settings;

use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, Host, Manifest, Plugin, PluginError, export_plugin};
use tasker_plugin_kit::credentials::Credentials;
use tasker_plugin_kit::http::Upstream;

use crate::settings::Settings;

pub use crate::manifest::SERVICE;
pub use crate::normalise::SearchResult;
pub use crate::providers::decode_redirect;
pub use crate::settings::Provider;

/// The plugin instance: settings, the pooled client and the credential cache.
pub struct WebSearch {
    settings: Settings,
    upstream: Upstream,
    credentials: Credentials,
}

impl Plugin for WebSearch {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        let settings = Settings::from_config(config)?;
        let upstream = Upstream::new(
            settings.provider.name(),
            settings.timeout,
            settings.retry.clone(),
            &settings.user_agent,
        )?;
        let credentials = Credentials::new(
            host.clone(),
            settings.key_namespace.clone(),
            settings.credential_ttl,
        );
        host.info(&format!(
            "websearch: provider {} at {}",
            settings.provider.name(),
            settings
                .base_url
                .as_deref()
                .unwrap_or("(no URL configured)")
        ));
        Ok(Self {
            settings,
            upstream,
            credentials,
        })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        match method {
            "search" => search::search(args, &self.settings, &self.upstream, &self.credentials),
            "getServerTime" => Ok(json!({
                "timestamp": tasker_plugin_kit::time::now_iso(),
                "source": SERVICE,
            })),
            other => Err(PluginError::unknown_method(SERVICE, other)),
        }
    }

    fn health(&self) -> Result<Value, PluginError> {
        Ok(json!({ "status": "healthy", "provider": self.settings.provider.name() }))
    }
}

export_plugin!(WebSearch);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_both_methods_with_schemas() {
        let m = manifest::manifest();
        let names: Vec<_> = m.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["search", "getServerTime"]);
        assert_eq!(m.aliases, ["wrappedwebsearch"]);
        assert!(m.methods.iter().all(|m| m.params["type"] == "object"));
    }
}
