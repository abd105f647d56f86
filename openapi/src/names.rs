//! Names inside generated documents: component keys, operationIds and method paths.
//! They must be stable (the same manifest always gives the same names) and unique within
//! one document; this module must not know about HTTP or schemas.

use std::collections::BTreeSet;

/// Replaces every character OpenAPI does not allow in a component key
/// (`^[a-zA-Z0-9.\-_]+$`) with `_`. Also used for operationIds, so they stay readable
/// in generated clients.
pub fn sanitise(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

/// Hands out names that are unique within one document: the first request for a name gets
/// it unchanged, later ones get `_2`, `_3`, ... in request order (so the result is stable).
#[derive(Debug, Default)]
pub struct UniqueNames {
    taken: BTreeSet<String>,
}

impl UniqueNames {
    /// Claims `wanted` (sanitised), or the first free numbered variant of it.
    pub fn claim(&mut self, wanted: &str) -> String {
        let base = sanitise(wanted);
        let mut candidate = base.clone();
        let mut counter = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}_{counter}");
            counter += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

/// The path of a method's own endpoint: the method name kept literally (dots included,
/// `/admin.users.list`), with only the characters that would change the meaning of an
/// OpenAPI path template or a URL (`/ { } ? # %`, spaces, controls, non-ASCII)
/// percent-encoded.
pub fn method_path(prefix: &str, method: &str) -> String {
    let mut path = format!("{prefix}/");
    for byte in method.bytes() {
        let keep =
            byte.is_ascii_graphic() && !matches!(byte, b'/' | b'{' | b'}' | b'?' | b'#' | b'%');
        if keep {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

/// `prefix` + `path`, where `path` starts with `/` (so `POST /` under the gateway is
/// `/services/<name>/`).
pub fn prefixed(prefix: &str, path: &str) -> String {
    format!("{prefix}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitise_keeps_allowed_characters_only() {
        assert_eq!(sanitise("admin.users.list"), "admin.users.list");
        assert_eq!(sanitise("my service/v2"), "my_service_v2");
        assert_eq!(sanitise(""), "_");
    }

    #[test]
    fn unique_names_number_later_duplicates() {
        let mut names = UniqueNames::default();
        assert_eq!(names.claim("a b"), "a_b");
        assert_eq!(names.claim("a_b"), "a_b_2");
        assert_eq!(names.claim("a?b"), "a_b_3");
        assert_eq!(names.claim("c"), "c");
    }

    #[test]
    fn method_paths_keep_dots_and_escape_template_characters() {
        assert_eq!(method_path("", "admin.users.list"), "/admin.users.list");
        assert_eq!(
            method_path("/services/gapi", "a/b{c}"),
            "/services/gapi/a%2Fb%7Bc%7D"
        );
        assert_eq!(prefixed("/services/x", "/"), "/services/x/");
        assert_eq!(prefixed("", "/"), "/");
    }
}
