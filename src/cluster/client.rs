//! The HTTP layer: base URL, basic auth, timeouts, bounded retries with backoff, and the mapping
//! of transport failures and status codes to [`ClusterError`].

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::credentials::{ConnectionSettings, Credentials, Redactor};
use super::multipart::MultipartBody;
use super::types::ErrorBody;
use super::{tls, CertificateProblem, ClusterError};
use crate::listener::Listener;
use crate::text::cut;

/// The port RS serves its REST API on.
pub const DEFAULT_API_PORT: u16 = 9443;

/// Scheme, host and port of one node's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `https` (or `http` with `--allow-http`).
    pub scheme: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port; 9443 when the URL gives none.
    pub port: u16,
}

impl BaseUrl {
    /// Parses `https://host[:port][/]`.
    pub fn parse(url: &str) -> Result<BaseUrl, ClusterError> {
        let bad = |problem: &str| ClusterError::BadUrl {
            url: without_user_info(url),
            problem: problem.to_string(),
        };
        let trimmed = url.trim();
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(bad("the scheme must be https"));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL would be logged; use --user and RMPACK_PASSWORD",
            ));
        }
        if rest.trim_end_matches('/') != authority {
            return Err(bad("give only scheme, host and port, no path"));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let (host, tail) = after
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in an IPv6 address"))?;
            (host.to_string(), tail.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
            None => DEFAULT_API_PORT,
        };
        Ok(BaseUrl { scheme, host, port })
    }

    /// The same scheme and port on another host (a node's own address).
    pub fn with_host(&self, host: &str) -> BaseUrl {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        BaseUrl {
            scheme: self.scheme.clone(),
            host: host.to_string(),
            port: self.port,
        }
    }

    /// `scheme://host:port` with IPv6 bracketed.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }

    /// Whether credentials would cross the network unencrypted.
    pub fn is_plain_http(&self) -> bool {
        self.scheme == "http"
    }
}

/// `url` with the user information of its authority (`user:password@`) replaced by
/// `<redacted>@`: a URL quoted in a message never shows a password pasted into it.
fn without_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Checks a node address the cluster reported: `host[:port]`, where host is an IPv4 address, an
/// IPv6 address (bare, or in brackets when a port follows) or a DNS name. Returns the host
/// (IPv6 without brackets) and the port, if one was given; `None` for anything else.
pub fn check_node_address(address: &str) -> Option<(String, Option<u16>)> {
    fn port_of(text: &str) -> Option<u16> {
        if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|p| *p != 0)
    }
    fn dns_name(text: &str) -> bool {
        let name = text.strip_suffix('.').unwrap_or(text);
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    }
    let address = address.trim();
    if let Some(rest) = address.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match tail {
            "" => None,
            tail => Some(port_of(tail.strip_prefix(':')?)?),
        };
        return Some((host.to_string(), port));
    }
    if address.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some((address.to_string(), None));
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, Some(port_of(port)?)),
        None => (address, None),
    };
    let valid = host.parse::<std::net::Ipv4Addr>().is_ok()
        || (dns_name(host) && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    valid.then(|| (host.to_string(), port))
}

/// How often and how patiently to retry transient failures.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time, with jitter.
    pub base_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): exponential, capped, with ±50 % jitter
    /// so that parallel uploads do not retry in lockstep.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = exponential.min(self.max_delay);
        capped.mul_f64(0.5 + fastrand::f64())
    }
}

/// Timeouts and retries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit for establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Limit for a whole ordinary request.
    pub request_timeout: Duration,
    /// The slowest upload rate tolerated: an upload of N bytes may take
    /// `request_timeout + N / upload_min_rate` seconds.
    pub upload_min_rate: u64,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            upload_min_rate: 256 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

/// Where an upload's bytes come from. Each attempt reads them again from the first byte, so a
/// retried upload sends the same bytes.
pub trait UploadSource: Send + Sync {
    /// The number of bytes.
    fn byte_len(&self) -> u64;
    /// A reader of every byte, from the first.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>>;
    /// What to call it in messages (a path or the zip's name).
    fn describe(&self) -> String;
}

/// A file on disk, opened again for each attempt.
#[derive(Debug, Clone)]
pub struct PathSource(pub PathBuf);

impl UploadSource for PathSource {
    fn byte_len(&self) -> u64 {
        std::fs::metadata(&self.0).map_or(0, |m| m.len())
    }

    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(&self.0)?))
    }

    fn describe(&self) -> String {
        self.0.display().to_string()
    }
}

/// A file to send as the multipart field `module`.
#[derive(Clone)]
pub struct UploadFile {
    /// Its bytes.
    pub source: Arc<dyn UploadSource>,
    /// The name the form gives it.
    pub file_name: String,
    /// The task name progress is reported under (e.g. the node's address).
    pub progress_task: String,
}

impl std::fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadFile")
            .field("source", &self.source.describe())
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

/// An answer with a 2xx status.
struct Answer {
    body: String,
}

enum Body<'a> {
    Empty,
    Json(&'a Value),
    File(&'a UploadFile),
}

/// A REST client bound to one node's API.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: BaseUrl,
    credentials: Arc<Credentials>,
    redactor: Arc<Redactor>,
    options: Arc<ClientOptions>,
    listener: Arc<dyn Listener>,
}

/// What a decoded answer keeps exactly as the server sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verbatim {
    /// Nothing: every string is redacted and cut.
    Nothing,
    /// A database object or a list of them: each `module_list[].module_args` is kept, because
    /// an upgrade sends the database's current module arguments back as `new_module_args`
    /// (a cut or redacted copy would load the module with other arguments). It is never shown.
    ModuleArgs,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.origin())
            .field("user", &self.credentials.user)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the cluster URL of `settings`; refuses `http://` unless allowed, and warns
    /// about plain HTTP and disabled certificate checks through `listener`.
    pub fn new(
        settings: &ConnectionSettings,
        options: ClientOptions,
        listener: Arc<dyn Listener>,
    ) -> Result<Client, ClusterError> {
        let redactor = settings.credentials.redactor();
        let base = BaseUrl::parse(&settings.url).map_err(|e| scrub_error(e, &redactor))?;
        if base.is_plain_http() {
            if !settings.allow_http {
                return Err(ClusterError::PlainHttp { url: base.origin() });
            }
            listener.on_warning(&format!(
                "INSECURE: sending the password to {} over plain HTTP (--allow-http); anyone on the network can read it",
                base.origin()
            ));
        }
        if settings.insecure {
            listener.on_warning(
                "certificate verification is off (--insecure): the cluster's identity is not checked; pass --ca-cert PEM instead",
            );
        }
        let tls = tls::tls_config(settings.ca_cert.as_deref(), settings.insecure)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(false)
            .tls_config(tls)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            // Never follow a redirect: it could lead the Authorization header elsewhere.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("rmpack/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: config.new_agent(),
            base,
            credentials: Arc::new(settings.credentials.clone()),
            redactor: Arc::new(redactor),
            options: Arc::new(options),
            listener,
        })
    }

    /// The same client talking to node `node_uid` at `address` (its `addr` or `external_addr`),
    /// on the cluster URL's scheme and port (or the port the address names), sharing
    /// connections, TLS setup and credentials. The address comes from the cluster, so it is
    /// checked as `host[:port]` first: anything else (a path, a query, user info) is refused
    /// before credentials could go anywhere else.
    pub fn for_node(&self, node_uid: &str, address: &str) -> Result<Client, ClusterError> {
        let (host, port) =
            check_node_address(address).ok_or_else(|| ClusterError::BadNodeAddress {
                node: node_uid.escape_debug().to_string(),
                address: address.escape_debug().to_string(),
            })?;
        let mut base = self.base.with_host(&host);
        if let Some(port) = port {
            base.port = port;
        }
        Ok(Client {
            base,
            ..self.clone()
        })
    }

    /// The node this client talks to.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// The listener warnings and progress go to.
    pub fn listener(&self) -> &dyn Listener {
        self.listener.as_ref()
    }

    /// The client's options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// `GET path`, decoded.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClusterError> {
        let answer = self.send("GET", path, Body::Empty, true)?;
        self.decode("GET", path, &answer)
    }

    /// `GET path` of a database or the database list, decoded with each module's
    /// `module_args` kept as sent (see [`Verbatim::ModuleArgs`]).
    pub(super) fn get_databases<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClusterError> {
        let answer = self.send("GET", path, Body::Empty, true)?;
        self.decode_keeping("GET", path, &answer, Verbatim::ModuleArgs)
    }

    /// `POST path` with a JSON body, decoded.
    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, ClusterError> {
        let answer = self.send("POST", path, Body::Json(body), false)?;
        self.decode("POST", path, &answer)
    }

    /// `POST path` with a JSON body that changes nothing (a dry run): retried like a read.
    pub fn post_json_replay_safe<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, ClusterError> {
        let answer = self.send("POST", path, Body::Json(body), true)?;
        self.decode("POST", path, &answer)
    }

    /// `PUT path` with a JSON body, decoded.
    pub fn put_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, ClusterError> {
        let answer = self.send("PUT", path, Body::Json(body), true)?;
        self.decode("PUT", path, &answer)
    }

    /// `DELETE path`; the answer's JSON (or `null` for an empty body).
    pub fn delete(&self, path: &str) -> Result<Value, ClusterError> {
        let answer = self.send("DELETE", path, Body::Empty, true)?;
        self.decode("DELETE", path, &answer)
    }

    /// `POST path` with `file` streamed as the multipart field `module`; the answer's JSON
    /// (or `null`). Reports bytes sent through the listener under `file.progress_task`.
    ///
    /// `replay_safe` says whether sending the file twice does no more than sending it once (an
    /// artifact to one node: yes; a bundled module, which the cluster registers: no). Only such a
    /// request is sent again after a lost connection or a timeout, when it may have taken effect.
    pub fn post_file(
        &self,
        path: &str,
        file: &UploadFile,
        replay_safe: bool,
    ) -> Result<Value, ClusterError> {
        let answer = self.send("POST", path, Body::File(file), replay_safe)?;
        self.decode("POST", path, &answer)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        answer: &Answer,
    ) -> Result<T, ClusterError> {
        self.decode_keeping(method, path, answer, Verbatim::Nothing)
    }

    /// Decodes an answer: JSON to a value, every string of it (keys too) redacted and cut,
    /// then the typed value from that. So the password reaches no typed value in any of the
    /// forms a JSON encoder may have escaped it to, and no server string is longer than
    /// [`crate::text::MAX_SERVER_TEXT_CHARS`].
    fn decode_keeping<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        answer: &Answer,
        verbatim: Verbatim,
    ) -> Result<T, ClusterError> {
        let text = answer.body.trim();
        let value = if text.is_empty() {
            Value::Null
        } else {
            // serde_json's message names the line and column, never the text.
            serde_json::from_str(text).map_err(|e| ClusterError::BadResponse {
                method,
                url: self.url(path),
                detail: format!("the answer is not JSON: {e}"),
            })?
        };
        let value = self.scrub_json(value, verbatim);
        self.typed(method, path, value)
    }

    /// The typed value of an answer already scrubbed by [`Client::decode_keeping`].
    pub(super) fn typed<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        value: Value,
    ) -> Result<T, ClusterError> {
        serde_path_to_error::deserialize(value).map_err(|e| ClusterError::BadResponse {
            method,
            url: self.url(path),
            detail: self.scrub_text(&format!("at `{}`: {}", e.path(), e.inner())),
        })
    }

    /// `value` with the password redacted from every string and key, and every string and key
    /// cut to the stated length.
    fn scrub_json(&self, mut value: Value, verbatim: Verbatim) -> Value {
        let kept = match verbatim {
            Verbatim::Nothing => Vec::new(),
            Verbatim::ModuleArgs => take_module_args(&mut value),
        };
        self.redactor.redact_json(&mut value);
        cut_json(&mut value);
        put_module_args(&mut value, kept);
        value
    }

    /// Server text for a message: the password redacted, then cut to the stated length.
    fn scrub_text(&self, text: &str) -> String {
        cut(&self.redactor.redact(text)).into_owned()
    }

    /// The fields of an error answer, scrubbed like a decoded answer (JSON) or as text.
    fn error_body(&self, text: &str) -> ErrorBody {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => ErrorBody::from_json(&self.scrub_json(value, Verbatim::Nothing)),
            Err(_) => ErrorBody::from_text(&self.scrub_text(text.trim())),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.origin(), path)
    }

    /// Sends with bounded retries. A refused connection, 409, 503 and `busy` are retried for every
    /// request: the server did not act on it. A lost connection, a timeout and other transient
    /// 5xx answers are retried only when `replay_safe`, because the server may have acted before
    /// the answer was lost; sending a registration or an upgrade again would then apply it twice
    /// or fail on a state the first attempt changed. An upload is re-sent whole: a node keeps no
    /// partial artifact.
    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Body<'_>,
        replay_safe: bool,
    ) -> Result<Answer, ClusterError> {
        let idempotent = replay_safe;
        let policy = &self.options.retry;
        let attempts = policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let error = match self.send_once(method, path, &body) {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let retry = attempt < attempts
                && match &error {
                    ClusterError::ConnectionRefused { .. } => error.is_transient(),
                    // 502 and 504 come from a proxy that may have passed the request on.
                    ClusterError::Api { status, .. } => {
                        error.is_transient() && (idempotent || !matches!(status, 502 | 504))
                    }
                    ClusterError::ConnectionLost { .. } => idempotent && error.is_transient(),
                    ClusterError::Timeout { .. } => idempotent,
                    _ => false,
                };
            if !retry {
                return Err(error);
            }
            let delay = policy.delay(attempt);
            self.listener.on_warning(&format!(
                "{method} {}: {error}; retrying in {:.1}s (attempt {} of {attempts})",
                self.url(path),
                delay.as_secs_f64(),
                attempt + 1
            ));
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        method: &'static str,
        path: &str,
        body: &Body<'_>,
    ) -> Result<Answer, ClusterError> {
        let url = self.url(path);
        let auth = self.credentials.basic_auth_header();
        let result = match body {
            Body::Empty => {
                let request = match method {
                    "DELETE" => self.agent.delete(&url),
                    _ => self.agent.get(&url),
                };
                request
                    .header("Authorization", &auth)
                    .header("Accept", "application/json")
                    .call()
            }
            Body::Json(value) => {
                let request = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                request
                    .header("Authorization", &auth)
                    .header("Accept", "application/json")
                    .send_json(value)
            }
            Body::File(file) => {
                let reader = file.source.open().map_err(|source| ClusterError::File {
                    path: PathBuf::from(file.source.describe()),
                    source,
                })?;
                let multipart =
                    MultipartBody::new(reader, file.source.byte_len(), "module", &file.file_name);
                let length = multipart.content_length();
                let timeout = self.upload_timeout(length);
                let reader = ProgressReader {
                    inner: multipart,
                    sent: 0,
                    total: length,
                    last_report: 0,
                    task: file.progress_task.clone(),
                    listener: self.listener.clone(),
                };
                let content_type = reader.inner.content_type();
                self.listener
                    .on_progress(&file.progress_task, 0, Some(length));
                self.agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("Authorization", &auth)
                    .header("Accept", "application/json")
                    .header("Content-Type", &content_type)
                    .header("Content-Length", &length.to_string())
                    // The RS docs list it for module uploads: a refusal (401, 403, 400) comes
                    // before the body is sent.
                    .header("Expect", "100-continue")
                    .send(ureq::SendBody::from_owned_reader(reader))
            }
        };
        let mut response = result.map_err(|e| self.transport_error(&url, e, body))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.transport_error(&url, e, body))?;
        // A server or proxy may echo the credentials back: answers are redacted when decoded
        // (after JSON unescaping), error bodies here; neither reaches a message otherwise.
        if (200..300).contains(&status) {
            return Ok(Answer { body: text });
        }
        Err(status_error(method, url, status, self.error_body(&text)))
    }

    fn upload_timeout(&self, length: u64) -> Duration {
        let rate = self.options.upload_min_rate.max(1);
        self.options.request_timeout + Duration::from_secs(length / rate)
    }

    fn transport_error(&self, url: &str, error: ureq::Error, body: &Body<'_>) -> ClusterError {
        let timeout = match body {
            Body::File(file) => self.upload_timeout(file.source.byte_len()),
            _ => self.options.request_timeout,
        };
        // A transport error's words may quote what the server sent (a header, a status line).
        scrub_error(classify_transport(url, error, timeout), &self.redactor)
    }
}

/// Removes each database's `module_list[].module_args` from `value` (a database or a list of
/// them), to be put back by [`put_module_args`]: (database, module, arguments).
fn take_module_args(value: &mut Value) -> Vec<(usize, usize, Value)> {
    let mut kept = Vec::new();
    for (db, bdb) in databases_of(value).enumerate() {
        let modules = bdb.get_mut("module_list").and_then(Value::as_array_mut);
        for (slot, module) in modules.into_iter().flatten().enumerate() {
            if let Some(args) = module.as_object_mut().and_then(|m| m.remove("module_args")) {
                kept.push((db, slot, args));
            }
        }
    }
    kept
}

fn put_module_args(value: &mut Value, kept: Vec<(usize, usize, Value)>) {
    if kept.is_empty() {
        return;
    }
    let mut databases: Vec<&mut Value> = databases_of(value).collect();
    for (db, slot, args) in kept {
        let module = databases
            .get_mut(db)
            .and_then(|bdb| bdb.get_mut("module_list"))
            .and_then(|list| list.get_mut(slot))
            .and_then(Value::as_object_mut);
        if let Some(module) = module {
            module.insert("module_args".to_string(), args);
        }
    }
}

/// The database objects of an answer: the object itself, or the objects of a list.
fn databases_of(value: &mut Value) -> Box<dyn Iterator<Item = &mut Value> + '_> {
    match value {
        Value::Array(items) => Box::new(items.iter_mut()),
        other => Box::new(std::iter::once(other)),
    }
}

/// Cuts every string and key of `value` to the stated length.
fn cut_json(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let std::borrow::Cow::Owned(short) = cut(text) {
                *text = short;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(cut_json),
        Value::Object(map) => {
            if map
                .keys()
                .any(|k| k.len() > crate::text::MAX_SERVER_TEXT_CHARS)
            {
                let entries = std::mem::take(map);
                for (key, item) in entries {
                    map.insert(cut(&key).into_owned(), item);
                }
            }
            map.values_mut().for_each(cut_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `error` with the password redacted from, and the stated length applied to, each text it
/// carries (URLs the user gave, words of the TLS library, what the server sent).
fn scrub_error(error: ClusterError, redactor: &Redactor) -> ClusterError {
    let scrub = |text: String| cut(&redactor.redact(&text)).into_owned();
    let scrub_option = |text: Option<String>| text.map(scrub);
    match error {
        ClusterError::BadUrl { url, problem } => ClusterError::BadUrl {
            url: scrub(url),
            problem,
        },
        ClusterError::Certificate {
            url,
            problem,
            detail,
        } => ClusterError::Certificate {
            url,
            problem,
            detail: scrub(detail),
        },
        ClusterError::Tls { url, detail } => ClusterError::Tls {
            url,
            detail: scrub(detail),
        },
        ClusterError::ConnectionLost { url, detail } => ClusterError::ConnectionLost {
            url,
            detail: scrub(detail),
        },
        ClusterError::Transport { url, detail } => ClusterError::Transport {
            url,
            detail: scrub(detail),
        },
        ClusterError::BadResponse {
            method,
            url,
            detail,
        } => ClusterError::BadResponse {
            method,
            url,
            detail: scrub(detail),
        },
        ClusterError::Api {
            method,
            url,
            status,
            error_code,
            message,
        } => ClusterError::Api {
            method,
            url,
            status,
            error_code: scrub_option(error_code),
            message: scrub_option(message),
        },
        other => other,
    }
}

/// Maps a non-2xx answer (its body already scrubbed) to its error.
fn status_error(method: &'static str, url: String, status: u16, parsed: ErrorBody) -> ClusterError {
    let error_code = parsed.error_code.clone();
    let message = parsed.text().map(str::to_string);
    match status {
        401 => ClusterError::Unauthorized { method, url },
        403 if error_code.as_deref() == Some("modules_upload_disabled") => {
            ClusterError::ModulesUploadDisabled { url }
        }
        403 => ClusterError::Forbidden {
            method,
            url,
            error_code,
            message,
        },
        404 => ClusterError::NotFound {
            method,
            url,
            error_code,
            message,
        },
        _ => ClusterError::Api {
            method,
            url,
            status,
            error_code,
            message,
        },
    }
}

fn classify_transport(url: &str, error: ureq::Error, timeout: Duration) -> ClusterError {
    let url = url.to_string();
    match error {
        ureq::Error::Timeout(_) => ClusterError::Timeout { url, timeout },
        ureq::Error::HostNotFound => ClusterError::HostNotFound { url },
        ureq::Error::ConnectionFailed => ClusterError::ConnectionRefused { url },
        ureq::Error::Rustls(e) => classify_rustls(url, &e),
        ureq::Error::Tls(detail) => ClusterError::Tls {
            url,
            detail: detail.to_string(),
        },
        ureq::Error::Io(e) => classify_io(url, &e, timeout),
        ureq::Error::Protocol(e) => ClusterError::ConnectionLost {
            url,
            detail: e.to_string(),
        },
        other => ClusterError::Transport {
            url,
            detail: other.to_string(),
        },
    }
}

fn classify_io(url: String, error: &std::io::Error, timeout: Duration) -> ClusterError {
    use std::io::ErrorKind;
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return classify_rustls(url, tls);
    }
    match error.kind() {
        ErrorKind::ConnectionRefused => ClusterError::ConnectionRefused { url },
        ErrorKind::TimedOut | ErrorKind::WouldBlock => ClusterError::Timeout { url, timeout },
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof
        | ErrorKind::NotConnected => ClusterError::ConnectionLost {
            url,
            detail: error.to_string(),
        },
        _ => ClusterError::Transport {
            url,
            detail: error.to_string(),
        },
    }
}

fn classify_rustls(url: String, error: &rustls::Error) -> ClusterError {
    use rustls::CertificateError as C;
    let detail = error.to_string();
    let problem = match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => {
                CertificateProblem::Untrusted
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                CertificateProblem::NameMismatch
            }
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => CertificateProblem::Expired,
            _ => CertificateProblem::Other,
        },
        _ => return ClusterError::Tls { url, detail },
    };
    ClusterError::Certificate {
        url,
        problem,
        detail,
    }
}

/// Counts bytes as ureq pulls them and reports them, at most every 256 KiB.
struct ProgressReader<R> {
    inner: R,
    sent: u64,
    total: u64,
    last_report: u64,
    task: String,
    listener: Arc<dyn Listener>,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        if self.sent - self.last_report >= 256 * 1024 || self.sent == self.total {
            self.last_report = self.sent;
            self.listener
                .on_progress(&self.task, self.sent, Some(self.total));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_default_to_the_api_port() {
        let url = BaseUrl::parse("https://cluster.example.com").unwrap();
        assert_eq!(url.origin(), "https://cluster.example.com:9443");
        let url = BaseUrl::parse("https://[::1]:8443/").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.with_host("10.0.0.2").origin(), "https://10.0.0.2:8443");
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("https://user:pw@x").is_err());
        assert!(BaseUrl::parse("https://x/v1").is_err());
        assert!(BaseUrl::parse("cluster:9443").is_err());
    }

    #[test]
    fn a_url_with_user_information_is_quoted_without_it() {
        let error = BaseUrl::parse("https://admin:hunter2@cluster:9443/").unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("https://<redacted>@cluster:9443/"), "{text}");
        assert_eq!(without_user_info("https://h:1/a@b"), "https://h:1/a@b");
        assert_eq!(without_user_info("no scheme@x"), "no scheme@x");
    }

    #[test]
    fn answers_are_redacted_after_decoding_and_cut() {
        let client = client_of("http://127.0.0.1:9");
        let redactor = Redactor::new("p\u{e4}ss", "dTpwXHUwMGU0c3M=");
        let client = Client {
            redactor: Arc::new(redactor),
            ..client
        };
        let long = "x".repeat(2000);
        let answer = Answer {
            body: format!(
                r#"[{{"uid":"1","module_name":"p\u00e4ss","description":"{long}","p\u00E4ss":1,
                    "module_list":[{{"module_args":"p\u00e4ss {long}"}}]}}]"#
            ),
        };
        let value: Value = client.decode("GET", "/v1/modules", &answer).unwrap();
        let text = value.to_string();
        assert!(!text.contains("p\u{e4}ss"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("… (1.5 kB more)"), "{text}");
        // Database answers keep each module's arguments as sent.
        let databases: Value = client
            .decode_keeping("GET", "/v1/bdbs", &answer, Verbatim::ModuleArgs)
            .unwrap();
        assert_eq!(
            databases[0]["module_list"][0]["module_args"],
            format!("p\u{e4}ss {long}")
        );
        assert!(!databases[0]["module_name"]
            .to_string()
            .contains("p\u{e4}ss"));
        // A uid that is not a plain token names its field.
        let answer = Answer {
            body: r#"[{"uid":"1;touch${IFS}pwned"}]"#.to_string(),
        };
        let error = client
            .decode::<Vec<super::super::Node>>("GET", "/v1/nodes", &answer)
            .unwrap_err();
        assert!(error.to_string().contains("at `[0].uid`"), "{error}");
    }

    #[test]
    fn node_addresses_are_host_and_optional_port() {
        let ok = |a: &str| check_node_address(a);
        assert_eq!(ok("10.0.0.2"), Some(("10.0.0.2".into(), None)));
        assert_eq!(ok("10.0.0.2:9443"), Some(("10.0.0.2".into(), Some(9443))));
        assert_eq!(ok("fe80::1"), Some(("fe80::1".into(), None)));
        assert_eq!(ok("[fe80::1]:9443"), Some(("fe80::1".into(), Some(9443))));
        assert_eq!(
            ok("node-1.cluster.example.com"),
            Some(("node-1.cluster.example.com".into(), None))
        );
        for bad in [
            "127.0.0.1/../../v1/bdbs#",
            "127.0.0.1?x=1",
            "user@10.0.0.1",
            "10.0.0.1:99999",
            "10.0.0.1:",
            "",
            "-bad.example.com",
            "999.1.1.1",
            "[fe80::1",
            "a b",
            "host\u{1b}[2J",
        ] {
            assert_eq!(check_node_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_bad_node_address_is_refused_before_any_request() {
        let client = client_of("https://127.0.0.1:9443");
        let error = client
            .for_node("2", "127.0.0.1/../../v1/bdbs#")
            .unwrap_err();
        assert!(
            matches!(error, ClusterError::BadNodeAddress { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("node 2"), "{error}");
        let node = client.for_node("3", "10.0.0.3:8443").unwrap();
        assert_eq!(node.base().origin(), "https://10.0.0.3:8443");
    }

    #[test]
    fn plain_http_needs_an_explicit_flag() {
        let settings = ConnectionSettings {
            url: "http://127.0.0.1:9443".into(),
            credentials: Credentials {
                user: "u".into(),
                password: super::super::Password::new("p"),
            },
            ca_cert: None,
            insecure: false,
            allow_http: false,
        };
        let err = Client::new(
            &settings,
            ClientOptions::default(),
            Arc::new(crate::listener::Silent),
        )
        .unwrap_err();
        assert!(matches!(err, ClusterError::PlainHttp { .. }));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for retry in 1..10 {
            let d = policy.delay(retry);
            assert!(d <= Duration::from_millis(450), "{d:?}");
        }
        assert!(policy.delay(1) <= Duration::from_millis(150));
    }

    #[test]
    fn status_codes_map_to_their_own_errors() {
        let e = status_error(
            "POST",
            "u".into(),
            403,
            ErrorBody::parse(r#"{"error_code":"modules_upload_disabled"}"#),
        );
        assert!(matches!(e, ClusterError::ModulesUploadDisabled { .. }));
        assert!(e.to_string().contains("allow_modules_upload"));
        let e = status_error("GET", "u".into(), 401, ErrorBody::parse(""));
        assert!(e.to_string().contains("user and password"));
        let e = status_error(
            "POST",
            "u".into(),
            409,
            ErrorBody::parse(r#"{"error_code":"busy"}"#),
        );
        assert!(e.is_transient());
        let e = status_error(
            "POST",
            "u".into(),
            406,
            ErrorBody::parse(r#"{"error_code":"invalid_module","description":"bad"}"#),
        );
        assert!(!e.is_transient());
        assert!(e.to_string().contains("invalid_module: bad"), "{e}");
    }

    /// A loopback server that reads each request and closes the connection without answering,
    /// as when a node applies a request and the answer is lost; counts the connections.
    fn answer_lost_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Read};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8).flatten() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
            }
        });
        (url, count)
    }

    fn client_of(url: &str) -> Client {
        let settings = ConnectionSettings {
            url: url.into(),
            credentials: Credentials {
                user: "u".into(),
                password: super::super::Password::new("p"),
            },
            ca_cert: None,
            insecure: false,
            allow_http: true,
        };
        let options = ClientOptions {
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(10),
            },
            ..ClientOptions::default()
        };
        Client::new(&settings, options, Arc::new(crate::listener::Silent)).unwrap()
    }

    /// A loopback server that answers every request with `status` and a body echoing the
    /// request's Authorization header and `extra`.
    fn echo_server(status: u16, extra: &'static str) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8).flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let mut auth = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    if let Some(v) = line
                        .strip_prefix("authorization:")
                        .or(line.strip_prefix("Authorization:"))
                    {
                        auth = v.trim().to_string();
                    }
                    line.clear();
                }
                let body = format!(
                    r#"{{"error_code":"bad_header","description":"got {auth} and {extra}"}}"#
                );
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    #[test]
    fn a_password_the_server_echoes_is_redacted_from_errors() {
        let url = echo_server(400, "password p4ssw0rd-echo");
        let settings = ConnectionSettings {
            url,
            credentials: Credentials {
                user: "u".into(),
                password: super::super::Password::new("p4ssw0rd-echo"),
            },
            ca_cert: None,
            insecure: false,
            allow_http: true,
        };
        let client = Client::new(
            &settings,
            ClientOptions::default(),
            Arc::new(crate::listener::Silent),
        )
        .unwrap();
        let error = client.get::<Value>("/v1/nodes").unwrap_err();
        let text = error.to_string();
        let token = settings.credentials.basic_auth_header();
        assert!(!text.contains("p4ssw0rd-echo"), "{text}");
        assert!(!text.contains(token.trim_start_matches("Basic ")), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn a_lost_answer_is_retried_for_reads_but_never_for_a_registration() {
        let (url, count) = answer_lost_server();
        let client = client_of(&url);
        let err = client
            .post_json::<Value>("/v2/modules/user-defined", &serde_json::json!({"a": 1}))
            .unwrap_err();
        assert!(matches!(err, ClusterError::ConnectionLost { .. }), "{err}");
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "sent once"
        );

        let (url, count) = answer_lost_server();
        let client = client_of(&url);
        assert!(client.get::<Value>("/v1/nodes").is_err());
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "every attempt"
        );
    }
}
