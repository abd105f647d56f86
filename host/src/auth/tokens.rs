//! API bearer tokens: parsing `TASKER_API_TOKENS` (`scope:token,scope:token`) and a tokens
//! file (`scope token` per line, `#` comments), keeping only sha256 digests, and finding
//! the scope of a presented token with a constant-time comparison. A token's text must
//! never appear in an error, a log line or a `Debug` output: errors name origin and line.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tasker_plugin_api::Scope;

/// Shortest token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why the tokens could not be loaded; never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// One entry is malformed.
    #[error("{origin}, entry {entry}: {reason}")]
    Entry {
        /// `TASKER_API_TOKENS` or the file path.
        origin: String,
        /// 1-based entry (line of the file, item of the list).
        entry: usize,
        /// What is wrong (without the token).
        reason: String,
    },
    /// The tokens file could not be read.
    #[error("cannot read the API tokens file {path}: {source}")]
    ReadFile {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The tokens file can be read or changed by every user of the machine.
    #[error(
        "the API tokens file {path} is accessible to other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// One token, kept as its digest only.
struct TokenEntry {
    digest: [u8; 32],
    scope: Scope,
}

/// The configured tokens. Empty means authentication is off.
#[derive(Default)]
pub struct TokenSet {
    entries: Vec<TokenEntry>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("tokens", &self.entries.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// RFC 6750 `b64token` characters: what can follow `Bearer ` unquoted.
fn valid_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/=".contains(c)
}

impl TokenSet {
    /// Loads tokens from the environment value and/or the file (both may be given).
    pub fn load(env_value: Option<&str>, file: Option<&Path>) -> Result<Self, TokenError> {
        let mut set = TokenSet::default();
        if let Some(text) = env_value {
            for (i, item) in text.split(',').enumerate() {
                if item.trim().is_empty() {
                    continue;
                }
                let parsed = item.trim().split_once(':');
                set.add("TASKER_API_TOKENS", i + 1, parsed)?;
            }
        }
        if let Some(path) = file {
            let text = read_private_file(path)?;
            let origin = path.display().to_string();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let parsed = line
                    .split_once(char::is_whitespace)
                    .map(|(s, t)| (s, t.trim()));
                set.add(&origin, i + 1, parsed)?;
            }
        }
        Ok(set)
    }

    fn add(
        &mut self,
        origin: &str,
        entry: usize,
        parsed: Option<(&str, &str)>,
    ) -> Result<(), TokenError> {
        let fail = |reason: String| TokenError::Entry {
            origin: origin.to_owned(),
            entry,
            reason,
        };
        let (scope, token) = parsed.ok_or_else(|| {
            fail("expected a scope and a token (`admin:TOKEN` in TASKER_API_TOKENS, `admin TOKEN` in a file)".into())
        })?;
        let scope: Scope = scope.trim().parse().map_err(fail)?;
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(fail(format!(
                "the token is shorter than {MIN_TOKEN_LEN} characters"
            )));
        }
        if !token.chars().all(valid_token_char) {
            return Err(fail(
                "the token may only hold letters, digits and - . _ ~ + / =".into(),
            ));
        }
        let digest = digest(token);
        if self.entries.iter().any(|e| e.digest == digest) {
            return Err(fail("the same token is configured twice".into()));
        }
        self.entries.push(TokenEntry { digest, scope });
        Ok(())
    }

    /// True when at least one token is configured (authentication on).
    pub fn is_enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens of each scope, for the start-up line.
    pub fn summary(&self) -> String {
        Scope::ALL
            .iter()
            .map(|s| {
                let n = self.entries.iter().filter(|e| e.scope == *s).count();
                format!("{n} {s}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The scope of `presented`, if it is a configured token. Every entry is compared
    /// (no early exit) and digests are compared in constant time, so the answer's
    /// timing says nothing about how much of a guess was right.
    pub fn scope_of(&self, presented: &str) -> Option<Scope> {
        let presented = digest(presented);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&presented)) {
                found = Some(entry.scope);
            }
        }
        found
    }
}

/// Reads the tokens file, refusing one that other users may read or write.
fn read_private_file(path: &Path) -> Result<String, TokenError> {
    let read_err = |source| TokenError::ReadFile {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(read_err)?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o007 != 0 {
            return Err(TokenError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    std::fs::read_to_string(path).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789";
    const RUNNER: &str = "execute-token-0123456789";

    #[test]
    fn env_tokens_map_to_their_scopes() {
        let text = format!("admin:{ADMIN}, execute:{RUNNER}");
        let set = TokenSet::load(Some(&text), None).expect("loads");
        assert!(set.is_enabled());
        assert_eq!(set.scope_of(ADMIN), Some(Scope::Admin));
        assert_eq!(set.scope_of(RUNNER), Some(Scope::Execute));
        assert_eq!(set.scope_of("admin-token-012345678"), None);
        assert_eq!(set.scope_of(""), None);
        assert_eq!(set.summary(), "0 read, 1 execute, 1 admin");
    }

    #[test]
    fn errors_name_the_entry_but_never_the_token() {
        let secret = "tiny-tok";
        let err = TokenSet::load(Some(&format!("read:{secret}")), None)
            .expect_err("too short")
            .to_string();
        assert!(err.contains("entry 1") && !err.contains(secret), "{err}");
        let err = TokenSet::load(Some(&format!("root:{ADMIN}")), None)
            .expect_err("bad scope")
            .to_string();
        assert!(
            err.contains("unknown scope 'root'") && !err.contains(ADMIN),
            "{err}"
        );
        let err = TokenSet::load(Some(&format!("read:{ADMIN},admin:{ADMIN}")), None)
            .expect_err("duplicate")
            .to_string();
        assert!(err.contains("entry 2") && !err.contains(ADMIN), "{err}");
        assert!(
            format!(
                "{:?}",
                TokenSet::load(Some(&format!("admin:{ADMIN}")), None)
            )
            .find(ADMIN)
            .is_none()
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_allow_comments_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens");
        std::fs::write(
            &path,
            format!("# operators\nadmin {ADMIN}\n\nread   {RUNNER}\n"),
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let set = TokenSet::load(None, Some(&path)).expect("loads");
        assert_eq!(set.scope_of(RUNNER), Some(Scope::Read));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = TokenSet::load(None, Some(&path)).expect_err("world-readable");
        assert!(
            matches!(err, TokenError::Permissions { mode: 0o644, .. }),
            "{err}"
        );
    }
}
