//! The modules of a cluster as an operator needs them: per module name, the versions registered,
//! which nodes hold each artifact, which databases run which version — and the drift between
//! them, each with what heals it. Read with GET requests only.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::{Client, ClusterError};
use crate::manifest::ModuleVersion;
use crate::text::{command_line, shell_quote};

use super::artifacts::{list, selected};
use super::RolloutError;

/// The `version` of the status JSON (`schema/status.schema.json`); bumped on incompatible
/// changes.
pub const STATUS_JSON_VERSION: u64 = 1;

/// One version of a module.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    /// `major.minor.patch`.
    pub semantic_version: String,
    /// The integer version.
    pub version: u64,
    /// Uids of the module objects registered for it (empty: not registered).
    pub registered: Vec<String>,
    /// Whether RS ships it (bundled modules have no per-node artifacts to check).
    pub bundled: bool,
    /// Nodes that hold its artifact.
    pub nodes: Vec<String>,
    /// Nodes that lack it (only for registered, non-bundled versions).
    pub missing_on: Vec<String>,
    /// Databases that run it.
    pub databases: Vec<String>,
}

/// One module name.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleStatus {
    /// The module's name.
    pub module_name: String,
    /// Its versions, lowest first.
    pub versions: Vec<VersionStatus>,
}

/// A difference between what the cluster registers, what its nodes hold and what its
/// databases run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    /// A registered module whose artifact some nodes lack (as a node that joined after the
    /// rollout does): databases cannot use the module there.
    MissingArtifact {
        /// The module.
        module_name: String,
        /// Its version.
        semantic_version: String,
        /// The nodes lacking it.
        nodes: Vec<String>,
        /// The command that puts it there.
        heal: String,
    },
    /// An artifact on nodes with no registered configuration.
    OrphanArtifact {
        /// The module.
        module_name: String,
        /// Its version.
        semantic_version: String,
        /// The nodes holding it.
        nodes: Vec<String>,
        /// The command that removes it.
        heal: String,
    },
    /// A database runs a version whose artifact some nodes lack.
    DatabaseOnMissingArtifact {
        /// The database.
        database: String,
        /// The module.
        module_name: String,
        /// Its version.
        semantic_version: String,
        /// The nodes lacking it.
        nodes: Vec<String>,
    },
}

/// A node whose artifacts could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct NodeProblem {
    /// The node's uid.
    pub node: String,
    /// What went wrong.
    pub error: String,
}

/// The status of a cluster's modules.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The JSON format's version.
    pub version: u64,
    /// The cluster URL.
    pub cluster: String,
    /// Node uids, in the cluster's order.
    pub nodes: Vec<String>,
    /// Whether the nodes serve per-node artifact lists (RS 8.0 and later).
    pub artifacts_listed: bool,
    /// Every module name.
    pub modules: Vec<ModuleStatus>,
    /// Every drift found.
    pub drift: Vec<Drift>,
    /// Nodes that could not be read.
    pub unreadable_nodes: Vec<NodeProblem>,
}

impl ClusterStatus {
    /// Whether the cluster is consistent: no drift and every node read.
    pub fn is_consistent(&self) -> bool {
        self.drift.is_empty() && self.unreadable_nodes.is_empty()
    }
}

#[derive(Default)]
struct Entry {
    semantic: String,
    registered: Vec<String>,
    bundled: bool,
    nodes: Vec<String>,
    databases: Vec<String>,
}

/// Reads modules, nodes' artifacts and databases and finds the drift. `cluster_words` are the
/// command-line words that reach this cluster again (`--cluster URL --ca-cert PEM`, unquoted),
/// for the healing commands, which [`crate::text::command_line`] quotes word by word.
pub fn cluster_status(
    client: &Client,
    external: bool,
    cluster_words: &[String],
) -> Result<ClusterStatus, RolloutError> {
    let modules = client.modules()?;
    let nodes = selected(client, None, external)?;
    let bdbs = client.bdbs()?;
    let lists = list(&nodes);
    // Clusters before RS 8.0 have no per-node artifact route (404 everywhere): nothing to check.
    let artifacts_listed = !lists.iter().all(|l| l.error_status == Some(404));
    let mut table: BTreeMap<(String, u64), Entry> = BTreeMap::new();
    for module in &modules {
        let Some(version) = module.module_version() else {
            continue;
        };
        if module.module_name.is_empty() {
            continue;
        }
        let entry = table
            .entry((module.module_name.clone(), version.0))
            .or_default();
        entry.semantic = version.semantic().to_string();
        if !module.uid.0.is_empty() {
            entry.registered.push(module.uid.0.clone());
        }
        entry.bundled |= module.is_bundled == Some(true);
    }
    let mut unreadable = Vec::new();
    for node in &lists {
        if let Some(error) = &node.error {
            if artifacts_listed {
                unreadable.push(NodeProblem {
                    node: node.node.clone(),
                    error: error.clone(),
                });
            }
            continue;
        }
        for artifact in &node.artifacts {
            let Some(version) = artifact.version else {
                continue;
            };
            let entry = table
                .entry((artifact.module_name.clone(), version.0))
                .or_default();
            entry.semantic = version.semantic().to_string();
            entry.nodes.push(node.node.clone());
        }
    }
    for bdb in &bdbs {
        for module in &bdb.module_list {
            let Some(version) = module
                .semantic_version
                .as_deref()
                .and_then(ModuleVersion::from_semantic_text)
            else {
                continue;
            };
            let key = table
                .keys()
                .find(|(n, v)| n.eq_ignore_ascii_case(&module.module_name) && *v == version.0)
                .cloned()
                .unwrap_or((module.module_name.clone(), version.0));
            let entry = table.entry(key).or_default();
            entry.semantic = version.semantic().to_string();
            entry.databases.push(bdb.uid.0.clone());
        }
    }
    let node_ids: Vec<String> = nodes.iter().map(|n| n.uid.clone()).collect();
    let readable: Vec<&String> = node_ids
        .iter()
        .filter(|n| !unreadable.iter().any(|u| &&u.node == n))
        .collect();
    let mut by_name: BTreeMap<String, Vec<VersionStatus>> = BTreeMap::new();
    let mut drift = Vec::new();
    for ((name, version), entry) in table {
        let needs_artifacts = artifacts_listed && !entry.bundled;
        let missing_on: Vec<String> = if needs_artifacts && !entry.registered.is_empty() {
            readable
                .iter()
                .filter(|n| !entry.nodes.contains(n))
                .map(|n| n.to_string())
                .collect()
        } else {
            Vec::new()
        };
        if !missing_on.is_empty() {
            drift.push(Drift::MissingArtifact {
                module_name: name.clone(),
                semantic_version: entry.semantic.clone(),
                nodes: missing_on.clone(),
                heal: upload_heal(&name, &entry.semantic, &missing_on, cluster_words),
            });
            for database in &entry.databases {
                drift.push(Drift::DatabaseOnMissingArtifact {
                    database: database.clone(),
                    module_name: name.clone(),
                    semantic_version: entry.semantic.clone(),
                    nodes: missing_on.clone(),
                });
            }
        }
        if needs_artifacts && entry.registered.is_empty() && !entry.nodes.is_empty() {
            drift.push(Drift::OrphanArtifact {
                module_name: name.clone(),
                semantic_version: entry.semantic.clone(),
                nodes: entry.nodes.clone(),
                heal: command_line(
                    [
                        "rmpack",
                        "artifacts",
                        "delete",
                        name.as_str(),
                        &entry.semantic,
                    ]
                    .into_iter()
                    .chain(cluster_words.iter().map(String::as_str)),
                ),
            });
        }
        by_name.entry(name).or_default().push(VersionStatus {
            semantic_version: entry.semantic,
            version,
            registered: entry.registered,
            bundled: entry.bundled,
            nodes: entry.nodes,
            missing_on,
            databases: entry.databases,
        });
    }
    Ok(ClusterStatus {
        version: STATUS_JSON_VERSION,
        cluster: client.base().origin(),
        nodes: node_ids,
        artifacts_listed,
        modules: by_name
            .into_iter()
            .map(|(module_name, versions)| ModuleStatus {
                module_name,
                versions,
            })
            .collect(),
        drift,
        unreadable_nodes: unreadable,
    })
}

/// The command that puts a module's artifact on `nodes`: `ZIP` stands for the zip, which the
/// cluster does not keep; a shell comment after the command names the one meant.
fn upload_heal(name: &str, semantic: &str, nodes: &[String], cluster_words: &[String]) -> String {
    let nodes = nodes.join(",");
    let words = ["rmpack", "upload", "ZIP"]
        .into_iter()
        .chain(cluster_words.iter().map(String::as_str))
        .chain(["--nodes", nodes.as_str()]);
    format!(
        "{}   # ZIP: the zip of {} {}",
        command_line(words),
        shell_quote(name),
        shell_quote(semantic)
    )
}

/// The databases that run `name` at `version` (for refusing to delete a module in use).
pub fn databases_running(
    client: &Client,
    name: &str,
    version: ModuleVersion,
) -> Result<Vec<String>, ClusterError> {
    Ok(client
        .bdbs()?
        .into_iter()
        .filter(|bdb| {
            bdb.module_list.iter().any(|m| {
                m.module_name.eq_ignore_ascii_case(name)
                    && m.semantic_version
                        .as_deref()
                        .and_then(ModuleVersion::from_semantic_text)
                        == Some(version)
            })
        })
        .map(|bdb| bdb.uid.0)
        .collect())
}
