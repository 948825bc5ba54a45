//! Versions: the module's minimum Redis and RS versions against the target's.

use super::rules::*;
use super::Ctx;
use crate::manifest::DottedVersion;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let location = ctx.json_location();
    if let Some(redis) = ctx.target.redis_version.clone() {
        if let Some(min) = dotted(ctx, "min_redis_version") {
            if min > redis {
                ctx.push(
                    REDIS_VERSION_TOO_OLD
                        .finding(format!(
                            "the module needs Redis {min} (min_redis_version), but the target runs Redis {redis}"
                        ))
                        .at(location.clone()),
                );
            }
        }
        if let Some(compatible) = dotted(ctx, "compatible_redis_version") {
            if compatible.major_minor() != redis.major_minor() {
                ctx.push(
                    REDIS_VERSION_NOT_COMPATIBLE
                        .finding(format!(
                            "compatible_redis_version is {compatible}, but the target runs Redis {redis}; RS will not pick this build for that database"
                        ))
                        .at(location.clone()),
                );
            }
        }
    }
    if let Some(rs) = ctx.target.rs_version.clone() {
        if let Some(min) = dotted(ctx, "min_redis_pack_version") {
            if min > rs {
                let rule = if ctx.target.current_version.is_some() {
                    &RS_VERSION_TOO_OLD_FOR_UPGRADE
                } else {
                    &RS_VERSION_TOO_OLD
                };
                ctx.push(
                    rule.finding(format!(
                        "the module needs RS {min} (min_redis_pack_version), but the cluster runs RS {rs}"
                    ))
                    .at(location),
                );
            }
        }
    }
}

/// A version field of module.json, written as a string or (by YAML-born manifests) a number.
fn dotted(ctx: &Ctx<'_>, field: &str) -> Option<DottedVersion> {
    match ctx.value?.get(field)? {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}
