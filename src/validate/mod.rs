//! Predicts, before upload, each reason RS would refuse a module, and how to fix it.
//!
//! Inputs are a `.so`, a `module.json`, a module zip or a folder holding them; a [`Target`] says
//! what to check against (OS, architecture, Redis and RS versions, a database configuration, the
//! version already on the cluster, facts read from a live cluster). The validator never talks to
//! a cluster itself: `cluster` fetches a live target and hands it over as a plain [`Target`].
//! A target is read from text with [`target::TargetSpec`] and completed from a live
//! cluster's with [`Target::completed_from`].
//!
//! Rules live one family per file (`structure`, `fields`, `elf_rules`, `versions`,
//! `capabilities`, `upgrade`, `cluster`); the catalogue of every rule is [`rules::ALL`]. Data the
//! rules use (what each OS ships, which database settings need which capability) is in
//! `validate/policy/*.json`.

mod capabilities;
mod cluster;
mod deps;
mod diagnostic;
mod elf_rules;
mod fields;
pub mod load;
pub mod policy;
pub mod rules;
pub mod set;
mod structure;
pub mod target;
mod upgrade;
mod versions;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Report, Rule, Severity, Summary};
pub use set::{
    check_members_keeping, check_set, check_set_for_each, set_report, ChecksumFile, SetReport,
    ZipReport,
};
pub use upgrade::{check_module_object, check_nodes_same_rs, check_redis_move};

use crate::bundle::{Bundle, BundleError, Limits, Source};
use crate::elf::{ElfError, ElfFacts};
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
    /// The nodes the module goes to, with the OS and architecture each reports.
    pub nodes: Vec<NodeFacts>,
}

/// One node's platform, as the cluster reports it.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// The node's uid.
    pub uid: String,
    /// Its OS as RS names it (`rhel9`), when it reports enough to tell.
    pub os: Option<OsNick>,
    /// What it reports (`os_name os_semantic_version`), for messages.
    pub os_reported: String,
    /// Its architecture, when known.
    pub arch: Option<Arch>,
}

/// How to validate.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Caps on entries and inflated size when reading a zip.
    pub limits: Limits,
}

/// Why validation could not run at all (exit 2): the input cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The path does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The input is not a readable zip (or a folder/file that cannot be opened).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A folder holding neither module.json nor a .so.
    #[error("{0} holds neither module.json nor a module .so; pass a .so, a module.json, a module zip or a folder holding them")]
    NothingToCheck(PathBuf),
}

/// Validates `path` (a `.so`, a `module.json`, a module zip, or a folder holding them) against
/// `target`.
pub fn check_path(
    path: &Path,
    target: &Target,
    options: &CheckOptions,
) -> Result<Report, ValidateError> {
    let bundle = open(path, options)?;
    Ok(check_bundle(&bundle, target, options))
}

/// Opens `path` as the kind of input it is: a folder, a zip (by its leading bytes), a module.json
/// (by name or a leading `{`), else a shared object.
pub fn open(path: &Path, options: &CheckOptions) -> Result<Bundle, ValidateError> {
    let metadata = std::fs::metadata(path).map_err(|source| ValidateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if metadata.is_dir() {
        let bundle = Bundle::from_directory(path)?;
        if bundle.module_json_raw.is_none() && bundle.module.is_none() {
            return Err(ValidateError::NothingToCheck(path.to_path_buf()));
        }
        return Ok(bundle);
    }
    // Opened through the bounded reader: a FIFO, device or socket is refused at once.
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => crate::input::InputKind::ModuleJson,
        Some(e) if e.eq_ignore_ascii_case("zip") => crate::input::InputKind::Zip,
        _ => crate::input::InputKind::Module,
    };
    let mut head = [0u8; 4];
    let read = {
        use std::io::Read;
        let (mut file, _) = crate::input::open_file(path, kind).map_err(BundleError::from)?;
        file.read(&mut head).map_err(|source| ValidateError::Io {
            path: path.to_path_buf(),
            source,
        })?
    };
    let head = &head[..read];
    let named_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let named_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if head.starts_with(b"PK") || named_zip {
        Ok(Bundle::read_with_limits(path, options.limits)?)
    } else if named_json || head.trim_ascii_start().starts_with(b"{") {
        Ok(Bundle::from_module_json(path)?)
    } else {
        Ok(Bundle::from_shared_object(path)?)
    }
}

/// Runs every rule that applies to `bundle` and `target`.
pub fn check_bundle(bundle: &Bundle, target: &Target, _options: &CheckOptions) -> Report {
    let elf = bundle.module_elf();
    let mut ctx = Ctx {
        bundle,
        target,
        value: bundle
            .manifest_value()
            .and_then(serde_json::Value::as_object),
        elf: elf.as_ref(),
        out: Vec::new(),
    };
    if bundle.source == Source::Zip {
        structure::check(&mut ctx);
    }
    structure::check_checksums(&mut ctx);
    deps::check(&mut ctx);
    fields::check(&mut ctx);
    elf_rules::check(&mut ctx);
    versions::check(&mut ctx);
    capabilities::check(&mut ctx);
    upgrade::check(&mut ctx);
    cluster::check(&mut ctx);
    Report {
        subject: bundle.path.display().to_string(),
        diagnostics: ctx.out,
    }
}

/// What every rule sees.
pub(crate) struct Ctx<'a> {
    pub bundle: &'a Bundle,
    pub target: &'a Target,
    /// module.json as a JSON object, when it is one.
    pub value: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The ELF facts of the `.so`, when there is one.
    pub elf: Option<&'a Result<ElfFacts, ElfError>>,
    pub out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    /// A string field of module.json.
    fn str_field(&self, name: &str) -> Option<&str> {
        self.value?.get(name)?.as_str()
    }

    /// Where module.json findings point.
    fn json_location(&self) -> String {
        match self.bundle.source {
            Source::ModuleJson => self
                .bundle
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            _ => crate::bundle::MODULE_JSON.to_string(),
        }
    }

    /// Where findings about the `.so` point.
    fn module_location(&self) -> String {
        self.bundle
            .module
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// The module's version from module.json, when readable.
    fn module_version(&self) -> Option<ModuleVersion> {
        crate::manifest::module_version_from_json(self.value?.get("version")?).ok()
    }

    /// A dotted version field of module.json, when present and parseable.
    fn dotted_field(&self, name: &str) -> Option<DottedVersion> {
        self.str_field(name)?.parse().ok()
    }
}
