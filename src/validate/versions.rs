//! Versions: the module's minimum Redis and RS versions, and the Redis version it is built for,
//! against the target's.

use serde_json::{Map, Value};

use super::rules::*;
use super::{Ctx, Diagnostic, Target};
use crate::manifest::{redis_feature_set, redis_feature_sets, DottedVersion, FeatureSet};
use crate::release::redis_fit;

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
/// `target`. The Redis check is RS's fit rule ([`crate::release::redis_fit`]): a build that does
/// not fit the target's Redis is one RS will not give a database on it. `upgrade` says a
/// database is to move to this module (the upgrade rule is named then).
pub(crate) fn findings(
    value: &Map<String, Value>,
    target: &Target,
    location: &str,
    upgrade: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let compatible = dotted(value, "compatible_redis_version");
    let min_redis = dotted(value, "min_redis_version");
    if !value.contains_key("compatible_redis_version") {
        out.push(
            JSON_COMPATIBLE_REDIS_VERSION_MISSING
                .finding(match &min_redis {
                    Some(min) => format!(
                        "module.json has no compatible_redis_version; RS then offers the build only to Redis {}.x databases at or above {min} (its min_redis_version)",
                        min.major_minor().0
                    ),
                    None => "module.json has no compatible_redis_version; RS selects module builds for Redis 7.4 and later databases by it".to_string(),
                })
                .at(location),
        );
    }
    if let Some(compatible) = &compatible {
        match redis_feature_set(compatible) {
            FeatureSet::Released => {}
            FeatureSet::Unknown => out.push(
                COMPATIBLE_REDIS_VERSION_UNRELEASED
                    .finding(format!(
                        "compatible_redis_version {compatible} is newer than every Redis release rmpack knows (newest: {})",
                        newest_feature_set()
                    ))
                    .at(location),
            ),
            FeatureSet::Impossible => out.push(
                COMPATIBLE_REDIS_VERSION_IMPOSSIBLE
                    .finding(format!(
                        "compatible_redis_version {compatible} is not a Redis feature set (Redis releases {}); no database runs it, so RS never gives this build to one",
                        feature_set_list()
                    ))
                    .at(location),
            ),
        }
    }
    if let Some(redis) = target.redis_version.clone() {
        match redis_fit(compatible.as_ref(), min_redis.as_ref(), &redis) {
            Err(misfit) => {
                let rule = if upgrade {
                    &UPGRADE_REDIS_VERSION_NOT_COMPATIBLE
                } else {
                    &REDIS_VERSION_NOT_COMPATIBLE
                };
                out.push(
                    rule.finding(format!(
                        "a database on Redis {redis} cannot use this build: {misfit}"
                    ))
                    .at(location),
                );
            }
            Ok(()) => {
                if let Some(min) = min_redis.as_ref().filter(|min| **min > redis) {
                    out.push(
                        REDIS_VERSION_TOO_OLD
                            .finding(format!(
                                "the module needs Redis {min} (min_redis_version), but the target runs Redis {redis}"
                            ))
                            .at(location),
                    );
                }
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

fn newest_feature_set() -> String {
    redis_feature_sets().last().map_or_else(
        || "?".to_string(),
        |(major, minor)| format!("{major}.{minor}"),
    )
}

fn feature_set_list() -> String {
    redis_feature_sets()
        .iter()
        .map(|(major, minor)| format!("{major}.{minor}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A version field, written as a string or (by YAML-born manifests) a number.
fn dotted(value: &Map<String, Value>, field: &str) -> Option<DottedVersion> {
    match value.get(field)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}
