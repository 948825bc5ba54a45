//! Building a [`Target`]: from what a user states offline ([`TargetSpec`], text as flags give
//! it), then completed from what a live cluster reports ([`Target::completed_from`]).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Target;
use crate::input::{InputError, InputKind};
use crate::manifest::{Arch, DottedVersion, ManifestError, ModuleVersion, OsNick};

/// A target as a user states it, in text: each field as its command-line flag gives it.
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// OS nicknames (`--os`), e.g. `rhel9`, `ubuntu22.04`, `jammy`.
    pub operating_systems: Vec<String>,
    /// Architectures (`--arch`): `x86_64`, `aarch64`.
    pub architectures: Vec<String>,
    /// Redis version of the target database (`--redis-version`), e.g. `7.4.2`.
    pub redis_version: Option<String>,
    /// RS version of the target cluster (`--rs-version`), e.g. `7.8.2`.
    pub rs_version: Option<String>,
    /// A file holding a database object as `GET /v1/bdbs/{uid}` returns it (`--db-config`).
    pub database_config: Option<PathBuf>,
    /// Version of the module already on the cluster (`--current-version`): `10203` or `1.2.3`.
    pub current_version: Option<String>,
}

/// Why a [`TargetSpec`] does not make a target. Each variant names the flag the value came from.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A value that does not parse; the message is the flag, its cause says what is wrong.
    #[error("{flag}")]
    BadValue {
        /// The flag, e.g. `--os`.
        flag: &'static str,
        /// What is wrong with the value, and what is accepted.
        source: ManifestError,
    },
    /// The database configuration file cannot be read.
    #[error("cannot read --db-config {}", path.display())]
    ReadDatabaseConfig {
        /// The file given.
        path: PathBuf,
        /// Why it cannot be read.
        source: InputError,
    },
    /// The database configuration file is not JSON.
    #[error("--db-config {} is not JSON", path.display())]
    DatabaseConfigNotJson {
        /// The file given.
        path: PathBuf,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// The database configuration file holds a list or a plain value.
    #[error("--db-config {} must hold one database object (GET /v1/bdbs/<uid>), not a list or a value", path.display())]
    DatabaseConfigNotObject {
        /// The file given.
        path: PathBuf,
    },
}

impl TargetSpec {
    /// The target these values describe; the first value that does not parse is refused, and
    /// the database configuration file is read (through the bounded reader) and checked.
    pub fn resolve(&self) -> Result<Target, TargetError> {
        let bad = |flag| move |source| TargetError::BadValue { flag, source };
        let mut target = Target::default();
        for name in &self.operating_systems {
            target
                .operating_systems
                .push(OsNick::parse(name, false).map_err(bad("--os"))?);
        }
        for name in &self.architectures {
            target
                .architectures
                .push(name.parse::<Arch>().map_err(bad("--arch"))?);
        }
        if let Some(version) = &self.redis_version {
            target.redis_version = Some(
                version
                    .parse::<DottedVersion>()
                    .map_err(bad("--redis-version"))?,
            );
        }
        if let Some(version) = &self.rs_version {
            target.rs_version = Some(
                version
                    .parse::<DottedVersion>()
                    .map_err(bad("--rs-version"))?,
            );
        }
        if let Some(path) = &self.database_config {
            target.database = Some(read_database_config(path)?);
        }
        if let Some(version) = &self.current_version {
            target.current_version =
                Some(ModuleVersion::parse_any(version).map_err(bad("--current-version"))?);
        }
        Ok(target)
    }
}

/// Reads a database configuration file: one database object, as `GET /v1/bdbs/{uid}` returns
/// it or wrapped as the body of `POST /v2/bdbs` (`{"bdb": {...}}`).
pub fn read_database_config(path: &Path) -> Result<Value, TargetError> {
    let bytes = crate::input::read_file(path, InputKind::DatabaseConfig).map_err(|source| {
        TargetError::ReadDatabaseConfig {
            path: path.to_path_buf(),
            source,
        }
    })?;
    database_from_json(&bytes, path)
}

/// The database object in `bytes`, read from `path` (named in errors): a plain object, or the
/// object under `bdb` when the JSON is a `POST /v2/bdbs` body.
pub fn database_from_json(bytes: &[u8], path: &Path) -> Result<Value, TargetError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|source| TargetError::DatabaseConfigNotJson {
            path: path.to_path_buf(),
            source,
        })?;
    let database = match value.get("bdb") {
        Some(inner) if inner.is_object() => inner.clone(),
        _ => value,
    };
    if database.is_object() {
        Ok(database)
    } else {
        Err(TargetError::DatabaseConfigNotObject {
            path: path.to_path_buf(),
        })
    }
}

impl Target {
    /// This target completed from `live`, what a cluster reports: every value this target
    /// states wins (a list when it is not empty), what it leaves out comes from `live`, and the
    /// facts only a cluster gives ([`Target::cluster`]) are always `live`'s.
    pub fn completed_from(self, live: Target) -> Target {
        Target {
            operating_systems: stated_or(self.operating_systems, live.operating_systems),
            architectures: stated_or(self.architectures, live.architectures),
            redis_version: self.redis_version.or(live.redis_version),
            rs_version: self.rs_version.or(live.rs_version),
            database: self.database.or(live.database),
            current_version: self.current_version.or(live.current_version),
            cluster: live.cluster,
        }
    }
}

/// The list stated, unless it is empty: then the one reported.
fn stated_or<T>(stated: Vec<T>, reported: Vec<T>) -> Vec<T> {
    if stated.is_empty() {
        reported
    } else {
        stated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::ClusterFacts;

    /// The error and its causes, as the binary prints them.
    fn chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(&format!(" / {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn an_empty_spec_is_the_empty_target() {
        let target = TargetSpec::default().resolve().unwrap();
        assert!(target.operating_systems.is_empty() && target.architectures.is_empty());
        assert!(target.redis_version.is_none() && target.database.is_none());
    }

    #[test]
    fn every_value_is_read_into_its_type() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bdb.json");
        std::fs::write(
            &config,
            r#"{"name": "cache", "eviction_policy": "allkeys-lru"}"#,
        )
        .unwrap();
        let spec = TargetSpec {
            operating_systems: vec!["rhel9".into(), "jammy".into()],
            architectures: vec!["aarch64".into()],
            redis_version: Some("7.4.2".into()),
            rs_version: Some("7.8".into()),
            database_config: Some(config),
            current_version: Some("1.2.3".into()),
        };
        let target = spec.resolve().unwrap();
        let os: Vec<String> = target
            .operating_systems
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(os, ["rhel9", "ubuntu22"]);
        assert_eq!(target.architectures, [Arch::Aarch64]);
        assert_eq!(target.redis_version.unwrap().to_string(), "7.4.2");
        assert_eq!(target.rs_version.unwrap().to_string(), "7.8");
        assert_eq!(target.database.unwrap()["name"], "cache");
        assert_eq!(target.current_version, Some(ModuleVersion(10203)));
        let integer = TargetSpec {
            current_version: Some("10203".into()),
            ..TargetSpec::default()
        };
        assert_eq!(
            integer.resolve().unwrap().current_version,
            Some(ModuleVersion(10203))
        );
    }

    #[test]
    fn a_bad_value_names_its_flag_then_what_is_wrong() {
        let cases: Vec<(TargetSpec, &str, &str)> = vec![
            (
                TargetSpec {
                    operating_systems: vec!["rhel9".into(), "plan9".into()],
                    ..TargetSpec::default()
                },
                "--os",
                "plan9",
            ),
            (
                TargetSpec {
                    architectures: vec!["armv7l".into()],
                    ..TargetSpec::default()
                },
                "--arch",
                "armv7l",
            ),
            (
                TargetSpec {
                    redis_version: Some("seven".into()),
                    ..TargetSpec::default()
                },
                "--redis-version",
                "seven",
            ),
            (
                TargetSpec {
                    rs_version: Some("7.x".into()),
                    ..TargetSpec::default()
                },
                "--rs-version",
                "7.x",
            ),
            (
                TargetSpec {
                    current_version: Some("1.2".into()),
                    ..TargetSpec::default()
                },
                "--current-version",
                "1.2",
            ),
        ];
        for (spec, flag, value) in cases {
            let error = spec.resolve().unwrap_err();
            assert!(matches!(error, TargetError::BadValue { .. }), "{flag}");
            assert_eq!(error.to_string(), flag);
            let text = chain(&error);
            assert!(text.contains(value), "{flag}: {text}");
        }
    }

    #[test]
    fn a_database_config_is_one_object_plain_or_under_bdb() {
        let path = Path::new("bdb.json");
        let plain = database_from_json(br#"{"name": "a"}"#, path).unwrap();
        assert_eq!(plain["name"], "a");
        let wrapped = database_from_json(br#"{"bdb": {"name": "b"}, "x": 1}"#, path).unwrap();
        assert_eq!(wrapped, serde_json::json!({"name": "b"}));
        // `bdb` that is no object is just a field of a plain database object.
        let field = database_from_json(br#"{"bdb": 3, "name": "c"}"#, path).unwrap();
        assert_eq!(field["name"], "c");
    }

    #[test]
    fn a_database_config_that_is_no_object_or_no_json_is_refused() {
        let path = Path::new("dir/bdb.json");
        for text in ["[{\"name\": \"a\"}]", "42", "\"bdb\"", "null"] {
            let error = database_from_json(text.as_bytes(), path).unwrap_err();
            assert!(
                matches!(error, TargetError::DatabaseConfigNotObject { .. }),
                "{text}"
            );
            assert_eq!(
                error.to_string(),
                "--db-config dir/bdb.json must hold one database object (GET /v1/bdbs/<uid>), not a list or a value"
            );
        }
        let error = database_from_json(b"{\"name\": ", path).unwrap_err();
        assert!(matches!(error, TargetError::DatabaseConfigNotJson { .. }));
        assert!(
            chain(&error).starts_with("--db-config dir/bdb.json is not JSON / EOF"),
            "{}",
            chain(&error)
        );
    }

    #[test]
    fn a_database_config_file_that_cannot_be_read_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TargetSpec {
            database_config: Some(dir.path().to_path_buf()),
            ..TargetSpec::default()
        };
        let error = spec.resolve().unwrap_err();
        assert!(matches!(error, TargetError::ReadDatabaseConfig { .. }));
        let text = chain(&error);
        assert!(
            text.starts_with(&format!(
                "cannot read --db-config {} / ",
                dir.path().display()
            )),
            "{text}"
        );
        assert!(text.contains("a directory"), "{text}");
        let missing = dir.path().join("absent.json");
        assert!(matches!(
            read_database_config(&missing).unwrap_err(),
            TargetError::ReadDatabaseConfig { .. }
        ));
    }

    fn live() -> Target {
        Target {
            operating_systems: vec![OsNick::parse("rhel8", false).unwrap()],
            architectures: vec![Arch::X86_64],
            redis_version: Some("7.2".parse().unwrap()),
            rs_version: Some("7.4.2".parse().unwrap()),
            database: Some(serde_json::json!({"name": "live"})),
            current_version: Some(ModuleVersion(10000)),
            cluster: Some(ClusterFacts {
                source: "https://cluster:9443".into(),
                ..ClusterFacts::default()
            }),
        }
    }

    #[test]
    fn what_the_user_states_wins_over_the_cluster() {
        let stated = Target {
            operating_systems: vec![OsNick::parse("rhel9", false).unwrap()],
            architectures: vec![Arch::Aarch64],
            redis_version: Some("7.4".parse().unwrap()),
            rs_version: Some("7.8.2".parse().unwrap()),
            database: Some(serde_json::json!({"name": "stated"})),
            current_version: Some(ModuleVersion(10203)),
            // A cluster part given offline is no user's statement: the live one replaces it.
            cluster: Some(ClusterFacts {
                source: "stale".into(),
                ..ClusterFacts::default()
            }),
        };
        let target = stated.completed_from(live());
        assert_eq!(target.operating_systems[0].to_string(), "rhel9");
        assert_eq!(target.operating_systems.len(), 1);
        assert_eq!(target.architectures, [Arch::Aarch64]);
        assert_eq!(target.redis_version.unwrap().to_string(), "7.4");
        assert_eq!(target.rs_version.unwrap().to_string(), "7.8.2");
        assert_eq!(target.database.unwrap()["name"], "stated");
        assert_eq!(target.current_version, Some(ModuleVersion(10203)));
        assert_eq!(target.cluster.unwrap().source, "https://cluster:9443");
    }

    #[test]
    fn what_the_user_leaves_out_comes_from_the_cluster() {
        let target = Target::default().completed_from(live());
        assert_eq!(target.operating_systems[0].to_string(), "rhel8");
        assert_eq!(target.architectures, [Arch::X86_64]);
        assert_eq!(target.redis_version.unwrap().to_string(), "7.2");
        assert_eq!(target.rs_version.unwrap().to_string(), "7.4.2");
        assert_eq!(target.database.unwrap()["name"], "live");
        assert_eq!(target.current_version, Some(ModuleVersion(10000)));
        assert!(target.cluster.is_some());
        // A cluster that reports nothing leaves the stated target as it was, without cluster facts.
        let stated = Target {
            redis_version: Some("7.4".parse().unwrap()),
            ..Target::default()
        };
        let target = stated.completed_from(Target::default());
        assert_eq!(target.redis_version.unwrap().to_string(), "7.4");
        assert!(target.cluster.is_none() && target.operating_systems.is_empty());
    }
}
