//! Policy data: what each target OS ships, and which database settings need which capability.
//! Kept as JSON under `validate/policy/` so a new platform or capability gate is a data change.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// What one OS nickname provides to a module.
#[derive(Debug, Clone, Deserialize)]
pub struct Platform {
    /// Human name, e.g. "RHEL 9 / Rocky 9 / Alma 9 / Oracle 9".
    pub description: String,
    /// Highest `GLIBC_` version, e.g. "2.34".
    pub glibc: String,
    /// Highest `GLIBCXX_` version, e.g. "3.4.29".
    pub glibcxx: String,
    /// OpenSSL release, e.g. "3.0".
    pub openssl: String,
    /// Shared libraries it ships beyond the common ones (e.g. `libssl.so.3`).
    pub libraries: Vec<String>,
}

/// The platform policy: libraries every OS ships, and each OS's specifics.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Platforms {
    /// Libraries every supported OS ships (libc, libm, libstdc++, …).
    pub common_libraries: Vec<String>,
    /// Per OS nickname.
    pub platforms: BTreeMap<String, Platform>,
}

impl Platforms {
    /// Whether `soname` is shipped by the OS `nick`.
    pub fn ships(&self, nick: &str, soname: &str) -> bool {
        self.common_libraries.iter().any(|l| l == soname)
            || self
                .platforms
                .get(nick)
                .is_some_and(|p| p.libraries.iter().any(|l| l == soname))
    }

    /// Whether any known OS ships `soname` (so it is a system library, not the module's own).
    pub fn is_system_library(&self, soname: &str) -> bool {
        self.common_libraries.iter().any(|l| l == soname)
            || self
                .platforms
                .values()
                .any(|p| p.libraries.iter().any(|l| l == soname))
    }
}

/// A database setting that needs a capability.
#[derive(Debug, Clone, Deserialize)]
pub struct Gate {
    /// The feature, for messages ("AOF persistence").
    pub feature: String,
    /// The BDB field that turns it on.
    pub field: String,
    /// When the field turns it on.
    pub when: Condition,
    /// The capability the module needs for it.
    pub capability: String,
}

/// When a BDB field value turns a feature on.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The field equals this value.
    Equals(Value),
    /// The field is present, not null, and not one of these values.
    NotIn(Vec<Value>),
    /// The field is a non-empty list, object or string.
    NonEmpty(bool),
    /// The field is a number above this one.
    GreaterThan(f64),
    /// The field is a list of shard-key regexes other than the default.
    NotDefaultRegex(bool),
}

/// The capability policy.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Capabilities {
    /// RS's default `shard_key_regex` patterns; any other list is a custom hashing policy.
    pub default_shard_key_regex: Vec<String>,
    /// The gates.
    pub gates: Vec<Gate>,
}

impl Capabilities {
    /// Whether `value` (a BDB field) turns `gate` on.
    pub fn applies(&self, gate: &Gate, value: &Value) -> bool {
        match &gate.when {
            Condition::Equals(expected) => value == expected,
            Condition::NotIn(values) => !value.is_null() && !values.contains(value),
            Condition::NonEmpty(_) => match value {
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                Value::String(s) => !s.is_empty(),
                _ => false,
            },
            Condition::GreaterThan(limit) => value.as_f64().is_some_and(|n| n > *limit),
            Condition::NotDefaultRegex(_) => match value {
                Value::Array(items) if !items.is_empty() => {
                    let patterns: Vec<&str> = items
                        .iter()
                        .filter_map(|i| i.get("regex").and_then(Value::as_str).or(i.as_str()))
                        .collect();
                    patterns.len() != self.default_shard_key_regex.len()
                        || patterns
                            .iter()
                            .zip(&self.default_shard_key_regex)
                            .any(|(a, b)| a != b)
                }
                _ => false,
            },
        }
    }
}

/// The platform policy from `validate/policy/platforms.json`.
pub fn platforms() -> &'static Platforms {
    static PLATFORMS: OnceLock<Platforms> = OnceLock::new();
    // The file is compiled in and checked by a unit test; an empty policy is the safe fallback.
    PLATFORMS.get_or_init(|| {
        serde_json::from_str(include_str!("policy/platforms.json")).unwrap_or_default()
    })
}

/// The capability policy from `validate/policy/capabilities.json`.
pub fn capabilities() -> &'static Capabilities {
    static CAPABILITIES: OnceLock<Capabilities> = OnceLock::new();
    CAPABILITIES.get_or_init(|| {
        serde_json::from_str(include_str!("policy/capabilities.json")).unwrap_or_default()
    })
}

/// `"2.34"` → `[2, 34]`; non-numeric parts end the version.
pub fn version_parts(text: &str) -> Vec<u32> {
    text.split(['.', '_'])
        .map_while(|p| p.parse::<u32>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Capability, OsNick};

    #[test]
    fn every_known_os_has_a_platform() {
        let platforms: Platforms =
            serde_json::from_str(include_str!("policy/platforms.json")).unwrap();
        for nick in OsNick::known() {
            let platform = platforms
                .platforms
                .get(*nick)
                .unwrap_or_else(|| panic!("no platform for {nick}"));
            for version in [&platform.glibc, &platform.glibcxx, &platform.openssl] {
                assert!(version_parts(version).len() >= 2, "{nick}: {version}");
            }
        }
        for nick in platforms.platforms.keys() {
            assert!(
                OsNick::known().contains(&nick.as_str()),
                "{nick} is not known"
            );
        }
    }

    #[test]
    fn every_gate_names_a_known_capability() {
        let policy: Capabilities =
            serde_json::from_str(include_str!("policy/capabilities.json")).unwrap();
        assert!(!policy.gates.is_empty());
        for gate in &policy.gates {
            assert!(
                gate.capability.parse::<Capability>().is_ok(),
                "{}",
                gate.capability
            );
        }
        assert_eq!(capabilities().gates.len(), policy.gates.len());
    }

    #[test]
    fn conditions() {
        let policy = capabilities();
        let gate = |field: &str| policy.gates.iter().find(|g| g.field == field).unwrap();
        assert!(policy.applies(gate("eviction_policy"), &serde_json::json!("allkeys-lru")));
        assert!(!policy.applies(gate("eviction_policy"), &serde_json::json!("noeviction")));
        assert!(policy.applies(gate("shards_count"), &serde_json::json!(3)));
        assert!(!policy.applies(gate("shards_count"), &serde_json::json!(1)));
        let default =
            serde_json::json!([{"regex": ".*\\{(?<tag>.*)\\}.*"}, {"regex": "(?<tag>.*)"}]);
        assert!(!policy.applies(gate("shard_key_regex"), &default));
        let custom = serde_json::json!([{"regex": "(?<tag>.*):"}]);
        assert!(policy.applies(gate("shard_key_regex"), &custom));
    }
}
