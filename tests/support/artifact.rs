//! What the emulated server checks in an uploaded module zip and in module metadata, following
//! the RS REST API reference ("Modules requests", "User-defined module requests"): the zip layout (module.json and one `.so` at the root, optional `deps/*.tgz`), the
//! fields module.json and the custom-module configuration must carry, and the platform.

use super::state::{fold_distro, parse_version, split_os_entry, NodePlatform};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use zip::ZipArchive;

/// Largest module.json read from a zip.
const MAX_MODULE_JSON: u64 = 1024 * 1024;

/// What a well-formed module zip holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipFacts {
    /// The parsed module.json.
    pub module_json: Map<String, Value>,
    /// File name of the `.so` at the root.
    pub so_name: String,
    /// Names of the `deps/<name>.tgz` archives.
    pub embedded_dependencies: Vec<String>,
}

/// Why a zip was refused: the archive itself (400) or its metadata (406 for artifacts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipProblem {
    /// Not a zip, or files missing, extra or misplaced.
    BadArtifact(String),
    /// module.json unreadable or not a JSON object.
    BadMetadata(String),
}

/// Opens the zip at `path` and checks its layout; reads only the central directory and
/// module.json, never the module binary.
pub fn inspect_zip(path: &Path) -> Result<ZipFacts, ZipProblem> {
    let file = File::open(path)
        .map_err(|e| ZipProblem::BadArtifact(format!("cannot read the upload: {e}")))?;
    let mut archive = ZipArchive::new(BufReader::new(file))
        .map_err(|e| ZipProblem::BadArtifact(format!("the upload is not a zip archive: {e}")))?;
    let mut has_module_json = false;
    let mut shared_objects = Vec::new();
    let mut dependencies = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| ZipProblem::BadArtifact(format!("unreadable zip entry {index}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| ZipProblem::BadArtifact(format!("unreadable zip entry name: {e}")))?
            .into_owned();
        if entry.enclosed_name().is_none() || name.starts_with('/') || name.contains('\\') {
            return Err(ZipProblem::BadArtifact(format!(
                "zip entry {name:?} escapes the archive"
            )));
        }
        if entry.is_dir() {
            if name == "deps/" {
                continue;
            }
            return Err(ZipProblem::BadArtifact(format!(
                "unexpected directory {name:?} in the zip"
            )));
        }
        if name == "module.json" {
            has_module_json = true;
        } else if !name.contains('/') && name.ends_with(".so") {
            shared_objects.push(name);
        } else if let Some(dep) = name
            .strip_prefix("deps/")
            .and_then(|n| n.strip_suffix(".tgz"))
        {
            if dep.is_empty() || dep.contains('/') {
                return Err(ZipProblem::BadArtifact(format!(
                    "unexpected file {name:?} in the zip"
                )));
            }
            dependencies.push(dep.to_owned());
        } else {
            return Err(ZipProblem::BadArtifact(format!(
                "unexpected file {name:?} in the zip: only module.json, one .so and deps/*.tgz are allowed"
            )));
        }
    }
    if !has_module_json {
        return Err(ZipProblem::BadArtifact(
            "no module.json at the root of the zip".into(),
        ));
    }
    let so_name = match shared_objects.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(ZipProblem::BadArtifact(
                "no module .so at the root of the zip".into(),
            ))
        }
        many => {
            return Err(ZipProblem::BadArtifact(format!(
                "the zip holds {} .so files ({}); exactly one is allowed",
                many.len(),
                many.join(", ")
            )))
        }
    };

    let entry = archive
        .by_name("module.json")
        .map_err(|e| ZipProblem::BadArtifact(format!("cannot read module.json: {e}")))?;
    if entry.size() > MAX_MODULE_JSON {
        return Err(ZipProblem::BadMetadata(
            "module.json is larger than 1 MiB".into(),
        ));
    }
    let mut text = String::new();
    entry
        .take(MAX_MODULE_JSON)
        .read_to_string(&mut text)
        .map_err(|e| {
            ZipProblem::BadMetadata(format!("module.json is not readable UTF-8 text: {e}"))
        })?;
    let module_json = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(ZipProblem::BadMetadata(
                "module.json is not a JSON object".into(),
            ))
        }
        Err(e) => {
            return Err(ZipProblem::BadMetadata(format!(
                "module.json is not valid JSON: {e}"
            )))
        }
    };
    if let Some(file) = module_json.get("module_file") {
        if file.as_str() != Some(so_name.as_str()) {
            return Err(ZipProblem::BadArtifact(format!(
                "module.json names module_file {file}, but the zip holds {so_name:?}"
            )));
        }
    }
    dependencies.sort();
    Ok(ZipFacts {
        module_json,
        so_name,
        embedded_dependencies: dependencies,
    })
}

/// The type a required field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A non-empty string.
    Name,
    /// Any string.
    Text,
    /// A string like `1.2.3`.
    SemanticVersion,
    /// A string like `7.2` (a Redis or RS version).
    Version,
    /// A JSON integer; `10203.0` is refused.
    Integer,
    /// A number with an integral value; `10203.0` passes (RAMP writes floats).
    IntegralNumber,
    /// A list of objects.
    Objects,
    /// A list of strings.
    Strings,
}

/// Required fields of the custom-module configuration (`POST /v2/modules/user-defined`, "User-defined module requests").
pub const USER_DEFINED_CONFIG_FIELDS: &[(&str, FieldKind)] = &[
    ("module_name", FieldKind::Name),
    ("version", FieldKind::Integer),
    ("semantic_version", FieldKind::SemanticVersion),
    ("display_name", FieldKind::Text),
    ("commands", FieldKind::Objects),
    ("command_line_args", FieldKind::Text),
    ("capabilities", FieldKind::Strings),
    ("min_redis_version", FieldKind::Version),
];

/// Required module.json fields of a custom-module artifact ("User-defined module requests").
pub const ARTIFACT_MODULE_JSON_FIELDS: &[(&str, FieldKind)] = &[
    ("module_name", FieldKind::Name),
    ("version", FieldKind::IntegralNumber),
    ("semantic_version", FieldKind::SemanticVersion),
    ("min_redis_version", FieldKind::Version),
    ("commands", FieldKind::Objects),
    ("capabilities", FieldKind::Strings),
];

/// Required module.json fields of a bundled (RAMP) module.
pub const BUNDLED_MODULE_JSON_FIELDS: &[(&str, FieldKind)] = &[
    ("module_name", FieldKind::Name),
    ("version", FieldKind::IntegralNumber),
    ("semantic_version", FieldKind::SemanticVersion),
    ("commands", FieldKind::Objects),
    ("capabilities", FieldKind::Strings),
];

/// Every missing or mistyped field, described; empty when all are fine.
pub fn field_problems(object: &Map<String, Value>, fields: &[(&str, FieldKind)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, kind) in fields {
        let Some(value) = object.get(*name) else {
            problems.push(format!("{name} is missing"));
            continue;
        };
        let fine = match kind {
            FieldKind::Name => value.as_str().is_some_and(|s| !s.trim().is_empty()),
            FieldKind::Text => value.is_string(),
            FieldKind::SemanticVersion => value.as_str().is_some_and(is_semantic_version),
            FieldKind::Version => value.as_str().is_some_and(|s| parse_version(s).is_some()),
            FieldKind::Integer => value.is_i64() || value.is_u64(),
            FieldKind::IntegralNumber => {
                value.is_i64()
                    || value.is_u64()
                    || value.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= 0.0)
            }
            FieldKind::Objects => value
                .as_array()
                .is_some_and(|l| l.iter().all(Value::is_object)),
            FieldKind::Strings => value
                .as_array()
                .is_some_and(|l| l.iter().all(Value::is_string)),
        };
        if !fine {
            let expected = match kind {
                FieldKind::Name => "a non-empty string",
                FieldKind::Text => "a string",
                FieldKind::SemanticVersion => "a semantic version string like \"1.2.3\"",
                FieldKind::Version => "a version string like \"7.2\"",
                FieldKind::Integer => "an integer",
                FieldKind::IntegralNumber => "a whole number",
                FieldKind::Objects => "a list of objects",
                FieldKind::Strings => "a list of strings",
            };
            problems.push(format!("{name} must be {expected}, got {value}"));
        }
    }
    problems
}

fn is_semantic_version(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The integer value of `version` (validated beforehand).
pub fn version_number(object: &Map<String, Value>) -> i64 {
    let value = object.get("version");
    value
        .and_then(Value::as_i64)
        .or_else(|| value.and_then(Value::as_f64).map(|f| f as i64))
        .unwrap_or(0)
}

/// Why a node refuses a module, as RS's `_verify_module_os_compatibility()` and its unpacker
/// decide: an `operating_systems` (or older `os_list`) entry that is not a name followed by a
/// version is `module_os_list_invalid`; a module built for another architecture, or listing
/// operating systems none of which is the node's (compared by name and major version), is
/// `os_not_supported`.
pub fn platform_problem(
    module_json: &Map<String, Value>,
    platform: &NodePlatform,
) -> Option<(&'static str, String)> {
    let entries: Vec<String> = module_json
        .get("operating_systems")
        .or_else(|| module_json.get("os_list"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut parsed = Vec::new();
    for entry in &entries {
        match split_os_entry(entry) {
            Some((name, version)) => parsed.push((fold_distro(&name), version)),
            None => {
                return Some((
                    "module_os_list_invalid",
                    format!(
                        "cannot parse operating system {entry:?} of the module's operating_systems"
                    ),
                ))
            }
        }
    }
    if let Some(arch) = module_json.get("architecture").and_then(Value::as_str) {
        if !arch.eq_ignore_ascii_case(&platform.architecture) {
            return Some((
                "os_not_supported",
                format!(
                    "the module is built for {arch}, the node runs {}",
                    platform.architecture
                ),
            ));
        }
    }
    let (node_name, node_major) = platform.os_name_and_major();
    let fits = parsed.iter().any(|(name, version)| {
        *name == node_name && version.split('.').next() == Some(node_major.as_str())
    });
    if !entries.is_empty() && !fits {
        let name = module_json
            .get("module_name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        return Some((
            "os_not_supported",
            format!(
                "Module '{name}' is not compatible with this node's OS '{}'. Supported operating systems: {entries:?}",
                platform.os_nick()
            ),
        ));
    }
    None
}

/// Whether a module name is safe to use as a directory name.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
