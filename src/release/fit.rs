//! RS's rules for which module build a database and a node may take.

use std::fmt;

use serde_json::{Map, Value};

use crate::manifest::{module_version_from_json, Arch, DottedVersion, ModuleVersion, OsNick};

/// What RS's selection rules read of one module build: a zip's module.json, or a module object
/// the cluster stores (`GET /v1/modules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// `module_name`.
    pub module_name: String,
    /// The integer version (from `version`, else `semantic_version`).
    pub version: ModuleVersion,
    /// The Redis major.minor the build is for.
    pub compatible_redis_version: Option<DottedVersion>,
    /// The oldest Redis it runs on.
    pub min_redis_version: Option<DottedVersion>,
    /// The platforms it holds builds for: from a module object's `platforms` keys
    /// (`rhel9/x86_64`), else `architecture` × `operating_systems` (an empty OS list: any OS).
    pub platforms: Vec<(Option<OsNick>, Option<Arch>)>,
}

/// Why a build does not fit a database's Redis version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMisfit {
    /// `compatible_redis_version` names another Redis feature set.
    OtherFeatureSet {
        /// The build's `compatible_redis_version`.
        compatible: DottedVersion,
        /// The database's Redis.
        redis: DottedVersion,
    },
    /// No `compatible_redis_version`, and `min_redis_version` is above the database's Redis.
    MinAbove {
        /// The build's `min_redis_version`.
        min: DottedVersion,
        /// The database's Redis.
        redis: DottedVersion,
    },
    /// No `compatible_redis_version`, and `min_redis_version` is of another major version.
    OtherMajor {
        /// The build's `min_redis_version`.
        min: DottedVersion,
        /// The database's Redis.
        redis: DottedVersion,
    },
}

impl fmt::Display for RedisMisfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisMisfit::OtherFeatureSet { compatible, redis } => {
                let (major, minor) = redis.major_minor();
                write!(
                    f,
                    "compatible_redis_version is {compatible}, but a Redis {redis} database takes only a build for {major}.{minor}"
                )
            }
            RedisMisfit::MinAbove { min, redis } => write!(
                f,
                "there is no compatible_redis_version and min_redis_version {min} is above Redis {redis}"
            ),
            RedisMisfit::OtherMajor { min, redis } => write!(
                f,
                "there is no compatible_redis_version, and RS then takes a build only for the major version of its min_redis_version ({min}), not Redis {redis}"
            ),
        }
    }
}

/// Why a node cannot take a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformMisfit {
    /// What the build is built for, e.g. `rhel8/x86_64`.
    pub built_for: String,
    /// What the node runs, e.g. `rhel9/x86_64`.
    pub node: String,
}

impl fmt::Display for PlatformMisfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the build is for {}, the node runs {}",
            self.built_for, self.node
        )
    }
}

/// `os/arch` for messages, `?` for what is not known.
pub fn platform_label(os: Option<&OsNick>, arch: Option<Arch>) -> String {
    format!(
        "{}/{}",
        os.map_or("?".to_string(), ToString::to_string),
        arch.map_or("?".to_string(), |a| a.to_string())
    )
}

/// RS's fit rule on its own, for callers that hold the two fields rather than a [`Build`].
pub fn redis_fit(
    compatible: Option<&DottedVersion>,
    min_redis: Option<&DottedVersion>,
    redis: &DottedVersion,
) -> RedisFit {
    if let Some(compatible) = compatible {
        return if compatible.major_minor() == redis.major_minor() {
            Ok(())
        } else {
            Err(Box::new(RedisMisfit::OtherFeatureSet {
                compatible: compatible.clone(),
                redis: redis.clone(),
            }))
        };
    }
    let Some(min) = min_redis else {
        return Ok(());
    };
    if min > redis {
        Err(Box::new(RedisMisfit::MinAbove {
            min: min.clone(),
            redis: redis.clone(),
        }))
    } else if min.major_minor().0 != redis.major_minor().0 {
        Err(Box::new(RedisMisfit::OtherMajor {
            min: min.clone(),
            redis: redis.clone(),
        }))
    } else {
        Ok(())
    }
}

/// Whether a build fits a database's Redis version, and why not.
pub type RedisFit = Result<(), Box<RedisMisfit>>;

/// A version field, written as a string or (by YAML-born manifests) a number.
fn dotted(value: &Map<String, Value>, field: &str) -> Option<DottedVersion> {
    match value.get(field)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

impl Build {
    /// Reads a module.json or a module object; `None` without a name and a version.
    pub fn from_json(value: &Map<String, Value>) -> Option<Build> {
        let module_name = value.get("module_name")?.as_str()?.to_string();
        let version = value
            .get("version")
            .and_then(|v| module_version_from_json(v).ok())
            .or_else(|| {
                ModuleVersion::from_semantic_text(value.get("semantic_version")?.as_str()?)
            })?;
        let arch = value
            .get("architecture")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Arch>().ok());
        let listed = |key: &str| -> Option<Vec<OsNick>> {
            let list = value.get(key)?.as_array()?;
            Some(
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| OsNick::parse(s, true).ok())
                    .collect(),
            )
        };
        let operating_systems = listed("operating_systems")
            .or_else(|| listed("os_list"))
            .unwrap_or_default();
        let keyed: Vec<(Option<OsNick>, Option<Arch>)> = match value.get("platforms") {
            Some(Value::Object(map)) => map
                .keys()
                .filter_map(|key| key.split_once('/'))
                .map(|(os, arch)| (OsNick::parse(os, true).ok(), arch.parse::<Arch>().ok()))
                .collect(),
            _ => Vec::new(),
        };
        let platforms = if !keyed.is_empty() {
            keyed
        } else if operating_systems.is_empty() {
            vec![(None, arch)]
        } else {
            operating_systems
                .into_iter()
                .map(|os| (Some(os), arch))
                .collect()
        };
        Some(Build {
            module_name,
            version,
            compatible_redis_version: dotted(value, "compatible_redis_version"),
            min_redis_version: dotted(value, "min_redis_version"),
            platforms,
        })
    }

    /// Reads a JSON value that should be an object (see [`Build::from_json`]).
    pub fn from_value(value: &Value) -> Option<Build> {
        Build::from_json(value.as_object()?)
    }

    /// `major.minor.patch`.
    pub fn semantic_version(&self) -> String {
        self.version.semantic().to_string()
    }

    /// Whether a database on Redis `redis` may use this build.
    pub fn fits_redis(&self, redis: &DottedVersion) -> RedisFit {
        redis_fit(
            self.compatible_redis_version.as_ref(),
            self.min_redis_version.as_ref(),
            redis,
        )
    }

    /// Whether a node running `os` on `arch` takes this build; what the node does not report is
    /// not held against it.
    pub fn runs_on(&self, os: Option<&OsNick>, arch: Option<Arch>) -> Result<(), PlatformMisfit> {
        let fits = self.platforms.iter().any(|(build_os, build_arch)| {
            let arch_ok = match (build_arch, arch) {
                (Some(b), Some(n)) => *b == n,
                _ => true,
            };
            let os_ok = match (build_os, os) {
                (Some(b), Some(n)) => b.distro() == n.distro() && b.major() == n.major(),
                _ => true,
            };
            arch_ok && os_ok
        });
        if fits {
            Ok(())
        } else {
            Err(PlatformMisfit {
                built_for: self.platforms_label(),
                node: platform_label(os, arch),
            })
        }
    }

    /// The platforms, e.g. `rhel8/x86_64, rhel9/x86_64`.
    pub fn platforms_label(&self) -> String {
        let labels: Vec<String> = self
            .platforms
            .iter()
            .map(|(os, arch)| match os {
                Some(os) => platform_label(Some(os), *arch),
                None => format!("any OS/{}", arch.map_or("?".to_string(), |a| a.to_string())),
            })
            .collect();
        labels.join(", ")
    }

    /// What the build is for, e.g. `8.0.1 (for Redis 8.0)` or `1.2.3 (min Redis 7.2)`.
    pub fn describe(&self) -> String {
        match (&self.compatible_redis_version, &self.min_redis_version) {
            (Some(c), _) => format!("{} (for Redis {c})", self.semantic_version()),
            (None, Some(m)) => format!("{} (min Redis {m})", self.semantic_version()),
            (None, None) => self.semantic_version(),
        }
    }
}

/// The build RS gives a database on Redis `redis` when the request names no version: the
/// highest version of `name` among those that fit (`get_latest_allowed_module()`).
pub fn latest_fitting<'a>(
    builds: impl IntoIterator<Item = &'a Build>,
    name: &str,
    redis: &DottedVersion,
) -> Option<&'a Build> {
    builds
        .into_iter()
        .filter(|b| b.module_name.eq_ignore_ascii_case(name))
        .filter(|b| b.fits_redis(redis).is_ok())
        .max_by_key(|b| b.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(version: &str, compatible: Option<&str>, min: &str) -> Build {
        let mut value = serde_json::json!({
            "module_name": "hello", "semantic_version": version, "min_redis_version": min,
            "architecture": "x86_64", "operating_systems": ["rhel8"],
        });
        if let Some(c) = compatible {
            value["compatible_redis_version"] = c.into();
        }
        Build::from_value(&value).unwrap()
    }

    fn v(text: &str) -> DottedVersion {
        text.parse().unwrap()
    }

    #[test]
    fn a_declared_compatible_version_must_equal_the_databases_major_minor() {
        let b = build("8.2.1", Some("8.2"), "7.4");
        assert_eq!(b.fits_redis(&v("8.2")), Ok(()));
        assert_eq!(b.fits_redis(&v("8.2.3")), Ok(()));
        for other in ["8.0", "8.4", "7.2"] {
            let misfit = b.fits_redis(&v(other)).unwrap_err();
            assert!(
                matches!(*misfit, RedisMisfit::OtherFeatureSet { .. }),
                "{other}"
            );
        }
    }

    #[test]
    fn without_it_min_redis_version_and_the_same_major_decide() {
        let b = build("1.2.3", None, "7.2");
        assert_eq!(b.fits_redis(&v("7.4")), Ok(()));
        assert!(matches!(
            *b.fits_redis(&v("7.0")).unwrap_err(),
            RedisMisfit::MinAbove { .. }
        ));
        assert!(matches!(
            *b.fits_redis(&v("8.0")).unwrap_err(),
            RedisMisfit::OtherMajor { .. }
        ));
        let old = build("1.0.0", None, "6.0");
        assert!(old.fits_redis(&v("7.2")).is_err(), "6.0 never fits 7.x");
    }

    #[test]
    fn the_latest_fitting_build_is_picked_per_redis_version() {
        let builds = [
            build("8.0.0", Some("8.0"), "8.0"),
            build("8.0.1", Some("8.0"), "8.0"),
            build("8.2.0", Some("8.2"), "8.0"),
            build("8.2.1", Some("8.2"), "8.0"),
            build("8.4.0", Some("8.4"), "8.0"),
        ];
        let pick =
            |redis: &str| latest_fitting(&builds, "HELLO", &v(redis)).map(Build::semantic_version);
        assert_eq!(pick("8.0").as_deref(), Some("8.0.1"));
        assert_eq!(pick("8.2").as_deref(), Some("8.2.1"));
        assert_eq!(pick("8.4").as_deref(), Some("8.4.0"));
        assert_eq!(pick("7.4"), None);
    }

    #[test]
    fn a_node_takes_a_build_of_its_distro_major_and_architecture() {
        let b = build("1.2.3", None, "7.2");
        let os = |s: &str| OsNick::parse(s, true).unwrap();
        assert!(b.runs_on(Some(&os("rocky8")), Some(Arch::X86_64)).is_ok());
        assert!(b.runs_on(Some(&os("rhel8.9")), None).is_ok());
        let misfit = b
            .runs_on(Some(&os("rhel9")), Some(Arch::X86_64))
            .unwrap_err();
        assert_eq!(
            misfit.to_string(),
            "the build is for rhel8/x86_64, the node runs rhel9/x86_64"
        );
        assert!(b.runs_on(Some(&os("rhel8")), Some(Arch::Aarch64)).is_err());
        let object = Build::from_value(&serde_json::json!({
            "module_name": "hello", "version": 10203,
            "platforms": {"rhel9/x86_64": {}, "ubuntu22.04/aarch64": {}}
        }))
        .unwrap();
        assert!(object
            .runs_on(Some(&os("ubuntu22")), Some(Arch::Aarch64))
            .is_ok());
        assert!(object
            .runs_on(Some(&os("rhel9")), Some(Arch::X86_64))
            .is_ok());
        assert!(object
            .runs_on(Some(&os("rhel8")), Some(Arch::X86_64))
            .is_err());
        let anywhere = Build::from_value(&serde_json::json!({
            "module_name": "hello", "version": 10203, "architecture": "x86_64"
        }))
        .unwrap();
        assert!(anywhere
            .runs_on(Some(&os("amzn2")), Some(Arch::X86_64))
            .is_ok());
    }
}
