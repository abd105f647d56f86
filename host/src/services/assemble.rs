//! Assembles the registry at start-up from the discovered plugins, the core services and
//! `--remote` services: rejects duplicate names (naming both sources), applies the
//! `--services` selection (unknown names are an error that lists what exists), orders
//! services in the seed's port order and initialises each plugin with its host handle.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::plugins::host_handle::{PluginHost, RegistrySlot};
use crate::plugins::loader::LoadedPlugin;
use crate::plugins::runtime::{CallLimits, IsolatedOptions, PluginHandle};
use crate::registry::{Backend, ServiceEntry, ServiceKind};
use crate::services::core::CoreService;
use crate::services::names::{seed_aliases_of, seed_offset};
use crate::services::remote::RemoteService;

/// Why the registry could not be assembled; each message names the culprit.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// Two sources declare the same service name or alias.
    #[error("duplicate service name '{name}': provided by {first} and by {second}")]
    Duplicate {
        /// The clashing name.
        name: String,
        /// Where it came from first.
        first: String,
        /// Where it came from second.
        second: String,
    },
    /// `--services` named something that does not exist.
    #[error("unknown service(s) in --services: {unknown}; available: {available}")]
    UnknownSelection {
        /// The unknown names.
        unknown: String,
        /// Every selectable name.
        available: String,
    },
    /// Nothing left to serve.
    #[error("no services selected")]
    Empty,
    /// Plugin configuration names a service that was not found.
    #[error("plugin configuration has settings for unknown service(s): {0}")]
    UnknownConfig(String),
    /// A manifest could not be turned into a service.
    #[error("service '{name}' is invalid: {reason}")]
    InvalidService {
        /// The service.
        name: String,
        /// Why.
        reason: String,
    },
    /// A plugin's `init` failed.
    #[error("plugin '{name}' ({file}) failed to initialise: {reason}")]
    Init {
        /// The service.
        name: String,
        /// Its file.
        file: String,
        /// The plugin's error.
        reason: String,
    },
}

/// Everything the registry is assembled from.
pub struct Sources {
    /// Plugins found on disk.
    pub plugins: Vec<LoadedPlugin>,
    /// Host-internal services.
    pub core: Vec<Arc<dyn CoreService>>,
    /// `--remote name=url` pairs.
    pub remotes: Vec<(String, String)>,
    /// `--services` selection, if any.
    pub selection: Option<Vec<String>>,
    /// Per-plugin configuration, by service name.
    pub plugin_config: BTreeMap<String, Value>,
    /// Concurrency limit for plugins whose manifest does not set one.
    pub default_concurrency: u32,
    /// Per-call timeout.
    pub call_timeout: Duration,
    /// Per-service overrides of `call_timeout`.
    pub service_timeouts: HashMap<String, Duration>,
    /// Facts every plugin receives under the reserved configuration key `"host"`
    /// (e.g. `databaseUrl`), merged into its own configuration.
    pub host_facts: Value,
    /// Run each plugin in its own worker process (`--isolate-plugins`).
    pub isolate_plugins: bool,
    /// Largest plugin result accepted, in bytes.
    pub max_result_bytes: usize,
    /// Abandoned calls per plugin before it is refused (in-process) or restarted (isolated).
    pub max_stuck_calls: usize,
}

enum Source {
    Core(Arc<dyn CoreService>),
    Plugin(LoadedPlugin),
    Remote(String),
}

struct Candidate {
    name: String,
    aliases: Vec<String>,
    origin: String,
    source: Source,
}

/// Builds the ordered list of service entries (plugins initialised).
pub async fn assemble(
    mut sources: Sources,
    slot: RegistrySlot,
) -> Result<Vec<ServiceEntry>, AssembleError> {
    let mut candidates = Vec::new();
    for core in &sources.core {
        let name = core.manifest().name;
        candidates.push(Candidate {
            aliases: aliases_for(&name, &[]),
            origin: "the host (core service)".into(),
            name,
            source: Source::Core(core.clone()),
        });
    }
    for plugin in std::mem::take(&mut sources.plugins) {
        let name = plugin.manifest.name.clone();
        let origin = plugin.path.display().to_string();
        candidates.push(Candidate {
            aliases: aliases_for(&name, &plugin.manifest.aliases),
            origin,
            name,
            source: Source::Plugin(plugin),
        });
    }
    for (name, url) in std::mem::take(&mut sources.remotes) {
        candidates.push(Candidate {
            aliases: aliases_for(&name, &[]),
            origin: format!("--remote {name}={url}"),
            name,
            source: Source::Remote(url),
        });
    }
    check_unique(&candidates)?;
    let unknown_config: Vec<&String> = sources
        .plugin_config
        .keys()
        .filter(|k| !candidates.iter().any(|c| &c.name == *k))
        .collect();
    if !unknown_config.is_empty() {
        return Err(AssembleError::UnknownConfig(join(
            unknown_config.iter().map(|s| s.as_str()),
        )));
    }
    let mut selected = select(candidates, sources.selection.take().as_deref())?;
    selected.sort_by_key(|c| port_rank(&c.name));

    let mut entries = Vec::with_capacity(selected.len());
    for candidate in selected {
        let mut config = sources
            .plugin_config
            .get(&candidate.name)
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Value::Object(obj) = &mut config {
            obj.insert("host".into(), sources.host_facts.clone());
        }
        entries.push(build_entry(candidate, config, &sources, &slot).await?);
    }
    Ok(entries)
}

async fn build_entry(
    c: Candidate,
    config: Value,
    sources: &Sources,
    slot: &RegistrySlot,
) -> Result<ServiceEntry, AssembleError> {
    let invalid = |reason: String| AssembleError::InvalidService {
        name: c.name.clone(),
        reason,
    };
    match c.source {
        Source::Core(core) => ServiceEntry::new(
            core.manifest(),
            ServiceKind::Core,
            None,
            c.aliases,
            Backend::Core(core),
        )
        .map_err(invalid),
        Source::Plugin(plugin) => {
            let limits = CallLimits {
                concurrency: plugin
                    .manifest
                    .max_concurrency
                    .unwrap_or(sources.default_concurrency),
                timeout: std::iter::once(&c.name)
                    .chain(&c.aliases)
                    .find_map(|n| sources.service_timeouts.get(n).copied())
                    .unwrap_or(sources.call_timeout),
                max_result_bytes: sources.max_result_bytes,
                max_stuck_calls: sources.max_stuck_calls,
            };
            let handle = match plugin.module {
                Some(module) if !sources.isolate_plugins => {
                    PluginHandle::in_process(&c.name, module, limits)
                }
                _ => PluginHandle::isolated(IsolatedOptions {
                    name: c.name.clone(),
                    file: plugin.path.clone(),
                    limits,
                    registry: slot.clone(),
                }),
            };
            let host = PluginHost::handle(
                &c.name,
                &config,
                slot.clone(),
                tokio::runtime::Handle::current(),
            );
            handle
                .init(host, &config)
                .await
                .map_err(|e| AssembleError::Init {
                    name: c.name.clone(),
                    file: plugin.path.display().to_string(),
                    reason: e.to_string(),
                })?;
            ServiceEntry::new(
                plugin.manifest,
                ServiceKind::Plugin,
                Some(plugin.path),
                c.aliases,
                Backend::Plugin(handle),
            )
            .map_err(invalid)
        }
        Source::Remote(url) => {
            let remote = RemoteService::new(&c.name, &url, sources.call_timeout)
                .map_err(|e| invalid(e.message))?;
            let manifest = tasker_plugin_api::Manifest {
                name: c.name.clone(),
                version: "remote".into(),
                description: format!("Remote HTTP service at {url}"),
                api_version: tasker_plugin_api::API_VERSION,
                aliases: vec![],
                chain_method: None,
                max_concurrency: None,
                methods: vec![],
            };
            ServiceEntry::new(
                manifest,
                ServiceKind::Remote,
                None,
                c.aliases,
                Backend::Remote(remote),
            )
            .map_err(invalid)
        }
    }
}

fn aliases_for(name: &str, declared: &[String]) -> Vec<String> {
    let mut aliases: Vec<String> = declared.to_vec();
    for alias in seed_aliases_of(name) {
        if !aliases.iter().any(|a| a == alias) {
            aliases.push(alias.to_owned());
        }
    }
    aliases.retain(|a| a != name);
    aliases
}

/// Service names must be unique; aliases are resolved first-come in the registry, with
/// canonical names always taking priority over aliases.
fn check_unique(candidates: &[Candidate]) -> Result<(), AssembleError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for c in candidates {
        if let Some(first) = seen.insert(c.name.as_str(), c.origin.as_str()) {
            return Err(AssembleError::Duplicate {
                name: c.name.clone(),
                first: first.to_owned(),
                second: c.origin.clone(),
            });
        }
    }
    Ok(())
}

fn select(
    candidates: Vec<Candidate>,
    selection: Option<&[String]>,
) -> Result<Vec<Candidate>, AssembleError> {
    let Some(wanted) = selection else {
        return Ok(candidates);
    };
    let wanted: Vec<&str> = wanted
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let matches = |c: &Candidate, w: &str| c.name == w || c.aliases.iter().any(|a| a == w);
    let unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !candidates.iter().any(|c| matches(c, w)))
        .collect();
    if !unknown.is_empty() {
        let mut available: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
        available.sort_unstable();
        return Err(AssembleError::UnknownSelection {
            unknown: join(unknown.into_iter()),
            available: join(available.into_iter()),
        });
    }
    let chosen: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| wanted.iter().any(|w| matches(c, w)))
        .collect();
    if chosen.is_empty() {
        return Err(AssembleError::Empty);
    }
    Ok(chosen)
}

/// Seed services first in the seed's order, then everything else by name.
fn port_rank(name: &str) -> (u16, String) {
    match seed_offset(name) {
        Some(offset) => (offset, String::new()),
        None => (u16::MAX, name.to_owned()),
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
