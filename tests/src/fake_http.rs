//! [`FakeHttpServer`]: a small HTTP/1.1 server on 127.0.0.1:0 that stands in for an
//! external API (OpenAI, a search engine, Google) in end-to-end tests. A handler closure
//! answers each request; every request is recorded with the time it arrived. One thread
//! per connection (so a slow answer does not hold up others), `Connection: close` on
//! every answer; stops accepting when dropped. It must never listen beyond loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// Largest request body the fake reads (tests send small JSON).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// A client that stops sending mid-request is dropped after this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between polls in [`FakeHttpServer::wait_for_requests`].
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// One received request.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query as sent (`/v1/models?x=1`).
    pub path: String,
    /// Headers in arrival order; names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length or chunked).
    pub body: Vec<u8>,
    /// When the request line arrived.
    pub received_at: Instant,
}

impl FakeRequest {
    /// A header's value (case-insensitive name), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    /// The query parameters, percent-decoded, in order (repeated names kept).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        reqwest::Url::parse(&format!("http://fake{}", self.path))
            .map(|u| {
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> crate::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("request body is not JSON: {}", self.body_text()))
    }
}

/// What the handler answers.
#[derive(Debug, Clone)]
pub struct FakeResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (Content-Length and Connection are added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl FakeResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::raw(status, "application/json", body.to_string().into_bytes())
    }

    /// An answer with a content type and a body.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&FakeRequest) -> FakeResponse + Send + Sync;

/// A running fake server. Dropping it stops the accept loop.
pub struct FakeHttpServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeHttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHttpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeHttpServer {
    /// Starts a server on a free loopback port; `handler` answers every request (it may
    /// block, e.g. to simulate a slow upstream: each connection has its own thread).
    pub fn start(
        handler: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
    ) -> crate::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the fake server")?;
        let addr = listener.local_addr().context("fake server address")?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept_thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("fake-http-{}", addr.port()))
                .spawn(move || accept_loop(listener, handler, requests, stop))
                .context("spawning the fake server thread")?
        };
        Ok(Self {
            addr,
            requests,
            stop,
            accept_thread: Some(accept_thread),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Polls until at least `n` requests arrived; fails after `timeout`.
    pub fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> crate::Result<Vec<FakeRequest>> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.requests();
            if seen.len() >= n {
                return Ok(seen);
            }
            if Instant::now() >= deadline {
                bail!(
                    "expected {n} requests at the fake server within {timeout:?}, got {}",
                    seen.len()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for FakeHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the loop sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    stop: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let handler = Arc::clone(&handler);
        let requests = Arc::clone(&requests);
        // Connection threads are detached: a handler that is still sleeping when the
        // server drops finishes on its own and its client has long given up.
        let _ = std::thread::Builder::new()
            .name("fake-http-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &*handler, &requests);
            });
    }
}

fn serve_connection(
    stream: TcpStream,
    handler: &Handler,
    requests: &Mutex<Vec<FakeRequest>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(request.clone());
    let response = handler(&request);
    write_response(stream, &response)
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<FakeRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None); // the drop wake-up connection, or a client that gave up
    }
    let received_at = Instant::now();
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len.min(MAX_BODY)];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(FakeRequest {
        method,
        path,
        headers,
        body,
        received_at,
    }))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or("0");
        let size = usize::from_str_radix(size_text, 16).unwrap_or(0);
        if size == 0 || body.len() + size > MAX_BODY {
            // Trailer section ends with an empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?; // the CRLF after the chunk
    }
}

fn write_response(mut stream: TcpStream, response: &FakeResponse) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
