//! keystore-vault: the storage side of tasker's keystore. Secrets live in a `keystore` table
//! (in the host's PostgreSQL database, or in a SQLite file next to the host's, see
//! [`keystore_database_url`]; through sqlx Any with bound parameters only),
//! each value sealed with XChaCha20-Poly1305 under a 32-byte master key, a fresh random nonce
//! per value and its namespace and name bound as associated data. Shared by the `keystore`
//! plugin and by `tasker-host keys rotate`, so both read and write exactly one format.
//!
//! This crate must never log, print or put a plaintext value or a master key into an error:
//! errors name namespaces, key names and key ids (fingerprints) only.

mod cipher;
mod error;
mod location;
mod master_key;
mod rotate;
mod table;

pub use cipher::{Sealed, open, seal};
pub use error::{Error, Result};
pub use location::{DEFAULT_KEY_FILE, default_key_file, keystore_database_url};
pub use master_key::{
    KEY_LEN, MasterKey, key_file_is_private, load_or_create_key_file, read_key_file,
    write_new_key_file,
};
pub use rotate::RotationOutcome;
pub use table::{Backend, Vault};
