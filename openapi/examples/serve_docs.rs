//! Serves a sample service's OpenAPI document and Swagger UI on 127.0.0.1 (std only), to look at
//! the docs page in a browser: `cargo run -p tasker-openapi --example serve_docs -- [PORT]`.
//! Routes: `/docs` + `/openapi.json` (one service), `/services/echo-service/docs/` + its
//! `openapi.json` (the gateway copy), `/gateway/docs` + `/gateway/openapi.json` (combined).
//! A development aid only: one request per connection, no keep-alive.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use serde_json::json;
use tasker_openapi::{
    DocOptions, ServiceInfo, combined_document, service_document, swagger_ui_html,
};
use tasker_plugin_api::{Manifest, MethodSpec};

fn manifest() -> Manifest {
    Manifest {
        name: "echo-service".into(),
        version: "0.1.0".into(),
        description: "Echoes, sleeps, fails and panics on request.".into(),
        api_version: tasker_plugin_api::API_VERSION,
        aliases: vec![],
        chain_method: None,
        max_concurrency: None,
        methods: vec![
            MethodSpec::new("echo", "Returns its arguments unchanged").example(json!({ "hello": "world" })),
            MethodSpec::new("sleep", "Waits `ms` milliseconds")
                .params(json!({ "type": "object", "properties": { "ms": { "type": "integer", "minimum": 0 } }, "required": ["ms"] }))
                .positional(&["ms"])
                .result(json!({ "type": "object", "properties": { "slept": { "type": "integer" } } }))
                .example(json!({ "ms": 50 })),
            MethodSpec::new("admin.users.list", "Lists users").params(json!({ "type": "object", "properties": { "domain": { "type": ["string", "null"] } } })),
        ],
    }
}

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    let manifest = manifest();
    let own = service_document(&manifest, &DocOptions::default()).to_string();
    let gateway_copy =
        service_document(&manifest, &DocOptions::for_gateway("echo-service")).to_string();
    let combined =
        combined_document(&[(manifest.clone(), ServiceInfo::default())], None).to_string();
    for stream in listener.incoming() {
        let mut stream = stream?;
        let mut request_line = String::new();
        BufReader::new(&stream).read_line(&mut request_line)?;
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let (status, content_type, body) = match path.as_str() {
            "/docs" | "/docs/" => (
                "200 OK",
                "text/html; charset=utf-8",
                swagger_ui_html("echo-service", "openapi.json"),
            ),
            "/openapi.json" => ("200 OK", "application/json", own.clone()),
            "/services/echo-service/docs" | "/services/echo-service/docs/" => (
                "200 OK",
                "text/html; charset=utf-8",
                swagger_ui_html("echo-service (gateway)", "openapi.json"),
            ),
            "/services/echo-service/openapi.json" => {
                ("200 OK", "application/json", gateway_copy.clone())
            }
            "/gateway/docs" => (
                "200 OK",
                "text/html; charset=utf-8",
                swagger_ui_html("tasker gateway", "openapi.json"),
            ),
            "/gateway/openapi.json" => ("200 OK", "application/json", combined.clone()),
            _ => ("404 Not Found", "text/plain", "not found".to_owned()),
        };
        println!("{path} -> {status}");
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
    }
    Ok(())
}
