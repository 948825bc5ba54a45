//! Capabilities against the database configuration: each feature the database uses must be
//! covered by a capability the module declares.

use std::collections::BTreeSet;

use super::policy::capabilities;
use super::rules::*;
use super::{Ctx, Diagnostic};

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let Some(database) = ctx.target.database.as_ref() else {
        return;
    };
    let location = ctx.json_location();
    for finding in missing(ctx.value, database, &location) {
        ctx.push(finding);
    }
}

/// A finding per feature `database` uses that the module (`value`) lacks the capability for.
pub(crate) fn missing(
    value: Option<&serde_json::Map<String, serde_json::Value>>,
    database: &serde_json::Value,
    location: &str,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(config) = database.as_object() else {
        return out;
    };
    let declared: BTreeSet<&str> = value
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
        out.push(
            CAPABILITY_MISSING
                .finding(format!(
                    "{db_name} uses {} ({} = {value}), which needs capability `{}`; the module does not declare it",
                    gate.feature, gate.field, gate.capability
                ))
                .at(location),
        );
    }
    out
}
