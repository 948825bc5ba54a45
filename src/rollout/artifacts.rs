//! Per-node artifacts: listing every node's, and deleting one from every node. A module's
//! artifacts live on each node separately ("Install a module on a cluster"), so both fan out
//! over the nodes with a bounded pool.

use serde::Serialize;

use crate::cluster::{Artifact, Client, ClusterError, Endpoint};
use crate::manifest::ModuleVersion;

use super::execute::pool;
use super::plan::{node_clients, NodeClient};
use super::{select_nodes, RolloutError};

/// How many nodes are asked at once.
pub const NODE_CONCURRENCY: usize = 16;

/// One node's artifact list, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct NodeArtifacts {
    /// The node's uid.
    pub node: String,
    /// The address used.
    pub address: String,
    /// Its artifacts.
    pub artifacts: Vec<Artifact>,
    /// The error, when the list could not be read.
    pub error: Option<String>,
    /// The HTTP status of that error, when the node answered.
    #[serde(skip)]
    pub error_status: Option<u16>,
}

/// The clients of the selected nodes.
pub fn selected(
    client: &Client,
    wanted: Option<&[String]>,
    external: bool,
) -> Result<Vec<NodeClient>, RolloutError> {
    let nodes = client.nodes()?;
    let nodes = select_nodes(&nodes, wanted)?;
    node_clients(client, &nodes, external)
}

/// Every selected node's artifacts, in node order.
pub fn list(nodes: &[NodeClient]) -> Vec<NodeArtifacts> {
    pool(
        nodes,
        NODE_CONCURRENCY,
        |node| {
            let result = node.client.artifacts();
            let row = match result {
                Ok(artifacts) => NodeArtifacts {
                    node: node.uid.clone(),
                    address: node.address.clone(),
                    artifacts,
                    error: None,
                    error_status: None,
                },
                Err(error) => NodeArtifacts {
                    node: node.uid.clone(),
                    address: node.address.clone(),
                    artifacts: Vec::new(),
                    error_status: error.status(),
                    error: Some(error.to_string()),
                },
            };
            (row, false)
        },
        |_| unreachable_row(),
    )
}

fn unreachable_row() -> NodeArtifacts {
    NodeArtifacts {
        node: String::new(),
        address: String::new(),
        artifacts: Vec::new(),
        error: Some("not asked".into()),
        error_status: None,
    }
}

/// What became of an artifact on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteResult {
    /// Deleted now.
    Deleted,
    /// The node did not hold it.
    Absent,
    /// The delete failed.
    Failed,
}

impl DeleteResult {
    /// The word for tables.
    pub fn label(self) -> &'static str {
        match self {
            DeleteResult::Deleted => "deleted",
            DeleteResult::Absent => "absent",
            DeleteResult::Failed => "FAILED",
        }
    }
}

/// One node's row of a deletion.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDeletion {
    /// The node's uid.
    pub node: String,
    /// The address used.
    pub address: String,
    /// What happened.
    pub result: DeleteResult,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// Deletes `name` `version` from every given node; a node that does not hold it counts as done.
/// Each node's own artifact list is read afterwards, and only a node that no longer lists it is
/// `deleted` (or `absent`): an answer is not taken for the deed (a node or proxy may answer 200
/// with an error in the body, or answer for a request it never carried out). The path is built
/// (and a hostile name refused) before any node is asked.
pub fn delete_everywhere(
    nodes: &[NodeClient],
    name: &str,
    version: ModuleVersion,
) -> Result<Vec<NodeDeletion>, RolloutError> {
    Endpoint::delete_artifact(name, version)?;
    Ok(pool(
        nodes,
        NODE_CONCURRENCY,
        |node| {
            let (result, error) = delete_on(node, name, version);
            (
                NodeDeletion {
                    node: node.uid.clone(),
                    address: node.address.clone(),
                    result,
                    error,
                },
                false,
            )
        },
        |node| NodeDeletion {
            node: node.uid.clone(),
            address: node.address.clone(),
            result: DeleteResult::Failed,
            error: Some("not attempted".into()),
        },
    ))
}

/// One node: the delete, then its own list as the proof.
fn delete_on(
    node: &NodeClient,
    name: &str,
    version: ModuleVersion,
) -> (DeleteResult, Option<String>) {
    let (claimed, answer_error) = match node.client.delete_artifact_answer(name, version) {
        Ok(answer) => (DeleteResult::Deleted, answer_error_of(&answer)),
        Err(ClusterError::NotFound { .. }) => (DeleteResult::Absent, None),
        Err(error) => return (DeleteResult::Failed, Some(error.to_string())),
    };
    let listed = node.client.artifacts().map(|artifacts| {
        artifacts
            .iter()
            .any(|a| a.module_name == name && a.version == Some(version))
    });
    match listed {
        Ok(false) => (claimed, None),
        Ok(true) => {
            let said = match answer_error {
                Some(error) => format!("the node answered {error}"),
                None => "the node answered that it deleted it".to_string(),
            };
            (
                DeleteResult::Failed,
                Some(format!(
                    "{said}, but its artifact list still holds {name} {}",
                    version.semantic()
                )),
            )
        }
        Err(error) => (
            DeleteResult::Failed,
            Some(format!(
                "the delete was answered, but the node's artifact list cannot be read to confirm it: {error}"
            )),
        ),
    }
}

/// The error a success answer carries in its body (`{"error_code": …, "description": …}`),
/// if any: a proxy or a failing node may answer 200 with one.
pub fn answer_error_of(answer: &serde_json::Value) -> Option<String> {
    answer.get("error_code")?;
    let body = crate::cluster::types::ErrorBody::from_json(answer);
    let code = body.error_code.as_deref().unwrap_or("?");
    Some(match body.text() {
        Some(text) => format!("200 with the error {code}: {text}"),
        None => format!("200 with the error {code}"),
    })
}
