//! SearXNG (self-hosted): `GET {instance}/search?q&format=json[&language]`, no key;
//! answer `{results: [{title, url, content}]}`. The instance must enable the JSON format.

use reqwest::Url;
use serde::Deserialize;
use tasker_plugin_api::PluginError;

use super::{PreparedRequest, Query, bad_body, language};
use crate::normalise::RawHit;

/// `base` may be the instance root or its `/search` endpoint.
pub fn request(mut base: Url, query: &Query) -> PreparedRequest {
    if !base.path().trim_end_matches('/').ends_with("/search")
        && let Ok(mut segments) = base.path_segments_mut()
    {
        segments.pop_if_empty().push("search");
    }
    {
        let mut pairs = base.query_pairs_mut();
        pairs
            .append_pair("q", &query.text)
            .append_pair("format", "json");
        if let Some(lang) = &query.lang {
            pairs.append_pair("language", &language(lang));
        }
    }
    PreparedRequest {
        url: base,
        headers: vec![("accept", "application/json".into())],
    }
}

#[derive(Deserialize)]
struct Answer {
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
    content: String,
}

pub fn parse(body: &[u8]) -> Result<Vec<RawHit>, PluginError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| bad_body("SearXNG", e))?;
    Ok(answer
        .results
        .into_iter()
        .map(|i| RawHit {
            title: i.title,
            url: i.url,
            snippet: i.content,
        })
        .collect())
}
