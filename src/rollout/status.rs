//! The modules of a cluster as an operator needs them: per module name, the versions registered,
//! which nodes hold each artifact, which databases run which version — and the drift between
//! them, each with what heals it. Read with GET requests only.
//!
//! Beside the registered versions, the node-join rule RS applies ("Nodes and clusters": a node
//! joining must hold, for every custom module a database uses, a build for every Redis version in
//! use, else the join fails with `incompatible_modules`) is checked on every node, so a node that
//! would not rejoin, and the build a new node needs, are named before a join fails. Given the
//! release set, the healing commands name its zips.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::{Client, ClusterError, Module};
use crate::manifest::{layout, DottedVersion, ModuleVersion};
use crate::release::{platform_label, Build, ReleaseSet};
use crate::text::{command_line, shell_quote};
use crate::validate::NodeFacts;

use super::artifacts::list;
use super::plan::{build_of, node_clients, node_facts};
use super::RolloutError;

/// The `version` of the status JSON (`schema/status.schema.json`); bumped on incompatible
/// changes.
pub const STATUS_JSON_VERSION: u64 = 2;

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
        /// The commands that put it there, one per platform of those nodes.
        heal: Vec<String>,
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
        heal: Vec<String>,
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
    /// Nodes holding no build of a module that fits a Redis version databases run it on: such a
    /// node fails to (re)join with `incompatible_modules`, and a database cannot use the module
    /// there.
    NodeJoinHole {
        /// The module.
        module_name: String,
        /// The Redis major.minor the databases run.
        redis_version: String,
        /// The databases using the module on that Redis version.
        databases: Vec<String>,
        /// The nodes without a fitting build.
        nodes: Vec<String>,
        /// The registered versions that fit that Redis (none: a build must be packed first).
        fitting_versions: Vec<String>,
        /// The commands that put a fitting build there, one per platform of those nodes.
        heal: Vec<String>,
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
/// for the healing commands, which [`crate::text::command_line`] quotes word by word; `set`, the
/// release's zips, names the zip each healing command uploads.
pub fn cluster_status(
    client: &Client,
    external: bool,
    cluster_words: &[String],
    set: Option<&ReleaseSet>,
) -> Result<ClusterStatus, RolloutError> {
    let modules = client.modules()?;
    let raw_nodes = client.nodes()?;
    let nodes = node_clients(client, &raw_nodes, external)?;
    let facts: BTreeMap<String, NodeFacts> = raw_nodes
        .iter()
        .map(|n| (n.uid.0.clone(), node_facts(n)))
        .collect();
    let heals = Heals {
        facts: &facts,
        set,
        cluster_words,
    };
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
                heal: heals.upload(&name, ModuleVersion(version), &missing_on),
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
                heal: vec![command_line(
                    [
                        "rmpack",
                        "artifacts",
                        "delete",
                        name.as_str(),
                        &entry.semantic,
                    ]
                    .into_iter()
                    .chain(cluster_words.iter().map(String::as_str)),
                )],
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
    if artifacts_listed {
        drift.extend(node_join_holes(&modules, &bdbs, &lists, &readable, &heals));
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

/// What the healing commands are built from: each node's platform, the release set, the words
/// that reach the cluster.
struct Heals<'a> {
    facts: &'a BTreeMap<String, NodeFacts>,
    set: Option<&'a ReleaseSet>,
    cluster_words: &'a [String],
}

impl Heals<'_> {
    /// The commands that put `name` `version` on `nodes`: one per platform among them, naming
    /// the release set's zip for it, else the file name a zip of that build carries
    /// (`hello.Linux-rhel9-x86_64.1.2.3.zip`), else `ZIP` when a node does not say its platform.
    fn upload(&self, name: &str, version: ModuleVersion, nodes: &[String]) -> Vec<String> {
        let mut by_platform: BTreeMap<String, (Option<&NodeFacts>, Vec<&str>)> = BTreeMap::new();
        for node in nodes {
            let facts = self.facts.get(node);
            let label = facts.map_or("?/?".to_string(), |f| platform_label(f.os.as_ref(), f.arch));
            let group = by_platform.entry(label).or_insert((facts, Vec::new()));
            group.1.push(node);
        }
        let semantic = version.semantic().to_string();
        by_platform
            .into_iter()
            .map(|(label, (facts, nodes))| {
                let os = facts.and_then(|f| f.os.as_ref());
                let arch = facts.and_then(|f| f.arch);
                let member = self.set.and_then(|s| s.build_of(name, version, os, arch));
                let (zip, comment) = match (member, os, arch) {
                    (Some(member), _, _) => (member.path.display().to_string(), None),
                    (None, Some(os), Some(arch)) => (
                        layout::zip_file_name(
                            name,
                            os.file_name_spelling(),
                            &arch.to_string(),
                            &semantic,
                        ),
                        Some(match self.set {
                            Some(_) => format!(
                                "the release set holds no {label} build of {name} {semantic}: pack one"
                            ),
                            None => format!("the {label} build of {name} {semantic}"),
                        }),
                    ),
                    _ => (
                        "ZIP".to_string(),
                        Some(format!(
                            "ZIP: the zip of {name} {semantic} for the platform of node(s) {}, which they do not report",
                            nodes.join(", ")
                        )),
                    ),
                };
                let nodes = nodes.join(",");
                let command = command_line(
                    ["rmpack", "upload", zip.as_str()]
                        .into_iter()
                        .chain(self.cluster_words.iter().map(String::as_str))
                        .chain(["--nodes", nodes.as_str()]),
                );
                match comment {
                    Some(comment) => crate::text::with_comment(command, &comment),
                    None => command,
                }
            })
            .collect()
    }
}

/// The node-join rule on every readable node: for each custom module a database uses and each
/// Redis major.minor those databases run, a node must hold a build that fits. A node whose
/// artifacts cannot be read is reported as unreadable instead.
fn node_join_holes(
    modules: &[Module],
    bdbs: &[crate::cluster::Bdb],
    lists: &[super::artifacts::NodeArtifacts],
    readable: &[&String],
    heals: &Heals<'_>,
) -> Vec<Drift> {
    // The custom builds the cluster registers: what a node's artifact (name, version) is.
    let builds: Vec<Build> = modules
        .iter()
        .filter(|m| m.is_bundled != Some(true))
        .filter_map(build_of)
        .collect();
    let custom = |name: &str| {
        builds
            .iter()
            .find(|b| b.module_name.eq_ignore_ascii_case(name))
            .map(|b| b.module_name.clone())
    };
    // (module, Redis major.minor) → a Redis version of that feature set, and the databases.
    type Use = (DottedVersion, Vec<String>);
    let mut uses: BTreeMap<(String, (u64, u64)), Use> = BTreeMap::new();
    for bdb in bdbs {
        let Some(redis) = bdb
            .redis_version
            .as_deref()
            .and_then(|r| r.parse::<DottedVersion>().ok())
        else {
            continue;
        };
        for module in &bdb.module_list {
            let Some(name) = custom(&module.module_name) else {
                continue;
            };
            let entry = uses
                .entry((name, redis.major_minor()))
                .or_insert_with(|| (redis.clone(), Vec::new()));
            if !entry.1.contains(&bdb.uid.0) {
                entry.1.push(bdb.uid.0.clone());
            }
        }
    }
    let mut holes = Vec::new();
    for ((name, (major, minor)), (redis, databases)) in uses {
        let fitting: Vec<&Build> = builds
            .iter()
            .filter(|b| b.module_name == name && b.fits_redis(&redis).is_ok())
            .collect();
        let lacking: Vec<String> = lists
            .iter()
            .filter(|l| l.error.is_none() && readable.contains(&&l.node))
            .filter(|l| {
                !l.artifacts.iter().any(|a| {
                    a.module_name.eq_ignore_ascii_case(&name)
                        && fitting.iter().any(|b| Some(b.version) == a.version)
                })
            })
            .map(|l| l.node.clone())
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let newest = fitting.iter().map(|b| b.version).max().or_else(|| {
            // None registered: the release set may hold one.
            heals.set.and_then(|set| {
                set.members
                    .iter()
                    .filter_map(|m| m.build.as_ref())
                    .filter(|b| {
                        b.module_name.eq_ignore_ascii_case(&name) && b.fits_redis(&redis).is_ok()
                    })
                    .map(|b| b.version)
                    .max()
            })
        });
        let heal = match newest {
            Some(version) => heals.upload(&name, version, &lacking),
            None => vec![format!(
                "# no build of {} for Redis {major}.{minor} is registered or in the release set: pack one with compatible_redis_version {major}.{minor}, then rmpack upload it",
                shell_quote(&name)
            )],
        };
        let mut fitting_versions: Vec<String> =
            fitting.iter().map(|b| b.semantic_version()).collect();
        fitting_versions.dedup();
        holes.push(Drift::NodeJoinHole {
            module_name: name,
            redis_version: format!("{major}.{minor}"),
            databases,
            nodes: lacking,
            fitting_versions,
            heal,
        });
    }
    holes
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
