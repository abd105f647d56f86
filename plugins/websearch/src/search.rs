//! `search`: validates the arguments, reads the provider's keys, sends the provider's
//! request through the retrying upstream client and normalises what comes back.

use serde::Deserialize;
use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};
use tasker_plugin_kit::credentials::{Credentials, Lookup};
use tasker_plugin_kit::http::Upstream;

use crate::normalise::normalise;
use crate::providers::{self, Keys, Query};
use crate::settings::{Provider, Settings};

/// Results returned when the caller gives no limit (the original's default).
const DEFAULT_LIMIT: usize = 5;
/// Most results a caller may ask for.
pub const MAX_LIMIT: usize = 50;

const API_KEY: Lookup<'static> = Lookup {
    key: "WEBSEARCH_API_KEY",
    env: &["WEBSEARCH_API_KEY"],
};
const ENGINE_ID: Lookup<'static> = Lookup {
    key: "WEBSEARCH_ENGINE_ID",
    env: &["WEBSEARCH_ENGINE_ID"],
};

/// The arguments of `search`.
#[derive(Debug, Deserialize)]
struct SearchArgs {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

/// Turns the arguments into a query; an empty query is a validation error.
fn query_from(args: Value) -> Result<Query, PluginError> {
    let args: SearchArgs = serde_json::from_value(args)
        .map_err(|e| PluginError::validation(format!("invalid search arguments: {e}")))?;
    let text = args.query.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(PluginError::validation("Search query is required")
            .with_details(json!({ "field": "query" })));
    }
    let mut text = text.to_owned();
    if let Some(site) = args
        .site
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        text = format!("{text} site:{site}");
    }
    let limit = args.limit.map_or(DEFAULT_LIMIT, |l| l as usize);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(PluginError::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(Query {
        text,
        limit,
        lang: args
            .lang
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty()),
    })
}

/// Reads the keys the provider needs (none for SearXNG and DuckDuckGo).
fn keys_for(settings: &Settings, credentials: &Credentials) -> Keys {
    match settings.provider {
        Provider::Google => Keys {
            api_key: credentials.get(API_KEY),
            engine_id: settings
                .engine_id
                .clone()
                .or_else(|| credentials.get(ENGINE_ID)),
        },
        Provider::Brave => Keys {
            api_key: credentials.get(API_KEY),
            engine_id: None,
        },
        Provider::Searxng | Provider::DuckDuckGo => Keys::default(),
    }
}

/// Runs one search: `{query, provider, results, timestamp}`.
pub fn search(
    args: Value,
    settings: &Settings,
    upstream: &Upstream,
    credentials: &Credentials,
) -> Result<Value, PluginError> {
    let query = query_from(args)?;
    let provider = settings.provider;
    let base_url = settings.base_url.as_deref().ok_or_else(|| {
        PluginError::new(
            ErrorCode::Configuration,
            "the searxng provider needs the instance URL: set config baseUrl or WEBSEARCH_BASE_URL",
        )
    })?;
    let keys = keys_for(settings, credentials);
    let request = providers::prepare(provider, base_url, &query, &keys)?;
    let secrets: Vec<&str> = [keys.api_key.as_deref()].into_iter().flatten().collect();
    let reply = upstream.send(
        |client| {
            request
                .headers
                .iter()
                .fold(client.get(request.url.clone()), |r, (name, value)| {
                    r.header(*name, value)
                })
        },
        &secrets,
    );
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            let error = PluginError::from(e);
            if error.code == ErrorCode::Authentication {
                // A rotated key must not wait for the cache to expire.
                credentials.forget(API_KEY.key);
            }
            return Err(error);
        }
    };
    let hits = providers::parse(provider, &reply.body)?;
    let results = normalise(hits, provider.name(), query.limit);
    Ok(json!({
        "query": query.text,
        "provider": provider.name(),
        "results": results,
        "timestamp": tasker_plugin_kit::time::now_iso(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_validated_and_site_is_added() {
        let q = query_from(json!({ "query": "  rust  ", "site": "docs.rs", "limit": 3 })).unwrap();
        assert_eq!((q.text.as_str(), q.limit), ("rust site:docs.rs", 3));
        assert_eq!(
            query_from(json!({ "query": "x" })).unwrap().limit,
            DEFAULT_LIMIT
        );
        for bad in [
            json!({}),
            json!({ "query": "  " }),
            json!({ "query": "x", "limit": 0 }),
        ] {
            assert_eq!(query_from(bad).unwrap_err().code, ErrorCode::Validation);
        }
    }
}
