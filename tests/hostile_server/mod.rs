//! A scripted HTTPS server on loopback that answers whatever a test tells it to, byte for byte:
//! the hostile (or broken) RS cluster of the trust tests and the answer campaign. Unlike the
//! emulator in `tests/support`, it follows no rule of RS: each answer is raw text chosen by the
//! test, so it can hold JSON escaped any way an encoder may write it, cut in the middle, nested
//! deeply, or far too large.
//!
//! Each "node" is a listener on its own port of 127.0.0.1, with a certificate signed by a CA the
//! test trusts (`--ca-cert`). Requests are bounded (`max_requests`; more are answered by closing
//! the connection) and every connection has read and write timeouts.
#![allow(dead_code)]

// The emulator's certificate code, without the emulator (a test binary may load both).
#[allow(clippy::duplicate_mod)]
#[path = "../support/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// Largest request body read (uploads in the tests are small).
const MAX_BODY: usize = 8 << 20;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The node (1-based) whose listener received it.
    pub node: usize,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, if any.
    pub query: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// An answer: a status and the raw body bytes (sent as `application/json`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// `status` with `text` as the body, exactly.
    pub fn raw(status: u16, text: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            body: text.into(),
        }
    }

    /// `status` with `value` written by serde_json.
    pub fn json(status: u16, value: &Value) -> Answer {
        Answer::raw(status, value.to_string())
    }

    /// 404 with an RS-style error body.
    pub fn not_found() -> Answer {
        Answer::json(
            404,
            &json!({"error_code": "not_found", "description": "no such thing"}),
        )
    }
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

/// The running server; dropping it stops the listeners.
pub struct HostileServer {
    ports: Vec<u16>,
    ca_path: PathBuf,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl HostileServer {
    /// Starts `nodes` listeners answering with `handler`; at most `max_requests` requests are
    /// answered in all.
    pub fn start(
        nodes: usize,
        max_requests: usize,
        handler: impl Fn(&Request) -> Answer + Send + Sync + 'static,
    ) -> HostileServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let authority = tls::Authority::generate("rmpack hostile test CA").expect("a CA");
        let config = authority
            .server_config(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])
            .expect("a server certificate");
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, authority.pem()).expect("CA written");
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let budget = Arc::new(AtomicUsize::new(max_requests));
        let mut ports = Vec::new();
        for node in 1..=nodes {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            ports.push(listener.local_addr().expect("an address").port());
            let (config, handler, seen, stop, budget) = (
                config.clone(),
                handler.clone(),
                seen.clone(),
                stop.clone(),
                budget.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (config, handler, seen, budget) = (
                        config.clone(),
                        handler.clone(),
                        seen.clone(),
                        budget.clone(),
                    );
                    std::thread::spawn(move || {
                        serve(node, stream, config, &*handler, &seen, &budget);
                    });
                }
            });
        }
        HostileServer {
            ports,
            ca_path,
            seen,
            stop,
            _dir: dir,
        }
    }

    /// `https://127.0.0.1:PORT` of node 1: the cluster URL.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports[0])
    }

    /// `127.0.0.1:PORT` of node `n` (1-based), as `GET /v1/nodes` should report it.
    pub fn node_address(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.ports[node - 1])
    }

    /// Every node's address, in order.
    pub fn node_addresses(&self) -> Vec<String> {
        (1..=self.ports.len())
            .map(|n| self.node_address(n))
            .collect()
    }

    /// The CA certificate to trust (`--ca-cert`).
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_path
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for port in &self.ports {
            // Wakes the accept loop so it sees the stop flag.
            let _ = TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, *port).into(),
                Duration::from_millis(200),
            );
        }
    }
}

fn serve(
    node: usize,
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    handler: &Handler,
    seen: &Mutex<Vec<Request>>,
    budget: &AtomicUsize,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let tls = rustls::StreamOwned::new(connection, stream);
    let mut reader = BufReader::new(tls);
    let Some(request) = read_request(node, &mut reader) else {
        return;
    };
    let spent = budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_err();
    if spent {
        return;
    }
    let answer = handler(&request);
    seen.lock().unwrap_or_else(|p| p.into_inner()).push(request);
    let mut tls = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {} Answer\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.status,
        answer.body.len()
    );
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(&answer.body);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn read_request<S: Read + Write>(node: usize, reader: &mut BufReader<S>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    let mut length = 0usize;
    let mut expect_continue = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.len() > 64 * 1024 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "expect" => expect_continue = value.trim().eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    if length > MAX_BODY {
        return None;
    }
    if expect_continue {
        let stream = reader.get_mut();
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
        stream.flush().ok()?;
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (target, None),
    };
    Some(Request {
        node,
        method,
        path,
        query,
        body,
    })
}

/// What a plausible RS 8.2 cluster answers, as JSON values a test edits before serving: two
/// nodes, module `hello` 1.0.0 (uid `old`) and 1.2.0 (uid `new`), database 1 on Redis 7.2
/// running 1.0.0, and an upgrade that starts action `a1`, which completes.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub nodes: Value,
    pub cluster: Value,
    pub capabilities: Value,
    pub modules: Value,
    pub bdbs: Value,
    /// Per node (index 0 = node 1): the artifact list.
    pub artifacts: Vec<Value>,
    /// The answers to `GET /v1/actions/a1`, in turn (the last one repeats).
    pub action_polls: Vec<Value>,
    /// The answer to `POST /v1/bdbs/1/upgrade` (with or without `?dry_run=true`).
    pub upgrade_answer: Value,
}

/// The module object of `hello` at `semantic` with uid `uid`.
pub fn hello(uid: &str, semantic: &str) -> Value {
    let parts: Vec<u64> = semantic
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let version = parts[0] * 10_000 + parts[1] * 100 + parts[2];
    json!({
        "uid": uid,
        "module_name": "hello",
        "display_name": "hello",
        "version": version,
        "semantic_version": semantic,
        "architecture": "x86_64",
        "os": "Linux",
        "operating_systems": ["ubuntu22.04"],
        "min_redis_version": "7.0",
        "min_redis_pack_version": "7.2",
        "compatible_redis_version": "7.2",
        "commands": [{"command_name": "hello.hi", "command_arity": -1, "flags": ["readonly"],
                      "first_key": 0, "last_key": 0, "step": 0}],
        "command_line_args": "",
        "capabilities": ["types", "replica_of", "backup_restore", "eviction_expiry",
                         "failover_migrate", "persistence_aof", "persistence_rdb", "clustering",
                         "reshard_rebalance"],
        "dependencies": {},
        "is_bundled": false,
    })
}

/// The `addr` a node of [`Cluster::plausible`] reports until the server knows its port: served
/// as the node's real address.
pub const AUTO_ADDRESS: &str = "auto";

impl Cluster {
    /// The plausible cluster with `count` nodes (their `addr` is [`AUTO_ADDRESS`]).
    pub fn plausible(count: usize) -> Cluster {
        let nodes: Vec<Value> = (0..count)
            .map(|index| {
                json!({
                    "uid": index + 1,
                    "addr": AUTO_ADDRESS,
                    "external_addr": [],
                    "status": "active",
                    "architecture": "x86_64",
                    "os_name": "ubuntu",
                    "os_family": "debian",
                    "os_semantic_version": "22.04",
                    "os_version": "Ubuntu 22.04.4 LTS",
                    "software_version": "8.2.0-40",
                    "supported_database_versions": [
                        {"db_type": "redis", "version": "7.2"},
                        {"db_type": "redis", "version": "8.2"}
                    ],
                })
            })
            .collect();
        let capabilities: Vec<Value> = [
            "types",
            "no_multi_key",
            "replica_of",
            "backup_restore",
            "eviction_expiry",
            "reshard_rebalance",
            "failover_migrate",
            "persistence_aof",
            "persistence_rdb",
            "hash_policy",
            "flash",
            "crdb",
            "clustering",
            "intershard_tls",
            "intershard_tls_pass",
            "ipv6",
        ]
        .iter()
        .map(|name| json!({"name": name, "desc": name}))
        .collect();
        let database = json!({
            "uid": 1,
            "name": "db1",
            "status": "active",
            "redis_version": "7.2",
            "module_list": [{"module_id": "old", "module_name": "hello",
                             "semantic_version": "1.0.0", "module_args": ""}],
        });
        let artifact = json!([{"module_name": "hello", "version": 10000, "dependencies": []},
                              {"module_name": "hello", "version": 10200, "dependencies": []}]);
        Cluster {
            nodes: Value::Array(nodes),
            cluster: json!({"name": "cluster.hostile.test", "allow_modules_upload": true}),
            capabilities: json!({ "all_capabilities": capabilities }),
            modules: json!([hello("old", "1.0.0"), hello("new", "1.2.0")]),
            bdbs: json!([database]),
            artifacts: vec![artifact; count],
            action_polls: vec![
                json!({"action_uid": "a1", "status": "running", "progress": 50}),
                json!({"action_uid": "a1", "status": "completed", "progress": 100}),
            ],
            upgrade_answer: json!({"uid": 1, "action_uid": "a1"}),
        }
    }

    /// The database read back after the upgrade: `hello` 1.2.0 (uid `new`).
    pub fn upgraded_bdb(&self) -> Value {
        let mut bdb = self.bdbs[0].clone();
        if let Some(module) = bdb.pointer_mut("/module_list/0") {
            module["module_id"] = json!("new");
            module["semantic_version"] = json!("1.2.0");
        }
        bdb
    }
}

/// Serves `cluster` (every answer written by serde_json) on one listener per node, at most
/// `max_requests` requests: a node whose `addr` is [`AUTO_ADDRESS`] reports its listener's
/// address; the polls of action `a1` are answered in turn; the database reads back upgraded
/// once an upgrade was posted without `dry_run`.
pub fn start_cluster(cluster: Cluster, max_requests: usize) -> HostileServer {
    let count = cluster.artifacts.len().max(1);
    let addresses: Arc<std::sync::OnceLock<Vec<String>>> = Arc::new(std::sync::OnceLock::new());
    let handler = serve_cluster(cluster, addresses.clone());
    let server = HostileServer::start(count, max_requests, handler);
    let _ = addresses.set(server.node_addresses());
    server
}

fn serve_cluster(
    cluster: Cluster,
    addresses: Arc<std::sync::OnceLock<Vec<String>>>,
) -> impl Fn(&Request) -> Answer + Send + Sync + 'static {
    let polls = AtomicUsize::new(0);
    let upgraded = AtomicBool::new(false);
    move |request| {
        let ok = |value: &Value| Answer::json(200, value);
        let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "nodes"]) => {
                let mut nodes = cluster.nodes.clone();
                let real = addresses.get().cloned().unwrap_or_default();
                for (node, address) in nodes.as_array_mut().into_iter().flatten().zip(real) {
                    if node.get("addr") == Some(&json!(AUTO_ADDRESS)) {
                        node["addr"] = json!(address);
                    }
                }
                ok(&nodes)
            }
            ("GET", ["v1", "cluster"]) => ok(&cluster.cluster),
            ("GET", ["v1", "cluster", "module-capabilities"]) => ok(&cluster.capabilities),
            ("GET", ["v1", "modules"]) => ok(&cluster.modules),
            ("GET", ["v1", "modules", uid]) => cluster
                .modules
                .as_array()
                .and_then(|list| list.iter().find(|m| m["uid"] == *uid))
                .map_or_else(Answer::not_found, ok),
            ("GET", ["v1", "bdbs"]) if upgraded.load(Ordering::SeqCst) => {
                ok(&json!([cluster.upgraded_bdb()]))
            }
            ("GET", ["v1", "bdbs"]) => ok(&cluster.bdbs),
            ("GET", ["v1", "bdbs", "1"]) if upgraded.load(Ordering::SeqCst) => {
                ok(&cluster.upgraded_bdb())
            }
            ("GET", ["v1", "bdbs", "1"]) => ok(&cluster.bdbs[0]),
            ("POST", ["v1", "bdbs", "1", "upgrade"]) => {
                if request.query.is_none() {
                    // The database moves only when the action ends well.
                    let completes = cluster
                        .action_polls
                        .last()
                        .is_some_and(|poll| poll["status"] == "completed");
                    upgraded.store(completes, Ordering::SeqCst);
                    ok(&cluster.upgrade_answer)
                } else {
                    ok(&cluster.upgraded_bdb())
                }
            }
            ("GET", ["v1" | "v2", "actions", "a1"]) => {
                let turn = polls.fetch_add(1, Ordering::SeqCst);
                let last = cluster.action_polls.len().saturating_sub(1);
                ok(cluster
                    .action_polls
                    .get(turn.min(last))
                    .unwrap_or(&Value::Null))
            }
            ("GET", ["v2", "local", "modules", "user-defined", "artifacts"]) => cluster
                .artifacts
                .get(request.node - 1)
                .map_or_else(Answer::not_found, ok),
            ("DELETE", ["v2", "local", "modules", "user-defined", "artifacts", _, _]) => {
                Answer::raw(200, "")
            }
            _ => Answer::not_found(),
        }
    }
}

/// Every form the password could take in leaked output, derived independently of rmpack: as is,
/// inside a JSON string as several encoders write it, base64 (standard and URL-safe; whole, and
/// the characters that depend on it alone at each of the three alignments inside a longer
/// string), the basic-auth token, percent-encoded, and with control characters shown escaped.
pub fn password_forms(user: &str, password: &str) -> Vec<String> {
    let mut forms = vec![password.to_string()];
    let serde = serde_json::to_string(password).expect("a JSON string");
    forms.push(serde[1..serde.len() - 1].to_string());
    for (ascii, slash, upper, long_controls) in [
        (true, false, false, false),
        (true, false, true, false),
        (true, true, false, false),
        (false, true, false, false),
        (true, false, false, true),
        (false, false, false, true),
    ] {
        forms.push(json_escape(password, ascii, slash, upper, long_controls));
    }
    let token = base64(format!("{user}:{password}").as_bytes(), false);
    forms.push(token);
    for url_safe in [false, true] {
        forms.push(base64(password.as_bytes(), url_safe));
        for alignment in 0..3 {
            forms.push(base64_core(password.as_bytes(), alignment, url_safe));
        }
    }
    forms.push(
        password
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    );
    forms.push(
        password
            .chars()
            .map(|c| match c {
                '\t' => "\\t".to_string(),
                '\n' => "\\n".to_string(),
                c if c.is_control() => format!("\\x{:02x}", c as u32),
                c => c.to_string(),
            })
            .collect(),
    );
    forms.retain(|f| f.len() >= 4);
    forms.sort();
    forms.dedup();
    forms
}

/// `text` inside a JSON string: `"` and `\` always escaped; optionally non-ASCII as `\uXXXX`
/// (upper- or lower-case), `/` as `\/`, and control characters as `\u00XX` instead of `\t`.
pub fn json_escape(
    text: &str,
    ascii: bool,
    slash: bool,
    upper: bool,
    long_controls: bool,
) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\t' if !long_controls => out.push_str("\\t"),
            '\n' if !long_controls => out.push_str("\\n"),
            c if (c as u32) < 0x20 || (ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&if upper {
                        format!("\\u{unit:04X}")
                    } else {
                        format!("\\u{unit:04x}")
                    });
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Base64 (padded), standard or URL-safe alphabet.
pub fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = String::new();
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(alphabet[((bits >> count) & 63) as usize] as char);
        }
    }
    if count > 0 {
        out.push(alphabet[((bits << (6 - count)) & 63) as usize] as char);
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

/// The longest run of base64 characters two encodings share when the same bytes sit
/// `alignment` bytes into the input between different neighbours: what shows of them inside
/// any longer base64 string.
pub fn base64_core(bytes: &[u8], alignment: usize, url_safe: bool) -> String {
    let around = |fill: u8| {
        let mut input = vec![fill; alignment];
        input.extend_from_slice(bytes);
        input.extend_from_slice(&[fill; 3]);
        base64(&input, url_safe)
    };
    let (a, b) = (around(0x00), around(0xff));
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut best = (0, 0);
    let mut start = 0;
    for i in 0..=a.len().min(b.len()) {
        if i == a.len().min(b.len()) || a[i] != b[i] {
            if i - start > best.1 - best.0 {
                best = (start, i);
            }
            start = i + 1;
        }
    }
    String::from_utf8_lossy(&a[best.0..best.1]).into_owned()
}

/// The forms of the password found in `text`.
pub fn leaks<'a>(text: &str, forms: &'a [String]) -> Vec<&'a str> {
    forms
        .iter()
        .filter(|form| text.contains(form.as_str()))
        .map(String::as_str)
        .collect()
}

/// Characters that must not reach a terminal raw: control characters but the line end, and
/// the bidirectional overrides and isolates.
pub fn unsafe_chars(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}
