//! Every REST endpoint rmpack uses, named once: [`Endpoint`] values (method and path) built from
//! checked path segments, and one [`Client`] method per endpoint.
//!
//! A value from the user or the cluster (a module name, a uid, a version) becomes a path segment
//! only through [`path_segment`]: `.` and `..`, an empty value and control characters are refused,
//! every other reserved byte (`/`, `?`, `#`, `%`, spaces) is percent-encoded. So no value can
//! climb to another route, add a query or cut the path short — also in a rollback.

use serde_json::Value;

use super::client::{Client, UploadFile};
use super::types::{
    Action, Artifact, Bdb, Cluster, Module, ModuleCapabilities, Node, UpgradeRequest,
};
use super::ClusterError;
use crate::manifest::ModuleVersion;

/// One request's method and path (no origin, no credentials): what a plan lists and a client
/// sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, segments already checked and encoded, e.g. `/v1/bdbs/1/upgrade`.
    pub path: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

fn fixed(method: &'static str, path: &str) -> Endpoint {
    Endpoint {
        method,
        path: path.to_string(),
    }
}

/// Checks and encodes one path segment. `what` names the value in the error ("module uid").
pub fn path_segment(what: &'static str, text: &str) -> Result<String, ClusterError> {
    let refuse = |problem: &str| ClusterError::UnsafePathSegment {
        what,
        value: text.escape_debug().to_string(),
        problem: problem.to_string(),
    };
    if text.is_empty() {
        return Err(refuse("it is empty"));
    }
    if text.bytes().all(|b| b == b'.') {
        return Err(refuse("`.` and `..` name another route"));
    }
    if text.chars().any(char::is_control) {
        return Err(refuse("it holds control characters"));
    }
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

impl Endpoint {
    /// `GET /v1/nodes`.
    pub fn nodes() -> Endpoint {
        fixed("GET", "/v1/nodes")
    }

    /// `GET /v1/cluster`.
    pub fn cluster() -> Endpoint {
        fixed("GET", "/v1/cluster")
    }

    /// `GET /v1/cluster/module-capabilities`.
    pub fn module_capabilities() -> Endpoint {
        fixed("GET", "/v1/cluster/module-capabilities")
    }

    /// `GET /v1/modules`.
    pub fn modules() -> Endpoint {
        fixed("GET", "/v1/modules")
    }

    /// `GET /v1/modules/{uid}`.
    pub fn module(uid: &str) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "GET",
            &format!("/v1/modules/{}", path_segment("module uid", uid)?),
        ))
    }

    /// `DELETE /v2/modules/{uid}`.
    pub fn delete_module(uid: &str) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "DELETE",
            &format!("/v2/modules/{}", path_segment("module uid", uid)?),
        ))
    }

    /// `POST /v2/modules` (bundled upload, multipart).
    pub fn upload_bundled() -> Endpoint {
        fixed("POST", "/v2/modules")
    }

    /// `POST /v2/modules/user-defined` (custom module configuration).
    pub fn register_user_defined() -> Endpoint {
        fixed("POST", "/v2/modules/user-defined")
    }

    /// `DELETE /v2/modules/user-defined/{uid}`.
    pub fn delete_user_defined(uid: &str) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "DELETE",
            &format!(
                "/v2/modules/user-defined/{}",
                path_segment("module uid", uid)?
            ),
        ))
    }

    /// `GET /v2/local/modules/user-defined/artifacts` (per node).
    pub fn artifacts() -> Endpoint {
        fixed("GET", "/v2/local/modules/user-defined/artifacts")
    }

    /// `POST /v2/local/modules/user-defined/artifacts` (per node, multipart).
    pub fn upload_artifact() -> Endpoint {
        fixed("POST", "/v2/local/modules/user-defined/artifacts")
    }

    /// `DELETE /v2/local/modules/user-defined/artifacts/{name}/{version}` (per node).
    pub fn delete_artifact(name: &str, version: ModuleVersion) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "DELETE",
            &format!(
                "/v2/local/modules/user-defined/artifacts/{}/{}",
                path_segment("module name", name)?,
                version.0
            ),
        ))
    }

    /// `GET /v1/bdbs`.
    pub fn bdbs() -> Endpoint {
        fixed("GET", "/v1/bdbs")
    }

    /// `GET /v1/bdbs/{uid}`.
    pub fn bdb(uid: &str) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "GET",
            &format!("/v1/bdbs/{}", path_segment("database uid", uid)?),
        ))
    }

    /// `POST /v1/bdbs/{uid}/upgrade` (RS 7.4 and later), with `?dry_run=true` when asked.
    pub fn bdb_upgrade(uid: &str, dry_run: bool) -> Result<Endpoint, ClusterError> {
        let query = if dry_run { "?dry_run=true" } else { "" };
        Ok(fixed(
            "POST",
            &format!(
                "/v1/bdbs/{}/upgrade{query}",
                path_segment("database uid", uid)?
            ),
        ))
    }

    /// `POST /v1/bdbs/{uid}/modules/upgrade` (clusters older than the general route).
    pub fn bdb_modules_upgrade(uid: &str) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "POST",
            &format!(
                "/v1/bdbs/{}/modules/upgrade",
                path_segment("database uid", uid)?
            ),
        ))
    }

    /// `GET /v1/actions/{uid}`.
    pub fn action(uid: &str) -> Result<Endpoint, ClusterError> {
        Ok(fixed(
            "GET",
            &format!("/v1/actions/{}", path_segment("action uid", uid)?),
        ))
    }
}

impl Client {
    /// `GET /v1/nodes`.
    pub fn nodes(&self) -> Result<Vec<Node>, ClusterError> {
        self.get(&Endpoint::nodes().path)
    }

    /// `GET /v1/cluster`.
    pub fn cluster(&self) -> Result<Cluster, ClusterError> {
        self.get(&Endpoint::cluster().path)
    }

    /// `GET /v1/cluster/module-capabilities`.
    pub fn module_capabilities(&self) -> Result<ModuleCapabilities, ClusterError> {
        self.get(&Endpoint::module_capabilities().path)
    }

    /// `GET /v1/modules`: every module the cluster stores (bundled and user-defined).
    pub fn modules(&self) -> Result<Vec<Module>, ClusterError> {
        self.get(&Endpoint::modules().path)
    }

    /// `GET /v1/modules/{uid}`.
    pub fn module(&self, uid: &str) -> Result<Module, ClusterError> {
        self.get(&Endpoint::module(uid)?.path)
    }

    /// `GET /v1/modules/{uid}` as the server sent it, every field included.
    pub fn module_raw(&self, uid: &str) -> Result<Value, ClusterError> {
        self.get(&Endpoint::module(uid)?.path)
    }

    /// `DELETE /v2/modules/{uid}`: returns the action tracking the deletion, if any.
    pub fn delete_module(&self, uid: &str) -> Result<Option<String>, ClusterError> {
        Ok(action_uid_of(&self.delete_module_answer(uid)?))
    }

    /// `DELETE /v2/modules/{uid}`, returning the answer's JSON (`null` for an empty body).
    pub fn delete_module_answer(&self, uid: &str) -> Result<Value, ClusterError> {
        self.delete(&Endpoint::delete_module(uid)?.path)
    }

    /// `POST /v2/modules/user-defined` with a module's configuration.
    pub fn register_user_defined(&self, config: &Value) -> Result<Module, ClusterError> {
        self.post_json(&Endpoint::register_user_defined().path, config)
    }

    /// `DELETE /v2/modules/user-defined/{uid}`.
    pub fn delete_user_defined(&self, uid: &str) -> Result<(), ClusterError> {
        self.delete_user_defined_answer(uid).map(|_| ())
    }

    /// [`Client::delete_user_defined`], returning the answer's JSON (`null` for an empty body).
    pub fn delete_user_defined_answer(&self, uid: &str) -> Result<Value, ClusterError> {
        self.delete(&Endpoint::delete_user_defined(uid)?.path)
    }

    /// `GET /v2/local/modules/user-defined/artifacts` on this client's node.
    pub fn artifacts(&self) -> Result<Vec<Artifact>, ClusterError> {
        self.get(&Endpoint::artifacts().path)
    }

    /// `POST /v2/local/modules/user-defined/artifacts` on this client's node, streaming the zip.
    pub fn upload_artifact(&self, file: &UploadFile) -> Result<(), ClusterError> {
        self.post_file(&Endpoint::upload_artifact().path, file, true)
            .map(|_| ())
    }

    /// `DELETE /v2/local/modules/user-defined/artifacts/{name}/{version}` on this client's node.
    pub fn delete_artifact(&self, name: &str, version: ModuleVersion) -> Result<(), ClusterError> {
        self.delete_artifact_answer(name, version).map(|_| ())
    }

    /// [`Client::delete_artifact`], returning the answer's JSON (`null` for an empty body).
    pub fn delete_artifact_answer(
        &self,
        name: &str,
        version: ModuleVersion,
    ) -> Result<Value, ClusterError> {
        self.delete(&Endpoint::delete_artifact(name, version)?.path)
    }

    /// `POST /v2/modules`: bundled upload; the module object with its `action_uid`.
    pub fn upload_bundled(&self, file: &UploadFile) -> Result<Module, ClusterError> {
        let path = Endpoint::upload_bundled().path;
        let answer = self.post_file(&path, file, false)?;
        self.typed("POST", &path, answer)
    }

    /// `GET /v1/bdbs`.
    pub fn bdbs(&self) -> Result<Vec<Bdb>, ClusterError> {
        self.get_databases(&Endpoint::bdbs().path)
    }

    /// `GET /v1/bdbs/{uid}`.
    pub fn bdb(&self, uid: &str) -> Result<Bdb, ClusterError> {
        self.get_databases(&Endpoint::bdb(uid)?.path)
    }

    /// `GET /v1/actions/{uid}`; a 404 becomes [`ClusterError::UnknownAction`].
    pub fn action(&self, uid: &str) -> Result<Action, ClusterError> {
        match self.get(&Endpoint::action(uid)?.path) {
            Err(ClusterError::NotFound { .. }) => Err(ClusterError::UnknownAction {
                uid: uid.to_string(),
            }),
            other => other,
        }
    }

    /// `POST /v1/bdbs/{uid}/upgrade` (RS 7.4 and later): the answer's JSON. With `dry_run`, the
    /// cluster answers the resulting database without changing it (where it supports that).
    pub fn upgrade_bdb(
        &self,
        uid: &str,
        request: &UpgradeRequest,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let body = serde_json::to_value(request).unwrap_or(Value::Null);
        let endpoint = Endpoint::bdb_upgrade(uid, dry_run)?;
        // Never replayed, not even with `dry_run`: a cluster that does not know the parameter
        // executes the upgrade, and sending it again after a lost answer would do so twice.
        self.post_json(&endpoint.path, &body)
    }

    /// `POST /v1/bdbs/{uid}/modules/upgrade` (clusters older than RS 7.4): the answer's JSON.
    pub fn upgrade_bdb_modules(
        &self,
        uid: &str,
        request: &UpgradeRequest,
    ) -> Result<Value, ClusterError> {
        let body = serde_json::to_value(request).unwrap_or(Value::Null);
        self.post_json(&Endpoint::bdb_modules_upgrade(uid)?.path, &body)
    }
}

/// The `action_uid` of an answer, if it has one.
pub fn action_uid_of(answer: &Value) -> Option<String> {
    match answer.get("action_uid")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("x", "ReJSON").unwrap(), "ReJSON");
        assert_eq!(path_segment("x", "a/b c").unwrap(), "a%2Fb%20c");
        assert_eq!(path_segment("x", "a?b#c%d").unwrap(), "a%3Fb%23c%25d");
    }

    #[test]
    fn dot_segments_empty_values_and_control_characters_are_refused() {
        for bad in ["..", ".", "", "...", "a\u{1b}[2J", "a\nb"] {
            let error = path_segment("module uid", bad).unwrap_err();
            assert!(
                matches!(error, ClusterError::UnsafePathSegment { .. }),
                "{bad:?}: {error}"
            );
            assert!(!error.to_string().contains('\u{1b}'), "{error}");
        }
    }

    #[test]
    fn no_endpoint_built_from_a_hostile_value_leaves_its_route() {
        assert!(Endpoint::delete_user_defined("..").is_err());
        assert!(Endpoint::delete_user_defined("").is_err());
        assert!(Endpoint::delete_artifact("..", ModuleVersion(1)).is_err());
        let delete = Endpoint::delete_artifact("../../v1/bdbs#", ModuleVersion(10203)).unwrap();
        assert_eq!(
            delete.path,
            "/v2/local/modules/user-defined/artifacts/..%2F..%2Fv1%2Fbdbs%23/10203"
        );
        assert_eq!(
            Endpoint::bdb_upgrade("1", true).unwrap().path,
            "/v1/bdbs/1/upgrade?dry_run=true"
        );
        assert!(Endpoint::bdb_upgrade("1?x=1", false)
            .unwrap()
            .path
            .starts_with("/v1/bdbs/1%3Fx%3D1/"));
    }
}
