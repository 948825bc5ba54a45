//! The read-only half of every workflow: the live cluster read with GET requests, the
//! validator's [`Target`] built from its facts, node clients with checked addresses, and the
//! requests a change would send.

use serde::Serialize;

use crate::cluster::{Bdb, Client, Cluster, ClusterError, Endpoint, Module, Node};
use crate::manifest::{Arch, DottedVersion, ModuleVersion, OsNick};
use crate::release::Build;
use crate::validate::{ClusterFacts, NodeFacts, Target};

use super::{node_address, PlannedRequest, RolloutError};

/// What was read from the cluster, and the [`Target`] built from it.
#[derive(Debug, Clone)]
pub struct LiveTarget {
    /// The target for `validate`.
    pub target: Target,
    /// `GET /v1/nodes`.
    pub nodes: Vec<Node>,
    /// `GET /v1/cluster`.
    pub cluster: Cluster,
    /// `GET /v1/modules`.
    pub modules: Vec<Module>,
    /// `GET /v1/bdbs/{uid}`, when a database was named.
    pub bdb: Option<Bdb>,
    /// Node facts that could not be mapped (an OS rmpack does not know, a missing version).
    pub notes: Vec<String>,
}

/// The OS of a node as RS names it (`ubuntu` + `22.04` → `ubuntu22`, `rhel` + `8.9` → `rhel8`).
pub fn os_nick_of(node: &Node) -> Option<OsNick> {
    OsNick::of_node(
        node.os_name.as_deref().or(node.os_family.as_deref()),
        node.os_semantic_version.as_deref(),
        node.os_version.as_deref(),
    )
}

/// What a node says of its OS, for messages: `os_name os_semantic_version` (or `os_version`).
pub fn reported_os(node: &Node) -> String {
    let words: Vec<&str> = [
        node.os_name.as_deref().or(node.os_family.as_deref()),
        node.os_semantic_version
            .as_deref()
            .or(node.os_version.as_deref()),
    ]
    .into_iter()
    .flatten()
    .filter(|w| !w.trim().is_empty())
    .collect();
    if words.is_empty() {
        "not reported".to_string()
    } else {
        words.join(" ")
    }
}

/// The build facts of a module object the cluster stores (RS's selection rules read these).
pub fn build_of(module: &Module) -> Option<Build> {
    let mut value = serde_json::json!({
        "module_name": module.module_name,
        "semantic_version": module.semantic_version,
        "compatible_redis_version": module.compatible_redis_version,
        "min_redis_version": module.min_redis_version,
        "architecture": module.architecture,
        "operating_systems": module.operating_systems,
    });
    if let Some(version) = module.version {
        value["version"] = version.0.into();
    }
    if !module.platforms.is_empty() {
        let keys: serde_json::Map<String, serde_json::Value> = module
            .platforms
            .iter()
            .map(|key| (key.clone(), serde_json::json!({})))
            .collect();
        value["platforms"] = keys.into();
    }
    // JSON nulls stand for fields the object lacks.
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    Build::from_value(&value)
}

/// A node's platform for the validator.
pub fn node_facts(node: &Node) -> NodeFacts {
    NodeFacts {
        uid: node.uid.0.clone(),
        os: os_nick_of(node),
        os_reported: reported_os(node),
        arch: node.architecture.as_deref().and_then(|a| a.parse().ok()),
    }
}

fn lowest_version(versions: impl Iterator<Item = DottedVersion>) -> Option<DottedVersion> {
    versions.min()
}

/// Reads nodes, cluster, capabilities and modules (and the database `bdb_uid`) and builds the
/// validator's [`Target`]. With a database, `module_name` picks the module whose version on it
/// goes into `current_version` (an upgrade's starting point); without one, `current_version`
/// stays empty: putting a module beside others on the cluster is an upload, not an upgrade.
pub fn live_target(
    client: &Client,
    bdb_uid: Option<&str>,
    module_name: Option<&str>,
) -> Result<LiveTarget, ClusterError> {
    let nodes = client.nodes()?;
    let cluster = client.cluster()?;
    let capabilities = client.module_capabilities()?;
    let modules = client.modules()?;
    let bdb = bdb_uid.map(|uid| client.bdb(uid)).transpose()?;
    let mut notes = Vec::new();

    let mut operating_systems: Vec<OsNick> = Vec::new();
    let mut architectures: Vec<Arch> = Vec::new();
    for node in &nodes {
        match os_nick_of(node) {
            Some(os) if !operating_systems.contains(&os) => operating_systems.push(os),
            Some(_) => {}
            None => notes.push(format!(
                "node {}: its OS ({}) does not say which distribution and version it is; the platform checks skip it",
                node.uid,
                reported_os(node)
            )),
        }
        match node.architecture.as_deref().map(str::parse::<Arch>) {
            Some(Ok(arch)) if !architectures.contains(&arch) => architectures.push(arch),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => notes.push(format!(
                "node {}: architecture {} is unknown",
                node.uid,
                node.architecture.as_deref().unwrap_or("(not reported)")
            )),
        }
    }
    operating_systems.sort();
    architectures.sort();

    let rs_version = lowest_version(
        nodes
            .iter()
            .filter_map(|n| n.software_version.as_deref())
            .chain(cluster.software_version.as_deref())
            .filter_map(|v| v.parse().ok()),
    );
    let redis_version = bdb
        .as_ref()
        .and_then(|b| b.redis_version.as_deref())
        .and_then(|v| v.parse().ok());

    let module_versions: Vec<(String, ModuleVersion)> = modules
        .iter()
        .filter_map(|m| Some((m.module_name.clone(), m.module_version()?)))
        .collect();
    let current_version = module_name.and_then(|name| {
        bdb.as_ref().and_then(|b| {
            b.module_list
                .iter()
                .find(|m| m.module_name.eq_ignore_ascii_case(name))
                .and_then(|m| m.semantic_version.as_deref())
                .and_then(ModuleVersion::from_semantic_text)
        })
    });

    let target = Target {
        operating_systems,
        architectures,
        redis_version,
        rs_version,
        database: bdb.as_ref().map(|b| b.raw.clone()),
        current_version,
        cluster: Some(ClusterFacts {
            source: client.base().origin(),
            known_capabilities: capabilities
                .all_capabilities
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            modules: module_versions,
            modules_upload_allowed: cluster.allow_modules_upload,
            nodes: nodes.iter().map(node_facts).collect(),
        }),
    };
    Ok(LiveTarget {
        target,
        nodes,
        cluster,
        modules,
        bdb,
        notes,
    })
}

/// The cluster's RS version: the lowest any node (or the cluster object) reports, or what the
/// nodes reported when none of it parses.
pub fn rs_version(live: &LiveTarget) -> Result<DottedVersion, String> {
    live.target.rs_version.clone().ok_or_else(|| {
        let reported: Vec<String> = live
            .nodes
            .iter()
            .map(|n| {
                n.software_version
                    .as_deref()
                    .unwrap_or("nothing")
                    .escape_debug()
                    .to_string()
            })
            .collect();
        if reported.is_empty() {
            "nothing".to_string()
        } else {
            reported.join(", ")
        }
    })
}

/// Whether `version` is `since` or later (`since` is one of rmpack's release constants).
pub fn at_least(version: &DottedVersion, since: &str) -> bool {
    since
        .parse::<DottedVersion>()
        .is_ok_and(|since| *version >= since)
}

/// One node a workflow talks to: its uid, the address used, and a client bound to it.
#[derive(Debug, Clone)]
pub struct NodeClient {
    /// The node's uid.
    pub uid: String,
    /// The address used (`addr` or `external_addr`), checked as host[:port].
    pub address: String,
    /// A client for the node's own ("local") endpoints.
    pub client: Client,
}

/// Clients for `nodes`; an address that is not host[:port] is refused before anything is sent,
/// and so are two nodes with one uid or one address: a rollout would count one node twice
/// ("3 of 3 nodes hold the artifact" when all three are one machine).
pub fn node_clients(
    client: &Client,
    nodes: &[Node],
    external: bool,
) -> Result<Vec<NodeClient>, RolloutError> {
    let clients = nodes
        .iter()
        .map(|node| {
            let address = node_address(node, external);
            let node_client = client.for_node(&node.uid.0, &address)?;
            Ok(NodeClient {
                uid: node.uid.0.clone(),
                address,
                client: node_client,
            })
        })
        .collect::<Result<Vec<_>, RolloutError>>()?;
    refuse_duplicate_nodes(&clients)?;
    Ok(clients)
}

fn refuse_duplicate_nodes(clients: &[NodeClient]) -> Result<(), RolloutError> {
    // One host spelled two ways (`::1` and `0::1`, upper- and lower-case names) is one host.
    let endpoint = |node: &NodeClient| {
        let base = node.client.base();
        let host = match base.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => base.host.trim_end_matches('.').to_ascii_lowercase(),
        };
        (host, base.port)
    };
    for (index, node) in clients.iter().enumerate() {
        for earlier in &clients[..index] {
            let problem = if earlier.uid == node.uid {
                format!("two nodes have the uid `{}`", node.uid)
            } else if endpoint(earlier) == endpoint(node) {
                format!(
                    "nodes {} and {} have the same address ({} and {})",
                    earlier.uid, node.uid, earlier.address, node.address
                )
            } else {
                continue;
            };
            return Err(RolloutError::Refused(format!(
                "the cluster's node list is inconsistent: {problem}; nothing was sent to the nodes (check GET /v1/nodes)"
            )));
        }
    }
    Ok(())
}

/// A planned request: `endpoint` at `client`'s node, with a body of `bytes`.
pub fn planned(client: &Client, endpoint: &Endpoint, bytes: u64) -> PlannedRequest {
    PlannedRequest {
        method: endpoint.method,
        url: format!("{}{}", client.base().origin(), endpoint.path),
        bytes,
    }
}

/// How a planned value changes: before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What it is now.
    pub before: String,
    /// What it will be.
    pub after: String,
}

impl Change {
    /// Whether before and after differ.
    pub fn changes(&self) -> bool {
        self.before != self.after
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.changes() {
            write!(f, "{} → {}", self.before, self.after)
        } else {
            write!(f, "{} (kept)", self.before)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, version: &str) -> Node {
        Node {
            os_name: Some(name.into()),
            os_semantic_version: Some(version.into()),
            ..Node::default()
        }
    }

    #[test]
    fn node_os_maps_to_nicknames() {
        let nick = |n, v| os_nick_of(&node(n, v)).map(|o| o.to_string());
        assert_eq!(nick("ubuntu", "22.04").as_deref(), Some("ubuntu22"));
        assert_eq!(nick("Ubuntu", "20.04.6").as_deref(), Some("ubuntu20"));
        assert_eq!(nick("rhel", "8.9").as_deref(), Some("rhel8"));
        assert_eq!(nick("Rocky Linux", "9.3").as_deref(), Some("rhel9"));
        assert_eq!(nick("amzn", "2").as_deref(), Some("amzn2"));
        assert_eq!(nick("Amazon Linux", "2023").as_deref(), Some("amzn2023"));
        assert_eq!(nick("rhel8", "").as_deref(), Some("rhel8"));
        assert_eq!(nick("sles", "15").as_deref(), Some("sles15"));
    }
}
