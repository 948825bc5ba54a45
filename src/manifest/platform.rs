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

/// An operating system as RS and RAMP name it: a distro id and its major version (`rhel8`,
/// `ubuntu22`, `amzn2023`).
///
/// RS's unpacker reads each `operating_systems` entry as a name followed by a version
/// (`ubuntu22.04` is ubuntu/22.04, `ubuntu22` is ubuntu/22) and refuses one it cannot split
/// (`module_os_list_invalid`); a node names its own OS as name + major (`rhel9`), and the two are
/// compared by name and major version. So every spelling users and other tools write
/// (`ubuntu22.04`, `jammy`, `rocky9`, `alma8`, `Ubuntu22`) is read as the same platform, folded
/// into RAMP's form, which module.json carries. Zip file names keep Redis's longer spelling
/// ([`OsNick::file_name_spelling`], `ubuntu22.04`).
///
/// A well-formed name rmpack has no platform facts for (`sles15`) is kept, so reading an
/// existing `module.json` never fails on it; packing refuses it and the validator reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OsNick {
    distro: String,
    major: u64,
    canonical: String,
}

/// The spellings, read once from the platform data (`validate/policy/platforms.json`), the one
/// place a platform is named.
struct NickTable {
    /// Canonical nicknames with platform facts, and the spelling zip file names use for each.
    known: Vec<(&'static str, &'static str)>,
    /// Only the canonical nicknames, for listing.
    names: Vec<&'static str>,
    /// Other distributions' ids → the id RS uses for the same base (`rocky` → `rhel`).
    distro_aliases: Vec<(String, String)>,
    /// Codenames → canonical nickname (`jammy` → `ubuntu22`).
    codenames: Vec<(String, String)>,
}

fn nick_table() -> &'static NickTable {
    static TABLE: std::sync::OnceLock<NickTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        #[derive(Deserialize)]
        struct Entry {
            file_name: String,
        }
        #[derive(Deserialize, Default)]
        struct Data {
            #[serde(default)]
            distro_aliases: std::collections::BTreeMap<String, String>,
            #[serde(default)]
            codenames: std::collections::BTreeMap<String, String>,
            #[serde(default)]
            platforms: std::collections::BTreeMap<String, Entry>,
        }
        // Checked by a unit test; a broken file would fail every test that parses an OS.
        let data: Data = serde_json::from_str(include_str!("../validate/policy/platforms.json"))
            .unwrap_or_default();
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let known: Vec<(&'static str, &'static str)> = data
            .platforms
            .into_iter()
            .map(|(nick, entry)| (leak(nick), leak(entry.file_name)))
            .collect();
        NickTable {
            names: known.iter().map(|(n, _)| *n).collect(),
            known,
            distro_aliases: data.distro_aliases.into_iter().collect(),
            codenames: data.codenames.into_iter().collect(),
        }
    })
}

/// `ubuntu22.04` → (`ubuntu`, `22.04`): a name of letters, then a dotted number, as RS's unpacker
/// splits an entry; `None` for anything else.
fn split_name_version(text: &str) -> Option<(&str, &str)> {
    let split = text.find(|c: char| c.is_ascii_digit())?;
    let (name, version) = text.split_at(split);
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase());
    let version_ok = version.split('.').all(|part| {
        !part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit())
    });
    (name_ok && version_ok).then_some((name, version))
}

/// The id RS uses for a distribution id or alias (`rocky` → `rhel`), else the id itself.
fn fold_distro(name: &str) -> String {
    nick_table()
        .distro_aliases
        .iter()
        .find(|(alias, _)| alias == name)
        .map_or_else(|| name.to_string(), |(_, id)| id.clone())
}

impl OsNick {
    /// The nicknames rmpack has platform facts for (glibc, OpenSSL, shipped libraries), from the
    /// platform data.
    pub fn known() -> &'static [&'static str] {
        &nick_table().names
    }

    /// The nickname in RAMP's form, as module.json carries it (`ubuntu22`).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The distro id (`rhel`, `ubuntu`, `amzn`, …).
    pub fn distro(&self) -> &str {
        &self.distro
    }

    /// The major version (`22` for Ubuntu 22.04).
    pub fn major(&self) -> u64 {
        self.major
    }

    /// Whether rmpack has platform facts for this nickname.
    pub fn is_known(&self) -> bool {
        Self::known().contains(&self.canonical.as_str())
    }

    /// The spelling Redis's zip file names use (`ubuntu22.04` for `ubuntu22`; the nickname itself
    /// where the two agree or rmpack knows no other).
    pub fn file_name_spelling(&self) -> &str {
        nick_table()
            .known
            .iter()
            .find(|(nick, _)| *nick == self.canonical)
            .map_or(self.canonical.as_str(), |(_, file_name)| file_name)
    }

    fn from_parts(distro: &str, version: &str) -> Option<OsNick> {
        let distro = fold_distro(distro);
        let major: u64 = version.split('.').next()?.parse().ok()?;
        let canonical = format!("{distro}{major}");
        Some(OsNick {
            distro,
            major,
            canonical,
        })
    }

    /// Reads an operating system the way RS's unpacker does (name + version), after folding
    /// codenames (`jammy`) and other distributions' ids (`rocky9`). An entry that is not a name
    /// followed by a version is [`ManifestError::InvalidOs`] (RS: `module_os_list_invalid`); a
    /// well-formed one without platform facts is refused unless `allow_unknown`.
    pub fn parse(name: &str, allow_unknown: bool) -> Result<Self, ManifestError> {
        let lower = name.trim().to_ascii_lowercase();
        let table = nick_table();
        let spelled = table
            .codenames
            .iter()
            .find(|(codename, _)| *codename == lower)
            .map_or(lower.as_str(), |(_, nick)| nick.as_str());
        let nick = split_name_version(spelled)
            .and_then(|(distro, version)| Self::from_parts(distro, version))
            .filter(|_| spelled.len() <= 32)
            .ok_or_else(|| ManifestError::InvalidOs(name.trim().to_string()))?;
        if nick.is_known() || allow_unknown {
            Ok(nick)
        } else {
            Err(ManifestError::UnknownOs(name.trim().to_string()))
        }
    }

    /// The OS a node reports (`GET /v1/nodes`: `os_name`, `os_semantic_version`, else the release
    /// in `os_version`), named the way RS names it: `ubuntu` + `22.04` → `ubuntu22`, `Rocky
    /// Linux` + `9.3` → `rhel9`, an `os_name` that is itself a nickname (`rhel8`) as it is.
    /// `None` when the node does not say enough.
    pub fn of_node(
        os_name: Option<&str>,
        os_semantic_version: Option<&str>,
        os_version: Option<&str>,
    ) -> Option<OsNick> {
        let name = os_name?.trim().to_ascii_lowercase();
        if let Ok(nick) = OsNick::parse(&name, true) {
            return Some(nick);
        }
        // "Red Hat Enterprise Linux", "Rocky Linux", "Amazon Linux": letters only, matched by
        // the longest alias they start with; short aliases (`ol`) only as the whole name.
        let compact: String = name.chars().filter(char::is_ascii_alphabetic).collect();
        let distro = nick_table()
            .distro_aliases
            .iter()
            .filter(|(alias, _)| {
                *alias == compact || (alias.len() >= 4 && compact.starts_with(alias.as_str()))
            })
            .max_by_key(|(alias, _)| alias.len())
            .map_or_else(|| compact.clone(), |(_, id)| id.clone());
        if distro.is_empty() {
            return None;
        }
        let release = |text: &str| -> Option<String> {
            let start = text.find(|c: char| c.is_ascii_digit())?;
            let digits: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            Some(digits.trim_end_matches('.').to_string())
        };
        let version = os_semantic_version
            .and_then(release)
            .or_else(|| os_version.and_then(release))?;
        Self::from_parts(&distro, &version)
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
    fn every_spelling_reads_as_rs_and_ramp_name_the_platform() {
        let nick = |s: &str| OsNick::parse(s, false).unwrap().to_string();
        for (spelling, expected) in [
            ("ubuntu22", "ubuntu22"),
            ("ubuntu22.04", "ubuntu22"),
            ("Ubuntu22.04", "ubuntu22"),
            ("jammy", "ubuntu22"),
            ("focal", "ubuntu20"),
            ("noble", "ubuntu24"),
            ("rocky9", "rhel9"),
            ("alma8", "rhel8"),
            ("almalinux9", "rhel9"),
            ("oracle8", "rhel8"),
            ("ol9", "rhel9"),
            ("centos7", "rhel7"),
            ("rhel8.9", "rhel8"),
            ("amzn2", "amzn2"),
            ("amzn2023", "amzn2023"),
            ("bookworm", "debian12"),
            (" debian12 ", "debian12"),
        ] {
            assert_eq!(nick(spelling), expected, "{spelling}");
        }
        assert_eq!(
            OsNick::parse("ubuntu22.04", false).unwrap(),
            OsNick::parse("jammy", false).unwrap()
        );
    }

    #[test]
    fn what_rs_cannot_split_is_invalid_and_what_rmpack_does_not_know_is_unknown() {
        for bad in [
            "ubuntu",
            "22.04",
            "",
            "ubuntu-22.04",
            "../etc",
            "rhel8.",
            "x86_64",
            "ubuntu 22",
        ] {
            assert!(
                matches!(OsNick::parse(bad, true), Err(ManifestError::InvalidOs(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            OsNick::parse("sles15", false),
            Err(ManifestError::UnknownOs(_))
        ));
        let sles = OsNick::parse("sles15.4", true).unwrap();
        assert_eq!(sles.as_str(), "sles15");
        assert!(!sles.is_known());
        assert_eq!(sles.file_name_spelling(), "sles15");
    }

    #[test]
    fn zip_file_names_keep_the_longer_spelling() {
        let spelling = |s: &str| {
            OsNick::parse(s, false)
                .unwrap()
                .file_name_spelling()
                .to_string()
        };
        assert_eq!(spelling("ubuntu22"), "ubuntu22.04");
        assert_eq!(spelling("jammy"), "ubuntu22.04");
        assert_eq!(spelling("rocky8"), "rhel8");
        assert_eq!(spelling("amzn2"), "amzn2");
    }

    #[test]
    fn a_node_names_its_os_as_name_and_major() {
        let of = |name: &str, semantic: &str, text: &str| {
            OsNick::of_node(
                Some(name),
                Some(semantic).filter(|s| !s.is_empty()),
                Some(text),
            )
            .map(|n| n.to_string())
        };
        assert_eq!(of("ubuntu", "22.04", "").as_deref(), Some("ubuntu22"));
        assert_eq!(of("Ubuntu", "20.04.6", "").as_deref(), Some("ubuntu20"));
        assert_eq!(of("rhel", "8.9", "").as_deref(), Some("rhel8"));
        assert_eq!(
            of("Red Hat Enterprise Linux", "9.4", "").as_deref(),
            Some("rhel9")
        );
        assert_eq!(of("Rocky Linux", "9.3", "").as_deref(), Some("rhel9"));
        assert_eq!(of("amzn", "2", "").as_deref(), Some("amzn2"));
        assert_eq!(of("Amazon Linux", "2023", "").as_deref(), Some("amzn2023"));
        assert_eq!(of("rhel8", "", "").as_deref(), Some("rhel8"));
        assert_eq!(
            of("ubuntu", "", "Ubuntu 22.04.3 LTS").as_deref(),
            Some("ubuntu22")
        );
        assert_eq!(of("sles", "15", "").as_deref(), Some("sles15"));
        assert_eq!(OsNick::of_node(Some("ubuntu"), None, None), None);
        assert_eq!(OsNick::of_node(None, Some("22.04"), None), None);
    }

    #[test]
    fn nicknames_come_from_the_platform_data() {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("../validate/policy/platforms.json")).unwrap();
        let platforms = data["platforms"].as_object().unwrap();
        assert_eq!(OsNick::known().len(), platforms.len());
        for (nick, platform) in platforms {
            let parsed = OsNick::parse(nick, false).unwrap();
            assert_eq!(
                parsed.as_str(),
                nick,
                "a platform key is its own canonical name"
            );
            let file_name = platform["file_name"].as_str().unwrap();
            assert_eq!(
                OsNick::parse(file_name, false).unwrap(),
                parsed,
                "{file_name}"
            );
        }
        for (codename, nick) in data["codenames"].as_object().unwrap() {
            assert_eq!(OsNick::parse(codename, false).unwrap().as_str(), nick);
        }
    }
}
