//! The values a command line gives `pack` as text, read into the typed parts of a
//! [`ManifestInput`]: commands as JSON (inline, or a file holding it), dependencies as
//! `NAME=PATH` or `NAME=URL#SHA256`, and the manifest to read first.
//!
//! Each error names the flag its value came from (the caller says which), so a bad value is
//! reported where it entered.
//!
//! [`ManifestInput`]: crate::manifest::ManifestInput

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::input::{InputError, InputKind};
use crate::manifest::{Command, DependencySpec};

use super::default_manifest;

/// Why a flag's value cannot be used. Every variant names the flag and the value or file.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// A command value that is not inline JSON names a file that cannot be read.
    #[error("{flag} {value}: cannot read the file")]
    CommandFile {
        /// The flag, e.g. `--add-command`.
        flag: String,
        /// The value given: the file's path.
        value: String,
        /// Why the file cannot be read.
        source: InputError,
    },
    /// A command value that does not parse as JSON.
    #[error("{flag}: {origin} is not valid JSON")]
    CommandsNotJson {
        /// The flag.
        flag: String,
        /// The inline value or the file it came from.
        origin: CommandOrigin,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// A command value that is JSON but neither an object nor an array.
    #[error("{flag}: {origin} must be a JSON object or an array of objects")]
    CommandsNotObjects {
        /// The flag.
        flag: String,
        /// The inline value or the file it came from.
        origin: CommandOrigin,
    },
    /// A JSON object that is not a command.
    #[error("{flag}: {origin} is not a command object (command_name, command_arity, flags, first_key, last_key, step)")]
    NotACommand {
        /// The flag.
        flag: String,
        /// The inline value or the file it came from.
        origin: CommandOrigin,
        /// What serde found missing or mistyped.
        source: serde_json::Error,
    },
    /// A dependency value without `=`.
    #[error("{flag} {value}: expected NAME=PATH or NAME=URL#SHA256")]
    DependencyForm {
        /// The flag, e.g. `--dep`.
        flag: String,
        /// The value given.
        value: String,
    },
    /// Two values of one flag name the same dependency.
    #[error("{flag}: dependency `{name}` is given twice")]
    DependencyTwice {
        /// The flag.
        flag: String,
        /// The dependency's name.
        name: String,
    },
}

/// Where a command value's JSON came from, as messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOrigin {
    /// The flag's value itself (it starts with `{` or `[`).
    Inline,
    /// A file the value names.
    File(String),
}

impl fmt::Display for CommandOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandOrigin::Inline => f.write_str("the value"),
            CommandOrigin::File(path) => f.write_str(path),
        }
    }
}

/// Reads the values of a command flag (`--add-command`, `--override-command`): each is a JSON
/// object or array of objects, given inline (it starts with `{` or `[`) or in a file the value
/// names. `None` when the flag is not given, so a manifest's commands stay in force.
pub fn commands_from_flags(
    values: &[String],
    flag: &str,
) -> Result<Option<Vec<Command>>, FlagError> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut commands = Vec::new();
    for value in values {
        let trimmed = value.trim_start();
        let (text, origin) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
            (value.clone(), CommandOrigin::Inline)
        } else {
            let text = crate::input::read_to_string(Path::new(value), InputKind::CommandJson)
                .map_err(|source| FlagError::CommandFile {
                    flag: flag.to_string(),
                    value: value.clone(),
                    source,
                })?;
            (text, CommandOrigin::File(value.clone()))
        };
        commands.extend(commands_from_json(&text, flag, &origin)?);
    }
    Ok(Some(commands))
}

/// The commands in one JSON text: an object is one command, an array a list of them.
fn commands_from_json(
    text: &str,
    flag: &str,
    origin: &CommandOrigin,
) -> Result<Vec<Command>, FlagError> {
    let parsed: serde_json::Value =
        serde_json::from_str(text).map_err(|source| FlagError::CommandsNotJson {
            flag: flag.to_string(),
            origin: origin.clone(),
            source,
        })?;
    let items = match parsed {
        serde_json::Value::Array(items) => items,
        object @ serde_json::Value::Object(_) => vec![object],
        _ => {
            return Err(FlagError::CommandsNotObjects {
                flag: flag.to_string(),
                origin: origin.clone(),
            })
        }
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item).map_err(|source| FlagError::NotACommand {
                flag: flag.to_string(),
                origin: origin.clone(),
                source,
            })
        })
        .collect()
}

/// Reads the values of a dependency flag (`--dep`, `--optional-dep`): `NAME=PATH` (a local file
/// or folder) or `NAME=URL#SHA256` (an `http(s)://` archive and its checksum). The entries are
/// checked later with the manifest's ([`DependencySpec::check`]). `None` when the flag is not
/// given, so a manifest's dependencies stay in force.
pub fn dependencies_from_flags(
    values: &[String],
    flag: &str,
) -> Result<Option<BTreeMap<String, DependencySpec>>, FlagError> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut deps = BTreeMap::new();
    for value in values {
        let Some((name, target)) = value.split_once('=') else {
            return Err(FlagError::DependencyForm {
                flag: flag.to_string(),
                value: value.clone(),
            });
        };
        if deps
            .insert(name.to_string(), dependency_spec(target))
            .is_some()
        {
            return Err(FlagError::DependencyTwice {
                flag: flag.to_string(),
                name: name.to_string(),
            });
        }
    }
    Ok(Some(deps))
}

/// The right-hand side of `NAME=…`: a URL (with its sha256 after the last `#`) or a path.
fn dependency_spec(target: &str) -> DependencySpec {
    if target.starts_with("https://") || target.starts_with("http://") {
        let (url, sha256) = match target.rsplit_once('#') {
            Some((url, sha)) => (url.to_string(), Some(sha.to_string())),
            None => (target.to_string(), None),
        };
        DependencySpec {
            path: None,
            url: Some(url),
            sha256,
        }
    } else {
        DependencySpec {
            path: Some(PathBuf::from(target)),
            url: None,
            sha256: None,
        }
    }
}

/// The manifest `pack` reads first: the one `given` (checked now to be a regular file within the
/// manifest cap, so a FIFO or a folder is refused before anything runs), none when `look` is
/// off, else the one [`default_manifest`] finds beside `module` or in `cwd`.
pub fn manifest_to_read(
    given: Option<&Path>,
    look: bool,
    module: &Path,
    cwd: &Path,
) -> Result<Option<PathBuf>, InputError> {
    match given {
        Some(path) => {
            crate::input::open_file(path, InputKind::Manifest)?;
            Ok(Some(path.to_path_buf()))
        }
        None if look => Ok(default_manifest(module, cwd)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

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

    const GET: &str = r#"{"command_name": "plain.get", "command_arity": 2, "flags": ["readonly"], "first_key": 1, "last_key": 1, "step": 1}"#;

    #[test]
    fn no_command_flag_leaves_the_manifest_in_force() {
        assert_eq!(commands_from_flags(&[], "--add-command").unwrap(), None);
        assert_eq!(dependencies_from_flags(&[], "--dep").unwrap(), None);
    }

    #[test]
    fn commands_come_as_an_object_an_array_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("more.json");
        std::fs::write(
            &file,
            format!("[{}]", GET.replace("plain.get", "plain.del")),
        )
        .unwrap();
        let values = vec![
            format!("  {GET}"),
            format!("[{}]", GET.replace("plain.get", "plain.ttl")),
            file.display().to_string(),
        ];
        let commands = commands_from_flags(&values, "--add-command")
            .unwrap()
            .unwrap();
        let names: Vec<&str> = commands.iter().map(|c| c.command_name.as_str()).collect();
        assert_eq!(names, ["plain.get", "plain.ttl", "plain.del"]);
        assert_eq!(commands[0].command_arity, 2);
        assert_eq!(commands[0].flags, ["readonly"]);
    }

    #[test]
    fn bad_command_json_names_the_flag_and_where_it_came_from() {
        let error = commands_from_flags(&strings(&["{not json"]), "--add-command").unwrap_err();
        assert!(matches!(error, FlagError::CommandsNotJson { .. }));
        let text = chain(&error);
        assert!(
            text.starts_with("--add-command: the value is not valid JSON / "),
            "{text}"
        );
        assert!(text.contains("line 1"), "the parser's position: {text}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.json");
        std::fs::write(&file, "[{]").unwrap();
        let path = file.display().to_string();
        let error = commands_from_flags(std::slice::from_ref(&path), "--override-command")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!("--override-command: {path} is not valid JSON")
        );
    }

    #[test]
    fn json_that_is_no_command_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("number.json");
        std::fs::write(&file, "42").unwrap();
        let path = file.display().to_string();
        let error = commands_from_flags(std::slice::from_ref(&path), "--add-command").unwrap_err();
        assert!(matches!(error, FlagError::CommandsNotObjects { .. }));
        assert_eq!(
            error.to_string(),
            format!("--add-command: {path} must be a JSON object or an array of objects")
        );
        for value in [r#"{"command_arity": 2}"#, r#"[{"command_name": 7}]"#, "[1]"] {
            let error = commands_from_flags(&strings(&[value]), "--add-command").unwrap_err();
            assert!(matches!(error, FlagError::NotACommand { .. }), "{value}");
            let text = chain(&error);
            assert!(
                text.starts_with("--add-command: the value is not a command object (command_name, command_arity, flags, first_key, last_key, step) / "),
                "{value}: {text}"
            );
        }
        // One bad item refuses the whole flag: nothing half-read is used.
        let mixed = format!("[{GET}, {{}}]");
        assert!(commands_from_flags(&strings(&[&mixed]), "--add-command").is_err());
    }

    #[test]
    fn a_command_file_that_cannot_be_read_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.json").display().to_string();
        let error =
            commands_from_flags(std::slice::from_ref(&missing), "--add-command").unwrap_err();
        assert!(matches!(error, FlagError::CommandFile { .. }));
        assert!(
            chain(&error).starts_with(&format!("--add-command {missing}: cannot read the file / ")),
            "{}",
            chain(&error)
        );
        // A folder is no command file: refused without reading.
        let folder = dir.path().display().to_string();
        let error = commands_from_flags(&[folder], "--add-command").unwrap_err();
        assert!(chain(&error).contains("a directory"), "{}", chain(&error));
    }

    #[test]
    fn dependencies_are_paths_or_urls_with_their_sha256() {
        let sha = "a".repeat(64);
        let values = vec![
            "data=deps/data".to_string(),
            format!("python=https://e.com/p.tgz#{sha}"),
            "plain=http://e.com/x.tgz".to_string(),
            "hashed=https://e.com/a#b.tgz#c".to_string(),
        ];
        let deps = dependencies_from_flags(&values, "--dep").unwrap().unwrap();
        assert_eq!(deps["data"].path.as_deref(), Some(Path::new("deps/data")));
        assert_eq!(deps["data"].url, None);
        assert_eq!(deps["python"].url.as_deref(), Some("https://e.com/p.tgz"));
        assert_eq!(deps["python"].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(deps["python"].path, None);
        // Without `#` the sha256 is missing, which the dependency check then reports.
        assert_eq!(deps["plain"].sha256, None);
        assert!(deps["plain"].check("plain").is_err());
        // The sha256 is what follows the last `#`.
        assert_eq!(deps["hashed"].url.as_deref(), Some("https://e.com/a#b.tgz"));
        assert_eq!(deps["hashed"].sha256.as_deref(), Some("c"));
    }

    #[test]
    fn malformed_dependency_values_are_refused() {
        let error = dependencies_from_flags(&strings(&["deps/lib"]), "--dep").unwrap_err();
        assert!(matches!(error, FlagError::DependencyForm { .. }));
        assert_eq!(
            error.to_string(),
            "--dep deps/lib: expected NAME=PATH or NAME=URL#SHA256"
        );
        let error =
            dependencies_from_flags(&strings(&["lib=a", "other=b", "lib=c"]), "--optional-dep")
                .unwrap_err();
        assert!(matches!(error, FlagError::DependencyTwice { .. }));
        assert_eq!(
            error.to_string(),
            "--optional-dep: dependency `lib` is given twice"
        );
        // An empty name passes here and is refused by the dependency check, with the others.
        let deps = dependencies_from_flags(&strings(&["=x"]), "--dep")
            .unwrap()
            .unwrap();
        assert!(deps[""].check("").is_err());
    }

    #[test]
    fn the_manifest_is_the_one_given_or_the_one_found() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("plain.so");
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            manifest_to_read(None, true, &module, elsewhere.path()).unwrap(),
            None
        );
        let beside = dir.path().join("ramp.yml");
        std::fs::write(&beside, "module_name: plain\n").unwrap();
        assert_eq!(
            manifest_to_read(None, true, &module, elsewhere.path()).unwrap(),
            Some(beside.clone())
        );
        // --no-manifest: none, even with one beside the module.
        assert_eq!(
            manifest_to_read(None, false, &module, elsewhere.path()).unwrap(),
            None
        );
        let given = elsewhere.path().join("rmpack.toml");
        std::fs::write(&given, "module_name = \"plain\"\n").unwrap();
        assert_eq!(
            manifest_to_read(Some(&given), true, &module, elsewhere.path()).unwrap(),
            Some(given)
        );
    }

    #[test]
    fn a_given_manifest_that_is_no_regular_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("plain.so");
        let error = manifest_to_read(Some(dir.path()), true, &module, dir.path()).unwrap_err();
        assert!(error.to_string().contains("a directory"), "{error}");
        let absent = dir.path().join("absent.toml");
        assert!(manifest_to_read(Some(&absent), true, &module, dir.path()).is_err());
    }
}
