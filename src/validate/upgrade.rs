//! Upgrade: the new version against the one already on the cluster or database.

use std::cmp::Ordering;

use super::rules::*;
use super::Ctx;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let (Some(current), Some(new)) = (ctx.target.current_version, ctx.module_version()) else {
        return;
    };
    let location = ctx.json_location();
    let describe = |v: crate::manifest::ModuleVersion| format!("{} ({v})", v.semantic());
    match new.cmp(&current) {
        Ordering::Less => ctx.push(
            UPGRADE_DOWNGRADE
                .finding(format!(
                    "the module's version {} is lower than the current {}",
                    describe(new),
                    describe(current)
                ))
                .at(location),
        ),
        Ordering::Equal => ctx.push(
            UPGRADE_SAME_VERSION
                .finding(format!(
                    "version {} is already the current one",
                    describe(new)
                ))
                .at(location),
        ),
        Ordering::Greater => {}
    }
}
