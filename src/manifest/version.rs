//! Version math: the integer module version RS stores, its semantic form, and the dotted version
//! strings used for Redis and RS releases.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ManifestError;

/// The integer module version that a module passes to `RedisModule_Init` and RS stores as `version`.
///
/// RS derives the semantic version from it: `major = v / 10000`, `minor = (v % 10000) / 100`,
/// `patch = v % 100`, so `10203` is `1.2.3`.
///
/// ```
/// use rmpack::manifest::{ModuleVersion, SemanticVersion};
///
/// assert_eq!(ModuleVersion(10203).semantic().to_string(), "1.2.3");
/// let semantic: SemanticVersion = "2.0.8".parse().unwrap();
/// assert_eq!(ModuleVersion::from_semantic(semantic).unwrap(), ModuleVersion(20008));
/// // RAMP writes the version as a float; a whole one reads back as the integer.
/// assert_eq!("10203.0".parse::<ModuleVersion>().unwrap(), ModuleVersion(10203));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleVersion(pub u64);

impl ModuleVersion {
    /// The semantic version RS derives from this integer.
    pub fn semantic(self) -> SemanticVersion {
        SemanticVersion {
            major: self.0 / 10_000,
            minor: (self.0 % 10_000) / 100,
            patch: self.0 % 100,
        }
    }

    /// The integer version whose semantic form is `semantic`; minor and patch must be below 100.
    pub fn from_semantic(semantic: SemanticVersion) -> Result<Self, ManifestError> {
        if semantic.minor >= 100 || semantic.patch >= 100 {
            return Err(ManifestError::SemanticOutOfRange(semantic.to_string()));
        }
        let version = semantic
            .major
            .checked_mul(10_000)
            .and_then(|v| v.checked_add(semantic.minor * 100 + semantic.patch))
            .ok_or_else(|| ManifestError::SemanticOutOfRange(semantic.to_string()))?;
        Ok(ModuleVersion(version))
    }
}

impl ModuleVersion {
    /// Reads a version as people and servers write it: semantic (`1.2.3`, as RS shows it and
    /// `semantic_version` holds) or the integer (`10203`, or RAMP's `10203.0`). The one place
    /// either form is read.
    pub fn parse_any(text: &str) -> Result<ModuleVersion, ManifestError> {
        let text = text.trim();
        if text.matches('.').count() == 2 {
            return ModuleVersion::from_semantic(text.parse()?);
        }
        text.parse()
    }

    /// The version a `semantic_version` field names, when it is one (`1.2.3` → 10203).
    pub fn from_semantic_text(text: &str) -> Option<ModuleVersion> {
        ModuleVersion::from_semantic(text.trim().parse().ok()?).ok()
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ModuleVersion {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if let Ok(v) = trimmed.parse::<u64>() {
            return Ok(ModuleVersion(v));
        }
        // RAMP writes the integer as a float ("10203.0"); accept it only when it is whole.
        match trimmed.strip_suffix(".0").map(str::parse::<u64>) {
            Some(Ok(v)) => Ok(ModuleVersion(v)),
            _ => Err(ManifestError::BadModuleVersion(s.to_string())),
        }
    }
}

impl Serialize for ModuleVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ModuleVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        module_version_from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// Reads an integer module version from JSON, accepting RAMP's whole floats (`10203.0`) and
/// numeric strings, refusing fractions, negatives and anything else.
pub fn module_version_from_json(value: &serde_json::Value) -> Result<ModuleVersion, ManifestError> {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                return Ok(ModuleVersion(v));
            }
            match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => {
                    Ok(ModuleVersion(f as u64))
                }
                _ => Err(ManifestError::BadModuleVersion(n.to_string())),
            }
        }
        serde_json::Value::String(s) => s.parse(),
        other => Err(ManifestError::BadModuleVersion(other.to_string())),
    }
}

/// `major.minor.patch`, as RS derives it from the integer version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SemanticVersion {
    /// `version / 10000`
    pub major: u64,
    /// `(version % 10000) / 100`
    pub minor: u64,
    /// `version % 100`
    pub patch: u64,
}

impl fmt::Display for SemanticVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for SemanticVersion {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ManifestError::BadSemanticVersion(s.to_string());
        let parts: Vec<&str> = s.trim().split('.').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut numbers = [0u64; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(SemanticVersion {
            major: numbers[0],
            minor: numbers[1],
            patch: numbers[2],
        })
    }
}

/// A dotted release number such as Redis `7.4.2`, `4.0`, or RS `7.8.2-34` (the build after `-`
/// is kept but does not take part in comparisons).
///
/// Missing components compare as zero, so `7.4` equals `7.4.0`.
///
/// ```
/// use rmpack::manifest::DottedVersion;
///
/// let v = |s: &str| s.parse::<DottedVersion>().unwrap();
/// assert!(v("7.10") > v("7.9"));
/// assert_eq!(v("7.4"), v("7.4.0"));
/// assert!(v("7.8.2-34") >= v("7.8.2"));
/// ```
#[derive(Debug, Clone)]
pub struct DottedVersion {
    parts: Vec<u64>,
    build: Option<u64>,
    text: String,
}

impl DottedVersion {
    /// The numeric components, e.g. `[7, 4, 2]`.
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }

    /// The build number after `-`, if any.
    pub fn build(&self) -> Option<u64> {
        self.build
    }

    /// `major.minor` of this version, e.g. `7.4` for `7.4.2`.
    pub fn major_minor(&self) -> (u64, u64) {
        (
            self.parts.first().copied().unwrap_or(0),
            self.parts.get(1).copied().unwrap_or(0),
        )
    }

    fn component(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }
}

impl FromStr for DottedVersion {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ManifestError::BadDottedVersion(s.to_string());
        let text = s.trim();
        let (numbers, build) = match text.split_once('-') {
            Some((numbers, build)) => (numbers, Some(build.parse::<u64>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let mut parts = Vec::new();
        for part in numbers.split('.') {
            if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            parts.push(part.parse().map_err(|_| bad())?);
        }
        if parts.len() > 4 {
            return Err(bad());
        }
        Ok(DottedVersion {
            parts,
            build,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for DottedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for DottedVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DottedVersion {}

impl PartialOrd for DottedVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DottedVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        (0..len)
            .map(|i| self.component(i).cmp(&other.component(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl Serialize for DottedVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for DottedVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // YAML and TOML manifests may carry `4.0` as a number; accept it as its text.
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a version string like \"7.2\", got {other}"
                )))
            }
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether a Redis major.minor names a feature set Redis has released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSet {
    /// A released feature set (`7.4`, `8.2`).
    Released,
    /// Newer than the newest rmpack knows, but a step Redis could take next (`8.8`, `9.0`).
    Unknown,
    /// A version Redis never released and will not (`99.99`, the unstable `7.1`): no database
    /// runs it.
    Impossible,
}

/// The released Redis feature sets, from `validate/policy/redis.json`, oldest first.
pub fn redis_feature_sets() -> &'static [(u64, u64)] {
    static SETS: std::sync::OnceLock<Vec<(u64, u64)>> = std::sync::OnceLock::new();
    SETS.get_or_init(|| {
        #[derive(Deserialize, Default)]
        struct Data {
            feature_sets: Vec<String>,
        }
        // Checked by a unit test; an empty list would make every version "unknown", not wrong.
        let data: Data =
            serde_json::from_str(include_str!("../validate/policy/redis.json")).unwrap_or_default();
        data.feature_sets
            .iter()
            .filter_map(|v| v.parse::<DottedVersion>().ok())
            .map(|v| v.major_minor())
            .collect()
    })
}

/// What `version`'s major.minor is: a released Redis feature set, a plausible newer one, or one
/// that does not exist.
pub fn redis_feature_set(version: &DottedVersion) -> FeatureSet {
    let wanted = version.major_minor();
    let sets = redis_feature_sets();
    if sets.contains(&wanted) {
        return FeatureSet::Released;
    }
    let Some(&(newest_major, newest_minor)) = sets.last() else {
        return FeatureSet::Unknown;
    };
    let (major, minor) = wanted;
    let next_in_line = (major == newest_major && minor > newest_minor && minor <= newest_minor + 4)
        || (major == newest_major + 1 && minor <= 2);
    if next_in_line && minor % 2 == 0 {
        FeatureSet::Unknown
    } else {
        FeatureSet::Impossible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_version_follows_the_rs_rule() {
        assert_eq!(ModuleVersion(10203).semantic().to_string(), "1.2.3");
        assert_eq!(ModuleVersion(20008).semantic().to_string(), "2.0.8");
        assert_eq!(ModuleVersion(999_999).semantic().to_string(), "99.99.99");
        assert_eq!(ModuleVersion(7).semantic().to_string(), "0.0.7");
    }

    #[test]
    fn semantic_round_trips_to_integer() {
        for v in [0u64, 1, 99, 100, 10203, 20810, 999_999, 1_000_000] {
            let semantic = ModuleVersion(v).semantic();
            assert_eq!(
                ModuleVersion::from_semantic(semantic).unwrap(),
                ModuleVersion(v)
            );
        }
        let out_of_range: SemanticVersion = "1.100.0".parse().unwrap();
        assert!(ModuleVersion::from_semantic(out_of_range).is_err());
    }

    #[test]
    fn module_version_accepts_ramp_floats_only_when_whole() {
        let whole = serde_json::json!(10203.0);
        assert_eq!(
            module_version_from_json(&whole).unwrap(),
            ModuleVersion(10203)
        );
        assert!(module_version_from_json(&serde_json::json!(1.5)).is_err());
        assert!(module_version_from_json(&serde_json::json!(-3)).is_err());
        assert!(module_version_from_json(&serde_json::json!("abc")).is_err());
        assert_eq!(
            "10203.0".parse::<ModuleVersion>().unwrap(),
            ModuleVersion(10203)
        );
    }

    #[test]
    fn either_form_reads_as_the_same_version() {
        for text in ["1.2.3", "10203", "10203.0", " 1.2.3 "] {
            assert_eq!(
                ModuleVersion::parse_any(text).unwrap(),
                ModuleVersion(10203),
                "{text}"
            );
        }
        for bad in ["1.2", "1.x.3", "1.2.3.4", "abc", "1.100.0"] {
            assert!(ModuleVersion::parse_any(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ModuleVersion::from_semantic_text("2.0.8"),
            Some(ModuleVersion(20008))
        );
        assert_eq!(ModuleVersion::from_semantic_text("2.0"), None);
    }

    #[test]
    fn semantic_version_parse_is_strict() {
        for bad in ["1.2", "1.2.3.4", "1.a.3", "", "1..3", "-1.2.3", "1.2.3-rc1"] {
            assert!(bad.parse::<SemanticVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn feature_sets_are_released_next_in_line_or_impossible() {
        let kind = |s: &str| redis_feature_set(&s.parse().unwrap());
        assert!(redis_feature_sets().len() >= 10, "the policy file parses");
        assert_eq!(kind("7.4"), FeatureSet::Released);
        assert_eq!(kind("7.4.2"), FeatureSet::Released);
        assert_eq!(kind("8.2"), FeatureSet::Released);
        assert_eq!(kind("8.8"), FeatureSet::Unknown);
        assert_eq!(kind("9.0"), FeatureSet::Unknown);
        assert_eq!(kind("99.99"), FeatureSet::Impossible);
        assert_eq!(kind("7.1"), FeatureSet::Impossible);
        assert_eq!(kind("7.3"), FeatureSet::Impossible);
        assert_eq!(kind("8.7"), FeatureSet::Impossible);
        assert_eq!(kind("10.0"), FeatureSet::Impossible);
    }

    #[test]
    fn dotted_versions_compare_numerically() {
        let v = |s: &str| s.parse::<DottedVersion>().unwrap();
        assert!(v("7.10") > v("7.9"));
        assert_eq!(v("7.4"), v("7.4.0"));
        assert!(v("7.8.2-34") > v("7.8.0"));
        assert_eq!(v("7.8.2-34").build(), Some(34));
        assert_eq!(v("6.2.10").major_minor(), (6, 2));
        for bad in ["", "7.", "x", "7.4.x", "1.2.3.4.5", "7-", "7.4-b"] {
            assert!(bad.parse::<DottedVersion>().is_err(), "{bad}");
        }
    }
}
