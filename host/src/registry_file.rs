//! The registry file (`.service-registry.json`): the seed's format (`timestamp`,
//! `services: [{name, port, url}]`) plus the gateway, each service's kind, version,
//! OpenAPI URL, plugin file and aliases. Written atomically (temp file + rename) once all
//! listeners are bound, so its presence means the host is ready.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::http::envelope::iso_timestamp;
use crate::registry::ServiceKind;

/// One service as published.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceListing {
    /// Canonical name.
    pub name: String,
    /// Its own port (None with `--single-port`).
    pub port: Option<u16>,
    /// Base URL: its own port, or its gateway prefix with `--single-port`.
    pub url: String,
    /// Core, plugin or remote.
    pub kind: ServiceKind,
    /// Version from the manifest.
    pub version: String,
    /// URL of its OpenAPI document.
    pub openapi: String,
    /// Plugin file, for plugins.
    pub file: Option<PathBuf>,
    /// Other names it answers to.
    pub aliases: Vec<String>,
    /// Number of methods in its manifest.
    pub methods: usize,
}

/// The gateway as published.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayListing {
    /// Its port.
    pub port: u16,
    /// Its base URL.
    pub url: String,
}

/// The whole file.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryFile<'a> {
    /// When it was written.
    pub timestamp: String,
    /// The gateway.
    pub gateway: &'a GatewayListing,
    /// Every service.
    pub services: &'a [ServiceListing],
}

/// Writes the registry file atomically.
pub fn write(
    path: &Path,
    gateway: &GatewayListing,
    services: &[ServiceListing],
) -> std::io::Result<()> {
    let doc = RegistryFile {
        timestamp: iso_timestamp(std::time::SystemTime::now()),
        gateway,
        services,
    };
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
