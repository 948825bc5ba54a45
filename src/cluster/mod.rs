//! The RS REST client: credentials, TLS, timeouts, retries, typed endpoints and action polling.
//!
//! A [`Client`] talks to one node (the cluster URL, or a node's own address for the per-node
//! "local" endpoints); [`Client::for_node`] derives one per node sharing the connection pool, TLS
//! setup and credentials. Every failure becomes a [`ClusterError`] that says what went wrong in the
//! user's terms (an untrusted certificate, a node that refused the connection, a wrong password,
//! uploads disabled on the cluster) and what to do about it.

mod actions;
mod client;
mod credentials;
mod endpoints;
mod multipart;
mod tls;
pub mod types;

use std::path::PathBuf;
use std::time::Duration;

pub use actions::{ActionOutcome, PollOptions};
pub use client::{
    check_node_address, BaseUrl, Client, ClientOptions, PathSource, RetryPolicy, UploadFile,
    UploadSource,
};
pub use credentials::{
    default_profile_path, read_fleet, read_profile, resolve, ConnectionFlags, ConnectionSettings,
    Credentials, FleetSpec, Password, PasswordPrompt, Profile,
};
pub use endpoints::{action_uid_of, path_segment, Endpoint};
pub use multipart::MultipartBody;
pub use types::{
    not_a_module, Action, ActionStatus, Artifact, Bdb, BdbModule, CapabilityInfo, Cluster, Module,
    ModuleCapabilities, ModuleUpgrade, Node, Uid, UpgradeRequest,
};

/// What kind of certificate problem stopped the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Signed by a CA the client does not trust (RS's default self-signed certificate).
    Untrusted,
    /// Valid, but for another host name or address.
    NameMismatch,
    /// Expired or not yet valid.
    Expired,
    /// Anything else the verifier refused.
    Other,
}

/// Everything that can go wrong talking to a cluster; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No cluster URL from any source.
    #[error("no cluster URL: give --cluster https://HOST:9443, set RMPACK_URL (or REDIS_ENTERPRISE_URL), or use a profile")]
    MissingUrl,
    /// No user from any source.
    #[error("no user: give --user, set RMPACK_USER (or REDIS_ENTERPRISE_USER), or use a profile")]
    MissingUser,
    /// No password and no terminal to ask on.
    #[error("no password: set RMPACK_PASSWORD (or REDIS_ENTERPRISE_PASSWORD), use a profile, or run on a terminal to be prompted")]
    MissingPassword,
    /// The password prompt failed.
    #[error("cannot read the password from the terminal: {source}")]
    Prompt {
        /// The I/O error.
        source: std::io::Error,
    },
    /// The profile file cannot be read.
    #[error("cannot read profile file {path}: {source}", path = path.display())]
    ProfileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The profile file is not valid TOML of the expected shape.
    #[error("profile file {path} is not valid: {message}", path = path.display())]
    ProfileParse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The named profile is not in the file.
    #[error("no profile `{name}` in {path} (profiles there: {known})", path = path.display())]
    ProfileMissing {
        /// The file.
        path: PathBuf,
        /// The profile asked for.
        name: String,
        /// The profiles the file has.
        known: String,
    },
    /// A fleet of the profile file that cannot be used as written.
    #[error("fleet `{fleet}` in {path}: {message}", path = path.display())]
    FleetInvalid {
        /// The file.
        path: PathBuf,
        /// The fleet.
        fleet: String,
        /// What is wrong.
        message: String,
    },
    /// A profile file holding a password that others can read.
    #[error("profile file {path} holds a password but is readable by others (mode {mode:o}); run `chmod 600 {path}`", path = path.display())]
    ProfilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The URL does not parse or uses an unknown scheme.
    #[error("`{url}` is not a cluster URL: {problem} (expected https://HOST:9443)")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// A plain-HTTP URL without `--allow-http`.
    #[error("refusing plain http:// for {url}: the password would cross the network unencrypted; use https:// (RS serves its API on https port 9443), or --allow-http if you really mean it")]
    PlainHttp {
        /// The URL.
        url: String,
    },
    /// The CA certificate file cannot be used.
    #[error("cannot use CA certificate {path}: {problem}", path = path.display())]
    CaCert {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The server's certificate was refused.
    #[error("{}", certificate_message(url, *problem, detail))]
    Certificate {
        /// The URL.
        url: String,
        /// What kind of problem.
        problem: CertificateProblem,
        /// The TLS library's words.
        detail: String,
    },
    /// Another TLS failure (protocol, handshake).
    #[error("TLS handshake with {url} failed: {detail}")]
    Tls {
        /// The URL.
        url: String,
        /// The TLS library's words.
        detail: String,
    },
    /// Nothing listens at the address.
    #[error("connection to {url} refused: is the node down, or the port wrong? (RS serves its API on port 9443)")]
    ConnectionRefused {
        /// The URL.
        url: String,
    },
    /// The host name does not resolve.
    #[error("cannot resolve the host of {url}: check the cluster URL or the node's address")]
    HostNotFound {
        /// The URL.
        url: String,
    },
    /// No answer in time.
    #[error("{url} did not answer within {}s: the node may be overloaded or unreachable; retry, or raise --timeout", timeout.as_secs())]
    Timeout {
        /// The URL.
        url: String,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The connection broke (reset, closed mid-request).
    #[error("connection to {url} was lost: {detail}")]
    ConnectionLost {
        /// The URL.
        url: String,
        /// What the socket said.
        detail: String,
    },
    /// 401.
    #[error("{method} {url}: 401 Unauthorized: check the user and password (--user, RMPACK_USER, RMPACK_PASSWORD, the profile)")]
    Unauthorized {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
    },
    /// 403 `modules_upload_disabled`: RS ≥ 8.2 refuses module uploads by default.
    #[error("{url}: module upload is disabled on this cluster (403 modules_upload_disabled); an admin can enable it with `PUT /v1/cluster {{\"allow_modules_upload\": true}}` (or the cluster setting \"allow modules upload\" in the Cluster Manager UI)")]
    ModulesUploadDisabled {
        /// The URL.
        url: String,
    },
    /// 403, another reason.
    #[error(
        "{method} {url}: 403 Forbidden{}",
        forbidden_detail(error_code, message)
    )]
    Forbidden {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The server's error code.
        error_code: Option<String>,
        /// The server's message.
        message: Option<String>,
    },
    /// 404.
    #[error("{method} {url}: 404 Not Found{}", api_detail(error_code, message))]
    NotFound {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The server's error code.
        error_code: Option<String>,
        /// The server's message.
        message: Option<String>,
    },
    /// Any other 4xx or 5xx answer (406 with its error code, 409 after the retries, 5xx).
    #[error("{method} {url}: {status}{}{}", api_detail(error_code, message), status_hint(*status))]
    Api {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The server's error code.
        error_code: Option<String>,
        /// The server's message.
        message: Option<String>,
    },
    /// A 2xx answer whose body is not what the API documents.
    #[error("{method} {url}: unexpected answer: {detail}")]
    BadResponse {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What did not parse.
        detail: String,
    },
    /// A local file (the artifact) cannot be read.
    #[error("cannot read {path}: {source}", path = path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The action uid is unknown to the cluster.
    #[error("unknown action {uid}: the cluster does not know it (404); it may have been purged or belong to another cluster")]
    UnknownAction {
        /// The action's uid.
        uid: String,
    },
    /// The action ended `failed`, `cancelled` or `aborted`.
    #[error("action {uid} ended {status}{}", api_detail(error_code, message))]
    ActionFailed {
        /// The action's uid.
        uid: String,
        /// The terminal status.
        status: ActionStatus,
        /// The server's error code.
        error_code: Option<String>,
        /// The server's message.
        message: Option<String>,
    },
    /// Following the action was stopped (a signal) before it ended; it goes on on the cluster.
    #[error("stopped following action {uid} while it was {status}; it goes on on the cluster: follow it with GET /v1/actions/{uid}")]
    ActionLeftRunning {
        /// The action's uid.
        uid: String,
        /// The last status seen.
        status: ActionStatus,
    },
    /// The action did not reach a terminal state in time.
    #[error("action {uid} still {status} after {}s; follow it with GET /v1/actions/{uid}", waited.as_secs())]
    ActionTimeout {
        /// The action's uid.
        uid: String,
        /// The last status seen.
        status: ActionStatus,
        /// How long it was polled.
        waited: Duration,
    },
    /// A value that would leave its place in a REST path (`..`, `/`-free but empty, control
    /// characters).
    #[error("refusing {what} `{value}` in a REST path: {problem}")]
    UnsafePathSegment {
        /// What the value is (module uid, database uid…).
        what: &'static str,
        /// The value, escaped for display.
        value: String,
        /// Why it is refused.
        problem: String,
    },
    /// A node address from the cluster that is not `host[:port]`.
    #[error("node {node} reports the address `{address}`, which is not host[:port] (an IPv4 or IPv6 address or a DNS name); refusing to send credentials there")]
    BadNodeAddress {
        /// The node's uid.
        node: String,
        /// The address, escaped for display.
        address: String,
    },
    /// Any other transport failure.
    #[error("request to {url} failed: {detail}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
}

fn certificate_message(url: &str, problem: CertificateProblem, detail: &str) -> String {
    match problem {
        CertificateProblem::Untrusted => format!(
            "the certificate of {url} is not trusted ({detail}): RS uses a self-signed certificate by default; pass the cluster's CA with --ca-cert PEM (or RMPACK_CA_CERT), or --insecure to skip verification"
        ),
        CertificateProblem::NameMismatch => format!(
            "the certificate of {url} is not valid for that host ({detail}): connect by a name or address the certificate lists, or pass --ca-cert with the right CA"
        ),
        CertificateProblem::Expired => format!(
            "the certificate of {url} has expired or is not yet valid ({detail}): renew the cluster's certificate or check the clock"
        ),
        CertificateProblem::Other => format!(
            "the certificate of {url} was refused ({detail}); pass the cluster's CA with --ca-cert PEM"
        ),
    }
}

fn api_detail(error_code: &Option<String>, message: &Option<String>) -> String {
    match (error_code, message) {
        (Some(code), Some(message)) => format!(" ({code}: {message})"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(message)) => format!(" ({message})"),
        (None, None) => String::new(),
    }
}

/// A 403 is a permission problem unless the server names another reason (a disabled feature,
/// a license limit): then its words are the message, not a guess about permissions.
fn forbidden_detail(error_code: &Option<String>, message: &Option<String>) -> String {
    let permission = error_code.as_deref().is_none_or(|code| {
        let code = code.to_ascii_lowercase();
        code.contains("permission") || code.contains("forbidden") || code.contains("unauthorized")
    });
    if permission {
        format!(
            ": the user lacks the permission for this request{}; use an admin user",
            api_detail(error_code, message)
        )
    } else {
        format!(
            "{}: the cluster refused for the reason it names, not for missing permissions",
            api_detail(error_code, message)
        )
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        400 => ": the request was refused as malformed",
        406 => ": the cluster refused the configuration",
        409 => ": another change is in progress on the cluster; try again later",
        503 => ": the node is down or not a cluster member; try another node's address",
        500..=599 => ": the server failed; check the cluster's logs",
        _ => "",
    }
}

impl ClusterError {
    /// The server's `error_code`, when the error carries one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ClusterError::ModulesUploadDisabled { .. } => Some("modules_upload_disabled"),
            ClusterError::Forbidden { error_code, .. }
            | ClusterError::NotFound { error_code, .. }
            | ClusterError::Api { error_code, .. }
            | ClusterError::ActionFailed { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClusterError::Unauthorized { .. } => Some(401),
            ClusterError::ModulesUploadDisabled { .. } | ClusterError::Forbidden { .. } => {
                Some(403)
            }
            ClusterError::NotFound { .. } => Some(404),
            ClusterError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the same request may succeed if sent again later.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::ConnectionRefused { .. }
            | ClusterError::ConnectionLost { .. }
            | ClusterError::Timeout { .. } => true,
            ClusterError::Api {
                status, error_code, ..
            } => matches!(status, 409 | 502 | 503 | 504) || error_code.as_deref() == Some("busy"),
            _ => false,
        }
    }

    /// Whether the request may have reached the server and its answer been lost (the connection
    /// broke, or no answer came in time): the server may have acted on it, so what it did must
    /// be read back before the request is sent again.
    pub fn is_answer_lost(&self) -> bool {
        matches!(
            self,
            ClusterError::ConnectionLost { .. } | ClusterError::Timeout { .. }
        )
    }

    /// Whether the error says the whole cluster, not one node, refuses the request; a rollout
    /// stops at once on these instead of trying every node.
    pub fn is_fatal_for_rollout(&self) -> bool {
        matches!(
            self,
            ClusterError::Unauthorized { .. }
                | ClusterError::ModulesUploadDisabled { .. }
                | ClusterError::Forbidden { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(code: Option<&str>) -> String {
        ClusterError::Forbidden {
            method: "POST",
            url: "u".into(),
            error_code: code.map(str::to_string),
            message: Some("m".into()),
        }
        .to_string()
    }

    #[test]
    fn a_403_is_a_permission_problem_only_when_the_server_says_so() {
        assert!(forbidden(None).contains("lacks the permission"));
        assert!(forbidden(Some("insufficient_permissions")).contains("lacks the permission"));
        let other = forbidden(Some("license_limit_reached"));
        assert!(!other.contains("lacks the permission"), "{other}");
        assert!(other.contains("license_limit_reached: m"), "{other}");
    }
}
