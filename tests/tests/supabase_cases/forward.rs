//! Forward mode against a fake PostgREST on 127.0.0.1 that records each request, so the
//! test can check the query string, the Prefer and apikey headers and the bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestDatabase};

use super::{host, ok, send};

// ---------------------------------------------------------------- forward mode

/// One request the fake PostgREST received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// What the fake answers: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);

/// A fake PostgREST: records every request and answers from `answer(&seen)`.
fn fake_postgrest(answer: fn(&Seen) -> Answer) -> Result<(String, Arc<Mutex<Vec<Seen>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let length = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0usize);
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let request = Seen {
                method,
                target,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, extra, text) = answer(&request);
            log.lock().expect("log").push(request);
            let mut response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                text.len()
            );
            for (k, v) in extra {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&text);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    Ok((url, seen))
}

fn postgrest_answer(seen: &Seen) -> Answer {
    match (seen.method.as_str(), seen.target.split('?').next().unwrap_or("")) {
        ("GET", "/rest/v1/todos") => (200, vec![("Content-Range", "0-1/7".into())], r#"[{"id":5,"title":"e"},{"id":3,"title":"c"}]"#.into()),
        ("POST", "/rest/v1/todos") if seen.body.contains("dup") => (409, vec![], r#"{"code":"23505","message":"duplicate key value violates unique constraint \"todos_pkey\"","details":"Key (id)=(1) already exists.","hint":null}"#.into()),
        ("POST", "/rest/v1/todos") => (201, vec![], r#"[{"id":9}]"#.into()),
        ("DELETE", "/rest/v1/todos") => (204, vec![], String::new()),
        ("POST", "/rest/v1/rpc/add") => (200, vec![], "5".into()),
        _ => (404, vec![], r#"{"code":"PGRST205","message":"not here","details":null,"hint":null}"#.into()),
    }
}

fn query_pairs(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn forward_mode_speaks_postgrest() -> Result<()> {
    let (url, seen) = fake_postgrest(postgrest_answer)?;
    let db = TestDatabase::create(Backend::Sqlite)?;
    let (h, _cfg) = host(&db, Some(json!({ "url": url, "key": "test-service-key" })))?;

    let reply = ok(
        &h,
        &steps![["from", "todos"], ["select", "id,title", {"count": "exact"}], ["eq", "done", false], ["in", "id", [1, "a,b"]], ["or", "id.lt.3,title.is.null"], ["order", "id", {"ascending": false}], ["limit", 2]],
    )?;
    ensure!(
        reply["data"] == json!([{"id": 5, "title": "e"}, {"id": 3, "title": "c"}])
            && reply["count"] == 7,
        "{reply}"
    );
    let first = seen.lock().expect("log")[0].clone();
    ensure!(
        first.method == "GET" && first.target.starts_with("/rest/v1/todos?"),
        "{first:?}"
    );
    ensure!(
        query_pairs(&first.target)
            == [
                ("select".to_owned(), "id,title".to_owned()),
                ("done".into(), "eq.false".into()),
                ("id".into(), "in.(1,\"a,b\")".into()),
                ("or".into(), "(id.lt.3,title.is.null)".into()),
                ("order".into(), "id.desc".into()),
                ("limit".into(), "2".into()),
            ],
        "{first:?}"
    );
    ensure!(
        first.header("apikey") == "test-service-key"
            && first.header("authorization") == "Bearer test-service-key",
        "{first:?}"
    );
    ensure!(first.header("prefer").contains("count=exact"), "{first:?}");

    let inserted = send(
        &h,
        &steps![["from", "todos"], ["insert", {"title": "x"}], ["select", "id"]],
    )?
    .expect_data(200)?;
    ensure!(
        inserted["data"] == json!([{"id": 9}]) && inserted["status"] == 201,
        "{inserted}"
    );
    let post = seen.lock().expect("log")[1].clone();
    ensure!(
        post.method == "POST" && post.header("prefer").contains("return=representation"),
        "{post:?}"
    );
    ensure!(
        serde_json::from_str::<Value>(&post.body)? == json!({"title": "x"}),
        "{post:?}"
    );

    let conflict = send(&h, &steps![["from", "todos"], ["insert", {"title": "dup"}]])?;
    let body = conflict.expect_error(409, "CONFLICT_ERROR")?;
    ensure!(
        body["details"]["error"]["code"] == "23505"
            && body["details"]["error"]["details"] == "Key (id)=(1) already exists.",
        "{body}"
    );
    ensure!(
        !conflict.text.contains("test-service-key"),
        "the key leaked: {}",
        conflict.text
    );

    let deleted =
        send(&h, &steps![["from", "todos"], ["delete"], ["eq", "id", 1]])?.expect_data(200)?;
    ensure!(
        deleted["data"].is_null() && deleted["status"] == 204,
        "{deleted}"
    );
    let del = seen.lock().expect("log")[3].clone();
    ensure!(
        del.method == "DELETE"
            && query_pairs(&del.target) == [("id".to_owned(), "eq.1".to_owned())],
        "{del:?}"
    );

    // Local rules still apply before anything is sent.
    send(&h, &steps![["from", "todos"], ["delete"]])?.expect_error(400, "VALIDATION_ERROR")?;
    send(&h, &steps![["from", "task_runs"], ["select"]])?
        .expect_error(403, "AUTHORIZATION_ERROR")?;
    ensure!(
        seen.lock().expect("log").len() == 4,
        "refused chains must not reach the server"
    );

    let rpc = send(&h, &steps![["rpc", "add", {"a": 2, "b": 3}]])?.expect_data(200)?;
    ensure!(rpc["data"] == 5, "{rpc}");
    let call = seen.lock().expect("log")[4].clone();
    ensure!(
        call.method == "POST" && call.target.starts_with("/rest/v1/rpc/add"),
        "{call:?}"
    );
    let logs = h.logs().text();
    if logs.contains("test-service-key") {
        bail!("the PostgREST key appears in the host logs");
    }
    Ok(())
}
