//! Moving databases to another version of a module ("Upgrade a database", bdbs/upgrade
//! reference): [`plan_upgrade`] reads the cluster and the databases (GET only) and works out
//! what RS will do with each: which build of the module it gives the database (RS's fit rule,
//! [`crate::release`]), which other modules it moves along (RS 7.8.2 and later move every module
//! of the database to its newest fitting build), which modules Redis 8 brings; and runs the
//! validator's upgrade pre-flight. [`UpgradePlan::execute`] sends one request per database, in
//! turn, follows it, reads the database back and stops at the first one that did not land where
//! planned.
//!
//! Without `redis_version`, RS moves a database to the latest Redis version it bundles, so the
//! request always carries one: the database's own, or `--redis-version`.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::cluster::{
    action_uid_of, Bdb, Client, ClusterError, Endpoint, Module, ModuleUpgrade, PollOptions,
    UpgradeRequest,
};
use crate::manifest::{DottedVersion, ModuleVersion};
use crate::release::{latest_fitting, Build};
use crate::validate::rules::{
    UPGRADE_MOVES_OTHER_MODULES, UPGRADE_NODE_LACKS_ARTIFACT, UPGRADE_REDIS_VERSION_NOT_COMPATIBLE,
};
use crate::validate::{self, Diagnostic, Report};

use super::execute::{pool, while_busy};
use super::outcome::{Operation, Outcome, Refusal, ResumeBase, Step, StepKind, StepState};
use super::plan::{
    at_least, build_of, live_target, node_clients, planned, rs_version, Change, LiveTarget,
};
use super::{PlannedRequest, RolloutError};

/// The first RS release whose docs list the general `POST /v1/bdbs/{uid}/upgrade`.
pub const GENERAL_UPGRADE_SINCE: &str = "7.4";
/// The first RS release whose database upgrade moves every module of the database to its newest
/// fitting build ("As of 7.8.2, upgrade db will always upgrade modules").
pub const MOVES_EVERY_MODULE_SINCE: &str = "7.8.2";
/// The first RS release that keeps custom modules as per-node artifacts.
pub const PER_NODE_ARTIFACTS_SINCE: &str = "8.0";
/// The modules Redis 8 bundles, which a database moving to Redis 8 gets (Active-Active
/// databases excepted); `search` takes the place of `searchlight`.
pub const REDIS_8_BUNDLED_MODULES: [&str; 4] = ["search", "timeseries", "bf", "ReJSON"];
/// The module `search` replaces when a database moves to Redis 8.
pub const REPLACED_BY_SEARCH: &str = "searchlight";

/// Which databases to upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Databases {
    /// These uids, in this order.
    Listed(Vec<String>),
    /// Every database that runs the module.
    All,
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    /// The module's name.
    pub module: String,
    /// The version to move to; else, per database, the newest build that fits its Redis.
    pub to: Option<ModuleVersion>,
    /// Move the databases to this Redis version (else each keeps its own).
    pub redis_version: Option<String>,
    /// Load the new version with these arguments (else the database's current ones).
    pub module_args: Option<String>,
    /// `preserve_roles`.
    pub preserve_roles: bool,
    /// `may_discard_data`.
    pub may_discard_data: bool,
    /// `force_restart`.
    pub force_restart: bool,
    /// `parallel_shards_upgrade`.
    pub parallel_shards_upgrade: Option<u32>,
    /// The operator accepts the other modules RS moves along with the one asked for.
    pub accept_other_modules: bool,
    /// How to follow each upgrade.
    pub poll: PollOptions,
    /// How long to keep trying while the cluster is busy with another change.
    pub busy_timeout: Duration,
    /// The command line to resume with, without its database selection.
    pub resume: ResumeBase,
}

/// The route the cluster takes upgrades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeRoute {
    /// `POST /v1/bdbs/{uid}/upgrade` (RS 7.4 and later).
    General,
    /// `POST /v1/bdbs/{uid}/modules/upgrade` (older clusters).
    Modules,
}

/// Why a module of a database changes (or not) with the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// The module asked for, to the version asked for (`--to`).
    Asked,
    /// The module asked for, to the newest build that fits the database's Redis.
    NewestFitting,
    /// Another module, which RS moves to its newest fitting build.
    MovedByRs,
    /// Another module, kept.
    Kept,
    /// A module Redis 8 bundles, which RS adds to the database.
    AddedByRedis8,
    /// A module RS removes (`searchlight`, replaced by `search`).
    RemovedByRedis8,
}

/// One module of a database, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleChange {
    /// The module's name.
    pub module_name: String,
    /// Its version now → planned (`-` where it is absent).
    pub version: Change,
    /// Why.
    pub reason: ChangeReason,
    /// Uid of the module object it moves to, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_uid: Option<String>,
}

impl ModuleChange {
    /// Whether the module's version (or presence) changes.
    pub fn changes(&self) -> bool {
        self.version.changes()
    }
}

/// One database of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct DatabasePlan {
    /// The database's uid.
    pub uid: String,
    /// Its name.
    pub name: String,
    /// Redis version now → planned.
    pub redis: Change,
    /// Why the Redis version is what it is.
    pub redis_reason: String,
    /// The module asked for: now → planned.
    pub module: ModuleChange,
    /// Uid of the module object the database moves to.
    pub new_module_uid: String,
    /// Every other module of the database, kept or moved by RS.
    pub other_modules: Vec<ModuleChange>,
    /// Modules RS adds (Redis 8 bundles) or removes (`searchlight`).
    pub added_or_removed: Vec<ModuleChange>,
    /// The request to send.
    pub request: PlannedRequest,
    /// The body to send.
    #[serde(skip)]
    pub body: UpgradeRequest,
    /// The module list the cluster's own dry run answered, when asked and supported.
    pub cluster_preview: Option<Vec<ModuleChange>>,
    /// An Active-Active database (`crdt`): RS wants the new build on every participating
    /// cluster before any instance is upgraded.
    pub active_active: bool,
}

impl DatabasePlan {
    /// The other modules RS moves along with the one asked for.
    pub fn other_moves(&self) -> impl Iterator<Item = &ModuleChange> {
        self.other_modules.iter().filter(|m| m.changes())
    }
}

/// Everything an upgrade will do, read with GET requests only.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradePlan {
    /// The cluster URL.
    pub cluster: String,
    /// The module.
    pub module: String,
    /// The cluster's RS version.
    pub rs_version: String,
    /// The route used.
    pub route: UpgradeRoute,
    /// The databases, in the order they will be upgraded.
    pub databases: Vec<DatabasePlan>,
    /// Databases that already run the version asked (nothing to send).
    pub already_current: Vec<String>,
    /// Whether the operator accepted the other modules RS moves (`--accept-other-modules`).
    pub other_modules_accepted: bool,
    /// Every module name and version the cluster registers, as the plan read them.
    #[serde(skip)]
    pub registered: Vec<(String, ModuleVersion)>,
    /// Notes from the pre-flight (warnings, facts rmpack could not map).
    pub notes: Vec<String>,
    /// Databases whose upgrade the cluster started although asked for a dry run.
    pub started_despite_dry_run: Vec<String>,
    #[serde(skip)]
    options: UpgradeOptions,
}

fn semantic_of(text: Option<&str>) -> Option<ModuleVersion> {
    ModuleVersion::from_semantic_text(text?)
}

fn major_minor(text: &str) -> Option<(u64, u64)> {
    text.parse::<DottedVersion>().ok().map(|v| v.major_minor())
}

/// The Redis versions every node offers (`supported_database_versions`), in the first node's
/// order; empty when no node reports them.
fn offered_redis_versions(live: &LiveTarget) -> Vec<String> {
    let mut lists = live
        .nodes
        .iter()
        .map(|n| &n.supported_database_versions)
        .filter(|l| !l.is_empty());
    let Some(first) = lists.next() else {
        return Vec::new();
    };
    let rest: Vec<&Vec<String>> = lists.collect();
    first
        .iter()
        .filter(|v| rest.iter().all(|l| l.contains(v)))
        .cloned()
        .collect()
}

/// A module object of the cluster with the build facts RS's rules read.
struct Candidate<'a> {
    module: &'a Module,
    build: Build,
}

fn candidates(modules: &[Module]) -> Vec<Candidate<'_>> {
    modules
        .iter()
        .filter(|m| !m.uid.0.is_empty())
        .filter_map(|module| {
            Some(Candidate {
                module,
                build: build_of(module)?,
            })
        })
        .collect()
}

/// The newest build of `name` that fits Redis `redis` (RS's pick when no version is named).
fn newest_fitting<'a>(
    candidates: &'a [Candidate<'a>],
    name: &str,
    redis: &DottedVersion,
) -> Option<&'a Candidate<'a>> {
    let picked = latest_fitting(candidates.iter().map(|c| &c.build), name, redis)?;
    candidates.iter().find(|c| std::ptr::eq(&c.build, picked))
}

/// `8.0.0 (for Redis 8.0), 8.2.1 (for Redis 8.2)`: the builds of `name`, for messages.
fn builds_of(candidates: &[Candidate<'_>], name: &str) -> String {
    let mut builds: Vec<&Build> = candidates
        .iter()
        .map(|c| &c.build)
        .filter(|b| b.module_name.eq_ignore_ascii_case(name))
        .collect();
    builds.sort_by_key(|b| b.version);
    if builds.is_empty() {
        "none".to_string()
    } else {
        builds
            .iter()
            .map(|b| b.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads the cluster and plans the upgrade. Refuses (with the findings) when the pre-flight of
/// any database fails: nothing is sent then.
pub fn plan_upgrade(
    client: &Client,
    databases: &Databases,
    options: &UpgradeOptions,
) -> Result<UpgradePlan, RolloutError> {
    let live = live_target(client, None, Some(&options.module)).map_err(RolloutError::from)?;
    let rs = rs_version(&live).map_err(|reported| RolloutError::UnknownRsVersion {
        reported,
        what: "the upgrade route depends on it (POST /v1/bdbs/{uid}/upgrade from RS 7.4 on); check the nodes' software_version in GET /v1/nodes".to_string(),
    })?;
    let node_versions: Vec<(String, Option<String>)> = live
        .nodes
        .iter()
        .map(|n| (n.uid.0.clone(), n.software_version.clone()))
        .collect();
    let mixed = validate::check_nodes_same_rs(&node_versions);
    if !mixed.is_empty() {
        return Err(refused(
            client,
            vec![Report {
                subject: "the cluster".to_string(),
                diagnostics: mixed,
            }],
        ));
    }
    let route = if at_least(&rs, GENERAL_UPGRADE_SINCE) {
        UpgradeRoute::General
    } else {
        UpgradeRoute::Modules
    };
    let moves_every_module =
        route == UpgradeRoute::General && at_least(&rs, MOVES_EVERY_MODULE_SINCE);
    let bdbs: Vec<Bdb> = match databases {
        Databases::All => client
            .bdbs()
            .map_err(RolloutError::from)?
            .into_iter()
            .filter(|b| find_module(b, &options.module).is_some())
            .collect(),
        Databases::Listed(uids) => uids
            .iter()
            .map(|uid| match client.bdb(uid) {
                Err(ClusterError::NotFound { .. }) => Err(RolloutError::Refused(format!(
                    "the cluster has no database {uid}"
                ))),
                other => other.map_err(RolloutError::from),
            })
            .collect::<Result<_, _>>()?,
    };
    if bdbs.is_empty() {
        return Err(RolloutError::Refused(format!(
            "no database of the cluster runs module {}",
            options.module
        )));
    }
    let offered = offered_redis_versions(&live);
    if let Some(asked) = &options.redis_version {
        if !offered.iter().any(|v| v == asked) {
            return Err(RolloutError::Refused(format!(
                "--redis-version {asked} is not offered by every node (supported_database_versions: {})",
                if offered.is_empty() { "none reported".to_string() } else { offered.join(", ") }
            ))
            );
        }
    }
    let candidates = candidates(&live.modules);
    let policy_default = live
        .cluster
        .default_redis_version
        .as_deref()
        .and_then(|v| v.parse::<DottedVersion>().ok());
    let mut plan = UpgradePlan {
        cluster: client.base().origin(),
        module: options.module.clone(),
        rs_version: rs.to_string(),
        route,
        databases: Vec::new(),
        already_current: Vec::new(),
        other_modules_accepted: options.accept_other_modules,
        registered: live
            .modules
            .iter()
            .filter_map(|m| Some((m.module_name.clone(), m.module_version()?)))
            .collect(),
        notes: live.notes.clone(),
        started_despite_dry_run: Vec::new(),
        options: options.clone(),
    };
    let mut refusals = Vec::new();
    // Custom module versions each database moves to, whose artifacts every node must hold.
    let mut needed_artifacts: Vec<(String, String, ModuleVersion)> = Vec::new();
    for bdb in &bdbs {
        let uid = bdb.uid.0.clone();
        let location = format!("database {uid}");
        let Some(in_use) = find_module(bdb, &options.module) else {
            return Err(RolloutError::Refused(format!(
                "database {uid} does not run module {} (it runs: {})",
                options.module,
                list_or_none(bdb.module_list.iter().map(|m| m.module_name.clone()))
            )));
        };
        let redis_now = bdb.redis_version.clone().ok_or_else(|| {
            RolloutError::Refused(format!(
                "database {uid} does not report its Redis version; rmpack sends it with every upgrade (without it RS moves the database to its latest Redis), so it cannot upgrade this database safely"
            ))
        })?;
        let (redis_after, redis_reason) = match &options.redis_version {
            Some(asked) => (
                asked.clone(),
                format!("--redis-version {asked} (offered by every node)"),
            ),
            None => (
                redis_now.clone(),
                "sent as redis_version: without it RS moves the database to its latest Redis"
                    .to_string(),
            ),
        };
        let (Ok(redis_now_v), Ok(redis_after_v)) = (
            redis_now.parse::<DottedVersion>(),
            redis_after.parse::<DottedVersion>(),
        ) else {
            return Err(RolloutError::Refused(format!(
                "database {uid}: Redis version `{redis_now}` or `{redis_after}` is not a version"
            )));
        };
        let mut findings: Vec<Diagnostic> = validate::check_redis_move(
            &redis_now_v,
            &redis_after_v,
            live.cluster.redis_upgrade_policy.as_deref(),
            policy_default.as_ref(),
            &location,
        );
        let current = semantic_of(in_use.semantic_version.as_deref());
        // The build RS gives this database: the one asked for, else the newest that fits.
        let picked = match options.to {
            Some(to) => candidates.iter().find(|c| {
                c.build.module_name.eq_ignore_ascii_case(&options.module) && c.build.version == to
            }),
            None => newest_fitting(&candidates, &options.module, &redis_after_v),
        };
        let Some(picked) = picked else {
            match options.to {
                Some(to) => {
                    return Err(RolloutError::Refused(format!(
                        "the cluster has no {} {} (missing_module); upload it first with `rmpack upload`",
                        options.module,
                        to.semantic()
                    ))
                    )
                }
                None => {
                    findings.push(
                        UPGRADE_REDIS_VERSION_NOT_COMPATIBLE
                            .finding(format!(
                                "no build of {} on the cluster fits Redis {redis_after} (builds: {}); RS answers \"Unable to find a version of the module {} that is supported by target redis version of BDB {redis_after}\"",
                                options.module,
                                builds_of(&candidates, &options.module),
                                options.module
                            ))
                            .help(format!(
                                "Upload a build of {} with compatible_redis_version {}.{}, or upgrade to a Redis version a build exists for.",
                                options.module,
                                redis_after_v.major_minor().0,
                                redis_after_v.major_minor().1
                            ))
                            .at(location.clone()),
                    );
                    refusals.push(refusal(&uid, findings));
                    continue;
                }
            }
        };
        let same_as_now = current == Some(picked.build.version);
        let newer_exists_above = current.is_some_and(|c| picked.build.version < c);
        let redis_moves = major_minor(&redis_now) != major_minor(&redis_after);
        // Already where it is to go (the newest build for its Redis, or the version asked):
        // nothing to send. A resumed run finds the databases an earlier run upgraded here.
        let arrived = match options.to {
            None => same_as_now || newer_exists_above,
            Some(_) => same_as_now,
        };
        if arrived && !redis_moves && findings.is_empty() {
            plan.already_current.push(uid);
            continue;
        }
        // The pre-flight: the stored module object against this database and the cluster.
        let object = client
            .module_raw(&picked.module.uid.0)
            .map_err(RolloutError::from)?;
        let custom = is_custom(picked.module, &rs);
        let mut facts = live.target.clone();
        facts.redis_version = Some(redis_after_v.clone());
        facts.database = Some(bdb.raw.clone());
        // Keeping the module's version while the Redis version moves is an upgrade too.
        facts.current_version = current.filter(|_| !same_as_now);
        facts.cluster = None;
        if custom {
            // Custom builds are per-node artifacts: the node check below reads each node.
            facts.operating_systems.clear();
            facts.architectures.clear();
        }
        let mut report = validate::check_module_object(&object, &facts, &location);
        if let Some(misfit) = report
            .diagnostics
            .iter_mut()
            .find(|d| d.rule == UPGRADE_REDIS_VERSION_NOT_COMPATIBLE.id)
        {
            let fitting = newest_fitting(&candidates, &options.module, &redis_after_v);
            misfit.help = match fitting {
                Some(c) => format!(
                    "The build that fits Redis {redis_after} is {} {}: upgrade with --to {} (or omit --to).",
                    options.module,
                    c.build.describe(),
                    c.build.semantic_version()
                ),
                None => format!(
                    "No build of {} on the cluster fits Redis {redis_after} (builds: {}); upload one.",
                    options.module,
                    builds_of(&candidates, &options.module)
                ),
            };
        }
        findings.extend(report.diagnostics);
        if custom {
            needed_artifacts.push((
                uid.clone(),
                picked.build.module_name.clone(),
                picked.build.version,
            ));
        }
        // What RS does with the database's other modules.
        let mut other_modules = Vec::new();
        for other in bdb
            .module_list
            .iter()
            .filter(|m| !m.module_name.eq_ignore_ascii_case(&options.module))
        {
            let before = other.semantic_version.clone().unwrap_or_else(|| "?".into());
            let other_current = semantic_of(other.semantic_version.as_deref());
            let moved = if moves_every_module {
                newest_fitting(&candidates, &other.module_name, &redis_after_v)
                    .filter(|c| other_current.is_none_or(|now| c.build.version > now))
            } else {
                None
            };
            match moved {
                Some(target) => {
                    let object = client
                        .module_raw(&target.module.uid.0)
                        .map_err(RolloutError::from)?;
                    let mut facts = facts.clone();
                    facts.current_version = other_current;
                    let report = validate::check_module_object(&object, &facts, &location);
                    findings.extend(
                        report
                            .diagnostics
                            .into_iter()
                            .filter(|d| d.rule != "compatible-redis-version-missing"),
                    );
                    if is_custom(target.module, &rs) {
                        needed_artifacts.push((
                            uid.clone(),
                            target.build.module_name.clone(),
                            target.build.version,
                        ));
                    }
                    other_modules.push(ModuleChange {
                        module_name: other.module_name.clone(),
                        version: Change {
                            before,
                            after: target.build.semantic_version(),
                        },
                        reason: ChangeReason::MovedByRs,
                        module_uid: Some(target.module.uid.0.clone()),
                    });
                }
                None => {
                    let still_fits = other
                        .module_id
                        .as_ref()
                        .and_then(|id| candidates.iter().find(|c| c.module.uid == *id))
                        .is_none_or(|c| c.build.fits_redis(&redis_after_v).is_ok());
                    if moves_every_module && !still_fits {
                        findings.push(
                            UPGRADE_REDIS_VERSION_NOT_COMPATIBLE
                                .finding(format!(
                                    "the database's module {} {before} does not fit Redis {redis_after}, and no build of it on the cluster does (builds: {}); RS answers \"Unable to find a version of the module {} that is supported by target redis version of BDB {redis_after}\"",
                                    other.module_name,
                                    builds_of(&candidates, &other.module_name),
                                    other.module_name
                                ))
                                .at(location.clone()),
                        );
                    }
                    other_modules.push(ModuleChange {
                        module_name: other.module_name.clone(),
                        version: Change {
                            before: before.clone(),
                            after: before,
                        },
                        reason: ChangeReason::Kept,
                        module_uid: other.module_id.as_ref().map(|u| u.0.clone()),
                    });
                }
            }
        }
        let added_or_removed = redis_8_changes(bdb, &redis_now_v, &redis_after_v, &candidates);
        plan.notes.extend(
            findings
                .iter()
                .filter(|d| d.severity != validate::Severity::Error)
                .map(|d| format!("database {uid}: {}", d.message)),
        );
        if findings
            .iter()
            .any(|d| d.severity == validate::Severity::Error)
        {
            refusals.push(refusal(&uid, findings));
            continue;
        }
        let body = UpgradeRequest {
            redis_version: Some(redis_after.clone()),
            modules: vec![ModuleUpgrade {
                module_name: in_use.module_name.clone(),
                current_module: in_use.module_id.clone(),
                new_module: picked.module.uid.clone(),
                new_module_args: options
                    .module_args
                    .clone()
                    .or_else(|| in_use.module_args.clone())
                    .unwrap_or_default(),
            }],
            preserve_roles: options.preserve_roles.then_some(true),
            may_discard_data: options.may_discard_data.then_some(true),
            force_restart: options.force_restart.then_some(true),
            parallel_shards_upgrade: options.parallel_shards_upgrade,
        };
        let endpoint = match route {
            UpgradeRoute::General => Endpoint::bdb_upgrade(&uid, false),
            UpgradeRoute::Modules => Endpoint::bdb_modules_upgrade(&uid),
        }
        .map_err(RolloutError::from)?;
        let bytes = serde_json::to_vec(&body).map_or(0, |b| b.len() as u64);
        plan.databases.push(DatabasePlan {
            uid: uid.clone(),
            name: bdb.name.clone().unwrap_or_default(),
            redis: Change {
                before: redis_now,
                after: redis_after,
            },
            redis_reason,
            module: ModuleChange {
                module_name: in_use.module_name.clone(),
                version: Change {
                    before: in_use
                        .semantic_version
                        .clone()
                        .unwrap_or_else(|| "?".into()),
                    after: picked.build.semantic_version(),
                },
                reason: if options.to.is_some() {
                    ChangeReason::Asked
                } else {
                    ChangeReason::NewestFitting
                },
                module_uid: Some(picked.module.uid.0.clone()),
            },
            new_module_uid: picked.module.uid.0.clone(),
            other_modules,
            added_or_removed,
            request: planned(client, &endpoint, bytes),
            body,
            cluster_preview: None,
            active_active: bdb.raw.get("crdt") == Some(&Value::Bool(true)),
        });
    }
    refusals.extend(check_artifacts(client, &live, &needed_artifacts)?);
    if !refusals.is_empty() {
        return Err(refused(client, refusals));
    }
    Ok(plan)
}

fn refused(client: &Client, reports: Vec<Report>) -> RolloutError {
    RolloutError::Preflight(Box::new(Refusal::new(client.base().origin(), reports)))
}

fn refusal(uid: &str, diagnostics: Vec<Diagnostic>) -> Report {
    Report {
        subject: format!("database {uid}"),
        diagnostics,
    }
}

/// Whether `module` is a custom module kept as per-node artifacts (RS 8.0 and later).
fn is_custom(module: &Module, rs: &DottedVersion) -> bool {
    module.is_bundled != Some(true) && at_least(rs, PER_NODE_ARTIFACTS_SINCE)
}

/// The modules a database moving from Redis `now` to `after` gains (Redis 8's bundled ones,
/// unless Active-Active) or loses (`searchlight`, replaced by `search`).
fn redis_8_changes(
    bdb: &Bdb,
    now: &DottedVersion,
    after: &DottedVersion,
    candidates: &[Candidate<'_>],
) -> Vec<ModuleChange> {
    let crdt = bdb.raw.get("crdt") == Some(&Value::Bool(true));
    if now.major_minor().0 >= 8 || after.major_minor().0 < 8 || crdt {
        return Vec::new();
    }
    let mut out = Vec::new();
    let has = |name: &str| {
        bdb.module_list
            .iter()
            .any(|m| m.module_name.eq_ignore_ascii_case(name))
    };
    if let Some(searchlight) = find_module(bdb, REPLACED_BY_SEARCH) {
        out.push(ModuleChange {
            module_name: searchlight.module_name.clone(),
            version: Change {
                before: searchlight
                    .semantic_version
                    .clone()
                    .unwrap_or_else(|| "?".into()),
                after: "-".to_string(),
            },
            reason: ChangeReason::RemovedByRedis8,
            module_uid: None,
        });
    }
    for name in REDIS_8_BUNDLED_MODULES {
        if has(name) {
            continue;
        }
        let build = newest_fitting(candidates, name, after);
        out.push(ModuleChange {
            module_name: name.to_string(),
            version: Change {
                before: "-".to_string(),
                after: build.map_or_else(
                    || format!("bundled with Redis {after}"),
                    |c| c.build.semantic_version(),
                ),
            },
            reason: ChangeReason::AddedByRedis8,
            module_uid: build.map(|c| c.module.uid.0.clone()),
        });
    }
    out
}

/// Every node must hold the artifact of each custom module version a database moves to: a
/// database cannot run on a node without it. Read with GET requests, all nodes at once.
fn check_artifacts(
    client: &Client,
    live: &LiveTarget,
    needed: &[(String, String, ModuleVersion)],
) -> Result<Vec<Report>, RolloutError> {
    if needed.is_empty() {
        return Ok(Vec::new());
    }
    let clients = node_clients(client, &live.nodes, false)?;
    let lists = pool(
        &clients,
        16,
        |node| (node.client.artifacts(), false),
        |_| Ok(Vec::new()),
    );
    let mut readable: Vec<Result<Vec<crate::cluster::Artifact>, String>> = Vec::new();
    for result in lists {
        match result {
            Ok(list) => readable.push(Ok(list)),
            // Wrong credentials or no permission hold for every node: stop here.
            Err(error) if error.is_fatal_for_rollout() => return Err(RolloutError::Cluster(error)),
            Err(error) => readable.push(Err(error.to_string())),
        }
    }
    let mut by_database: Vec<(String, Vec<Diagnostic>)> = Vec::new();
    for (database, name, version) in needed {
        let mut findings = Vec::new();
        for ((node, list), facts) in clients.iter().zip(&readable).zip(&live.nodes) {
            let label = super::plan::node_facts(facts);
            let platform = crate::release::platform_label(label.os.as_ref(), label.arch);
            match list {
                Ok(list) if list.iter().any(|a| a.module_name == *name && a.version == Some(*version)) => {}
                Ok(_) => findings.push(
                    UPGRADE_NODE_LACKS_ARTIFACT
                        .finding(format!(
                            "node {} ({platform}) holds no artifact of {name} {}: the database could not run there",
                            node.uid,
                            version.semantic()
                        ))
                        .help(format!(
                            "Upload the {platform} build of {name} {} to node {} (rmpack upload ZIP --nodes {}), then upgrade.",
                            version.semantic(),
                            node.uid,
                            node.uid
                        ))
                        .at(format!("database {database}")),
                ),
                Err(error) => findings.push(
                    UPGRADE_NODE_LACKS_ARTIFACT
                        .finding(format!(
                            "node {}: its artifacts cannot be read ({error}), so rmpack cannot tell it holds {name} {}",
                            node.uid,
                            version.semantic()
                        ))
                        .at(format!("database {database}")),
                ),
            }
        }
        if !findings.is_empty() {
            match by_database.iter_mut().find(|(d, _)| d == database) {
                Some((_, list)) => list.extend(findings),
                None => by_database.push((database.clone(), findings)),
            }
        }
    }
    Ok(by_database
        .into_iter()
        .map(|(uid, findings)| refusal(&uid, findings))
        .collect())
}

impl UpgradePlan {
    /// The other modules RS would move that the operator has not accepted
    /// (`--accept-other-modules`): nothing is sent while there are any.
    pub fn unaccepted_moves(&self) -> Option<Refusal> {
        if self.other_modules_accepted {
            return None;
        }
        let reports: Vec<Report> = self
            .databases
            .iter()
            .filter(|db| db.other_moves().next().is_some())
            .map(|db| {
                let moves: Vec<String> = db
                    .other_moves()
                    .map(|m| format!("{} {}", m.module_name, m.version))
                    .collect();
                refusal(
                    &db.uid,
                    vec![UPGRADE_MOVES_OTHER_MODULES
                        .finding(format!(
                            "RS {} moves every module of the database to its newest fitting build, so upgrading {} also moves {}",
                            self.rs_version,
                            self.module,
                            moves.join(", ")
                        ))
                        .at(format!("database {}", db.uid))],
                )
            })
            .collect();
        (!reports.is_empty()).then(|| Refusal::new(self.cluster.clone(), reports))
    }
}

fn list_or_none(names: impl Iterator<Item = String>) -> String {
    let names: Vec<String> = names.collect();
    if names.is_empty() {
        "no modules".to_string()
    } else {
        names.join(", ")
    }
}

fn find_module<'a>(bdb: &'a Bdb, name: &str) -> Option<&'a crate::cluster::BdbModule> {
    bdb.module_list
        .iter()
        .find(|m| m.module_name.eq_ignore_ascii_case(name))
}

impl UpgradePlan {
    /// Asks the cluster's own dry run (`?dry_run=true`, which changes nothing) what each
    /// database's module list would become; a cluster that does not answer it leaves the
    /// preview empty, with a note.
    pub fn ask_cluster_preview(&mut self, client: &Client) {
        if self.route != UpgradeRoute::General {
            return;
        }
        for database in &mut self.databases {
            match client.upgrade_bdb(&database.uid, &database.body, true) {
                // A cluster that ignored `dry_run` started the upgrade: say so loudly.
                Ok(answer) if action_uid_of(&answer).is_some() => {
                    let action = action_uid_of(&answer).unwrap_or_default();
                    let warning = format!(
                        "database {}: the cluster ignored dry_run=true and started an upgrade (action {action}); follow it with GET /v1/actions/{action}",
                        database.uid
                    );
                    client.listener().on_warning(&warning);
                    self.notes.push(warning);
                    self.started_despite_dry_run.push(database.uid.clone());
                }
                Ok(answer) => {
                    let list = answer
                        .get("module_list")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let before: Vec<ModuleChange> = std::iter::once(database.module.clone())
                        .chain(database.other_modules.iter().cloned())
                        .collect();
                    database.cluster_preview = Some(
                        list.iter()
                            .map(|entry| {
                                let name = entry
                                    .get("module_name")
                                    .and_then(Value::as_str)
                                    .unwrap_or("?")
                                    .to_string();
                                let after = entry
                                    .get("semantic_version")
                                    .and_then(Value::as_str)
                                    .unwrap_or("?")
                                    .to_string();
                                let was = before
                                    .iter()
                                    .find(|m| m.module_name.eq_ignore_ascii_case(&name))
                                    .map_or("-".to_string(), |m| m.version.before.clone());
                                let version = Change { before: was, after };
                                ModuleChange {
                                    module_name: name,
                                    reason: if version.changes() {
                                        ChangeReason::MovedByRs
                                    } else {
                                        ChangeReason::Kept
                                    },
                                    version,
                                    module_uid: entry
                                        .get("module_id")
                                        .and_then(Value::as_str)
                                        .map(str::to_string),
                                }
                            })
                            .collect(),
                    );
                }
                Err(error) => self.notes.push(format!(
                    "database {}: the cluster's dry run gave no preview ({error})",
                    database.uid
                )),
            }
        }
    }

    /// The plan as an outcome nothing executed: a step per database.
    pub fn as_outcome(&self) -> Outcome {
        let mut outcome = self.empty_outcome();
        outcome.dry_run = true;
        for database in &self.databases {
            outcome
                .steps
                .push(self.step(database).with_state(StepState::Planned));
        }
        outcome.requests = self.databases.iter().map(|d| d.request.clone()).collect();
        outcome
    }

    fn empty_outcome(&self) -> Outcome {
        let mut outcome = Outcome::new(Operation::Upgrade, self.cluster.clone());
        outcome.notes = self.notes.clone();
        if !self.already_current.is_empty() {
            outcome.notes.push(format!(
                "already current: database(s) {}",
                self.already_current.join(", ")
            ));
        }
        outcome
    }

    fn step(&self, database: &DatabasePlan) -> Step {
        let target = if database.name.is_empty() {
            format!("database {}", database.uid)
        } else {
            format!("database {} ({})", database.uid, database.name)
        };
        let mut step = Step::new(
            StepKind::DatabaseUpgrade,
            target,
            format!(
                "{} {}; Redis {}",
                database.module.module_name, database.module.version, database.redis
            ),
        );
        for other in database.other_moves() {
            step.details
                .push(format!("RS moves {} {}", other.module_name, other.version));
        }
        for change in &database.added_or_removed {
            step.details
                .push(format!("{} {}", change.module_name, change.version));
        }
        step
    }

    /// Upgrades the databases one at a time: each is read again right before its turn and
    /// checked against the plan, its upgrade followed to its end and the database read back.
    /// Stops at the first that does not end as planned, when a signal asks (`stop_requested`),
    /// and refuses, sending nothing, while the plan moves other modules the operator has not
    /// accepted. An answer that is lost is never sent again: the database is read back and the
    /// step says what it found.
    pub fn execute(
        &self,
        client: &Client,
        stop_requested: &(dyn Fn() -> bool + Sync),
    ) -> Result<Outcome, RolloutError> {
        if let Some(refusal) = self.unaccepted_moves() {
            return Err(RolloutError::Preflight(Box::new(refusal)));
        }
        let mut outcome = self.empty_outcome();
        let mut stopped = false;
        for database in &self.databases {
            let mut step = self.step(database);
            if !stopped && stop_requested() {
                outcome.interrupted = true;
                stopped = true;
            }
            if !stopped {
                outcome.requests.push(database.request.clone());
                let started = Instant::now();
                self.one(client, database, &mut step, stop_requested);
                step.elapsed = started.elapsed();
                if step.state != StepState::Done {
                    if let Some(error) = &step.error {
                        client
                            .listener()
                            .on_warning(&format!("database {}: {error}", database.uid));
                    }
                    stopped = true;
                }
                if stop_requested() {
                    outcome.interrupted = true;
                    stopped = true;
                }
            }
            outcome.steps.push(step);
        }
        outcome.resume_command = self.resume(&outcome);
        Ok(outcome)
    }

    /// The command that upgrades what is left: the databases not upgraded, read again first (a
    /// database whose upgrade is unknown or still running is never sent twice: the resumed plan
    /// finds it upgraded, or busy).
    fn resume(&self, outcome: &Outcome) -> Option<super::outcome::Resume> {
        let left: Vec<String> = self
            .databases
            .iter()
            .zip(&outcome.steps)
            .filter(|(_, step)| !step.state.is_settled())
            .map(|(database, _)| database.uid.clone())
            .collect();
        (!left.is_empty()).then(|| self.options.resume.with(&[("--db", left.join(","))]))
    }

    fn one(
        &self,
        client: &Client,
        database: &DatabasePlan,
        step: &mut Step,
        stop_requested: &(dyn Fn() -> bool + Sync),
    ) {
        let listener = client.listener();
        // Right before its turn: the database as the plan saw it, and nothing else changing it.
        let now = match client.bdb(&database.uid) {
            Ok(now) => now,
            Err(error) => {
                step.fail(format!(
                    "cannot read the database before upgrading it: {error}"
                ));
                return;
            }
        };
        // An action still running on it is named first (another run, or this one's interrupted
        // upgrade); a cluster that does not list actions: the status and busy checks still guard.
        if let Ok(actions) = client.actions() {
            let object = format!("bdb:{}", database.uid);
            if let Some(running) = actions.iter().find(|a| {
                a.object_name.as_deref() == Some(object.as_str()) && !a.status.is_terminal()
            }) {
                step.fail(format!(
                    "action {} ({}) is already {} on database {}: another change (another rmpack run?) is in progress; wait for it, then run this again",
                    running.action_uid.as_ref().map_or("?", |u| u.0.as_str()),
                    running.name.as_deref().unwrap_or("?"),
                    running.status,
                    database.uid
                ));
                return;
            }
        }
        if let Err(changed) = unchanged_since_plan(database, &now) {
            step.fail(changed);
            return;
        }
        listener.on_status(&format!(
            "database {}: {} {}, Redis {}",
            database.uid, database.module.module_name, database.module.version, database.redis
        ));
        let answer = while_busy(
            self.options.busy_timeout,
            listener,
            "upgrade",
            || match self.route {
                UpgradeRoute::General => client.upgrade_bdb(&database.uid, &database.body, false),
                UpgradeRoute::Modules => client.upgrade_bdb_modules(&database.uid, &database.body),
            },
        );
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) if error.is_answer_lost() => {
                // The cluster may have started it: read the database back, never send it again.
                self.after_lost_answer(client, database, step, &error.to_string());
                return;
            }
            Err(error) if super::execute::is_busy(&error) => {
                step.fail(format!(
                    "the cluster stayed busy with another change (another rmpack run, a node joining?) for {}s: {error}",
                    self.options.busy_timeout.as_secs()
                ));
                return;
            }
            Err(error) => {
                step.fail(format!("the upgrade was refused: {error}"));
                return;
            }
        };
        if let Some(action) = action_uid_of(&answer) {
            step.action = Some(action.clone());
            match client.follow_action_until(&action, &self.options.poll, stop_requested) {
                Ok(followed) => step.details.push(followed.path()),
                Err(ClusterError::ActionLeftRunning { status, .. }) => {
                    // Stopped following on a signal: the upgrade goes on on the cluster.
                    step.state = StepState::InFlight;
                    step.error = Some(format!(
                        "still {status} on the cluster when rmpack stopped; follow it with GET /v1/actions/{action}"
                    ));
                    return;
                }
                Err(error @ ClusterError::ActionTimeout { .. }) => {
                    step.state = StepState::InFlight;
                    step.error = Some(error.to_string());
                    return;
                }
                Err(error @ ClusterError::ActionFailed { .. }) => {
                    step.fail(format!("the upgrade did not complete: {error}"));
                    return;
                }
                Err(error) => {
                    // The node rmpack polls stopped answering: the upgrade may still run.
                    step.state = StepState::Unknown;
                    step.error = Some(format!(
                        "lost track of action {action} ({error}); the upgrade may still be running on the cluster: follow it with GET /v1/actions/{action}"
                    ));
                    return;
                }
            }
        }
        // "Completed" is not the end while the database is still changing: wait for it.
        let now = match self.wait_active(client, &database.uid, stop_requested) {
            Ok(now) => now,
            Err((state, error)) => {
                step.state = state;
                step.error = Some(error);
                return;
            }
        };
        match verify(database, &now) {
            Ok(()) => step.state = StepState::Done,
            Err(problem) => step.fail(problem),
        }
    }

    /// After an upgrade request whose answer was lost: what the database shows decides.
    fn after_lost_answer(
        &self,
        client: &Client,
        database: &DatabasePlan,
        step: &mut Step,
        error: &str,
    ) {
        step.details.push(format!("the answer was lost: {error}"));
        match client.bdb(&database.uid) {
            Ok(now)
                if verify(database, &now).is_ok()
                    && now.status.as_deref().is_none_or(|s| s == "active") =>
            {
                step.state = StepState::Done;
                step.details
                    .push("the database, read back, runs what was planned".to_string());
            }
            Ok(now) if now.status.as_deref().is_some_and(|s| s != "active") => {
                step.state = StepState::InFlight;
                step.error = Some(format!(
                    "the database is {}: the cluster started the upgrade; wait for it to end, then run this again (it reads the database first)",
                    now.status.unwrap_or_default()
                ));
            }
            Ok(_) => {
                step.state = StepState::Unknown;
                step.error = Some(
                    "the cluster may have started the upgrade: the database does not show it yet; rmpack does not send it again, a resumed run reads the database first".to_string(),
                );
            }
            Err(read) => {
                step.state = StepState::Unknown;
                step.error = Some(format!(
                    "the cluster may have started the upgrade, and the database cannot be read back ({read})"
                ));
            }
        }
    }

    /// Polls the database until it is `active` again, within `--wait`; on a signal or the
    /// timeout, says where it stands.
    fn wait_active(
        &self,
        client: &Client,
        uid: &str,
        stop_requested: &(dyn Fn() -> bool + Sync),
    ) -> Result<Bdb, (StepState, String)> {
        let started = Instant::now();
        loop {
            let bdb = client.bdb(uid).map_err(|error| {
                (
                    StepState::Unknown,
                    format!(
                        "cannot read the database back ({error}); the upgrade may still be running"
                    ),
                )
            })?;
            if bdb.status.as_deref().is_none_or(|s| s == "active") {
                return Ok(bdb);
            }
            if started.elapsed() >= self.options.poll.timeout || stop_requested() {
                return Err((
                    StepState::InFlight,
                    format!(
                        "the database is still {} after {}s: the upgrade goes on on the cluster",
                        bdb.status.unwrap_or_default(),
                        started.elapsed().as_secs()
                    ),
                ));
            }
            std::thread::sleep(self.options.poll.interval);
        }
    }
}

/// Whether the database still is what the plan saw: the same Redis version and module versions
/// (another run or an operator may have moved it since), and not busy with another change.
fn unchanged_since_plan(plan: &DatabasePlan, now: &Bdb) -> Result<(), String> {
    let mut changed = Vec::new();
    let runs = |name: &str| {
        find_module(now, name)
            .and_then(|m| m.semantic_version.clone())
            .unwrap_or_else(|| "-".to_string())
    };
    let module_now = runs(&plan.module.module_name);
    if module_now != plan.module.version.before {
        changed.push(format!(
            "{} {} when planned, {module_now} now",
            plan.module.module_name, plan.module.version.before
        ));
    }
    for other in &plan.other_modules {
        let other_now = runs(&other.module_name);
        if other_now != other.version.before {
            changed.push(format!(
                "{} {} when planned, {other_now} now",
                other.module_name, other.version.before
            ));
        }
    }
    let redis_now = now.redis_version.clone().unwrap_or_else(|| "?".into());
    if major_minor(&redis_now) != major_minor(&plan.redis.before) {
        changed.push(format!(
            "Redis {} when planned, {redis_now} now",
            plan.redis.before
        ));
    }
    if let Some(status) = now.status.as_deref().filter(|s| *s != "active") {
        changed.push(format!(
            "the database is {status}: another change (another rmpack run?) is in progress"
        ));
    }
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "database {} changed since the plan was read ({}); nothing was sent to it: plan again",
            plan.uid,
            changed.join("; ")
        ))
    }
}

/// Compares the database read back with the plan (the module asked for, the other modules RS
/// moves or keeps, the modules Redis 8 adds or removes, the Redis version); says what it runs
/// now where they differ.
fn verify(plan: &DatabasePlan, now: &Bdb) -> Result<(), String> {
    let mut problems = Vec::new();
    match find_module(now, &plan.module.module_name) {
        Some(module) => {
            let runs = module
                .semantic_version
                .clone()
                .unwrap_or_else(|| "?".into());
            let uid_moved = module
                .module_id
                .as_ref()
                .is_none_or(|id| id.0 == plan.new_module_uid);
            if runs != plan.module.version.after || !uid_moved {
                let still = if runs == plan.module.version.before {
                    "still "
                } else {
                    ""
                };
                problems.push(format!(
                    "the database {still}runs {} {runs}, not {}",
                    plan.module.module_name, plan.module.version.after
                ));
            }
        }
        None => problems.push(format!(
            "the database no longer lists module {}",
            plan.module.module_name
        )),
    }
    let redis_now = now.redis_version.clone().unwrap_or_else(|| "?".into());
    if major_minor(&redis_now) != major_minor(&plan.redis.after) {
        problems.push(format!("Redis moved {} → {redis_now}", plan.redis.before));
    }
    for other in &plan.other_modules {
        let runs = find_module(now, &other.module_name)
            .and_then(|m| m.semantic_version.clone())
            .unwrap_or_else(|| "-".into());
        if runs != other.version.after {
            problems.push(if other.changes() {
                format!(
                    "other module {} runs {runs}, not the {} RS was to move it to",
                    other.module_name, other.version.after
                )
            } else {
                format!(
                    "other module {} moved {} → {runs}",
                    other.module_name, other.version.before
                )
            });
        }
    }
    for change in &plan.added_or_removed {
        let present = find_module(now, &change.module_name);
        match change.reason {
            ChangeReason::RemovedByRedis8 if present.is_some() => problems.push(format!(
                "module {} is still listed; RS was to replace it with search",
                change.module_name
            )),
            ChangeReason::AddedByRedis8 if present.is_none() => problems.push(format!(
                "module {} is not listed; RS adds it to databases moving to Redis 8",
                change.module_name
            )),
            _ => {}
        }
    }
    let planned: Vec<&str> = std::iter::once(plan.module.module_name.as_str())
        .chain(plan.other_modules.iter().map(|m| m.module_name.as_str()))
        .chain(plan.added_or_removed.iter().map(|m| m.module_name.as_str()))
        .collect();
    for module in &now.module_list {
        if !planned
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&module.module_name))
        {
            problems.push(format!(
                "module {} {} appeared, which the plan did not expect",
                module.module_name,
                module.semantic_version.as_deref().unwrap_or("?")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(before: &str, after: &str) -> Change {
        Change {
            before: before.into(),
            after: after.into(),
        }
    }

    fn module(name: &str, before: &str, after: &str, reason: ChangeReason) -> ModuleChange {
        ModuleChange {
            module_name: name.into(),
            version: change(before, after),
            reason,
            module_uid: None,
        }
    }

    fn plan() -> DatabasePlan {
        DatabasePlan {
            uid: "1".into(),
            name: "db1".into(),
            redis: change("7.2", "7.2"),
            redis_reason: String::new(),
            module: module("hello", "1.2.2", "1.2.3", ChangeReason::Asked),
            new_module_uid: "new".into(),
            other_modules: vec![module("x", "1.0.0", "1.0.0", ChangeReason::Kept)],
            added_or_removed: Vec::new(),
            request: PlannedRequest {
                method: "POST",
                url: String::new(),
                bytes: 0,
            },
            body: UpgradeRequest::default(),
            cluster_preview: None,
            active_active: false,
        }
    }

    fn bdb(redis: &str, modules: &[(&str, &str, &str)]) -> Bdb {
        let list: Vec<Value> = modules
            .iter()
            .map(|(id, name, version)| {
                serde_json::json!({"module_id": id, "module_name": name, "semantic_version": version})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "uid": 1, "redis_version": redis, "module_list": list
        }))
        .unwrap()
    }

    #[test]
    fn a_database_as_planned_passes_the_read_back() {
        let now = bdb("7.2.4", &[("new", "hello", "1.2.3"), ("x1", "x", "1.0.0")]);
        assert_eq!(verify(&plan(), &now), Ok(()));
    }

    #[test]
    fn the_read_back_names_what_the_database_runs_instead() {
        let now = bdb("7.2", &[("old", "hello", "1.2.2"), ("x1", "x", "1.0.0")]);
        let error = verify(&plan(), &now).unwrap_err();
        assert!(error.contains("still runs hello 1.2.2"), "{error}");
        let now = bdb("8.2", &[("new", "hello", "1.2.3"), ("x1", "x", "1.0.0")]);
        let error = verify(&plan(), &now).unwrap_err();
        assert!(error.contains("Redis moved 7.2 → 8.2"), "{error}");
        let now = bdb("7.2", &[("new", "hello", "1.2.3"), ("x1", "x", "1.1.0")]);
        let error = verify(&plan(), &now).unwrap_err();
        assert!(
            error.contains("other module x moved 1.0.0 → 1.1.0"),
            "{error}"
        );
        let now = bdb(
            "7.2",
            &[
                ("new", "hello", "1.2.3"),
                ("x1", "x", "1.0.0"),
                ("s", "search", "8.0.0"),
            ],
        );
        let error = verify(&plan(), &now).unwrap_err();
        assert!(error.contains("search 8.0.0 appeared"), "{error}");
    }

    #[test]
    fn the_read_back_expects_the_moves_and_additions_rs_makes() {
        let mut planned = plan();
        planned.redis = change("7.4", "8.2");
        planned.other_modules = vec![module("x", "1.0.0", "1.1.0", ChangeReason::MovedByRs)];
        planned.added_or_removed = vec![
            module("search", "-", "8.2.0", ChangeReason::AddedByRedis8),
            module("searchlight", "2.6.0", "-", ChangeReason::RemovedByRedis8),
        ];
        let landed = bdb(
            "8.2",
            &[
                ("new", "hello", "1.2.3"),
                ("x2", "x", "1.1.0"),
                ("s", "search", "8.2.0"),
            ],
        );
        assert_eq!(verify(&planned, &landed), Ok(()));
        let kept = bdb(
            "8.2",
            &[
                ("new", "hello", "1.2.3"),
                ("x1", "x", "1.0.0"),
                ("l", "searchlight", "2.6.0"),
            ],
        );
        let error = verify(&planned, &kept).unwrap_err();
        assert!(
            error.contains("other module x runs 1.0.0, not the 1.1.0"),
            "{error}"
        );
        assert!(error.contains("module search is not listed"), "{error}");
        assert!(error.contains("searchlight is still listed"), "{error}");
    }
}
