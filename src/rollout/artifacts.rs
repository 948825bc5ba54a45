//! Per-node artifacts: listing every node's. A module's artifacts live on each node separately
//! ("Install a module on a cluster"), so the listing fans out over the nodes with a bounded pool;
//! deleting one from every node is a rollout of its own ([`super::delete`]).

use serde::Serialize;

use crate::cluster::{Artifact, Client};

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
