//! Result normalisation shared by every provider: text cleaned of tags, entities and
//! runs of whitespace; URLs checked to be http(s); duplicates (same URL up to case of the
//! host, fragment and trailing slash) dropped, first one kept; the list cut at the limit.
//! Pure functions: no I/O.

use std::collections::HashSet;

use scraper::Html;
use serde::Serialize;

/// One search hit as a provider reported it, before cleaning.
#[derive(Debug, Clone, PartialEq)]
pub struct RawHit {
    /// Title (may contain markup).
    pub title: String,
    /// Target URL.
    pub url: String,
    /// Summary (may contain markup and entities).
    pub snippet: String,
}

/// One normalised result, as returned to callers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// Plain-text title.
    pub title: String,
    /// Absolute http(s) URL.
    pub url: String,
    /// Plain-text summary ("" when the provider gave none).
    pub snippet: String,
    /// The provider that found it (`google`, `brave`, `searxng`, `duckduckgo`).
    pub source: String,
}

/// Markup and entities removed, whitespace collapsed, trimmed.
pub fn clean_text(fragment: &str) -> String {
    let text = if fragment.contains('<') || fragment.contains('&') {
        Html::parse_fragment(fragment)
            .root_element()
            .text()
            .collect::<String>()
    } else {
        fragment.to_owned()
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The URL trimmed, if it is an absolute http(s) URL.
fn clean_url(url: &str) -> Option<String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| url.to_owned())
}

/// The identity of a URL for de-duplication.
fn dedup_key(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_fragment(None);
            // The parser already lower-cases the scheme and host.
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => url.to_owned(),
    }
}

/// Cleans, drops unusable and duplicate hits, and keeps at most `limit`.
pub fn normalise(hits: Vec<RawHit>, source: &str, limit: usize) -> Vec<SearchResult> {
    let mut seen = HashSet::new();
    let mut results = Vec::new();
    for hit in hits {
        if results.len() >= limit {
            break;
        }
        let Some(url) = clean_url(&hit.url) else {
            continue;
        };
        if !seen.insert(dedup_key(&url)) {
            continue;
        }
        let title = clean_text(&hit.title);
        results.push(SearchResult {
            title: if title.is_empty() { url.clone() } else { title },
            url,
            snippet: clean_text(&hit.snippet),
            source: source.to_owned(),
        });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(title: &str, url: &str, snippet: &str) -> RawHit {
        RawHit {
            title: title.into(),
            url: url.into(),
            snippet: snippet.into(),
        }
    }

    #[test]
    fn text_loses_tags_entities_and_extra_space() {
        assert_eq!(
            clean_text("  The <b>Rust</b>&nbsp;book &amp; more\n\t&#39;x&#39; "),
            "The Rust book & more 'x'"
        );
        assert_eq!(clean_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(clean_text(""), "");
    }

    #[test]
    fn duplicates_and_bad_urls_are_dropped_and_the_limit_holds() {
        let hits = vec![
            hit("A", "https://Example.com/a/", "one"),
            hit("A again", "https://example.com/a#top", "dup"),
            hit("JS", "javascript:alert(1)", ""),
            hit("Rel", "/relative", ""),
            hit("", "https://example.org/b", "two"),
            hit("C", "https://example.net/c", "three"),
        ];
        let results = normalise(hits.clone(), "test", 10);
        let urls: Vec<_> = results.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://Example.com/a/",
                "https://example.org/b",
                "https://example.net/c"
            ]
        );
        assert_eq!(results[1].title, "https://example.org/b");
        assert!(results.iter().all(|r| r.source == "test"));
        assert_eq!(normalise(hits, "test", 2).len(), 2);
    }
}
