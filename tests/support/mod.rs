//! An emulator of the Redis Enterprise Software (RS) REST API, for tests and benchmarks.
//!
//! RS is proprietary and cannot run in tests, so this serves the documented requests (the RS
//! REST API reference pages and "Upgrade a database") with their documented status and error
//! codes. [`Emulator::start`] runs N nodes, node `n` on `127.0.0.n`, all on one port (as real
//! nodes share 9443), over HTTPS with certificates generated at start and HTTP basic auth. It
//! runs on its own tokio runtime in background threads, so synchronous tests and subprocesses can
//! talk to it; dropping it shuts everything down.
//!
//! Nodes are numbered from 1 everywhere (node `n` has uid `n` and address `127.0.0.n`).
//!
//! ```ignore
//! let emulator = Emulator::start(EmulatorSpec::nodes(3)).expect("emulator starts");
//! emulator.set_fault(2, Fault::Status503 { times: 2 });
//! // … run the client against emulator.url() with emulator.ca_cert_path() …
//! assert!(emulator.requests().iter().all(|r| r.method == "GET"));
//! ```

#![allow(dead_code)]

mod api;
mod artifact;
mod body;
mod fixtures;
mod server;
mod state;
mod tls;

// Each test binary uses a different part of the API.
#[allow(unused_imports)]
pub use fixtures::{
    bdb, bdb_module, module_json, module_zip, module_zip_with_deps, multipart_body,
    user_defined_config, write_module_zip, zip_of,
};
#[allow(unused_imports)]
pub use server::basic_authorization;
#[allow(unused_imports)]
pub use state::{
    ActionOutcome, ActionRecord, Fault, FaultRule, NodePlatform, RequestMatch, RequestRecord,
    StoredArtifact,
};

use serde_json::Value;
use server::{NodeListeners, Shared};
use state::{default_capabilities, ClusterState, NodeState};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How to start an emulated cluster. Build with [`EmulatorSpec::nodes`] and adjust the fields.
#[derive(Clone, Debug)]
pub struct EmulatorSpec {
    /// Number of nodes (1–200).
    pub nodes: usize,
    /// Basic-auth user.
    pub user: String,
    /// Basic-auth password.
    pub password: String,
    /// RS version every node reports as `software_version`, e.g. `8.0.2-17`.
    pub rs_version: String,
    /// `allow_modules_upload` (meaningful on RS ≥ 8.2, where it defaults to off).
    pub allow_modules_upload: bool,
    /// Serve node uids as strings (`"1"`) instead of numbers.
    pub node_uid_as_string: bool,
    /// Also serve plain HTTP on the same port (sniffed per connection) and record it, so a test
    /// can prove no credentials are ever sent without TLS. Off by default.
    pub plain_http: bool,
    /// Give every node an external address too: node `n` also listens on `127.1.0.n`, reported
    /// in `external_addr`.
    pub external_addresses: bool,
    /// OS and architecture of every node (change single nodes with `set_node_platform`).
    pub platform: NodePlatform,
    /// The capability list served at `/v1/cluster/module-capabilities`; default: RS's 16.
    pub capabilities: Vec<(String, String)>,
    /// Redis version of databases that do not state one.
    pub default_redis_version: String,
    /// The Redis versions databases can run (`supported_database_versions`, oldest first);
    /// `None`: what the RS version bundles.
    pub redis_versions: Option<Vec<String>>,
    /// Ignore `new_module` in upgrades and move the named module to its newest fitting version
    /// too (reported of RS 7.8.2 and later, which move every other module of the database
    /// that way in any case).
    pub ignore_new_module: bool,
    /// Requests recorded before further ones are refused (reset), bounding runaway clients.
    pub max_requests: usize,
    /// Largest upload accepted, in bytes (RS takes modules of at most 500 MB).
    pub max_upload_bytes: u64,
    /// Bandwidth of each node's network link, in bytes per second, applied to request bodies
    /// (`None`: as fast as loopback goes). Real nodes sit behind 1–25 Gbit/s links; on loopback
    /// every byte costs CPU instead, so a benchmark sets this to model the network.
    pub link_bytes_per_second: Option<u64>,
    /// Directory in which the emulator creates its data directory (removed on drop); default:
    /// the system temp dir. A tmpfs spares big uploads the page-cache writeback of a disk.
    pub storage_root: Option<PathBuf>,
    /// Cluster name.
    pub cluster_name: String,
}

impl EmulatorSpec {
    /// An RS 8.0 cluster of `count` Ubuntu 22.04 x86_64 nodes with default credentials.
    pub fn nodes(count: usize) -> Self {
        Self {
            nodes: count,
            ..Self::default()
        }
    }

    /// The same spec with another RS version.
    pub fn rs_version(mut self, version: &str) -> Self {
        self.rs_version = version.to_owned();
        self
    }

    /// The same spec with other credentials.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.user = user.to_owned();
        self.password = password.to_owned();
        self
    }

    /// The same spec with `allow_modules_upload` set.
    pub fn allow_modules_upload(mut self, allow: bool) -> Self {
        self.allow_modules_upload = allow;
        self
    }

    /// The same spec storing files on `/dev/shm` (a tmpfs) when there is one, for benchmarks
    /// that upload hundreds of megabytes to many nodes.
    pub fn on_tmpfs(mut self) -> Self {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            self.storage_root = Some(shm.to_owned());
        }
        self
    }

    /// The same spec with each node's link limited to `bytes_per_second` for request bodies.
    pub fn link_bandwidth(mut self, bytes_per_second: u64) -> Self {
        self.link_bytes_per_second = Some(bytes_per_second.max(1));
        self
    }

    /// The same spec with upgrades that ignore `new_module` (RS 7.8.2+ behaviour).
    pub fn ignoring_new_module(mut self) -> Self {
        self.ignore_new_module = true;
        self
    }

    /// The same spec with the plain-HTTP recorder on.
    pub fn plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }
}

impl Default for EmulatorSpec {
    fn default() -> Self {
        Self {
            nodes: 3,
            user: "admin@rmpack.test".into(),
            password: "emulator-secret".into(),
            rs_version: "8.0.2-17".into(),
            allow_modules_upload: false,
            node_uid_as_string: false,
            plain_http: false,
            external_addresses: false,
            platform: NodePlatform::default(),
            capabilities: default_capabilities(),
            default_redis_version: "7.4".into(),
            redis_versions: None,
            ignore_new_module: false,
            max_requests: 10_000,
            // RS's MAX_MODULE_SIZE_BYTES.
            max_upload_bytes: 500 << 20,
            link_bytes_per_second: None,
            storage_root: None,
            cluster_name: "cluster.rmpack.test".into(),
        }
    }
}

/// A running emulated cluster; dropping it stops every node.
pub struct Emulator {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    listeners: Mutex<Vec<Option<NodeListeners>>>,
    port: u16,
    user: String,
    password: String,
    ca_pem: String,
    ca_path: PathBuf,
    data_dir: PathBuf,
    _temp: tempfile::TempDir,
}

/// Internal address of node `n` (1-based).
fn internal_ip(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (node / 256) as u8, (node % 256) as u8)
}

/// External address of node `n` (1-based).
fn external_ip(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (node / 256) as u8, (node % 256) as u8)
}

impl Emulator {
    /// Starts the cluster: certificates, one listener per node address on one shared port.
    pub fn start(spec: EmulatorSpec) -> io::Result<Self> {
        if spec.nodes == 0 || spec.nodes > 200 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an emulated cluster has 1 to 200 nodes",
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rs-emulator")
            .enable_all()
            .build()?;
        let mut temp = tempfile::Builder::new();
        temp.prefix("rs-emulator-");
        let temp = match &spec.storage_root {
            Some(root) => temp.tempdir_in(root)?,
            None => temp.tempdir()?,
        };
        let data_dir = temp.path().join("data");
        std::fs::create_dir_all(&data_dir)?;

        let addresses: Vec<Vec<IpAddr>> = (1..=spec.nodes)
            .map(|n| {
                let mut ips = vec![IpAddr::V4(internal_ip(n))];
                if spec.external_addresses {
                    ips.push(IpAddr::V4(external_ip(n)));
                }
                ips
            })
            .collect();
        let authority = tls::Authority::generate("rmpack emulated cluster CA")?;
        let stranger = tls::Authority::generate("an untrusted CA")?;
        let mut tls_configs = Vec::new();
        let mut wrong_configs = Vec::new();
        for ips in &addresses {
            tls_configs.push(authority.server_config(ips)?);
            wrong_configs.push(stranger.server_config(ips)?);
        }
        let ca_pem = authority.pem();
        let ca_path = temp.path().join("cluster-ca.pem");
        write_atomically(&ca_path, ca_pem.as_bytes())?;

        let (port, bound) = {
            let _context = runtime.enter();
            bind_all(&addresses)?
        };

        let mut nodes = Vec::new();
        for (index, ips) in addresses.iter().enumerate() {
            let dir = data_dir.join(format!("node-{}", index + 1));
            std::fs::create_dir_all(&dir)?;
            nodes.push(NodeState {
                uid: index + 1,
                ip: ips[0],
                external_ip: ips.get(1).copied(),
                platform: spec.platform.clone(),
                status: "active".into(),
                software_version: None,
                faults: Vec::new(),
                artifacts: BTreeMap::new(),
                epoch: 0,
                reported_addr: None,
                reported_uid: None,
                dir,
            });
        }
        let cluster_dir = data_dir.join("cluster");
        std::fs::create_dir_all(&cluster_dir)?;
        let state = ClusterState {
            rs_version: spec.rs_version.clone(),
            allow_modules_upload: spec.allow_modules_upload,
            cluster_name: spec.cluster_name.clone(),
            node_uid_as_string: spec.node_uid_as_string,
            default_redis_version: spec.default_redis_version.clone(),
            capabilities: spec.capabilities.clone(),
            redis_versions: spec
                .redis_versions
                .clone()
                .unwrap_or_else(|| state::redis_versions_of(&spec.rs_version)),
            ignore_new_module: spec.ignore_new_module,
            upgrade_dry_run: true,
            redis_upgrade_policy: None,
            policy_default_redis_version: None,
            nodes,
            modules: Vec::new(),
            bdbs: Vec::new(),
            actions: Vec::new(),
            scripted_outcomes: VecDeque::new(),
            log: Vec::new(),
            max_requests: spec.max_requests,
            refused_over_budget: 0,
            next_seq: 0,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            expected_authorization: basic_authorization(&spec.user, &spec.password),
            plain_http: spec.plain_http,
            tls: tls_configs,
            wrong_tls: wrong_configs,
            cluster_dir,
            max_upload_bytes: spec.max_upload_bytes,
            link_bytes_per_second: spec.link_bytes_per_second,
        });
        let listeners = bound
            .into_iter()
            .enumerate()
            .map(|(index, node_listeners)| {
                Some(server::spawn_node(
                    runtime.handle(),
                    &shared,
                    index + 1,
                    0,
                    node_listeners,
                ))
            })
            .collect();
        Ok(Self {
            runtime: Some(runtime),
            shared,
            listeners: Mutex::new(listeners),
            port,
            user: spec.user,
            password: spec.password,
            ca_pem,
            ca_path,
            data_dir,
            _temp: temp,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClusterState> {
        self.shared.state()
    }

    fn check_node(&self, node: usize) {
        let count = self.node_count();
        assert!(
            node >= 1 && node <= count,
            "node {node} does not exist: nodes are 1..={count}"
        );
    }

    // ---- addresses and credentials ----

    /// The port every node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.state().nodes.len()
    }

    /// Internal address (`addr`) of a node.
    pub fn node_ip(&self, node: usize) -> IpAddr {
        self.check_node(node);
        self.state().nodes[node - 1].ip
    }

    /// External address of a node, when the spec asked for external addresses.
    pub fn node_external_ip(&self, node: usize) -> Option<IpAddr> {
        self.check_node(node);
        self.state().nodes[node - 1].external_ip
    }

    /// `https://127.0.0.n:port` of a node.
    pub fn node_url(&self, node: usize) -> String {
        format!("https://{}:{}", self.node_ip(node), self.port)
    }

    /// The cluster URL clients start from (node 1).
    pub fn url(&self) -> String {
        self.node_url(1)
    }

    /// `http://127.0.0.n:port` of a node: answered only with the plain-HTTP recorder on.
    pub fn plain_http_url(&self, node: usize) -> String {
        format!("http://{}:{}", self.node_ip(node), self.port)
    }

    /// The node listening on this address, if any.
    pub fn node_at(&self, ip: IpAddr) -> Option<usize> {
        self.state()
            .nodes
            .iter()
            .find(|n| n.ip == ip || n.external_ip == Some(ip))
            .map(|n| n.uid)
    }

    /// Path of the cluster CA certificate (PEM), for `--ca-cert`.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_path
    }

    /// The cluster CA certificate in PEM.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The basic-auth user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The basic-auth password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The `Authorization` header value that authenticates.
    pub fn authorization(&self) -> String {
        basic_authorization(&self.user, &self.password)
    }

    /// Where node files (artifacts, uploads in progress) live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    // ---- the request record ----

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().log.clone()
    }

    /// Requests received by one node.
    pub fn requests_to(&self, node: usize) -> Vec<RequestRecord> {
        self.state()
            .log
            .iter()
            .filter(|r| r.node == node)
            .cloned()
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Requests that sent credentials over plain HTTP (should always be empty).
    pub fn credentials_over_plain_http(&self) -> Vec<RequestRecord> {
        self.state()
            .log
            .iter()
            .filter(|r| r.leaked_credentials())
            .cloned()
            .collect()
    }

    /// Whether every request so far was a GET (a dry run changes nothing).
    pub fn only_gets(&self) -> bool {
        self.state().log.iter().all(|r| r.method == "GET")
    }

    /// Requests refused because `max_requests` were already recorded.
    pub fn refused_over_budget(&self) -> u64 {
        self.state().refused_over_budget
    }

    // ---- what the cluster holds ----

    /// Custom-module artifacts stored on a node, by name and version.
    pub fn artifacts(&self, node: usize) -> Vec<StoredArtifact> {
        self.check_node(node);
        let mut artifacts: Vec<StoredArtifact> = self.state().nodes[node - 1]
            .artifacts
            .values()
            .cloned()
            .collect();
        // Hash outside the lock: a node keeps serving while a big artifact is read.
        for artifact in artifacts.iter_mut().filter(|a| a.sha256.is_empty()) {
            artifact.sha256 = sha256_of_file(&artifact.path).unwrap_or_default();
        }
        let mut state = self.state();
        for artifact in &artifacts {
            let key = (artifact.module_name.clone(), artifact.version);
            if let Some(stored) = state.nodes[node - 1].artifacts.get_mut(&key) {
                if stored.path == artifact.path && stored.sha256.is_empty() {
                    stored.sha256 = artifact.sha256.clone();
                }
            }
        }
        artifacts
    }

    /// Module objects registered through `POST /v2/modules/user-defined`.
    pub fn user_defined_modules(&self) -> Vec<Value> {
        self.state()
            .modules
            .iter()
            .filter(|m| m.user_defined)
            .map(|m| m.object.clone())
            .collect()
    }

    /// Module objects uploaded as bundles (`POST /v1|v2/modules`) or added with `add_module`.
    pub fn bundled_modules(&self) -> Vec<Value> {
        self.state()
            .modules
            .iter()
            .filter(|m| !m.user_defined)
            .map(|m| m.object.clone())
            .collect()
    }

    /// All module objects, as `GET /v1/modules` lists them.
    pub fn modules(&self) -> Vec<Value> {
        self.state()
            .modules
            .iter()
            .map(|m| m.object.clone())
            .collect()
    }

    /// Advances an action one step, as a poll does (RS advances actions on its own clock).
    pub fn poll_action(&self, uid: &str) -> Option<Value> {
        self.state().poll_action(uid)
    }

    /// Actions started so far, with their outcome and the polls answered.
    pub fn actions(&self) -> Vec<ActionRecord> {
        self.state().actions.clone()
    }

    /// The databases.
    pub fn bdbs(&self) -> Vec<Value> {
        self.state().bdbs.clone()
    }

    /// The database with this uid.
    pub fn bdb(&self, uid: u64) -> Option<Value> {
        let state = self.state();
        state
            .bdb_index(&uid.to_string())
            .map(|i| state.bdbs[i].clone())
    }

    /// Current `allow_modules_upload`.
    pub fn modules_upload_allowed(&self) -> bool {
        self.state().allow_modules_upload
    }

    /// Faults still armed on a node.
    pub fn faults(&self, node: usize) -> Vec<FaultRule> {
        self.check_node(node);
        self.state().nodes[node - 1].faults.clone()
    }

    // ---- setters ----

    /// Injects a fault into every matching request of a node (all requests for this call).
    pub fn set_fault(&self, node: usize, fault: Fault) {
        self.set_fault_matching(node, RequestMatch::any(), fault);
    }

    /// Injects a fault into the node's requests that `matcher` selects. `Down` and
    /// `WrongCertificate` take effect at once, also for connections already open.
    pub fn set_fault_matching(&self, node: usize, matcher: RequestMatch, fault: Fault) {
        self.check_node(node);
        let restart = fault.is_connection_level();
        self.state().add_fault(node, matcher, fault);
        if restart {
            self.restart_node(node);
        }
    }

    /// Removes every fault of a node; a node that was down listens again on return.
    pub fn clear_faults(&self, node: usize) {
        self.check_node(node);
        let restart = {
            let mut state = self.state();
            let faults = std::mem::take(&mut state.nodes[node - 1].faults);
            faults.iter().any(|rule| rule.fault.is_connection_level())
        };
        if restart {
            self.restart_node(node);
        }
    }

    /// Removes every fault of every node.
    pub fn clear_all_faults(&self) {
        for node in 1..=self.node_count() {
            self.clear_faults(node);
        }
    }

    /// Replaces the databases.
    pub fn set_bdbs(&self, bdbs: Vec<Value>) {
        self.state().bdbs = bdbs;
    }

    /// Adds a database or replaces the one with the same uid.
    pub fn put_bdb(&self, bdb: Value) {
        let mut state = self.state();
        let uid = state::uid_string(bdb.get("uid"));
        match state.bdb_index(&uid) {
            Some(i) => state.bdbs[i] = bdb,
            None => state.bdbs.push(bdb),
        }
    }

    /// Changes the RS version every node reports.
    pub fn set_rs_version(&self, version: &str) {
        let mut state = self.state();
        state.rs_version = version.to_owned();
        state.redis_versions = state::redis_versions_of(version);
    }

    /// Sets `allow_modules_upload`, as `PUT /v1/cluster` would.
    pub fn set_allow_modules_upload(&self, allow: bool) {
        self.state().allow_modules_upload = allow;
    }

    /// Changes a node's OS and architecture.
    pub fn set_node_platform(&self, node: usize, platform: NodePlatform) {
        self.check_node(node);
        self.state().nodes[node - 1].platform = platform;
    }

    /// Changes a node's reported `status` (active, decommissioning, down, provisioning).
    pub fn set_node_status(&self, node: usize, status: &str) {
        self.check_node(node);
        self.state().nodes[node - 1].status = status.to_owned();
    }

    /// Reports `redis_upgrade_policy` and `default_redis_version` on the cluster object.
    pub fn set_redis_upgrade_policy(&self, policy: &str, default_redis_version: &str) {
        let mut state = self.state();
        state.redis_upgrade_policy = Some(policy.to_owned());
        state.policy_default_redis_version = Some(default_redis_version.to_owned());
    }

    /// Whether the upgrade route honours `?dry_run=true` (on by default).
    pub fn set_upgrade_dry_run(&self, honoured: bool) {
        self.state().upgrade_dry_run = honoured;
    }

    /// Makes one node report `addr` as its address in `GET /v1/nodes` (it keeps listening on
    /// its own).
    pub fn set_node_reported_addr(&self, node: usize, addr: &str) {
        self.check_node(node);
        self.state().nodes[node - 1].reported_addr = Some(addr.to_owned());
    }

    /// Makes one node report `uid` as its uid in `GET /v1/nodes` (it keeps its own number).
    pub fn set_node_reported_uid(&self, node: usize, uid: Value) {
        self.check_node(node);
        self.state().nodes[node - 1].reported_uid = Some(uid);
    }

    /// Makes one node report another `software_version` (a cluster mid-upgrade).
    pub fn set_node_software_version(&self, node: usize, version: Option<&str>) {
        self.check_node(node);
        self.state().nodes[node - 1].software_version = version.map(str::to_owned);
    }

    /// Serves node uids as strings (`"1"`) or numbers.
    pub fn set_node_uid_as_string(&self, as_string: bool) {
        self.state().node_uid_as_string = as_string;
    }

    /// Replaces the capability list (name, description).
    pub fn set_capabilities(&self, capabilities: Vec<(String, String)>) {
        self.state().capabilities = capabilities;
    }

    /// Puts a module object into the cluster (as if bundled with RS unless `is_bundled` is set
    /// otherwise) and returns its uid (taken from `uid` when present).
    pub fn add_module(&self, mut module: Value) -> String {
        if module.get("is_bundled").is_none() {
            module["is_bundled"] = Value::Bool(true);
        }
        self.state().add_module(module, false)
    }

    /// The next action started ends this way (queued outcomes are used in order).
    pub fn script_next_action(&self, outcome: ActionOutcome) {
        self.state().scripted_outcomes.push_back(outcome);
    }

    /// Changes how an existing action ends; `false` if there is no such action.
    pub fn script_action(&self, action_uid: &str, outcome: ActionOutcome) -> bool {
        let mut state = self.state();
        match state.actions.iter_mut().find(|a| a.uid == action_uid) {
            Some(action) => {
                action.outcome = outcome;
                true
            }
            None => false,
        }
    }

    /// Stops a node's listeners and, unless it is down, binds them again on the same port.
    fn restart_node(&self, node: usize) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = listeners[node - 1].take() {
            running.stop();
        }
        let (down, epoch, ips) = {
            let mut state = self.state();
            let node_state = &mut state.nodes[node - 1];
            node_state.epoch += 1;
            let ips: Vec<IpAddr> = std::iter::once(node_state.ip)
                .chain(node_state.external_ip)
                .collect();
            let epoch = node_state.epoch;
            (state.is_down(node), epoch, ips)
        };
        if down {
            return;
        }
        let Some(runtime) = &self.runtime else { return };
        let _context = runtime.enter();
        let mut bound = Vec::new();
        for ip in ips {
            let address = SocketAddr::new(ip, self.port);
            let mut attempt = 0;
            let listener = loop {
                match server::bind(address) {
                    Ok(listener) => break listener,
                    Err(error) if attempt >= 100 => {
                        panic!("node {node} cannot listen on {address} again: {error}")
                    }
                    Err(_) => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            };
            bound.push(listener);
        }
        listeners[node - 1] = Some(server::spawn_node(
            runtime.handle(),
            &self.shared,
            node,
            epoch,
            bound,
        ));
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Dropped inside some other runtime: blocking there is not allowed.
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}

/// Binds every node address on one port: a free port on the first address, the same on the
/// others; tries again with another port when any of them is taken.
fn bind_all(addresses: &[Vec<IpAddr>]) -> io::Result<(u16, Vec<Vec<TcpListener>>)> {
    let mut last_error = None;
    for _ in 0..20 {
        let first = match server::bind(SocketAddr::new(addresses[0][0], 0)) {
            Ok(listener) => listener,
            Err(error) => {
                last_error = Some(error);
                continue;
            }
        };
        let port = first.local_addr()?.port();
        let mut bound = vec![vec![first]];
        let mut failed = None;
        'nodes: for (index, ips) in addresses.iter().enumerate() {
            for (position, ip) in ips.iter().enumerate() {
                if index == 0 && position == 0 {
                    continue;
                }
                match server::bind(SocketAddr::new(*ip, port)) {
                    Ok(listener) => {
                        if bound.len() <= index {
                            bound.push(Vec::new());
                        }
                        bound[index].push(listener);
                    }
                    Err(error) => {
                        failed = Some(error);
                        break 'nodes;
                    }
                }
            }
        }
        match failed {
            None => return Ok((port, bound)),
            Some(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port for the emulated cluster")))
}

fn sha256_of_file(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = io::Read::read(&mut file, &mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let directory = path.parent().unwrap_or_else(|| Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(directory)?;
    io::Write::write_all(&mut temp, bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
