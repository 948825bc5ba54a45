//! Deleting a module version from a cluster: its configuration (`rmpack modules delete`), its
//! artifact on every node (`rmpack artifacts delete`), or both (`--with-artifacts`), as a rollout.
//!
//! [`plan_delete`] reads, with GET requests only, the module, the databases that run it (a
//! version in use is refused unless forced: RS answers `406 module_in_use`), and each node's own
//! artifact list: a node that does not hold the artifact has nothing to do, and a node whose list
//! cannot be read is named. [`DeletePlan::execute`] deletes the configuration first, then the
//! artifact on every node that holds it (all at once), and reads each delete back — the module
//! list no longer lists the module, the node's own list no longer holds the artifact — before
//! calling it done: an answer is never taken for the deed (a node or a proxy may answer `200`
//! with an error in its body), and a lost answer is read back, not called refused.
//!
//! A signal stops it before the next step; the outcome says what is deleted, what is not, and
//! the command that deletes what is left (an `rmpack artifacts delete … --nodes …` once the
//! configuration is gone).

use std::time::{Duration, Instant};

use crate::cluster::{action_uid_of, Client, ClusterError, Endpoint, Module, PollOptions};
use crate::manifest::ModuleVersion;
use crate::validate::rules::CLUSTER_MODULE_IN_USE;
use crate::validate::Report;

use super::artifacts::NODE_CONCURRENCY;
use super::execute::{pool, while_busy};
use super::outcome::{Operation, Outcome, Refusal, Resume, ResumeBase, Step, StepKind, StepState};
use super::plan::{node_clients, planned, NodeClient};
use super::status::databases_running;
use super::{select_nodes, PlannedRequest, RolloutError};

/// What to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteTarget {
    /// A module the cluster stores, by uid (`rmpack modules delete UID`).
    Module {
        /// The module's uid.
        uid: String,
        /// A custom module: `DELETE /v2/modules/user-defined/{uid}`; otherwise
        /// `DELETE /v2/modules/{uid}`, followed as an action.
        user_defined: bool,
        /// Also delete its artifact from every node (custom modules only).
        with_artifacts: bool,
    },
    /// An artifact on every (selected) node (`rmpack artifacts delete NAME VERSION`).
    Artifact {
        /// The module's name.
        name: String,
        /// Its version.
        version: ModuleVersion,
    },
}

/// How to delete.
#[derive(Debug, Clone)]
pub struct DeleteOptions {
    /// Delete a module version even while databases run it (RS refuses it itself).
    pub force: bool,
    /// Only these node uids for the artifact (`rmpack artifacts delete --nodes 1,3`); all nodes
    /// when `None` (a module's artifacts go from every node).
    pub nodes: Option<Vec<String>>,
    /// Reach nodes by their `external_addr`.
    pub external: bool,
    /// How to follow a deletion's action.
    pub poll: PollOptions,
    /// How long to keep trying while the cluster is busy with another change.
    pub busy_timeout: Duration,
    /// This command line without its selection: what a resume repeats when the configuration
    /// is not deleted yet.
    pub resume: ResumeBase,
    /// The words that reach the same cluster again (`--cluster URL --ca-cert PEM` …, never a
    /// password), for the `rmpack artifacts delete` that deletes what is left on the nodes.
    pub connection: Vec<String>,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        DeleteOptions {
            force: false,
            nodes: None,
            external: false,
            poll: PollOptions::default(),
            busy_timeout: Duration::from_secs(60),
            resume: ResumeBase::default(),
            connection: Vec::new(),
        }
    }
}

/// The module's configuration, to delete.
#[derive(Debug, Clone)]
pub struct ModuleDelete {
    /// Its uid.
    pub uid: String,
    /// Through the custom-module route.
    pub user_defined: bool,
    /// `name version (module UID)`, for the step.
    pub subject: String,
}

/// One node's part of an artifact delete.
#[derive(Debug, Clone)]
pub struct NodeDelete {
    /// The node and its client.
    pub node: NodeClient,
    /// Whether its list holds the artifact (nothing is sent to a node that does not).
    pub holds: bool,
    /// Why its list could not be read: nothing is sent to it, and it ends failed.
    pub unreachable: Option<String>,
}

/// The artifact, to delete from the nodes.
#[derive(Debug, Clone)]
pub struct ArtifactDelete {
    /// The module's name.
    pub name: String,
    /// Its version.
    pub version: ModuleVersion,
    /// The nodes, in the cluster's order.
    pub nodes: Vec<NodeDelete>,
}

impl ArtifactDelete {
    fn label(&self) -> String {
        format!("{} {}", self.name, self.version.semantic())
    }
}

/// Everything a delete will do, read from the cluster with GET requests only.
#[derive(Debug, Clone)]
pub struct DeletePlan {
    /// The cluster URL.
    pub cluster: String,
    /// The configuration to delete, first.
    pub module: Option<ModuleDelete>,
    /// The artifact to delete from the nodes, after the configuration.
    pub artifact: Option<ArtifactDelete>,
    /// The changing requests the delete sends, in order.
    pub requests: Vec<PlannedRequest>,
    /// Facts worth knowing (databases a forced delete leaves without their module).
    pub notes: Vec<String>,
    options: DeleteOptions,
}

/// Reads the cluster and plans the delete of `target`; nothing but GET requests is sent. A
/// module version that databases run is refused (unless `options.force`), naming them.
pub fn plan_delete(
    client: &Client,
    target: &DeleteTarget,
    options: &DeleteOptions,
) -> Result<DeletePlan, RolloutError> {
    let origin = client.base().origin();
    let mut plan = DeletePlan {
        cluster: origin.clone(),
        module: None,
        artifact: None,
        requests: Vec::new(),
        notes: Vec::new(),
        options: options.clone(),
    };
    let artifact = match target {
        DeleteTarget::Artifact { name, version } => {
            // The path is built, and a hostile name refused, before anything is sent.
            Endpoint::delete_artifact(name, *version)?;
            Some((name.clone(), *version))
        }
        DeleteTarget::Module {
            uid,
            user_defined,
            with_artifacts,
        } => {
            let module = client.module(uid)?;
            if module.uid.0.is_empty() && module.module_name.is_empty() {
                return Err(RolloutError::Refused(format!(
                    "the cluster answered GET /v1/modules/{uid} without a module; nothing was deleted"
                )));
            }
            let version = module.module_version();
            let label = match version {
                Some(version) => format!("{} {}", module.module_name, version.semantic()),
                None => module.module_name.clone(),
            };
            if let Some(version) = version {
                refuse_if_in_use(client, &module, version, options, &mut plan.notes)?;
            }
            let endpoint = if *user_defined {
                Endpoint::delete_user_defined(uid)?
            } else {
                Endpoint::delete_module(uid)?
            };
            plan.requests.push(planned(client, &endpoint, 0));
            let kind = if *user_defined {
                "user-defined module"
            } else {
                "module"
            };
            plan.module = Some(ModuleDelete {
                uid: uid.clone(),
                user_defined: *user_defined,
                subject: format!("{label} ({kind} {uid})").trim_start().to_string(),
            });
            if *with_artifacts {
                let version = version.ok_or_else(|| {
                    RolloutError::Refused(format!(
                        "module {uid} states no version, so its artifacts cannot be named; nothing was deleted: delete them with `rmpack artifacts delete NAME VERSION`"
                    ))
                })?;
                Endpoint::delete_artifact(&module.module_name, version)?;
                Some((module.module_name.clone(), version))
            } else {
                None
            }
        }
    };
    if let Some((name, version)) = artifact {
        let nodes = select_nodes(&client.nodes()?, options.nodes.as_deref())?;
        let clients = node_clients(client, &nodes, options.external)?;
        let nodes = read_nodes(client, clients, &name, version)?;
        let endpoint = Endpoint::delete_artifact(&name, version)?;
        for node in nodes.iter().filter(|n| n.holds && n.unreachable.is_none()) {
            plan.requests.push(planned(&node.node.client, &endpoint, 0));
        }
        plan.artifact = Some(ArtifactDelete {
            name,
            version,
            nodes,
        });
    }
    Ok(plan)
}

/// Refuses the delete of a version databases run, naming them; with `force`, notes them.
fn refuse_if_in_use(
    client: &Client,
    module: &Module,
    version: ModuleVersion,
    options: &DeleteOptions,
    notes: &mut Vec<String>,
) -> Result<(), RolloutError> {
    let users = databases_running(client, &module.module_name, version)?;
    if users.is_empty() {
        return Ok(());
    }
    let running = format!(
        "database(s) {} run {} {}",
        users.join(", "),
        module.module_name,
        version.semantic()
    );
    if options.force {
        notes.push(format!(
            "{running}; deleting anyway (--force): RS refuses to delete a module in use (406 module_in_use)"
        ));
        return Ok(());
    }
    let finding = CLUSTER_MODULE_IN_USE.finding(format!(
        "{running}; RS refuses to delete a module in use (406 module_in_use)"
    ));
    Err(RolloutError::Preflight(Box::new(Refusal::new(
        client.base().origin(),
        vec![Report {
            subject: format!("module {}", module.uid),
            diagnostics: vec![finding],
        }],
    ))))
}

/// Each node's own artifact list, all nodes at once: whether it holds `name` `version`, or why
/// the list cannot be read. Wrong credentials or no permission hold for every node: an error.
fn read_nodes(
    client: &Client,
    clients: Vec<NodeClient>,
    name: &str,
    version: ModuleVersion,
) -> Result<Vec<NodeDelete>, RolloutError> {
    let lists = pool(
        &clients,
        NODE_CONCURRENCY,
        |node| {
            let list = node.client.artifacts();
            let fatal = list.as_ref().is_err_and(ClusterError::is_fatal_for_rollout);
            (list, fatal)
        },
        |_| Ok(Vec::new()),
    );
    let mut nodes = Vec::new();
    for (node, list) in clients.into_iter().zip(lists) {
        let (holds, unreachable) = match list {
            Ok(list) => (holds(&list, name, version), None),
            Err(error) if error.is_fatal_for_rollout() => return Err(error.into()),
            Err(error) => {
                client
                    .listener()
                    .on_warning(&format!("node {} {}: {error}", node.uid, node.address));
                (
                    false,
                    Some(format!(
                        "its artifact list cannot be read ({error}); nothing was sent to it"
                    )),
                )
            }
        };
        nodes.push(NodeDelete {
            node,
            holds,
            unreachable,
        });
    }
    Ok(nodes)
}

fn holds(list: &[crate::cluster::Artifact], name: &str, version: ModuleVersion) -> bool {
    list.iter()
        .any(|a| a.module_name == name && a.version == Some(version))
}

impl DeletePlan {
    /// The plan as an outcome that nothing executed (what `--dry-run` prints).
    pub fn as_outcome(&self) -> Outcome {
        let mut outcome = self.empty_outcome();
        outcome.dry_run = true;
        outcome.steps = self.planned_steps();
        outcome
    }

    fn empty_outcome(&self) -> Outcome {
        let mut outcome = Outcome::new(Operation::Delete, self.cluster.clone());
        outcome.notes = self.notes.clone();
        outcome.requests = self.requests.clone();
        outcome
    }

    /// The configuration's step (first, when there is one), then one step per node.
    fn planned_steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(module) = &self.module {
            steps.push(
                Step::new(StepKind::DeleteModule, "cluster", module.subject.clone())
                    .with_state(StepState::Planned),
            );
        }
        if let Some(artifact) = &self.artifact {
            for node in &artifact.nodes {
                let mut step = Step::new(
                    StepKind::DeleteArtifact,
                    format!("node {}", node.node.uid),
                    artifact.label(),
                )
                .at(node.node.address.clone());
                match &node.unreachable {
                    Some(error) => step.fail(error.clone()),
                    None if node.holds => step.state = StepState::Planned,
                    None => step.state = StepState::AlreadyDone,
                }
                steps.push(step);
            }
        }
        steps
    }

    /// Carries the plan out: the configuration (followed to its end, read back), then the
    /// artifact on every node that holds it, all at once, each read back on the node. Stops
    /// when the configuration is not deleted (its artifacts are then still needed), and before
    /// any step not yet started when `stop_requested` says so.
    pub fn execute(&self, client: &Client, stop_requested: &(dyn Fn() -> bool + Sync)) -> Outcome {
        let mut outcome = self.empty_outcome();
        let mut steps = self.planned_steps();
        for step in &mut steps {
            if step.state == StepState::Planned {
                step.state = StepState::NotStarted;
            }
        }
        let (module_step, node_steps) = match self.module {
            Some(_) => {
                let (first, rest) = steps.split_first_mut().expect("the configuration's step");
                (Some(first), rest)
            }
            None => (None, steps.as_mut_slice()),
        };
        // Why the steps left not started were not started, when a phase is skipped.
        let mut skipped: Option<&str> = None;
        let mut refused = false;
        if let (Some(module), Some(step)) = (&self.module, module_step) {
            if stop_requested() {
                skipped = Some(STOPPED);
            } else {
                match self.delete_module(client, module, step, stop_requested) {
                    ModuleResult::Deleted => {}
                    ModuleResult::NotDeleted { refused: no } => {
                        refused = no;
                        skipped = Some(KEPT);
                    }
                }
            }
        }
        if let Some(artifact) = &self.artifact {
            if skipped.is_none() && stop_requested() {
                skipped = Some(STOPPED);
            }
            if skipped.is_none() {
                self.delete_artifacts(artifact, node_steps, stop_requested);
            }
        }
        if let Some(reason) = skipped {
            for step in steps
                .iter_mut()
                .filter(|s| s.state == StepState::NotStarted && s.error.is_none())
            {
                step.error = Some(reason.to_string());
            }
        }
        outcome.interrupted = stop_requested();
        outcome.steps = steps;
        outcome.resume_command = self.resume(&outcome, refused);
        outcome
    }

    /// The configuration: the delete (while the cluster is busy, again), its action followed,
    /// then the module list as the proof.
    fn delete_module(
        &self,
        client: &Client,
        module: &ModuleDelete,
        step: &mut Step,
        stop_requested: &(dyn Fn() -> bool + Sync),
    ) -> ModuleResult {
        let not_deleted = ModuleResult::NotDeleted { refused: false };
        let listener = client.listener();
        listener.on_status(&format!("deleting {}", module.subject));
        let started = Instant::now();
        let answer = while_busy(self.options.busy_timeout, listener, "module delete", || {
            if module.user_defined {
                client.delete_user_defined_answer(&module.uid)
            } else {
                client.delete_module_answer(&module.uid)
            }
        });
        let mut said = Said::Deleted;
        match answer {
            Ok(answer) => {
                if let Some(error) = answer_error_of(&answer) {
                    said = Said::ErrorBody(error);
                }
                if let Some(action) = action_uid_of(&answer) {
                    step.action = Some(action.clone());
                    match client.follow_action_until(&action, &self.options.poll, stop_requested) {
                        Ok(followed) => step.details.push(followed.path()),
                        Err(ClusterError::ActionLeftRunning { status, .. }) => {
                            // Stopped following on a signal: the deletion goes on on the cluster.
                            step.state = StepState::InFlight;
                            step.error = Some(format!(
                                "still {status} on the cluster when rmpack stopped; follow it with GET /v1/actions/{action}, and `rmpack modules list` tells when the module is gone"
                            ));
                            step.elapsed = started.elapsed();
                            return not_deleted;
                        }
                        Err(error @ ClusterError::ActionTimeout { .. }) => {
                            step.state = StepState::InFlight;
                            step.error = Some(error.to_string());
                            step.elapsed = started.elapsed();
                            return not_deleted;
                        }
                        // The list below says whether the module went anyway.
                        Err(error) => said = Said::Refused(error),
                    }
                }
            }
            Err(error @ ClusterError::NotFound { .. }) => said = Said::Gone(error),
            Err(error) if error.is_answer_lost() => said = Said::Lost(error),
            Err(error) if error.is_fatal_for_rollout() => {
                step.fail(error.to_string());
                step.elapsed = started.elapsed();
                return not_deleted;
            }
            Err(error) => said = Said::Refused(error),
        }
        let listed = client
            .modules()
            .map(|modules| modules.iter().any(|m| m.uid.0 == module.uid));
        step.elapsed = started.elapsed();
        let refused = settle(
            step,
            listed,
            said,
            "the cluster",
            "GET /v1/modules still lists it",
            "the module list (GET /v1/modules)",
        );
        if step.state == StepState::Unknown {
            if let Some(error) = step.error.as_mut() {
                error.push_str("; `rmpack modules list` tells whether it is gone");
                if let Some(artifact) = &self.artifact {
                    error.push_str(&format!(
                        ", and if it is, `rmpack artifacts delete {}` deletes the artifacts",
                        artifact.label()
                    ));
                }
            }
        }
        if step.state == StepState::Done {
            ModuleResult::Deleted
        } else {
            ModuleResult::NotDeleted { refused }
        }
    }

    /// The artifact on every node that holds it, all at once; a signal stops the nodes not yet
    /// started, and an answer for the whole cluster (credentials, permission) stops the rest.
    fn delete_artifacts(
        &self,
        artifact: &ArtifactDelete,
        steps: &mut [Step],
        stop_requested: &(dyn Fn() -> bool + Sync),
    ) {
        let todo: Vec<usize> = artifact
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.holds && n.unreachable.is_none())
            .map(|(i, _)| i)
            .collect();
        let results = pool(
            &todo,
            NODE_CONCURRENCY,
            |&index| {
                let mut step = steps[index].clone();
                if stop_requested() {
                    step.error = Some(STOPPED.to_string());
                    return (step, false);
                }
                let stops_all = delete_on(artifact, &artifact.nodes[index], &mut step);
                (step, stops_all)
            },
            |&index| {
                let mut step = steps[index].clone();
                step.error = Some(
                    "not started: another node refused the credentials or the permission, which hold for every node"
                        .to_string(),
                );
                step
            },
        );
        for (index, step) in todo.into_iter().zip(results) {
            steps[index] = step;
        }
    }

    /// The command that deletes what is left: the same command while the configuration is not
    /// deleted; once it is, `rmpack artifacts delete` for the nodes that still hold (or may hold)
    /// the artifact. None when everything is in place, when the deletion still runs on the
    /// cluster, or when the cluster refused the configuration's delete (the same again cannot
    /// help).
    fn resume(&self, outcome: &Outcome, refused: bool) -> Option<Resume> {
        if outcome.is_complete() {
            return None;
        }
        if let Some(step) = outcome
            .steps
            .iter()
            .find(|s| s.kind == StepKind::DeleteModule && !s.state.is_settled())
        {
            return (step.state != StepState::InFlight && !refused)
                .then(|| self.options.resume.with(&[]));
        }
        let artifact = self.artifact.as_ref()?;
        let nodes: Vec<&str> = outcome
            .unfinished()
            .filter(|s| s.kind == StepKind::DeleteArtifact)
            .map(|s| s.target.trim_start_matches("node "))
            .collect();
        let mut words = vec![
            "rmpack".to_string(),
            "artifacts".to_string(),
            "delete".to_string(),
            artifact.name.clone(),
            artifact.version.semantic().to_string(),
        ];
        let command_words = words.len();
        if self.options.external {
            words.push("--external".to_string());
        }
        words.extend(self.options.connection.iter().cloned());
        let base = ResumeBase {
            words,
            command_words,
        };
        Some(base.with(&[("--nodes", nodes.join(","))]))
    }
}

/// How the configuration's delete ended.
enum ModuleResult {
    /// Deleted, and read back.
    Deleted,
    /// Not deleted (or not known to be); `refused` when the cluster answered no for a reason
    /// that sending it again does not change (a database runs it).
    NotDeleted { refused: bool },
}

/// Why a step was not started: a signal.
const STOPPED: &str = "not started: rmpack stopped on a signal before it";
/// Why a node's step was not started: the configuration is still there.
const KEPT: &str = "not started: the configuration was not deleted, so its artifacts are kept";

/// What the cluster or the node answered to a delete.
#[derive(Debug)]
enum Said {
    /// A plain success.
    Deleted,
    /// A success status with an error in its body.
    ErrorBody(String),
    /// `404`: gone already (an attempt whose answer was lost, or another client).
    Gone(ClusterError),
    /// No answer came: the delete may have been carried out.
    Lost(ClusterError),
    /// An error answer (or a transport failure before the request got through).
    Refused(ClusterError),
}

impl Said {
    /// The answer in words, for a step that is not what it says.
    fn words(&self, who: &str) -> String {
        match self {
            Said::Deleted => format!("{who} answered that it deleted it"),
            Said::ErrorBody(error) => format!("{who} answered {error}"),
            Said::Gone(error) | Said::Lost(error) | Said::Refused(error) => error.to_string(),
        }
    }
}

/// Settles `step` from the read-back `listed` (whether the list still holds it): not listed is
/// done, whatever was answered; listed is failed, with what was answered; an unreadable list
/// leaves a delete that may have been carried out unknown.
fn settle(
    step: &mut Step,
    listed: Result<bool, ClusterError>,
    said: Said,
    who: &str,
    still: &str,
    list: &str,
) -> bool {
    let mut refused = false;
    match listed {
        Ok(false) => {
            step.state = StepState::Done;
            step.error = None;
            match &said {
                Said::Deleted => {}
                Said::ErrorBody(error) => step
                    .details
                    .push(format!("{who} answered {error}, yet {list} no longer holds it")),
                Said::Gone(_) => step.details.push(format!(
                    "{who} answered 404 (not found) although the plan found it: an attempt whose answer was lost, or another client, deleted it; {list} no longer holds it"
                )),
                Said::Lost(error) => step.details.push(format!(
                    "the answer was lost ({error}); {list} no longer holds it"
                )),
                Said::Refused(error) => step
                    .details
                    .push(format!("{who} answered {error}, yet {list} no longer holds it")),
            }
        }
        Ok(true) => {
            // A refusal (not busy, not a timeout) would be answered again.
            refused = matches!(
                &said,
                Said::Refused(error) if error.status().is_some_and(|s| (400..500).contains(&s) && !matches!(s, 408 | 409 | 429))
            );
            step.fail(format!("{}, but {still}", said.words(who)));
        }
        Err(read_error) => match said {
            // The request never got through, or was answered no: nothing changed by it.
            Said::Refused(error) => step.fail(format!(
                "{error}; {list} cannot be read either ({read_error})"
            )),
            said => {
                step.state = StepState::Unknown;
                step.error = Some(format!(
                    "{}, but {list} cannot be read to confirm it ({read_error}), so it may be gone or not",
                    said.words(who)
                ));
            }
        },
    }
    refused
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

/// One node: the delete, then its own list as the proof. Whether the answer concerns the whole
/// cluster (credentials, permission), so the other nodes are not tried.
fn delete_on(artifact: &ArtifactDelete, node: &NodeDelete, step: &mut Step) -> bool {
    let client = &node.node.client;
    let started = Instant::now();
    let said = match client.delete_artifact_answer(&artifact.name, artifact.version) {
        Ok(answer) => match answer_error_of(&answer) {
            Some(error) => Said::ErrorBody(error),
            None => Said::Deleted,
        },
        Err(error @ ClusterError::NotFound { .. }) => Said::Gone(error),
        Err(error) if error.is_answer_lost() => Said::Lost(error),
        Err(error) if error.is_fatal_for_rollout() => {
            step.fail(error.to_string());
            step.elapsed = started.elapsed();
            return true;
        }
        Err(error) => Said::Refused(error),
    };
    let listed = client
        .artifacts()
        .map(|list| holds(&list, &artifact.name, artifact.version));
    step.elapsed = started.elapsed();
    let still = format!(
        "its artifact list still holds {} {}",
        artifact.name,
        artifact.version.semantic()
    );
    settle(
        step,
        listed,
        said,
        "the node",
        &still,
        "the node's artifact list",
    );
    if !step.state.is_settled() {
        client.listener().on_warning(&format!(
            "node {} {}: {}",
            node.node.uid,
            node.node.address,
            step.error.as_deref().unwrap_or("not deleted")
        ));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> Step {
        Step::new(StepKind::DeleteArtifact, "node 2", "hello 1.2.3")
    }

    fn api(status: u16) -> ClusterError {
        ClusterError::Api {
            method: "DELETE",
            url: "u".into(),
            status,
            error_code: Some("internal_error".into()),
            message: None,
        }
    }

    fn lost() -> ClusterError {
        ClusterError::ConnectionLost {
            url: "u".into(),
            detail: "reset".into(),
        }
    }

    #[test]
    fn the_list_decides_whatever_was_answered() {
        let mut done = step();
        settle(
            &mut done,
            Ok(false),
            Said::Lost(lost()),
            "the node",
            "x",
            "the list",
        );
        assert_eq!(done.state, StepState::Done);
        assert!(
            done.details[0].contains("answer was lost"),
            "{:?}",
            done.details
        );

        let mut kept = step();
        settle(
            &mut kept,
            Ok(true),
            Said::ErrorBody("200 with the error internal_error".into()),
            "the node",
            "its list still holds it",
            "the list",
        );
        assert_eq!(kept.state, StepState::Failed);
        let error = kept.error.unwrap();
        assert!(
            error.contains("200 with the error internal_error"),
            "{error}"
        );
        assert!(error.contains("still holds it"), "{error}");

        let mut unknown = step();
        settle(
            &mut unknown,
            Err(lost()),
            Said::Deleted,
            "the node",
            "x",
            "the list",
        );
        assert_eq!(unknown.state, StepState::Unknown, "never called refused");

        let mut refused = step();
        settle(
            &mut refused,
            Err(lost()),
            Said::Refused(api(500)),
            "the node",
            "x",
            "the list",
        );
        assert_eq!(refused.state, StepState::Failed);
    }

    #[test]
    fn a_refusal_is_told_apart_from_a_failure_worth_another_try() {
        let refusal = |status| {
            let mut step = step();
            let refused = settle(
                &mut step,
                Ok(true),
                Said::Refused(api(status)),
                "the cluster",
                "it is still listed",
                "the list",
            );
            assert_eq!(step.state, StepState::Failed);
            refused
        };
        assert!(refusal(406), "module_in_use is answered again");
        assert!(!refusal(409), "busy is worth another try");
        assert!(!refusal(503), "a node down is worth another try");
        let mut gone = step();
        assert!(!settle(
            &mut gone,
            Ok(false),
            Said::Refused(api(406)),
            "the cluster",
            "x",
            "the list",
        ));
        assert_eq!(gone.state, StepState::Done, "the list decides");
    }
}
