//! Runs one Google method end to end: current credentials, a plan, an access token for
//! the plan's subject, the request (retried by [`Upstream`]), one token refresh on 401,
//! and `autoPaginate` (follow `nextPageToken`, merge the pages). Google's JSON is
//! returned unchanged apart from the merge.

use reqwest::Url;
use serde_json::{Map, Value};

use crate::credentials::{CredentialStore, Credentials};
use crate::endpoints::{Endpoint, Family, Verb};
use crate::error::{Error, Phase, Result};
use crate::plan::{Plan, plan};
use crate::settings::Settings;
use crate::token::{TokenProvider, cache_key};
use crate::upstream::{Replay, Request, Upstream};

/// Everything a call needs, shared by all calls.
pub struct Api {
    /// Settings (roots, page limit).
    pub settings: Settings,
    /// Credentials with their TTL cache.
    pub credentials: CredentialStore,
    /// Token cache.
    pub tokens: TokenProvider,
    /// HTTP client.
    pub upstream: Upstream,
}

impl Api {
    /// Calls `endpoint` with `args` (an object; `autoPaginate` is gapi's own flag).
    pub fn call(&self, endpoint: &Endpoint, mut args: Map<String, Value>) -> Result<Value> {
        let paginate = matches!(args.remove("autoPaginate"), Some(Value::Bool(true)));
        let creds = self.credentials.current()?;
        let admin = creds.admin_email.as_deref();
        let first = plan(endpoint, &args, admin)?;
        let page = self.send(endpoint, &creds, &first)?;
        match (paginate, endpoint.list_key) {
            (true, Some(list_key)) => self.follow_pages(endpoint, &creds, &args, list_key, page),
            _ => Ok(page),
        }
    }

    /// Fetches the pages after `first` and appends their items to its list.
    fn follow_pages(
        &self,
        endpoint: &Endpoint,
        creds: &Credentials,
        args: &Map<String, Value>,
        list_key: &str,
        mut merged: Value,
    ) -> Result<Value> {
        let mut pages = 1;
        let mut seen_tokens = Vec::new();
        while let Some(token) = next_token(&merged) {
            if pages >= self.settings.max_pages || seen_tokens.contains(&token) {
                // Stop with the token still in the result, so the caller can go on.
                return Ok(merged);
            }
            seen_tokens.push(token.clone());
            let mut page_args = args.clone();
            page_args.insert("pageToken".into(), Value::String(token));
            let page = self.send(
                endpoint,
                creds,
                &plan(endpoint, &page_args, creds.admin_email.as_deref())?,
            )?;
            merge_page(&mut merged, page, list_key);
            pages += 1;
        }
        Ok(merged)
    }

    /// Sends one planned request; on 401 the token is dropped and fetched once more,
    /// because Google revokes tokens before their stated expiry.
    fn send(&self, endpoint: &Endpoint, creds: &Credentials, plan: &Plan) -> Result<Value> {
        let url = self.url(endpoint.family, plan)?;
        let mut refreshed = false;
        loop {
            let token = self.tokens.token(creds, endpoint.scopes, &plan.subject)?;
            let build = |client: &reqwest::blocking::Client| {
                let request = match plan.verb {
                    Verb::Get => client.get(url.clone()),
                    Verb::Post => client
                        .post(url.clone())
                        .json(plan.body.as_ref().unwrap_or(&Value::Null)),
                };
                request.bearer_auth(&token)
            };
            let replay = match plan.verb {
                Verb::Get => Replay::Safe,
                Verb::Post => Replay::Unsafe,
            };
            let result = self.upstream.send(&Request {
                what: endpoint.name,
                phase: Phase::Api,
                replay,
                build: &build,
            });
            match result {
                Err(Error::Upstream { status: 401, .. }) if !refreshed => {
                    refreshed = true;
                    self.tokens
                        .clear(Some(&cache_key(endpoint.scopes, &plan.subject)));
                }
                other => return other,
            }
        }
    }

    fn url(&self, family: Family, plan: &Plan) -> Result<Url> {
        let roots = &self.settings.roots;
        let root = match family {
            Family::Admin => &roots.admin,
            Family::Gmail => &roots.gmail,
            Family::Calendar => &roots.calendar,
            Family::Drive => &roots.drive,
        };
        let mut url = Url::parse(&format!("{root}{}", plan.path)).map_err(|e| {
            Error::NotConfigured(format!("API root {root:?} does not form a URL: {e}"))
        })?;
        if !plan.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &plan.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }
}

fn next_token(page: &Value) -> Option<String> {
    page.get("nextPageToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Appends `page`'s items to `merged`'s list and takes over its `nextPageToken`
/// (removed on the last page). Other fields stay as the first page had them.
pub fn merge_page(merged: &mut Value, page: Value, list_key: &str) {
    let Value::Object(mut page) = page else {
        return;
    };
    let items = match page.remove(list_key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let Some(target) = merged.as_object_mut() else {
        return;
    };
    match target.get_mut(list_key) {
        Some(Value::Array(list)) => list.extend(items),
        _ => {
            target.insert(list_key.to_owned(), Value::Array(items));
        }
    }
    match page.remove("nextPageToken") {
        Some(token) => target.insert("nextPageToken".into(), token),
        None => target.remove("nextPageToken"),
    };
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pages_merge_and_the_last_drops_the_token() {
        let mut merged = json!({ "users": [{ "id": 1 }], "nextPageToken": "a", "kind": "admin#directory#users" });
        merge_page(
            &mut merged,
            json!({ "users": [{ "id": 2 }], "nextPageToken": "b" }),
            "users",
        );
        assert_eq!(merged["nextPageToken"], "b");
        merge_page(&mut merged, json!({ "users": [{ "id": 3 }] }), "users");
        assert_eq!(
            merged,
            json!({ "users": [{ "id": 1 }, { "id": 2 }, { "id": 3 }], "kind": "admin#directory#users" })
        );
        let mut empty_first = json!({ "nextPageToken": "a" });
        merge_page(
            &mut empty_first,
            json!({ "messages": [{ "id": "m" }] }),
            "messages",
        );
        assert_eq!(empty_first, json!({ "messages": [{ "id": "m" }] }));
    }
}
