//! Predicts, before upload, each reason RS would refuse a module, and how to fix it.
//!
//! Inputs are a `.so`, a `module.json`, a module zip or a folder holding them; a [`Target`] says
//! what to check against (OS, architecture, Redis and RS versions, a database configuration, the
//! version already on the cluster, facts read from a live cluster). The validator never talks to
//! a cluster itself: `cluster` fetches a live target and hands it over as a plain [`Target`].

mod diagnostic;

pub use diagnostic::{Diagnostic, Report, Severity};

use crate::manifest::{Arch, DottedVersion, ModuleVersion, OsNick};

/// What to check a module against. Every part is optional; without any, only the checks that need
/// no target run (structure, fields, ELF sanity).
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// OS nicknames the module must load on (glibc, shipped libraries).
    pub operating_systems: Vec<OsNick>,
    /// Architectures the module must run on (a live cluster gives one per node kind).
    pub architectures: Vec<Arch>,
    /// Redis version of the database(s) the module will run in.
    pub redis_version: Option<DottedVersion>,
    /// RS version of the cluster.
    pub rs_version: Option<DottedVersion>,
    /// The database object (`GET /v1/bdbs/{uid}`), for capability checks.
    pub database: Option<serde_json::Value>,
    /// Version of the module already on the cluster or database, for upgrade checks.
    pub current_version: Option<ModuleVersion>,
    /// Facts only a live cluster gives.
    pub cluster: Option<ClusterFacts>,
}

/// What a live cluster says about itself, as far as the validator cares.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// Where the facts came from (the cluster URL), for messages.
    pub source: String,
    /// Capability names the cluster knows (`GET /v1/cluster/module-capabilities`).
    pub known_capabilities: Vec<String>,
    /// Modules already on the cluster: name and version.
    pub modules: Vec<(String, ModuleVersion)>,
    /// `allow_modules_upload` where the cluster reports it (RS ≥ 8.2).
    pub modules_upload_allowed: Option<bool>,
}
