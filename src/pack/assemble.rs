//! `module.json` from what the author gave (manifest, then flags) and what the module showed
//! (ELF header, discovery). Given values win; discovered ones fill the gaps.

use std::collections::BTreeMap;

use crate::listener::Listener;
use crate::manifest::{
    apply_command_edits, redis_feature_set, Arch, CapabilityName, Command, Dependency,
    DottedVersion, FeatureSet, ManifestError, ManifestInput, ModuleJson, ModuleVersion, OsNick,
    SemanticVersion, DEFAULT_MIN_REDIS_PACK_VERSION, DEFAULT_MIN_REDIS_VERSION, OS_LINUX,
    RAMP_FORMAT_VERSION,
};

use super::PackError;

/// What the module itself says about itself.
#[derive(Debug, Clone, Default)]
pub struct ModuleFacts {
    /// Name registered with `RedisModule_Init`.
    pub module_name: Option<String>,
    /// Version registered with `RedisModule_Init`.
    pub version: Option<ModuleVersion>,
    /// Commands the module registered.
    pub commands: Option<Vec<Command>>,
    /// The version of the redis-server the module was loaded into (e.g. `7.0.15`), when it was.
    pub redis_version: Option<String>,
}

/// The `.so` as it goes into the zip.
#[derive(Debug, Clone)]
pub struct ModuleFile {
    /// Architecture from the ELF header.
    pub architecture: Arch,
    /// File name inside the zip.
    pub file_name: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// The checked, typed form of the author's input that does not depend on the module.
#[derive(Debug, Clone)]
pub struct CheckedInput {
    /// The merged input.
    pub input: ManifestInput,
    /// `version`/`semantic_version`, reconciled.
    pub version: Option<ModuleVersion>,
    /// Capabilities, parsed.
    pub capabilities: Vec<CapabilityName>,
    /// Operating systems, parsed.
    pub operating_systems: Vec<OsNick>,
    /// Module arguments as a list.
    pub module_args: Vec<String>,
}

/// Checks every value of `input` that can be checked without the module, so bad input fails
/// before anything is loaded.
pub fn check_input(
    input: ManifestInput,
    allow_unknown_capability: bool,
) -> Result<CheckedInput, ManifestError> {
    let version = reconcile_version(input.version, input.semantic_version.as_deref())?;
    let capabilities = input
        .capabilities
        .iter()
        .flatten()
        .map(|name| CapabilityName::parse(name, allow_unknown_capability))
        .collect::<Result<Vec<_>, _>>()?;
    let operating_systems = input
        .operating_systems
        .iter()
        .flatten()
        .map(|name| OsNick::parse(name, false))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(compatible) = &input.compatible_redis_version {
        if redis_feature_set(compatible) == FeatureSet::Impossible {
            return Err(ManifestError::ImpossibleRedisVersion(
                compatible.to_string(),
            ));
        }
    }
    let module_args = input.module_args()?;
    for deps in [&input.dependencies, &input.optional_dependencies]
        .into_iter()
        .flatten()
    {
        for (name, spec) in deps {
            spec.check(name)?;
        }
    }
    if let (Some(required), Some(optional)) = (&input.dependencies, &input.optional_dependencies) {
        if let Some(name) = required.keys().find(|name| optional.contains_key(*name)) {
            return Err(ManifestError::BadDependency {
                name: name.clone(),
                problem:
                    "it is listed as both required and optional; both would be deps/<name>.tgz"
                        .into(),
            });
        }
    }
    Ok(CheckedInput {
        input,
        version,
        capabilities,
        operating_systems,
        module_args,
    })
}

/// The integer version from `version` and/or `semantic_version`; both given must agree.
pub fn reconcile_version(
    version: Option<ModuleVersion>,
    semantic: Option<&str>,
) -> Result<Option<ModuleVersion>, ManifestError> {
    let from_semantic = semantic
        .map(|s| {
            s.parse::<SemanticVersion>()
                .and_then(ModuleVersion::from_semantic)
        })
        .transpose()?;
    match (version, from_semantic, semantic) {
        (Some(v), Some(s), Some(given)) if v != s => Err(ManifestError::VersionMismatch {
            version: v.0,
            semantic_version: given.trim().to_string(),
            expected: v.semantic().to_string(),
        }),
        (Some(v), _, _) => Ok(Some(v)),
        (None, s, _) => Ok(s),
    }
}

/// Builds the normalized `module.json`.
pub fn assemble(
    checked: &CheckedInput,
    file: &ModuleFile,
    facts: &ModuleFacts,
    dependencies: BTreeMap<String, Dependency>,
    optional_dependencies: BTreeMap<String, Dependency>,
    listener: &dyn Listener,
) -> Result<ModuleJson, PackError> {
    let input = &checked.input;
    let module_name = match (&input.module_name, &facts.module_name) {
        (Some(given), Some(registered)) => {
            if given != registered {
                listener.on_warning(&format!(
                    "module_name is `{given}` but the module registers itself as `{registered}`; RS matches modules by the registered name, so using `{given}` may break upgrades"
                ));
            }
            given.clone()
        }
        (Some(given), None) => given.clone(),
        (None, Some(registered)) => registered.clone(),
        (None, None) => return Err(PackError::Missing("module_name")),
    };
    if module_name.trim().is_empty() {
        return Err(PackError::Missing("module_name"));
    }
    let version = match (checked.version, facts.version) {
        (Some(given), Some(registered)) => {
            if given != registered {
                listener.on_warning(&format!(
                    "version is {given} ({}) but the module registers version {registered} ({}); using {given}",
                    given.semantic(),
                    registered.semantic()
                ));
            }
            given
        }
        (Some(given), None) => given,
        (None, Some(registered)) => registered,
        (None, None) => return Err(PackError::Missing("version")),
    };
    let base_commands = match (&input.commands, &facts.commands) {
        (Some(given), Some(discovered)) => {
            let names = |list: &[Command]| {
                let mut names: Vec<String> = list
                    .iter()
                    .map(|c| c.command_name.to_ascii_lowercase())
                    .collect();
                names.sort();
                names
            };
            if names(given) != names(discovered) {
                listener.on_warning(
                    "the commands given in the manifest differ from the ones the module registers; using the given ones",
                );
            }
            given.clone()
        }
        (Some(given), None) => given.clone(),
        (None, Some(discovered)) => discovered.clone(),
        (None, None) => {
            // Commands from `add_command` are commands all the same (RAMP manifests of modules
            // packed without discovery list theirs there).
            if input.add_command.as_ref().is_none_or(Vec::is_empty) {
                listener
                    .on_warning("no commands were given or discovered; module.json will list none");
            }
            Vec::new()
        }
    };
    let exclude = input.exclude_commands.clone().unwrap_or_default();
    let overrides = input.overide_command.clone().unwrap_or_default();
    let additions = input.add_command.clone().unwrap_or_default();
    let commands = apply_command_edits(base_commands, &exclude, &overrides, &additions);

    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut module = ModuleJson {
        display_name: input
            .display_name
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| module_name.clone()),
        module_name,
        module_file: file.file_name.clone(),
        semantic_version: version.semantic().to_string(),
        version,
        architecture: file.architecture,
        os: OS_LINUX.to_string(),
        operating_systems: checked.operating_systems.clone(),
        sha256: file.sha256.clone(),
        commands,
        min_redis_version: input
            .min_redis_version
            .clone()
            .map_or_else(|| default_version(DEFAULT_MIN_REDIS_VERSION), Ok)?,
        min_redis_pack_version: input
            .min_redis_pack_version
            .clone()
            .map_or_else(|| default_version(DEFAULT_MIN_REDIS_PACK_VERSION), Ok)?,
        compatible_redis_version: compatible_redis_version(input, facts, listener),
        capabilities: checked.capabilities.clone(),
        dependencies,
        optional_dependencies,
        exclude_commands: exclude,
        overide_command: overrides,
        add_command: additions,
        config_command: text(&input.config_command),
        // A line given as `command_line_args` is written as given, as RAMP does; a list is
        // joined with single spaces.
        command_line_args: match (&input.module_args, &input.command_line_args) {
            (None, Some(line)) => line.clone(),
            _ => checked.module_args.join(" "),
        },
        capability_name: text(&input.capability_name),
        author: text(&input.author),
        email: text(&input.email),
        description: text(&input.description),
        homepage: text(&input.homepage),
        license: text(&input.license),
        bigstore_version_2_support: input.bigstore_version_2_support.unwrap_or(false),
        crdb: input.crdb.clone(),
        ramp_format_version: RAMP_FORMAT_VERSION,
        git_sha: input.git_sha.clone(),
        extra: BTreeMap::new(),
    };
    module.normalize();
    Ok(module)
}

/// `compatible_redis_version`: the value given, else the major.minor of the Redis discovery
/// loaded the module into (said, since RS selects builds by it), else none, with a warning.
fn compatible_redis_version(
    input: &ManifestInput,
    facts: &ModuleFacts,
    listener: &dyn Listener,
) -> Option<DottedVersion> {
    if let Some(given) = &input.compatible_redis_version {
        if redis_feature_set(given) == FeatureSet::Unknown {
            listener.on_warning(&format!(
                "compatible_redis_version {given} is newer than every Redis release rmpack knows; no database runs it until that Redis ships"
            ));
        }
        return Some(given.clone());
    }
    let used = facts
        .redis_version
        .as_deref()
        .and_then(|v| v.parse::<DottedVersion>().ok());
    match used {
        Some(used) => {
            let (major, minor) = used.major_minor();
            let text = format!("{major}.{minor}");
            listener.on_warning(&format!(
                "compatible_redis_version {text}, the Redis discovery used; set \
                 --compatible-redis-version for the databases you target"
            ));
            text.parse().ok()
        }
        None => {
            listener.on_warning(
                "no compatible_redis_version given and none discovered: RS selects a module build \
                 for Redis 7.4 and later databases by it, so set --compatible-redis-version (or \
                 compatible_redis_version in the manifest) to the databases' Redis major.minor",
            );
            None
        }
    }
}

fn default_version(text: &str) -> Result<DottedVersion, ManifestError> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(
        input: ManifestInput,
        facts: &ModuleFacts,
    ) -> (Result<ModuleJson, PackError>, Vec<String>) {
        let warnings = crate::listener::Recorder::default();
        let checked = check_input(input, false).unwrap();
        let result = assemble(
            &checked,
            &ModuleFile {
                architecture: Arch::X86_64,
                file_name: "m.so".into(),
                sha256: "00".into(),
            },
            facts,
            BTreeMap::new(),
            BTreeMap::new(),
            &warnings,
        );
        (result, warnings.warnings())
    }

    fn registered() -> ModuleFacts {
        ModuleFacts {
            module_name: Some("plain".into()),
            version: Some(ModuleVersion(10203)),
            commands: Some(vec![
                Command::new("plain.get", 2),
                Command::new("plain.set", 3),
            ]),
            redis_version: Some("7.0.15".into()),
        }
    }

    #[test]
    fn compatible_redis_version_is_the_given_one_else_the_discovery_servers_major_minor() {
        let (module, warnings) = build(ManifestInput::default(), &registered());
        assert_eq!(
            module
                .unwrap()
                .compatible_redis_version
                .map(|v| v.to_string()),
            Some("7.0".to_string())
        );
        assert!(
            warnings.iter().any(|w| w.contains(
                "compatible_redis_version 7.0, the Redis discovery used; set --compatible-redis-version"
            )),
            "{warnings:?}"
        );

        let given = ManifestInput {
            compatible_redis_version: Some("7.4".parse().unwrap()),
            ..ManifestInput::default()
        };
        let (module, warnings) = build(given, &registered());
        assert_eq!(
            module
                .unwrap()
                .compatible_redis_version
                .map(|v| v.to_string()),
            Some("7.4".to_string())
        );
        assert!(warnings.is_empty(), "{warnings:?}");

        let undiscovered = ModuleFacts {
            redis_version: None,
            ..registered()
        };
        let (module, warnings) = build(ManifestInput::default(), &undiscovered);
        assert_eq!(module.unwrap().compatible_redis_version, None);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("no compatible_redis_version given and none discovered")),
            "{warnings:?}"
        );
    }

    #[test]
    fn discovered_facts_fill_gaps_and_defaults_apply() {
        let given = ManifestInput {
            compatible_redis_version: Some("7.2".parse().unwrap()),
            ..ManifestInput::default()
        };
        let (module, warnings) = build(given, &registered());
        let module = module.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(module.module_name, "plain");
        assert_eq!(module.display_name, "plain");
        assert_eq!(module.semantic_version, "1.2.3");
        assert_eq!(module.min_redis_version.to_string(), "4.0");
        assert_eq!(module.min_redis_pack_version.to_string(), "5.2");
        assert_eq!(module.commands.len(), 2);
    }

    #[test]
    fn given_values_win_with_a_warning() {
        let input = ManifestInput {
            module_name: Some("other".into()),
            version: Some(ModuleVersion(10204)),
            compatible_redis_version: Some("7.0".parse().unwrap()),
            ..Default::default()
        };
        let (module, warnings) = build(input, &registered());
        let module = module.unwrap();
        assert_eq!(module.module_name, "other");
        assert_eq!(module.semantic_version, "1.2.4");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("`plain`"), "{warnings:?}");
    }

    #[test]
    fn missing_name_or_version_is_an_error() {
        let (result, _) = build(ManifestInput::default(), &ModuleFacts::default());
        assert!(matches!(result, Err(PackError::Missing("module_name"))));
        let input = ManifestInput {
            module_name: Some("x".into()),
            ..Default::default()
        };
        let (result, _) = build(input, &ModuleFacts::default());
        assert!(matches!(result, Err(PackError::Missing("version"))));
    }

    #[test]
    fn versions_reconcile() {
        assert_eq!(
            reconcile_version(None, Some("1.2.3")).unwrap(),
            Some(ModuleVersion(10203))
        );
        assert_eq!(
            reconcile_version(Some(ModuleVersion(10203)), Some("1.2.3")).unwrap(),
            Some(ModuleVersion(10203))
        );
        let err = reconcile_version(Some(ModuleVersion(10203)), Some("1.2.4")).unwrap_err();
        assert!(err.to_string().contains("1.2.4"), "{err}");
        assert!(reconcile_version(None, Some("1.2")).is_err());
    }

    #[test]
    fn unknown_capabilities_and_systems_are_refused() {
        let input = ManifestInput {
            capabilities: Some(vec!["time_travel".into()]),
            ..Default::default()
        };
        assert!(check_input(input.clone(), false).is_err());
        assert!(check_input(input, true).is_ok());
        let input = ManifestInput {
            operating_systems: Some(vec!["windows11".into()]),
            ..Default::default()
        };
        assert!(check_input(input, true).is_err());
    }
}
