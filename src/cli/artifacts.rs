//! `rmpack artifacts`: list or delete the module artifacts stored on each node.

use std::time::Duration;

use rmpack::manifest::ModuleVersion;
use rmpack::report;
use rmpack::rollout::artifacts;
use rmpack::rollout::{plan_delete, DeleteOptions, DeleteTarget};

use super::connection::{cluster_words, plain_uid, report_outcome, rollout_failure, ClusterArgs};
use super::Status;

/// Arguments of `rmpack artifacts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ArtifactsCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Only these nodes (uids, comma separated).
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        value_name = "UIDS",
        value_parser = plain_uid
    )]
    nodes: Option<Vec<String>>,
    /// Reach nodes by their external_addr instead of addr.
    #[arg(long, global = true)]
    external: bool,
}

#[derive(Debug, clap::Subcommand)]
enum ArtifactsCommand {
    /// List the artifacts of every node.
    List,
    /// Delete an artifact from every node, reading each node's list back.
    Delete {
        /// The module's name.
        name: String,
        /// Its version: the integer (10203) or the semantic version (1.2.3).
        #[arg(value_name = "VERSION")]
        module_version: String,
        /// Print the plan (which nodes hold the artifact, the requests) and stop; only GET
        /// requests are sent.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_version(text: &str) -> anyhow::Result<ModuleVersion> {
    Ok(ModuleVersion::parse_any(text)?)
}

/// Runs `rmpack artifacts`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    match &args.command {
        ArtifactsCommand::Delete {
            name,
            module_version,
            dry_run,
        } => {
            let version = parse_version(module_version)?;
            let client = args.cluster.connect(listener)?;
            let options = DeleteOptions {
                nodes: args.nodes.clone(),
                external: args.external,
                busy_timeout: Duration::from_secs(args.cluster.busy_timeout),
                connection: cluster_words(),
                ..DeleteOptions::default()
            };
            let target = DeleteTarget::Artifact {
                name: name.clone(),
                version,
            };
            let plan = plan_delete(&client, &target, &options)
                .map_err(|e| rollout_failure(e, "delete refused"))?;
            let outcome = if *dry_run {
                plan.as_outcome()
            } else {
                let _deferred = rmpack::interrupt::defer_stop();
                plan.execute(&client, &rmpack::interrupt::stop_requested)
            };
            Ok(report_outcome(&outcome, args.cluster.json))
        }
        ArtifactsCommand::List => {
            let client = args.cluster.connect(listener)?;
            let nodes = artifacts::selected(&client, args.nodes.as_deref(), args.external)
                .map_err(|e| rollout_failure(e, "cannot list the nodes"))?;
            let lists = artifacts::list(&nodes);
            if args.cluster.json {
                print!("{}", report::json_pretty(&lists));
            } else {
                print!("{}", report::artifact_lists(&lists));
            }
            Ok(if lists.iter().any(|l| l.error.is_some()) {
                Status::Failure
            } else {
                Status::Success
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_integers_or_semantic() {
        assert_eq!(parse_version("10203").unwrap(), ModuleVersion(10203));
        assert_eq!(parse_version("1.2.3").unwrap(), ModuleVersion(10203));
        assert!(parse_version("1.2").is_err());
    }
}
