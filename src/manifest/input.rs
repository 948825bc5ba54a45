//! What a module author gives: an `rmpack.toml`, RAMP's `ramp.yml`, or command-line flags.
//!
//! All three fill a [`ManifestInput`]; [`ManifestInput::overlay`] layers them (manifest, then
//! flags), and whatever none of them gives is taken from the facts discovered from the module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Arch, Command, DottedVersion, ManifestError, ModuleVersion};

/// A dependency as an author declares it: a local file or directory to embed as
/// `deps/<name>.tgz`, or a remote archive with its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencySpec {
    /// Local file or directory to embed (relative paths are relative to the manifest).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Remote archive RS downloads.
    #[serde(default)]
    pub url: Option<String>,
    /// Hex SHA-256 of the remote archive; required with `url`.
    #[serde(default)]
    pub sha256: Option<String>,
}

impl DependencySpec {
    /// Checks that the entry is either a local path or a `url` with a 64-hex `sha256`.
    pub fn check(&self, name: &str) -> Result<(), ManifestError> {
        let bad = |problem: &str| ManifestError::BadDependency {
            name: name.to_string(),
            problem: problem.to_string(),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            || name.starts_with('.')
        {
            return Err(bad("the name may hold only letters, digits, '_', '-' and '.' (it becomes deps/<name>.tgz)"));
        }
        match (&self.path, &self.url, &self.sha256) {
            (Some(_), None, None) => Ok(()),
            (Some(_), _, _) => Err(bad(
                "give either `path` (embedded) or `url` with `sha256`, not both",
            )),
            (None, Some(url), Some(sha)) => {
                if !super::is_sha256_hex(sha) {
                    Err(bad(&format!("sha256 `{sha}` is not 64 hex digits")))
                } else if let Some(problem) = url_problem(url) {
                    Err(bad(&format!("url `{}` {problem}", without_user_info(url))))
                } else {
                    Ok(())
                }
            }
            (None, Some(_), None) => Err(bad(
                "a remote dependency needs `sha256` (64 hex digits) beside `url`",
            )),
            (None, None, _) => Err(bad(
                "give `path` for a local file or directory, or `url` and `sha256`",
            )),
        }
    }
}

/// What is wrong with a dependency URL, if anything: it must be `http(s)://host/…`, without
/// user info (module.json would carry a password), a fragment, or white space.
fn url_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Some("is not an http(s) URL");
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("holds white space or control characters")
    } else if authority.is_empty() {
        Some("names no host")
    } else if authority.contains('@') {
        Some("carries user info; module.json would hold it for anyone to read, so give a URL without credentials")
    } else if url.contains('#') {
        Some("has a fragment (`#…`); in --dep, `#` separates the URL from the sha256")
    } else {
        None
    }
}

/// `url` with any user info (`user:password@`) shown as `***@`, so no message prints a password.
fn without_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Everything an author may state about a module; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestInput {
    /// Module name; defaults to the one the module registers.
    pub module_name: Option<String>,
    /// Integer version; defaults to the one the module registers.
    pub version: Option<ModuleVersion>,
    /// Semantic version; must agree with `version`.
    pub semantic_version: Option<String>,
    /// Architecture; must agree with the ELF header.
    pub architecture: Option<Arch>,
    /// Name shown in the RS UI.
    pub display_name: Option<String>,
    /// Author's name.
    pub author: Option<String>,
    /// Author's e-mail.
    pub email: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Project home page.
    pub homepage: Option<String>,
    /// License name.
    pub license: Option<String>,
    /// Capability names.
    pub capabilities: Option<Vec<String>>,
    /// Capability set name.
    pub capability_name: Option<String>,
    /// Oldest Redis version.
    pub min_redis_version: Option<DottedVersion>,
    /// Oldest RS version.
    #[serde(alias = "min_rlec_version")]
    pub min_redis_pack_version: Option<DottedVersion>,
    /// Redis version this build is meant for.
    pub compatible_redis_version: Option<DottedVersion>,
    /// OS nicknames.
    pub operating_systems: Option<Vec<String>>,
    /// Module arguments, space separated, as RS stores them.
    pub command_line_args: Option<String>,
    /// Module arguments as a list (preferred over `command_line_args`).
    pub module_args: Option<Vec<String>>,
    /// The module's configuration command.
    pub config_command: Option<String>,
    /// Commit of the module source.
    pub git_sha: Option<String>,
    /// Commands to use instead of discovery (needed when the module cannot be loaded here).
    pub commands: Option<Vec<Command>>,
    /// Commands to drop from the discovered list.
    pub exclude_commands: Option<Vec<String>>,
    /// Commands to replace.
    #[serde(alias = "override_command", alias = "override_commands")]
    pub overide_command: Option<Vec<Command>>,
    /// Commands to add.
    #[serde(alias = "add_commands")]
    pub add_command: Option<Vec<Command>>,
    /// Required dependencies.
    pub dependencies: Option<BTreeMap<String, DependencySpec>>,
    /// Optional dependencies.
    #[serde(alias = "optional-dependencies")]
    pub optional_dependencies: Option<BTreeMap<String, DependencySpec>>,
    /// Auto Tiering bigstore v2 support.
    pub bigstore_version_2_support: Option<bool>,
    /// Active-Active settings.
    pub crdb: Option<Value>,
}

/// RAMP manifest keys that rmpack reads but that have no effect (kept so their presence is not
/// reported as unknown).
const RAMP_IGNORED_KEYS: &[&str] = &[
    "os",
    "module_file",
    "sha256",
    "ramp_format_version",
    "redis_args",
    "run_command_line_args",
];

impl ManifestInput {
    /// Reads `rmpack.toml`, `ramp.yml` or `ramp.yaml` (by extension). Relative dependency paths
    /// are resolved against the manifest's folder. Returns the input and the keys of a RAMP
    /// manifest that were not understood (RAMP ignores them too; the caller warns).
    pub fn load(path: &Path) -> Result<(ManifestInput, Vec<String>), ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml") | Some("yaml")
        );
        let (mut input, unknown) = if is_yaml {
            Self::from_ramp_yaml(&text, &path.display().to_string())?
        } else {
            (
                Self::from_toml(&text, &path.display().to_string())?,
                Vec::new(),
            )
        };
        let base = path.parent().unwrap_or(Path::new("."));
        for deps in [&mut input.dependencies, &mut input.optional_dependencies]
            .into_iter()
            .flatten()
        {
            for spec in deps.values_mut() {
                if let Some(p) = &spec.path {
                    if p.is_relative() {
                        spec.path = Some(base.join(p));
                    }
                }
            }
        }
        Ok((input, unknown))
    }

    /// Parses an `rmpack.toml`; unknown keys are errors (they are usually typos).
    pub fn from_toml(text: &str, origin: &str) -> Result<ManifestInput, ManifestError> {
        toml::from_str(text).map_err(|e| ManifestError::Toml {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Parses a RAMP `ramp.yml`, returning the keys it did not understand.
    pub fn from_ramp_yaml(
        text: &str,
        origin: &str,
    ) -> Result<(ManifestInput, Vec<String>), ManifestError> {
        let yaml_err = |message: String| ManifestError::Yaml {
            path: origin.to_string(),
            message,
        };
        // The YAML scanner spends time quadratic in the flow nesting depth before its own
        // recursion limit trips (minutes for 100,000 `[`); a manifest needs a handful of levels.
        if let Some(depth) = flow_depth_over(text, MAX_FLOW_DEPTH) {
            return Err(yaml_err(format!(
                "flow collections (`[`, `{{`) nest {depth} levels deep; a manifest needs at most {MAX_FLOW_DEPTH}"
            )));
        }
        let value: Value = serde_yaml::from_str(text).map_err(|e| yaml_err(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(yaml_err(
                "the top level must be a mapping of field names to values".into(),
            ));
        };
        let mut known = serde_json::Map::new();
        let mut unknown = Vec::new();
        for (key, value) in map {
            if RAMP_IGNORED_KEYS.contains(&key.as_str()) || value.is_null() {
                continue;
            }
            if is_known_key(&key) {
                let value = if is_dependency_key(&key) {
                    ramp_dependencies(value)
                        .map_err(|problem| yaml_err(format!("`{key}`: {problem}")))?
                } else {
                    value
                };
                known.insert(key, value);
            } else {
                unknown.push(key);
            }
        }
        let input: ManifestInput =
            serde_json::from_value(Value::Object(known)).map_err(|e| yaml_err(e.to_string()))?;
        Ok((input, unknown))
    }

    /// Returns `self` with every field that `higher` sets replaced by `higher`'s value.
    /// `version` and `semantic_version` state one thing and move together: when `higher` gives
    /// either, both come from `higher`.
    pub fn overlay(self, higher: ManifestInput) -> ManifestInput {
        let (version, semantic_version) =
            if higher.version.is_some() || higher.semantic_version.is_some() {
                (higher.version, higher.semantic_version.clone())
            } else {
                (self.version, self.semantic_version.clone())
            };
        macro_rules! pick {
            ($($field:ident),*) => {
                ManifestInput { version, semantic_version, $($field: higher.$field.or(self.$field),)* }
            };
        }
        pick!(
            module_name,
            architecture,
            display_name,
            author,
            email,
            description,
            homepage,
            license,
            capabilities,
            capability_name,
            min_redis_version,
            min_redis_pack_version,
            compatible_redis_version,
            operating_systems,
            command_line_args,
            module_args,
            config_command,
            git_sha,
            commands,
            exclude_commands,
            overide_command,
            add_command,
            dependencies,
            optional_dependencies,
            bigstore_version_2_support,
            crdb
        )
    }

    /// The module arguments as a list: `module_args` when given, else `command_line_args` split
    /// on white space. Never evaluated or expanded.
    pub fn module_args(&self) -> Result<Vec<String>, ManifestError> {
        match (&self.module_args, &self.command_line_args) {
            (Some(args), _) => {
                for arg in args {
                    if arg.is_empty() || arg.chars().any(char::is_whitespace) {
                        return Err(ManifestError::BadModuleArg(arg.clone()));
                    }
                }
                Ok(args.clone())
            }
            (None, Some(line)) => Ok(split_module_args(line)),
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// Splits a `command_line_args` string the way RS passes it to the module: on white space.
pub fn split_module_args(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn is_dependency_key(key: &str) -> bool {
    matches!(
        key,
        "dependencies" | "optional-dependencies" | "optional_dependencies"
    )
}

/// RAMP's dependency forms as the map rmpack reads: a map of name → `{url, sha256}` or
/// `{local_path}`, or a list of `{name, url, sha256}` (RAMP's `normalize_dependencies` accepts
/// both). RAMP's `local_path` is rmpack's `path`.
fn ramp_dependencies(value: Value) -> Result<Value, String> {
    let entries: Vec<(String, Value)> = match value {
        Value::Object(map) => map.into_iter().collect(),
        Value::Array(list) => list
            .into_iter()
            .map(|item| match item {
                Value::Object(mut fields) => match fields.remove("name") {
                    Some(Value::String(name)) => Ok((name, Value::Object(fields))),
                    _ => Err("a dependency in a list needs a `name`".to_string()),
                },
                other => Err(format!("a dependency is a mapping, not {other}")),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "expected a mapping of name to url and sha256, got {other}"
            ))
        }
    };
    let mut deps = serde_json::Map::new();
    for (name, spec) in entries {
        let spec = match spec {
            Value::Object(mut fields) => {
                if !fields.contains_key("path") {
                    if let Some(local) = fields.remove("local_path") {
                        fields.insert("path".into(), local);
                    }
                }
                Value::Object(fields)
            }
            other => other,
        };
        deps.insert(name, spec);
    }
    Ok(Value::Object(deps))
}

fn is_known_key(key: &str) -> bool {
    matches!(
        key,
        "module_name"
            | "version"
            | "semantic_version"
            | "architecture"
            | "display_name"
            | "author"
            | "email"
            | "description"
            | "homepage"
            | "license"
            | "capabilities"
            | "capability_name"
            | "min_redis_version"
            | "min_redis_pack_version"
            | "min_rlec_version"
            | "compatible_redis_version"
            | "operating_systems"
            | "command_line_args"
            | "module_args"
            | "config_command"
            | "git_sha"
            | "commands"
            | "exclude_commands"
            | "overide_command"
            | "override_command"
            | "add_command"
            | "dependencies"
            | "optional-dependencies"
            | "optional_dependencies"
            | "bigstore_version_2_support"
            | "crdb"
    )
}

/// How deep `[` and `{` may nest in a ramp.yml.
const MAX_FLOW_DEPTH: usize = 64;

/// The first flow nesting depth above `limit` in YAML `text`, if any. Quoted scalars and
/// comments are skipped; a bracket inside a plain scalar counts too, which only makes the bound
/// stricter for text no manifest holds.
fn flow_depth_over(text: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let mut previous = '\n';
    while let Some(c) = chars.next() {
        match c {
            '#' if previous.is_whitespace() => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        break;
                    }
                }
                previous = '\n';
                continue;
            }
            '"' => {
                while let Some(quoted) = chars.next() {
                    match quoted {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                while let Some(quoted) = chars.next() {
                    if quoted == '\'' {
                        // `''` is an escaped quote inside a single-quoted scalar.
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > limit {
                    return Some(depth);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_manifest_reads_and_refuses_typos() {
        let input = ManifestInput::from_toml(
            r#"
            module_name = "plain"
            display_name = "Plain"
            capabilities = ["types", "replica_of"]
            min_redis_version = "7.0"
            module_args = ["PREFIX", "foo"]
            [dependencies.lib]
            path = "deps/lib"
            [[commands]]
            command_name = "plain.get"
            command_arity = 2
            flags = ["readonly"]
            first_key = 1
            last_key = 1
            step = 1
            "#,
            "rmpack.toml",
        )
        .unwrap();
        assert_eq!(input.module_name.as_deref(), Some("plain"));
        assert_eq!(input.module_args().unwrap(), ["PREFIX", "foo"]);
        assert_eq!(input.commands.as_ref().unwrap()[0].command_arity, 2);
        let err = ManifestInput::from_toml("modul_name = \"x\"", "rmpack.toml").unwrap_err();
        assert!(err.to_string().contains("modul_name"), "{err}");
    }

    #[test]
    fn ramp_yaml_maps_legacy_keys_and_reports_unknown_ones() {
        let (input, unknown) = ManifestInput::from_ramp_yaml(
            "author: Jane\nmin_rlec_version: \"5.2\"\nmin_redis_version: 6.0\ncapabilities:\n  - types\nfrobnicate: 1\ncommand_line_args: \"A b\"\n",
            "ramp.yml",
        )
        .unwrap();
        assert_eq!(input.author.as_deref(), Some("Jane"));
        assert_eq!(
            input.min_redis_pack_version.as_ref().unwrap().to_string(),
            "5.2"
        );
        assert_eq!(input.min_redis_version.as_ref().unwrap().to_string(), "6.0");
        assert_eq!(unknown, ["frobnicate"]);
        assert_eq!(input.module_args().unwrap(), ["A", "b"]);
    }

    #[test]
    fn ramp_yaml_dependencies_come_as_a_map_or_as_a_list() {
        let sha = "a".repeat(64);
        let as_map = format!(
            "dependencies:\n  python:\n    url: https://e.com/p.tgz\n    sha256: {sha}\n  data:\n    local_path: deps/data\n"
        );
        let as_list = format!(
            "dependencies:\n  - name: python\n    url: https://e.com/p.tgz\n    sha256: {sha}\n  - name: data\n    local_path: deps/data\n"
        );
        for text in [as_map, as_list] {
            let (input, unknown) = ManifestInput::from_ramp_yaml(&text, "ramp.yml").unwrap();
            assert!(unknown.is_empty());
            let deps = input.dependencies.unwrap();
            assert_eq!(deps["python"].url.as_deref(), Some("https://e.com/p.tgz"));
            assert_eq!(deps["python"].sha256.as_deref(), Some(sha.as_str()));
            assert_eq!(deps["data"].path.as_deref(), Some(Path::new("deps/data")));
        }
        let err = ManifestInput::from_ramp_yaml("dependencies:\n  - url: x\n", "ramp.yml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("name"), "{err}");
    }

    #[test]
    fn ramp_yaml_keeps_strings_and_reads_versions_as_text() {
        let (input, _) = ManifestInput::from_ramp_yaml(
            "description: \"trailing blank \"\nconfig_command: FT.CONFIG SET\nmin_redis_pack_version: 6.2\ncompatible_redis_version: 7.4\ncommand_line_args: \"A  B\"\ncapabilities:\n  - \"types \"\n  - types\n",
            "ramp.yml",
        )
        .unwrap();
        assert_eq!(input.description.as_deref(), Some("trailing blank "));
        assert_eq!(input.config_command.as_deref(), Some("FT.CONFIG SET"));
        assert_eq!(input.min_redis_pack_version.unwrap().to_string(), "6.2");
        assert_eq!(input.compatible_redis_version.unwrap().to_string(), "7.4");
        assert_eq!(input.command_line_args.as_deref(), Some("A  B"));
        assert_eq!(input.capabilities.unwrap(), ["types ", "types"]);
    }

    #[test]
    fn overlay_prefers_the_higher_layer() {
        let manifest = ManifestInput {
            author: Some("manifest".into()),
            license: Some("MIT".into()),
            ..Default::default()
        };
        let flags = ManifestInput {
            author: Some("flag".into()),
            ..Default::default()
        };
        let merged = manifest.overlay(flags);
        assert_eq!(merged.author.as_deref(), Some("flag"));
        assert_eq!(merged.license.as_deref(), Some("MIT"));
    }

    #[test]
    fn a_version_flag_replaces_both_version_fields_of_the_manifest() {
        let manifest = ManifestInput {
            version: Some(ModuleVersion(10203)),
            semantic_version: Some("1.2.3".into()),
            ..Default::default()
        };
        let flags = ManifestInput {
            semantic_version: Some("1.3.0".into()),
            ..Default::default()
        };
        let merged = manifest.clone().overlay(flags);
        assert_eq!(merged.version, None);
        assert_eq!(merged.semantic_version.as_deref(), Some("1.3.0"));
        let kept = manifest.overlay(ManifestInput::default());
        assert_eq!(kept.version, Some(ModuleVersion(10203)));
    }

    #[test]
    fn module_args_are_never_evaluated() {
        let input = ManifestInput {
            command_line_args: Some("{__import__('os')} $(rm -rf /)".into()),
            ..Default::default()
        };
        assert_eq!(
            input.module_args().unwrap(),
            ["{__import__('os')}", "$(rm", "-rf", "/)"]
        );
        let bad = ManifestInput {
            module_args: Some(vec!["two words".into()]),
            ..Default::default()
        };
        assert!(bad.module_args().is_err());
    }

    #[test]
    fn dependency_specs_are_checked() {
        let local = DependencySpec {
            path: Some("x".into()),
            url: None,
            sha256: None,
        };
        local.check("lib").unwrap();
        assert!(local.check("../evil").is_err());
        let remote = DependencySpec {
            path: None,
            url: Some("https://e.com/a.tgz".into()),
            sha256: Some("ab".into()),
        };
        assert!(remote
            .check("lib")
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
        let remote = DependencySpec {
            sha256: Some("a".repeat(64)),
            ..remote
        };
        remote.check("lib").unwrap();
        for (url, problem) in [
            ("ftp://e.com/a.tgz", "not an http(s) URL"),
            ("https:///a.tgz", "no host"),
            ("https://user:secret@e.com/a.tgz", "user info"),
            ("https://e.com/a.tgz#frag", "fragment"),
            ("https://e.com/a b.tgz", "white space"),
        ] {
            let bad = DependencySpec {
                url: Some(url.into()),
                ..remote.clone()
            };
            let error = bad.check("lib").unwrap_err().to_string();
            assert!(error.contains(problem), "{url}: {error}");
            assert!(
                !error.contains("secret"),
                "no password in messages: {error}"
            );
        }
        let no_sha = DependencySpec {
            sha256: None,
            ..remote
        };
        assert!(no_sha.check("lib").is_err());
    }

    #[test]
    fn deeply_nested_flow_collections_are_refused_before_parsing() {
        let deep = format!(
            "capabilities: {}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let error = ManifestInput::from_ramp_yaml(&deep, "ramp.yml").unwrap_err();
        assert!(error.to_string().contains("nest 65 levels deep"), "{error}");
        // Brackets in quotes and comments do not count; real nesting within the bound parses.
        let fine = format!(
            "display_name: \"{}\"\n# {}\ncapabilities: [[types]]\nauthor: 'it''s {}'\n",
            "[".repeat(100),
            "{".repeat(100),
            "[".repeat(100)
        );
        assert_eq!(flow_depth_over(&fine, MAX_FLOW_DEPTH), None);
        assert_eq!(flow_depth_over("a: [[[x]]]", 2), Some(3));
    }
}
