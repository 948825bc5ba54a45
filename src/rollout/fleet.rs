//! One release over many clusters: a fleet of the profile file (`[fleet.NAME] waves = [["stage"],
//! ["prod-eu", "prod-us"]]`), each cluster with its own URL, credentials and CA.
//!
//! The pre-flight of every cluster of every wave runs first, with GET requests only, and nothing
//! is sent anywhere when one of them fails it (refused, unreachable, wrong password). Then wave
//! by wave: the clusters of a wave at once, each with its own plan and outcome (the same
//! [`Outcome`] a single-cluster run reports), the next wave only after the whole wave ended in
//! place; the first failure stops the fleet. The fleet's outcome has a row per cluster and the
//! command that resumes with the clusters not done.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::{Client, FleetSpec};
use crate::manifest::ModuleVersion;
use crate::release::ReleaseSet;

use super::outcome::{Operation, Outcome, Resume, ResumeBase};
use super::status::{cluster_status, ClusterStatus};
use super::upgrade::{plan_upgrade, Databases, UpgradeOptions, UpgradePlan};
use super::upload::{plan_upload_keeping, UploadOptions, UploadPlan};
use super::{Refusal, RolloutError};

/// The `version` of the fleet JSON (`schema/fleet.schema.json`); bumped on incompatible changes.
pub const FLEET_JSON_VERSION: u64 = 1;

/// The option that picks clusters of a fleet (the resume command names those left).
pub const CLUSTERS_OPTION: &str = "--clusters";

/// One cluster of a fleet.
pub struct FleetMember {
    /// Its profile's name.
    pub name: String,
    /// Its wave, from 0.
    pub wave: usize,
    /// Its client, or why none could be made (no password for it, a bad URL …).
    pub client: Result<Client, String>,
}

/// The clusters of `spec`, wave by wave; with `only`, just those (each must be in the fleet).
/// `connect` makes a profile's client.
pub fn members(
    fleet: &str,
    spec: &FleetSpec,
    only: Option<&[String]>,
    connect: &mut dyn FnMut(&str) -> Result<Client, String>,
) -> Result<Vec<FleetMember>, RolloutError> {
    if let Some(only) = only {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|name| !spec.clusters().any(|(_, c)| c == name.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(RolloutError::Refused(format!(
                "fleet {fleet} has no cluster(s) {}; its clusters are {}",
                unknown.join(", "),
                spec.clusters()
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(spec
        .clusters()
        .filter(|(_, name)| only.is_none_or(|only| only.iter().any(|o| o == name)))
        .map(|(wave, name)| FleetMember {
            name: name.to_string(),
            wave,
            client: connect(name),
        })
        .collect())
}

/// Where one cluster of a fleet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    /// In a plan (`--dry-run`): would be rolled out.
    Planned,
    /// Rolled out and verified (or nothing to do).
    Done,
    /// Its pre-flight refused (findings, or the cluster could not be read): nothing was sent
    /// anywhere.
    Refused,
    /// Its rollout did not end in place (see its outcome).
    Failed,
    /// Stopped by a signal (see its outcome).
    Interrupted,
    /// Not started: the fleet stopped before its wave.
    NotStarted,
}

impl ClusterState {
    /// The word for tables.
    pub fn label(self) -> &'static str {
        match self {
            ClusterState::Planned => "planned",
            ClusterState::Done => "done",
            ClusterState::Refused => "REFUSED",
            ClusterState::Failed => "FAILED",
            ClusterState::Interrupted => "interrupted",
            ClusterState::NotStarted => "not started",
        }
    }
}

/// One cluster's row of a fleet rollout.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow {
    /// The profile's name.
    pub cluster: String,
    /// Its wave, from 1.
    pub wave: usize,
    /// The URL, when a client was made.
    pub url: Option<String>,
    /// The RS version the pre-flight read.
    pub rs_version: Option<String>,
    /// Where it stands.
    pub state: ClusterState,
    /// Why it was refused or failed, in one line.
    pub error: Option<String>,
    /// The pre-flight's findings, when it refused on them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// Its plan or executed outcome.
    pub outcome: Option<Outcome>,
}

/// The result of a rollout over a fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetOutcome {
    /// The JSON format's version.
    pub version: u64,
    /// The fleet's name.
    pub fleet: String,
    /// What the rollout does.
    pub operation: Operation,
    /// A plan (`--dry-run`, GET requests only).
    pub dry_run: bool,
    /// Stopped by a signal.
    pub interrupted: bool,
    /// A row per cluster, wave by wave.
    pub clusters: Vec<ClusterRow>,
    /// The command that goes on with the clusters not done.
    pub resume_command: Option<Resume>,
}

impl FleetOutcome {
    /// Whether every cluster is done (or, in a plan, planned).
    pub fn is_complete(&self) -> bool {
        self.clusters
            .iter()
            .all(|c| matches!(c.state, ClusterState::Done | ClusterState::Planned))
    }

    /// Whether the pre-flight refused (nothing was sent anywhere).
    pub fn refused(&self) -> bool {
        self.clusters
            .iter()
            .any(|c| c.state == ClusterState::Refused)
    }
}

/// A cluster's plan, as the fleet drives it.
pub trait ClusterPlan: Send + Sync {
    /// The RS version the pre-flight read.
    fn rs_version(&self) -> String;
    /// The plan as an outcome nothing executed.
    fn planned(&self) -> Outcome;
    /// Carries it out.
    fn run(&self, client: &Client, stop_requested: &(dyn Fn() -> bool + Sync)) -> Outcome;
}

impl ClusterPlan for UploadPlan {
    fn rs_version(&self) -> String {
        self.rs_version.clone()
    }

    fn planned(&self) -> Outcome {
        self.as_outcome()
    }

    fn run(&self, client: &Client, stop_requested: &(dyn Fn() -> bool + Sync)) -> Outcome {
        self.execute(client, stop_requested)
    }
}

impl ClusterPlan for UpgradePlan {
    fn rs_version(&self) -> String {
        self.rs_version.clone()
    }

    fn planned(&self) -> Outcome {
        self.as_outcome()
    }

    fn run(&self, client: &Client, stop_requested: &(dyn Fn() -> bool + Sync)) -> Outcome {
        match self.execute(client, stop_requested) {
            Ok(outcome) => outcome,
            // The fleet pre-flight refused unaccepted moves already; say it if one got here.
            Err(error) => {
                let mut outcome = self.as_outcome();
                outcome.dry_run = false;
                for step in &mut outcome.steps {
                    step.fail(error.to_string());
                }
                outcome
            }
        }
    }
}

/// Each cluster's plan, or why it has none.
pub struct FleetPlan<P> {
    fleet: String,
    operation: Operation,
    members: Vec<FleetMember>,
    plans: Vec<Result<P, RolloutError>>,
    resume: ResumeBase,
}

/// Plans the upload of `set` on every cluster of the fleet (GET requests only): the same checks
/// a single-cluster upload runs, against each cluster. The set's module bytes are kept until the
/// last cluster is checked, then released.
pub fn plan_fleet_upload(
    fleet: &str,
    members: Vec<FleetMember>,
    set: &mut ReleaseSet,
    options: &UploadOptions,
) -> FleetPlan<UploadPlan> {
    let plans = members
        .iter()
        .map(|member| {
            let client = member.client.as_ref().map_err(|e| unreachable(e))?;
            let mut options = options.clone();
            options.resume = ResumeBase::default();
            plan_upload_keeping(client, set, &options)
        })
        .collect();
    set.release_module_bytes();
    FleetPlan {
        fleet: fleet.to_string(),
        operation: Operation::Upload,
        members,
        plans,
        resume: options.resume.clone(),
    }
}

/// Plans the upgrade on every cluster of the fleet (GET requests only), and refuses the
/// upgrade of an Active-Active database on a cluster while some cluster of the fleet lacks the
/// version it moves to (RS wants the package on every participating cluster before any
/// instance is upgraded).
pub fn plan_fleet_upgrade(
    fleet: &str,
    members: Vec<FleetMember>,
    databases: &Databases,
    options: &UpgradeOptions,
) -> FleetPlan<UpgradePlan> {
    let mut plans: Vec<Result<UpgradePlan, RolloutError>> = members
        .iter()
        .map(|member| {
            let client = member.client.as_ref().map_err(|e| unreachable(e))?;
            let mut options = options.clone();
            options.resume = ResumeBase::default();
            let plan = plan_upgrade(client, databases, &options)?;
            if let Some(refusal) = plan.unaccepted_moves() {
                return Err(RolloutError::Preflight(Box::new(refusal)));
            }
            Ok(plan)
        })
        .collect();
    // What each cluster registers: as its plan read it, or, for a cluster whose own plan
    // failed, read now (only when an Active-Active database is in some plan).
    type Registered<'a> = Result<Cow<'a, [(String, ModuleVersion)]>, String>;
    let active_active = plans
        .iter()
        .flatten()
        .any(|p| p.databases.iter().any(|d| d.active_active));
    let registered: Vec<Registered<'_>> = if !active_active {
        Vec::new()
    } else {
        members
            .iter()
            .zip(&plans)
            .map(|(member, plan)| match (plan, &member.client) {
                (Ok(plan), _) => Ok(Cow::Borrowed(plan.registered.as_slice())),
                (Err(_), Ok(client)) => client
                    .modules()
                    .map(|modules| {
                        Cow::Owned(
                            modules
                                .into_iter()
                                .filter_map(|m| Some((m.module_name.clone(), m.module_version()?)))
                                .collect(),
                        )
                    })
                    .map_err(|e| e.to_string()),
                (Err(_), Err(error)) => Err(error.clone()),
            })
            .collect()
    };
    let refusals: Vec<Option<String>> = members
        .iter()
        .zip(&plans)
        .map(|(member, plan)| {
            let current = plan.as_ref().ok()?;
            let problems: Vec<String> = current
                .databases
                .iter()
                .filter(|d| d.active_active)
                .filter_map(|database| {
                    let name = &database.module.module_name;
                    let version = ModuleVersion::from_semantic_text(&database.module.version.after)?;
                    let lacking: Vec<String> = members
                        .iter()
                        .zip(&registered)
                        .filter(|(other, _)| other.name != member.name)
                        .filter_map(|(other, modules)| match modules {
                            Ok(list) => (!list
                                .iter()
                                .any(|(n, v)| n.eq_ignore_ascii_case(name) && *v == version))
                            .then(|| other.name.clone()),
                            Err(error) => {
                                Some(format!("{} (cannot be read: {error})", other.name))
                            }
                        })
                        .collect();
                    (!lacking.is_empty()).then(|| format!(
                        "database {} is Active-Active (crdt), and RS wants {name} {} on every participating cluster before any instance is upgraded; cluster(s) {} lack it: upload it there first (`rmpack upload … --fleet {fleet}`)",
                        database.uid,
                        version.semantic(),
                        lacking.join(", ")
                    ))
                })
                .collect();
            (!problems.is_empty()).then(|| problems.join("; "))
        })
        .collect();
    for (plan, refusal) in plans.iter_mut().zip(refusals) {
        if let Some(refusal) = refusal {
            *plan = Err(RolloutError::Refused(refusal));
        }
    }
    FleetPlan {
        fleet: fleet.to_string(),
        operation: Operation::Upgrade,
        members,
        plans,
        resume: options.resume.clone(),
    }
}

fn unreachable(error: &str) -> RolloutError {
    RolloutError::Refused(format!("cannot connect: {error}"))
}

impl<P: ClusterPlan> FleetPlan<P> {
    /// The rows as the pre-flight leaves them: refused clusters with why, the others planned
    /// (a dry run prints this) or, when any refused, not started.
    pub fn as_outcome(&self) -> FleetOutcome {
        let refused = self.plans.iter().any(Result::is_err);
        let clusters = self
            .members
            .iter()
            .zip(&self.plans)
            .map(|(member, plan)| {
                let mut row = self.row(member);
                match plan {
                    Ok(plan) => {
                        row.rs_version = Some(plan.rs_version());
                        row.outcome = Some(plan.planned());
                        row.state = if refused {
                            ClusterState::NotStarted
                        } else {
                            ClusterState::Planned
                        };
                    }
                    Err(error) => {
                        row.state = ClusterState::Refused;
                        row.error = Some(error.to_string());
                        if let RolloutError::Preflight(refusal) = error {
                            row.refusal = Some((**refusal).clone());
                        }
                    }
                }
                row
            })
            .collect();
        FleetOutcome {
            version: FLEET_JSON_VERSION,
            fleet: self.fleet.clone(),
            operation: self.operation,
            dry_run: true,
            interrupted: false,
            clusters,
            resume_command: None,
        }
    }

    fn row(&self, member: &FleetMember) -> ClusterRow {
        ClusterRow {
            cluster: member.name.clone(),
            wave: member.wave + 1,
            url: member.client.as_ref().ok().map(|c| c.base().origin()),
            rs_version: None,
            state: ClusterState::NotStarted,
            error: None,
            refusal: None,
            outcome: None,
        }
    }

    /// Whether every cluster's pre-flight passed.
    pub fn is_ready(&self) -> bool {
        self.plans.iter().all(Result::is_ok)
    }

    /// Rolls the fleet out wave by wave; refuses (sending nothing) when any pre-flight failed.
    pub fn execute(&self, stop_requested: &(dyn Fn() -> bool + Sync)) -> FleetOutcome {
        let mut outcome = self.as_outcome();
        outcome.dry_run = false;
        if !self.is_ready() {
            return outcome;
        }
        let waves = self
            .members
            .iter()
            .map(|m| m.wave)
            .max()
            .map_or(0, |w| w + 1);
        let mut stopped = false;
        for wave in 0..waves {
            let in_wave: Vec<usize> = (0..self.members.len())
                .filter(|&i| self.members[i].wave == wave)
                .collect();
            for &i in &in_wave {
                outcome.clusters[i].state = ClusterState::NotStarted;
                outcome.clusters[i].outcome = None;
            }
            if stopped || stop_requested() {
                outcome.interrupted |= stop_requested();
                stopped = true;
                continue;
            }
            // The clusters of a wave at once, each on its own thread.
            let results: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
                let handles: Vec<_> = in_wave
                    .iter()
                    .map(|&i| {
                        let member = &self.members[i];
                        let plan = self.plans[i].as_ref().ok();
                        scope.spawn(move || {
                            let (Ok(client), Some(plan)) = (&member.client, plan) else {
                                return None;
                            };
                            Some((i, plan.run(client, stop_requested)))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .filter_map(|h| h.join().ok().flatten())
                    .collect()
            });
            for (i, mut cluster_outcome) in results {
                // The fleet's resume command covers the cluster: its own would name it alone.
                cluster_outcome.resume_command = None;
                let row = &mut outcome.clusters[i];
                row.state = if cluster_outcome.interrupted {
                    ClusterState::Interrupted
                } else if cluster_outcome.is_complete() {
                    ClusterState::Done
                } else {
                    ClusterState::Failed
                };
                if row.state == ClusterState::Failed {
                    row.error = cluster_outcome
                        .unfinished()
                        .find_map(|s| s.error.clone())
                        .or_else(|| Some("the rollout did not end in place".to_string()));
                }
                outcome.interrupted |= cluster_outcome.interrupted;
                row.outcome = Some(cluster_outcome);
            }
            if outcome
                .clusters
                .iter()
                .any(|c| matches!(c.state, ClusterState::Failed | ClusterState::Interrupted))
            {
                stopped = true;
            }
        }
        let left: Vec<String> = outcome
            .clusters
            .iter()
            .filter(|c| c.state != ClusterState::Done)
            .map(|c| c.cluster.clone())
            .collect();
        if !left.is_empty() {
            outcome.resume_command = Some(self.resume.with(&[(CLUSTERS_OPTION, left.join(","))]));
        }
        outcome
    }
}

/// One module version across a fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetVersion {
    /// The module.
    pub module_name: String,
    /// The version.
    pub semantic_version: String,
    /// Per cluster (by profile name): what it has of this version.
    pub clusters: BTreeMap<String, FleetCell>,
}

/// What one cluster has of a module version.
#[derive(Debug, Clone, Serialize)]
pub struct FleetCell {
    /// Registered with the cluster.
    pub registered: bool,
    /// Nodes holding its artifact, of the cluster's nodes.
    pub nodes_holding: usize,
    /// The cluster's nodes.
    pub nodes: usize,
    /// Databases running it.
    pub databases: Vec<String>,
}

/// A difference between the clusters of a fleet, or inside one.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FleetDrift {
    /// Drift inside one cluster (as `rmpack status` reports it).
    Cluster {
        /// The cluster.
        cluster: String,
        /// Its drift.
        drift: super::status::Drift,
    },
    /// A version some clusters register and others lack.
    BetweenClusters {
        /// The module.
        module_name: String,
        /// The version.
        semantic_version: String,
        /// Clusters registering it.
        held_by: Vec<String>,
        /// Clusters lacking it.
        lacking: Vec<String>,
        /// The command that puts it there.
        heal: Vec<String>,
    },
}

/// One cluster of `status --fleet`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetClusterStatus {
    /// The profile's name.
    pub cluster: String,
    /// Its wave, from 1.
    pub wave: usize,
    /// Its status, when it could be read.
    pub status: Option<ClusterStatus>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// `status --fleet`: module versions × clusters, and the drift.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    /// The JSON format's version (`schema/fleet-status.schema.json`).
    pub version: u64,
    /// The fleet's name.
    pub fleet: String,
    /// Each cluster.
    pub clusters: Vec<FleetClusterStatus>,
    /// Every module version any cluster has.
    pub versions: Vec<FleetVersion>,
    /// The drift, inside clusters and between them.
    pub drift: Vec<FleetDrift>,
}

impl FleetStatus {
    /// Whether every cluster was read and nothing drifts.
    pub fn is_consistent(&self) -> bool {
        self.drift.is_empty() && self.clusters.iter().all(|c| c.error.is_none())
    }
}

/// Reads every cluster of the fleet at once (GET requests only) and compares them.
/// `words_for(cluster)` are the words that reach one cluster again (`--profile NAME` …), for its
/// healing commands; `release` the paths of the release set, when given, for the upload heals.
pub fn fleet_status(
    fleet: &str,
    members: &[FleetMember],
    external: bool,
    set: Option<&ReleaseSet>,
    words_for: &(dyn Fn(&str) -> Vec<String> + Sync),
    release: &[String],
) -> FleetStatus {
    let statuses: Vec<Result<ClusterStatus, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .iter()
            .map(|member| {
                scope.spawn(move || match &member.client {
                    Ok(client) => cluster_status(client, external, &words_for(&member.name), set)
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(format!("cannot connect: {error}")),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("reading the cluster failed".to_string()))
            })
            .collect()
    });
    let clusters: Vec<FleetClusterStatus> = members
        .iter()
        .zip(statuses)
        .map(|(member, status)| {
            let (status, error) = match status {
                Ok(status) => (Some(status), None),
                Err(error) => (None, Some(error)),
            };
            FleetClusterStatus {
                cluster: member.name.clone(),
                wave: member.wave + 1,
                status,
                error,
            }
        })
        .collect();
    let mut versions: BTreeMap<(String, u64), FleetVersion> = BTreeMap::new();
    let mut drift = Vec::new();
    for cluster in &clusters {
        let Some(status) = &cluster.status else {
            continue;
        };
        for module in &status.modules {
            for version in &module.versions {
                let entry = versions
                    .entry((module.module_name.clone(), version.version))
                    .or_insert_with(|| FleetVersion {
                        module_name: module.module_name.clone(),
                        semantic_version: version.semantic_version.clone(),
                        clusters: BTreeMap::new(),
                    });
                entry.clusters.insert(
                    cluster.cluster.clone(),
                    FleetCell {
                        registered: !version.registered.is_empty(),
                        nodes_holding: if version.bundled {
                            status.nodes.len()
                        } else {
                            version.nodes.len()
                        },
                        nodes: status.nodes.len(),
                        databases: version.databases.clone(),
                    },
                );
            }
        }
        drift.extend(status.drift.iter().map(|d| FleetDrift::Cluster {
            cluster: cluster.cluster.clone(),
            drift: d.clone(),
        }));
    }
    let readable: Vec<&str> = clusters
        .iter()
        .filter(|c| c.status.is_some())
        .map(|c| c.cluster.as_str())
        .collect();
    for version in versions.values() {
        let held_by: Vec<String> = readable
            .iter()
            .filter(|c| {
                version
                    .clusters
                    .get(**c)
                    .is_some_and(|cell| cell.registered)
            })
            .map(|c| c.to_string())
            .collect();
        if held_by.is_empty() {
            continue;
        }
        let lacking: Vec<String> = readable
            .iter()
            .filter(|c| !held_by.iter().any(|h| h == *c))
            .map(|c| c.to_string())
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let zips: Vec<String> = if release.is_empty() {
            vec!["ZIP".to_string()]
        } else {
            release.to_vec()
        };
        let command = crate::text::command_line(
            ["rmpack", "upload"]
                .into_iter()
                .map(str::to_string)
                .chain(zips)
                .chain([
                    "--fleet".to_string(),
                    fleet.to_string(),
                    CLUSTERS_OPTION.to_string(),
                    lacking.join(","),
                ]),
        );
        let command = if release.is_empty() {
            crate::text::with_comment(
                command,
                &format!(
                    "ZIP: the zips of {} {}",
                    version.module_name, version.semantic_version
                ),
            )
        } else {
            command
        };
        drift.push(FleetDrift::BetweenClusters {
            module_name: version.module_name.clone(),
            semantic_version: version.semantic_version.clone(),
            held_by,
            lacking,
            heal: vec![command],
        });
    }
    FleetStatus {
        version: FLEET_JSON_VERSION,
        fleet: fleet.to_string(),
        clusters,
        versions: versions.into_values().collect(),
        drift,
    }
}
