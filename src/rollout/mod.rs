//! Every change rmpack makes to a cluster, as plan → execute → verify over typed values.
//!
//! * [`plan`] reads the live cluster (GET requests only), builds the validator's [`Target`] from
//!   its facts and lists the requests a change would send (paths from
//!   [`crate::cluster::Endpoint`]). `--dry-run` prints a plan and stops there.
//! * [`execute`] holds what the workflows share: the bounded worker pool over nodes, the wait
//!   for a busy cluster, undoing what a run registered.
//! * [`upload`] registers a module and puts its zip on every node (or uploads it bundled);
//!   [`upgrade`] moves databases to another version of a module and reads them back;
//!   [`artifacts`] lists per-node artifacts; [`delete`] deletes a module's configuration and
//!   its artifact on every node, reading each back; [`status`] tells which nodes and
//!   databases hold and run which module versions, and names the drift.
//! * [`fleet`] rolls a release out over many clusters in waves, each cluster with its own plan
//!   and outcome, and compares the clusters' status.
//! * [`outcome`] is the one shape every rollout reports in: steps, their states, the resume
//!   command.
//!
//! A rollout is resumable: running it again (or with `--nodes` of the failed ones) skips what is
//! already in place, so no node receives the artifact twice.

pub mod artifacts;
pub mod delete;
pub mod execute;
pub mod fleet;
pub mod outcome;
pub mod plan;
mod shared_zip;
pub mod status;
pub mod upgrade;
pub mod upload;

use std::path::PathBuf;

use serde::Serialize;

use crate::cluster::{ClusterError, Node};

pub use delete::{plan_delete, DeleteOptions, DeletePlan, DeleteTarget};
pub use outcome::{Operation, Outcome, Refusal, Resume, ResumeBase, Step, StepKind, StepState};
pub use plan::{live_target, os_nick_of, LiveTarget};
pub use upload::{plan_upload, UploadFlow, UploadOptions, UploadPlan};

/// Why a rollout could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The input is not something that can be uploaded.
    #[error("{path}: {detail}", path = path.display())]
    Input {
        /// The input.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The pre-flight check found errors; nothing was sent.
    #[error("{0}")]
    Preflight(Box<Refusal>),
    /// The cluster reports `allow_modules_upload: false`.
    #[error("module upload is disabled on {url} (allow_modules_upload is false); an admin can enable it with `PUT /v1/cluster {{\"allow_modules_upload\": true}}` (or the cluster setting \"allow modules upload\"); nothing was sent")]
    UploadsDisabled {
        /// The cluster URL.
        url: String,
    },
    /// `--nodes` names nodes the cluster does not have.
    #[error("the cluster has no node(s) {missing}; its nodes are {known}")]
    UnknownNodes {
        /// The uids not found.
        missing: String,
        /// The uids the cluster has.
        known: String,
    },
    /// The cluster has no node to upload to.
    #[error("the cluster lists no nodes")]
    NoNodes,
    /// The RS version cannot be read, and the workflow depends on it.
    #[error("cannot tell the cluster's RS version (nodes report {reported}); {what}")]
    UnknownRsVersion {
        /// What the nodes reported.
        reported: String,
        /// What to do.
        what: String,
    },
    /// The request cannot be planned as asked (a database without the module, a version the
    /// cluster lacks, a Redis version the cluster does not offer).
    #[error("{0}")]
    Refused(String),
    /// A request to the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A request the rollout sends or, in a dry run, would send.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Body size in bytes (0 for none).
    pub bytes: u64,
}

/// The address rmpack reaches `node` at: its `addr`, or with `external` its first
/// `external_addr` (falling back to `addr` when it has none).
pub fn node_address(node: &Node, external: bool) -> String {
    if external {
        node.external_addr
            .first()
            .cloned()
            .unwrap_or_else(|| node.addr.clone())
    } else {
        node.addr.clone()
    }
}

/// The nodes `wanted` names (all when `None`), in the cluster's order; unknown uids are refused.
pub fn select_nodes(all: &[Node], wanted: Option<&[String]>) -> Result<Vec<Node>, RolloutError> {
    if all.is_empty() {
        return Err(RolloutError::NoNodes);
    }
    let Some(wanted) = wanted else {
        return Ok(all.to_vec());
    };
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|w| !all.iter().any(|n| &n.uid.0 == *w))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(RolloutError::UnknownNodes {
            missing: missing.join(", "),
            known: all
                .iter()
                .map(|n| n.uid.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(all
        .iter()
        .filter(|n| wanted.contains(&n.uid.0))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: &str) -> Node {
        Node {
            uid: crate::cluster::Uid(uid.into()),
            addr: format!("10.0.0.{uid}"),
            ..Node::default()
        }
    }

    #[test]
    fn node_selection_refuses_unknown_uids() {
        let all = vec![node("1"), node("2"), node("3")];
        let picked = select_nodes(&all, Some(&["3".to_string(), "1".to_string()])).unwrap();
        assert_eq!(
            picked.iter().map(|n| n.uid.0.as_str()).collect::<Vec<_>>(),
            ["1", "3"]
        );
        let err = select_nodes(&all, Some(&["4".to_string()])).unwrap_err();
        assert!(err.to_string().contains("no node(s) 4"), "{err}");
        assert!(matches!(
            select_nodes(&[], None),
            Err(RolloutError::NoNodes)
        ));
    }
}
