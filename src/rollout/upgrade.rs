//! Moving databases to another version of a module ("Upgrade a database", bdbs/upgrade
//! reference): [`plan_upgrade`] reads the cluster and the databases (GET only), picks the module
//! object, keeps the database's Redis version unless asked to move it, and runs the validator's
//! upgrade pre-flight per database; [`UpgradePlan::execute`] sends one request per database, in
//! turn, follows it, reads the database back and stops at the first one that did not land where
//! planned.
//!
//! Without `redis_version`, RS moves a database to the latest Redis version it bundles, so the
//! request always carries one: the database's own, or `--redis-version`. As of RS 7.8.2 the
//! cluster picks module versions itself (`new_module` is deprecated), so the result is read back
//! rather than assumed.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::cluster::{
    action_uid_of, Bdb, Client, ClusterError, Endpoint, Module, ModuleUpgrade, PollOptions,
    UpgradeRequest,
};
use crate::manifest::{DottedVersion, ModuleVersion, SemanticVersion};
use crate::validate::{self, Report};

use super::execute::while_busy;
use super::plan::{at_least, live_target, planned, rs_version, Change, LiveTarget};
use super::{PlannedRequest, RolloutError};

/// The first RS release whose docs list the general `POST /v1/bdbs/{uid}/upgrade`.
pub const GENERAL_UPGRADE_SINCE: &str = "7.4";

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
    /// The version to move to; the highest on the cluster when `None`.
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
    /// How to follow each upgrade.
    pub poll: PollOptions,
    /// How long to keep trying while the cluster is busy with another change.
    pub busy_timeout: Duration,
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

/// One module of a database, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleChange {
    /// The module's name.
    pub module_name: String,
    /// Its version now → planned.
    pub version: Change,
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
    /// Every other module of the database (kept).
    pub other_modules: Vec<ModuleChange>,
    /// The request to send.
    pub request: PlannedRequest,
    /// The body to send.
    #[serde(skip)]
    pub body: UpgradeRequest,
    /// The module list the cluster's own dry run answered, when asked and supported.
    pub cluster_preview: Option<Vec<ModuleChange>>,
}

/// Everything an upgrade will do, read with GET requests only.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradePlan {
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
    /// Notes from the pre-flight (warnings, facts rmpack could not map).
    pub notes: Vec<String>,
    /// Databases whose upgrade the cluster started although asked for a dry run.
    pub started_despite_dry_run: Vec<String>,
    #[serde(skip)]
    options: UpgradeOptions,
}

/// Why an upgrade pre-flight refused a database; nothing was sent.
#[derive(Debug)]
pub struct UpgradeRefusal {
    /// The database.
    pub uid: String,
    /// The validator's findings.
    pub report: Report,
}

fn semantic_of(text: Option<&str>) -> Option<ModuleVersion> {
    let semantic: SemanticVersion = text?.parse().ok()?;
    ModuleVersion::from_semantic(semantic).ok()
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

/// Reads the cluster and plans the upgrade. Refuses (with the findings) when the pre-flight of
/// any database fails: nothing is sent then.
pub fn plan_upgrade(
    client: &Client,
    databases: &Databases,
    options: &UpgradeOptions,
) -> Result<UpgradePlan, PlanFailure> {
    let live = live_target(client, None, Some(&options.module)).map_err(RolloutError::from)?;
    let rs = rs_version(&live).map_err(|reported| RolloutError::UnknownRsVersion {
        reported,
        what: "the upgrade route depends on it (POST /v1/bdbs/{uid}/upgrade from RS 7.4 on); check the nodes' software_version in GET /v1/nodes".to_string(),
    })?;
    let route = if at_least(&rs, GENERAL_UPGRADE_SINCE) {
        UpgradeRoute::General
    } else {
        UpgradeRoute::Modules
    };
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
        ))
        .into());
    }
    let offered = offered_redis_versions(&live);
    if let Some(asked) = &options.redis_version {
        if !offered.iter().any(|v| v == asked) {
            return Err(RolloutError::Refused(format!(
                "--redis-version {asked} is not offered by every node (supported_database_versions: {})",
                if offered.is_empty() { "none reported".to_string() } else { offered.join(", ") }
            ))
            .into());
        }
    }
    let mut plan = UpgradePlan {
        module: options.module.clone(),
        rs_version: rs.to_string(),
        route,
        databases: Vec::new(),
        already_current: Vec::new(),
        notes: live.notes.clone(),
        started_despite_dry_run: Vec::new(),
        options: options.clone(),
    };
    let mut refusals = Vec::new();
    for bdb in &bdbs {
        let uid = bdb.uid.0.clone();
        let Some(in_use) = find_module(bdb, &options.module) else {
            return Err(RolloutError::Refused(format!(
                "database {uid} does not run module {} (it runs: {})",
                options.module,
                list_or_none(bdb.module_list.iter().map(|m| m.module_name.clone()))
            ))
            .into());
        };
        let current = semantic_of(in_use.semantic_version.as_deref());
        if options.to.is_none()
            && current.is_some()
            && pick_target(&live.modules, &options.module, None, current).is_none()
        {
            // Already on the newest version the cluster holds: nothing to do for it.
            plan.already_current.push(uid);
            continue;
        }
        let target = pick_target(&live.modules, &options.module, options.to, current)
            .ok_or_else(|| {
                RolloutError::Refused(match options.to {
                    Some(to) => format!(
                        "the cluster has no {} {} (missing_module); upload it first with `rmpack upload`",
                        options.module,
                        to.semantic()
                    ),
                    None => format!(
                        "the cluster holds no {} above {}",
                        options.module,
                        in_use.semantic_version.as_deref().unwrap_or("?")
                    ),
                })
            })?;
        let target_version = target.module_version();
        if databases == &Databases::All && target_version.is_some() && target_version == current {
            plan.already_current.push(uid);
            continue;
        }
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
        // The pre-flight: the stored module object against this database and the cluster.
        let object = client
            .module_raw(&target.uid.0)
            .map_err(RolloutError::from)?;
        let mut facts = live.target.clone();
        facts.redis_version = redis_after.parse().ok();
        facts.database = Some(bdb.raw.clone());
        facts.current_version = current;
        facts.cluster = None;
        let report = validate::check_module_object(&object, &facts, &format!("database {uid}"));
        plan.notes.extend(
            report
                .diagnostics
                .iter()
                .filter(|d| d.severity != validate::Severity::Error)
                .map(|d| format!("database {uid}: {}", d.message)),
        );
        if report.failed(false) {
            refusals.push(UpgradeRefusal { uid, report });
            continue;
        }
        let body = UpgradeRequest {
            redis_version: Some(redis_after.clone()),
            modules: vec![ModuleUpgrade {
                module_name: in_use.module_name.clone(),
                current_module: in_use.module_id.clone(),
                new_module: target.uid.clone(),
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
                    after: target
                        .semantic_version
                        .clone()
                        .unwrap_or_else(|| "?".into()),
                },
            },
            new_module_uid: target.uid.0.clone(),
            other_modules: bdb
                .module_list
                .iter()
                .filter(|m| !m.module_name.eq_ignore_ascii_case(&options.module))
                .map(|m| {
                    let v = m.semantic_version.clone().unwrap_or_else(|| "?".into());
                    ModuleChange {
                        module_name: m.module_name.clone(),
                        version: Change {
                            before: v.clone(),
                            after: v,
                        },
                    }
                })
                .collect(),
            request: planned(client, &endpoint, bytes),
            body,
            cluster_preview: None,
        });
    }
    if !refusals.is_empty() {
        return Err(PlanFailure::Preflight(refusals));
    }
    Ok(plan)
}

/// Why planning stopped.
#[derive(Debug)]
pub enum PlanFailure {
    /// The pre-flight refused these databases; nothing was sent.
    Preflight(Vec<UpgradeRefusal>),
    /// Anything else.
    Other(RolloutError),
}

impl From<RolloutError> for PlanFailure {
    fn from(error: RolloutError) -> Self {
        PlanFailure::Other(error)
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

/// The module object to move to: the asked version, or the highest above `current`.
pub fn pick_target<'a>(
    modules: &'a [Module],
    name: &str,
    to: Option<ModuleVersion>,
    current: Option<ModuleVersion>,
) -> Option<&'a Module> {
    let same_name = modules
        .iter()
        .filter(|m| m.module_name.eq_ignore_ascii_case(name) && !m.uid.0.is_empty());
    match to {
        Some(version) => same_name
            .into_iter()
            .find(|m| m.module_version() == Some(version)),
        None => same_name
            .filter(|m| m.module_version().is_some())
            .filter(|m| current.is_none_or(|c| m.module_version() > Some(c)))
            .max_by_key(|m| m.module_version()),
    }
}

/// How one database's upgrade ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DatabaseOutcome {
    /// The database runs the planned module version on the planned Redis version.
    Upgraded,
    /// The request failed, or the database does not run what was planned.
    Failed {
        /// What went wrong, and what the database runs now.
        reason: String,
    },
    /// Not attempted: an earlier database failed.
    NotAttempted,
}

/// One database's row of the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseRow {
    /// The database's uid.
    pub uid: String,
    /// Its name.
    pub name: String,
    /// The module, before → planned.
    pub module: ModuleChange,
    /// Redis, before → planned.
    pub redis: Change,
    /// What happened.
    pub outcome: DatabaseOutcome,
    /// The action's statuses, in order.
    pub statuses: Vec<String>,
}

/// The result of an executed upgrade plan.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeOutcome {
    /// The module.
    pub module: String,
    /// One row per database of the plan.
    pub databases: Vec<DatabaseRow>,
    /// Databases that already ran the asked version.
    pub already_current: Vec<String>,
}

impl UpgradeOutcome {
    /// Whether every database landed where planned.
    pub fn is_complete(&self) -> bool {
        self.databases
            .iter()
            .all(|d| d.outcome == DatabaseOutcome::Upgraded)
    }

    /// The databases still to do: the failed one and those after it.
    pub fn remaining(&self) -> Vec<String> {
        self.databases
            .iter()
            .filter(|d| d.outcome != DatabaseOutcome::Upgraded)
            .map(|d| d.uid.clone())
            .collect()
    }
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
                                ModuleChange {
                                    module_name: name,
                                    version: Change { before: was, after },
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

    /// Upgrades the databases one at a time, following each and reading it back; stops at the
    /// first that does not end as planned.
    pub fn execute(&self, client: &Client) -> UpgradeOutcome {
        let mut rows = Vec::new();
        let mut stopped = false;
        for database in &self.databases {
            let mut row = DatabaseRow {
                uid: database.uid.clone(),
                name: database.name.clone(),
                module: database.module.clone(),
                redis: database.redis.clone(),
                outcome: DatabaseOutcome::NotAttempted,
                statuses: Vec::new(),
            };
            if !stopped {
                match self.one(client, database, &mut row.statuses) {
                    Ok(()) => row.outcome = DatabaseOutcome::Upgraded,
                    Err(reason) => {
                        client
                            .listener()
                            .on_warning(&format!("database {}: {reason}", database.uid));
                        row.outcome = DatabaseOutcome::Failed { reason };
                        stopped = true;
                    }
                }
            }
            rows.push(row);
        }
        UpgradeOutcome {
            module: self.module.clone(),
            databases: rows,
            already_current: self.already_current.clone(),
        }
    }

    fn one(
        &self,
        client: &Client,
        database: &DatabasePlan,
        statuses: &mut Vec<String>,
    ) -> Result<(), String> {
        let listener = client.listener();
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
        )
        .map_err(|error| format!("the upgrade was refused: {error}"))?;
        match action_uid_of(&answer) {
            Some(action) => {
                let outcome = client.follow_action(&action, &self.options.poll);
                match outcome {
                    Ok(outcome) => {
                        statuses.extend(outcome.statuses.iter().map(|s| s.to_string()));
                    }
                    Err(error) => {
                        return Err(format!("the upgrade did not complete: {error}"));
                    }
                }
            }
            None => self.wait_active(client, &database.uid)?,
        }
        let now = client
            .bdb(&database.uid)
            .map_err(|error| format!("cannot read the database back: {error}"))?;
        verify(database, &now)
    }

    /// No action to follow: poll the database until it is active again.
    fn wait_active(&self, client: &Client, uid: &str) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let bdb = client
                .bdb(uid)
                .map_err(|error| format!("cannot read the database back: {error}"))?;
            if bdb.status.as_deref().is_none_or(|s| s == "active") {
                return Ok(());
            }
            if started.elapsed() >= self.options.poll.timeout {
                return Err(format!(
                    "the database is still {} after {}s",
                    bdb.status.unwrap_or_default(),
                    started.elapsed().as_secs()
                ));
            }
            std::thread::sleep(self.options.poll.interval);
        }
    }
}

/// Compares the database read back with the plan; says what it runs now when they differ.
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
                problems.push(format!(
                    "the database still runs {} {runs}, not {}",
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
        if runs != other.version.before {
            problems.push(format!(
                "other module {} moved {} → {runs}",
                other.module_name, other.version.before
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

    fn plan() -> DatabasePlan {
        let change = |before: &str, after: &str| Change {
            before: before.into(),
            after: after.into(),
        };
        DatabasePlan {
            uid: "1".into(),
            name: "db1".into(),
            redis: change("7.2", "7.2"),
            redis_reason: String::new(),
            module: ModuleChange {
                module_name: "hello".into(),
                version: change("1.2.2", "1.2.3"),
            },
            new_module_uid: "new".into(),
            other_modules: vec![ModuleChange {
                module_name: "x".into(),
                version: change("1.0.0", "1.0.0"),
            }],
            request: PlannedRequest {
                method: "POST",
                url: String::new(),
                bytes: 0,
            },
            body: UpgradeRequest::default(),
            cluster_preview: None,
        }
    }

    fn bdb(redis: &str, hello: (&str, &str), x: &str) -> Bdb {
        serde_json::from_value(serde_json::json!({
            "uid": 1, "redis_version": redis, "module_list": [
                {"module_id": hello.0, "module_name": "hello", "semantic_version": hello.1},
                {"module_id": "x1", "module_name": "x", "semantic_version": x},
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_database_as_planned_passes_the_read_back() {
        assert_eq!(
            verify(&plan(), &bdb("7.2.4", ("new", "1.2.3"), "1.0.0")),
            Ok(())
        );
    }

    #[test]
    fn the_read_back_names_what_the_database_runs_instead() {
        let error = verify(&plan(), &bdb("7.2", ("old", "1.2.2"), "1.0.0")).unwrap_err();
        assert!(error.contains("still runs hello 1.2.2"), "{error}");
        let error = verify(&plan(), &bdb("8.2", ("new", "1.2.3"), "1.0.0")).unwrap_err();
        assert!(error.contains("Redis moved 7.2 → 8.2"), "{error}");
        let error = verify(&plan(), &bdb("7.2", ("new", "1.2.3"), "1.1.0")).unwrap_err();
        assert!(
            error.contains("other module x moved 1.0.0 → 1.1.0"),
            "{error}"
        );
    }
}
