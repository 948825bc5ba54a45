//! Uploading a release: one zip or a set of them (several module versions, each built per OS and
//! architecture). [`plan_upload`] reads the cluster (GET requests only), runs the validator on
//! every zip and on the set against it, and assigns each node, per version, the zip built for its
//! OS and architecture; [`UploadPlan::execute`] registers each version once (lowest first), sends
//! every node its zip, all nodes at once, verifies each against the node's own list, and undoes
//! what this run placed when a node refuses the artifact.
//!
//! Flows ("Install a module on a cluster"): RS 8.0 and later take a custom module as a
//! configuration (`POST /v2/modules/user-defined`) plus its zip on every node
//! (`POST /v2/local/modules/user-defined/artifacts`); older clusters take the bundled zip once
//! (`POST /v2/modules`, followed as an action), so there each version needs one zip that every
//! node can run.
//!
//! The bytes checked are the bytes sent: each node's body is read from the zip file the
//! pre-flight opened (a zip replaced on disk meanwhile is not what goes), and a zip rewritten in
//! place is refused before, or cut off during, the transfer.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bundle::Archive;
use crate::cluster::{
    Client, ClusterError, Endpoint, Module, PollOptions, UploadFile, UploadSource,
};
use crate::manifest::ModuleVersion;
use crate::release::{platform_label, ReleaseSet};
use crate::validate::{self, CheckOptions, Report};

use super::execute::{pool, while_busy};
use super::outcome::{Operation, Outcome, Refusal, ResumeBase, Step, StepKind, StepState};
use super::plan::{
    at_least, live_target, node_clients, node_facts, planned, rs_version, NodeClient,
};
use super::shared_zip::{changed, SharedZip};
use super::{select_nodes, PlannedRequest, RolloutError};

/// How often a running transfer pool looks for a signal asking it to stop.
const STOP_WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// The first RS release whose custom-module flow (user-defined configuration plus per-node
/// artifacts) rmpack uses by default.
pub const USER_DEFINED_SINCE: &str = "8.0";

/// Which upload flow to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadFlow {
    /// `POST /v2/modules` once per version (RS before 8.0, or `--bundled`).
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
    /// The command line to resume with, without its node selection.
    pub resume: ResumeBase,
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
            resume: ResumeBase::default(),
        }
    }
}

/// The zip a node gets for one version.
#[derive(Debug, Clone)]
pub struct NodeAssignment {
    /// The node and its client.
    pub node: NodeClient,
    /// Its OS and architecture (`rhel9/x86_64`).
    pub platform: String,
    /// The zip it gets (an index into the plan's zips).
    pub zip: usize,
    /// Whether it already holds the version (nothing is sent to it).
    pub holds: bool,
    /// Why its artifact list could not be read: nothing is sent to it, and it ends failed.
    pub unreachable: Option<String>,
}

/// One module version of the upload.
#[derive(Debug, Clone)]
pub struct VersionPlan {
    /// `module_name`.
    pub module_name: String,
    /// The version.
    pub version: ModuleVersion,
    /// The configuration registered for it (one zip's module.json; every build of a version
    /// registers the same, or the pre-flight refused).
    pub config: serde_json::Value,
    /// The uid of the same name and version, when the cluster already holds it.
    pub existing: Option<String>,
    /// The bundled flow's one zip for the whole cluster.
    pub bundled_zip: Option<usize>,
    /// The nodes and the zip each gets (user-defined flow).
    pub nodes: Vec<NodeAssignment>,
}

impl VersionPlan {
    fn label(&self) -> String {
        format!("{} {}", self.module_name, self.version.semantic())
    }
}

/// One zip of the upload: the open file the pre-flight checked.
#[derive(Debug, Clone)]
pub struct UploadZip {
    /// Its file name.
    pub name: String,
    /// The open zip.
    pub archive: Archive,
    /// Its SHA-256 as checked.
    pub sha256: String,
}

/// Everything an upload will do, read from the cluster with GET requests only.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    /// The cluster URL.
    pub cluster: String,
    /// The flow.
    pub flow: UploadFlow,
    /// Why this flow ("RS 8.0.2 ≥ 8.0", "--bundled").
    pub flow_reason: String,
    /// The cluster's RS version as its nodes report it.
    pub rs_version: String,
    /// The zips.
    pub zips: Vec<UploadZip>,
    /// The versions, lowest first.
    pub versions: Vec<VersionPlan>,
    /// The changing requests the upload sends, in order.
    pub requests: Vec<PlannedRequest>,
    /// The validator's findings on each zip and on the set (no errors, or planning stops).
    pub reports: Vec<Report>,
    /// Facts worth knowing (nodes rmpack has no platform facts for, findings below errors).
    pub notes: Vec<String>,
    options: UploadOptions,
}

/// Reads the cluster and plans the upload of `set` (zips the caller opened once). Refuses, with
/// the findings, when the validator finds errors in a zip or in the set against the live cluster
/// (a node without a build among them); nothing but GET requests is sent.
pub fn plan_upload(
    client: &Client,
    set: &mut ReleaseSet,
    options: &UploadOptions,
) -> Result<UploadPlan, RolloutError> {
    let plan = plan_upload_keeping(client, set, options);
    set.release_module_bytes();
    plan
}

/// [`plan_upload`] that keeps the zips' module bytes, for a fleet that checks the same set
/// against each of its clusters (the caller releases them after the last).
pub fn plan_upload_keeping(
    client: &Client,
    set: &ReleaseSet,
    options: &UploadOptions,
) -> Result<UploadPlan, RolloutError> {
    let origin = client.base().origin();
    let module_name = set.module_names().into_iter().next().unwrap_or_default();
    let versions = set.versions();
    client.listener().on_status(&format!(
        "pre-flight: checking {module_name} {} ({} zip(s)) against {origin}",
        versions
            .iter()
            .map(|v| v.semantic().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        set.members.len()
    ));
    let live = live_target(client, None, Some(&module_name))?;
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
    // The nodes the zips go to: each must have a build of every version (RS's node check), so a
    // node of another OS or architecture is refused here, before anything is sent. A bundled
    // upload goes to the whole cluster.
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
            .retain(|(name, version)| !(*name == module_name && versions.contains(version)));
        facts.nodes = nodes.iter().map(node_facts).collect();
    }
    let zip_reports = validate::check_members_keeping(set, &target, &CheckOptions::default());
    let mut set_report = validate::set_report(set, zip_reports, &target, None);
    if options.strict {
        set_report.promote_warnings();
    }
    let mut reports: Vec<Report> = set_report.zips.iter().map(|z| z.report.clone()).collect();
    reports.push(set_report.set.clone());
    if set_report.failed(false) {
        return Err(RolloutError::Preflight(Box::new(Refusal::new(
            origin, reports,
        ))));
    }
    if live.cluster.allow_modules_upload == Some(false) {
        return Err(RolloutError::UploadsDisabled { url: origin });
    }
    let zips: Vec<UploadZip> = set
        .members
        .iter()
        .map(|m| {
            Ok(UploadZip {
                name: m.file_name(),
                archive: m
                    .bundle
                    .archive
                    .clone()
                    .ok_or_else(|| RolloutError::Input {
                        path: m.path.clone(),
                        detail: "is not a module zip; upload takes the zips `rmpack pack` writes"
                            .to_string(),
                    })?,
                sha256: m.sha256.clone(),
            })
        })
        .collect::<Result<_, RolloutError>>()?;
    let mut notes = vec![format!("flow: {flow_reason}")];
    notes.extend(live.notes.iter().cloned());
    notes.extend(
        set_report
            .all_findings()
            .diagnostics
            .iter()
            .map(|d| match &d.location {
                Some(at) => format!("{at}: {}", d.message),
                None => d.message.clone(),
            }),
    );
    let listener = client.listener();
    let clients = match flow {
        UploadFlow::UserDefined => node_clients(client, &nodes, options.external)?,
        UploadFlow::Bundled => Vec::new(),
    };
    // What each node holds: read once, all nodes at once.
    let lists = pool(
        &clients,
        options.concurrency,
        |node| {
            let list = node.client.artifacts();
            let fatal = list.as_ref().is_err_and(ClusterError::is_fatal_for_rollout);
            (list, fatal)
        },
        |_| Ok(Vec::new()),
    );
    let mut held: Vec<Result<Vec<(String, ModuleVersion)>, String>> = Vec::new();
    for (node, list) in clients.iter().zip(lists) {
        match list {
            Ok(list) => held.push(Ok(list
                .into_iter()
                .filter_map(|a| Some((a.module_name, a.version?)))
                .collect())),
            // Wrong credentials or no permission hold for every node: stop here.
            Err(error) if error.is_fatal_for_rollout() => return Err(error.into()),
            Err(error) => {
                listener.on_warning(&format!("node {} {}: {error}", node.uid, node.address));
                held.push(Err(error.to_string()));
            }
        }
    }
    let mut planned_versions = Vec::new();
    let mut requests = Vec::new();
    for version in versions {
        let Some(first) = set.of_version(version).next() else {
            continue;
        };
        let Some(module) = first.bundle.manifest() else {
            continue;
        };
        let existing = live
            .modules
            .iter()
            .find(|m| same_module(&module.module_name, version, m))
            .map(|m| m.uid.0.clone());
        let mut plan = VersionPlan {
            module_name: module.module_name.clone(),
            version,
            config: module.user_defined_config(),
            existing,
            bundled_zip: None,
            nodes: Vec::new(),
        };
        match flow {
            UploadFlow::Bundled => {
                // One zip per version for the whole cluster: one every node can run.
                let member = set
                    .of_version(version)
                    .position(|m| {
                        nodes.iter().all(|n| {
                            let facts = node_facts(n);
                            m.runs_on(facts.os.as_ref(), facts.arch)
                        })
                    })
                    .and_then(|i| {
                        let member = set.of_version(version).nth(i)?;
                        set.members.iter().position(|m| std::ptr::eq(m, member))
                    });
                let Some(member) = member else {
                    let platforms: Vec<String> = nodes
                        .iter()
                        .map(|n| {
                            let facts = node_facts(n);
                            format!(
                                "node {} {}",
                                n.uid,
                                platform_label(facts.os.as_ref(), facts.arch)
                            )
                        })
                        .collect();
                    return Err(RolloutError::Refused(format!(
                        "{}: RS before 8.0 takes one zip per version for the whole cluster, and no zip of it runs on every node ({}); build one listing every node's OS, or upgrade the cluster to RS 8.0 or later, which takes a zip per node",
                        plan.label(),
                        platforms.join(", ")
                    )));
                };
                if plan.existing.is_none() {
                    requests.push(planned(
                        client,
                        &Endpoint::upload_bundled(),
                        zips[member].archive.size(),
                    ));
                }
                plan.bundled_zip = Some(member);
            }
            UploadFlow::UserDefined => {
                if plan.existing.is_none() {
                    let bytes = serde_json::to_vec(&plan.config).map_or(0, |v| v.len() as u64);
                    requests.push(planned(client, &Endpoint::register_user_defined(), bytes));
                }
                for ((node, list), raw) in clients.iter().zip(&held).zip(&nodes) {
                    let facts = node_facts(raw);
                    // The set rule above made sure each node has a build.
                    let Some(member) = set.build_for(version, facts.os.as_ref(), facts.arch) else {
                        continue;
                    };
                    let zip = set
                        .members
                        .iter()
                        .position(|m| std::ptr::eq(m, member))
                        .unwrap_or_default();
                    let (holds, unreachable) = match list {
                        Ok(list) => (
                            list.iter()
                                .any(|(n, v)| *n == plan.module_name && *v == version),
                            None,
                        ),
                        Err(error) => (false, Some(error.clone())),
                    };
                    if !holds && unreachable.is_none() {
                        requests.push(planned(
                            &node.client,
                            &Endpoint::upload_artifact(),
                            zips[zip].archive.size(),
                        ));
                    }
                    plan.nodes.push(NodeAssignment {
                        node: node.clone(),
                        platform: platform_label(facts.os.as_ref(), facts.arch),
                        zip,
                        holds,
                        unreachable,
                    });
                }
            }
        }
        planned_versions.push(plan);
    }
    Ok(UploadPlan {
        cluster: origin,
        flow,
        flow_reason,
        rs_version: rs_version(&live).map_or_else(|reported| reported, |v| v.to_string()),
        zips,
        versions: planned_versions,
        requests,
        reports,
        notes,
        options: options.clone(),
    })
}

fn same_module(name: &str, version: ModuleVersion, module: &Module) -> bool {
    module.module_name == name && module.module_version() == Some(version)
}

/// Whether a node's refusal is about the artifact itself (a bad zip, bad metadata, another OS):
/// every other node of that platform would refuse it too.
fn refuses_the_artifact(error: &ClusterError) -> bool {
    matches!(error.status(), Some(400) | Some(406))
}

/// The bytes of one zip for a node: read from the open file the pre-flight checked, through the
/// zip's [`SharedZip`], whose SHA-256 is computed once for all its nodes. A zip rewritten in
/// place since is refused before the first byte, or cut off before the body ends (so the node
/// keeps nothing); `stop` aborts the transfer when another node refused the artifact or a
/// signal asked the run to stop.
struct CheckedZip {
    zip: Arc<SharedZip>,
    stop: Arc<AtomicBool>,
}

impl UploadSource for CheckedZip {
    fn byte_len(&self) -> u64 {
        self.zip.size()
    }

    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        if !self.zip.unchanged()? {
            return Err(changed(self.zip.name()));
        }
        Ok(Box::new(self.zip.stream(self.stop.clone())))
    }

    fn describe(&self) -> String {
        self.zip.name().to_string()
    }
}

impl UploadPlan {
    /// The plan as an outcome that nothing executed (what `--dry-run` prints): each version's
    /// registration, and per node the zip it gets.
    pub fn as_outcome(&self) -> Outcome {
        let mut outcome = self.empty_outcome();
        outcome.dry_run = true;
        for version in &self.versions {
            outcome.steps.extend(self.planned_steps(version));
        }
        outcome
    }

    fn planned_steps(&self, version: &VersionPlan) -> Vec<Step> {
        let mut steps = Vec::new();
        match self.flow {
            UploadFlow::Bundled => {
                let zip = version.bundled_zip.map(|z| &self.zips[z]);
                let mut step = Step::new(
                    StepKind::BundledUpload,
                    "cluster",
                    self.subject(version, zip),
                );
                step.state = if version.existing.is_some() {
                    StepState::AlreadyDone
                } else {
                    StepState::Planned
                };
                steps.push(step);
            }
            UploadFlow::UserDefined => {
                let mut register = Step::new(StepKind::Register, "cluster", version.label());
                register.state = if version.existing.is_some() {
                    StepState::AlreadyDone
                } else {
                    StepState::Planned
                };
                steps.push(register);
                for node in &version.nodes {
                    let mut step = self.node_step(version, node);
                    if let Some(error) = &node.unreachable {
                        step.fail(error.clone());
                    } else {
                        step.state = if node.holds {
                            StepState::AlreadyDone
                        } else {
                            StepState::Planned
                        };
                    }
                    steps.push(step);
                }
            }
        }
        steps
    }

    fn subject(&self, version: &VersionPlan, zip: Option<&UploadZip>) -> String {
        match zip {
            Some(zip) => format!("{} ({})", version.label(), zip.name),
            None => version.label(),
        }
    }

    fn node_step(&self, version: &VersionPlan, node: &NodeAssignment) -> Step {
        let zip = &self.zips[node.zip];
        Step::new(
            StepKind::Artifact,
            format!("node {}", node.node.uid),
            format!("{} {} ({})", version.label(), node.platform, zip.name),
        )
        .at(node.node.address.clone())
    }

    fn empty_outcome(&self) -> Outcome {
        let mut outcome = Outcome::new(Operation::Upload, self.cluster.clone());
        outcome.notes = self.notes.clone();
        outcome.requests = self.requests.clone();
        outcome
    }

    /// Zip `zip`, for the transfers that send it.
    fn shared_zip(&self, zip: usize) -> Arc<SharedZip> {
        let zip = &self.zips[zip];
        Arc::new(SharedZip::new(&zip.archive, &zip.name, &zip.sha256))
    }

    fn upload_file(zip: &Arc<SharedZip>, task: String, stop: &Arc<AtomicBool>) -> UploadFile {
        UploadFile {
            source: Arc::new(CheckedZip {
                zip: zip.clone(),
                stop: stop.clone(),
            }),
            file_name: zip.name().to_string(),
            progress_task: task,
        }
    }

    /// Carries the plan out, version by version (lowest first): the registration, the zip to
    /// every node that lacks it (all at once), verification, and the rollback (on request, or at
    /// once when a node refuses the artifact). Stops at the first version that does not end in
    /// place, and when `stop_requested` says so (an interruption); the outcome says what is
    /// done, what is not, and how to resume.
    pub fn execute(&self, client: &Client, stop_requested: &(dyn Fn() -> bool + Sync)) -> Outcome {
        let mut outcome = self.empty_outcome();
        let mut stopped = false;
        for version in &self.versions {
            let mut steps = self.planned_steps(version);
            for step in &mut steps {
                if step.state == StepState::Planned {
                    step.state = StepState::NotStarted;
                }
            }
            if !stopped && stop_requested() {
                outcome.interrupted = true;
                stopped = true;
            }
            if !stopped {
                let complete = match self.flow {
                    UploadFlow::Bundled => self.bundled(client, version, &mut steps),
                    UploadFlow::UserDefined => {
                        self.user_defined(client, version, &mut steps, stop_requested)
                    }
                };
                if stop_requested() {
                    outcome.interrupted = true;
                }
                stopped = !complete || outcome.interrupted;
            }
            outcome.steps.extend(steps);
        }
        outcome.resume_command = self.resume(&outcome);
        outcome
    }

    /// The command that finishes the upload: this one, for the nodes that do not hold every
    /// version yet. None when nothing is left, or when a node refused the artifact (sending it
    /// again cannot help).
    fn resume(&self, outcome: &Outcome) -> Option<super::outcome::Resume> {
        if outcome.is_complete()
            || outcome
                .steps
                .iter()
                .any(|s| s.state == StepState::RolledBack)
        {
            return None;
        }
        let mut nodes: Vec<String> = Vec::new();
        let mut whole = false;
        for step in outcome.unfinished() {
            match step.kind {
                StepKind::Artifact => {
                    let uid = step.target.trim_start_matches("node ").to_string();
                    if !nodes.contains(&uid) {
                        nodes.push(uid);
                    }
                }
                _ => whole = true,
            }
        }
        if whole || self.flow == UploadFlow::Bundled {
            Some(self.options.resume.with(&[]))
        } else {
            Some(self.options.resume.with(&[("--nodes", nodes.join(","))]))
        }
    }

    fn bundled(&self, client: &Client, version: &VersionPlan, steps: &mut [Step]) -> bool {
        let step = &mut steps[0];
        if version.existing.is_some() {
            step.state = StepState::AlreadyDone;
            return true;
        }
        let Some(zip) = version.bundled_zip else {
            step.fail("no zip runs on every node");
            return false;
        };
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let file = Self::upload_file(&self.shared_zip(zip), client.base().host.clone(), &stop);
        let answer = while_busy(
            self.options.busy_timeout,
            client.listener(),
            "bundled upload",
            || client.upload_bundled(&file),
        );
        step.elapsed = started.elapsed();
        let module = match answer {
            Ok(module) => module,
            Err(error) if error.is_answer_lost() => {
                // The cluster may have taken it: the read-back below decides.
                step.details.push(format!("the answer was lost ({error})"));
                Module::default()
            }
            Err(error) => {
                step.fail(explain_upload_error(error, UploadFlow::Bundled).to_string());
                return false;
            }
        };
        step.bytes = self.zips[zip].archive.size();
        if let Some(action) = &module.action_uid {
            step.action = Some(action.0.clone());
            if let Err(error) = client.follow_action(&action.0, &self.options.poll) {
                if matches!(error, ClusterError::ActionTimeout { .. }) || error.is_answer_lost() {
                    step.state = StepState::InFlight;
                    step.error = Some(error.to_string());
                } else {
                    step.fail(error.to_string());
                }
                return false;
            }
        }
        // Read back: the module counts as uploaded when the cluster lists it (the answer may lack
        // the uid, or carry an error in a 200 body), under the uid it lists.
        match find_registered(client, version) {
            Ok(uid) => {
                step.state = StepState::Done;
                step.details.push(format!("module uid {uid}"));
                true
            }
            Err(error) => {
                if step.details.is_empty() {
                    step.fail(error.to_string());
                } else {
                    step.state = StepState::Unknown;
                    step.error = Some(format!(
                        "{error}; the cluster may still add it: `rmpack modules list` tells"
                    ));
                }
                false
            }
        }
    }

    fn user_defined(
        &self,
        client: &Client,
        version: &VersionPlan,
        steps: &mut [Step],
        stop_requested: &(dyn Fn() -> bool + Sync),
    ) -> bool {
        let listener = client.listener();
        let (register, node_steps) = steps.split_first_mut().expect("a registration step");
        let registered_now = match &version.existing {
            Some(uid) => {
                register.state = StepState::AlreadyDone;
                register.details.push(format!("module uid {uid}"));
                None
            }
            None => {
                listener.on_status(&format!("registering {} with the cluster", version.label()));
                let started = Instant::now();
                let answer =
                    while_busy(self.options.busy_timeout, listener, "registration", || {
                        client.register_user_defined(&version.config)
                    });
                register.elapsed = started.elapsed();
                match answer {
                    Ok(_) => match find_registered(client, version) {
                        // Read back: registered when the cluster lists it, under that uid.
                        Ok(uid) => {
                            register.state = StepState::Done;
                            register.details.push(format!("module uid {uid}"));
                            Some(uid)
                        }
                        Err(error) => {
                            register.fail(error.to_string());
                            return false;
                        }
                    },
                    // Registered meanwhile by another run: then it is not this run's to roll
                    // back, and it is said.
                    Err(error) if error.error_code() == Some("module_exists") => {
                        match find_registered(client, version) {
                            Ok(uid) => {
                                register.state = StepState::AlreadyDone;
                                register.details.push(format!(
                                    "module uid {uid}: registered since the plan was read, by another run"
                                ));
                                None
                            }
                            Err(_) => {
                                register.fail(error.to_string());
                                return false;
                            }
                        }
                    }
                    Err(error) if error.is_answer_lost() => {
                        match find_registered(client, version) {
                            Ok(uid) => {
                                register.state = StepState::Done;
                                register.details.push(format!(
                                    "module uid {uid} (the answer was lost; the cluster lists it)"
                                ));
                                Some(uid)
                            }
                            Err(_) => {
                                register.fail(format!(
                                "{error}; the cluster does not list the configuration, so it was not registered"
                            ));
                                return false;
                            }
                        }
                    }
                    Err(error) => {
                        register
                            .fail(explain_upload_error(error, UploadFlow::UserDefined).to_string());
                        return false;
                    }
                }
            }
        };

        let stop = Arc::new(AtomicBool::new(false));
        let refused = AtomicBool::new(false);
        let todo: Vec<usize> = version
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.holds && n.unreachable.is_none())
            .map(|(i, _)| i)
            .collect();
        // Every node at once: the transfers share the pool, and a refusal by any node (the zip
        // itself is at fault) or an interruption stops the ones still going, mid-body: a
        // watcher turns a signal into the transfers' stop flag. The nodes of one zip share its
        // hashing.
        let mut shared: BTreeMap<usize, Arc<SharedZip>> = BTreeMap::new();
        for &index in &todo {
            let zip = version.nodes[index].zip;
            shared.entry(zip).or_insert_with(|| self.shared_zip(zip));
        }
        let pool_done = AtomicBool::new(false);
        let results = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !pool_done.load(Ordering::SeqCst) {
                    if stop_requested() {
                        stop.store(true, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(STOP_WATCH_INTERVAL);
                }
            });
            let results = pool(
                &todo,
                self.options.concurrency,
                |&index| {
                    let node = &version.nodes[index];
                    let result = self.one(version, node, &shared[&node.zip], &stop);
                    if result.refused {
                        refused.store(true, Ordering::SeqCst);
                        stop.store(true, Ordering::SeqCst);
                    }
                    let fatal = result.fatal;
                    (result, fatal)
                },
                |&index| NodeResult::not_started(&version.nodes[index]),
            );
            pool_done.store(true, Ordering::SeqCst);
            results
        });
        for (index, result) in todo.iter().zip(results) {
            let step = &mut node_steps[*index];
            step.elapsed = result.elapsed;
            step.bytes = result.bytes;
            step.state = result.state;
            step.error = result.error;
            step.details.extend(result.note);
        }
        let complete = node_steps.iter().all(|s| s.state.is_settled());
        let artifact_refused = refused.load(Ordering::SeqCst);
        if (self.options.rollback_on_failure || artifact_refused) && !complete {
            self.rollback(client, version, registered_now, register, node_steps);
        }
        complete
    }

    /// One node: upload, then verify against the node's own list.
    fn one(
        &self,
        version: &VersionPlan,
        node: &NodeAssignment,
        zip: &Arc<SharedZip>,
        stop: &Arc<AtomicBool>,
    ) -> NodeResult {
        let started = Instant::now();
        let task = format!("node {} {}", node.node.uid, node.node.address);
        let listener = node.node.client.listener();
        if stop.load(Ordering::SeqCst) {
            return NodeResult::not_started(node);
        }
        // Right before the transfer: the node's list again. Another run (or an operator) may
        // have placed the version since the plan read it; it is then not sent twice, and not
        // this run's to roll back.
        if let Ok(list) = node.node.client.artifacts() {
            if holds_version(&list, version) {
                return NodeResult {
                    state: StepState::AlreadyDone,
                    error: None,
                    note: Some("placed since the plan read the node (another run?)".to_string()),
                    refused: false,
                    fatal: false,
                    bytes: 0,
                    elapsed: started.elapsed(),
                };
            }
        }
        let file = Self::upload_file(zip, task.clone(), stop);
        let upload_error = node.node.client.upload_artifact(&file).err();
        let mut result = NodeResult {
            state: StepState::Failed,
            error: None,
            note: None,
            refused: false,
            fatal: false,
            bytes: 0,
            elapsed: Duration::ZERO,
        };
        if let Some(error) = &upload_error {
            if stop.load(Ordering::SeqCst) && !refuses_the_artifact(error) {
                // Cut off on purpose: another node refused, or the run is interrupted. The
                // node's list below says whether it kept the zip anyway.
                result.state = StepState::NotStarted;
                result.error = Some("stopped before the transfer ended".to_string());
            } else if error.is_fatal_for_rollout() || refuses_the_artifact(error) {
                listener.on_warning(&format!("{task}: {error}"));
                result.refused = refuses_the_artifact(error);
                result.fatal = error.is_fatal_for_rollout();
                result.error = Some(error.to_string());
                result.elapsed = started.elapsed();
                return result;
            }
        }
        // Verify: the node's own list is the truth, also after an error (the node may have
        // stored the artifact before the connection broke).
        match node.node.client.artifacts() {
            Ok(list) if holds_version(&list, version) => {
                result.state = StepState::Done;
                result.error = None;
                result.bytes = self.zips[node.zip].archive.size();
            }
            Ok(_) if result.state == StepState::NotStarted => {}
            Ok(_) => {
                let error = upload_error.map(|e| e.to_string()).unwrap_or_else(|| {
                    "the upload was accepted but the node does not list the artifact".to_string()
                });
                listener.on_warning(&format!("{task}: {error}"));
                result.error = Some(error);
            }
            Err(list_error) => {
                // Neither the upload's answer nor the node's list: the node may hold it.
                result.state = StepState::Unknown;
                result.error = Some(format!(
                    "{}; the node's list cannot be read ({list_error}), so it may hold the artifact or not",
                    upload_error.map_or_else(|| "sent".to_string(), |e| e.to_string())
                ));
            }
        }
        result.elapsed = started.elapsed();
        result
    }

    /// Deletes what this run placed for `version`: the artifacts it uploaded, the registration
    /// it made.
    fn rollback(
        &self,
        client: &Client,
        version: &VersionPlan,
        registered_now: Option<String>,
        register: &mut Step,
        node_steps: &mut [Step],
    ) {
        client
            .listener()
            .on_status("rolling back: deleting what this run uploaded and registered");
        for (step, node) in node_steps.iter_mut().zip(&version.nodes) {
            if step.state != StepState::Done {
                continue;
            }
            // Not found: a retried delete whose first attempt went through; it is gone either way.
            match node
                .node
                .client
                .delete_artifact(&version.module_name, version.version)
            {
                Ok(()) | Err(ClusterError::NotFound { .. }) => step.state = StepState::RolledBack,
                Err(error) => {
                    step.details
                        .push(format!("the rollback could not delete it: {error}"));
                    client.listener().on_warning(&format!(
                        "rollback: node {} {}: {error}",
                        node.node.uid, node.node.address
                    ));
                }
            }
        }
        if let Some(uid) = registered_now {
            // A node that still lists the version after this run's artifacts are gone got it
            // from another run: the registration serves that run, and stays.
            let held_elsewhere: Vec<&str> = version
                .nodes
                .iter()
                .filter(|n| {
                    n.node
                        .client
                        .artifacts()
                        .is_ok_and(|list| holds_version(&list, version))
                })
                .map(|n| n.node.uid.as_str())
                .collect();
            if !held_elsewhere.is_empty() {
                register.details.push(format!(
                    "kept: node(s) {} hold {} from another run; `rmpack modules delete {uid} --user-defined --with-artifacts` removes it all",
                    held_elsewhere.join(", "),
                    version.label(),
                ));
                client.listener().on_warning(&format!(
                    "rollback: configuration {uid} kept, node(s) {} hold the artifact from another run",
                    held_elsewhere.join(", ")
                ));
                return;
            }
            match client.delete_user_defined(&uid) {
                Ok(()) | Err(ClusterError::NotFound { .. }) => {
                    register.state = StepState::RolledBack
                }
                Err(error) => {
                    register
                        .details
                        .push(format!("the rollback could not delete it: {error}"));
                    client
                        .listener()
                        .on_warning(&format!("rollback: configuration {uid}: {error}"));
                }
            }
        }
    }
}

/// How one node's transfer ended.
#[derive(Debug, Clone)]
struct NodeResult {
    state: StepState,
    error: Option<String>,
    /// A fact for the step's details.
    note: Option<String>,
    /// The node refused the artifact itself (400/406): every other node would.
    refused: bool,
    /// The answer concerns the whole cluster (credentials, permission): the pool stops.
    fatal: bool,
    bytes: u64,
    elapsed: Duration,
}

impl NodeResult {
    fn not_started(_node: &NodeAssignment) -> NodeResult {
        NodeResult {
            state: StepState::NotStarted,
            error: Some("not started: the upload stopped before this node".to_string()),
            note: None,
            refused: false,
            fatal: false,
            bytes: 0,
            elapsed: Duration::ZERO,
        }
    }
}

/// Whether an artifact list holds the version.
fn holds_version(list: &[crate::cluster::Artifact], version: &VersionPlan) -> bool {
    list.iter()
        .any(|a| a.module_name == version.module_name && a.version == Some(version.version))
}

fn find_registered(client: &Client, version: &VersionPlan) -> Result<String, RolloutError> {
    client
        .modules()?
        .into_iter()
        .find(|m| same_module(&version.module_name, version.version, m) && !m.uid.0.is_empty())
        .map(|m| m.uid.0)
        .ok_or_else(|| {
            RolloutError::Refused(format!(
                "the cluster answered, but does not list {} {}",
                version.module_name,
                version.version.semantic()
            ))
        })
}

/// Turns the answers whose cause is not what the status says into messages that do.
fn explain_upload_error(error: ClusterError, flow: UploadFlow) -> RolloutError {
    let status = error.status();
    match (flow, status) {
        (UploadFlow::UserDefined, Some(404 | 405)) => RolloutError::Refused(format!(
            "{error}\nthe cluster has no user-defined module route: it is older than RS {USER_DEFINED_SINCE}; upload with --bundled"
        )),
        (UploadFlow::Bundled, Some(404 | 500)) => RolloutError::Refused(format!(
            "{error}\nthe cluster could not fetch a dependency of the module (POST /v2/modules answers 404 or 500 for a dependency URL it cannot download); embed it as deps/<name>.tgz (`rmpack pack --dep NAME=URL#SHA256` downloads it)"
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
