//! `tasker-host keys rotate`: re-encrypts every keystore value from the old master key to a
//! new one, in one transaction (all values or none), using the keystore's own storage crate so
//! the format is the plugin's exactly. Run it while no host writes to the keystore, then start
//! the host with the new key (`TASKER_MASTER_KEY` or the key file).
//!
//! This module must never print, log or return a master key or a secret value (only key ids),
//! and it reads no environment variables: the caller passes key text it read itself.

use std::path::PathBuf;

use keystore_vault::{MasterKey, Vault, keystore_database_url, read_key_file, write_new_key_file};

/// Where a master key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Key text the caller already has (e.g. read from `TASKER_MASTER_KEY`): 64 hex digits or
    /// base64 of 32 bytes. `origin` names it in error messages (the text never appears).
    Text { text: String, origin: String },
    /// An existing key file (hex or base64; `#` lines are ignored).
    File(PathBuf),
    /// A fresh random key, written to this new file with 0600 permissions. The file must not
    /// exist; it is removed again when the rotation fails.
    NewFile(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text { origin, .. } => write!(f, "Text({origin})"),
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::NewFile(path) => write!(f, "NewFile({})", path.display()),
        }
    }
}

/// What a rotation did; printable as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateReport {
    /// Values re-encrypted under the new key.
    pub rotated: u64,
    /// Values that were already under the new key.
    pub already_current: u64,
    /// Key id of the old key.
    pub old_key_id: String,
    /// Key id of the new key.
    pub new_key_id: String,
    /// The key file created for the new key, when [`KeySource::NewFile`] was used.
    pub new_key_file: Option<PathBuf>,
}

impl std::fmt::Display for RotateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "re-encrypted {} keystore value(s) from master key {} to {}",
            self.rotated, self.old_key_id, self.new_key_id
        )?;
        if self.already_current > 0 {
            write!(f, " ({} already under the new key)", self.already_current)?;
        }
        if let Some(path) = &self.new_key_file {
            write!(f, "; new key written to {}", path.display())?;
        }
        Ok(())
    }
}

/// Why a rotation did not happen. Nothing was changed in the database in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The old key could not be loaded.
    #[error("loading the old master key: {0}")]
    OldKey(#[source] keystore_vault::Error),
    /// The new key could not be loaded or created.
    #[error("loading the new master key: {0}")]
    NewKey(#[source] keystore_vault::Error),
    /// Old and new key are the same key.
    #[error("the old and the new master key are the same key ({0}); nothing to rotate")]
    SameKey(String),
    /// The database or its keystore table could not be opened.
    #[error("opening the keystore database: {0}")]
    Open(#[source] keystore_vault::Error),
    /// The rotation transaction failed (and was rolled back).
    #[error("rotating the master key: {0}")]
    Rotate(#[source] keystore_vault::Error),
}

fn load(source: &KeySource) -> keystore_vault::Result<MasterKey> {
    match source {
        KeySource::Text { text, origin } => MasterKey::parse(text, origin),
        KeySource::File(path) => read_key_file(path),
        KeySource::NewFile(path) => write_new_key_file(path),
    }
}

/// Re-encrypts every value of the keystore of the host database `database_url` (the host's
/// `--database-url`: on PostgreSQL its `keystore` table, on SQLite the sibling file
/// `<name>-keystore.db`) from `old` to `new`. Values already under `new` are left alone; a value under any third key aborts the whole
/// rotation. On failure a key file created for `new` is removed again.
pub async fn rotate(
    database_url: &str,
    old: &KeySource,
    new: &KeySource,
) -> Result<RotateReport, KeysError> {
    let old_key = load(old).map_err(KeysError::OldKey)?;
    let new_key = load(new).map_err(KeysError::NewKey)?;
    let created = match new {
        KeySource::NewFile(path) => Some(path.clone()),
        _ => None,
    };
    let outcome = rotate_with(database_url, &old_key, &new_key).await;
    match (outcome, created) {
        (Ok(mut report), created) => {
            report.new_key_file = created;
            Ok(report)
        }
        (Err(e), Some(path)) => {
            // Nothing is sealed under the fresh key: the file is of no use and only confuses.
            let _ = std::fs::remove_file(path);
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

async fn rotate_with(
    database_url: &str,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<RotateReport, KeysError> {
    if old.kid() == new.kid() {
        return Err(KeysError::SameKey(old.kid().to_owned()));
    }
    let vault = Vault::connect(&keystore_database_url(database_url))
        .await
        .map_err(KeysError::Open)?;
    let outcome = vault.rotate(old, new).await;
    vault.close().await;
    let outcome = outcome.map_err(KeysError::Rotate)?;
    Ok(RotateReport {
        rotated: outcome.rotated,
        already_current: outcome.already_current,
        old_key_id: outcome.old_kid,
        new_key_id: outcome.new_kid,
        new_key_file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(byte: u8) -> KeySource {
        KeySource::Text {
            text: MasterKey::from_bytes([byte; 32]).to_base64(),
            origin: "test".into(),
        }
    }

    #[tokio::test]
    async fn rotates_every_value_to_a_new_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let old = MasterKey::from_bytes([1; 32]);
        let vault = Vault::connect(&keystore_database_url(&url)).await.unwrap();
        vault.put(&old, "global", "A", b"alpha").await.unwrap();
        vault.put(&old, "ns", "B", b"beta").await.unwrap();

        let new_file = dir.path().join("new.key");
        let report = rotate(&url, &text(1), &KeySource::NewFile(new_file.clone()))
            .await
            .unwrap();
        assert_eq!((report.rotated, report.already_current), (2, 0));
        // The host's SQLite file is never opened: the keystore lives in its sibling file.
        assert!(dir.path().join("t-keystore.db").exists());
        assert!(!dir.path().join("t.db").exists());
        assert_eq!(report.old_key_id, old.kid());
        assert_eq!(report.new_key_file.as_deref(), Some(new_file.as_path()));
        let line = report.to_string();
        assert!(
            line.contains("re-encrypted 2") && line.contains(old.kid()),
            "{line}"
        );

        let new = read_key_file(&new_file).unwrap();
        assert_eq!(new.kid(), report.new_key_id);
        assert_eq!(
            vault.get(&new, "ns", "B").await.unwrap().as_deref(),
            Some(&b"beta"[..])
        );
        assert!(vault.get(&old, "global", "A").await.is_err());

        // Rotating back from the file to key text works the same way.
        let back = rotate(&url, &KeySource::File(new_file), &text(1))
            .await
            .unwrap();
        assert_eq!(back.rotated, 2);
        assert_eq!(
            vault.get(&old, "global", "A").await.unwrap().as_deref(),
            Some(&b"alpha"[..])
        );
    }

    #[tokio::test]
    async fn refusals_change_nothing_and_leave_no_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let vault = Vault::connect(&keystore_database_url(&url)).await.unwrap();
        vault
            .put(&MasterKey::from_bytes([1; 32]), "global", "A", b"alpha")
            .await
            .unwrap();

        let same = rotate(&url, &text(1), &text(1)).await.unwrap_err();
        assert!(matches!(same, KeysError::SameKey(_)), "{same}");

        // The wrong old key: the stored value is under neither key, so nothing moves.
        let new_file = dir.path().join("new.key");
        let err = rotate(&url, &text(9), &KeySource::NewFile(new_file.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, KeysError::Rotate(_)), "{err}");
        assert!(!new_file.exists(), "the unused new key file is removed");
        let old = MasterKey::from_bytes([1; 32]);
        assert_eq!(
            vault.get(&old, "global", "A").await.unwrap().as_deref(),
            Some(&b"alpha"[..])
        );

        let bad = KeySource::Text {
            text: "short".into(),
            origin: "TASKER_MASTER_KEY".into(),
        };
        let err = rotate(&url, &bad, &text(2)).await.unwrap_err();
        assert!(matches!(err, KeysError::OldKey(_)), "{err}");
        assert!(!err.to_string().contains("short"), "{err}");
        assert!(err.to_string().contains("TASKER_MASTER_KEY"), "{err}");
    }
}
