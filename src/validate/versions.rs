//! Versions: the module's minimum Redis and RS versions, and the Redis version it is built for,
//! against the target's.

use serde_json::{Map, Value};

use super::rules::*;
use super::{Ctx, Diagnostic, Target};
use crate::manifest::DottedVersion;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let Some(value) = ctx.value else {
        return;
    };
    let location = ctx.json_location();
    for finding in findings(value, ctx.target, &location, false) {
        ctx.push(finding);
    }
}

/// The version findings for module.json (or a module object a cluster stores) against
/// `target`. `upgrade` says a database is to move to this module: then a build for another Redis
/// major.minor is refused (RS would not pick it for the database), not just warned about.
pub(crate) fn findings(
    value: &Map<String, Value>,
    target: &Target,
    location: &str,
    upgrade: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let compatible = dotted(value, "compatible_redis_version");
    if !value.contains_key("compatible_redis_version") {
        out.push(
            JSON_COMPATIBLE_REDIS_VERSION_MISSING
                .finding("module.json has no compatible_redis_version; RS selects module builds for Redis 7.4 and later databases by it")
                .at(location),
        );
    }
    if let Some(redis) = target.redis_version.clone() {
        if let Some(min) = dotted(value, "min_redis_version") {
            if min > redis {
                out.push(
                    REDIS_VERSION_TOO_OLD
                        .finding(format!(
                            "the module needs Redis {min} (min_redis_version), but the target runs Redis {redis}"
                        ))
                        .at(location),
                );
            }
        }
        if let Some(compatible) = &compatible {
            if compatible.major_minor() != redis.major_minor() {
                let rule = if upgrade {
                    &UPGRADE_REDIS_VERSION_NOT_COMPATIBLE
                } else {
                    &REDIS_VERSION_NOT_COMPATIBLE
                };
                out.push(
                    rule.finding(format!(
                        "compatible_redis_version is {compatible}, but the target runs Redis {redis}; RS will not pick this build for that database"
                    ))
                    .at(location),
                );
            }
        }
    }
    if let Some(rs) = target.rs_version.clone() {
        if let Some(min) = dotted(value, "min_redis_pack_version") {
            if min > rs {
                let rule = if upgrade || target.current_version.is_some() {
                    &RS_VERSION_TOO_OLD_FOR_UPGRADE
                } else {
                    &RS_VERSION_TOO_OLD
                };
                out.push(
                    rule.finding(format!(
                        "the module needs RS {min} (min_redis_pack_version), but the cluster runs RS {rs}"
                    ))
                    .at(location),
                );
            }
        }
    }
    out
}

/// A version field, written as a string or (by YAML-born manifests) a number.
fn dotted(value: &Map<String, Value>, field: &str) -> Option<DottedVersion> {
    match value.get(field)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}
