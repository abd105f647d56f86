//! The registry file the host writes at start-up (`--registry-file`), parsed strictly
//! enough that a missing or mistyped field fails the test that reads it. It only reads.

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

/// The whole registry document.
#[derive(Debug, Clone, Deserialize)]
pub struct Registry {
    /// When the host wrote it (ISO 8601).
    pub timestamp: String,
    /// Where the gateway listens.
    pub gateway: Endpoint,
    /// Every served service: core, plugin and remote.
    pub services: Vec<ServiceEntry>,
    /// The document exactly as read, for comparisons with `GET /services`.
    #[serde(skip)]
    pub raw: Value,
}

/// A listener: port and base URL.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoint {
    /// The bound port.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// One service in the registry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ServiceEntry {
    /// The service name, e.g. `echo-service`.
    pub name: String,
    /// Its own port (None with `--single-port`, where only the gateway listens).
    pub port: Option<u16>,
    /// Its base URL (its gateway prefix with `--single-port`).
    pub url: String,
    /// `core`, `plugin` or `remote`.
    pub kind: String,
    /// The plugin's or host's version.
    pub version: String,
    /// URL of its OpenAPI document.
    pub openapi: String,
    /// The plugin file it was loaded from (None for core and remote services).
    pub file: Option<String>,
    /// Other names it answers to.
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl Registry {
    /// Parses registry JSON text.
    pub fn parse(text: &str) -> crate::Result<Self> {
        let raw: Value = serde_json::from_str(text).context("registry file is not JSON")?;
        let mut registry: Registry = serde_json::from_value(raw.clone())
            .context("registry file does not have the documented shape")?;
        registry.raw = raw;
        Ok(registry)
    }

    /// The entry for a service name or alias.
    pub fn service(&self, name: &str) -> Option<&ServiceEntry> {
        self.services.iter().find(|s| s.name == name).or_else(|| {
            self.services
                .iter()
                .find(|s| s.aliases.iter().any(|a| a == name))
        })
    }

    /// The service names in registry order.
    pub fn names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }
}
