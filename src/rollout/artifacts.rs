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
/// The path is built (and a hostile name refused) before any node is asked.
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
            let (result, error) = match node.client.delete_artifact(name, version) {
                Ok(()) => (DeleteResult::Deleted, None),
                Err(ClusterError::NotFound { .. }) => (DeleteResult::Absent, None),
                Err(error) => (DeleteResult::Failed, Some(error.to_string())),
            };
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
