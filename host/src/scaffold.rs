//! `tasker-host new`: writes a new plugin crate (Cargo.toml, src/lib.rs, README.md,
//! .gitignore) from one of three templates embedded in the binary (`host/templates/`).
//!
//! It only writes files into a directory that does not exist yet or is empty; it never
//! overwrites, runs cargo, or touches the network.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod name;
#[cfg(test)]
mod tests;

use name::type_name;
pub use name::validate_name;

/// What can go wrong while scaffolding, by step.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The template name is not one of [`Template::ALL`].
    #[error("unknown template '{given}': use one of hello-world, echo, api-gateway")]
    UnknownTemplate {
        /// What the user typed.
        given: String,
    },
    /// The plugin name breaks a naming rule.
    #[error("invalid plugin name '{name}': {rule}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// The rule it breaks, phrased for the user.
        rule: String,
    },
    /// The crate directory exists and holds files (or is a file).
    #[error("{} already exists and is not an empty directory; choose another name or --dir", .path.display())]
    TargetNotEmpty {
        /// The crate directory that would have been written.
        path: PathBuf,
    },
    /// Reading the target directory, or creating it, failed.
    #[error("cannot create directory {}: {source}", .path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing one generated file failed.
    #[error("cannot write {}: {source}", .path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// This module's result type.
pub type Result<T, E = ScaffoldError> = std::result::Result<T, E>;

/// The three starting points, mirroring the original project's boilerplate services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Template {
    /// `hello({name})` → a greeting.
    #[default]
    HelloWorld,
    /// `echo(args)` → `{echo: args, timestamp}`.
    Echo,
    /// `forward({endpoint, method, data})` → `{status, data}` from an upstream, via reqwest.
    ApiGateway,
}

impl Template {
    /// Every template, in the order the help text lists them.
    pub const ALL: [Template; 3] = [Self::HelloWorld, Self::Echo, Self::ApiGateway];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HelloWorld => "hello-world",
            Self::Echo => "echo",
            Self::ApiGateway => "api-gateway",
        }
    }

    fn lib_rs(self) -> &'static str {
        match self {
            Self::HelloWorld => include_str!("../templates/hello-world/lib.rs.tmpl"),
            Self::Echo => include_str!("../templates/echo/lib.rs.tmpl"),
            Self::ApiGateway => include_str!("../templates/api-gateway/lib.rs.tmpl"),
        }
    }

    fn usage_md(self) -> &'static str {
        match self {
            Self::HelloWorld => include_str!("../templates/hello-world/usage.md.tmpl"),
            Self::Echo => include_str!("../templates/echo/usage.md.tmpl"),
            Self::ApiGateway => include_str!("../templates/api-gateway/usage.md.tmpl"),
        }
    }

    /// Cargo.toml lines this template needs beyond the plugin API and serde_json.
    fn extra_dependencies(self) -> &'static str {
        match self {
            Self::HelloWorld | Self::Echo => "",
            // Blocking reqwest: a cdylib has its own tokio, so the plugin cannot borrow the
            // host's runtime, and the host already calls plugins on blocking threads.
            Self::ApiGateway => {
                "reqwest = { version = \"0.13\", features = [\"json\", \"blocking\"] }\n"
            }
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Template {
    type Err = ScaffoldError;

    fn from_str(given: &str) -> Result<Self> {
        match given {
            "hello-world" => Ok(Self::HelloWorld),
            // `echo-service` is the original's directory name for the same template.
            "echo" | "echo-service" => Ok(Self::Echo),
            "api-gateway" => Ok(Self::ApiGateway),
            _ => Err(ScaffoldError::UnknownTemplate {
                given: given.to_owned(),
            }),
        }
    }
}

/// Where the generated crate gets `tasker-plugin-api` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginApiSource {
    /// A local checkout of `plugin-api/` (made absolute, so the crate can live anywhere).
    Path(PathBuf),
    /// A registry version requirement, e.g. `0.1`.
    Version(String),
}

impl PluginApiSource {
    /// The plugin API this host was built with: its source directory when the host runs
    /// from a checkout of the workspace (so new plugins match its ABI exactly), else the
    /// registry version equal to the host's own version.
    pub fn for_this_host() -> Self {
        let in_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api");
        if in_tree.join("Cargo.toml").is_file() {
            Self::Path(fs::canonicalize(&in_tree).unwrap_or(in_tree))
        } else {
            Self::Version(env!("CARGO_PKG_VERSION").to_owned())
        }
    }

    /// The `[dependencies]` line for the generated Cargo.toml.
    fn dependency_line(&self) -> String {
        match self {
            Self::Path(path) => {
                // Relative paths would be read relative to the new crate; anchor them at the
                // current directory, which is what the user meant.
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                format!(
                    "tasker-plugin-api = {{ path = {} }}",
                    toml_string(&path.to_string_lossy())
                )
            }
            Self::Version(version) => format!("tasker-plugin-api = {}", toml_string(version)),
        }
    }
}

/// Everything `scaffold` needs.
#[derive(Debug, Clone)]
pub struct ScaffoldOptions {
    /// The crate name, which is also the service name in the manifest.
    pub name: String,
    /// Which starting point.
    pub template: Template,
    /// The parent directory; the crate is written to `dir/name`.
    pub dir: PathBuf,
    /// Where the crate gets the plugin API from.
    pub plugin_api: PluginApiSource,
}

/// Writes the plugin crate and returns its directory.
pub fn scaffold(opts: &ScaffoldOptions) -> Result<PathBuf> {
    validate_name(&opts.name)?;
    let crate_dir = opts.dir.join(&opts.name);
    ensure_empty_dir(&crate_dir)?;
    let src_dir = crate_dir.join("src");
    fs::create_dir_all(&src_dir).map_err(|source| ScaffoldError::CreateDir {
        path: src_dir.clone(),
        source,
    })?;

    let vars = TemplateVars::new(opts);
    let files = [
        ("Cargo.toml", include_str!("../templates/Cargo.toml.tmpl")),
        ("README.md", include_str!("../templates/README.md.tmpl")),
        (".gitignore", include_str!("../templates/gitignore.tmpl")),
        ("src/lib.rs", opts.template.lib_rs()),
    ];
    for (relative, template) in files {
        write_new_file(&crate_dir.join(relative), &vars.render(template))?;
    }
    Ok(crate_dir)
}

/// The file name `cargo build` gives the plugin library on this platform,
/// e.g. `libmy_service.so` for `my-service` on Linux.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Accepts a missing or empty directory; anything else would mix generated and old files.
fn ensure_empty_dir(path: &Path) -> Result<()> {
    match fs::read_dir(path).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ScaffoldError::TargetNotEmpty {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // A plain file (NotADirectory) is as much in the way as a full directory.
        Err(_) if path.exists() => Err(ScaffoldError::TargetNotEmpty {
            path: path.to_owned(),
        }),
        Err(source) => Err(ScaffoldError::CreateDir {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates `path` and writes `contents`; `create_new` refuses to clobber a file that
/// appeared since the emptiness check.
fn write_new_file(path: &Path, contents: &str) -> Result<()> {
    let write = || -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(contents.as_bytes())
    };
    write().map_err(|source| ScaffoldError::WriteFile {
        path: path.to_owned(),
        source,
    })
}

/// The `{{placeholder}}` values for one crate.
struct TemplateVars {
    pairs: Vec<(&'static str, String)>,
}

impl TemplateVars {
    fn new(opts: &ScaffoldOptions) -> Self {
        // `usage` is itself a template, so it goes first and its placeholders are filled
        // by the later pairs.
        let pairs = vec![
            ("{{usage}}", opts.template.usage_md().to_owned()),
            ("{{name}}", opts.name.clone()),
            ("{{type_name}}", type_name(&opts.name)),
            ("{{template}}", opts.template.as_str().to_owned()),
            ("{{library_file}}", library_file_name(&opts.name)),
            (
                "{{plugin_api_dependency}}",
                opts.plugin_api.dependency_line(),
            ),
            (
                "{{extra_dependencies}}",
                opts.template.extra_dependencies().to_owned(),
            ),
        ];
        Self { pairs }
    }

    fn render(&self, template: &str) -> String {
        self.pairs
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                text.replace(key, value)
            })
    }
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
