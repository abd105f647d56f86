//! Plugin discovery: finds every dynamic library in the plugins directory, probes it for
//! the tasker root-module symbol, loads it through abi_stable's layout check and reads its
//! manifest. A file that is not a (compatible) plugin is skipped with one log line naming
//! the file and the reason; it never stops the host. Must not call into a plugin beyond
//! `api_version` and `manifest` (initialisation happens later, in the registry).

use std::path::{Path, PathBuf};

use abi_stable::library::lib_header_from_path;
use abi_stable::std_types::RResult;
use tasker_plugin_api::{API_VERSION, Manifest, PluginError, PluginModuleRef, ROOT_MODULE_SYMBOL};

/// A plugin file that loaded and described itself.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The file it came from.
    pub path: PathBuf,
    /// The layout-checked root module; None when the plugin was described by an isolated
    /// worker and never loaded into this process (`--isolate-plugins`).
    pub module: Option<PluginModuleRef>,
    /// Its manifest.
    pub manifest: Manifest,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("name", &self.manifest.name)
            .finish()
    }
}

/// A file that was tried and skipped, with the reason.
#[derive(Debug, Clone)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped, for the log.
    pub reason: String,
}

/// What a scan of the plugins directory found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Plugins that loaded, in file-name order.
    pub plugins: Vec<LoadedPlugin>,
    /// Files that were skipped.
    pub skipped: Vec<SkippedFile>,
}

/// Errors that stop discovery as a whole (a single bad file never does).
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The directory could not be read.
    #[error("cannot read plugins directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The platform's dynamic-library extension (`so`, `dylib`, `dll`).
pub fn library_extension() -> &'static str {
    std::env::consts::DLL_EXTENSION
}

/// Scans `dir` and loads every plugin in it. A missing directory yields no plugins.
pub fn discover(dir: &Path) -> Result<Discovery, DiscoveryError> {
    let mut found = Discovery::default();
    for path in library_files(dir)? {
        match load_plugin(&path) {
            Ok(plugin) => found.plugins.push(plugin),
            Err(reason) => found.skipped.push(SkippedFile { path, reason }),
        }
    }
    Ok(found)
}

/// The library files in `dir`, sorted by name; none when the directory does not exist.
pub fn library_files(dir: &Path) -> Result<Vec<PathBuf>, DiscoveryError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| DiscoveryError::ReadDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == library_extension()))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads one plugin file, or says why it is not a usable plugin.
pub fn load_plugin(path: &Path) -> Result<LoadedPlugin, String> {
    probe(path)?;
    let header = lib_header_from_path(path).map_err(|e| {
        format!(
            "not loadable as a tasker plugin: {}",
            first_line(&e.to_string())
        )
    })?;
    let module = header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| format!("incompatible plugin ABI: {}", first_line(&e.to_string())))?;
    let version = (module.api_version())();
    if version != API_VERSION {
        return Err(format!(
            "plugin API version {version} is not supported (this host speaks {API_VERSION})"
        ));
    }
    let manifest_json = match (module.manifest())() {
        RResult::ROk(text) => text.into_string(),
        RResult::RErr(e) => return Err(format!("manifest failed: {}", PluginError::from(e))),
    };
    let manifest: Manifest =
        serde_json::from_str(&manifest_json).map_err(|e| format!("manifest is not valid: {e}"))?;
    if manifest.api_version != API_VERSION {
        return Err(format!(
            "manifest declares plugin API version {} but this host speaks {API_VERSION}",
            manifest.api_version
        ));
    }
    validate_name(&manifest.name).map_err(|e| format!("manifest name: {e}"))?;
    Ok(LoadedPlugin {
        path: path.to_owned(),
        module: Some(module),
        manifest,
    })
}

/// Opens the file with the system loader and checks for the root-module symbol, so that
/// ordinary libraries are rejected before abi_stable's checked load.
#[allow(unsafe_code)] // dlopen/dlsym: the only way to look inside a shared library
fn probe(path: &Path) -> Result<(), String> {
    // SAFETY: opening a library runs its initialisers. The plugins directory is trusted
    // configuration (like a binary on PATH); corrupt files fail here with an error.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("not a loadable library: {}", first_line(&e.to_string())))?;
    let mut symbol = ROOT_MODULE_SYMBOL.as_bytes().to_vec();
    symbol.push(0);
    // SAFETY: only the symbol's address is read, never dereferenced here.
    let has_symbol = unsafe { lib.get::<*const u8>(symbol.as_slice()) }.is_ok();
    if has_symbol {
        // abi_stable reopens the same image and never unloads it; keep ours open too so the
        // library is not unloaded and reloaded in between.
        std::mem::forget(lib);
        Ok(())
    } else {
        Err("not a tasker plugin (no tasker root-module symbol)".to_owned())
    }
}

/// Service names: lowercase ASCII letters, digits and '-', starting with a letter.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' must be 1-64 lowercase letters, digits or '-', starting with a letter"
        ))
    }
}

/// abi_stable's errors span many lines; the log line gets a short, one-line form.
fn first_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(240) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}
