//! Facts only a live cluster gives: the capability names it knows, the modules it holds, and
//! whether it accepts uploads at all.

use super::rules::*;
use super::Ctx;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let Some(cluster) = ctx.target.cluster.clone() else {
        return;
    };
    let location = ctx.json_location();
    let source = if cluster.source.is_empty() {
        "the cluster".to_string()
    } else {
        format!("the cluster at {}", cluster.source)
    };
    if cluster.modules_upload_allowed == Some(false) {
        ctx.push(CLUSTER_UPLOAD_DISABLED.finding(format!(
            "{source} has allow_modules_upload = false; uploads answer 403 modules_upload_disabled"
        )));
    }
    if !cluster.known_capabilities.is_empty() {
        let declared: Vec<String> = ctx
            .value
            .and_then(|v| v.get("capabilities"))
            .and_then(|c| c.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for name in declared {
            if !cluster.known_capabilities.contains(&name) {
                ctx.push(
                    CLUSTER_CAPABILITY_UNKNOWN
                        .finding(format!("{source} does not know capability `{name}`"))
                        .at(location.clone()),
                );
            }
        }
    }
    if let Some(build) = ctx.value.and_then(crate::release::Build::from_json) {
        for node in &cluster.nodes {
            if build.runs_on(node.os.as_ref(), node.arch).is_err() {
                let runs = crate::release::platform_label(node.os.as_ref(), node.arch);
                ctx.push(
                    CLUSTER_NODE_BUILD_MISSING
                        .finding(format!(
                            "node {} runs {runs} ({}), but this zip holds {} {} built for {}; the node answers os_not_supported",
                            node.uid,
                            node.os_reported,
                            build.module_name,
                            build.semantic_version(),
                            build.platforms_label()
                        ))
                        .help(format!(
                            "Build {} {} for {runs} and upload it together with this zip (`rmpack upload ZIP…` sends each node the build for its platform).",
                            build.module_name,
                            build.semantic_version()
                        ))
                        .at(location.clone()),
                );
            }
        }
    }
    let name = ctx.str_field("module_name").map(str::to_string);
    if let (Some(name), Some(version)) = (name.clone(), ctx.module_version()) {
        let higher = cluster
            .modules
            .iter()
            .filter(|(n, v)| *n == name && *v > version)
            .map(|(_, v)| *v)
            .max();
        if let Some(higher) = higher {
            ctx.push(
                CLUSTER_NEWER_VERSION_REGISTERED
                    .finding(format!(
                        "{source} already holds `{name}` {}; {} goes beside it",
                        higher.semantic(),
                        version.semantic()
                    ))
                    .at(location.clone()),
            );
        }
    }
    if let (Some(name), Some(version)) = (name, ctx.module_version()) {
        if cluster
            .modules
            .iter()
            .any(|(n, v)| *n == name && *v == version)
        {
            ctx.push(
                CLUSTER_MODULE_EXISTS
                    .finding(format!(
                        "{source} already holds module `{name}` version {} ({version})",
                        version.semantic()
                    ))
                    .at(location),
            );
        }
    }
}
