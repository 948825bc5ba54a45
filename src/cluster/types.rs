//! Typed requests and responses of the RS REST API.
//!
//! RS is not consistent about JSON types across versions: uids, `node_uid` and `progress` arrive as
//! numbers on some releases and as strings on others, `external_addr` as a string or a list. Every
//! type here accepts both and ignores fields it does not model, so a newer cluster does not break
//! an older client.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::manifest::{module_version_from_json, ModuleVersion};

/// A uid that RS sends as a number or a string (nodes, databases, modules, actions).
///
/// A uid goes into REST paths and into the commands rmpack prints to resume or heal, so only
/// a plain token is one: letters, digits, `-`, `_`, `.` and `:`, at most [`Uid::MAX_LEN`]
/// characters, not only dots. An answer holding another value where a uid belongs is refused
/// as a bad response naming the field; `--db` and `--nodes` refuse one as a usage error.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct Uid(pub String);

impl Uid {
    /// The longest uid accepted (RS's are numbers, 32 hex digits or UUIDs).
    pub const MAX_LEN: usize = 128;

    /// Whether `text` is a plain token a uid may be (the empty uid, meaning "none sent", is
    /// not).
    pub fn is_plain(text: &str) -> bool {
        !text.is_empty()
            && text.len() <= Uid::MAX_LEN
            && !text.bytes().all(|b| b == b'.')
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    }

    /// `text` as a uid, or why it cannot be one.
    pub fn parse(text: &str) -> Result<Uid, String> {
        if Uid::is_plain(text) {
            return Ok(Uid(text.to_string()));
        }
        let shown = crate::text::cut(text).escape_debug().to_string();
        Err(if text.is_empty() {
            "a uid cannot be empty".to_string()
        } else if text.bytes().all(|b| b == b'.') {
            format!("refusing `{shown}` as a uid: `.` and `..` name another route")
        } else if text.len() > Uid::MAX_LEN {
            format!(
                "refusing `{shown}` as a uid: it is longer than {} characters",
                Uid::MAX_LEN
            )
        } else {
            format!(
                "refusing `{shown}` as a uid: a uid holds only letters, digits, `-`, `_`, `.` and `:`"
            )
        })
    }

    /// A uid as the server sent it: empty (not sent) or a plain token.
    fn from_server<E: serde::de::Error>(text: String) -> Result<Uid, E> {
        if text.is_empty() {
            return Ok(Uid(text));
        }
        Uid::parse(&text).map_err(E::custom)
    }
}

impl std::str::FromStr for Uid {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uid::parse(text)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Uid::from_server(s),
            Value::Number(n) => Uid::from_server(n.to_string()),
            Value::Null => Ok(Uid::default()),
            other => Err(serde::de::Error::custom(format!(
                "expected a uid (number or string), got {}",
                crate::text::cut(&other.to_string())
            ))),
        }
    }
}

/// An optional uid: absent, null, empty or of another type is `None`; a string or number that
/// is not a plain token is refused (see [`Uid`]).
fn lenient_uid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Uid>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Uid::from_server(s).map(Some),
        Value::Number(n) => Uid::from_server(n.to_string()).map(Some),
        _ => Ok(None),
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
        _ => None,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(b) => Some(b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "enabled" | "1" => Some(true),
            "false" | "no" | "disabled" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        _ => None,
    })
}

fn string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

fn lenient_version<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ModuleVersion>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(module_version_from_json(&value).ok())
}

fn lenient_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                Value::Object(map) => map.get("name").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    })
}

/// A node of the cluster (`GET /v1/nodes`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Node {
    /// The node's uid.
    #[serde(default)]
    pub uid: Uid,
    /// Internal address: where the per-node ("local") endpoints answer.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub addr: String,
    /// External addresses, for clients outside the cluster's network.
    #[serde(default, deserialize_with = "string_or_list")]
    pub external_addr: Vec<String>,
    /// `active`, `decommissioning`, `down`, `provisioning`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// CPU architecture, e.g. `x86_64`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub architecture: Option<String>,
    /// OS family, e.g. `rhel`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub os_family: Option<String>,
    /// OS name, e.g. `ubuntu` or `rhel`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub os_name: Option<String>,
    /// OS version, e.g. `22.04` or `8.9`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub os_semantic_version: Option<String>,
    /// Free-text OS version, e.g. `Ubuntu 22.04.3 LTS`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub os_version: Option<String>,
    /// RS version installed on the node, e.g. `7.8.2-34`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub software_version: Option<String>,
    /// The Redis versions a database on this node can move to.
    #[serde(default, deserialize_with = "database_versions")]
    pub supported_database_versions: Vec<String>,
}

/// `supported_database_versions`: `[{"db_type": "redis", "version": "7.2"}, …]` or plain strings.
fn database_versions<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                Value::Object(map) => {
                    let redis = map
                        .get("db_type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "redis");
                    match map.get("version") {
                        Some(Value::String(s)) if redis => Some(s.clone()),
                        Some(Value::Number(n)) if redis => Some(n.to_string()),
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// The cluster object (`GET /v1/cluster`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Cluster {
    /// The cluster's name (its FQDN).
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// Whether module uploads are allowed (RS ≥ 8.2; absent before).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub allow_modules_upload: Option<bool>,
    /// Version fields some releases put on the cluster object.
    #[serde(default, deserialize_with = "lenient_string")]
    pub software_version: Option<String>,
    /// `major` or `latest`: which Redis versions databases may move to.
    #[serde(default, deserialize_with = "lenient_string")]
    pub redis_upgrade_policy: Option<String>,
    /// The Redis version new and upgraded databases get by default; with the `major` policy, the
    /// newest they may move to.
    #[serde(default, deserialize_with = "lenient_string")]
    pub default_redis_version: Option<String>,
}

/// One capability (`GET /v1/cluster/module-capabilities`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CapabilityInfo {
    /// Capability name, e.g. `types`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub name: String,
    /// What it means.
    #[serde(default, deserialize_with = "lenient_string")]
    pub desc: Option<String>,
}

/// `GET /v1/cluster/module-capabilities`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ModuleCapabilities {
    /// Every capability the cluster knows.
    #[serde(default)]
    pub all_capabilities: Vec<CapabilityInfo>,
}

/// A module registered with the cluster (`GET /v1/modules`, `POST /v2/modules`,
/// `POST /v2/modules/user-defined`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Module {
    /// The module's uid (a hex string on current releases).
    #[serde(default)]
    pub uid: Uid,
    /// Name the module passes to `RedisModule_Init`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub module_name: String,
    /// Display name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub display_name: Option<String>,
    /// Integer version.
    #[serde(default, deserialize_with = "lenient_version")]
    pub version: Option<ModuleVersion>,
    /// `major.minor.patch`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub semantic_version: Option<String>,
    /// Whether the module ships with RS.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_bundled: Option<bool>,
    /// Capabilities the module declares.
    #[serde(default, deserialize_with = "lenient_list")]
    pub capabilities: Vec<String>,
    /// Oldest Redis version.
    #[serde(default, deserialize_with = "lenient_string")]
    pub min_redis_version: Option<String>,
    /// Oldest RS version.
    #[serde(default, deserialize_with = "lenient_string")]
    pub min_redis_pack_version: Option<String>,
    /// Architecture of the module's binary.
    #[serde(default, deserialize_with = "lenient_string")]
    pub architecture: Option<String>,
    /// The Redis major.minor this build is for (RS picks builds for Redis 7.4+ by it).
    #[serde(default, deserialize_with = "lenient_string")]
    pub compatible_redis_version: Option<String>,
    /// Platforms the module object holds builds for, e.g. `rhel9/x86_64`.
    #[serde(default, deserialize_with = "lenient_list")]
    pub platforms: Vec<String>,
    /// The operating systems of the build the module object was registered from.
    #[serde(default, deserialize_with = "lenient_list")]
    pub operating_systems: Vec<String>,
    /// The action tracking an asynchronous upload or deletion.
    #[serde(default, deserialize_with = "lenient_uid")]
    pub action_uid: Option<Uid>,
}

impl Module {
    /// The module's version: `version`, or derived from `semantic_version`.
    pub fn module_version(&self) -> Option<ModuleVersion> {
        self.version.or_else(|| {
            self.semantic_version
                .as_deref()
                .and_then(ModuleVersion::from_semantic_text)
        })
    }
}

/// A module artifact stored on one node (`GET /v2/local/modules/user-defined/artifacts`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Artifact {
    /// The module's name.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub module_name: String,
    /// Integer version.
    #[serde(default, deserialize_with = "lenient_version")]
    pub version: Option<ModuleVersion>,
    /// Dependencies stored with it.
    #[serde(default, deserialize_with = "lenient_list")]
    pub dependencies: Vec<String>,
}

/// A module enabled on a database (`module_list` of a BDB).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BdbModule {
    /// Uid of the module object in use.
    #[serde(default, deserialize_with = "lenient_uid")]
    pub module_id: Option<Uid>,
    /// The module's name.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub module_name: String,
    /// Its semantic version.
    #[serde(default, deserialize_with = "lenient_string")]
    pub semantic_version: Option<String>,
    /// Arguments the database loads it with.
    #[serde(default, deserialize_with = "lenient_string")]
    pub module_args: Option<String>,
}

/// A database (`GET /v1/bdbs/{uid}`): the fields rmpack uses, plus the whole object for the
/// validator's capability checks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bdb {
    /// The database's uid.
    pub uid: Uid,
    /// Its name.
    pub name: Option<String>,
    /// Redis version the database runs (`redis_version`, or `version` on older releases).
    pub redis_version: Option<String>,
    /// Modules enabled on it.
    pub module_list: Vec<BdbModule>,
    /// `active`, `pending`, `active-change-pending`, …
    pub status: Option<String>,
    /// The object as the server sent it.
    pub raw: Value,
}

impl<'de> Deserialize<'de> for Bdb {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            uid: Uid,
            #[serde(default, deserialize_with = "lenient_string")]
            name: Option<String>,
            #[serde(default, deserialize_with = "lenient_string")]
            redis_version: Option<String>,
            #[serde(default, deserialize_with = "lenient_string")]
            version: Option<String>,
            #[serde(default)]
            module_list: Option<Vec<BdbModule>>,
            #[serde(default, deserialize_with = "lenient_string")]
            status: Option<String>,
        }
        let raw = Value::deserialize(deserializer)?;
        // Keep the field's name in the message: `uid`, `module_list[0].module_id`.
        let fields: Fields = serde_path_to_error::deserialize(&raw)
            .map_err(|e| serde::de::Error::custom(format_args!("`{}`: {}", e.path(), e.inner())))?;
        Ok(Bdb {
            uid: fields.uid,
            name: fields.name,
            redis_version: fields.redis_version.or(fields.version),
            module_list: fields.module_list.unwrap_or_default(),
            status: fields.status,
            raw,
        })
    }
}

/// Where an asynchronous action stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    /// Waiting to start.
    Queued,
    /// Starting.
    Starting,
    /// In progress.
    Running,
    /// Being cancelled.
    Cancelling,
    /// Done, successfully.
    Completed,
    /// Ended with an error.
    Failed,
    /// Cancelled on request.
    Cancelled,
    /// Stopped by the cluster.
    Aborted,
    /// A status this client does not know; treated as still in progress.
    Other(String),
}

impl ActionStatus {
    /// Whether the action will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ActionStatus::Completed
                | ActionStatus::Failed
                | ActionStatus::Cancelled
                | ActionStatus::Aborted
        )
    }

    /// The status as RS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ActionStatus::Queued => "queued",
            ActionStatus::Starting => "starting",
            ActionStatus::Running => "running",
            ActionStatus::Cancelling => "cancelling",
            ActionStatus::Completed => "completed",
            ActionStatus::Failed => "failed",
            ActionStatus::Cancelled => "cancelled",
            ActionStatus::Aborted => "aborted",
            ActionStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActionStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match Value::deserialize(deserializer)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "queued" | "pending" => ActionStatus::Queued,
            "starting" => ActionStatus::Starting,
            "running" | "active" | "in_progress" => ActionStatus::Running,
            "cancelling" | "canceling" => ActionStatus::Cancelling,
            "completed" | "complete" | "done" | "success" => ActionStatus::Completed,
            "failed" | "error" => ActionStatus::Failed,
            "cancelled" | "canceled" => ActionStatus::Cancelled,
            "aborted" => ActionStatus::Aborted,
            _ => ActionStatus::Other(text),
        })
    }
}

/// An asynchronous action (`GET /v1/actions/{uid}`, `/v2/actions/{uid}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Action {
    /// The action's uid (`action_uid`, or `uid` on some releases).
    #[serde(default, alias = "uid", deserialize_with = "lenient_uid")]
    pub action_uid: Option<Uid>,
    /// What the action does, e.g. `module_upload`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// What it acts on, e.g. `bdb:1`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub object_name: Option<String>,
    /// Where it stands.
    pub status: ActionStatus,
    /// 0–100, sent as a number or a string.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub progress: Option<f64>,
    /// The node it runs on.
    #[serde(default, deserialize_with = "lenient_uid")]
    pub node_uid: Option<Uid>,
    /// The error code of a failed action.
    #[serde(default, deserialize_with = "lenient_string")]
    pub error_code: Option<String>,
    /// The error message of a failed action (`error_message`, or `message`).
    #[serde(default, alias = "message", deserialize_with = "lenient_string")]
    pub error_message: Option<String>,
}

/// The body of an error answer: `{"error_code": …, "description"|"message": …}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `modules_upload_disabled`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub error_code: Option<String>,
    /// Human-readable description.
    #[serde(default, deserialize_with = "lenient_string")]
    pub description: Option<String>,
    /// Human-readable message (some endpoints use this name).
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
}

impl ErrorBody {
    /// Parses an error answer's body; text that is not JSON becomes the description.
    pub fn parse(body: &str) -> ErrorBody {
        match serde_json::from_str::<Value>(body) {
            Ok(value) => ErrorBody::from_json(&value),
            Err(_) => ErrorBody::from_text(body),
        }
    }

    /// The fields of a decoded error answer; a JSON object of another shape becomes the
    /// description, as text.
    pub fn from_json(value: &Value) -> ErrorBody {
        match ErrorBody::deserialize(value) {
            Ok(parsed) => parsed.escaped(),
            Err(_) => match value {
                Value::String(text) => ErrorBody::from_text(text),
                other => ErrorBody::from_text(&other.to_string()),
            },
        }
    }

    /// An error answer that is not JSON: its text (cut to the stated length) is the
    /// description.
    pub fn from_text(body: &str) -> ErrorBody {
        let text = body.trim();
        ErrorBody {
            description: (!text.is_empty()).then(|| crate::text::cut(text).into_owned()),
            ..ErrorBody::default()
        }
        .escaped()
    }

    /// Server text reaches the terminal: escape sequences in it are shown, not run.
    fn escaped(self) -> ErrorBody {
        let escape = |text: Option<String>| text.map(|t| crate::text::sanitize(&t).into_owned());
        ErrorBody {
            error_code: escape(self.error_code),
            description: escape(self.description),
            message: escape(self.message),
        }
    }

    /// The description or message, whichever the server sent.
    pub fn text(&self) -> Option<&str> {
        self.description.as_deref().or(self.message.as_deref())
    }
}

/// One module to upgrade on a database, in the body of the upgrade requests.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleUpgrade {
    /// The module's name.
    pub module_name: String,
    /// Uid of the module object the database uses now (the table of the upgrade reference;
    /// its example's `current_semantic_version` form is accepted by RS too, not sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_module: Option<Uid>,
    /// Uid of the module object to move to (deprecated since RS 7.8.2, still accepted).
    pub new_module: Uid,
    /// Arguments to load the new version with; RS has no default, so it is always sent.
    pub new_module_args: String,
}

/// The body of `POST /v1/bdbs/{uid}/upgrade` and `POST /v1/bdbs/{uid}/modules/upgrade`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpgradeRequest {
    /// The Redis version the database runs afterwards. Without it, RS moves the database to
    /// the latest bundled Redis version, so rmpack always sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_version: Option<String>,
    /// The modules to upgrade.
    pub modules: Vec<ModuleUpgrade>,
    /// Keep the shards' master/replica roles (costs an extra failover).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preserve_roles: Option<bool>,
    /// Allow discarding the data of a non-replicated, non-persistent database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub may_discard_data: Option<bool>,
    /// Restart the shards even when RS thinks it unnecessary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_restart: Option<bool>,
    /// How many shards to upgrade at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_shards_upgrade: Option<u32>,
}

/// What a `GET /v1/modules/{uid}` answer is instead of a module object (an object naming a uid
/// or a name): `None` when it is one. A proxy or a failing node may answer 200 with nothing.
pub fn not_a_module(value: &Value) -> Option<&'static str> {
    let named = |key: &str| match value.get(key) {
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    };
    if value.is_object() && (named("uid") || named("module_name")) {
        return None;
    }
    Some(match value {
        Value::Null => "an empty body or null",
        Value::Object(map) if map.is_empty() => "an empty object",
        Value::Object(_) => "an object with neither uid nor module_name",
        _ => "no JSON object",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_progress_arrive_as_numbers_or_strings() {
        let a: Action = serde_json::from_str(
            r#"{"action_uid":"x","status":"running","progress":"42.5","node_uid":"3","new":1}"#,
        )
        .unwrap();
        assert_eq!(a.progress, Some(42.5));
        assert_eq!(a.node_uid, Some(Uid("3".into())));
        let b: Action =
            serde_json::from_str(r#"{"uid":7,"status":"failed","progress":100,"node_uid":2,"error_code":"e","message":"m"}"#)
                .unwrap();
        assert_eq!(b.action_uid, Some(Uid("7".into())));
        assert_eq!(b.progress, Some(100.0));
        assert_eq!(b.node_uid, Some(Uid("2".into())));
        assert_eq!(b.status, ActionStatus::Failed);
        assert_eq!(b.error_message.as_deref(), Some("m"));
        assert!(b.status.is_terminal());
    }

    #[test]
    fn nodes_tolerate_unknown_fields_and_address_lists() {
        let nodes: Vec<Node> = serde_json::from_str(
            r#"[{"uid":1,"addr":"10.0.0.1","external_addr":["1.2.3.4"],"os_semantic_version":22.04,"shard_count":3},
                {"uid":"2","addr":"10.0.0.2","external_addr":"5.6.7.8"}]"#,
        )
        .unwrap();
        assert_eq!(nodes[0].uid.0, "1");
        assert_eq!(nodes[0].external_addr, vec!["1.2.3.4"]);
        assert_eq!(nodes[0].os_semantic_version.as_deref(), Some("22.04"));
        assert_eq!(nodes[1].external_addr, vec!["5.6.7.8"]);
    }

    #[test]
    fn artifact_versions_may_be_strings_or_floats() {
        let list: Vec<Artifact> = serde_json::from_str(
            r#"[{"module_name":"a","version":"10203"},{"module_name":"b","version":10203.0,"dependencies":["d"]}]"#,
        )
        .unwrap();
        assert_eq!(list[0].version, Some(ModuleVersion(10203)));
        assert_eq!(list[1].version, Some(ModuleVersion(10203)));
        assert_eq!(list[1].dependencies, vec!["d"]);
    }

    #[test]
    fn null_names_do_not_break_a_whole_list() {
        let modules: Vec<Module> = serde_json::from_str(
            r#"[{"uid":"a","module_name":null,"semantic_version":null},{"uid":"b","module_name":"m"}]"#,
        )
        .unwrap();
        assert_eq!(modules[0].module_name, "");
        assert_eq!(modules[1].module_name, "m");
        let artifacts: Vec<Artifact> =
            serde_json::from_str(r#"[{"module_name":null,"version":null}]"#).unwrap();
        assert_eq!(artifacts[0].module_name, "");
        let nodes: Vec<Node> = serde_json::from_str(
            r#"[{"uid":1,"addr":null,"supported_database_versions":[{"db_type":"redis","version":"7.2"},{"db_type":"memcached","version":"1.4"},"8.2"]}]"#,
        )
        .unwrap();
        assert_eq!(nodes[0].supported_database_versions, ["7.2", "8.2"]);
    }

    #[test]
    fn module_version_falls_back_to_the_semantic_one() {
        let m: Module =
            serde_json::from_str(r#"{"uid":"ab","module_name":"m","semantic_version":"1.2.3"}"#)
                .unwrap();
        assert_eq!(m.module_version(), Some(ModuleVersion(10203)));
    }

    #[test]
    fn bdb_keeps_the_raw_object() {
        let bdb: Bdb = serde_json::from_str(
            r#"{"uid":1,"name":"db","version":"7.2.4","module_list":[{"module_id":"ab","module_name":"m","semantic_version":"1.0.0","module_args":""}],"replication":true}"#,
        )
        .unwrap();
        assert_eq!(bdb.redis_version.as_deref(), Some("7.2.4"));
        assert_eq!(bdb.module_list[0].module_id, Some(Uid("ab".into())));
        assert_eq!(bdb.raw["replication"], Value::Bool(true));
    }

    #[test]
    fn uids_are_plain_tokens() {
        for good in [
            "1",
            "a1b2c3d4e5f6",
            "3e0c2f9a-1b2c-4d5e-8f90-1234567890ab",
            "x:y.z_w",
        ] {
            assert_eq!(Uid::parse(good).unwrap().0, good);
        }
        for bad in [
            "",
            "..",
            ".",
            "1;touch${IFS}pwned",
            "a b",
            "a\u{1b}",
            "x/y",
            "é",
        ] {
            assert!(Uid::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Uid::parse(&"1".repeat(Uid::MAX_LEN + 1)).is_err());
        let node: Result<Node, _> = serde_json::from_str(r#"{"uid":"1$(id)"}"#);
        assert!(node.unwrap_err().to_string().contains("refusing"));
        let action: Result<Action, _> =
            serde_json::from_str(r#"{"action_uid":"a`id`","status":"queued"}"#);
        assert!(action.is_err());
        let empty: Node = serde_json::from_str(r#"{"uid":""}"#).unwrap();
        assert_eq!(empty.uid, Uid::default());
    }

    #[test]
    fn error_bodies_in_either_spelling() {
        let e = ErrorBody::parse(r#"{"error_code":"busy","message":"try later"}"#);
        assert_eq!(e.error_code.as_deref(), Some("busy"));
        assert_eq!(e.text(), Some("try later"));
        let e = ErrorBody::parse("{\"description\":\"\\u001b[2J OK: 0 errors\"}");
        assert_eq!(e.text(), Some("\\x1b[2J OK: 0 errors"));
        let e = ErrorBody::parse("<html>gateway</html>");
        assert_eq!(e.text(), Some("<html>gateway</html>"));
    }
}
