//! Google Programmable Search (Custom Search JSON API): `GET {base}?key&cx&q&num[&lr&hl]`,
//! answer `{items: [{title, link, snippet}]}` (no `items` when nothing matched).

use reqwest::Url;
use serde::Deserialize;
use tasker_plugin_api::PluginError;

use super::{Keys, PreparedRequest, Query, bad_body, language, missing};
use crate::normalise::RawHit;

/// Google returns at most 10 results per request.
const MAX_PER_REQUEST: usize = 10;

pub fn request(mut base: Url, query: &Query, keys: &Keys) -> Result<PreparedRequest, PluginError> {
    let key = keys
        .api_key
        .as_deref()
        .ok_or_else(|| missing("WEBSEARCH_API_KEY", "Google Programmable Search"))?;
    let cx = keys.engine_id.as_deref().ok_or_else(|| {
        missing(
            "WEBSEARCH_ENGINE_ID (or config engineId)",
            "Google Programmable Search",
        )
    })?;
    {
        let mut pairs = base.query_pairs_mut();
        pairs
            .append_pair("key", key)
            .append_pair("cx", cx)
            .append_pair("q", &query.text)
            .append_pair("num", &query.limit.clamp(1, MAX_PER_REQUEST).to_string());
        if let Some(lang) = &query.lang {
            let lang = language(lang);
            pairs
                .append_pair("lr", &format!("lang_{lang}"))
                .append_pair("hl", &lang);
        }
    }
    Ok(PreparedRequest {
        url: base,
        headers: vec![("accept", "application/json".into())],
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    title: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    snippet: String,
}

pub fn parse(body: &[u8]) -> Result<Vec<RawHit>, PluginError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| bad_body("Google", e))?;
    Ok(answer
        .items
        .into_iter()
        .map(|i| RawHit {
            title: i.title,
            url: i.link,
            snippet: i.snippet,
        })
        .collect())
}
