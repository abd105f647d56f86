//! The vault's error type: one variant per failed step. Messages name namespaces, key names,
//! key ids and file paths, never a value or a master key.

use std::path::PathBuf;

/// What [`crate::Vault`] and the key helpers return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while storing, reading or rotating secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL is neither `sqlite:` nor `postgres://` / `postgresql://`.
    #[error("unsupported database URL (expected sqlite:... or postgres://...)")]
    UnsupportedUrl,
    /// Connecting to the database failed.
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// `CREATE TABLE IF NOT EXISTS keystore` failed.
    #[error("cannot create the keystore table: {source}")]
    CreateTable {
        #[source]
        source: sqlx::Error,
    },
    /// A table named `keystore` exists but is not ours (e.g. the original's `key_name/key_value`).
    #[error(
        "a table named 'keystore' exists but does not have the expected columns \
         (namespace, name, ciphertext, nonce, kid, created_at, updated_at): {source}"
    )]
    ForeignTable {
        #[source]
        source: sqlx::Error,
    },
    /// A query failed; `step` says which.
    #[error("keystore database error while {step}: {source}")]
    Query {
        step: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The stored value was sealed under another master key than the one loaded.
    #[error(
        "cannot decrypt '{name}' in namespace '{namespace}': it was encrypted with master key \
         {stored_kid} but the loaded master key is {loaded_kid}; the master key does not match \
         (use the key it was stored with, or run `tasker-host keys rotate`)"
    )]
    KeyMismatch {
        namespace: String,
        name: String,
        stored_kid: String,
        loaded_kid: String,
    },
    /// Authentication of the stored ciphertext failed although the key id matches.
    #[error(
        "cannot decrypt '{name}' in namespace '{namespace}': the stored value failed \
         authentication (it was modified, or the master key does not match)"
    )]
    Tampered { namespace: String, name: String },
    /// The cipher refused to encrypt (only for absurdly long values).
    #[error("cannot encrypt '{name}' in namespace '{namespace}'")]
    Encrypt { namespace: String, name: String },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// A master key text is not 32 bytes in hex or base64.
    #[error("invalid master key from {origin}: {reason}")]
    InvalidMasterKey { origin: String, reason: String },
    /// Reading or writing a key file failed.
    #[error("key file {}: {action} failed: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A new key file was requested at a path that already exists.
    #[error("key file {} already exists; refusing to overwrite a master key", path.display())]
    KeyFileExists { path: PathBuf },
    /// Rotation found values sealed under a key that is neither the old nor the new one.
    #[error(
        "rotation aborted, nothing changed: {count} value(s) are encrypted with master key(s) \
         {kids} which is neither the old key {old_kid} nor the new key {new_kid}"
    )]
    UnknownKeyIds {
        count: u64,
        kids: String,
        old_kid: String,
        new_kid: String,
    },
}
