//! Plugin-name rules for `tasker-host new`: which names a new plugin crate may take, and
//! the Rust type name derived from one. Pure string logic: no file system access here.

use super::{Result, ScaffoldError};

/// Checks the naming rule: lowercase ASCII letters, digits and `-`, starting with a letter,
/// at most 64 characters, and not a name Cargo or Rust reserves.
pub fn validate_name(name: &str) -> Result<()> {
    let broken = |rule: &str| {
        Err(ScaffoldError::InvalidName {
            name: name.to_owned(),
            rule: rule.to_owned(),
        })
    };
    const CHARSET_RULE: &str =
        "a plugin name uses only lowercase letters a-z, digits and '-', and starts with a letter";
    match name.chars().next() {
        None => return broken("a plugin name cannot be empty"),
        Some(first) if !first.is_ascii_lowercase() => return broken(CHARSET_RULE),
        Some(_) => {}
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return broken(CHARSET_RULE);
    }
    if name.len() > MAX_NAME_LEN {
        return broken("a plugin name has at most 64 characters");
    }
    if name.ends_with('-') {
        return broken("a plugin name cannot end with '-'");
    }
    let library_name = name.replace('-', "_");
    if RESERVED_NAMES.contains(&library_name.as_str()) {
        return broken(
            "that name is a Rust keyword or a crate name Rust reserves (std, core, alloc, test, ...)",
        );
    }
    Ok(())
}

const MAX_NAME_LEN: usize = 64;

/// Rust keywords (strict and reserved) and the built-in crates a package cannot shadow.
const RESERVED_NAMES: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
];

/// `my-service` → `MyServicePlugin`. The suffix keeps the struct from colliding with the
/// names the templates import (`Plugin`, `Host`, `Manifest`, `Value`, `Client`, ...).
pub(super) fn type_name(name: &str) -> String {
    let mut camel: String = name
        .split('-')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect();
    if !(camel.ends_with("Plugin") && camel.len() > "Plugin".len()) {
        camel.push_str("Plugin");
    }
    camel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_follow_the_rule_and_the_error_says_it() {
        for good in ["a", "my-service", "svc2", "x-1-y"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "", "My", "1abc", "-a", "a_b", "a b", "ä", "a-", "../x", "fn", "self", "test", "std",
        ] {
            let error = validate_name(bad).unwrap_err();
            assert!(matches!(error, ScaffoldError::InvalidName { .. }), "{bad}");
        }
        let message = validate_name("My_Plugin").unwrap_err().to_string();
        assert!(
            message.contains("lowercase letters a-z, digits and '-'"),
            "{message}"
        );
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert!(validate_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn type_names_are_camel_case_with_one_plugin_suffix() {
        assert_eq!(type_name("my-service"), "MyServicePlugin");
        assert_eq!(type_name("echo-plugin"), "EchoPlugin");
        assert_eq!(type_name("plugin"), "PluginPlugin");
        assert_eq!(type_name("a-1"), "A1Plugin");
    }
}
