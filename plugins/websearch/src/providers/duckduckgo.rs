//! DuckDuckGo's HTML endpoint (no key): `GET {base}?q[&kl]`, answer an HTML page parsed
//! with a real HTML parser (html5ever via `scraper`): each `div.result` that is not an ad
//! gives `a.result__a` (title, link) and `.result__snippet`. Links are DuckDuckGo
//! redirects `//duckduckgo.com/l/?uddg=<percent-encoded target>&rut=...`, decoded here.

use reqwest::Url;
use scraper::{ElementRef, Html, Selector};

use super::{PreparedRequest, Query};
use crate::normalise::RawHit;

pub fn request(mut base: Url, query: &Query) -> PreparedRequest {
    {
        let mut pairs = base.query_pairs_mut();
        pairs.append_pair("q", &query.text);
        if let Some(lang) = &query.lang {
            pairs.append_pair("kl", &region(lang));
        }
    }
    PreparedRequest {
        url: base,
        headers: vec![("accept", "text/html".into())],
    }
}

/// DuckDuckGo's `kl` is region-language (`us-en`, `de-de`, `uk-en`).
fn region(lang: &str) -> String {
    let lower = lang.trim().to_ascii_lowercase().replace('_', "-");
    match lower.split_once('-') {
        Some((language, region)) => {
            let region = if region == "gb" { "uk" } else { region };
            format!("{region}-{language}")
        }
        None if lower == "en" => "us-en".into(),
        None => format!("{lower}-{lower}"),
    }
}

struct Selectors {
    result: Selector,
    title: Selector,
    snippet: Selector,
}

fn selectors() -> Option<Selectors> {
    Some(Selectors {
        result: Selector::parse("div.result").ok()?,
        title: Selector::parse("a.result__a").ok()?,
        snippet: Selector::parse(".result__snippet").ok()?,
    })
}

/// The hits on a result page, in page order (ads and links that cannot be decoded are
/// skipped; an unexpected page gives no hits rather than an error).
pub fn parse(html: &str) -> Vec<RawHit> {
    let Some(sel) = selectors() else {
        return Vec::new();
    };
    let page = Html::parse_document(html);
    page.select(&sel.result)
        .filter(|result| !is_ad(result))
        .filter_map(|result| {
            let link = result.select(&sel.title).next()?;
            let url = decode_redirect(link.value().attr("href")?)?;
            let snippet = result
                .select(&sel.snippet)
                .next()
                .map(|s| s.inner_html())
                .unwrap_or_default();
            Some(RawHit {
                title: link.inner_html(),
                url,
                snippet,
            })
        })
        .collect()
}

fn is_ad(result: &ElementRef<'_>) -> bool {
    result
        .value()
        .classes()
        .any(|c| c == "result--ad" || c == "result--ad--small")
}

/// The target of a result link: the `uddg` parameter of a `/l/` redirect (percent-decoded),
/// or the link itself when it is already absolute. Ad redirects (`/y.js`) give None.
pub fn decode_redirect(href: &str) -> Option<String> {
    let base = Url::parse("https://duckduckgo.com/").ok()?;
    let url = base.join(href.trim()).ok()?;
    let on_ddg = url
        .host_str()
        .is_some_and(|h| h == "duckduckgo.com" || h.ends_with(".duckduckgo.com"));
    if !on_ddg {
        return Some(url.to_string());
    }
    if url.path() == "/l/" || url.path() == "/l" {
        return url
            .query_pairs()
            .find(|(k, _)| k == "uddg")
            .map(|(_, v)| v.into_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_decode_to_their_target() {
        assert_eq!(
            decode_redirect("//duckduckgo.com/l/?uddg=https%3A%2F%2Fwww.rust%2Dlang.org%2Flearn%3Fa%3D1%26b%3D2&rut=abc").as_deref(),
            Some("https://www.rust-lang.org/learn?a=1&b=2")
        );
        assert_eq!(
            decode_redirect("/l/?kh=-1&uddg=https%3A%2F%2Fexample.com%2F%C3%A9t%C3%A9").as_deref(),
            Some("https://example.com/été")
        );
        assert_eq!(
            decode_redirect("https://example.org/x").as_deref(),
            Some("https://example.org/x")
        );
        assert_eq!(decode_redirect("//duckduckgo.com/y.js?ad_provider=x"), None);
    }

    #[test]
    fn regions_follow_duckduckgo_codes() {
        assert_eq!(region("en"), "us-en");
        assert_eq!(region("de"), "de-de");
        assert_eq!(region("en-GB"), "uk-en");
        assert_eq!(region("fr_CA"), "ca-fr");
    }

    #[test]
    fn a_result_page_gives_hits_without_ads() {
        let html = r#"<html><body><div class="results">
          <div class="result results_links result--ad"><a class="result__a" href="//duckduckgo.com/y.js?ad=1">Ad</a></div>
          <div class="result results_links web-result">
            <h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fa.example%2F&amp;rut=1">The <b>A</b> site</a></h2>
            <a class="result__snippet" href="x">About &amp; <b>A</b></a>
          </div>
          <div class="result"><a class="result__a" href="https://b.example/">B</a></div>
          <div class="result"><span>no link</span></div>
        </div></body></html>"#;
        let hits = parse(html);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert_eq!(hits[0].url, "https://a.example/");
        assert_eq!(crate::normalise::clean_text(&hits[0].title), "The A site");
        assert_eq!(crate::normalise::clean_text(&hits[0].snippet), "About & A");
        assert_eq!(hits[1].url, "https://b.example/");
        assert!(parse("<html>not a result page</html>").is_empty());
    }
}
