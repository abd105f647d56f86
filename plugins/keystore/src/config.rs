//! The keystore's configuration and master key: the database URL (derived from the host's by
//! `keystore_database_url`, unless the plugin config sets `databaseUrl`), and the master key from `TASKER_MASTER_KEY` (64 hex digits or
//! base64 of 32 bytes) or else from a key file created with 0600 permissions on first start
//! (`masterKeyFile`, default `.tasker-master-key` next to the SQLite file or in the working
//! directory). Never logs or returns the key itself, only its key id.

use std::path::PathBuf;

use keystore_vault::{
    MasterKey, default_key_file, key_file_is_private, keystore_database_url,
    load_or_create_key_file,
};
use serde_json::Value;
use tasker_plugin_api::{ErrorCode, PluginError};

/// The environment variable holding the master key (hex or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "TASKER_MASTER_KEY";
/// Keys the plugin's configuration may hold (`host` is added by the host).
const KNOWN_KEYS: [&str; 3] = ["host", "masterKeyFile", "databaseUrl"];

/// What the plugin was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreConfig {
    /// Where the `keystore` table lives: the host's PostgreSQL database, or a SQLite file
    /// next to the host's (`tasker.db` → `tasker-keystore.db`).
    pub database_url: String,
    /// The key file to use when `TASKER_MASTER_KEY` is not set.
    pub master_key_file: PathBuf,
}

/// Where the master key came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The environment variable.
    Env,
    /// A key file; `created` when this start created it.
    File { path: PathBuf, created: bool },
}

fn config_error(message: impl Into<String>) -> PluginError {
    PluginError::new(ErrorCode::Configuration, message)
}

/// Reads the plugin configuration; unknown keys are refused by name.
pub fn parse_config(config: &Value) -> Result<KeystoreConfig, PluginError> {
    let empty = serde_json::Map::new();
    let object = match config {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err(config_error("keystore configuration must be a JSON object")),
    };
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(config_error(format!(
            "unknown keystore configuration key(s): {} (known: masterKeyFile, databaseUrl)",
            unknown.join(", ")
        )));
    }
    let text = |value: Option<&Value>, what: &str| match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(config_error(format!(
            "keystore '{what}' must be a non-empty string"
        ))),
    };
    let host_url = text(config.pointer("/host/databaseUrl"), "host.databaseUrl")?;
    let database_url = match (text(object.get("databaseUrl"), "databaseUrl")?, &host_url) {
        (Some(url), Some(host_url)) if url.starts_with("sqlite:") && same_file(&url, host_url) => {
            // Two SQLite copies in one process on one file corrupt it (see keystore_database_url).
            return Err(config_error(
                "keystore databaseUrl must not be the host's SQLite file; leave it unset to use a file next to it",
            ));
        }
        (Some(url), _) => url,
        (None, Some(host_url)) => keystore_database_url(host_url),
        (None, None) => {
            return Err(config_error(
                "keystore needs a database: the host did not pass host.databaseUrl and no databaseUrl is configured",
            ));
        }
    };
    let master_key_file = match text(object.get("masterKeyFile"), "masterKeyFile")? {
        Some(path) => PathBuf::from(path),
        None => default_key_file(host_url.as_deref().unwrap_or(&database_url)),
    };
    Ok(KeystoreConfig {
        database_url,
        master_key_file,
    })
}

/// Whether two SQLite URLs name the same file path (ignoring scheme spelling and query).
fn same_file(a: &str, b: &str) -> bool {
    let path = |url: &str| {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        rest.split('?').next().unwrap_or_default().to_owned()
    };
    path(a) == path(b)
}

/// The master key: from `env_value` (the content of `TASKER_MASTER_KEY`) when given, else
/// from the configured key file, creating it on first start.
pub fn load_master_key(
    config: &KeystoreConfig,
    env_value: Option<String>,
) -> Result<(MasterKey, KeyOrigin), PluginError> {
    if let Some(text) = env_value {
        if text.trim().is_empty() {
            return Err(config_error(format!(
                "{MASTER_KEY_ENV} is set but empty; set it to 64 hex digits or base64 of 32 bytes, or unset it to use a key file"
            )));
        }
        let key =
            MasterKey::parse(&text, MASTER_KEY_ENV).map_err(|e| config_error(e.to_string()))?;
        return Ok((key, KeyOrigin::Env));
    }
    let path = &config.master_key_file;
    let (key, created) = load_or_create_key_file(path).map_err(|e| config_error(e.to_string()))?;
    Ok((
        key,
        KeyOrigin::File {
            path: path.clone(),
            created,
        },
    ))
}

/// A warning when a key file can be read by others than its owner.
pub fn permission_warning(origin: &KeyOrigin) -> Option<String> {
    match origin {
        KeyOrigin::File { path, .. } if !key_file_is_private(path) => Some(format!(
            "master key file {} is readable by group or others; run: chmod 600 {}",
            path.display(),
            path.display()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_takes_the_host_database_and_refuses_unknown_keys() {
        let cfg = parse_config(&json!({ "host": { "databaseUrl": "sqlite:///x/t.db" } })).unwrap();
        assert_eq!(cfg.database_url, "sqlite:///x/t-keystore.db");
        assert_eq!(cfg.master_key_file, PathBuf::from("/x/.tasker-master-key"));
        let cfg = parse_config(
            &json!({ "host": { "databaseUrl": "sqlite:///x/t.db" }, "masterKeyFile": "/k" }),
        )
        .unwrap();
        assert_eq!(cfg.master_key_file, PathBuf::from("/k"));
        let pg = parse_config(&json!({ "host": { "databaseUrl": "postgres://h/db" } })).unwrap();
        assert_eq!(pg.database_url, "postgres://h/db");
        let own = parse_config(&json!({ "host": { "databaseUrl": "postgres://h/db" }, "databaseUrl": "sqlite:///k/k.db" })).unwrap();
        assert_eq!(own.database_url, "sqlite:///k/k.db");
        let shared = json!({ "host": { "databaseUrl": "sqlite:///x/t.db" }, "databaseUrl": "sqlite:///x/t.db?mode=rwc" });
        assert!(
            parse_config(&shared).is_err(),
            "the host's own SQLite file is refused"
        );
        let err = parse_config(&json!({ "host": {}, "masterKey": "x" })).unwrap_err();
        assert!(err.message.contains("masterKey"), "{}", err.message);
        assert!(parse_config(&json!({})).is_err());
    }

    #[test]
    fn env_key_wins_and_bad_env_keys_are_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = KeystoreConfig {
            database_url: "sqlite::memory:".into(),
            master_key_file: dir.path().join("k"),
        };
        let hex_key = "ab".repeat(32);
        let (key, origin) = load_master_key(&cfg, Some(hex_key)).unwrap();
        assert_eq!(origin, KeyOrigin::Env);
        assert!(
            !cfg.master_key_file.exists(),
            "no file is created when the env var is set"
        );
        assert_eq!(key, MasterKey::from_bytes([0xab; 32]));
        let err = load_master_key(&cfg, Some("tooshort".into())).unwrap_err();
        assert_eq!(err.code, ErrorCode::Configuration);
        assert!(!err.message.contains("tooshort"), "{}", err.message);
        let (_, origin) = load_master_key(&cfg, None).unwrap();
        assert!(matches!(origin, KeyOrigin::File { created: true, .. }));
        assert_eq!(permission_warning(&origin), None);
    }
}
