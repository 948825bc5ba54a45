//! The platforms a module targets: CPU architecture and operating-system nickname.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ManifestError;

/// The CPU architectures RS accepts for a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// 64-bit x86.
    X86_64,
    /// 64-bit ARM.
    Aarch64,
}

impl Arch {
    /// The name as written in `module.json` and in zip file names.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `amd64`/`arm64` are what Debian and Go call them; RS only knows the kernel names.
        match s.trim() {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            other => Err(ManifestError::UnknownArch(other.to_string())),
        }
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An operating-system nickname as RS and the Redis module builds use them (`rhel9`,
/// `ubuntu22.04`, …).
///
/// Aliases are folded into the name RS uses (`rocky8`, `alma8`, `oracle8`, `centos8` → `rhel8`).
/// A well-formed name that rmpack does not know is kept as [`OsNick::Other`] so that reading an
/// existing `module.json` never fails on it; packing refuses it and the validator reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OsNick {
    /// A nickname with a platform entry in rmpack's policy data.
    Known(&'static str),
    /// Any other well-formed nickname.
    Other(String),
}

/// The nicknames and aliases, read once from the platform data (`validate/policy/platforms.json`),
/// the one place a platform is named.
struct NickTable {
    known: Vec<&'static str>,
    aliases: Vec<(&'static str, &'static str)>,
}

fn nick_table() -> &'static NickTable {
    static TABLE: std::sync::OnceLock<NickTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(default)]
            aliases: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Data {
            platforms: std::collections::BTreeMap<String, Entry>,
        }
        // Checked by a unit test; a broken file would fail every test that parses an OS.
        let data: Data = serde_json::from_str(include_str!("../validate/policy/platforms.json"))
            .unwrap_or(Data {
                platforms: Default::default(),
            });
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let mut table = NickTable {
            known: Vec::new(),
            aliases: Vec::new(),
        };
        for (nick, entry) in data.platforms {
            let nick = leak(nick);
            table.known.push(nick);
            for alias in entry.aliases {
                table.aliases.push((leak(alias), nick));
            }
        }
        table
    })
}

impl OsNick {
    /// The nicknames rmpack has platform facts for (glibc, OpenSSL, shipped libraries), from the
    /// platform data.
    pub fn known() -> &'static [&'static str] {
        &nick_table().known
    }

    /// The nickname as RS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            OsNick::Known(s) => s,
            OsNick::Other(s) => s,
        }
    }

    /// Whether rmpack has platform facts for this nickname.
    pub fn is_known(&self) -> bool {
        matches!(self, OsNick::Known(_))
    }

    /// Parses a nickname, refusing unknown ones unless `allow_unknown`.
    pub fn parse(name: &str, allow_unknown: bool) -> Result<Self, ManifestError> {
        let lower = name.trim().to_ascii_lowercase();
        let canonical = nick_table()
            .aliases
            .iter()
            .find(|(alias, _)| *alias == lower)
            .map(|(_, canonical)| *canonical)
            .unwrap_or(lower.as_str());
        if let Some(known) = Self::known().iter().find(|k| **k == canonical) {
            return Ok(OsNick::Known(known));
        }
        let well_formed = !lower.is_empty()
            && lower.len() <= 32
            && lower.starts_with(|c: char| c.is_ascii_lowercase())
            && lower.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' || c == '_'
            });
        if allow_unknown && well_formed {
            Ok(OsNick::Other(lower))
        } else {
            Err(ManifestError::UnknownOs(name.trim().to_string()))
        }
    }
}

impl fmt::Display for OsNick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OsNick {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OsNick::parse(s, false)
    }
}

impl Serialize for OsNick {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OsNick {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        OsNick::parse(&name, true).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_and_aliases() {
        assert_eq!("x86_64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert_eq!("arm64".parse::<Arch>().unwrap(), Arch::Aarch64);
        assert!("armv7l".parse::<Arch>().is_err());
    }

    #[test]
    fn os_aliases_fold_to_the_rs_name() {
        assert_eq!("rocky8".parse::<OsNick>().unwrap().as_str(), "rhel8");
        assert_eq!(
            "Ubuntu22.04".parse::<OsNick>().unwrap().as_str(),
            "ubuntu22.04"
        );
        assert!("windows11".parse::<OsNick>().is_err());
        assert_eq!(
            OsNick::parse("sles15", true).unwrap(),
            OsNick::Other("sles15".into())
        );
        assert!(OsNick::parse("../etc", true).is_err());
    }

    #[test]
    fn nicknames_and_aliases_come_from_the_platform_data() {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("../validate/policy/platforms.json")).unwrap();
        let platforms = data["platforms"].as_object().unwrap();
        assert_eq!(OsNick::known().len(), platforms.len());
        for (nick, platform) in platforms {
            assert_eq!(
                OsNick::parse(nick, false).unwrap(),
                OsNick::Known(nick_static(nick))
            );
            for alias in platform["aliases"].as_array().unwrap() {
                let alias = alias.as_str().unwrap();
                assert_eq!(
                    OsNick::parse(alias, false).unwrap().as_str(),
                    nick,
                    "{alias}"
                );
            }
        }
        assert_eq!("bookworm".parse::<OsNick>().unwrap().as_str(), "debian12");
    }

    fn nick_static(nick: &str) -> &'static str {
        OsNick::known().iter().find(|k| **k == nick).unwrap()
    }
}
