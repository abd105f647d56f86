//! The HTTP side of the harness: one blocking client that never uses a proxy, and
//! [`Reply`], a received response kept whole (status, headers, text) so assertions can
//! print it. It never retries: a failure is what the test is about.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Longest a single request may take (generous: debug builds on a busy 2-core machine).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A blocking client for loopback requests (proxy variables are ignored).
pub fn client() -> crate::Result<Client> {
    Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request, for messages (`POST http://...`).
    pub request: String,
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body text.
    pub text: String,
}

impl Reply {
    /// Sends `request` and reads the whole response.
    pub fn send(request: RequestBuilder) -> crate::Result<Self> {
        let built = request.build().context("building the request")?;
        let label = format!("{} {}", built.method(), built.url());
        let response = client()?
            .execute(built)
            .with_context(|| format!("{label}: request failed"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .with_context(|| format!("{label}: reading the body"))?;
        Ok(Self {
            request: label,
            status,
            headers,
            text,
        })
    }

    /// The body as JSON.
    pub fn json(&self) -> crate::Result<Value> {
        serde_json::from_str(&self.text)
            .with_context(|| format!("{}: body is not JSON: {}", self.request, self.text))
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts HTTP `status` and a success envelope; returns its `data`.
    pub fn expect_data(&self, status: u16) -> crate::Result<Value> {
        let body = self.json()?;
        if self.status != status || body.get("success") != Some(&Value::Bool(true)) {
            bail!(
                "{}: expected HTTP {status} with success true, got HTTP {} body {}",
                self.request,
                self.status,
                self.text
            );
        }
        body.get("data").cloned().with_context(|| {
            format!(
                "{}: success envelope without data: {}",
                self.request, self.text
            )
        })
    }

    /// Asserts HTTP `status` and an error envelope with `code`; returns the whole body.
    pub fn expect_error(&self, status: u16, code: &str) -> crate::Result<Value> {
        let body = self.json()?;
        let ok = self.status == status
            && body.get("success") == Some(&Value::Bool(false))
            && body.get("code").and_then(Value::as_str) == Some(code)
            && body
                .get("error")
                .and_then(Value::as_str)
                .is_some_and(|m| !m.is_empty());
        if !ok {
            bail!(
                "{}: expected HTTP {status} with success false, code {code} and a message; got HTTP {} body {}",
                self.request,
                self.status,
                self.text
            );
        }
        Ok(body)
    }

    /// The error message of an error envelope ("" when absent).
    pub fn error_message(&self) -> String {
        self.json()
            .ok()
            .and_then(|b| b.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }
}
