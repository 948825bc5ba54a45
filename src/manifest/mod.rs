//! The `module.json` model and the inputs it is built from.
//!
//! [`ModuleJson`] is every field RS and RAMP know, as typed Rust. It reads what RAMP wrote (a float
//! `version`, keys rmpack does not model, capability and OS names it does not know) and writes
//! canonical JSON: sorted keys, sorted lists, an integer `version`.
//!
//! [`ManifestInput`] is what an author gives: an `rmpack.toml`, RAMP's `ramp.yml`, or flags.

mod capability;
mod command;
mod input;
pub mod layout;
pub mod pieces;
mod platform;
mod version;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use capability::{Capability, CapabilityName};
pub use command::{apply_command_edits, Command};
pub use input::{split_module_args, DependencySpec, ManifestInput};
pub use platform::{Arch, OsNick};
pub use version::{
    module_version_from_json, redis_feature_set, redis_feature_sets, DottedVersion, FeatureSet,
    ModuleVersion, SemanticVersion,
};

/// The value of `os` RS expects.
pub const OS_LINUX: &str = "Linux";
/// RAMP's default `min_redis_version`.
pub const DEFAULT_MIN_REDIS_VERSION: &str = "4.0";
/// RAMP's default `min_redis_pack_version`.
pub const DEFAULT_MIN_REDIS_PACK_VERSION: &str = "5.2";
/// The `ramp_format_version` this crate writes.
pub const RAMP_FORMAT_VERSION: u64 = 1;
/// The fields RS's user-defined module endpoint requires in its JSON body.
pub const USER_DEFINED_REQUIRED_FIELDS: &[&str] = &[
    "module_name",
    "version",
    "semantic_version",
    "display_name",
    "commands",
    "command_line_args",
    "capabilities",
    "min_redis_version",
];

/// Errors in manifest values: each names the offending value and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// `version` is not a non-negative integer.
    #[error("module version `{0}` is not a non-negative integer (e.g. 10203 for 1.2.3)")]
    BadModuleVersion(String),
    /// `semantic_version` is not `major.minor.patch`.
    #[error("semantic version `{0}` is not of the form major.minor.patch (e.g. 1.2.3)")]
    BadSemanticVersion(String),
    /// A semantic version that no integer version maps to.
    #[error("semantic version `{0}` cannot be expressed as an RS module version: minor and patch must be below 100")]
    SemanticOutOfRange(String),
    /// `version` and `semantic_version` disagree.
    #[error("version {version} means semantic version {expected}, but semantic_version is `{semantic_version}`; give one of them or make them agree")]
    VersionMismatch {
        /// The integer version.
        version: u64,
        /// The semantic version given.
        semantic_version: String,
        /// What the integer version implies.
        expected: String,
    },
    /// A Redis or RS version string that does not parse.
    #[error("version `{0}` is not a dotted release number (e.g. 7.2 or 7.4.2)")]
    BadDottedVersion(String),
    /// A `compatible_redis_version` naming a Redis feature set that does not exist.
    #[error("compatible_redis_version {0} is not a Redis feature set (Redis releases {known}); RS would never give this build to a database. Set it to the Redis major.minor the build is for", known = redis_feature_sets().iter().map(|(a, b)| format!("{a}.{b}")).collect::<Vec<_>>().join(", "))]
    ImpossibleRedisVersion(String),
    /// A capability name outside the known list.
    #[error("unknown capability `{0}`; known capabilities: {known} (use --allow-unknown-capability to keep it anyway)", known = known_capabilities())]
    UnknownCapability(String),
    /// An architecture RS does not accept.
    #[error("architecture `{0}` is not one RS accepts; use x86_64 or aarch64")]
    UnknownArch(String),
    /// An OS nickname rmpack has no platform facts for.
    #[error("unknown operating system `{0}`; known: {known} (other spellings such as ubuntu22.04, jammy or rocky9 are read as these)", known = OsNick::known().join(", "))]
    UnknownOs(String),
    /// An operating system that is not a distro id followed by its version, which RS's unpacker
    /// refuses (`module_os_list_invalid`).
    #[error("operating system `{0}` is not a distro id followed by its version (e.g. rhel9, ubuntu22, amzn2023); RS refuses such an entry (module_os_list_invalid)")]
    InvalidOs(String),
    /// A dependency entry that is not usable.
    #[error("dependency `{name}`: {problem}")]
    BadDependency {
        /// The dependency's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A module argument that cannot be stored in `command_line_args`.
    #[error("module argument `{0}` contains white space or is empty; RS splits command_line_args on spaces, so give each argument separately without spaces")]
    BadModuleArg(String),
    /// A required field is missing.
    #[error("`{0}` is missing: {1}")]
    Missing(&'static str, &'static str),
    /// A `module.json` that does not parse.
    #[error("module.json is not valid: {0}")]
    Json(String),
    /// An `rmpack.toml` that does not parse.
    #[error("{path} is not a valid rmpack manifest: {message}")]
    Toml {
        /// The manifest path.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A `ramp.yml` that does not parse.
    #[error("{path} is not a valid RAMP manifest: {message}")]
    Yaml {
        /// The manifest path.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A manifest that cannot be read.
    #[error("cannot read manifest {path}: {source}")]
    Io {
        /// The manifest path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn known_capabilities() -> String {
    Capability::ALL
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A dependency as `module.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// Where RS downloads it from; absent for a dependency embedded as `deps/<name>.tgz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Hex SHA-256 of the archive.
    pub sha256: String,
}

/// Whether `s` is 64 lower- or upper-case hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `module.json` inside a module zip: every field RS and RAMP know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleJson {
    /// Name the module passes to `RedisModule_Init`.
    pub module_name: String,
    /// File name of the `.so` inside the zip.
    #[serde(default)]
    pub module_file: String,
    /// Integer version (`MODULE LIST` → `ver`).
    pub version: ModuleVersion,
    /// `major.minor.patch` derived from `version`.
    #[serde(default)]
    pub semantic_version: String,
    /// CPU architecture of the `.so`, from its ELF header.
    pub architecture: Arch,
    /// Always `Linux`.
    #[serde(default = "default_os")]
    pub os: String,
    /// OS nicknames the build targets, sorted (RS also reads the older key `os_list`).
    #[serde(default, alias = "os_list")]
    pub operating_systems: Vec<OsNick>,
    /// Hex SHA-256 of the `.so`.
    #[serde(default)]
    pub sha256: String,
    /// The module's commands, sorted by name.
    #[serde(default)]
    pub commands: Vec<Command>,
    /// Oldest Redis version the module runs on.
    #[serde(default = "default_min_redis")]
    pub min_redis_version: DottedVersion,
    /// Oldest RS version the module runs on.
    #[serde(default = "default_min_pack")]
    pub min_redis_pack_version: DottedVersion,
    /// The Redis version this build is meant for; RS picks the module build per database by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatible_redis_version: Option<DottedVersion>,
    /// Database features the module supports, sorted.
    #[serde(default)]
    pub capabilities: Vec<CapabilityName>,
    /// Required dependencies by name.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Dependency>,
    /// Optional dependencies by name.
    #[serde(default, rename = "optional-dependencies")]
    pub optional_dependencies: BTreeMap<String, Dependency>,
    /// Commands the manifest removed from the discovered list.
    #[serde(default)]
    pub exclude_commands: Vec<String>,
    /// Commands the manifest replaced (RAMP's spelling).
    #[serde(default)]
    pub overide_command: Vec<Command>,
    /// Commands the manifest added.
    #[serde(default)]
    pub add_command: Vec<Command>,
    /// The module's configuration command, if any (e.g. `json.config`).
    #[serde(default)]
    pub config_command: String,
    /// Arguments RS passes to the module when loading it, space separated.
    #[serde(default)]
    pub command_line_args: String,
    /// Name shown in the RS UI.
    #[serde(default)]
    pub display_name: String,
    /// Name shown for the module's capability set.
    #[serde(default)]
    pub capability_name: String,
    /// Author's name.
    #[serde(default)]
    pub author: String,
    /// Author's e-mail.
    #[serde(default)]
    pub email: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Project home page.
    #[serde(default)]
    pub homepage: String,
    /// License name.
    #[serde(default)]
    pub license: String,
    /// Whether the module supports Auto Tiering's second bigstore version.
    #[serde(default)]
    pub bigstore_version_2_support: bool,
    /// Active-Active settings, e.g. `{"supported_featureset_versions": [1, 3]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crdb: Option<Value>,
    /// Format version of this file.
    #[serde(default = "default_ramp_format")]
    pub ramp_format_version: u64,
    /// Commit of the module source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    /// Keys rmpack does not model, kept as they were read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_os() -> String {
    OS_LINUX.to_string()
}

fn default_min_redis() -> DottedVersion {
    DEFAULT_MIN_REDIS_VERSION
        .parse()
        .unwrap_or_else(|_| unreachable!("constant parses"))
}

fn default_min_pack() -> DottedVersion {
    DEFAULT_MIN_REDIS_PACK_VERSION
        .parse()
        .unwrap_or_else(|_| unreachable!("constant parses"))
}

fn default_ramp_format() -> u64 {
    RAMP_FORMAT_VERSION
}

impl ModuleJson {
    /// Parses `module.json` bytes, naming the offending field on failure.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ManifestError::Json(inner.to_string())
            } else {
                ManifestError::Json(format!("field `{path}`: {inner}"))
            }
        })
    }

    /// The semantic version RS derives from `version`.
    pub fn derived_semantic_version(&self) -> SemanticVersion {
        self.version.semantic()
    }

    /// Checks that `semantic_version` is what `version` implies.
    pub fn check_version_agreement(&self) -> Result<(), ManifestError> {
        let expected = self.version.semantic();
        let agrees = self
            .semantic_version
            .parse::<SemanticVersion>()
            .map(|given| given == expected)
            .unwrap_or(false);
        if agrees {
            Ok(())
        } else {
            Err(ManifestError::VersionMismatch {
                version: self.version.0,
                semantic_version: self.semantic_version.clone(),
                expected: expected.to_string(),
            })
        }
    }

    /// Sorts every list whose order carries no meaning so equal facts serialize identically.
    pub fn normalize(&mut self) {
        self.operating_systems.sort();
        self.operating_systems.dedup();
        self.capabilities.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        self.capabilities.dedup();
        for command in &mut self.commands {
            command.normalize();
        }
        self.commands
            .sort_by(|a, b| a.command_name.cmp(&b.command_name));
        self.exclude_commands.sort();
        self.exclude_commands.dedup();
        for list in [&mut self.overide_command, &mut self.add_command] {
            for command in list.iter_mut() {
                command.normalize();
            }
            list.sort_by(|a, b| a.command_name.cmp(&b.command_name));
        }
    }

    /// The canonical JSON text: sorted keys, two-space indent, a final newline.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut bytes = serde_json::to_vec_pretty(&sort_keys(value)).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The JSON body for `POST /v2/modules/user-defined`: the module's configuration.
    pub fn user_defined_config(&self) -> Value {
        sort_keys(serde_json::to_value(self).unwrap_or(Value::Null))
    }
}

/// Rebuilds every object in `value` with its keys in sorted order, whatever map type serde_json
/// was built with.
pub fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAMP_WRITTEN: &str = r#"{
        "architecture": "x86_64", "author": "", "bigstore_version_2_support": false,
        "capabilities": ["types", "multi_exec"], "capability_name": "", "command_line_args": "",
        "commands": [{"command_arity": -1, "command_name": "json.get", "first_key": 1,
                      "flags": ["readonly"], "last_key": 1, "step": 1}],
        "compatible_redis_version": "7.4", "config_command": "", "crdb": {},
        "dependencies": {}, "description": "", "display_name": "RedisJSON", "email": "",
        "exclude_commands": [], "homepage": "", "license": "", "min_redis_pack_version": "6.0.12",
        "min_redis_version": "6.0", "module_file": "rejson.so", "module_name": "ReJSON",
        "operating_systems": ["ubuntu18.04"], "optional-dependencies": {}, "os": "Linux",
        "overide_command": [], "add_command": [], "ramp_format_version": 1, "redis_args": {},
        "run_command_line_args": null, "semantic_version": "2.0.8", "sha256": "ab",
        "version": 20008.0
    }"#;

    #[test]
    fn reads_a_ramp_written_module_json() {
        let module = ModuleJson::from_slice(RAMP_WRITTEN.as_bytes()).unwrap();
        assert_eq!(module.version, ModuleVersion(20008));
        module.check_version_agreement().unwrap();
        assert!(module.extra.contains_key("redis_args"));
        assert!(module.extra.contains_key("run_command_line_args"));
        assert_eq!(
            module.capabilities[1],
            CapabilityName::Unknown("multi_exec".into())
        );
    }

    #[test]
    fn writes_an_integer_version_and_sorted_keys() {
        let mut module = ModuleJson::from_slice(RAMP_WRITTEN.as_bytes()).unwrap();
        module.normalize();
        let text = String::from_utf8(module.to_canonical_json()).unwrap();
        assert!(text.contains("\"version\": 20008\n") || text.contains("\"version\": 20008,"));
        let keys: Vec<String> = match serde_json::from_str::<Value>(&text).unwrap() {
            Value::Object(map) => map.keys().cloned().collect(),
            _ => unreachable!(),
        };
        let first_positions: Vec<usize> = keys
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        let mut sorted = first_positions.clone();
        sorted.sort();
        assert_eq!(first_positions, sorted, "keys are written in sorted order");
        // Reading back what was written gives the same value.
        assert_eq!(ModuleJson::from_slice(text.as_bytes()).unwrap(), module);
    }

    #[test]
    fn version_mismatch_is_an_error() {
        let text = RAMP_WRITTEN.replace("\"2.0.8\"", "\"2.0.9\"");
        let module = ModuleJson::from_slice(text.as_bytes()).unwrap();
        let err = module.check_version_agreement().unwrap_err().to_string();
        assert!(err.contains("2.0.8") && err.contains("2.0.9"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_field() {
        let text = RAMP_WRITTEN.replace("\"x86_64\"", "\"armv7l\"");
        let err = ModuleJson::from_slice(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("architecture") && err.contains("armv7l"),
            "{err}"
        );
        let text = RAMP_WRITTEN.replace("20008.0", "20008.5");
        let err = ModuleJson::from_slice(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("version"), "{err}");
    }
}
