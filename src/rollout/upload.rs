//! Uploading a module zip: [`plan_upload`] (GET requests only: the live target, the validator,
//! the flow, the nodes that already hold the artifact, the requests to send), then
//! [`UploadPlan::execute`]: the registration, the zip to one node first and then to the rest in
//! a bounded pool, each upload verified against the node's own list, and the rollback.
//!
//! Flows ("Install a module on a cluster"): RS 8.0 and later take a custom module as a
//! configuration (`POST /v2/modules/user-defined`) plus its zip on every node
//! (`POST /v2/local/modules/user-defined/artifacts`); older clusters take the bundled zip once
//! (`POST /v2/modules`, followed as an action).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bundle::{Bundle, Source};
use crate::cluster::{Client, ClusterError, Endpoint, Module, PollOptions, UploadFile};
use crate::manifest::ModuleVersion;
use crate::validate::{self, CheckOptions, Report};

use super::execute::{pool, while_busy};
use super::plan::{
    at_least, live_target, node_clients, node_facts, planned, rs_version, NodeClient,
};
use super::{
    select_nodes, ConfigOutcome, NodeOutcome, NodeReport, PlannedRequest, Rollout, RolloutError,
};

/// The first RS release whose custom-module flow (user-defined configuration plus per-node
/// artifacts) rmpack uses by default.
pub const USER_DEFINED_SINCE: &str = "8.0";

/// Which upload flow to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadFlow {
    /// `POST /v2/modules` once (RS before 8.0, or `--bundled`).
    Bundled,
    /// Configuration plus the zip on every node (RS 8.0 and later, or `--user-defined`).
    UserDefined,
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Only these node uids (`--nodes 1,3`); all nodes when `None`.
    pub nodes: Option<Vec<String>>,
    /// Use each node's `external_addr` instead of `addr`.
    pub external: bool,
    /// Uploads in flight at once (at least 1).
    pub concurrency: usize,
    /// When some node fails, delete what this run uploaded and registered.
    pub rollback_on_failure: bool,
    /// A flow forced by `--bundled` / `--user-defined`; else chosen by the RS version.
    pub flow: Option<UploadFlow>,
    /// Treat pre-flight warnings as errors.
    pub strict: bool,
    /// How to follow the bundled upload's action.
    pub poll: PollOptions,
    /// How long to keep trying while the cluster is busy with another change.
    pub busy_timeout: Duration,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            nodes: None,
            external: false,
            concurrency: 8,
            rollback_on_failure: false,
            flow: None,
            strict: false,
            poll: PollOptions::default(),
            busy_timeout: Duration::from_secs(60),
        }
    }
}

/// One node of an upload plan.
#[derive(Debug, Clone)]
pub struct PlannedNode {
    /// The node and its client.
    pub node: NodeClient,
    /// Whether it already holds the artifact (nothing is sent to it).
    pub holds: bool,
    /// Why its artifact list could not be read: nothing is sent to it, and it ends failed.
    pub unreachable: Option<String>,
}

/// Everything an upload will do, read from the cluster with GET requests only.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    /// The zip.
    pub zip: PathBuf,
    /// The zip's size.
    pub zip_bytes: u64,
    /// `module_name` of module.json.
    pub module_name: String,
    /// Its version.
    pub version: ModuleVersion,
    /// The user-defined configuration to register.
    pub config: serde_json::Value,
    /// The flow, and why.
    pub flow: UploadFlow,
    /// Why this flow ("RS 8.0.2 ≥ 8.0", "--bundled").
    pub flow_reason: String,
    /// The uid of the same name and version, when the cluster already holds it.
    pub existing: Option<String>,
    /// The nodes (user-defined flow).
    pub nodes: Vec<PlannedNode>,
    /// The changing requests the upload sends, in order.
    pub requests: Vec<PlannedRequest>,
    /// The validator's findings on the live target (no errors, or planning stops).
    pub report: Report,
    /// Facts worth knowing (nodes rmpack has no platform facts for, findings below errors).
    pub notes: Vec<String>,
    options: UploadOptions,
}

/// Reads the cluster and plans the upload of `bundle` (a module zip the caller opened once).
/// Fails when the validator finds errors on the live target or uploads are disabled; nothing
/// but GET requests is sent.
pub fn plan_upload(
    client: &Client,
    bundle: &Bundle,
    options: &UploadOptions,
) -> Result<UploadPlan, RolloutError> {
    let input_error = |detail: &str| RolloutError::Input {
        path: bundle.path.clone(),
        detail: detail.to_string(),
    };
    if bundle.source != Source::Zip {
        return Err(input_error(
            "is not a module zip; upload takes the zip `rmpack pack` writes",
        ));
    }
    let module = bundle
        .manifest()
        .ok_or_else(|| {
            input_error("module.json is missing or not valid; run `rmpack validate` on it")
        })?
        .clone();
    let zip_bytes = std::fs::metadata(&bundle.path)
        .map_err(|e| input_error(&e.to_string()))?
        .len();
    let listener = client.listener();
    listener.on_status(&format!(
        "pre-flight: checking {} {} against {}",
        module.module_name,
        module.version.semantic(),
        client.base().origin()
    ));
    let live = live_target(client, None, Some(&module.module_name))?;
    let (flow, flow_reason) = match options.flow {
        Some(UploadFlow::Bundled) => (UploadFlow::Bundled, "--bundled".to_string()),
        Some(UploadFlow::UserDefined) => (UploadFlow::UserDefined, "--user-defined".to_string()),
        None => {
            let rs = rs_version(&live).map_err(|reported| RolloutError::UnknownRsVersion {
                reported,
                what: "the upload flow depends on it: give --user-defined (RS 8.0 and later) or --bundled (earlier releases)".to_string(),
            })?;
            if at_least(&rs, USER_DEFINED_SINCE) {
                (
                    UploadFlow::UserDefined,
                    format!("RS {rs} takes custom modules (RS {USER_DEFINED_SINCE} and later)"),
                )
            } else {
                (
                    UploadFlow::Bundled,
                    format!("RS {rs} is older than {USER_DEFINED_SINCE}: bundled upload"),
                )
            }
        }
    };
    // The nodes the zip goes to: each must take it (RS's node check), so a node of another OS
    // or architecture is refused here, before anything is sent. A bundled upload goes to all.
    let nodes = match flow {
        UploadFlow::Bundled => live.nodes.clone(),
        UploadFlow::UserDefined => select_nodes(&live.nodes, options.nodes.as_deref())?,
    };
    // The same name and version already on the cluster is how a rollout is resumed or re-run
    // (the registration is then skipped), not a reason to refuse: hide it from the validator.
    let mut target = live.target.clone();
    if let Some(facts) = target.cluster.as_mut() {
        facts
            .modules
            .retain(|(name, version)| !(name == &module.module_name && *version == module.version));
        facts.nodes = nodes.iter().map(node_facts).collect();
    }
    let mut report = validate::check_bundle(bundle, &target, &CheckOptions::default());
    if options.strict {
        report.promote_warnings();
    }
    if report.failed(false) {
        return Err(RolloutError::Preflight {
            source_url: client.base().origin(),
            report: Box::new(report),
        });
    }
    if live.cluster.allow_modules_upload == Some(false) {
        return Err(RolloutError::UploadsDisabled {
            url: client.base().origin(),
        });
    }
    let existing = live
        .modules
        .iter()
        .find(|m| same_module(&module.module_name, module.version, m))
        .map(|m| m.uid.0.clone());
    let mut notes = live.notes.clone();
    notes.extend(report.diagnostics.iter().map(|d| d.message.clone()));
    let config = module.user_defined_config();
    let mut requests = Vec::new();
    let mut planned_nodes = Vec::new();
    match flow {
        UploadFlow::Bundled => {
            if existing.is_none() {
                requests.push(planned(client, &Endpoint::upload_bundled(), zip_bytes));
            }
        }
        UploadFlow::UserDefined => {
            let clients = node_clients(client, &nodes, options.external)?;
            if existing.is_none() {
                let bytes = serde_json::to_vec(&config).map_or(0, |v| v.len() as u64);
                requests.push(planned(client, &Endpoint::register_user_defined(), bytes));
            }
            let holds = pool(
                &clients,
                options.concurrency,
                |node| {
                    let held = node.client.artifacts().map(|list| {
                        list.iter().any(|a| {
                            a.module_name == module.module_name && a.version == Some(module.version)
                        })
                    });
                    let fatal = held.as_ref().is_err_and(ClusterError::is_fatal_for_rollout);
                    (held, fatal)
                },
                |_| Ok(false),
            );
            for (node, held) in clients.into_iter().zip(holds) {
                let (holds, unreachable) = match held {
                    Ok(holds) => (holds, None),
                    // Wrong credentials or no permission hold for every node: stop here.
                    Err(error) if error.is_fatal_for_rollout() => return Err(error.into()),
                    Err(error) => {
                        listener
                            .on_warning(&format!("node {} {}: {error}", node.uid, node.address));
                        (false, Some(error.to_string()))
                    }
                };
                if !holds && unreachable.is_none() {
                    requests.push(planned(
                        &node.client,
                        &Endpoint::upload_artifact(),
                        zip_bytes,
                    ));
                }
                planned_nodes.push(PlannedNode {
                    node,
                    holds,
                    unreachable,
                });
            }
        }
    }
    Ok(UploadPlan {
        zip: bundle.path.clone(),
        zip_bytes,
        module_name: module.module_name.clone(),
        version: module.version,
        config,
        flow,
        flow_reason,
        existing,
        nodes: planned_nodes,
        requests,
        report,
        notes,
        options: options.clone(),
    })
}

fn same_module(name: &str, version: ModuleVersion, module: &Module) -> bool {
    module.module_name == name && module.module_version() == Some(version)
}

/// Whether a node's refusal is about the artifact itself (a bad zip, bad metadata): the same
/// zip would be refused by every other node too.
fn refuses_the_artifact(error: &ClusterError) -> bool {
    matches!(error.status(), Some(400) | Some(406))
}

impl UploadPlan {
    /// The plan as a rollout table that nothing executed (what `--dry-run` prints).
    pub fn as_rollout(&self) -> Rollout {
        let mut rollout = self.empty_rollout();
        rollout.dry_run = true;
        rollout.config = match &self.existing {
            Some(uid) => ConfigOutcome::AlreadyRegistered(uid.clone()),
            None => ConfigOutcome::WouldRegister,
        };
        rollout.nodes = self
            .nodes
            .iter()
            .map(|planned| NodeReport {
                uid: planned.node.uid.clone(),
                address: planned.node.address.clone(),
                outcome: if planned.unreachable.is_some() {
                    NodeOutcome::Failed
                } else if planned.holds {
                    NodeOutcome::AlreadyPresent
                } else {
                    NodeOutcome::WouldUpload
                },
                bytes: 0,
                elapsed: Duration::ZERO,
                error: planned.unreachable.clone(),
            })
            .collect();
        rollout.plan = self.requests.clone();
        rollout
    }

    fn empty_rollout(&self) -> Rollout {
        let mut notes = vec![format!("flow: {}", self.flow_reason)];
        notes.extend(self.notes.iter().cloned());
        Rollout {
            zip: self.zip.clone(),
            module_name: self.module_name.clone(),
            version: self.version,
            semantic_version: self.version.semantic().to_string(),
            zip_bytes: self.zip_bytes,
            bundled: self.flow == UploadFlow::Bundled,
            dry_run: false,
            config: ConfigOutcome::NotAttempted,
            nodes: Vec::new(),
            plan: Vec::new(),
            rolled_back: false,
            notes,
        }
    }

    fn file_name(&self) -> String {
        self.zip
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "module.zip".to_string())
    }

    /// Carries the plan out: registration, the zip to every node that lacks it, verification,
    /// and the rollback (on request, or at once when a node refuses the artifact itself).
    pub fn execute(&self, client: &Client) -> Result<Rollout, RolloutError> {
        let mut rollout = self.empty_rollout();
        match self.flow {
            UploadFlow::Bundled => self.bundled(client, &mut rollout)?,
            UploadFlow::UserDefined => self.user_defined(client, &mut rollout)?,
        }
        Ok(rollout)
    }

    fn bundled(&self, client: &Client, rollout: &mut Rollout) -> Result<(), RolloutError> {
        if let Some(uid) = &self.existing {
            rollout.config = ConfigOutcome::AlreadyRegistered(uid.clone());
            return Ok(());
        }
        rollout.plan = self.requests.clone();
        let file = UploadFile {
            path: self.zip.clone(),
            file_name: self.file_name(),
            progress_task: client.base().host.clone(),
        };
        let module = while_busy(
            self.options.busy_timeout,
            client.listener(),
            "bundled upload",
            || client.upload_bundled(&file),
        )
        .map_err(|error| explain_upload_error(error, UploadFlow::Bundled))?;
        if let Some(action) = &module.action_uid {
            client.follow_action(&action.0, &self.options.poll)?;
        }
        // Read back: the module counts as registered when the cluster lists it (the answer may
        // lack the uid, or carry an error in a 200 body), under the uid it lists.
        let uid = self.find_registered(client)?;
        rollout.config = ConfigOutcome::Registered(uid);
        Ok(())
    }

    fn user_defined(&self, client: &Client, rollout: &mut Rollout) -> Result<(), RolloutError> {
        let listener = client.listener();
        rollout.plan = self.requests.clone();
        let registered_now = match &self.existing {
            Some(uid) => {
                listener.on_status(&format!(
                    "{} {} is already registered (uid {uid})",
                    self.module_name,
                    self.version.semantic()
                ));
                rollout.config = ConfigOutcome::AlreadyRegistered(uid.clone());
                None
            }
            None => {
                listener.on_status(&format!(
                    "registering {} {} with the cluster",
                    self.module_name,
                    self.version.semantic()
                ));
                let answer =
                    while_busy(self.options.busy_timeout, listener, "registration", || {
                        client.register_user_defined(&self.config)
                    });
                match answer {
                    Ok(registered) if !registered.uid.0.is_empty() => {
                        rollout.config = ConfigOutcome::Registered(registered.uid.0.clone());
                        Some(registered.uid.0)
                    }
                    Ok(_) => {
                        // No uid in the answer: look it up, never guess a path.
                        let uid = self.find_registered(client)?;
                        rollout.config = ConfigOutcome::Registered(uid.clone());
                        Some(uid)
                    }
                    // Registered meanwhile: by a retried request whose first answer was lost,
                    // or by another run. Then it is not this run's to roll back.
                    Err(error) if error.error_code() == Some("module_exists") => {
                        let uid = self.find_registered(client).map_err(|_| error)?;
                        rollout.config = ConfigOutcome::AlreadyRegistered(uid);
                        None
                    }
                    Err(error) => return Err(explain_upload_error(error, UploadFlow::UserDefined)),
                }
            }
        };

        let todo: Vec<&PlannedNode> = self
            .nodes
            .iter()
            .filter(|n| !n.holds && n.unreachable.is_none())
            .collect();
        let mut reports: Vec<NodeReport> = Vec::with_capacity(self.nodes.len());
        // One node first: a zip the cluster refuses as such is refused by every node, so it
        // stops here instead of going to all of them.
        let (first, rest) = todo
            .split_first()
            .map_or((None, &[][..]), |(f, r)| (Some(*f), r));
        let mut stop_all = false;
        let mut done: Vec<(String, NodeReport)> = Vec::new();
        if let Some(first) = first {
            let (report, fatal, refused) = self.one(first);
            stop_all = fatal || refused;
            done.push((first.node.uid.clone(), report));
        }
        if !stop_all {
            let results = pool(
                rest,
                self.options.concurrency,
                |node| {
                    let (report, fatal, _) = self.one(node);
                    (report, fatal)
                },
                |node| not_attempted(node),
            );
            done.extend(rest.iter().map(|n| n.node.uid.clone()).zip(results));
        }
        for planned in &self.nodes {
            let report = if let Some(error) = &planned.unreachable {
                NodeReport {
                    uid: planned.node.uid.clone(),
                    address: planned.node.address.clone(),
                    outcome: NodeOutcome::Failed,
                    bytes: 0,
                    elapsed: Duration::ZERO,
                    error: Some(error.clone()),
                }
            } else if planned.holds {
                NodeReport {
                    uid: planned.node.uid.clone(),
                    address: planned.node.address.clone(),
                    outcome: NodeOutcome::AlreadyPresent,
                    bytes: 0,
                    elapsed: Duration::ZERO,
                    error: None,
                }
            } else {
                match done.iter().position(|(uid, _)| *uid == planned.node.uid) {
                    Some(index) => done.remove(index).1,
                    None => not_attempted(planned),
                }
            };
            reports.push(report);
        }
        rollout.nodes = reports;
        let artifact_refused = stop_all
            && rollout
                .nodes
                .iter()
                .any(|n| n.outcome == NodeOutcome::Failed);
        if (self.options.rollback_on_failure || artifact_refused) && !rollout.is_complete() {
            self.rollback(client, registered_now, rollout);
        }
        Ok(())
    }

    fn find_registered(&self, client: &Client) -> Result<String, RolloutError> {
        client
            .modules()?
            .into_iter()
            .find(|m| same_module(&self.module_name, self.version, m) && !m.uid.0.is_empty())
            .map(|m| m.uid.0)
            .ok_or_else(|| {
                RolloutError::Refused(format!(
                    "the cluster accepted {} {} but does not list it with a uid",
                    self.module_name,
                    self.version.semantic()
                ))
            })
    }

    fn holds(&self, node: &Client) -> Result<bool, ClusterError> {
        Ok(node
            .artifacts()?
            .iter()
            .any(|a| a.module_name == self.module_name && a.version == Some(self.version)))
    }

    /// One node: upload, then verify. Returns the report, whether the error concerns the whole
    /// cluster, and whether the node refused the artifact itself.
    fn one(&self, planned: &PlannedNode) -> (NodeReport, bool, bool) {
        let started = Instant::now();
        let node = &planned.node;
        let listener = node.client.listener();
        let task = format!("node {} {}", node.uid, node.address);
        let mut report = NodeReport {
            uid: node.uid.clone(),
            address: node.address.clone(),
            outcome: NodeOutcome::Failed,
            bytes: 0,
            elapsed: Duration::ZERO,
            error: None,
        };
        let finish = |mut report: NodeReport, error: Option<ClusterError>| {
            report.elapsed = started.elapsed();
            let fatal = error
                .as_ref()
                .is_some_and(ClusterError::is_fatal_for_rollout);
            let refused = error.as_ref().is_some_and(refuses_the_artifact);
            if let Some(error) = error {
                listener.on_warning(&format!("{task}: {error}"));
                report.error = Some(error.to_string());
            }
            (report, fatal, refused)
        };
        let file = UploadFile {
            path: self.zip.clone(),
            file_name: self.file_name(),
            progress_task: task.clone(),
        };
        let upload_error = node.client.upload_artifact(&file).err();
        if let Some(error) = &upload_error {
            if error.is_fatal_for_rollout() || refuses_the_artifact(error) {
                return finish(report, upload_error);
            }
        }
        // Verify: the node's own list is the truth, also after an error (the node may have
        // stored the artifact before the connection broke).
        match self.holds(&node.client) {
            Ok(true) => {
                report.outcome = NodeOutcome::Uploaded;
                report.bytes = self.zip_bytes;
                finish(report, None)
            }
            Ok(false) => {
                let error = upload_error.unwrap_or_else(|| ClusterError::BadResponse {
                    method: "GET",
                    url: format!(
                        "{}{}",
                        node.client.base().origin(),
                        Endpoint::artifacts().path
                    ),
                    detail: "the upload was accepted but the node does not list the artifact"
                        .to_string(),
                });
                finish(report, Some(error))
            }
            Err(list_error) => finish(report, Some(upload_error.unwrap_or(list_error))),
        }
    }

    fn rollback(&self, client: &Client, registered_now: Option<String>, rollout: &mut Rollout) {
        let listener = client.listener();
        listener.on_status("rolling back: deleting what this run uploaded and registered");
        let mut all_undone = true;
        for report in rollout.nodes.iter_mut() {
            if report.outcome != NodeOutcome::Uploaded {
                continue;
            }
            let Some(planned) = self.nodes.iter().find(|n| n.node.uid == report.uid) else {
                continue;
            };
            // Not found: a retried delete whose first attempt went through; it is gone either way.
            match planned
                .node
                .client
                .delete_artifact(&self.module_name, self.version)
            {
                Ok(()) | Err(ClusterError::NotFound { .. }) => {
                    report.outcome = NodeOutcome::RolledBack
                }
                Err(error) => {
                    all_undone = false;
                    listener.on_warning(&format!(
                        "rollback: node {} {}: {error}",
                        report.uid, report.address
                    ));
                }
            }
        }
        if let Some(uid) = registered_now {
            match client.delete_user_defined(&uid) {
                Ok(()) | Err(ClusterError::NotFound { .. }) => {
                    rollout.config = ConfigOutcome::RolledBack(uid)
                }
                Err(error) => {
                    all_undone = false;
                    listener.on_warning(&format!("rollback: configuration {uid}: {error}"));
                }
            }
        }
        rollout.rolled_back = all_undone;
    }
}

fn not_attempted(planned: &PlannedNode) -> NodeReport {
    NodeReport {
        uid: planned.node.uid.clone(),
        address: planned.node.address.clone(),
        outcome: NodeOutcome::NotAttempted,
        bytes: 0,
        elapsed: Duration::ZERO,
        error: Some("stopped after an error that every node would give".to_string()),
    }
}

/// Turns the answers whose cause is not what the status says into messages that do.
fn explain_upload_error(error: ClusterError, flow: UploadFlow) -> RolloutError {
    let status = error.status();
    match (flow, status) {
        (UploadFlow::UserDefined, Some(404 | 405)) => RolloutError::Refused(format!(
            "{error}\nthe cluster has no user-defined module route: it is older than RS {USER_DEFINED_SINCE}; upload with --bundled"
        )),
        (UploadFlow::Bundled, Some(404 | 500)) => RolloutError::Refused(format!(
            "{error}\nthe cluster could not fetch a dependency of the module (POST /v2/modules answers 404 or 500 for a dependency URL it cannot download); check each dependency's url is reachable from the cluster's nodes, or embed it as deps/<name>.tgz"
        )),
        _ => RolloutError::Cluster(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ClusterError {
        ClusterError::Api {
            method: "POST",
            url: "u".into(),
            status,
            error_code: None,
            message: None,
        }
    }

    #[test]
    fn answers_whose_cause_the_status_hides_get_their_own_message() {
        let missing = ClusterError::NotFound {
            method: "POST",
            url: "u".into(),
            error_code: None,
            message: None,
        };
        let text = explain_upload_error(missing, UploadFlow::UserDefined).to_string();
        assert!(
            text.contains("older than RS 8.0") && text.contains("--bundled"),
            "{text}"
        );
        let text = explain_upload_error(status(500), UploadFlow::Bundled).to_string();
        assert!(text.contains("dependency"), "{text}");
        assert!(matches!(
            explain_upload_error(status(406), UploadFlow::Bundled),
            RolloutError::Cluster(_)
        ));
        assert!(refuses_the_artifact(&status(400)) && refuses_the_artifact(&status(406)));
        assert!(!refuses_the_artifact(&status(503)));
    }
}
