//! Access scopes of the host's API tokens (`read` ⊂ `execute` ⊂ `admin`) and the scope a
//! method asks for. Plain data, serialised in manifests as lowercase strings; the host
//! decides how to enforce them. Must not know about tokens, HTTP or the host itself.

use serde::{Deserialize, Serialize};

/// What a token (or a run, through its submitter) may do. Ordered: every scope includes
/// the ones below it, so `granted >= needed` is the whole check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Status, logs, documents and listings.
    Read,
    /// Submitting and reading runs, ordinary service calls (the default of a method).
    Execute,
    /// Registering and deleting tasks, secrets, writes to the keystore, operator tools.
    Admin,
}

impl Scope {
    /// Every scope, lowest first.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Execute, Scope::Admin];

    /// The lowercase name (`read`, `execute`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Execute => "execute",
            Scope::Admin => "admin",
        }
    }

    /// True when a holder of `self` may do what needs `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope '{s}' (expected read, execute or admin)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_include_the_lower_ones() {
        assert!(Scope::Admin.allows(Scope::Execute));
        assert!(Scope::Admin.allows(Scope::Read));
        assert!(Scope::Execute.allows(Scope::Read));
        assert!(!Scope::Execute.allows(Scope::Admin));
        assert!(!Scope::Read.allows(Scope::Execute));
    }

    #[test]
    fn scopes_round_trip_as_lowercase_text() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_value(scope).ok(),
                Some(serde_json::json!(scope.as_str()))
            );
        }
        assert!("root".parse::<Scope>().is_err());
    }
}
