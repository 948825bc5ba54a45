//! `rmpack artifacts`: list or delete the module artifacts stored on each node.

use rmpack::manifest::ModuleVersion;
use rmpack::report;
use rmpack::rollout::artifacts::{self, DeleteResult};
use rmpack::text::command_line;

use super::connection::{cluster_words, plain_uid, rollout_failure, ClusterArgs};
use super::{CheckFailed, Status};

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
    /// Delete an artifact from every node.
    Delete {
        /// The module's name.
        name: String,
        /// Its version: the integer (10203) or the semantic version (1.2.3).
        #[arg(value_name = "VERSION")]
        module_version: String,
    },
}

fn parse_version(text: &str) -> anyhow::Result<ModuleVersion> {
    Ok(ModuleVersion::parse_any(text)?)
}

/// Runs `rmpack artifacts`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let version = match &args.command {
        ArtifactsCommand::Delete { module_version, .. } => Some(parse_version(module_version)?),
        ArtifactsCommand::List => None,
    };
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener)?;
    let nodes = artifacts::selected(&client, args.nodes.as_deref(), args.external)
        .map_err(|e| rollout_failure(e, "cannot list the nodes"))?;
    match (&args.command, version) {
        (ArtifactsCommand::Delete { name, .. }, Some(version)) => {
            let rows = artifacts::delete_everywhere(&nodes, name, version)
                .map_err(|e| rollout_failure(e, "cannot delete the artifact"))?;
            if args.cluster.json {
                print!("{}", report::json_pretty(&rows));
            } else {
                print!("{}", report::artifact_deletions(&rows));
            }
            let failed: Vec<&str> = rows
                .iter()
                .filter(|r| r.result == DeleteResult::Failed)
                .map(|r| r.node.as_str())
                .collect();
            if failed.is_empty() {
                Ok(Status::Success)
            } else {
                let semantic = version.semantic().to_string();
                let retry = command_line(
                    ["rmpack", "artifacts", "delete", name.as_str(), &semantic]
                        .into_iter()
                        .map(str::to_string)
                        .chain(["--nodes".to_string(), failed.join(",")])
                        .chain(args.external.then(|| "--external".to_string()))
                        .chain(cluster_words()),
                );
                Err(anyhow::Error::new(CheckFailed(format!(
                    "{name} {semantic} could not be deleted from node(s) {}; try again with: {retry}",
                    failed.join(", "),
                ))))
            }
        }
        _ => {
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
