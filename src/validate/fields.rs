//! module.json fields, checked on the raw JSON so a wrong type is named even where the typed
//! model would have coerced or refused it.

use std::collections::HashMap;

use serde_json::Value;

use super::rules::*;
use super::Ctx;
use crate::manifest::{
    is_sha256_hex, module_version_from_json, Capability, DottedVersion, OsNick, SemanticVersion,
    OS_LINUX, USER_DEFINED_REQUIRED_FIELDS,
};

/// The JSON type a field must have.
#[derive(Clone, Copy)]
enum Kind {
    String,
    Number,
    Bool,
    Array,
    Object,
    StringList,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Number => "an integer",
            Kind::Bool => "true or false",
            Kind::Array => "a list",
            Kind::Object => "an object",
            Kind::StringList => "a list of strings",
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::Number => value.is_number(),
            Kind::Bool => value.is_boolean(),
            Kind::Array => value.is_array(),
            Kind::Object => value.is_object(),
            Kind::StringList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
        }
    }
}

const FIELD_KINDS: &[(&str, Kind)] = &[
    ("module_name", Kind::String),
    ("module_file", Kind::String),
    ("version", Kind::Number),
    ("semantic_version", Kind::String),
    ("display_name", Kind::String),
    ("commands", Kind::Array),
    ("command_line_args", Kind::String),
    ("capabilities", Kind::StringList),
    ("min_redis_version", Kind::String),
    ("min_redis_pack_version", Kind::String),
    ("compatible_redis_version", Kind::String),
    ("architecture", Kind::String),
    ("os", Kind::String),
    ("operating_systems", Kind::StringList),
    ("os_list", Kind::StringList),
    ("sha256", Kind::String),
    ("dependencies", Kind::Object),
    ("optional-dependencies", Kind::Object),
    ("exclude_commands", Kind::StringList),
    ("config_command", Kind::String),
    ("bigstore_version_2_support", Kind::Bool),
    ("crdb", Kind::Object),
];

const RECOMMENDED: &[&str] = &["module_file", "sha256", "architecture"];

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let location = ctx.json_location();
    let Some(parsed) = &ctx.bundle.module_json_value else {
        return;
    };
    let map = match parsed {
        Err(reason) => {
            ctx.push(
                JSON_SYNTAX
                    .finding(format!("module.json is not valid JSON: {reason}"))
                    .at(location),
            );
            return;
        }
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            ctx.push(
                JSON_SYNTAX
                    .finding(format!(
                        "module.json is {}, not a JSON object",
                        json_kind(other)
                    ))
                    .at(location),
            );
            return;
        }
    };
    let at = |d: super::Diagnostic| d.at(location.clone());

    for field in USER_DEFINED_REQUIRED_FIELDS {
        if !map.contains_key(*field) {
            ctx.push(at(
                JSON_MISSING_FIELD.finding(format!("required field `{field}` is missing"))
            ));
        }
    }
    let has_module =
        ctx.bundle.module.is_some() || ctx.bundle.source != crate::bundle::Source::ModuleJson;
    if has_module {
        for field in RECOMMENDED {
            if !map.contains_key(*field) {
                ctx.push(at(
                    JSON_MISSING_RECOMMENDED.finding(format!("field `{field}` is missing"))
                ));
            }
        }
    }
    for (field, kind) in FIELD_KINDS {
        let Some(value) = map.get(*field) else {
            continue;
        };
        let required = USER_DEFINED_REQUIRED_FIELDS.contains(field);
        // RAMP writes null for some optional fields; RS treats them as absent.
        if value.is_null() && !required {
            continue;
        }
        // Versions may be written as bare numbers by YAML-born manifests; they still read.
        let number_as_version = matches!(
            *field,
            "min_redis_version" | "min_redis_pack_version" | "compatible_redis_version"
        ) && value.is_number();
        if !kind.accepts(value) && !number_as_version {
            ctx.push(at(JSON_FIELD_TYPE.finding(format!(
                "`{field}` is {}, but must be {}",
                json_kind(value),
                kind.name()
            ))));
        }
    }

    if let Some(name) = map.get("module_name").and_then(Value::as_str) {
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            ctx.push(at(JSON_MODULE_NAME.finding(format!(
                "module_name `{name}` is empty or contains white space"
            ))));
        }
    }

    check_version(ctx, map, &location);

    for field in [
        "min_redis_version",
        "min_redis_pack_version",
        "compatible_redis_version",
    ] {
        let text = match map.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        if text.parse::<DottedVersion>().is_err() {
            ctx.push(at(JSON_VERSION_SYNTAX.finding(format!(
                "`{field}` is `{text}`, not a dotted release number like 7.2 or 7.4.2"
            ))));
        }
    }
    if let (Some(min), Some(compatible)) = (
        ctx.dotted_field("min_redis_version"),
        ctx.dotted_field("compatible_redis_version"),
    ) {
        let (cmaj, cmin) = compatible.major_minor();
        let (mmaj, mmin) = min.major_minor();
        if (mmaj, mmin) > (cmaj, cmin) {
            ctx.push(at(JSON_VERSIONS_INCONSISTENT.finding(format!(
                "min_redis_version {min} is above compatible_redis_version {compatible}"
            ))));
        }
    }

    if let Some(Value::Array(caps)) = map.get("capabilities") {
        for name in caps.iter().filter_map(Value::as_str) {
            if name.parse::<Capability>().is_err() {
                ctx.push(at(
                    JSON_CAPABILITY_UNKNOWN.finding(format!("unknown capability `{name}`"))
                ));
            }
        }
    }

    if let Some(os) = map.get("os").and_then(Value::as_str) {
        if os != OS_LINUX {
            ctx.push(at(
                JSON_OS_NOT_LINUX.finding(format!("os is `{os}`, not `Linux`"))
            ));
        }
    }
    for field in ["operating_systems", "os_list"] {
        let Some(Value::Array(list)) = map.get(field) else {
            continue;
        };
        for name in list.iter().filter_map(Value::as_str) {
            match OsNick::parse(name, true) {
                Err(_) => ctx.push(at(JSON_OS_INVALID.finding(format!(
                    "{field} entry `{name}` is not a distro id followed by its version; RS's unpacker refuses it"
                )))),
                Ok(nick) if !nick.is_known() => ctx.push(at(JSON_OS_UNKNOWN.finding(format!(
                    "operating system `{name}` is not one rmpack has platform facts for ({})",
                    OsNick::known().join(", ")
                )))),
                Ok(_) => {}
            }
        }
    }
    if let Some(arch) = map.get("architecture").and_then(Value::as_str) {
        if arch.parse::<crate::manifest::Arch>().is_err() {
            ctx.push(at(JSON_ARCHITECTURE_INVALID.finding(format!(
                "architecture is `{arch}`; RS accepts x86_64 or aarch64"
            ))));
        }
    }
    if let Some(sha) = map.get("sha256").and_then(Value::as_str) {
        if !is_sha256_hex(sha) {
            ctx.push(at(
                JSON_SHA256_FORMAT.finding(format!("sha256 `{sha}` is not 64 hex digits"))
            ));
        }
    }

    for field in ["dependencies", "optional-dependencies"] {
        if let Some(Value::Object(deps)) = map.get(field) {
            for (name, dep) in deps {
                if let Some(problem) = dependency_problem(name, dep) {
                    ctx.push(at(
                        JSON_DEPENDENCY_INVALID.finding(format!("{field} `{name}`: {problem}"))
                    ));
                }
            }
        }
    }

    if let Some(Value::Array(commands)) = map.get("commands") {
        check_commands(ctx, commands, &location);
    }
}

fn check_version(ctx: &mut Ctx<'_>, map: &serde_json::Map<String, Value>, location: &str) {
    let Some(raw) = map.get("version") else {
        return;
    };
    let version = match module_version_from_json(raw) {
        Ok(v) => v,
        Err(_) => {
            if raw.is_number() || raw.is_string() {
                ctx.push(
                    JSON_VERSION_INVALID
                        .finding(format!("version `{raw}` is not a non-negative integer"))
                        .at(location),
                );
            }
            return;
        }
    };
    if raw.is_string() {
        ctx.push(
            JSON_VERSION_INVALID
                .finding(format!(
                    "version is the string {raw}; RS expects the integer {version}"
                ))
                .at(location),
        );
    } else if raw.as_u64().is_none() {
        ctx.push(
            JSON_VERSION_FLOAT
                .finding(format!(
                    "version is written as {raw}; RS reads it as {version}"
                ))
                .at(location),
        );
    }
    if let Some(semantic) = map.get("semantic_version").and_then(Value::as_str) {
        match semantic.parse::<SemanticVersion>() {
            Ok(given) if given == version.semantic() => {}
            Ok(_) => ctx.push(
                JSON_VERSION_MISMATCH
                    .finding(format!(
                        "version {version} means semantic version {}, but semantic_version is `{semantic}`",
                        version.semantic()
                    ))
                    .at(location),
            ),
            Err(_) => ctx.push(
                JSON_VERSION_SYNTAX
                    .finding(format!(
                        "semantic_version `{semantic}` is not major.minor.patch (version {version} means {})",
                        version.semantic()
                    ))
                    .at(location),
            ),
        }
    }
}

fn dependency_problem(name: &str, dep: &Value) -> Option<String> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !plain {
        return Some("the name must be letters, digits, `_`, `-` or `.`".into());
    }
    let Some(obj) = dep.as_object() else {
        return Some(format!(
            "is {}, not an object with url and sha256",
            json_kind(dep)
        ));
    };
    match obj.get("sha256") {
        Some(Value::String(s)) if is_sha256_hex(s) => {}
        Some(Value::String(s)) => return Some(format!("sha256 `{s}` is not 64 hex digits")),
        Some(other) => return Some(format!("sha256 is {}, not a string", json_kind(other))),
        None => return Some("sha256 is missing".into()),
    }
    match obj.get("url") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) if url.is_empty() => None,
        Some(Value::String(url)) => {
            let lower = url.to_ascii_lowercase();
            let scheme_ok = lower.starts_with("http://") || lower.starts_with("https://");
            let has_host = url
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
            (!scheme_ok || !has_host).then(|| format!("url `{url}` is not an http(s) URL"))
        }
        Some(other) => Some(format!("url is {}, not a string", json_kind(other))),
    }
}

fn check_commands(ctx: &mut Ctx<'_>, commands: &[Value], location: &str) {
    if commands.is_empty() {
        ctx.push(
            JSON_COMMANDS_EMPTY
                .finding("module.json lists no commands")
                .at(location),
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, command) in commands.iter().enumerate() {
        let Some(obj) = command.as_object() else {
            ctx.push(
                JSON_COMMAND_INVALID
                    .finding(format!(
                        "commands[{index}] is {}, not an object",
                        json_kind(command)
                    ))
                    .at(location),
            );
            continue;
        };
        let name = match obj.get("command_name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() && !n.chars().any(char::is_whitespace) => n,
            _ => {
                ctx.push(
                    JSON_COMMAND_INVALID
                        .finding(format!("commands[{index}] has no usable command_name"))
                        .at(location),
                );
                continue;
            }
        };
        let mut ints = [0i64; 4];
        let mut bad = Vec::new();
        for (slot, field) in ints
            .iter_mut()
            .zip(["command_arity", "first_key", "last_key", "step"])
        {
            match obj.get(field) {
                None | Some(Value::Null) => {}
                Some(v) => match v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                {
                    Some(n) => *slot = n,
                    None => bad.push(format!("{field} is {v}")),
                },
            }
        }
        if !bad.is_empty() {
            ctx.push(
                JSON_COMMAND_INVALID
                    .finding(format!(
                        "command `{name}`: {} (must be integers)",
                        bad.join(", ")
                    ))
                    .at(location),
            );
            continue;
        }
        let [arity, first, last, step] = ints;
        if obj.contains_key("command_arity") && arity == 0 {
            ctx.push(
                JSON_COMMAND_ARITY
                    .finding(format!("command `{name}` has arity 0"))
                    .at(location),
            );
        }
        if let Some(problem) = key_problem(arity, first, last, step) {
            ctx.push(
                JSON_COMMAND_KEYS
                    .finding(format!(
                        "command `{name}`: first_key {first}, last_key {last}, step {step}: {problem}"
                    ))
                    .at(location),
            );
        }
        let key = name.to_ascii_lowercase();
        if let Some(previous) = seen.insert(key, index) {
            ctx.push(
                JSON_COMMAND_DUPLICATE
                    .finding(format!("command `{name}` is listed twice (commands[{previous}] and commands[{index}])"))
                    .at(location),
            );
        }
    }
}

fn key_problem(arity: i64, first: i64, last: i64, step: i64) -> Option<&'static str> {
    if first < 0 {
        return Some("first_key cannot be negative");
    }
    if first == 0 {
        return (last != 0 || step != 0)
            .then_some("a command without keys has last_key and step 0");
    }
    if step <= 0 {
        return Some("a command with keys needs a positive step");
    }
    if last > 0 && last < first {
        return Some("last_key is before first_key");
    }
    if arity > 0 && (first >= arity || last >= arity) {
        return Some("a key position is beyond the command's arity");
    }
    None
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges() {
        assert_eq!(key_problem(3, 1, 1, 1), None);
        assert_eq!(key_problem(-2, 1, -1, 1), None);
        assert_eq!(key_problem(1, 0, 0, 0), None);
        assert!(key_problem(1, 0, 1, 0).is_some());
        assert!(key_problem(3, 1, 1, 0).is_some());
        assert!(key_problem(3, 2, 1, 1).is_some());
        assert!(key_problem(2, 2, 2, 1).is_some());
        assert!(key_problem(2, -1, 0, 0).is_some());
    }

    #[test]
    fn dependency_entries() {
        let good = serde_json::json!({"url": "https://x.example/a.tgz", "sha256": "a".repeat(64)});
        assert_eq!(dependency_problem("gears", &good), None);
        let embedded = serde_json::json!({"sha256": "a".repeat(64)});
        assert_eq!(dependency_problem("gears", &embedded), None);
        assert!(dependency_problem("../x", &good).is_some());
        assert!(dependency_problem("g", &serde_json::json!({"sha256": "zz"})).is_some());
        assert!(dependency_problem(
            "g",
            &serde_json::json!({"url": "ftp://x/y", "sha256": "a".repeat(64)})
        )
        .is_some());
        assert!(dependency_problem("g", &serde_json::json!("x")).is_some());
    }
}
