//! One method per REST endpoint rmpack uses.

use serde_json::Value;

use super::client::{Client, UploadFile};
use super::types::{
    Action, Artifact, Bdb, Cluster, Module, ModuleCapabilities, Node, UpgradeRequest,
};
use super::ClusterError;
use crate::manifest::ModuleVersion;

/// Escapes one path segment (module names may hold characters URLs reserve).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Client {
    /// `GET /v1/nodes`.
    pub fn nodes(&self) -> Result<Vec<Node>, ClusterError> {
        self.get("/v1/nodes")
    }

    /// `GET /v1/cluster`.
    pub fn cluster(&self) -> Result<Cluster, ClusterError> {
        self.get("/v1/cluster")
    }

    /// `GET /v1/cluster/module-capabilities`.
    pub fn module_capabilities(&self) -> Result<ModuleCapabilities, ClusterError> {
        self.get("/v1/cluster/module-capabilities")
    }

    /// `GET /v1/modules`: every module the cluster stores (bundled and user-defined).
    pub fn modules(&self) -> Result<Vec<Module>, ClusterError> {
        self.get("/v1/modules")
    }

    /// `GET /v1/modules/{uid}`.
    pub fn module(&self, uid: &str) -> Result<Module, ClusterError> {
        self.get(&format!("/v1/modules/{}", path_segment(uid)))
    }

    /// `GET /v1/modules/{uid}` as the server sent it, every field included.
    pub fn module_raw(&self, uid: &str) -> Result<Value, ClusterError> {
        self.get(&format!("/v1/modules/{}", path_segment(uid)))
    }

    /// `DELETE /v2/modules/{uid}`: returns the action tracking the deletion, if any.
    pub fn delete_module(&self, uid: &str) -> Result<Option<String>, ClusterError> {
        let answer = self.delete(&format!("/v2/modules/{}", path_segment(uid)))?;
        Ok(action_uid_of(&answer))
    }

    /// `POST /v2/modules/user-defined` with a module's configuration.
    pub fn register_user_defined(&self, config: &Value) -> Result<Module, ClusterError> {
        self.post_json("/v2/modules/user-defined", config)
    }

    /// `DELETE /v2/modules/user-defined/{uid}`.
    pub fn delete_user_defined(&self, uid: &str) -> Result<(), ClusterError> {
        self.delete(&format!("/v2/modules/user-defined/{}", path_segment(uid)))
            .map(|_| ())
    }

    /// `GET /v2/local/modules/user-defined/artifacts` on this client's node.
    pub fn artifacts(&self) -> Result<Vec<Artifact>, ClusterError> {
        self.get("/v2/local/modules/user-defined/artifacts")
    }

    /// `POST /v2/local/modules/user-defined/artifacts` on this client's node, streaming the zip.
    pub fn upload_artifact(&self, file: &UploadFile) -> Result<(), ClusterError> {
        self.post_file("/v2/local/modules/user-defined/artifacts", file, true)
            .map(|_| ())
    }

    /// `DELETE /v2/local/modules/user-defined/artifacts/{name}/{version}` on this client's node.
    pub fn delete_artifact(&self, name: &str, version: ModuleVersion) -> Result<(), ClusterError> {
        self.delete(&format!(
            "/v2/local/modules/user-defined/artifacts/{}/{}",
            path_segment(name),
            version.0
        ))
        .map(|_| ())
    }

    /// `POST /v2/modules`: bundled upload; the module object with its `action_uid`.
    pub fn upload_bundled(&self, file: &UploadFile) -> Result<Module, ClusterError> {
        let answer = self.post_file("/v2/modules", file, false)?;
        serde_json::from_value(answer).map_err(|e| ClusterError::BadResponse {
            method: "POST",
            url: format!("{}/v2/modules", self.base().origin()),
            detail: e.to_string(),
        })
    }

    /// `GET /v1/bdbs/{uid}`.
    pub fn bdb(&self, uid: &str) -> Result<Bdb, ClusterError> {
        self.get(&format!("/v1/bdbs/{}", path_segment(uid)))
    }

    /// `GET /v1/actions/{uid}`; a 404 becomes [`ClusterError::UnknownAction`].
    pub fn action(&self, uid: &str) -> Result<Action, ClusterError> {
        match self.get(&format!("/v1/actions/{}", path_segment(uid))) {
            Err(ClusterError::NotFound { .. }) => Err(ClusterError::UnknownAction {
                uid: uid.to_string(),
            }),
            other => other,
        }
    }

    /// `POST /v1/bdbs/{uid}/upgrade` (RS ≥ 7.8.2): the answer's JSON.
    pub fn upgrade_bdb(&self, uid: &str, request: &UpgradeRequest) -> Result<Value, ClusterError> {
        let body = serde_json::to_value(request).unwrap_or(Value::Null);
        self.post_json(&format!("/v1/bdbs/{}/upgrade", path_segment(uid)), &body)
    }

    /// `POST /v1/bdbs/{uid}/modules/upgrade` (older clusters): the answer's JSON.
    pub fn upgrade_bdb_modules(
        &self,
        uid: &str,
        request: &UpgradeRequest,
    ) -> Result<Value, ClusterError> {
        let body = serde_json::to_value(request).unwrap_or(Value::Null);
        self.post_json(
            &format!("/v1/bdbs/{}/modules/upgrade", path_segment(uid)),
            &body,
        )
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
        assert_eq!(path_segment("ReJSON"), "ReJSON");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
