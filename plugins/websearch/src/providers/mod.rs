//! The four search providers: how each builds its request (URL, query parameters,
//! headers) and reads its response into raw hits. No I/O here: `search` sends the request
//! and normalises the hits, so every provider is testable on fixtures alone.

mod brave;
mod duckduckgo;
mod google;
mod searxng;

use reqwest::Url;
use tasker_plugin_api::{ErrorCode, PluginError};

use crate::normalise::RawHit;
use crate::settings::Provider;

pub use duckduckgo::decode_redirect;

/// What to search for, already validated.
#[derive(Debug, Clone)]
pub struct Query {
    /// The query text sent upstream (with `site:` added when asked).
    pub text: String,
    /// Most results wanted.
    pub limit: usize,
    /// Language code such as `en` or `de` (region form `de-DE` accepted).
    pub lang: Option<String>,
}

/// Credentials a provider may need.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// `WEBSEARCH_API_KEY` (Google, Brave).
    pub api_key: Option<String>,
    /// `WEBSEARCH_ENGINE_ID` (Google's `cx`).
    pub engine_id: Option<String>,
}

/// A request ready to send: a GET to `url` with `headers`.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// Full URL with the query string.
    pub url: Url,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

/// Builds the provider's request.
pub fn prepare(
    provider: Provider,
    base_url: &str,
    query: &Query,
    keys: &Keys,
) -> Result<PreparedRequest, PluginError> {
    let base = Url::parse(base_url).map_err(|e| {
        PluginError::new(
            ErrorCode::Configuration,
            format!("bad websearch base URL: {e}"),
        )
    })?;
    match provider {
        Provider::Google => google::request(base, query, keys),
        Provider::Brave => brave::request(base, query, keys),
        Provider::Searxng => Ok(searxng::request(base, query)),
        Provider::DuckDuckGo => Ok(duckduckgo::request(base, query)),
    }
}

/// Reads the provider's response body into hits, in the provider's order.
pub fn parse(provider: Provider, body: &[u8]) -> Result<Vec<RawHit>, PluginError> {
    match provider {
        Provider::Google => google::parse(body),
        Provider::Brave => brave::parse(body),
        Provider::Searxng => searxng::parse(body),
        Provider::DuckDuckGo => Ok(duckduckgo::parse(&String::from_utf8_lossy(body))),
    }
}

/// The language part of `de-DE` / `de_DE` / `de`, lower-cased.
fn language(lang: &str) -> String {
    lang.split(['-', '_'])
        .next()
        .unwrap_or(lang)
        .trim()
        .to_ascii_lowercase()
}

/// A JSON body that does not have the documented shape.
fn bad_body(provider: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::new(
        ErrorCode::ExternalService,
        format!("{provider} sent a response that is not the documented JSON: {e}"),
    )
}

/// A key the provider needs is missing.
fn missing(what: &str, provider: &str) -> PluginError {
    PluginError::new(
        ErrorCode::Configuration,
        format!(
            "{provider} needs {what}: store it in the keystore or set the environment variable"
        ),
    )
}
