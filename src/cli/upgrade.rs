//! `rmpack upgrade`: move a database to another version of one of its modules.

use std::time::Duration;

use anyhow::Context;
use rmpack::cluster::{Client, ClusterError, Module, ModuleUpgrade, PollOptions, UpgradeRequest};
use rmpack::manifest::{DottedVersion, ModuleVersion, SemanticVersion};

use super::upload::{cluster_failure, ClusterArgs};
use super::{CheckFailed, Status};

/// Arguments of `rmpack upgrade`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The database's uid.
    #[arg(long, value_name = "UID")]
    db: String,
    /// The module to upgrade (its module_name).
    #[arg(long, value_name = "NAME")]
    module: String,
    /// The version to move to (semantic, e.g. 2.4.1); the highest on the cluster when omitted.
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Keep the shards' master/replica roles (costs an extra failover).
    #[arg(long)]
    preserve_roles: bool,
    /// Allow discarding the data of a non-replicated, non-persistent database.
    #[arg(long)]
    may_discard_data: bool,
    /// Seconds to wait for the upgrade action.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    wait: u64,
    /// Seconds between polls of the action (0.05 to 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = parse_poll_interval)]
    poll_interval: f64,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// A poll interval in seconds: a finite number from 0.05 to 60, checked before anything is sent.
fn parse_poll_interval(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.05..=60.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0.05 to 60"
        )),
    }
}

/// The first RS release with the general `POST /v1/bdbs/{uid}/upgrade`.
const GENERAL_UPGRADE_SINCE: &str = "7.8.2";

fn wanted_version(text: &str) -> anyhow::Result<ModuleVersion> {
    if let Ok(semantic) = text.parse::<SemanticVersion>() {
        return Ok(ModuleVersion::from_semantic(semantic)?);
    }
    Ok(text.parse::<ModuleVersion>()?)
}

fn pick_target<'a>(
    modules: &'a [Module],
    name: &str,
    to: Option<ModuleVersion>,
    current: Option<ModuleVersion>,
) -> Option<&'a Module> {
    let same_name = modules
        .iter()
        .filter(|m| m.module_name.eq_ignore_ascii_case(name));
    match to {
        Some(version) => same_name
            .into_iter()
            .find(|m| m.module_version() == Some(version)),
        None => same_name
            .filter(|m| m.module_version().is_some())
            .filter(|m| current.is_none_or(|c| m.module_version() > Some(c)))
            .max_by_key(|m| m.module_version()),
    }
}

fn rs_version(client: &Client) -> Option<DottedVersion> {
    let nodes = client.nodes().ok()?;
    nodes
        .iter()
        .filter_map(|n| n.software_version.as_deref())
        .filter_map(|v| v.parse::<DottedVersion>().ok())
        .min()
}

/// Runs `rmpack upgrade`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener.clone())?;
    let bdb = client
        .bdb(&args.db)
        .map_err(|e| cluster_failure(e, "cannot read the database"))?;
    let in_use = bdb
        .module_list
        .iter()
        .find(|m| m.module_name.eq_ignore_ascii_case(&args.module))
        .ok_or_else(|| {
            anyhow::Error::new(CheckFailed(format!(
                "database {} does not use module {} (it uses: {})",
                args.db,
                args.module,
                bdb.module_list
                    .iter()
                    .map(|m| m.module_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        })?;
    let current_version = in_use
        .semantic_version
        .as_deref()
        .and_then(|v| v.parse::<SemanticVersion>().ok())
        .and_then(|s| ModuleVersion::from_semantic(s).ok());
    let to = args.to.as_deref().map(wanted_version).transpose()?;
    let modules = client
        .modules()
        .map_err(|e| cluster_failure(e, "cannot list modules"))?;
    let target = match pick_target(&modules, &args.module, to, current_version) {
        Some(target) => target,
        None => {
            if to.is_none() {
                println!(
                    "database {} already runs the newest {} on the cluster ({})",
                    args.db,
                    args.module,
                    in_use.semantic_version.as_deref().unwrap_or("?")
                );
                return Ok(Status::Success);
            }
            return Err(anyhow::Error::new(CheckFailed(format!(
                "the cluster has no {} {} (missing_module); upload it first with `rmpack upload`",
                args.module,
                args.to.as_deref().unwrap_or("")
            ))));
        }
    };
    if in_use.module_id.as_ref() == Some(&target.uid)
        || (target.module_version().is_some() && target.module_version() == current_version)
    {
        println!(
            "database {} already runs {} {}",
            args.db,
            args.module,
            target.semantic_version.as_deref().unwrap_or("?")
        );
        return Ok(Status::Success);
    }
    // Seed 001's table names the modules by uid (`current_module`, `new_module`) while its
    // example uses `current_semantic_version`; rmpack sends the uid form (plus `module_name`),
    // which both endpoints document, and keeps the database's current module arguments.
    let request = UpgradeRequest {
        modules: vec![ModuleUpgrade {
            module_name: in_use.module_name.clone(),
            current_module: in_use.module_id.clone(),
            new_module: target.uid.clone(),
            new_module_args: in_use.module_args.clone(),
        }],
        preserve_roles: args.preserve_roles.then_some(true),
        may_discard_data: args.may_discard_data.then_some(true),
    };
    listener_status(
        &args,
        &format!(
            "upgrading {} on database {} from {} to {}",
            in_use.module_name,
            args.db,
            in_use.semantic_version.as_deref().unwrap_or("?"),
            target.semantic_version.as_deref().unwrap_or("?")
        ),
    );
    let general = rs_version(&client)
        .zip(GENERAL_UPGRADE_SINCE.parse::<DottedVersion>().ok())
        .is_none_or(|(have, since)| have >= since);
    let answer = if general {
        match client.upgrade_bdb(&args.db, &request) {
            Err(ClusterError::NotFound { .. }) | Err(ClusterError::Api { status: 405, .. }) => {
                client.upgrade_bdb_modules(&args.db, &request)
            }
            other => other,
        }
    } else {
        client.upgrade_bdb_modules(&args.db, &request)
    }
    .map_err(|e| cluster_failure(e, "the upgrade was refused"))?;
    let action = rmpack::cluster::action_uid_of(&answer);
    let poll = PollOptions {
        interval: Duration::from_secs_f64(args.poll_interval),
        timeout: Duration::from_secs(args.wait),
    };
    let statuses = match &action {
        Some(uid) => {
            let outcome = client
                .follow_action(uid, &poll)
                .map_err(|e| cluster_failure(e, "the upgrade did not complete"))?;
            outcome
                .statuses
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        }
        None => vec!["completed".to_string()],
    };
    if args.cluster.json {
        let value = serde_json::json!({
            "db": args.db,
            "module": in_use.module_name,
            "from": in_use.semantic_version,
            "to": target.semantic_version,
            "new_module": target.uid,
            "action_uid": action,
            "statuses": statuses,
            "result": "completed",
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).context("cannot render")?
        );
    } else {
        println!(
            "database {}: {} upgraded from {} to {} ({})",
            args.db,
            in_use.module_name,
            in_use.semantic_version.as_deref().unwrap_or("?"),
            target.semantic_version.as_deref().unwrap_or("?"),
            statuses.join(" → ")
        );
    }
    Ok(Status::Success)
}

fn listener_status(args: &Args, message: &str) {
    if !args.cluster.quiet && !args.cluster.json {
        eprintln!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(uid: &str, semantic: &str) -> Module {
        Module {
            uid: rmpack::cluster::Uid(uid.into()),
            module_name: "ReJSON".into(),
            semantic_version: Some(semantic.into()),
            ..Module::default()
        }
    }

    #[test]
    fn picks_the_asked_or_the_highest_newer_version() {
        let modules = vec![
            module("a", "2.0.8"),
            module("b", "2.4.1"),
            module("c", "2.2.0"),
        ];
        let current = Some(ModuleVersion(20008));
        assert_eq!(
            pick_target(&modules, "rejson", None, current)
                .unwrap()
                .uid
                .0,
            "b"
        );
        let to = Some(ModuleVersion(20200));
        assert_eq!(
            pick_target(&modules, "rejson", to, current).unwrap().uid.0,
            "c"
        );
        assert!(pick_target(&modules, "rejson", None, Some(ModuleVersion(20401))).is_none());
    }
}
