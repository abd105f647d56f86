//! Forward mode: sends the parsed query to a Supabase/PostgREST server over HTTP the way
//! supabase-js would (query-string filters, Prefer headers, apikey), and reads its answer
//! back into the same response shape. The key goes only into request headers.

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use crate::filter::{render_logic, render_value};
use crate::query::{Action, Cardinality, Condition, Query, QueryTarget, SelectItem};
use crate::response::{Failure, Result, Success};
use crate::runner::shape_rows;

/// A PostgREST endpoint.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    rest_url: String,
    key: String,
}

/// The HTTP request a query becomes (separate from sending, for tests and clarity).
#[derive(Debug, Clone, PartialEq)]
pub struct WireRequest {
    /// GET, HEAD, POST, PATCH or DELETE.
    pub method: Method,
    /// Full URL with the query string.
    pub url: Url,
    /// `Prefer` header parts.
    pub prefer: Vec<String>,
    /// Whether `Accept` asks for one object (`single()`).
    pub single_object: bool,
    /// JSON body.
    pub body: Option<Value>,
}

fn select_text(items: &[SelectItem]) -> String {
    items
        .iter()
        .map(|i| match &i.alias {
            Some(a) => format!("{a}:{}", i.column),
            None => i.column.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `(key, value)` query pairs for the filters.
fn filter_pairs(filters: &[Condition]) -> Vec<(String, String)> {
    filters
        .iter()
        .map(|c| match c {
            Condition::Test {
                column,
                negated,
                op,
                value,
            } => (
                column.clone(),
                format!(
                    "{}{}.{}",
                    if *negated { "not." } else { "" },
                    op.wire_name(),
                    render_value(op, value, false)
                ),
            ),
            Condition::Any(items) => (
                "or".into(),
                format!(
                    "({})",
                    items.iter().map(render_logic).collect::<Vec<_>>().join(",")
                ),
            ),
            Condition::All(items) => (
                "and".into(),
                format!(
                    "({})",
                    items.iter().map(render_logic).collect::<Vec<_>>().join(",")
                ),
            ),
            Condition::Not(inner) => {
                let text = render_logic(inner);
                match text.split_once('(') {
                    Some((kind, rest)) => (format!("not.{kind}"), format!("({rest}")),
                    None => ("not".into(), text),
                }
            }
        })
        .collect()
}

/// Builds the PostgREST request for `query` under `rest_url`.
pub fn wire_request(rest_url: &str, query: &Query) -> Result<WireRequest> {
    let mut url = Url::parse(&format!("{rest_url}/")).map_err(|e| {
        Failure::new(
            503,
            "PGRST000",
            format!("the PostgREST URL is invalid: {e}"),
        )
    })?;
    let mut prefer = Vec::new();
    let mut body = None;
    let method;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| Failure::new(503, "PGRST000", "the PostgREST URL cannot have a path"))?;
        segments.pop_if_empty();
        match &query.target {
            QueryTarget::Table(t) => {
                segments.push(t);
            }
            QueryTarget::Rpc { function, .. } => {
                segments.push("rpc").push(function);
            }
            QueryTarget::None => {
                return Err(Failure::parse(
                    "the chain must start with from(table) or rpc(fn, args)",
                ));
            }
        }
    }
    {
        let mut pairs = url.query_pairs_mut();
        match (&query.target, &query.action) {
            (QueryTarget::Rpc { args, .. }, _) => {
                method = Method::POST;
                body = Some(Value::Object(args.clone()));
                if let Some(cols) = &query.columns {
                    pairs.append_pair("select", &select_text(cols));
                }
            }
            (_, Action::Select) => {
                method = if query.head {
                    Method::HEAD
                } else {
                    Method::GET
                };
                let cols = query
                    .columns
                    .as_deref()
                    .map(select_text)
                    .unwrap_or_else(|| "*".into());
                pairs.append_pair("select", &cols);
            }
            (_, action) => {
                method = match action {
                    Action::Insert { .. } | Action::Upsert { .. } => Method::POST,
                    Action::Update { .. } => Method::PATCH,
                    _ => Method::DELETE,
                };
                match action {
                    Action::Insert {
                        rows,
                        default_to_null,
                    }
                    | Action::Upsert {
                        rows,
                        default_to_null,
                        ..
                    } => {
                        if rows.len() > 1 {
                            let mut union: Vec<&String> = Vec::new();
                            for k in rows.iter().flat_map(|r| r.keys()) {
                                if !union.contains(&k) {
                                    union.push(k);
                                }
                            }
                            let columns: Vec<String> =
                                union.iter().map(|k| format!("\"{k}\"")).collect();
                            pairs.append_pair("columns", &columns.join(","));
                            body = Some(Value::Array(
                                rows.iter().cloned().map(Value::Object).collect(),
                            ));
                        } else {
                            body = Some(
                                rows.first()
                                    .cloned()
                                    .map(Value::Object)
                                    .unwrap_or(Value::Array(vec![])),
                            );
                        }
                        if !default_to_null {
                            prefer.push("missing=default".into());
                        }
                        if let Action::Upsert {
                            on_conflict,
                            ignore_duplicates,
                            ..
                        } = action
                        {
                            prefer.push(
                                if *ignore_duplicates {
                                    "resolution=ignore-duplicates"
                                } else {
                                    "resolution=merge-duplicates"
                                }
                                .into(),
                            );
                            if let Some(cols) = on_conflict {
                                pairs.append_pair("on_conflict", &cols.join(","));
                            }
                        }
                    }
                    Action::Update { values } => body = Some(Value::Object(values.clone())),
                    _ => {}
                }
                match &query.columns {
                    Some(cols) => {
                        pairs.append_pair("select", &select_text(cols));
                        prefer.push("return=representation".into());
                    }
                    None => prefer.push("return=minimal".into()),
                }
            }
        }
        for (k, v) in filter_pairs(&query.filters) {
            pairs.append_pair(&k, &v);
        }
        if !query.order.is_empty() {
            let terms: Vec<String> = query
                .order
                .iter()
                .map(|t| {
                    let mut s =
                        format!("{}.{}", t.column, if t.ascending { "asc" } else { "desc" });
                    if let Some(first) = t.nulls_first {
                        s.push_str(if first { ".nullsfirst" } else { ".nullslast" });
                    }
                    s
                })
                .collect();
            pairs.append_pair("order", &terms.join(","));
        }
        if let Some(offset) = query.offset {
            pairs.append_pair("offset", &offset.to_string());
        }
        if let Some(limit) = query.limit {
            pairs.append_pair("limit", &limit.to_string());
        }
    }
    if query.count {
        prefer.push("count=exact".into());
    }
    if query.rollback {
        prefer.push("tx=rollback".into());
    }
    if let Some(max) = query.max_affected {
        prefer.push(format!("handling=strict,max-affected={max}"));
    }
    Ok(WireRequest {
        method,
        url,
        prefer,
        single_object: query.cardinality == Cardinality::Single,
        body,
    })
}

/// `0-9/42` or `*/42` → 42.
fn content_range_total(header: Option<&str>) -> Option<i64> {
    header?.rsplit_once('/')?.1.parse().ok()
}

impl Forwarder {
    /// A forwarder to `rest_url` with `key`.
    pub fn new(rest_url: String, key: String) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| {
                Failure::new(500, "XX000", format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self {
            client,
            rest_url,
            key,
        })
    }

    /// Sends the query and reads the answer.
    pub async fn run(&self, query: &Query) -> Result<Success> {
        let wire = wire_request(&self.rest_url, query)?;
        let accept = if wire.single_object {
            "application/vnd.pgrst.object+json"
        } else {
            "application/json"
        };
        let mut request = self
            .client
            .request(wire.method.clone(), wire.url.clone())
            .header("apikey", &self.key)
            .header("Authorization", format!("Bearer {}", self.key))
            .header("Accept", accept);
        if !wire.prefer.is_empty() {
            request = request.header("Prefer", wire.prefer.join(","));
        }
        if let Some(body) = &wire.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let status = if e.is_timeout() { 504 } else { 502 };
            // reqwest errors name the URL, never headers, so the key cannot leak here.
            Failure::new(
                status,
                "PGRST000",
                "the PostgREST server could not be reached",
            )
            .details(e.without_url().to_string())
        })?;
        let status = response.status().as_u16();
        let count = content_range_total(
            response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok()),
        );
        let text = response.text().await.map_err(|e| {
            Failure::new(
                502,
                "PGRST000",
                format!("reading the PostgREST answer failed: {}", e.without_url()),
            )
        })?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !(200..300).contains(&status) {
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            let mut failure = Failure::new(
                status,
                &field("code").unwrap_or_default(),
                field("message").unwrap_or_else(|| format!("PostgREST answered {status}")),
            );
            failure.details = field("details");
            failure.hint = field("hint");
            return Err(failure);
        }
        let data = match (query.cardinality, body) {
            (Cardinality::MaybeSingle, Value::Array(rows)) => {
                shape_rows(rows, Cardinality::MaybeSingle)?
            }
            (_, body) => body,
        };
        Ok(Success {
            data,
            count: if query.count { count } else { None },
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::parse_chain;
    use serde_json::json;

    #[test]
    fn select_chain_becomes_postgrest_query_string() {
        let q = parse_chain(&json!([
            {"property": "from", "args": ["todos"]},
            {"property": "select", "args": ["id,label:title", {"count": "exact"}]},
            {"property": "eq", "args": ["done", false]},
            {"property": "in", "args": ["id", [1, 2, "a,b"]]},
            {"property": "or", "args": ["id.lt.3,title.is.null"]},
            {"property": "order", "args": ["id", {"ascending": false, "nullsFirst": true}]},
            {"property": "range", "args": [0, 9]}
        ]))
        .unwrap();
        let w = wire_request("http://127.0.0.1:9/rest/v1", &q).unwrap();
        assert_eq!(w.method, Method::GET);
        let pairs: Vec<(String, String)> = w
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("select".into(), "id,label:title".into()),
                ("done".into(), "eq.false".into()),
                ("id".into(), "in.(1,2,\"a,b\")".into()),
                ("or".into(), "(id.lt.3,title.is.null)".into()),
                ("order".into(), "id.desc.nullsfirst".into()),
                ("offset".into(), "0".into()),
                ("limit".into(), "10".into()),
            ]
        );
        assert_eq!(w.url.path(), "/rest/v1/todos");
        assert_eq!(w.prefer, vec!["count=exact".to_owned()]);
    }

    #[test]
    fn upsert_sets_prefer_and_on_conflict() {
        let q = parse_chain(&json!([
            {"property": "from", "args": ["todos"]},
            {"property": "upsert", "args": [[{"id": 1}, {"id": 2, "title": "x"}], {"onConflict": "id", "ignoreDuplicates": true}]},
            {"property": "select"}
        ]))
        .unwrap();
        let w = wire_request("http://127.0.0.1:9/rest/v1", &q).unwrap();
        assert_eq!(w.method, Method::POST);
        assert!(
            w.prefer
                .contains(&"resolution=ignore-duplicates".to_owned())
        );
        assert!(w.prefer.contains(&"return=representation".to_owned()));
        assert!(w.url.query().unwrap().contains("on_conflict=id"));
        assert_eq!(content_range_total(Some("0-9/42")), Some(42));
    }
}
