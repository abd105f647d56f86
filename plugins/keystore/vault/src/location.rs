//! Where the keystore table lives for a given host database. On PostgreSQL it is the host's
//! own database. On SQLite it is a sibling file (`tasker.db` → `tasker-keystore.db`): the
//! keystore plugin is a cdylib with its own statically linked copy of SQLite, and two SQLite
//! libraries in one process must never open the same file, because their POSIX locks do not
//! see each other and the file gets corrupted (<https://www.sqlite.org/howtocorrupt.html>,
//! "Multiple copies of SQLite linked into the same application"; seen as
//! `database disk image is malformed` under concurrent writes).

use std::path::{Path, PathBuf};

/// File name of the default master key file.
pub const DEFAULT_KEY_FILE: &str = ".tasker-master-key";
/// Inserted before the SQLite file's extension.
const SQLITE_SUFFIX: &str = "-keystore";

/// The database URL of the keystore for a host started with `--database-url host_url`.
pub fn keystore_database_url(host_url: &str) -> String {
    let Some(rest) = host_url
        .strip_prefix("sqlite://")
        .map(|r| ("sqlite://", r))
        .or_else(|| host_url.strip_prefix("sqlite:").map(|r| ("sqlite:", r)))
    else {
        return host_url.to_owned();
    };
    let (scheme, rest) = rest;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty()
        || path.contains(":memory:")
        || query.is_some_and(|q| q.contains("mode=memory"))
    {
        // An in-memory host database: the keystore is in memory too (and as short-lived).
        return host_url.to_owned();
    }
    let (dir, file) = match path.rfind('/') {
        Some(slash) => path.split_at(slash + 1),
        None => ("", path),
    };
    let renamed = match file.rfind('.') {
        Some(dot) if dot > 0 => format!("{}{SQLITE_SUFFIX}{}", &file[..dot], &file[dot..]),
        _ => format!("{file}{SQLITE_SUFFIX}"),
    };
    match query {
        Some(query) => format!("{scheme}{dir}{renamed}?{query}"),
        None => format!("{scheme}{dir}{renamed}"),
    }
}

/// The key file used when `TASKER_MASTER_KEY` is not set and none is configured:
/// `.tasker-master-key` in the host's SQLite file's directory; in the working directory otherwise.
pub fn default_key_file(host_url: &str) -> PathBuf {
    let sqlite_path = host_url
        .strip_prefix("sqlite://")
        .or_else(|| host_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|path| !path.is_empty() && !path.contains(":memory:"));
    match sqlite_path.and_then(|p| Path::new(p).parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEFAULT_KEY_FILE),
        _ => PathBuf::from(DEFAULT_KEY_FILE),
    }
}

#[cfg(test)]
mod tests {
    use super::keystore_database_url as url;
    use super::*;

    #[test]
    fn default_key_file_sits_next_to_the_sqlite_file() {
        assert_eq!(
            default_key_file("sqlite:///var/lib/tasker/t.db?mode=rwc"),
            PathBuf::from("/var/lib/tasker/.tasker-master-key")
        );
        assert_eq!(
            default_key_file("sqlite://data/t.db"),
            PathBuf::from("data/.tasker-master-key")
        );
        assert_eq!(
            default_key_file("sqlite://t.db"),
            PathBuf::from(".tasker-master-key")
        );
        assert_eq!(
            default_key_file("sqlite::memory:"),
            PathBuf::from(".tasker-master-key")
        );
        assert_eq!(
            default_key_file("postgres://u@h/db"),
            PathBuf::from(".tasker-master-key")
        );
    }

    #[test]
    fn sqlite_files_get_a_sibling_and_postgres_is_shared() {
        assert_eq!(url("sqlite://tasker.db"), "sqlite://tasker-keystore.db");
        assert_eq!(
            url("sqlite:///var/lib/t/tasker.db?mode=rwc"),
            "sqlite:///var/lib/t/tasker-keystore.db?mode=rwc"
        );
        assert_eq!(url("sqlite:data/queue"), "sqlite:data/queue-keystore");
        assert_eq!(
            url("sqlite:///srv/.hidden"),
            "sqlite:///srv/.hidden-keystore"
        );
        assert_eq!(url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            url("postgres://u@h:5432/db?sslmode=disable"),
            "postgres://u@h:5432/db?sslmode=disable"
        );
    }
}
