//! The plugin's configuration (`{"supabase": {...}}` in the host's `--plugin-config`):
//! which database or PostgREST server to use and which tables a caller may reach.
//! Parsing only; it must not connect to anything.

use serde_json::Value;

/// Tables of the engine itself (and of other bundled plugins): refused unless allowed.
pub const INTERNAL_TABLES: &[&str] = &[
    "task_functions",
    "task_runs",
    "stack_runs",
    "task_logs",
    "keystore",
    "hosts",
    "_sqlx_migrations",
];

/// Where the chains go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A SQLite or PostgreSQL database reached with sqlx.
    Database {
        /// `sqlite://...` or `postgres://...`.
        url: String,
    },
    /// A Supabase / PostgREST server reached over HTTP (the original's behaviour).
    Forward {
        /// The PostgREST base URL, e.g. `https://x.supabase.co/rest/v1`.
        rest_url: String,
        /// Sent as `apikey` and `Authorization: Bearer`. Never logged.
        key: String,
    },
}

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Database or PostgREST server.
    pub target: Target,
    /// PostgreSQL schema that tables and functions are looked up in.
    pub schema: String,
    /// Internal tables the caller may nevertheless reach.
    pub allow: Vec<String>,
    /// Tables always refused.
    pub deny: Vec<String>,
    /// When set, the only reachable tables.
    pub only: Option<Vec<String>>,
    /// Refuses insert, upsert, update, delete and rpc.
    pub read_only: bool,
    /// Allows update and delete without any filter (whole-table mutations).
    pub allow_unfiltered_mutations: bool,
    /// Caps the rows one select returns (PostgREST's `db-max-rows`).
    pub max_rows: Option<u64>,
}

/// A configuration problem, reported at `init`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `databaseUrl` nor `url` nor the host's database URL is known.
    #[error(
        "no database: set \"databaseUrl\" (or \"url\" and \"key\" for a PostgREST server) in the supabase plugin config"
    )]
    NoTarget,
    /// A field has the wrong type.
    #[error("supabase plugin config: \"{field}\" must be {expected}")]
    BadField {
        /// The field's path.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

fn string_list(value: Option<&Value>, field: &'static str) -> Result<Vec<String>, ConfigError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or(ConfigError::BadField {
                    field,
                    expected: "an array of table names",
                })
            })
            .collect(),
        Some(_) => Err(ConfigError::BadField {
            field,
            expected: "an array of table names",
        }),
    }
}

fn flag(config: &Value, name: &'static str) -> Result<bool, ConfigError> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ConfigError::BadField {
            field: name,
            expected: "true or false",
        }),
    }
}

fn text<'a>(config: &'a Value, name: &'static str) -> Result<Option<&'a str>, ConfigError> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(ConfigError::BadField {
            field: name,
            expected: "a non-empty string",
        }),
    }
}

impl Config {
    /// Reads the plugin config; `config["host"]["databaseUrl"]` is the default database.
    pub fn parse(config: &Value) -> Result<Self, ConfigError> {
        let target = if let Some(url) = text(config, "url")? {
            let key = text(config, "key")?.ok_or(ConfigError::BadField {
                field: "key",
                expected: "the Supabase/PostgREST key when \"url\" is set",
            })?;
            let rest_url = match text(config, "restUrl")? {
                Some(rest) => rest.trim_end_matches('/').to_owned(),
                None => format!("{}/rest/v1", url.trim_end_matches('/')),
            };
            Target::Forward {
                rest_url,
                key: key.to_owned(),
            }
        } else {
            let host_url = config
                .get("host")
                .and_then(|h| h.get("databaseUrl"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let url = match text(config, "databaseUrl")? {
                Some(url) if host_url.is_some_and(|h| is_same_sqlite_file(url, h)) => {
                    return Err(ConfigError::BadField {
                        field: "databaseUrl",
                        expected: "a SQLite file other than the host's own (two copies of SQLite in one process must not share a file); by default the plugin uses <host db>-data.db",
                    });
                }
                Some(url) => url.to_owned(),
                None => sqlite_data_file(host_url.ok_or(ConfigError::NoTarget)?),
            };
            Target::Database { url }
        };
        let tables = config.get("tables").cloned().unwrap_or(Value::Null);
        if !tables.is_null() && !tables.is_object() {
            return Err(ConfigError::BadField {
                field: "tables",
                expected: "an object {allow, deny, only}",
            });
        }
        let only = match tables.get("only") {
            None | Some(Value::Null) => None,
            v => Some(string_list(v, "tables.only")?),
        };
        let max_rows = match config.get("maxRows") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or(ConfigError::BadField {
                field: "maxRows",
                expected: "a positive integer",
            })?),
        };
        Ok(Self {
            target,
            schema: text(config, "schema")?.unwrap_or("public").to_owned(),
            allow: string_list(tables.get("allow"), "tables.allow")?,
            deny: string_list(tables.get("deny"), "tables.deny")?,
            only,
            read_only: flag(config, "readOnly")?,
            allow_unfiltered_mutations: flag(config, "allowUnfilteredMutations")?,
            max_rows,
        })
    }

    /// Whether rpc may run in read-only mode: only against PostgreSQL, where the
    /// transaction itself is READ ONLY, or a PostgREST server (which decides itself).
    pub fn allows_read_only_rpc(&self) -> bool {
        match &self.target {
            Target::Forward { .. } => false,
            Target::Database { url } => url.starts_with("postgres"),
        }
    }

    /// Whether `table` may be reached. Names compare case-insensitively, because both
    /// databases fold unquoted names and a caller must not dodge a rule by case.
    pub fn table_allowed(&self, table: &str) -> bool {
        let same = |a: &str| a.eq_ignore_ascii_case(table);
        if self.deny.iter().any(|t| same(t)) {
            return false;
        }
        if let Some(only) = &self.only
            && !only.iter().any(|t| same(t))
        {
            return false;
        }
        let internal = INTERNAL_TABLES.iter().any(|t| same(t))
            || table.to_ascii_lowercase().starts_with("keystore_")
            || table.to_ascii_lowercase().starts_with("sqlite_")
            || table.to_ascii_lowercase().starts_with("_sqlx");
        !internal || self.allow.iter().any(|t| same(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_database_is_the_default() {
        // On SQLite the default is a sibling of the host's file, never the file itself.
        let c = Config::parse(&json!({"host": {"databaseUrl": "sqlite:///x.db"}})).unwrap();
        assert_eq!(
            c.target,
            Target::Database {
                url: "sqlite:///x-data.db".into()
            }
        );
        assert_eq!(c.schema, "public");
    }

    #[test]
    fn own_url_wins_and_forward_mode_needs_a_key() {
        let c = Config::parse(
            &json!({"databaseUrl": "postgres://a/b", "host": {"databaseUrl": "sqlite://x"}}),
        )
        .unwrap();
        assert_eq!(
            c.target,
            Target::Database {
                url: "postgres://a/b".into()
            }
        );
        assert!(Config::parse(&json!({"url": "http://127.0.0.1:1"})).is_err());
        let f = Config::parse(&json!({"url": "http://127.0.0.1:1/", "key": "k"})).unwrap();
        assert_eq!(
            f.target,
            Target::Forward {
                rest_url: "http://127.0.0.1:1/rest/v1".into(),
                key: "k".into()
            }
        );
    }

    #[test]
    fn internal_tables_are_refused_unless_allowed() {
        let c = Config::parse(&json!({"databaseUrl": "sqlite://x", "tables": {"allow": ["task_runs"], "deny": ["secrets"]}})).unwrap();
        assert!(c.table_allowed("todos"));
        assert!(c.table_allowed("task_runs"));
        assert!(!c.table_allowed("stack_runs"));
        assert!(!c.table_allowed("KEYSTORE"));
        assert!(!c.table_allowed("Secrets"));
        let only =
            Config::parse(&json!({"databaseUrl": "sqlite://x", "tables": {"only": ["todos"]}}))
                .unwrap();
        assert!(only.table_allowed("todos") && !only.table_allowed("other"));
    }
}

/// The host's SQLite file cannot be shared with this plugin's own copy of SQLite (their
/// POSIX locks do not see each other, which corrupts the file): on SQLite the plugin's
/// tables live in a sibling file, `tasker.db` → `tasker-data.db`. Other URLs pass through.
pub fn sqlite_data_file(host_url: &str) -> String {
    let Some((scheme, rest)) = sqlite_parts(host_url) else {
        return host_url.to_owned();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty()
        || path.contains(":memory:")
        || query.is_some_and(|q| q.contains("mode=memory"))
    {
        return host_url.to_owned();
    }
    let (dir, file) = path.split_at(path.rfind('/').map_or(0, |i| i + 1));
    let renamed = match file.rfind('.') {
        Some(dot) if dot > 0 => format!("{}-data{}", &file[..dot], &file[dot..]),
        _ => format!("{file}-data"),
    };
    match query {
        Some(q) => format!("{scheme}{dir}{renamed}?{q}"),
        None => format!("{scheme}{dir}{renamed}"),
    }
}

fn sqlite_parts(url: &str) -> Option<(&'static str, &str)> {
    url.strip_prefix("sqlite://")
        .map(|r| ("sqlite://", r))
        .or_else(|| url.strip_prefix("sqlite:").map(|r| ("sqlite:", r)))
}

fn is_same_sqlite_file(a: &str, b: &str) -> bool {
    let path =
        |u: &str| sqlite_parts(u).map(|(_, r)| r.split('?').next().unwrap_or_default().to_owned());
    match (path(a), path(b)) {
        (Some(x), Some(y)) if !x.is_empty() && !x.contains(":memory:") => {
            let canon =
                |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| std::path::PathBuf::from(p));
            canon(&x) == canon(&y)
        }
        _ => false,
    }
}

#[cfg(test)]
mod location_tests {
    use super::*;

    #[test]
    fn sqlite_data_lives_in_a_sibling_file() {
        assert_eq!(
            sqlite_data_file("sqlite://tasker.db"),
            "sqlite://tasker-data.db"
        );
        assert_eq!(
            sqlite_data_file("sqlite:///var/x/t.db?mode=rwc"),
            "sqlite:///var/x/t-data.db?mode=rwc"
        );
        assert_eq!(sqlite_data_file("postgres://h/db"), "postgres://h/db");
        assert_eq!(sqlite_data_file("sqlite::memory:"), "sqlite::memory:");
        assert!(is_same_sqlite_file(
            "sqlite:///tmp/a.db",
            "sqlite:///tmp/a.db?mode=rwc"
        ));
        assert!(!is_same_sqlite_file(
            "sqlite:///tmp/a.db",
            "sqlite:///tmp/a-data.db"
        ));
    }
}
