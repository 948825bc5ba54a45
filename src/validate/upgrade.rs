//! Upgrade: the new version against the one a database runs, and — for a database upgrade of a
//! module the cluster already stores — the whole pre-flight on the stored module object.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::rules::*;
use super::{Ctx, Diagnostic, Report, Target};
use crate::manifest::{DottedVersion, ModuleVersion};
use crate::release::Build;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let location = ctx.json_location();
    for finding in version_findings(ctx.target.current_version, ctx.module_version(), &location) {
        ctx.push(finding);
    }
}

fn version_findings(
    current: Option<ModuleVersion>,
    new: Option<ModuleVersion>,
    location: &str,
) -> Vec<Diagnostic> {
    let (Some(current), Some(new)) = (current, new) else {
        return Vec::new();
    };
    let describe = |v: ModuleVersion| format!("{} ({v})", v.semantic());
    match new.cmp(&current) {
        Ordering::Less => vec![UPGRADE_DOWNGRADE
            .finding(format!(
                "the module's version {} is lower than the current {}",
                describe(new),
                describe(current)
            ))
            .at(location)],
        Ordering::Equal => vec![UPGRADE_SAME_VERSION
            .finding(format!(
                "version {} is already the current one",
                describe(new)
            ))
            .at(location)],
        Ordering::Greater => Vec::new(),
    }
}

/// The pre-flight of a database module upgrade: `module` is the module object the cluster
/// stores (`GET /v1/modules/{uid}`), `target` the database (its configuration, the Redis version
/// it will run, the module version it runs now) and the cluster (RS version, every node's OS and
/// architecture). Runs the version, capability and upgrade rules and the platform check; the
/// rules that need the zip (structure, ELF) ran when the module was uploaded.
pub fn check_module_object(module: &Value, target: &Target, subject: &str) -> Report {
    let empty = Map::new();
    let value = module.as_object().unwrap_or(&empty);
    let location = "module object";
    let version = value
        .get("version")
        .and_then(|v| crate::manifest::module_version_from_json(v).ok())
        .or_else(|| ModuleVersion::from_semantic_text(value.get("semantic_version")?.as_str()?));
    let mut diagnostics = version_findings(target.current_version, version, location);
    diagnostics.extend(super::versions::findings(value, target, location, true));
    if let Some(database) = &target.database {
        diagnostics.extend(super::capabilities::missing(
            Some(value),
            database,
            location,
        ));
    }
    diagnostics.extend(platform_findings(value, target, location));
    Report {
        subject: subject.to_string(),
        diagnostics,
    }
}

/// RS refuses every database upgrade while its nodes run different RS versions; `nodes` are
/// (uid, `software_version`) pairs.
pub fn check_nodes_same_rs(nodes: &[(String, Option<String>)]) -> Vec<Diagnostic> {
    let mut versions: Vec<&str> = nodes
        .iter()
        .map(|(_, v)| v.as_deref().unwrap_or("not reported"))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.len() <= 1 {
        return Vec::new();
    }
    let listed: Vec<String> = nodes
        .iter()
        .map(|(uid, v)| format!("node {uid}: {}", v.as_deref().unwrap_or("not reported")))
        .collect();
    vec![UPGRADE_NODES_ON_DIFFERENT_RS.finding(format!(
        "the nodes run different RS versions ({}); RS answers \"not all nodes upgraded to the same version\"",
        listed.join(", ")
    ))]
}

/// A database's move from Redis `current` to `target` against the cluster's
/// `redis_upgrade_policy` (with `major`, a move may not go above `default_redis_version`).
pub fn check_redis_move(
    current: &DottedVersion,
    target: &DottedVersion,
    policy: Option<&str>,
    default_redis: Option<&DottedVersion>,
    location: &str,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if target.major_minor() < current.major_minor() {
        out.push(
            UPGRADE_REDIS_DOWNGRADE
                .finding(format!(
                    "the database runs Redis {current}; RS does not move it to the lower {target}"
                ))
                .at(location),
        );
    }
    let moving = target.major_minor() != current.major_minor();
    if let (true, Some("major"), Some(default)) = (moving, policy, default_redis) {
        if target.major_minor() > default.major_minor() {
            out.push(
                UPGRADE_REDIS_POLICY
                    .finding(format!(
                        "the cluster's redis_upgrade_policy is major with default Redis {default}; Redis {target} is above it"
                    ))
                    .at(location),
            );
        }
    }
    out
}

/// Every node's OS and architecture must have a build (RS's node check, through
/// [`Build::runs_on`]): the module object's `platforms` keys (`rhel9/x86_64`), else its
/// `architecture` and `operating_systems`.
fn platform_findings(
    value: &Map<String, Value>,
    target: &Target,
    location: &str,
) -> Vec<Diagnostic> {
    let Some(build) = Build::from_json(value) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arch in &target.architectures {
        if build.runs_on(None, Some(*arch)).is_err() {
            out.push(
                UPGRADE_PLATFORM_MISSING
                    .finding(format!(
                        "the cluster has {arch} nodes, but the module holds builds for {} only",
                        build.platforms_label()
                    ))
                    .at(location),
            );
        }
    }
    for os in &target.operating_systems {
        if build.runs_on(Some(os), None).is_err() {
            out.push(
                UPGRADE_PLATFORM_MISSING
                    .finding(format!(
                        "the cluster has {os} nodes, but the module holds builds for {} only",
                        build.platforms_label()
                    ))
                    .at(location),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::DottedVersion;

    fn module(extra: Value) -> Value {
        let mut m = serde_json::json!({
            "module_name": "hello", "semantic_version": "1.2.3", "version": 10203,
            "min_redis_version": "7.2", "min_redis_pack_version": "7.4",
            "compatible_redis_version": "7.2", "capabilities": ["types"],
            "architecture": "x86_64", "operating_systems": ["ubuntu22"]
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    fn target(redis: &str) -> Target {
        Target {
            redis_version: Some(redis.parse::<DottedVersion>().unwrap()),
            rs_version: Some("8.0.2".parse().unwrap()),
            current_version: Some(ModuleVersion(10202)),
            architectures: vec!["x86_64".parse().unwrap()],
            operating_systems: vec![crate::manifest::OsNick::parse("ubuntu22.04", false).unwrap()],
            ..Target::default()
        }
    }

    #[test]
    fn a_fitting_module_passes() {
        let report = check_module_object(&module(serde_json::json!({})), &target("7.2"), "db 1");
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    }

    #[test]
    fn each_problem_is_named_with_its_rule() {
        let t = target("7.2");
        let cases = [
            (
                serde_json::json!({"version": 10201, "semantic_version": "1.2.1"}),
                "upgrade-downgrade",
            ),
            (
                serde_json::json!({"version": 10202, "semantic_version": "1.2.2"}),
                "upgrade-same-version",
            ),
            (
                serde_json::json!({"min_redis_version": "7.4"}),
                "redis-version-too-old",
            ),
            (
                serde_json::json!({"min_redis_pack_version": "8.2"}),
                "rs-version-too-old-for-upgrade",
            ),
            (
                serde_json::json!({"compatible_redis_version": "7.4"}),
                "upgrade-redis-version-not-compatible",
            ),
            (
                serde_json::json!({"architecture": "aarch64"}),
                "upgrade-platform-missing",
            ),
            (
                serde_json::json!({"operating_systems": ["rhel9"]}),
                "upgrade-platform-missing",
            ),
        ];
        for (extra, rule) in cases {
            let report = check_module_object(&module(extra.clone()), &t, "db 1");
            assert!(report.has(rule), "{extra}: {:?}", report.diagnostics);
            assert!(report.failed(false), "{extra}");
        }
        let mut m = module(serde_json::json!({}));
        m.as_object_mut()
            .unwrap()
            .remove("compatible_redis_version");
        let report = check_module_object(&m, &t, "db 1");
        assert!(report.has("compatible-redis-version-missing"));
        assert!(!report.failed(false), "a warning only");
        let mut with_db = t.clone();
        with_db.database =
            Some(serde_json::json!({"name": "db", "eviction_policy": "allkeys-lru"}));
        let report = check_module_object(&module(serde_json::json!({})), &with_db, "db 1");
        assert!(report.has("capability-missing"), "{:?}", report.diagnostics);
    }

    #[test]
    fn mixed_rs_nodes_and_redis_moves_are_named() {
        let node = |uid: &str| (uid.to_string(), Some("8.2.0-40".to_string()));
        let same = [node("1"), node("2")];
        assert!(check_nodes_same_rs(&same).is_empty());
        let mixed = [
            ("1".to_string(), Some("8.2.0-40".to_string())),
            ("2".to_string(), None),
        ];
        let found = check_nodes_same_rs(&mixed);
        assert_eq!(found[0].rule, "upgrade-nodes-on-different-rs");
        assert!(
            found[0].message.contains("node 2: not reported"),
            "{}",
            found[0].message
        );
        let v = |s: &str| s.parse::<DottedVersion>().unwrap();
        let down = check_redis_move(&v("7.4"), &v("7.2"), None, None, "db 1");
        assert_eq!(down[0].rule, "upgrade-redis-downgrade");
        assert!(check_redis_move(
            &v("7.4"),
            &v("7.4.2"),
            Some("major"),
            Some(&v("7.2")),
            "db 1"
        )
        .is_empty());
        let policy = check_redis_move(&v("7.4"), &v("8.2"), Some("major"), Some(&v("8.0")), "db 1");
        assert_eq!(policy[0].code, Some("redis_upgrade_policy_mismatch"));
        assert!(
            check_redis_move(&v("7.4"), &v("8.0"), Some("major"), Some(&v("8.0")), "db 1")
                .is_empty()
        );
        assert!(check_redis_move(
            &v("7.4"),
            &v("8.2"),
            Some("latest"),
            Some(&v("8.0")),
            "db 1"
        )
        .is_empty());
    }
}
