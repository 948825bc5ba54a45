//! Rolling a module zip out to every node of a cluster.
//!
//! [`run`] does it in four steps: a pre-flight check of the zip against the live cluster (nothing
//! that changes the cluster is sent when it fails); registering the module's configuration once
//! (`POST /v2/modules/user-defined`, skipped when the same name and version are registered);
//! streaming the zip to every node in parallel (`POST /v2/local/modules/user-defined/artifacts`,
//! skipping nodes that already hold it); and verifying each node's artifact list. The result is a
//! [`Rollout`]: one [`NodeReport`] per node, and whether anything changed.
//!
//! A rollout is resumable: running it again (or with `--nodes` of the failed ones) skips what is
//! already in place, so no node receives the artifact twice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cluster::{
    live_target, Client, ClusterError, LiveTarget, Module, Node, PollOptions, UploadFile,
};
use crate::manifest::{ModuleJson, ModuleVersion};
use crate::validate::{Report, Target};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RolloutOptions {
    /// Only these node uids (`--nodes 1,3`); all nodes when `None`.
    pub nodes: Option<Vec<String>>,
    /// Use each node's `external_addr` instead of `addr`.
    pub external: bool,
    /// Uploads in flight at once (at least 1).
    pub concurrency: usize,
    /// Send only GET requests and report the plan.
    pub dry_run: bool,
    /// When some node fails, delete what this run uploaded and registered.
    pub rollback_on_failure: bool,
    /// Use the bundled upload (`POST /v2/modules`, one request, followed as an action).
    pub bundled: bool,
    /// How to follow the bundled upload's action.
    pub poll: PollOptions,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        RolloutOptions {
            nodes: None,
            external: false,
            concurrency: 8,
            dry_run: false,
            rollback_on_failure: false,
            bundled: false,
            poll: PollOptions::default(),
        }
    }
}

/// Why a rollout could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The zip cannot be read.
    #[error("cannot read module zip {path}: {detail}", path = path.display())]
    Zip {
        /// The zip.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The zip's module.json is not valid.
    #[error("{path}: module.json is not valid: {detail}", path = path.display())]
    ModuleJson {
        /// The zip.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The pre-flight check found errors; nothing was sent.
    #[error("pre-flight check against {source_url} failed with {} error(s); nothing was sent to the cluster", count_errors(report))]
    Preflight {
        /// Where the facts came from.
        source_url: String,
        /// The validator's findings.
        report: Box<Report>,
    },
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
    /// A request to the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

fn count_errors(report: &Report) -> usize {
    report
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::validate::Severity::Error)
        .count()
}

/// What happened on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeOutcome {
    /// This run uploaded the artifact, and the node lists it.
    Uploaded,
    /// The node already had it; nothing was sent.
    AlreadyPresent,
    /// Dry run: would upload.
    WouldUpload,
    /// The upload or the check failed; see `error`.
    Failed,
    /// Not attempted, because the rollout stopped on a cluster-wide error.
    NotAttempted,
    /// Uploaded, then deleted again by `--rollback-on-failure`.
    RolledBack,
}

impl NodeOutcome {
    /// Whether the node holds the artifact afterwards (or would, in a dry run).
    pub fn holds_artifact(self) -> bool {
        matches!(
            self,
            NodeOutcome::Uploaded | NodeOutcome::AlreadyPresent | NodeOutcome::WouldUpload
        )
    }

    /// A short word for tables.
    pub fn label(self) -> &'static str {
        match self {
            NodeOutcome::Uploaded => "uploaded",
            NodeOutcome::AlreadyPresent => "already present",
            NodeOutcome::WouldUpload => "would upload",
            NodeOutcome::Failed => "FAILED",
            NodeOutcome::NotAttempted => "not attempted",
            NodeOutcome::RolledBack => "rolled back",
        }
    }
}

/// One node's line of the rollout table.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// The node's uid.
    pub uid: String,
    /// The address used (`addr` or `external_addr`).
    pub address: String,
    /// What happened.
    pub outcome: NodeOutcome,
    /// Bytes of the artifact this run sent to the node (0 when skipped).
    pub bytes: u64,
    /// Time spent on the node.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// The error, when it failed.
    pub error: Option<String>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// What happened to the module's configuration (or, with `--bundled`, the module) in the CCS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "uid", rename_all = "snake_case")]
pub enum ConfigOutcome {
    /// Registered by this run.
    Registered(String),
    /// Already registered with the same name and version.
    AlreadyRegistered(String),
    /// Dry run: would register.
    WouldRegister,
    /// Registered by this run, then deleted by `--rollback-on-failure`.
    RolledBack(String),
    /// Not reached (the run stopped before).
    NotAttempted,
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

/// The result of a rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    /// The zip.
    pub zip: PathBuf,
    /// `module_name` of the module.json.
    pub module_name: String,
    /// Its integer version.
    pub version: ModuleVersion,
    /// Its semantic version.
    pub semantic_version: String,
    /// Size of the zip.
    pub zip_bytes: u64,
    /// Bundled upload (`POST /v2/modules`) rather than per-node artifacts.
    pub bundled: bool,
    /// Dry run: only GETs were sent.
    pub dry_run: bool,
    /// The configuration's fate.
    pub config: ConfigOutcome,
    /// One line per node (empty for a bundled upload).
    pub nodes: Vec<NodeReport>,
    /// The changing requests sent (or, in a dry run, planned), in order.
    pub plan: Vec<PlannedRequest>,
    /// Whether `--rollback-on-failure` undid this run's changes.
    pub rolled_back: bool,
    /// Warnings from the pre-flight check and the cluster facts.
    pub notes: Vec<String>,
}

impl Rollout {
    /// Whether every node holds the artifact (and the configuration is registered).
    pub fn is_complete(&self) -> bool {
        let config_ok = matches!(
            self.config,
            ConfigOutcome::Registered(_)
                | ConfigOutcome::AlreadyRegistered(_)
                | ConfigOutcome::WouldRegister
        );
        config_ok && self.nodes.iter().all(|n| n.outcome.holds_artifact())
    }

    /// Whether this run changed the cluster.
    pub fn changed_anything(&self) -> bool {
        !self.dry_run
            && (matches!(
                self.config,
                ConfigOutcome::Registered(_) | ConfigOutcome::RolledBack(_)
            ) || self
                .nodes
                .iter()
                .any(|n| matches!(n.outcome, NodeOutcome::Uploaded | NodeOutcome::RolledBack)))
    }

    /// Uids of the nodes that do not hold the artifact: what `--nodes` resumes.
    pub fn unfinished_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !n.outcome.holds_artifact())
            .map(|n| n.uid.clone())
            .collect()
    }
}

/// Reads `module.json` from a module zip without unpacking the rest.
pub fn read_module_json(zip: &Path) -> Result<ModuleJson, RolloutError> {
    // The one zip reader, with its consistency checks and its cap on module.json.
    crate::bundle::read_module_json(zip).map_err(|e| match e {
        crate::bundle::BundleError::BadModuleJson { reason } => RolloutError::ModuleJson {
            path: zip.to_path_buf(),
            detail: reason,
        },
        other => RolloutError::Zip {
            path: zip.to_path_buf(),
            detail: other.to_string(),
        },
    })
}

fn same_module(name: &str, version: ModuleVersion, module: &Module) -> bool {
    module.module_name == name && module.module_version() == Some(version)
}

/// The pre-flight: reads the live target and runs `check` (the validator) on it. Fails when the
/// report has errors, or when the cluster says uploads are disabled.
pub fn preflight(
    client: &Client,
    module: &ModuleJson,
    check: &dyn Fn(&Target) -> Report,
) -> Result<(LiveTarget, Report), RolloutError> {
    let live = live_target(client, None, Some(&module.module_name))?;
    // The same name and version already on the cluster is how a rollout is resumed or re-run
    // (the registration is then skipped), not a reason to refuse: hide it from the validator.
    let mut target = live.target.clone();
    if target.current_version == Some(module.version) {
        target.current_version = None;
    }
    if let Some(facts) = target.cluster.as_mut() {
        facts
            .modules
            .retain(|(name, version)| !(name == &module.module_name && *version == module.version));
    }
    let report = check(&target);
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
    Ok((live, report))
}

/// Runs a rollout of `zip` through `client` (bound to the cluster URL). `check` is the validator,
/// run on the live target before anything changes.
pub fn run(
    client: &Client,
    zip: &Path,
    options: &RolloutOptions,
    check: &dyn Fn(&Target) -> Report,
) -> Result<Rollout, RolloutError> {
    let module = read_module_json(zip)?;
    let zip_bytes = std::fs::metadata(zip)
        .map_err(|e| RolloutError::Zip {
            path: zip.to_path_buf(),
            detail: e.to_string(),
        })?
        .len();
    let listener = client.listener();
    listener.on_status(&format!(
        "pre-flight: checking {} {} against {}",
        module.module_name,
        module.version.semantic(),
        client.base().origin()
    ));
    let (live, report) = preflight(client, &module, check)?;
    let mut notes: Vec<String> = live.notes.clone();
    notes.extend(report.diagnostics.iter().map(|d| d.message.clone()));

    let file_name = zip
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "module.zip".to_string());
    let existing = live
        .modules
        .iter()
        .find(|m| same_module(&module.module_name, module.version, m))
        .map(|m| m.uid.0.clone());

    let mut rollout = Rollout {
        zip: zip.to_path_buf(),
        module_name: module.module_name.clone(),
        version: module.version,
        semantic_version: module.version.semantic().to_string(),
        zip_bytes,
        bundled: options.bundled,
        dry_run: options.dry_run,
        config: ConfigOutcome::NotAttempted,
        nodes: Vec::new(),
        plan: Vec::new(),
        rolled_back: false,
        notes,
    };

    if options.bundled {
        bundled_upload(client, zip, &file_name, existing, options, &mut rollout)?;
        return Ok(rollout);
    }

    let nodes = select_nodes(&live.nodes, options.nodes.as_deref())?;

    // Step 2: the configuration, once for the cluster.
    let registered_now = match existing {
        Some(uid) => {
            listener.on_status(&format!(
                "{} {} is already registered (uid {uid})",
                module.module_name, rollout.semantic_version
            ));
            rollout.config = ConfigOutcome::AlreadyRegistered(uid);
            None
        }
        None if options.dry_run => {
            rollout.plan.push(PlannedRequest {
                method: "POST",
                url: format!("{}/v2/modules/user-defined", client.base().origin()),
                bytes: serde_json::to_vec(&module.user_defined_config())
                    .map(|v| v.len() as u64)
                    .unwrap_or(0),
            });
            rollout.config = ConfigOutcome::WouldRegister;
            None
        }
        None => {
            let config = module.user_defined_config();
            rollout.plan.push(PlannedRequest {
                method: "POST",
                url: format!("{}/v2/modules/user-defined", client.base().origin()),
                bytes: serde_json::to_vec(&config)
                    .map(|v| v.len() as u64)
                    .unwrap_or(0),
            });
            listener.on_status(&format!(
                "registering {} {} with the cluster",
                module.module_name, rollout.semantic_version
            ));
            match client.register_user_defined(&config) {
                Ok(registered) => {
                    rollout.config = ConfigOutcome::Registered(registered.uid.0.clone());
                    Some(registered.uid.0)
                }
                // Registered meanwhile: by a retried request whose first answer was lost, or by
                // another run. Then it is not this run's to roll back.
                Err(error) if error.error_code() == Some("module_exists") => {
                    let uid = client
                        .modules()?
                        .into_iter()
                        .find(|m| same_module(&module.module_name, module.version, m))
                        .map(|m| m.uid.0)
                        .ok_or(error)?;
                    rollout.config = ConfigOutcome::AlreadyRegistered(uid);
                    None
                }
                Err(error) => return Err(error.into()),
            }
        }
    };

    // Steps 3 and 4: every node, in parallel, bounded.
    let upload = NodeUpload {
        client,
        zip,
        file_name: &file_name,
        module_name: &module.module_name,
        version: module.version,
        zip_bytes,
        options,
    };
    let (reports, planned) = upload.all(&nodes);
    rollout.nodes = reports;
    rollout.plan.extend(planned);

    if options.rollback_on_failure && !options.dry_run && !rollout.is_complete() {
        rollback(client, &upload, registered_now, &mut rollout);
    }
    Ok(rollout)
}

fn bundled_upload(
    client: &Client,
    zip: &Path,
    file_name: &str,
    existing: Option<String>,
    options: &RolloutOptions,
    rollout: &mut Rollout,
) -> Result<(), RolloutError> {
    let url = format!("{}/v2/modules", client.base().origin());
    if let Some(uid) = existing {
        rollout.config = ConfigOutcome::AlreadyRegistered(uid);
        return Ok(());
    }
    rollout.plan.push(PlannedRequest {
        method: "POST",
        url,
        bytes: rollout.zip_bytes,
    });
    if options.dry_run {
        rollout.config = ConfigOutcome::WouldRegister;
        return Ok(());
    }
    let file = UploadFile {
        path: zip.to_path_buf(),
        file_name: file_name.to_string(),
        progress_task: client.base().host.clone(),
    };
    let module = client.upload_bundled(&file)?;
    if let Some(action) = &module.action_uid {
        client.follow_action(&action.0, &options.poll)?;
    }
    rollout.config = ConfigOutcome::Registered(module.uid.0);
    Ok(())
}

fn select_nodes(all: &[Node], wanted: Option<&[String]>) -> Result<Vec<Node>, RolloutError> {
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

/// A node's report and the upload request it sent (or would send).
type NodeResult = (NodeReport, Option<PlannedRequest>);

struct NodeUpload<'a> {
    client: &'a Client,
    zip: &'a Path,
    file_name: &'a str,
    module_name: &'a str,
    version: ModuleVersion,
    zip_bytes: u64,
    options: &'a RolloutOptions,
}

impl NodeUpload<'_> {
    fn address_of(&self, node: &Node) -> String {
        node_address(node, self.options.external)
    }

    fn holds(&self, node_client: &Client) -> Result<bool, ClusterError> {
        Ok(node_client
            .artifacts()?
            .iter()
            .any(|a| a.module_name == self.module_name && a.version == Some(self.version)))
    }

    /// Runs every node through a pool of `concurrency` workers; results in node order.
    fn all(&self, nodes: &[Node]) -> (Vec<NodeReport>, Vec<PlannedRequest>) {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: Mutex<Vec<Option<NodeResult>>> = Mutex::new(vec![None; nodes.len()]);
        let workers = self.options.concurrency.clamp(1, nodes.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(node) = nodes.get(index) else { break };
                    let result = if stop.load(Ordering::SeqCst) {
                        (self.not_attempted(node), None)
                    } else {
                        let (report, fatal, planned) = self.one(node);
                        if fatal {
                            stop.store(true, Ordering::SeqCst);
                        }
                        (report, planned)
                    };
                    if let Ok(mut slots) = results.lock() {
                        slots[index] = Some(result);
                    }
                });
            }
        });
        let slots = results.into_inner().unwrap_or_default();
        let mut reports = Vec::with_capacity(nodes.len());
        let mut planned = Vec::new();
        for (slot, node) in slots.into_iter().zip(nodes) {
            match slot {
                Some((report, plan)) => {
                    reports.push(report);
                    planned.extend(plan);
                }
                None => reports.push(self.not_attempted(node)),
            }
        }
        (reports, planned)
    }

    fn not_attempted(&self, node: &Node) -> NodeReport {
        NodeReport {
            uid: node.uid.0.clone(),
            address: self.address_of(node),
            outcome: NodeOutcome::NotAttempted,
            bytes: 0,
            elapsed: Duration::ZERO,
            error: Some("stopped after a cluster-wide error on another node".to_string()),
        }
    }

    /// One node: list, upload when missing, verify. Returns the report, whether the error
    /// concerns the whole cluster (stop the others), and the upload request.
    fn one(&self, node: &Node) -> (NodeReport, bool, Option<PlannedRequest>) {
        let started = Instant::now();
        let address = self.address_of(node);
        let node_client = self.client.for_node(&address);
        let listener = self.client.listener();
        let task = format!("node {} {}", node.uid, address);
        let mut report = NodeReport {
            uid: node.uid.0.clone(),
            address: address.clone(),
            outcome: NodeOutcome::Failed,
            bytes: 0,
            elapsed: Duration::ZERO,
            error: None,
        };
        let finish = |mut report: NodeReport, error: Option<ClusterError>, planned| {
            report.elapsed = started.elapsed();
            let fatal = error
                .as_ref()
                .is_some_and(ClusterError::is_fatal_for_rollout);
            if let Some(error) = error {
                listener.on_warning(&format!("{task}: {error}"));
                report.error = Some(error.to_string());
            }
            (report, fatal, planned)
        };
        match self.holds(&node_client) {
            Ok(true) => {
                listener.on_status(&format!("{task}: already holds the artifact"));
                report.outcome = NodeOutcome::AlreadyPresent;
                return finish(report, None, None);
            }
            Ok(false) => {}
            Err(error) => return finish(report, Some(error), None),
        }
        let planned = PlannedRequest {
            method: "POST",
            url: format!(
                "{}/v2/local/modules/user-defined/artifacts",
                node_client.base().origin()
            ),
            bytes: self.zip_bytes,
        };
        if self.options.dry_run {
            report.outcome = NodeOutcome::WouldUpload;
            return finish(report, None, Some(planned));
        }
        let file = UploadFile {
            path: self.zip.to_path_buf(),
            file_name: self.file_name.to_string(),
            progress_task: task.clone(),
        };
        let upload_error = node_client.upload_artifact(&file).err();
        if upload_error
            .as_ref()
            .is_some_and(ClusterError::is_fatal_for_rollout)
        {
            return finish(report, upload_error, Some(planned));
        }
        // Verify: the node's own list is the truth, also after an error (the node may have
        // stored the artifact before the connection broke).
        match self.holds(&node_client) {
            Ok(true) => {
                report.outcome = NodeOutcome::Uploaded;
                report.bytes = self.zip_bytes;
                finish(report, None, Some(planned))
            }
            Ok(false) => {
                let error = upload_error.unwrap_or_else(|| ClusterError::BadResponse {
                    method: "GET",
                    url: format!(
                        "{}/v2/local/modules/user-defined/artifacts",
                        node_client.base().origin()
                    ),
                    detail: "the upload was accepted but the node does not list the artifact"
                        .to_string(),
                });
                finish(report, Some(error), Some(planned))
            }
            Err(list_error) => finish(
                report,
                Some(upload_error.unwrap_or(list_error)),
                Some(planned),
            ),
        }
    }
}

fn rollback(
    client: &Client,
    upload: &NodeUpload<'_>,
    registered_now: Option<String>,
    rollout: &mut Rollout,
) {
    let listener = client.listener();
    listener.on_status("rolling back: deleting what this run uploaded");
    let mut all_undone = true;
    for report in rollout.nodes.iter_mut() {
        if report.outcome != NodeOutcome::Uploaded {
            continue;
        }
        let node_client = client.for_node(&report.address);
        // Not found: a retried delete whose first attempt went through; it is gone either way.
        match node_client.delete_artifact(upload.module_name, upload.version) {
            Ok(()) | Err(ClusterError::NotFound { .. }) => report.outcome = NodeOutcome::RolledBack,
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
