//! The 32-byte master key: parsing it from `TASKER_MASTER_KEY`-style text (hex or base64),
//! its public key id (a fingerprint stored with every row), and key files created once with
//! 0600 permissions. Never prints the key: `Debug` shows the key id only.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::Generate;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;

/// Domain separation for the key id, so the fingerprint is never a plain hash of the key.
const KID_CONTEXT: &[u8] = b"tasker-keystore/key-id/v1\0";

/// The header written into new key files; parsing skips `#` lines.
const KEY_FILE_HEADER: &str = "# tasker keystore master key: base64 of 32 random bytes (XChaCha20-Poly1305).\n\
# Keep it secret and back it up: without it no stored value can be decrypted.\n";

/// A master key. Cloning copies the bytes; nothing ever formats them.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    kid: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(kid {})", self.kid)
    }
}

impl MasterKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(KID_CONTEXT);
        hasher.update(bytes);
        let kid = hex::encode(&hasher.finalize()[..8]);
        Self { bytes, kid }
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let bytes = <[u8; KEY_LEN]>::try_generate().map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// Parses 64 hex digits or the base64 (standard or URL-safe, padded or not) of 32 bytes.
    /// Surrounding whitespace and `#` comment lines are ignored. `origin` names where the text
    /// came from, for the error message (which never repeats the text).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect();
        let invalid = |reason: &str| Error::InvalidMasterKey {
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        if body.is_empty() {
            return Err(invalid("it is empty"));
        }
        let decoded = if body.len() == 2 * KEY_LEN && body.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(&body).map_err(|_| invalid("it is not valid hex"))?
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(&body).ok())
                .ok_or_else(|| invalid("it is neither 64 hex digits nor base64"))?
        };
        let bytes: [u8; KEY_LEN] = decoded.try_into().map_err(|wrong: Vec<u8>| {
            invalid(&format!(
                "it decodes to {} bytes, but a master key has {KEY_LEN}",
                wrong.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The public key id: 16 hex digits of a domain-separated SHA-256 of the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key in the base64 form key files use.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

/// Reads a key file written by [`write_new_key_file`] (or by hand: hex or base64).
pub fn read_key_file(path: &Path) -> Result<MasterKey> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::KeyFile {
        path: path.to_path_buf(),
        action: "reading",
        source,
    })?;
    MasterKey::parse(&text, &format!("key file {}", path.display()))
}

/// Creates `path` holding a fresh key, readable by the owner only (0600); fails when the file
/// exists. The file appears complete or not at all: it is written under a temporary name and
/// hard-linked into place, which also makes two processes racing to create it safe.
pub fn write_new_key_file(path: &Path) -> Result<MasterKey> {
    let key = MasterKey::generate()?;
    let temp = temp_path(path);
    let io = |action: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| Error::KeyFile {
            path: at,
            action,
            source,
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(io("creating", &temp))?;
    let written = file
        .write_all(format!("{KEY_FILE_HEADER}{}\n", key.to_base64()).as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    let linked = written
        .map_err(io("writing", &temp))
        .and_then(|()| std::fs::hard_link(&temp, path).map_err(io("creating", path)));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(key),
        Err(Error::KeyFile { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Err(Error::KeyFileExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(e),
    }
}

/// The key in `path`, creating the file with a fresh key first when it does not exist.
/// Returns whether it was created.
pub fn load_or_create_key_file(path: &Path) -> Result<(MasterKey, bool)> {
    if path.exists() {
        return read_key_file(path).map(|key| (key, false));
    }
    match write_new_key_file(path) {
        Ok(key) => Ok((key, true)),
        // Another process created it between our check and our link: use theirs.
        Err(Error::KeyFileExists { .. }) => read_key_file(path).map(|key| (key, false)),
        Err(e) => Err(e),
    }
}

/// True when the file's permissions let only its owner read it (always true off Unix).
pub fn key_file_is_private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o077 == 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_to_the_same_key() {
        let key = MasterKey::from_bytes([7u8; KEY_LEN]);
        let hex_text = hex::encode([7u8; KEY_LEN]);
        assert_eq!(MasterKey::parse(&hex_text, "t").unwrap(), key);
        assert_eq!(MasterKey::parse(&key.to_base64(), "t").unwrap(), key);
        let unpadded = key.to_base64().trim_end_matches('=').to_owned();
        assert_eq!(
            MasterKey::parse(&format!("  {unpadded}\n"), "t").unwrap(),
            key
        );
        assert_eq!(key.kid().len(), 16);
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn rejects_wrong_lengths_without_echoing_the_text() {
        let short = STANDARD.encode([1u8; 16]);
        let err = MasterKey::parse(&short, "TASKER_MASTER_KEY")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("16 bytes") && err.contains("TASKER_MASTER_KEY"),
            "{err}"
        );
        assert!(!err.contains(&short), "{err}");
        assert!(MasterKey::parse("not a key!", "x").is_err());
        assert!(MasterKey::parse("  \n# only a comment\n", "x").is_err());
    }

    #[test]
    fn key_files_are_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".tasker-master-key");
        let (first, created) = load_or_create_key_file(&path).unwrap();
        assert!(created);
        assert!(key_file_is_private(&path));
        let (again, created_again) = load_or_create_key_file(&path).unwrap();
        assert!(!created_again);
        assert_eq!(first, again);
        assert!(matches!(
            write_new_key_file(&path),
            Err(Error::KeyFileExists { .. })
        ));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files are left behind");
    }
}
