//! What the emulated cluster knows: nodes, modules, per-node artifacts, databases, actions, faults
//! and the record of every request. Plain data behind one mutex that is never held across an
//! `await`; the HTTP side (`api.rs`) turns requests into calls on [`ClusterState`].

use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A misbehaviour injected into one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The node refuses connections: its listener is closed and its open connections are reset.
    Down,
    /// Every matching response is held back this long before it is sent.
    Slow(Duration),
    /// Matching request bodies cross this node's link at this many bytes per second.
    SlowLink(u64),
    /// The next `times` matching requests are answered `503 Service Unavailable`.
    Status503 {
        /// How many requests are answered this way before the node recovers.
        times: u32,
    },
    /// The next `times` matching requests are answered `409 Conflict` with `error_code: busy`.
    Busy409 {
        /// How many requests are answered this way before the node recovers.
        times: u32,
    },
    /// The next `times` matching uploads (multipart POSTs) are cut off: part of the body is read,
    /// then the connection is reset without an answer.
    DropMidUpload {
        /// How many uploads are cut off before the node recovers.
        times: u32,
    },
    /// The node serves a certificate signed by a CA that clients do not trust.
    WrongCertificate,
    /// The next `times` matching requests are carried out, then the connection is closed
    /// without an answer: the client's answer is lost although the work was done.
    LoseAnswer {
        /// How many requests are answered this way.
        times: u32,
    },
    /// Before the next `times` matching requests are served, this database object replaces
    /// the one with its uid (another operator or run changed it meanwhile).
    PutBdbBefore {
        /// The database as it is afterwards.
        bdb: Value,
        /// How many requests trigger it.
        times: u32,
    },
    /// Before the next `times` matching requests are served, node `on_node` stores this
    /// artifact (another run placed it meanwhile).
    PutArtifactBefore {
        /// The node that gets it (1-based).
        on_node: usize,
        /// The artifact it holds afterwards.
        artifact: Box<StoredArtifact>,
        /// How many requests trigger it.
        times: u32,
    },
    /// The next `times` matching requests are not carried out and are answered `200 OK` with
    /// an error object in the body, as a failing node or a proxy in front of it may answer.
    OkWithErrorBody {
        /// How many requests are answered this way before the node recovers.
        times: u32,
    },
}

impl Fault {
    /// Faults that act on the listener or the TLS handshake rather than on single requests.
    pub(crate) fn is_connection_level(&self) -> bool {
        matches!(self, Fault::Down | Fault::WrongCertificate)
    }

    fn same_kind(&self, other: &Fault) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Which requests a fault applies to: a method and/or a path prefix; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMatch {
    /// HTTP method, e.g. `POST`; `None` matches any method.
    pub method: Option<String>,
    /// Path prefix, e.g. `/v2/local/modules`; `None` matches any path.
    pub path_prefix: Option<String>,
}

impl RequestMatch {
    /// Matches every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches requests with this method and a path starting with `path_prefix`.
    pub fn new(method: &str, path_prefix: &str) -> Self {
        Self {
            method: Some(method.to_ascii_uppercase()),
            path_prefix: Some(path_prefix.to_owned()),
        }
    }

    /// Matches every request with this method.
    pub fn method(method: &str) -> Self {
        Self {
            method: Some(method.to_ascii_uppercase()),
            path_prefix: None,
        }
    }

    /// Matches every request whose path starts with `path_prefix`.
    pub fn path(path_prefix: &str) -> Self {
        Self {
            method: None,
            path_prefix: Some(path_prefix.to_owned()),
        }
    }

    /// Whether a request with this method and path is matched.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// A fault on one node, limited to the requests its matcher selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The requests the fault applies to (ignored for `Down` and `WrongCertificate`).
    pub matcher: RequestMatch,
    /// The fault, with its remaining count for counted faults.
    pub fault: Fault,
}

/// What a counted fault does to the request that consumed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountedFault {
    Status503,
    Busy409,
    LoseAnswer,
    DropMidUpload,
    OkWithErrorBody,
}

/// One request as the emulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub seq: u64,
    /// The node (1-based) that received it.
    pub node: usize,
    /// The local address it arrived on (the node's `addr`, or its external address).
    pub local_ip: IpAddr,
    /// Whether it came over TLS; `false` only on the optional plain-HTTP listener.
    pub tls: bool,
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Whether it carried an `Authorization` header (right or wrong).
    pub authorization: bool,
    /// Status answered; `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// The `error_code` of the answer, if it carried one.
    pub error_code: Option<String>,
    /// Request body bytes received.
    pub body_bytes: u64,
    /// The JSON body, when the handler read one.
    pub json_body: Option<Value>,
    /// Whether it carried `Expect: 100-continue`.
    pub expect_continue: bool,
    /// When it was recorded (its answer decided), to order requests across clusters.
    pub at: std::time::Instant,
}

impl RequestRecord {
    /// Whether this request sent credentials over plain HTTP.
    pub fn leaked_credentials(&self) -> bool {
        !self.tls && self.authorization
    }
}

/// A custom-module artifact stored on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredArtifact {
    /// `module_name` from the artifact's module.json.
    pub module_name: String,
    /// `version` from module.json.
    pub version: i64,
    /// `semantic_version` from module.json.
    pub semantic_version: String,
    /// Names of the dependencies module.json declares, sorted.
    pub dependencies: Vec<String>,
    /// Size of the uploaded zip in bytes.
    pub size: u64,
    /// Hex SHA-256 of the uploaded zip (computed from the stored file when first read through
    /// `Emulator::artifacts`, off the upload's path).
    pub sha256: String,
    /// File name the client gave in the multipart part.
    pub file_name: Option<String>,
    /// Where the zip is stored on disk.
    pub path: PathBuf,
    /// How many times this name and version was uploaded to the node.
    pub uploads: u32,
}

/// How an action ends; see [`ClusterState::next_action_outcome`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionOutcome {
    /// `queued → starting → running → running → completed`.
    Completed,
    /// `queued → starting → running → failed`, carrying the error.
    Failed {
        /// The action's `error_code`.
        error_code: String,
        /// The action's `error_message`.
        error_message: String,
    },
    /// `queued → starting → running → aborted`.
    Aborted,
    /// `queued → running → cancelling → cancelled`.
    Cancelled,
    /// The action uid is handed out but every poll answers 404.
    Unknown,
    /// `queued`, then `running` for this many polls, then `completed`: a long upgrade.
    RunsFor(u32),
}

impl ActionOutcome {
    /// A failing outcome with this error.
    pub fn failed(error_code: &str, error_message: &str) -> Self {
        ActionOutcome::Failed {
            error_code: error_code.to_owned(),
            error_message: error_message.to_owned(),
        }
    }

    fn steps(&self) -> Vec<(&'static str, u32)> {
        if let ActionOutcome::RunsFor(polls) = self {
            let polls = (*polls).max(1);
            let mut steps = vec![("queued", 0)];
            steps.extend((0..polls).map(|i| ("running", (i * 99 / polls).min(99))));
            steps.push(("completed", 100));
            return steps;
        }
        match self {
            ActionOutcome::Completed => vec![
                ("queued", 0),
                ("starting", 0),
                ("running", 40),
                ("running", 80),
                ("completed", 100),
            ],
            ActionOutcome::Failed { .. } => vec![
                ("queued", 0),
                ("starting", 0),
                ("running", 50),
                ("failed", 50),
            ],
            ActionOutcome::Aborted => vec![
                ("queued", 0),
                ("starting", 0),
                ("running", 30),
                ("aborted", 30),
            ],
            ActionOutcome::Cancelled => vec![
                ("queued", 0),
                ("running", 20),
                ("cancelling", 20),
                ("cancelled", 20),
            ],
            ActionOutcome::Unknown | ActionOutcome::RunsFor(_) => vec![],
        }
    }
}

/// A change that lands only when its action completes (or is undone when it does not).
#[derive(Clone, Debug, PartialEq)]
pub enum PendingChange {
    /// Replace the database with this uid by the given object.
    ReplaceBdb(Value),
    /// Remove the module with this uid.
    RemoveModule(String),
}

/// An asynchronous action and how far it has progressed.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionRecord {
    /// The `action_uid` handed to the client.
    pub uid: String,
    /// The action's name, e.g. `module_upload`.
    pub name: String,
    /// The object it acts on, e.g. `bdb:1`.
    pub object_name: String,
    /// The node that accepted the request.
    pub node_uid: usize,
    /// How it will end.
    pub outcome: ActionOutcome,
    /// Polls answered so far.
    pub polls: u32,
    /// Unix time of creation.
    pub created: u64,
    pub(crate) on_complete: Vec<PendingChange>,
    pub(crate) on_failure: Vec<PendingChange>,
}

impl ActionRecord {
    /// The status the last poll reported (`queued` before the first poll).
    pub fn status(&self) -> &'static str {
        let steps = self.outcome.steps();
        if steps.is_empty() {
            return "unknown";
        }
        let index = (self.polls.max(1) as usize - 1).min(steps.len() - 1);
        steps[index].0
    }

    /// Whether the action has reached a terminal state.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status(),
            "completed" | "failed" | "aborted" | "cancelled"
        )
    }

    fn to_json(&self, step_index: usize) -> Value {
        let steps = self.outcome.steps();
        let (status, progress) = steps[step_index.min(steps.len() - 1)];
        // RS has sent `progress` both as a string and as a float; alternate so clients cope with both.
        let progress = if step_index % 2 == 0 {
            json!(progress.to_string())
        } else {
            json!(f64::from(progress))
        };
        let mut object = json!({
            "action_uid": self.uid,
            "name": self.name,
            "object_name": self.object_name,
            "node_uid": self.node_uid.to_string(),
            "status": status,
            "progress": progress,
            "creation_time": self.created,
        });
        if status == "failed" {
            if let ActionOutcome::Failed {
                error_code,
                error_message,
            } = &self.outcome
            {
                object["error_code"] = json!(error_code);
                object["error_message"] = json!(error_message);
            }
        }
        object
    }
}

/// The operating system and architecture a node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlatform {
    /// `os_name`, e.g. `ubuntu` or `rhel`.
    pub os_name: String,
    /// `os_family`, e.g. `debian` or `rhel`.
    pub os_family: String,
    /// `os_semantic_version`, e.g. `22.04` or `9.4`.
    pub os_semantic_version: String,
    /// `os_version`, the human-readable release string.
    pub os_version: String,
    /// `architecture`, `x86_64` or `aarch64`.
    pub architecture: String,
}

impl NodePlatform {
    /// Ubuntu of this release (e.g. `22.04`) on x86_64.
    pub fn ubuntu(release: &str) -> Self {
        Self {
            os_name: "ubuntu".into(),
            os_family: "debian".into(),
            os_semantic_version: release.into(),
            os_version: format!("Ubuntu {release} LTS"),
            architecture: "x86_64".into(),
        }
    }

    /// Red Hat Enterprise Linux of this release (e.g. `9.4`) on x86_64.
    pub fn rhel(release: &str) -> Self {
        Self {
            os_name: "rhel".into(),
            os_family: "rhel".into(),
            os_semantic_version: release.into(),
            os_version: format!("Red Hat Enterprise Linux {release}"),
            architecture: "x86_64".into(),
        }
    }

    /// Amazon Linux of this release (`2` or `2023`) on x86_64.
    pub fn amazon_linux(release: &str) -> Self {
        Self {
            os_name: "amzn".into(),
            os_family: "rhel".into(),
            os_semantic_version: release.into(),
            os_version: format!("Amazon Linux {release}"),
            architecture: "x86_64".into(),
        }
    }

    /// The same OS on another architecture.
    pub fn with_architecture(mut self, architecture: &str) -> Self {
        self.architecture = architecture.into();
        self
    }

    /// The OS name the node gives itself, as RS names it: distro id + major version (`rhel9`,
    /// `ubuntu22`, `amzn2`).
    pub fn os_nick(&self) -> String {
        let (name, major) = self.os_name_and_major();
        format!("{name}{major}")
    }

    /// The distro id (RHEL rebuilds folded into `rhel`) and the major version.
    pub fn os_name_and_major(&self) -> (String, String) {
        let major = self
            .os_semantic_version
            .split('.')
            .next()
            .unwrap_or("")
            .to_owned();
        (fold_distro(&self.os_name), major)
    }
}

impl Default for NodePlatform {
    fn default() -> Self {
        NodePlatform::ubuntu("22.04")
    }
}

/// The id RS gives a distribution: RHEL rebuilds are RHEL, Amazon Linux is `amzn`.
pub fn fold_distro(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "rhel" | "redhat" | "centos" | "rocky" | "almalinux" | "alma" | "ol" | "oracle" => {
            "rhel".to_owned()
        }
        "amzn" | "amazon" => "amzn".to_owned(),
        _ => lower,
    }
}

/// How RS's unpacker reads one `operating_systems` entry: a name of letters followed by a
/// version (`ubuntu22.04` → ubuntu/22.04, `ubuntu22` → ubuntu/22); `None` when it cannot.
pub fn split_os_entry(entry: &str) -> Option<(String, String)> {
    let lower = entry.to_ascii_lowercase();
    let at = lower.find(|c: char| c.is_ascii_digit())?;
    let (name, version) = lower.split_at(at);
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase());
    let version_ok = version
        .split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    (name_ok && version_ok).then(|| (name.to_owned(), version.to_owned()))
}

/// One emulated node.
#[derive(Clone, Debug)]
pub struct NodeState {
    /// 1-based uid.
    pub uid: usize,
    /// The internal address (`addr`).
    pub ip: IpAddr,
    /// The external address, when the cluster exposes one.
    pub external_ip: Option<IpAddr>,
    /// OS and architecture.
    pub platform: NodePlatform,
    /// `status`: active, decommissioning, down, provisioning.
    pub status: String,
    /// A `software_version` that differs from the cluster's (a node mid-upgrade).
    pub software_version: Option<String>,
    /// Injected faults.
    pub faults: Vec<FaultRule>,
    /// Stored custom-module artifacts by (name, version).
    pub artifacts: BTreeMap<(String, i64), StoredArtifact>,
    /// Bumped whenever the node's listener restarts; older connections stop serving.
    pub epoch: u64,
    /// Where this node keeps its files.
    pub dir: PathBuf,
    /// An `addr` to report instead of the node's address (a hostile or broken cluster).
    pub reported_addr: Option<String>,
    /// A `uid` to report instead of the node's own (a hostile or broken cluster).
    pub reported_uid: Option<Value>,
}

/// A module in the cluster configuration store.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleRecord {
    /// The module's uid.
    pub uid: String,
    /// Registered through `POST /v2/modules/user-defined`.
    pub user_defined: bool,
    /// The module object as served (includes `uid`).
    pub object: Value,
}

impl ModuleRecord {
    fn field(&self, name: &str) -> Option<&str> {
        self.object.get(name).and_then(Value::as_str)
    }

    /// `module_name`.
    pub fn name(&self) -> &str {
        self.field("module_name").unwrap_or("")
    }

    /// `semantic_version`.
    pub fn semantic_version(&self) -> &str {
        self.field("semantic_version").unwrap_or("")
    }

    fn capabilities(&self) -> Vec<String> {
        string_list(self.object.get("capabilities"))
    }
}

/// An answer other than success: HTTP status, RS `error_code` and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// The first RS release whose docs list `POST /v1/bdbs/{uid}/upgrade`; the module-specific
/// upgrade paths answer only below it.
pub const GENERAL_UPGRADE_SINCE: &str = "7.4";

/// The Redis versions an RS release offers databases (`supported_database_versions`), oldest
/// first; the last is what a database moves to when an upgrade names none ("Upgrade a
/// database": the latest bundled version).
pub fn redis_versions_of(rs_version: &str) -> Vec<String> {
    let list: &[&str] = if compare_versions(rs_version, "8.2") != Ordering::Less {
        &["6.2", "7.2", "7.4", "8.0", "8.2"]
    } else if compare_versions(rs_version, "8.0") != Ordering::Less {
        &["6.2", "7.2", "7.4", "8.0"]
    } else if compare_versions(rs_version, "7.4") != Ordering::Less {
        &["6.2", "7.2", "7.4"]
    } else {
        &["6.2", "7.2"]
    };
    list.iter().map(|v| v.to_string()).collect()
}

/// The cluster's whole state.
#[derive(Debug)]
pub struct ClusterState {
    pub rs_version: String,
    pub allow_modules_upload: bool,
    pub cluster_name: String,
    pub node_uid_as_string: bool,
    /// Redis version assumed for a database that does not state one.
    pub default_redis_version: String,
    pub capabilities: Vec<(String, String)>,
    /// The Redis versions databases can run, oldest first (`supported_database_versions`).
    pub redis_versions: Vec<String>,
    /// Act as RS 7.8.2+ may: ignore `new_module` and move every module of the database to
    /// the newest version that fits its Redis version.
    pub ignore_new_module: bool,
    /// Answer `?dry_run=true` on the upgrade route (reported, not documented); off: the query
    /// is ignored and the upgrade runs.
    pub upgrade_dry_run: bool,
    /// `redis_upgrade_policy` of the cluster object (`major` or `latest`), when it reports one.
    pub redis_upgrade_policy: Option<String>,
    /// `default_redis_version` of the cluster object: with the `major` policy, the newest Redis
    /// a database may move to.
    pub policy_default_redis_version: Option<String>,
    pub nodes: Vec<NodeState>,
    pub modules: Vec<ModuleRecord>,
    pub bdbs: Vec<Value>,
    pub actions: Vec<ActionRecord>,
    pub scripted_outcomes: VecDeque<ActionOutcome>,
    pub log: Vec<RequestRecord>,
    pub max_requests: usize,
    pub refused_over_budget: u64,
    pub next_seq: u64,
}

/// What to do with a request before routing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Reset the connection without an answer (node down, stale connection, over budget).
    Refuse,
    /// Apply this counted fault.
    Fault(CountedFault),
    /// Serve it normally, delayed by `slow`.
    Serve {
        slow: Option<Duration>,
        /// The pace of the request body, bytes per second, when this node's link is slow.
        link: Option<u64>,
    },
}

/// Paths of the multipart upload endpoints, the only ones `DropMidUpload` cuts.
pub fn is_upload(method: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    method.eq_ignore_ascii_case("POST")
        && matches!(
            path,
            "/v1/modules" | "/v2/modules" | "/v2/local/modules/user-defined/artifacts"
        )
}

impl ClusterState {
    fn node(&self, node: usize) -> &NodeState {
        &self.nodes[node - 1]
    }

    /// Whether `Fault::Down` is set on the node.
    pub fn is_down(&self, node: usize) -> bool {
        self.node(node)
            .faults
            .iter()
            .any(|rule| rule.fault == Fault::Down)
    }

    /// Whether `Fault::WrongCertificate` is set on the node.
    pub fn serves_wrong_certificate(&self, node: usize) -> bool {
        self.node(node)
            .faults
            .iter()
            .any(|rule| rule.fault == Fault::WrongCertificate)
    }

    /// Adds a fault; `Down`, `WrongCertificate` and `Slow` replace an earlier one of their kind.
    pub fn add_fault(&mut self, node: usize, matcher: RequestMatch, fault: Fault) {
        let faults = &mut self.nodes[node - 1].faults;
        if matches!(
            fault,
            Fault::Down | Fault::WrongCertificate | Fault::Slow(_) | Fault::SlowLink(_)
        ) {
            faults.retain(|rule| !rule.fault.same_kind(&fault));
        }
        faults.push(FaultRule { matcher, fault });
    }

    /// Decides, and counts, what happens to a request arriving on `node`.
    pub fn admit(&mut self, node: usize, epoch: u64, method: &str, path: &str) -> Admission {
        if self.log.len() >= self.max_requests {
            self.refused_over_budget += 1;
            return Admission::Refuse;
        }
        let upload = is_upload(method, path);
        let state = &mut self.nodes[node - 1];
        if state.epoch != epoch || state.faults.iter().any(|r| r.fault == Fault::Down) {
            return Admission::Refuse;
        }
        let mut slow = None;
        let mut link = None;
        let mut counted = None;
        let mut put_bdb: Vec<Value> = Vec::new();
        let mut put_artifact: Vec<(usize, StoredArtifact)> = Vec::new();
        for rule in state.faults.iter_mut() {
            if !rule.matcher.matches(method, path) {
                continue;
            }
            match &mut rule.fault {
                Fault::Slow(delay) => slow = Some(*delay),
                Fault::SlowLink(rate) => link = Some(*rate),
                Fault::Status503 { times } if counted.is_none() && *times > 0 => {
                    *times -= 1;
                    counted = Some(CountedFault::Status503);
                }
                Fault::Busy409 { times } if counted.is_none() && *times > 0 => {
                    *times -= 1;
                    counted = Some(CountedFault::Busy409);
                }
                Fault::DropMidUpload { times } if upload && counted.is_none() && *times > 0 => {
                    *times -= 1;
                    counted = Some(CountedFault::DropMidUpload);
                }
                Fault::LoseAnswer { times } if counted.is_none() && *times > 0 => {
                    *times -= 1;
                    counted = Some(CountedFault::LoseAnswer);
                }
                Fault::PutBdbBefore { bdb, times } if *times > 0 => {
                    *times -= 1;
                    put_bdb.push(bdb.clone());
                }
                Fault::PutArtifactBefore {
                    on_node,
                    artifact,
                    times,
                } if *times > 0 => {
                    *times -= 1;
                    put_artifact.push((*on_node, (**artifact).clone()));
                }
                Fault::OkWithErrorBody { times } if counted.is_none() && *times > 0 => {
                    *times -= 1;
                    counted = Some(CountedFault::OkWithErrorBody);
                }
                _ => {}
            }
        }
        // Spent counted faults disappear, so `faults()` shows only what is still armed.
        state.faults.retain(|rule| {
            !matches!(
                rule.fault,
                Fault::Status503 { times: 0 }
                    | Fault::Busy409 { times: 0 }
                    | Fault::DropMidUpload { times: 0 }
                    | Fault::OkWithErrorBody { times: 0 }
                    | Fault::LoseAnswer { times: 0 }
                    | Fault::PutBdbBefore { times: 0, .. }
                    | Fault::PutArtifactBefore { times: 0, .. }
            )
        });
        for (on_node, artifact) in put_artifact {
            let key = (artifact.module_name.clone(), artifact.version);
            self.nodes[on_node - 1].artifacts.insert(key, artifact);
        }
        for bdb in put_bdb {
            let uid = uid_string(bdb.get("uid"));
            match self.bdb_index(&uid) {
                Some(i) => self.bdbs[i] = bdb,
                None => self.bdbs.push(bdb),
            }
        }
        match counted {
            Some(fault) => Admission::Fault(fault),
            None => Admission::Serve { slow, link },
        }
    }

    /// Appends to the request record.
    pub fn record(&mut self, mut record: RequestRecord) {
        record.seq = self.next_seq;
        self.next_seq += 1;
        self.log.push(record);
    }

    /// Whether the cluster runs at least this RS version.
    pub fn rs_at_least(&self, version: &str) -> bool {
        compare_versions(&self.rs_version, version) != Ordering::Less
    }

    /// RS ≥ 8.2 refuses module uploads until `allow_modules_upload` is set.
    pub fn upload_disabled(&self) -> Option<ApiError> {
        (self.rs_at_least("8.2") && !self.allow_modules_upload).then(|| {
            ApiError::new(
                403,
                "modules_upload_disabled",
                "Module upload is disabled on this cluster; enable it with \
                 PUT /v1/cluster {\"allow_modules_upload\": true}",
            )
        })
    }

    fn node_uid_json(&self, uid: usize) -> Value {
        if self.node_uid_as_string {
            json!(uid.to_string())
        } else {
            json!(uid)
        }
    }

    /// The node object `GET /v1/nodes` serves.
    pub fn node_json(&self, node: &NodeState) -> Value {
        let external: Vec<String> = node.external_ip.iter().map(|ip| ip.to_string()).collect();
        json!({
            "uid": node.reported_uid.clone().unwrap_or_else(|| self.node_uid_json(node.uid)),
            "addr": node.reported_addr.clone().unwrap_or_else(|| node.ip.to_string()),
            "external_addr": external,
            "status": node.status,
            "architecture": node.platform.architecture,
            "os_family": node.platform.os_family,
            "os_name": node.platform.os_name,
            "os_semantic_version": node.platform.os_semantic_version,
            "os_version": node.platform.os_version,
            "software_version": node.software_version.clone().unwrap_or_else(|| self.rs_version.clone()),
            "accept_servers": true,
            "cores": 4,
            "total_memory": 17_179_869_184u64,
            "shard_count": 0,
            "shard_list": [],
            "rack_id": "",
            "supported_database_versions": self
                .redis_versions
                .iter()
                .map(|v| json!({"db_type": "redis", "version": v}))
                .collect::<Vec<Value>>(),
        })
    }

    /// The cluster object `GET /v1/cluster` serves.
    pub fn cluster_json(&self) -> Value {
        let mut cluster = json!({
            "name": self.cluster_name,
            "created_time": "2024-01-01T00:00:00Z",
            "email_alerts": false,
            "rack_aware": false,
        });
        if self.rs_at_least("8.2") {
            cluster["allow_modules_upload"] = json!(self.allow_modules_upload);
        }
        if let Some(policy) = &self.redis_upgrade_policy {
            cluster["redis_upgrade_policy"] = json!(policy);
        }
        if let Some(default) = &self.policy_default_redis_version {
            cluster["default_redis_version"] = json!(default);
        }
        cluster
    }

    /// The capability list `GET /v1/cluster/module-capabilities` serves.
    pub fn capabilities_json(&self) -> Value {
        let list: Vec<Value> = self
            .capabilities
            .iter()
            .map(|(name, desc)| json!({"name": name, "desc": desc}))
            .collect();
        json!({ "all_capabilities": list })
    }

    /// The module with this uid.
    pub fn module(&self, uid: &str) -> Option<&ModuleRecord> {
        self.modules.iter().find(|m| m.uid == uid)
    }

    /// The module with this name (case-insensitive) and semantic version.
    pub fn module_by_name_version(
        &self,
        name: &str,
        semantic_version: &str,
    ) -> Option<&ModuleRecord> {
        self.modules.iter().find(|m| {
            m.name().eq_ignore_ascii_case(name) && m.semantic_version() == semantic_version
        })
    }

    /// Registers a module and returns its uid.
    pub fn add_module(&mut self, mut object: Value, user_defined: bool) -> String {
        let uid = match object.get("uid").and_then(Value::as_str) {
            Some(uid) => uid.to_owned(),
            None => random_hex(32),
        };
        object["uid"] = json!(uid);
        if object.get("is_bundled").is_none() {
            object["is_bundled"] = json!(false);
        }
        self.modules.retain(|m| m.uid != uid);
        self.modules.push(ModuleRecord {
            uid: uid.clone(),
            user_defined,
            object,
        });
        uid
    }

    /// Capabilities the module lacks for databases that use a module of the same name.
    pub fn capabilities_missing_for_bdbs(
        &self,
        module_name: &str,
        capabilities: &[String],
    ) -> Vec<String> {
        let mut missing = Vec::new();
        for bdb in &self.bdbs {
            let uses_module = bdb
                .get("module_list")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|entry| {
                    entry
                        .get("module_name")
                        .and_then(Value::as_str)
                        .is_some_and(|name| name.eq_ignore_ascii_case(module_name))
                });
            if !uses_module {
                continue;
            }
            for needed in bdb_required_capabilities(bdb) {
                if !capabilities.iter().any(|c| c == needed) && !missing.iter().any(|m| m == needed)
                {
                    missing.push(needed.to_owned());
                }
            }
        }
        missing
    }

    /// Starts an action; its outcome is the next scripted one, else `Completed`.
    pub fn new_action(&mut self, name: &str, object_name: &str, node: usize) -> String {
        self.new_action_with(name, object_name, node, Vec::new(), Vec::new())
    }

    /// Starts an action whose changes land when it completes, or are undone when it does not.
    pub fn new_action_with(
        &mut self,
        name: &str,
        object_name: &str,
        node: usize,
        on_complete: Vec<PendingChange>,
        on_failure: Vec<PendingChange>,
    ) -> String {
        let uid = action_uid();
        let outcome = self
            .scripted_outcomes
            .pop_front()
            .unwrap_or(ActionOutcome::Completed);
        self.actions.push(ActionRecord {
            uid: uid.clone(),
            name: name.to_owned(),
            object_name: object_name.to_owned(),
            node_uid: node,
            outcome,
            polls: 0,
            created: unix_now(),
            on_complete,
            on_failure,
        });
        uid
    }

    /// Answers one poll of an action and advances it; `None` means 404.
    pub fn poll_action(&mut self, uid: &str) -> Option<Value> {
        let index = self.actions.iter().position(|a| a.uid == uid)?;
        let action = &mut self.actions[index];
        let steps = action.outcome.steps();
        if steps.is_empty() {
            return None;
        }
        let step = (action.polls as usize).min(steps.len() - 1);
        action.polls = action.polls.saturating_add(1);
        let answer = action.to_json(step);
        let status = steps[step].0;
        let changes = match status {
            "completed" => std::mem::take(&mut action.on_complete),
            "failed" | "aborted" | "cancelled" => {
                action.on_complete.clear();
                std::mem::take(&mut action.on_failure)
            }
            _ => Vec::new(),
        };
        for change in changes {
            self.apply(change);
        }
        Some(answer)
    }

    /// The actions as `GET /v1/actions` lists them, without advancing them.
    pub fn actions_json(&self) -> Value {
        let list: Vec<Value> = self
            .actions
            .iter()
            .filter(|a| !a.outcome.steps().is_empty())
            .map(|a| a.to_json((a.polls.max(1) - 1) as usize))
            .collect();
        json!({ "actions": list, "state-machines": [] })
    }

    fn apply(&mut self, change: PendingChange) {
        match change {
            PendingChange::ReplaceBdb(new) => {
                let uid = uid_string(new.get("uid"));
                if let Some(slot) = self
                    .bdbs
                    .iter_mut()
                    .find(|b| uid_string(b.get("uid")) == uid)
                {
                    *slot = new;
                }
            }
            PendingChange::RemoveModule(uid) => self.modules.retain(|m| m.uid != uid),
        }
    }

    /// `406 module_in_use` when a database runs the module `uid`.
    pub fn refuse_if_in_use(&self, uid: &str) -> Result<(), ApiError> {
        let users: Vec<String> = self
            .bdbs
            .iter()
            .filter(|bdb| {
                bdb.get("module_list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|m| m.get("module_id").and_then(Value::as_str) == Some(uid))
            })
            .map(|bdb| uid_string(bdb.get("uid")))
            .collect();
        if users.is_empty() {
            Ok(())
        } else {
            Err(ApiError::new(
                406,
                "module_in_use",
                format!("module {uid} is in use by database(s) {}", users.join(", ")),
            ))
        }
    }

    /// RS's `is_redis_version_compatible()`: a module that declares `compatible_redis_version`
    /// fits a database only when it equals the database's Redis major.minor; one without it,
    /// when `min_redis_version` is not above the database's Redis and of the same major.
    fn fits_redis(module: &ModuleRecord, redis: &str) -> bool {
        let major_minor =
            |v: &str| parse_version(v).map(|p| (p[0], p.get(1).copied().unwrap_or(0)));
        match module
            .object
            .get("compatible_redis_version")
            .and_then(Value::as_str)
        {
            Some(compatible) => major_minor(compatible) == major_minor(redis),
            None => match module.field("min_redis_version") {
                None => true,
                Some(min) => {
                    compare_versions(min, redis) != Ordering::Greater
                        && major_minor(min).map(|m| m.0) == major_minor(redis).map(|r| r.0)
                }
            },
        }
    }

    /// RS's `get_latest_allowed_module()`: the highest semantic version of `name` among the
    /// modules that fit a database on Redis `redis`.
    fn newest_fitting(&self, name: &str, redis: &str) -> Option<ModuleRecord> {
        self.modules
            .iter()
            .filter(|m| m.name().eq_ignore_ascii_case(name))
            .filter(|m| Self::fits_redis(m, redis))
            .max_by(|a, b| compare_versions(a.semantic_version(), b.semantic_version()))
            .cloned()
    }

    /// The index of the database with this uid.
    /// The database at `index` as `GET /v1/bdbs` shows it: `active-change-pending` while an
    /// action on it has not ended, as RS shows a database being upgraded.
    pub fn bdb_view(&self, index: usize) -> Value {
        let mut bdb = self.bdbs[index].clone();
        let object = format!("bdb:{}", uid_string(bdb.get("uid")));
        let changing = self
            .actions
            .iter()
            .any(|a| a.object_name == object && !a.outcome.steps().is_empty() && !a.is_finished());
        if changing {
            bdb["status"] = json!("active-change-pending");
        }
        bdb
    }

    pub fn bdb_index(&self, uid: &str) -> Option<usize> {
        self.bdbs
            .iter()
            .position(|b| uid_string(b.get("uid")) == uid)
    }

    /// The `software_version`s the nodes run, when they differ (a cluster mid-upgrade).
    fn mixed_software_versions(&self) -> Option<Vec<String>> {
        let mut versions: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                n.software_version
                    .clone()
                    .unwrap_or_else(|| self.rs_version.clone())
            })
            .collect();
        versions.sort();
        versions.dedup();
        (versions.len() > 1).then_some(versions)
    }

    /// Validates and schedules a module upgrade on a database; see the three upgrade endpoints.
    pub fn upgrade_bdb(
        &mut self,
        bdb_uid: &str,
        body: &Value,
        style: UpgradeStyle,
        node: usize,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let index = self.bdb_index(bdb_uid).ok_or_else(|| {
            ApiError::new(404, "db_not_exist", format!("bdb {bdb_uid} not found"))
        })?;
        let request = body.as_object().ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_schema",
                "the request body must be a JSON object",
            )
        })?;
        for flag in [
            "preserve_roles",
            "may_discard_data",
            "force_restart",
            "keep_redis_version",
            "keep_crdt_protocol_version",
            "force_discard",
            "latest_with_modules",
            "swap_roles",
        ] {
            if request.get(flag).is_some_and(|v| !v.is_boolean()) {
                return Err(ApiError::new(
                    400,
                    "invalid_schema",
                    format!("{flag} must be a boolean"),
                ));
            }
        }
        if let Some(versions) = self.mixed_software_versions() {
            return Err(ApiError::new(
                400,
                "upgrade_bdb_failed",
                format!(
                    "not all nodes upgraded to the same version ({})",
                    versions.join(", ")
                ),
            ));
        }
        let mut bdb = self.bdbs[index].clone();
        let crdt = bdb.get("crdt") == Some(&Value::Bool(true));
        let current_redis = bdb
            .get("redis_version")
            .and_then(Value::as_str)
            .unwrap_or(&self.default_redis_version)
            .to_owned();
        // "When you upgrade an existing database, it uses the latest bundled Redis version
        // unless you specify a different version with the redis_version option."
        let keep = request.get("keep_redis_version") == Some(&Value::Bool(true));
        let latest_redis = self
            .redis_versions
            .last()
            .cloned()
            .unwrap_or_else(|| current_redis.clone());
        let target_redis = match (style, request.get("redis_version")) {
            (UpgradeStyle::Bdb, Some(Value::String(v))) if parse_version(v).is_some() => {
                let offered = self.redis_versions.iter().any(|o| {
                    compare_versions(o, v) == Ordering::Equal || v.starts_with(&format!("{o}."))
                });
                if !offered {
                    return Err(ApiError::new(
                        406,
                        "redis_version_not_supported",
                        format!("Redis {v} is not among the versions this cluster offers"),
                    ));
                }
                v.clone()
            }
            (UpgradeStyle::Bdb, Some(other)) => {
                return Err(ApiError::new(
                    400,
                    "invalid_schema",
                    format!("bad redis_version {other}"),
                ))
            }
            (UpgradeStyle::Bdb, None) if !keep => latest_redis,
            _ => current_redis.clone(),
        };
        let major_minor =
            |v: &str| parse_version(v).map(|p| (p[0], p.get(1).copied().unwrap_or(0)));
        if major_minor(&target_redis) < major_minor(&current_redis) {
            return Err(ApiError::new(
                400,
                "upgrade_bdb_failed",
                format!(
                    "cannot move database {bdb_uid} from Redis {current_redis} to the lower {target_redis}"
                ),
            ));
        }
        // The policy limits a database to the newest major release the cluster's default names.
        if self.redis_upgrade_policy.as_deref() == Some("major")
            && major_minor(&target_redis) != major_minor(&current_redis)
        {
            if let Some(default) = &self.policy_default_redis_version {
                if major_minor(&target_redis) > major_minor(default) {
                    return Err(ApiError::new(
                        400,
                        "redis_upgrade_policy_mismatch",
                        format!(
                            "the cluster's redis_upgrade_policy is major (default Redis {default}); Redis {target_redis} is not a major release it allows"
                        ),
                    ));
                }
            }
        }

        let requested = match request.get("modules") {
            Some(Value::Array(list)) if !list.is_empty() => list.clone(),
            Some(Value::Array(_)) | None if style == UpgradeStyle::Bdb => Vec::new(),
            Some(_) | None => {
                return Err(ApiError::new(
                    400,
                    "invalid_schema",
                    "modules must be a non-empty list of {current_module | module_name + \
                     current_semantic_version, new_module, new_module_args}",
                ))
            }
        };
        let latest = request.get("latest_with_modules") == Some(&Value::Bool(true));

        let mut module_list: Vec<Value> = bdb
            .get("module_list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut plan: Vec<(usize, ModuleRecord, Option<Value>)> = Vec::new();
        for entry in &requested {
            let entry = entry.as_object().ok_or_else(|| {
                ApiError::new(400, "invalid_schema", "each module must be an object")
            })?;
            let slot = locate_bdb_module(&module_list, entry)?;
            let new_uid = entry
                .get("new_module")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalid_schema",
                        "new_module (a module uid) is required",
                    )
                })?;
            let new = self.module(new_uid).cloned().ok_or_else(|| {
                ApiError::new(
                    406,
                    "missing_module",
                    format!("module {new_uid} is not present in the cluster"),
                )
            })?;
            let args = match entry.get("new_module_args") {
                None => None,
                Some(Value::String(s)) => Some(json!(s)),
                Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
                    let joined: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                    Some(json!(joined.join(" ")))
                }
                Some(_) => {
                    return Err(ApiError::new(
                        400,
                        "invalid_schema",
                        "new_module_args must be a string or a list of strings",
                    ))
                }
            };
            if !Self::fits_redis(&new, &target_redis) {
                return Err(ApiError::new(
                    406,
                    "redis_incompatible_version",
                    format!(
                        "module {} {} is not compatible with Redis {target_redis}",
                        new.name(),
                        new.semantic_version()
                    ),
                ));
            }
            plan.push((slot, new, args));
        }
        // RS 7.8.2+ "will always upgrade modules": every other module of the database moves to
        // the newest build that fits its (new) Redis version; so do the named ones where the
        // cluster ignores `new_module` (reported).
        if style == UpgradeStyle::Bdb && (self.rs_at_least("7.8.2") || self.ignore_new_module) {
            let asked_args: Vec<(String, Option<Value>)> = plan
                .iter()
                .map(|(_, m, a)| (m.name().to_owned(), a.clone()))
                .collect();
            if self.ignore_new_module {
                plan.clear();
            }
            for (slot, entry) in module_list.iter().enumerate() {
                if plan.iter().any(|(s, _, _)| *s == slot) {
                    continue;
                }
                let name = entry
                    .get("module_name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let current = entry
                    .get("semantic_version")
                    .and_then(Value::as_str)
                    .unwrap_or("0");
                let current_fits = entry
                    .get("module_id")
                    .and_then(Value::as_str)
                    .and_then(|id| self.module(id))
                    .is_none_or(|m| Self::fits_redis(m, &target_redis));
                match self.newest_fitting(name, &target_redis) {
                    Some(newest)
                        if compare_versions(newest.semantic_version(), current)
                            == Ordering::Greater
                            || !current_fits =>
                    {
                        let args = asked_args
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(name))
                            .and_then(|(_, a)| a.clone());
                        plan.push((slot, newest, args));
                    }
                    Some(_) => {}
                    None if current_fits => {}
                    None => {
                        return Err(ApiError::new(
                            400,
                            "upgrade_bdb_failed",
                            format!(
                                "Unable to find a version of the module {name} that is supported by target redis version of BDB {target_redis}"
                            ),
                        ))
                    }
                }
            }
        }
        if requested.is_empty() && latest {
            for (slot, entry) in module_list.iter().enumerate() {
                let name = entry
                    .get("module_name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let current = entry
                    .get("semantic_version")
                    .and_then(Value::as_str)
                    .unwrap_or("0");
                let newest = self
                    .modules
                    .iter()
                    .filter(|m| m.name().eq_ignore_ascii_case(name))
                    .filter(|m| {
                        compare_versions(m.semantic_version(), current) == Ordering::Greater
                    })
                    .max_by(|a, b| compare_versions(a.semantic_version(), b.semantic_version()));
                if let Some(newest) = newest {
                    if !plan.iter().any(|(s, _, _)| *s == slot) {
                        plan.push((slot, newest.clone(), None));
                    }
                }
            }
        }

        let needed = bdb_required_capabilities(&bdb);
        for (slot, new, _) in &plan {
            let current = &module_list[*slot];
            let current_name = current
                .get("module_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !new.name().eq_ignore_ascii_case(current_name) {
                return Err(ApiError::new(
                    400,
                    "invalid_schema",
                    format!(
                        "new_module {} is {}, not {current_name}",
                        new.uid,
                        new.name()
                    ),
                ));
            }
            let current_version = current
                .get("semantic_version")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    let id = current.get("module_id").and_then(Value::as_str)?;
                    Some(self.module(id)?.semantic_version().to_owned())
                })
                .unwrap_or_else(|| "0.0.0".to_owned());
            if compare_versions(new.semantic_version(), &current_version) == Ordering::Less {
                return Err(ApiError::new(
                    406,
                    "module_downgrade_unsupported",
                    format!(
                        "cannot downgrade {current_name} from {current_version} to {}",
                        new.semantic_version()
                    ),
                ));
            }
            if let Some(min) = new.field("min_redis_version") {
                if compare_versions(min, &target_redis) == Ordering::Greater {
                    return Err(ApiError::new(
                        406,
                        "redis_incompatible_version",
                        format!(
                            "{current_name} {} needs Redis {min}; the database runs {target_redis}",
                            new.semantic_version()
                        ),
                    ));
                }
            }
            if let Some(min) = new.field("min_redis_pack_version") {
                if compare_versions(min, &self.rs_version) == Ordering::Greater {
                    return Err(ApiError::new(
                        406,
                        "redis_pack_incompatible_version",
                        format!(
                            "{current_name} {} needs Redis Enterprise {min}; the cluster runs {}",
                            new.semantic_version(),
                            self.rs_version
                        ),
                    ));
                }
            }
            let has = new.capabilities();
            let missing: Vec<&str> = needed
                .iter()
                .copied()
                .filter(|c| !has.iter().any(|h| h == c))
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::new(
                    406,
                    "unsupported_module_capabilities",
                    format!(
                        "{current_name} {} lacks capabilities the database uses: {}",
                        new.semantic_version(),
                        missing.join(", ")
                    ),
                ));
            }
        }

        for (slot, new, args) in &plan {
            let entry = &mut module_list[*slot];
            entry["module_id"] = json!(new.uid);
            entry["semantic_version"] = json!(new.semantic_version());
            if let Some(args) = args {
                entry["module_args"] = args.clone();
            }
        }
        // Moving to Redis 8 brings the modules it bundles into the database (not for
        // Active-Active), `search` taking the place of `searchlight`.
        let to_redis_8 = major_minor(&target_redis).is_some_and(|(major, _)| major >= 8)
            && major_minor(&current_redis).is_some_and(|(major, _)| major < 8);
        if style == UpgradeStyle::Bdb && to_redis_8 && !crdt {
            module_list
                .retain(|m| m.get("module_name").and_then(Value::as_str) != Some("searchlight"));
            for name in REDIS_8_BUNDLED_MODULES {
                let present = module_list.iter().any(|m| {
                    m.get("module_name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                });
                if present {
                    continue;
                }
                let entry = match self.newest_fitting(name, &target_redis) {
                    Some(module) => json!({
                        "module_id": module.uid,
                        "module_name": module.name(),
                        "semantic_version": module.semantic_version(),
                        "module_args": "",
                    }),
                    None => {
                        let (major, minor) = major_minor(&target_redis).unwrap_or((8, 0));
                        json!({
                            "module_id": format!("bundled-{name}"),
                            "module_name": name,
                            "semantic_version": format!("{major}.{minor}.0"),
                            "module_args": "",
                        })
                    }
                };
                module_list.push(entry);
            }
        }
        bdb["module_list"] = json!(module_list);
        if style == UpgradeStyle::Bdb {
            bdb["redis_version"] = json!(target_redis);
        }
        // Reported: `?dry_run=true` answers the resulting database and changes nothing.
        if dry_run && self.upgrade_dry_run {
            return Ok(bdb);
        }
        let name = match style {
            UpgradeStyle::Bdb => "bdb_upgrade",
            UpgradeStyle::BdbModules | UpgradeStyle::LegacyModules => "module_upgrade",
        };
        let action = self.new_action_with(
            name,
            &format!("bdb:{bdb_uid}"),
            node,
            vec![PendingChange::ReplaceBdb(bdb.clone())],
            Vec::new(),
        );
        let answer = match style {
            UpgradeStyle::Bdb => {
                let mut answer = self.bdbs[index].clone();
                answer["action_uid"] = json!(action);
                answer
            }
            UpgradeStyle::BdbModules | UpgradeStyle::LegacyModules => {
                let first = plan.first();
                json!({
                    "uid": bdb.get("uid").cloned().unwrap_or(Value::Null),
                    "name": bdb.get("name").cloned().unwrap_or(Value::Null),
                    "module_id": first.map(|(_, m, _)| m.uid.clone()),
                    "module_name": first.map(|(_, m, _)| m.name().to_owned()),
                    "semantic_version": first.map(|(_, m, _)| m.semantic_version().to_owned()),
                    "action_uid": action,
                })
            }
        };
        Ok(answer)
    }
}

/// The modules Redis 8 bundles, which an upgrade to Redis 8 adds to a database.
pub const REDIS_8_BUNDLED_MODULES: [&str; 4] = ["search", "timeseries", "bf", "ReJSON"];

/// The three ways RS exposes a module upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeStyle {
    /// `POST /v1/bdbs/{uid}/upgrade` (RS ≥ 7.8.2): answers the BDB object.
    Bdb,
    /// `POST /v1/bdbs/{uid}/modules/upgrade`.
    BdbModules,
    /// `POST /v1/modules/upgrade/bdb/{uid}` (deprecated).
    LegacyModules,
}

/// Finds the database's module an upgrade entry names, by `current_module` (uid) or by
/// `module_name` plus optional `current_semantic_version` — the two forms the upgrade reference shows.
fn locate_bdb_module(module_list: &[Value], entry: &Map<String, Value>) -> Result<usize, ApiError> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(current) = entry.get("current_module") {
        let current = current.as_str().ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_schema",
                "current_module must be a module uid string",
            )
        })?;
        return module_list
            .iter()
            .position(|m| text(m, "module_id").as_deref() == Some(current))
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "invalid_schema",
                    format!("the database does not use module {current}"),
                )
            });
    }
    let Some(name) = entry.get("module_name").and_then(Value::as_str) else {
        return Err(ApiError::new(
            400,
            "invalid_schema",
            "each module needs current_module, or module_name with current_semantic_version",
        ));
    };
    let version = entry
        .get("current_semantic_version")
        .and_then(Value::as_str);
    module_list
        .iter()
        .position(|m| {
            text(m, "module_name").is_some_and(|n| n.eq_ignore_ascii_case(name))
                && version.is_none_or(|v| text(m, "semantic_version").as_deref() == Some(v))
        })
        .ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_schema",
                format!("the database does not use {name} {}", version.unwrap_or("")),
            )
        })
}

/// Capabilities a database's configuration needs from every module it runs ("Redis modules: capabilities" in the module object reference).
pub fn bdb_required_capabilities(bdb: &Value) -> Vec<&'static str> {
    let mut needed = Vec::new();
    let truthy = |key: &str| bdb.get(key) == Some(&Value::Bool(true));
    if truthy("crdt") {
        needed.push("crdb");
    }
    if truthy("sharding")
        || bdb
            .get("shards_count")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 1)
    {
        needed.push("clustering");
    }
    match bdb.get("data_persistence").and_then(Value::as_str) {
        Some("aof") => needed.push("persistence_aof"),
        Some("snapshot") => needed.push("persistence_rdb"),
        _ => {}
    }
    if bdb
        .get("replica_sources")
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty())
    {
        needed.push("replica_of");
    }
    if truthy("backup") {
        needed.push("backup_restore");
    }
    if truthy("bigstore") {
        needed.push("flash");
    }
    if bdb
        .get("eviction_policy")
        .and_then(Value::as_str)
        .is_some_and(|p| p != "noeviction")
    {
        needed.push("eviction_expiry");
    }
    needed
}

/// The 16 capabilities RS knows, with descriptions.
pub fn default_capabilities() -> Vec<(String, String)> {
    [
        ("types", "Module defines its own data types"),
        (
            "no_multi_key",
            "Module has no methods that operate on multiple keys",
        ),
        (
            "replica_of",
            "Module supports a database that is a Replica Of another database",
        ),
        (
            "backup_restore",
            "Module supports backup, import and export",
        ),
        ("eviction_expiry", "Module supports eviction and expiry"),
        (
            "reshard_rebalance",
            "Module supports resharding and rebalancing",
        ),
        (
            "failover_migrate",
            "Module supports shard failover and migration",
        ),
        ("persistence_aof", "Module supports AOF persistence"),
        (
            "persistence_rdb",
            "Module supports snapshot (RDB) persistence",
        ),
        ("hash_policy", "Module supports a custom hashing policy"),
        ("flash", "Module supports Auto Tiering (Redis on Flash)"),
        ("crdb", "Module supports Active-Active (CRDB)"),
        ("clustering", "Module supports sharding and shard migration"),
        ("intershard_tls", "Module supports TLS between shards"),
        (
            "intershard_tls_pass",
            "Module supports TLS between shards with a password",
        ),
        ("ipv6", "Module supports IPv6 between shards"),
    ]
    .into_iter()
    .map(|(name, desc)| (name.to_owned(), desc.to_owned()))
    .collect()
}

/// The uid of a JSON object as text, whether it was sent as a number or a string.
pub fn uid_string(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The strings in a JSON list (other items ignored).
pub fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The leading numeric components of a version (`8.2.0-10` → `[8, 2, 0]`); `None` if none.
pub fn parse_version(text: &str) -> Option<Vec<u64>> {
    let core = text.trim().split(['-', '+', ' ']).next().unwrap_or("");
    let parts: Vec<u64> = core.split('.').map_while(|p| p.parse().ok()).collect();
    (!parts.is_empty()).then_some(parts)
}

/// Compares versions numerically, missing components counting as 0; unparsable sorts lowest.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (a, b) = (
        parse_version(a).unwrap_or_default(),
        parse_version(b).unwrap_or_default(),
    );
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// `n` random lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

fn action_uid() -> String {
    format!(
        "{}-{}-4{}-{}-{}",
        random_hex(8),
        random_hex(4),
        random_hex(3),
        random_hex(4),
        random_hex(12)
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
