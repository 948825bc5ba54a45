//! The REST endpoints: routing, and one handler per documented request, answering with the
//! documented status and error codes (RS REST API reference: "Modules requests",
//! "User-defined module requests", "Database requests", "Upgrade a database", bdbs/upgrade).

use super::artifact::{
    field_problems, inspect_zip, is_safe_name, platform_problem, version_number, ZipFacts,
    ZipProblem, ARTIFACT_MODULE_JSON_FIELDS, BUNDLED_MODULE_JSON_FIELDS,
    USER_DEFINED_CONFIG_FIELDS,
};
use super::body::{BodyFailure, BodyReader, MultipartError, MultipartReader};
use super::server::Shared;
use super::state::{
    compare_versions, random_hex, string_list, ApiError, PendingChange, StoredArtifact,
    UpgradeStyle, GENERAL_UPGRADE_SINCE,
};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::Method;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::task::JoinHandle;

/// Largest JSON request body read.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// The parts of a request the handlers look at.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
}

impl Head {
    pub fn new(parts: &Parts) -> Self {
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
        };
        Self {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            content_type: header(CONTENT_TYPE).map(str::to_owned),
            content_length: header(CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// An answer: status, optional JSON body, extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// A status without a body, for requests documented to return "a status code".
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// An RS error object. The RS REST API pages name the text field `message`; RS also sends `description`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"error_code": code, "message": message, "description": message}),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn error_code(&self) -> Option<String> {
        self.body
            .as_ref()
            .and_then(|b| b.get("error_code"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// Why a handler did not produce a success.
enum Failure {
    Body(BodyFailure),
    Api(ApiError),
}

impl From<BodyFailure> for Failure {
    fn from(failure: BodyFailure) -> Self {
        Failure::Body(failure)
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::Api(error)
    }
}

type Handled = Result<Reply, Failure>;

fn not_found(code: &str, message: impl Into<String>) -> Failure {
    Failure::Api(ApiError::new(404, code, message))
}

fn internal(error: impl std::fmt::Display) -> Failure {
    Failure::Api(ApiError::new(500, "internal_error", error.to_string()))
}

/// Answers one authenticated request; `Err` when the client went away mid-body.
pub async fn route(
    shared: &Shared,
    node: usize,
    head: &Head,
    body: &mut BodyReader,
) -> Result<Reply, BodyFailure> {
    match dispatch(shared, node, head, body).await {
        Ok(reply) => Ok(reply),
        Err(Failure::Api(error)) => Ok(Reply::error(error.status, &error.code, &error.message)),
        Err(Failure::Body(failure)) => Err(failure),
    }
}

async fn dispatch(shared: &Shared, node: usize, head: &Head, body: &mut BodyReader) -> Handled {
    let segments: Vec<&str> = head.path.split('/').filter(|s| !s.is_empty()).collect();
    match (head.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "nodes"]) => {
            let state = shared.state();
            let nodes: Vec<Value> = state.nodes.iter().map(|n| state.node_json(n)).collect();
            Ok(Reply::json(200, json!(nodes)))
        }
        ("GET", ["v1", "nodes", uid]) => {
            let state = shared.state();
            let found = state.nodes.iter().find(|n| n.uid.to_string() == *uid);
            match found {
                Some(n) => Ok(Reply::json(200, state.node_json(n))),
                None => Err(not_found(
                    "node_not_found",
                    format!("node {uid} does not exist"),
                )),
            }
        }
        ("GET", ["v1", "cluster"]) => Ok(Reply::json(200, shared.state().cluster_json())),
        ("PUT", ["v1", "cluster"]) => update_cluster(shared, body).await,
        ("GET", ["v1", "cluster", "module-capabilities"]) => {
            Ok(Reply::json(200, shared.state().capabilities_json()))
        }
        ("GET", ["v1" | "v2", "modules"]) => {
            let modules: Vec<Value> = shared
                .state()
                .modules
                .iter()
                .map(|m| m.object.clone())
                .collect();
            Ok(Reply::json(200, json!(modules)))
        }
        ("POST", ["v1", "modules"]) => upload_bundled(shared, node, head, body, false).await,
        ("POST", ["v2", "modules"]) => upload_bundled(shared, node, head, body, true).await,
        ("POST", ["v2", "modules", "user-defined"]) => create_user_defined(shared, body).await,
        ("DELETE", ["v2", "modules", "user-defined", uid]) => {
            let mut state = shared.state();
            state.refuse_if_in_use(uid)?;
            let before = state.modules.len();
            state.modules.retain(|m| !(m.user_defined && m.uid == *uid));
            if state.modules.len() == before {
                return Err(not_found(
                    "module_not_found",
                    format!("no custom module {uid}"),
                ));
            }
            Ok(Reply::empty(200))
        }
        ("GET", ["v1", "modules", uid]) => match shared.state().module(uid) {
            Some(module) => Ok(Reply::json(200, module.object.clone())),
            None => Err(not_found(
                "module_not_found",
                format!("module {uid} does not exist"),
            )),
        },
        ("DELETE", ["v1", "modules", uid]) => {
            let mut state = shared.state();
            state.refuse_if_in_use(uid)?;
            let Some(module) = state.module(uid) else {
                return Err(not_found(
                    "module_not_found",
                    format!("module {uid} does not exist"),
                ));
            };
            let has_dependencies = module
                .object
                .get("dependencies")
                .and_then(Value::as_object)
                .is_some_and(|d| !d.is_empty());
            if has_dependencies {
                return Err(ApiError::new(
                    406,
                    "dependencies_not_supported",
                    format!(
                        "module {uid} has dependencies; delete it with DELETE /v2/modules/{uid}"
                    ),
                )
                .into());
            }
            state.modules.retain(|m| m.uid != *uid);
            Ok(Reply::empty(200))
        }
        ("DELETE", ["v2", "modules", uid]) => {
            let mut state = shared.state();
            state.refuse_if_in_use(uid)?;
            if state.module(uid).is_none() {
                return Err(not_found(
                    "module_not_found",
                    format!("module {uid} does not exist"),
                ));
            }
            state.modules.retain(|m| m.uid != *uid);
            let action = state.new_action("module_delete", &format!("module:{uid}"), node);
            Ok(Reply::json(200, json!({ "action_uid": action })))
        }
        // Deprecated since RS 7.8.2; route audits of RS 7.4 to 8.2 find neither module-specific
        // upgrade path answering, so they exist only on older clusters.
        ("POST", ["v1", "modules", "upgrade", "bdb", uid])
            if !shared.state().rs_at_least(GENERAL_UPGRADE_SINCE) =>
        {
            upgrade(shared, node, uid, body, UpgradeStyle::LegacyModules, false).await
        }
        ("GET", ["v2", "local", "modules", "user-defined", "artifacts"]) => {
            let state = shared.state();
            let list: Vec<Value> = state.nodes[node - 1]
                .artifacts
                .values()
                .map(|a| json!({"module_name": a.module_name, "version": a.version, "dependencies": a.dependencies}))
                .collect();
            Ok(Reply::json(200, json!(list)))
        }
        ("POST", ["v2", "local", "modules", "user-defined", "artifacts"]) => {
            upload_artifact(shared, node, head, body).await
        }
        ("DELETE", ["v2", "local", "modules", "user-defined", "artifacts", name, version]) => {
            let Ok(version) = version.parse::<i64>() else {
                return Err(ApiError::new(
                    406,
                    "invalid_schema",
                    format!("version {version:?} is not an integer"),
                )
                .into());
            };
            let removed = shared.state().nodes[node - 1]
                .artifacts
                .remove(&((*name).to_owned(), version));
            match removed {
                Some(artifact) => {
                    let _ = std::fs::remove_file(&artifact.path);
                    Ok(Reply::empty(200))
                }
                None => Err(not_found(
                    "module_not_found",
                    format!("no artifact {name} version {version} on this node"),
                )),
            }
        }
        ("GET", ["v1", "bdbs"]) => {
            let fields = requested_fields(head.query.as_deref());
            let state = shared.state();
            let bdbs: Vec<Value> = (0..state.bdbs.len())
                .map(|i| select_fields(&state.bdb_view(i), fields.as_deref()))
                .collect();
            Ok(Reply::json(200, json!(bdbs)))
        }
        ("GET", ["v1", "bdbs", uid]) => {
            let fields = requested_fields(head.query.as_deref());
            let state = shared.state();
            match state.bdb_index(uid) {
                Some(i) => Ok(Reply::json(
                    200,
                    select_fields(&state.bdb_view(i), fields.as_deref()),
                )),
                None => Err(not_found(
                    "db_not_exist",
                    format!("database {uid} does not exist"),
                )),
            }
        }
        // The RS 7.4 docs list the general route.
        ("POST", ["v1", "bdbs", uid, "upgrade"])
            if shared.state().rs_at_least(GENERAL_UPGRADE_SINCE) =>
        {
            let dry_run = head.query.as_deref().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "dry_run=true" || p == "dry_run=1")
            });
            upgrade(shared, node, uid, body, UpgradeStyle::Bdb, dry_run).await
        }
        ("POST", ["v1", "bdbs", uid, "modules", "upgrade"])
            if !shared.state().rs_at_least(GENERAL_UPGRADE_SINCE) =>
        {
            upgrade(shared, node, uid, body, UpgradeStyle::BdbModules, false).await
        }
        (
            "POST",
            ["v1", "bdbs", _, "upgrade"]
            | ["v1", "bdbs", _, "modules", "upgrade"]
            | ["v1", "modules", "upgrade", "bdb", _],
        ) => Err(not_found(
            "not_found",
            format!("no such endpoint: {}", head.path),
        )),
        ("GET", ["v1" | "v2", "actions"]) => Ok(Reply::json(200, shared.state().actions_json())),
        ("GET", ["v1" | "v2", "actions", uid]) => match shared.state().poll_action(uid) {
            Some(action) => Ok(Reply::json(200, action)),
            None => Err(not_found(
                "action_not_found",
                format!("action {uid} does not exist"),
            )),
        },
        (_, segments) if path_is_known(segments) => Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{} is not supported on {}", head.method, head.path),
        )
        .into()),
        _ => Err(not_found(
            "not_found",
            format!("no such endpoint: {}", head.path),
        )),
    }
}

fn path_is_known(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["v1", "nodes"]
            | ["v1", "nodes", _]
            | ["v1", "cluster"]
            | ["v1", "cluster", "module-capabilities"]
            | ["v1" | "v2", "modules"]
            | ["v1" | "v2", "modules", _]
            | ["v2", "modules", "user-defined", _]
            | ["v2", "local", "modules", "user-defined", "artifacts"]
            | ["v2", "local", "modules", "user-defined", "artifacts", _, _]
            | ["v1", "bdbs"]
            | ["v1", "bdbs", _]
            | ["v1", "bdbs", _, "upgrade"]
            | ["v1", "bdbs", _, "modules", "upgrade"]
            | ["v1", "modules", "upgrade", "bdb", _]
            | ["v1" | "v2", "actions"]
            | ["v1" | "v2", "actions", _]
    )
}

fn requested_fields(query: Option<&str>) -> Option<Vec<String>> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "fields").then(|| {
            value
                .split([',', '+'])
                .map(|f| f.replace("%2C", ",").trim().to_owned())
                .filter(|f| !f.is_empty())
                .collect()
        })
    })
}

fn select_fields(object: &Value, fields: Option<&[String]>) -> Value {
    match (fields, object.as_object()) {
        (Some(fields), Some(map)) => {
            let picked: Map<String, Value> = map
                .iter()
                .filter(|(key, _)| fields.iter().any(|f| f == *key))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Object(picked)
        }
        _ => object.clone(),
    }
}

/// Reads a JSON body; a body that is too large or not JSON is answered with `status`.
async fn read_json(body: &mut BodyReader, status: u16) -> Result<Value, Failure> {
    let Some(bytes) = body.read_limited(MAX_JSON_BODY).await? else {
        return Err(ApiError::new(
            status,
            "invalid_schema",
            "the JSON body is larger than 1 MiB",
        )
        .into());
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::from(ApiError::new(
            status,
            "invalid_schema",
            format!("the body is not valid JSON: {e}"),
        ))
    })?;
    body.json = Some(value.clone());
    Ok(value)
}

async fn update_cluster(shared: &Shared, body: &mut BodyReader) -> Handled {
    let request = read_json(body, 400).await?;
    let Some(fields) = request.as_object() else {
        return Err(ApiError::new(400, "invalid_schema", "the body must be a JSON object").into());
    };
    let mut state = shared.state();
    if let Some(value) = fields.get("allow_modules_upload") {
        if !state.rs_at_least("8.2") {
            return Err(ApiError::new(
                400,
                "invalid_schema",
                format!("allow_modules_upload is not a cluster attribute before RS 8.2 (cluster runs {})", state.rs_version),
            )
            .into());
        }
        let Some(allow) = value.as_bool() else {
            return Err(ApiError::new(
                400,
                "invalid_schema",
                "allow_modules_upload must be a boolean",
            )
            .into());
        };
        state.allow_modules_upload = allow;
    }
    if let Some(name) = fields.get("name").and_then(Value::as_str) {
        state.cluster_name = name.to_owned();
    }
    Ok(Reply::json(200, state.cluster_json()))
}

async fn create_user_defined(shared: &Shared, body: &mut BodyReader) -> Handled {
    if let Some(error) = shared.state().upload_disabled() {
        return Err(error.into());
    }
    let config = read_json(body, 406).await?;
    let Some(config) = config.as_object() else {
        return Err(ApiError::new(
            406,
            "invalid_schema",
            "the module configuration must be a JSON object",
        )
        .into());
    };
    let problems = field_problems(config, USER_DEFINED_CONFIG_FIELDS);
    if !problems.is_empty() {
        return Err(ApiError::new(406, "invalid_schema", problems.join("; ")).into());
    }
    let name = config
        .get("module_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let semantic_version = config
        .get("semantic_version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let version = version_number(config);
    let mut state = shared.state();
    let duplicate = state.modules.iter().any(|m| {
        m.name().eq_ignore_ascii_case(name)
            && (m.semantic_version() == semantic_version
                || m.object
                    .as_object()
                    .is_some_and(|o| version_number(o) == version))
    });
    if duplicate {
        return Err(ApiError::new(
            406,
            "module_exists",
            format!("module {name} version {version} ({semantic_version}) is already registered"),
        )
        .into());
    }
    let mut object = Value::Object(config.clone());
    object["is_bundled"] = json!(false);
    let uid = state.add_module(object, true);
    let module = state
        .module(&uid)
        .map(|m| m.object.clone())
        .unwrap_or(Value::Null);
    Ok(Reply::json(200, module))
}

async fn upload_artifact(
    shared: &Shared,
    node: usize,
    head: &Head,
    body: &mut BodyReader,
) -> Handled {
    if let Some(error) = shared.state().upload_disabled() {
        return Err(error.into());
    }
    let node_dir = shared.state().nodes[node - 1].dir.clone();
    let upload = receive_module(
        head,
        body,
        &node_dir.join("incoming"),
        shared.max_upload_bytes,
    )
    .await?;
    let facts = match inspect(&upload.file.path).await? {
        Ok(facts) => facts,
        Err(ZipProblem::BadArtifact(message)) => {
            return Err(ApiError::new(400, "invalid_module", message).into())
        }
        Err(ZipProblem::BadMetadata(message)) => {
            return Err(ApiError::new(406, "invalid_schema", message).into())
        }
    };
    let module_json = &facts.module_json;
    let problems = field_problems(module_json, ARTIFACT_MODULE_JSON_FIELDS);
    if !problems.is_empty() {
        return Err(ApiError::new(
            406,
            "invalid_schema",
            format!("module.json: {}", problems.join("; ")),
        )
        .into());
    }
    let name = module_json
        .get("module_name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if !is_safe_name(&name) {
        return Err(ApiError::new(
            406,
            "invalid_schema",
            format!("module_name {name:?} has characters RS does not accept"),
        )
        .into());
    }
    let dependencies = match module_json.get("dependencies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(other) => {
            return Err(ApiError::new(
                406,
                "invalid_schema",
                format!("module.json dependencies must be an object, got {other}"),
            )
            .into())
        }
    };
    let platform = shared.state().nodes[node - 1].platform.clone();
    if let Some((code, problem)) = platform_problem(module_json, &platform) {
        return Err(ApiError::new(406, code, problem).into());
    }
    if let Some(missing) = missing_dependency(module_json, &facts) {
        return Err(ApiError::new(400, "invalid_dependency_data", missing).into());
    }
    let version = version_number(module_json);
    let semantic_version = module_json
        .get("semantic_version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let file_name = upload
        .file_name
        .as_deref()
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .filter(|n| is_safe_name(n))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{name}.zip"));
    let destination = node_dir
        .join("artifacts")
        .join(&name)
        .join(version.to_string())
        .join(&file_name);
    let ReceivedUpload {
        file,
        size,
        file_name: client_file_name,
    } = upload;
    let mut state = shared.state();
    let artifacts = &mut state.nodes[node - 1].artifacts;
    let key = (name.clone(), version);
    if let Some(previous) = artifacts.get(&key) {
        if previous.path != destination {
            let _ = std::fs::remove_file(&previous.path);
        }
    }
    file.persist(&destination).map_err(internal)?;
    let uploads = artifacts.get(&key).map_or(0, |a| a.uploads) + 1;
    let mut dependencies = dependencies;
    dependencies.sort();
    artifacts.insert(
        key,
        StoredArtifact {
            module_name: name,
            version,
            semantic_version,
            dependencies,
            size,
            sha256: String::new(),
            file_name: client_file_name,
            path: destination,
            uploads,
        },
    );
    Ok(Reply::empty(200))
}

async fn upload_bundled(
    shared: &Shared,
    node: usize,
    head: &Head,
    body: &mut BodyReader,
    v2: bool,
) -> Handled {
    if let Some(error) = shared.state().upload_disabled() {
        return Err(error.into());
    }
    let upload = receive_module(
        head,
        body,
        &shared.cluster_dir.join("incoming"),
        shared.max_upload_bytes,
    )
    .await?;
    let facts = match inspect(&upload.file.path).await? {
        Ok(facts) => facts,
        Err(ZipProblem::BadArtifact(message) | ZipProblem::BadMetadata(message)) => {
            return Err(ApiError::new(400, "invalid_module", message).into())
        }
    };
    let module_json = &facts.module_json;
    let problems = field_problems(module_json, BUNDLED_MODULE_JSON_FIELDS);
    if !problems.is_empty() {
        return Err(ApiError::new(
            400,
            "invalid_module",
            format!("module.json: {}", problems.join("; ")),
        )
        .into());
    }
    let name = module_json
        .get("module_name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let semantic_version = module_json
        .get("semantic_version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let capabilities = string_list(module_json.get("capabilities"));

    let mut state = shared.state();
    if state
        .module_by_name_version(&name, &semantic_version)
        .is_some()
    {
        return Err(ApiError::new(
            400,
            "module_exists",
            format!("module {name} {semantic_version} is already in the cluster"),
        )
        .into());
    }
    if let Some(min) = module_json
        .get("min_redis_pack_version")
        .and_then(Value::as_str)
    {
        if compare_versions(min, &state.rs_version) == Ordering::Greater {
            return Err(ApiError::new(
                400,
                "min_redis_pack_version",
                format!(
                    "{name} {semantic_version} needs Redis Enterprise {min}; the cluster runs {}",
                    state.rs_version
                ),
            )
            .into());
        }
    }
    for node_state in &state.nodes {
        if let Some((code, problem)) = platform_problem(module_json, &node_state.platform) {
            return Err(
                ApiError::new(400, code, format!("node {}: {problem}", node_state.uid)).into(),
            );
        }
    }
    let unknown: Vec<&String> = capabilities
        .iter()
        .filter(|c| !state.capabilities.iter().any(|(known, _)| known == *c))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::new(
            400,
            "unsupported_module_capabilities",
            format!("capabilities unknown to this cluster: {}", names.join(", ")),
        )
        .into());
    }
    let missing = state.capabilities_missing_for_bdbs(&name, &capabilities);
    if !missing.is_empty() {
        return Err(ApiError::new(
            400,
            "unsupported_module_capabilities",
            format!(
                "databases using {name} need capabilities the module lacks: {}",
                missing.join(", ")
            ),
        )
        .into());
    }
    check_dependencies(module_json, &facts, v2)?;

    let mut object = Value::Object(module_json.clone());
    object["is_bundled"] = json!(false);
    object["uid"] = json!(random_hex(32));
    let uid = state.add_module(object, false);
    upload
        .file
        .persist(&shared.cluster_dir.join(format!("{uid}.zip")))
        .map_err(internal)?;
    let mut answer = state
        .module(&uid)
        .map(|m| m.object.clone())
        .unwrap_or(Value::Null);
    if v2 {
        let action = state.new_action_with(
            "module_upload",
            &format!("module:{uid}"),
            node,
            Vec::new(),
            vec![PendingChange::RemoveModule(uid.clone())],
        );
        answer["action_uid"] = json!(action);
    }
    Ok(Reply::json(200, answer))
}

/// `POST /v1/modules` refuses dependencies; `/v2/modules` needs each as `{url, sha256}`.
fn check_dependencies(
    module_json: &Map<String, Value>,
    facts: &ZipFacts,
    v2: bool,
) -> Result<(), ApiError> {
    let dependencies = match module_json.get("dependencies") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(ApiError::new(
                400,
                "invalid_dependency_data",
                format!("dependencies must be an object, got {other}"),
            ))
        }
    };
    if dependencies.is_empty() {
        return Ok(());
    }
    if !v2 {
        return Err(ApiError::new(
            400,
            "dependencies_not_supported",
            "POST /v1/modules does not accept modules with dependencies; use POST /v2/modules",
        ));
    }
    for (name, dependency) in dependencies {
        if dependency.get("sha256").and_then(Value::as_str).is_none() {
            return Err(ApiError::new(
                400,
                "invalid_dependency_data",
                format!("dependency {name} must be an object with a sha256 string"),
            ));
        }
    }
    if let Some(missing) = missing_dependency(module_json, facts) {
        return Err(ApiError::new(400, "invalid_dependency_data", missing));
    }
    Ok(())
}

/// RS reads dependencies only from the zip's `deps/`: a dependency module.json lists (a `url`
/// or not) that the zip does not hold fails the upload.
fn missing_dependency(module_json: &Map<String, Value>, facts: &ZipFacts) -> Option<String> {
    let listed = module_json.get("dependencies")?.as_object()?;
    listed
        .keys()
        .find(|name| !facts.embedded_dependencies.iter().any(|d| d == *name))
        .map(|name| format!("Missing dependency {name}.tgz"))
}

async fn upgrade(
    shared: &Shared,
    node: usize,
    bdb_uid: &str,
    body: &mut BodyReader,
    style: UpgradeStyle,
    dry_run: bool,
) -> Handled {
    let request = read_json(body, 400).await?;
    let answer = shared
        .state()
        .upgrade_bdb(bdb_uid, &request, style, node, dry_run)?;
    Ok(Reply::json(200, answer))
}

/// Size of the blocks handed to the disk-writing thread.
const WRITE_BLOCK: usize = 1 << 20;

/// A block being written; gives back the file and the buffer.
type BlockWrite = JoinHandle<std::io::Result<(std::fs::File, Vec<u8>)>>;

/// Writes an upload to disk from a blocking thread, one block behind the network: two block
/// buffers per upload, whatever the upload's size. (The SHA-256 is computed later, when a test
/// reads it, so uploads cost the emulator as little CPU as possible.)
struct DiskWriter {
    file: Option<std::fs::File>,
    filling: Vec<u8>,
    spare: Vec<u8>,
    in_flight: Option<BlockWrite>,
}

impl DiskWriter {
    fn new(file: std::fs::File) -> Self {
        Self {
            file: Some(file),
            filling: Vec::with_capacity(WRITE_BLOCK * 2),
            spare: Vec::with_capacity(WRITE_BLOCK * 2),
            in_flight: None,
        }
    }

    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.filling.extend_from_slice(data);
        if self.filling.len() >= WRITE_BLOCK {
            self.submit().await?;
        }
        Ok(())
    }

    /// Waits for the block being written, taking back the file and its buffer.
    async fn settle(&mut self) -> std::io::Result<()> {
        if let Some(task) = self.in_flight.take() {
            let (file, mut buffer) = task.await.map_err(std::io::Error::other)??;
            buffer.clear();
            self.spare = buffer;
            self.file = Some(file);
        }
        Ok(())
    }

    async fn submit(&mut self) -> std::io::Result<()> {
        self.settle().await?;
        let Some(mut file) = self.file.take() else {
            return Err(std::io::Error::other("the upload file is already closed"));
        };
        let block = std::mem::replace(&mut self.filling, std::mem::take(&mut self.spare));
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            file.write_all(&block)?;
            Ok((file, block))
        }));
        Ok(())
    }

    /// Writes what is left.
    async fn finish(mut self) -> std::io::Result<()> {
        if !self.filling.is_empty() {
            self.submit().await?;
        }
        self.settle().await
    }
}

/// An uploaded file on disk, removed again unless it is persisted.
struct PartFile {
    path: PathBuf,
    kept: bool,
}

impl PartFile {
    fn persist(mut self, destination: &Path) -> std::io::Result<()> {
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&self.path, destination)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The `module` file of a multipart upload, written to disk as it arrives.
struct ReceivedUpload {
    file: PartFile,
    size: u64,
    file_name: Option<String>,
}

fn multipart_failure(error: MultipartError) -> Failure {
    match error {
        MultipartError::Body(failure) => Failure::Body(failure),
        MultipartError::Malformed(message) => Failure::Api(ApiError::new(
            400,
            "invalid_module",
            format!("malformed multipart body: {message}"),
        )),
    }
}

/// Streams the multipart field `module` into a file in `directory`, hashing it on the way.
async fn receive_module(
    head: &Head,
    body: &mut BodyReader,
    directory: &Path,
    max_bytes: u64,
) -> Result<ReceivedUpload, Failure> {
    let Some(mut multipart) = head.content_type.as_deref().and_then(MultipartReader::new) else {
        return Err(ApiError::new(
            400,
            "no_module",
            "expected a multipart/form-data body with a `module` file field",
        )
        .into());
    };
    tokio::fs::create_dir_all(directory)
        .await
        .map_err(internal)?;
    let mut received = None;
    while let Some(part) = multipart.next_part(body).await.map_err(multipart_failure)? {
        if part.name.as_deref() != Some("module") || received.is_some() {
            continue;
        }
        let file = PartFile {
            path: directory.join(format!("upload-{}.part", random_hex(16))),
            kept: false,
        };
        let handle = std::fs::File::create(&file.path).map_err(internal)?;
        let mut writer = DiskWriter::new(handle);
        let mut size = 0u64;
        while let Some(chunk) = multipart
            .next_chunk(body)
            .await
            .map_err(multipart_failure)?
        {
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(ApiError::new(
                    400,
                    "invalid_module",
                    format!("the module is larger than {max_bytes} bytes"),
                )
                .into());
            }
            writer.write(chunk).await.map_err(internal)?;
        }
        writer.finish().await.map_err(internal)?;
        received = Some(ReceivedUpload {
            file,
            size,
            file_name: part.filename,
        });
    }
    received.ok_or_else(|| {
        ApiError::new(400, "no_module", "the multipart body has no `module` field").into()
    })
}

async fn inspect(path: &Path) -> Result<Result<ZipFacts, ZipProblem>, Failure> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || inspect_zip(&path))
        .await
        .map_err(internal)
}
