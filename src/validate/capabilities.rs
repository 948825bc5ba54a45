//! Capabilities against the database configuration: each feature the database uses must be
//! covered by a capability the module declares.

use std::collections::BTreeSet;

use super::policy::capabilities;
use super::rules::*;
use super::Ctx;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let Some(database) = ctx.target.database.as_ref() else {
        return;
    };
    let Some(config) = database.as_object() else {
        return;
    };
    let declared: BTreeSet<&str> = ctx
        .value
        .and_then(|v| v.get("capabilities"))
        .and_then(|c| c.as_array())
        .map(|list| list.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    let policy = capabilities();
    let db_name = config
        .get("name")
        .and_then(|n| n.as_str())
        .map(|n| format!("database `{n}`"))
        .unwrap_or_else(|| "the database".to_string());
    let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
    for gate in &policy.gates {
        let Some(value) = config.get(&gate.field) else {
            continue;
        };
        if !policy.applies(gate, value) || declared.contains(gate.capability.as_str()) {
            continue;
        }
        if !reported.insert((gate.feature.as_str(), gate.capability.as_str())) {
            continue;
        }
        let location = ctx.json_location();
        ctx.push(
            CAPABILITY_MISSING
                .finding(format!(
                    "{db_name} uses {} ({} = {value}), which needs capability `{}`; the module does not declare it",
                    gate.feature, gate.field, gate.capability
                ))
                .at(location),
        );
    }
}
