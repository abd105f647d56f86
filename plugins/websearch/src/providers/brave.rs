//! Brave Search API: `GET {base}?q&count[&search_lang]` with the key in
//! `X-Subscription-Token`; answer `{web: {results: [{title, url, description}]}}`.

use reqwest::Url;
use serde::Deserialize;
use tasker_plugin_api::PluginError;

use super::{Keys, PreparedRequest, Query, bad_body, language, missing};
use crate::normalise::RawHit;

/// Brave returns at most 20 web results per request.
const MAX_PER_REQUEST: usize = 20;

pub fn request(mut base: Url, query: &Query, keys: &Keys) -> Result<PreparedRequest, PluginError> {
    let key = keys
        .api_key
        .as_deref()
        .ok_or_else(|| missing("WEBSEARCH_API_KEY", "Brave Search"))?;
    {
        let mut pairs = base.query_pairs_mut();
        pairs
            .append_pair("q", &query.text)
            .append_pair("count", &query.limit.clamp(1, MAX_PER_REQUEST).to_string());
        if let Some(lang) = &query.lang {
            pairs.append_pair("search_lang", &language(lang));
        }
    }
    Ok(PreparedRequest {
        url: base,
        headers: vec![
            ("accept", "application/json".into()),
            ("x-subscription-token", key.to_owned()),
        ],
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    web: Option<Web>,
}

#[derive(Deserialize)]
struct Web {
    #[serde(default)]
    results: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
}

pub fn parse(body: &[u8]) -> Result<Vec<RawHit>, PluginError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| bad_body("Brave", e))?;
    Ok(answer
        .web
        .map(|w| w.results)
        .unwrap_or_default()
        .into_iter()
        .map(|i| RawHit {
            title: i.title,
            url: i.url,
            snippet: i.description,
        })
        .collect())
}
