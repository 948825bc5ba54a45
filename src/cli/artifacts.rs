//! `rmpack artifacts`: list or delete the module artifacts stored on each node.

use std::sync::Mutex;

use rmpack::cluster::{Artifact, Client, ClusterError, Node};
use rmpack::manifest::{ModuleVersion, SemanticVersion};
use rmpack::report;

use super::upload::{cluster_failure, ClusterArgs};
use super::{CheckFailed, Status};

/// Arguments of `rmpack artifacts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ArtifactsCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Only these nodes (uids, comma separated).
    #[arg(long, global = true, value_delimiter = ',', value_name = "UIDS")]
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
    if let Ok(semantic) = text.parse::<SemanticVersion>() {
        return Ok(ModuleVersion::from_semantic(semantic)?);
    }
    Ok(text.parse::<ModuleVersion>()?)
}

fn selected_nodes(client: &Client, wanted: Option<&[String]>) -> anyhow::Result<Vec<Node>> {
    let nodes = client
        .nodes()
        .map_err(|e| cluster_failure(e, "cannot list the nodes"))?;
    Ok(match wanted {
        None => nodes,
        Some(wanted) => {
            for uid in wanted {
                if !nodes.iter().any(|n| &n.uid.0 == uid) {
                    anyhow::bail!("the cluster has no node {uid}");
                }
            }
            nodes
                .into_iter()
                .filter(|n| wanted.contains(&n.uid.0))
                .collect()
        }
    })
}

/// Runs a closure on every node in parallel; results in node order.
fn per_node<T: Send>(nodes: &[Node], work: impl Fn(&Node) -> T + Sync) -> Vec<T> {
    let results: Mutex<Vec<Option<T>>> = Mutex::new(nodes.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for (index, node) in nodes.iter().enumerate() {
            let work = &work;
            let results = &results;
            scope.spawn(move || {
                let value = work(node);
                if let Ok(mut slots) = results.lock() {
                    slots[index] = Some(value);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Runs `rmpack artifacts`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener)?;
    match &args.command {
        ArtifactsCommand::List => {
            let nodes = selected_nodes(&client, args.nodes.as_deref())?;
            let lists: Vec<Result<Vec<Artifact>, ClusterError>> = per_node(&nodes, |node| {
                client
                    .for_node(&rmpack::rollout::node_address(node, args.external))
                    .artifacts()
            });
            let mut failed = false;
            let mut json = Vec::new();
            let mut rows = Vec::new();
            for (node, list) in nodes.iter().zip(lists) {
                let addr = rmpack::rollout::node_address(node, args.external);
                let uid = node.uid.to_string();
                match list {
                    Ok(list) => {
                        if list.is_empty() {
                            rows.push(vec![uid.clone(), addr.clone(), "-".into(), "-".into()]);
                        }
                        for a in &list {
                            let version = a.version.map_or("-".into(), |v| v.to_string());
                            rows.push(vec![
                                uid.clone(),
                                addr.clone(),
                                a.module_name.clone(),
                                version,
                            ]);
                        }
                        json.push(serde_json::json!({"node": node.uid, "address": addr, "artifacts": list}));
                    }
                    Err(error) => {
                        failed = true;
                        rows.push(vec![
                            uid,
                            addr.clone(),
                            format!("ERROR: {error}"),
                            String::new(),
                        ]);
                        json.push(serde_json::json!({"node": node.uid, "address": addr, "error": error.to_string()}));
                    }
                }
            }
            if !args.cluster.json {
                print!(
                    "{}",
                    report::table(&["NODE", "ADDRESS", "MODULE", "VERSION"], &rows)
                );
            }
            if args.cluster.json {
                println!("{}", serde_json::to_string_pretty(&json)?);
            }
            Ok(if failed {
                Status::Failure
            } else {
                Status::Success
            })
        }
        ArtifactsCommand::Delete {
            name,
            module_version,
        } => {
            let version = parse_version(module_version)?;
            delete_everywhere(
                &client,
                &args.cluster,
                name,
                version,
                args.nodes.as_deref(),
                args.external,
            )
        }
    }
}

/// Deletes `name`/`version` from every (selected) node and prints a per-node table; a node
/// that does not hold it counts as done.
pub fn delete_everywhere(
    client: &Client,
    cluster: &ClusterArgs,
    name: &str,
    version: ModuleVersion,
    wanted: Option<&[String]>,
    external: bool,
) -> anyhow::Result<Status> {
    let nodes = selected_nodes(client, wanted)?;
    let results = per_node(&nodes, |node| {
        client
            .for_node(&rmpack::rollout::node_address(node, external))
            .delete_artifact(name, version)
    });
    let mut failed = Vec::new();
    let mut json = Vec::new();
    let mut rows = Vec::new();
    for (node, result) in nodes.iter().zip(results) {
        let addr = rmpack::rollout::node_address(node, external);
        let (word, error) = match result {
            Ok(()) => ("deleted", None),
            Err(ClusterError::NotFound { .. }) => ("absent", None),
            Err(error) => {
                failed.push(node.uid.0.clone());
                ("FAILED", Some(error.to_string()))
            }
        };
        let result = match &error {
            Some(error) => format!("{word}: {error}"),
            None => word.to_string(),
        };
        rows.push(vec![node.uid.to_string(), addr.clone(), result]);
        json.push(
            serde_json::json!({"node": node.uid, "address": addr, "result": word, "error": error}),
        );
    }
    if !cluster.json {
        print!("{}", report::table(&["NODE", "ADDRESS", "RESULT"], &rows));
    }
    if cluster.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    if failed.is_empty() {
        Ok(Status::Success)
    } else {
        Err(anyhow::Error::new(CheckFailed(format!(
            "{name} {version} could not be deleted from node(s) {}; run again with --nodes {}",
            failed.join(", "),
            failed.join(",")
        ))))
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
