//! Two releases of a module → a [`ReleaseDiff`]: what an upgrade from OLD to NEW adds, removes
//! and changes, with the removals that break something marked.
//!
//! A removed command breaks the clients that call it; a removed capability is an upgrade hazard
//! (RS refuses, with `unsupported_module_capabilities`, to move a database whose configuration
//! needs it); a removed operating system or a changed architecture leaves nodes without a build;
//! a changed `module_name` makes RS treat NEW as another module. Command names compare
//! case-insensitively, as Redis compares them.
//!
//! The diff reads [`Bundle`]s and knows nothing of rendering: `report` turns it into text or JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::bundle::{Bundle, BundleError};
use crate::manifest::{Command, Dependency, ModuleJson, ModuleVersion};

/// Why a release cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The path cannot be opened as a zip, module.json or folder.
    #[error("cannot read {path}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: BundleError,
    },
    /// The path cannot be read at all.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The release holds no module.json (a bare `.so`, or a folder without one).
    #[error("{0} holds no module.json; diff compares releases: give module zips, module.json files or folders holding module.json")]
    NoModuleJson(PathBuf),
    /// The module.json does not parse.
    #[error("{path}: {reason}")]
    BadModuleJson {
        /// The path given.
        path: PathBuf,
        /// Why it does not parse.
        reason: String,
    },
}

/// What a change is about; the human rendering groups by it, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The module's identity: `module_name`, the `.so` itself (`sha256`).
    Module,
    /// A command or subcommand.
    Command,
    /// A capability.
    Capability,
    /// `min_redis_version`, `min_redis_pack_version`, `compatible_redis_version`.
    Requirement,
    /// The CPU architecture.
    Architecture,
    /// An operating system the build targets.
    OperatingSystem,
    /// A required or optional dependency.
    Dependency,
}

impl ChangeKind {
    /// Every kind, in rendering order.
    pub const ALL: [ChangeKind; 7] = [
        ChangeKind::Module,
        ChangeKind::Command,
        ChangeKind::Capability,
        ChangeKind::Requirement,
        ChangeKind::Architecture,
        ChangeKind::OperatingSystem,
        ChangeKind::Dependency,
    ];

    /// The heading of the kind's group.
    pub fn heading(self) -> &'static str {
        match self {
            ChangeKind::Module => "module",
            ChangeKind::Command => "commands",
            ChangeKind::Capability => "capabilities",
            ChangeKind::Requirement => "requirements",
            ChangeKind::Architecture => "architecture",
            ChangeKind::OperatingSystem => "operating systems",
            ChangeKind::Dependency => "dependencies",
        }
    }
}

/// Whether something appeared, went away or differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// In NEW only.
    Added,
    /// In OLD only.
    Removed,
    /// In both, different.
    Changed,
}

/// One field of a changed item: a value that moved (`old` → `new`) or a set that gained and lost
/// members (`added`, `removed`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    /// The field, e.g. `command_arity`, `flags`.
    pub field: String,
    /// The value in OLD (absent for a set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value in NEW (absent for a set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// Members NEW has and OLD lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Members OLD has and NEW lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl Detail {
    fn value(field: &str, old: Value, new: Value) -> Detail {
        Detail {
            field: field.to_string(),
            old: Some(old),
            new: Some(new),
            added: Vec::new(),
            removed: Vec::new(),
        }
    }

    fn set(field: &str, old: &[String], new: &[String]) -> Option<Detail> {
        let old: BTreeSet<&String> = old.iter().collect();
        let new: BTreeSet<&String> = new.iter().collect();
        let added: Vec<String> = new.difference(&old).map(|s| s.to_string()).collect();
        let removed: Vec<String> = old.difference(&new).map(|s| s.to_string()).collect();
        (!added.is_empty() || !removed.is_empty()).then(|| Detail {
            field: field.to_string(),
            old: None,
            new: None,
            added,
            removed,
        })
    }
}

/// One difference between the releases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// What it is about.
    pub kind: ChangeKind,
    /// The command, capability, field, OS or dependency name (as NEW writes it, or OLD for a
    /// removal).
    pub subject: String,
    /// Added, removed or changed.
    pub action: Action,
    /// The value in OLD, for a single value.
    pub old: Option<String>,
    /// The value in NEW, for a single value.
    pub new: Option<String>,
    /// The fields that differ, for a changed command or dependency.
    pub details: Vec<Detail>,
    /// Whether an upgrade from OLD to NEW breaks clients or databases.
    pub breaking: bool,
    /// Why it breaks, or what it means.
    pub note: Option<String>,
}

impl Change {
    fn new(kind: ChangeKind, subject: &str, action: Action) -> Change {
        Change {
            kind,
            subject: subject.to_string(),
            action,
            old: None,
            new: None,
            details: Vec::new(),
            breaking: false,
            note: None,
        }
    }

    fn values(mut self, old: Option<String>, new: Option<String>) -> Change {
        self.old = old;
        self.new = new;
        self
    }

    fn breaking(mut self, note: &str) -> Change {
        self.breaking = true;
        self.note = Some(note.to_string());
        self
    }

    fn note(mut self, note: &str) -> Change {
        self.note = Some(note.to_string());
        self
    }
}

/// One side of the diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    /// The path given.
    pub path: PathBuf,
    /// `module_name`.
    pub module_name: String,
    /// The integer version.
    pub version: ModuleVersion,
    /// The semantic version RS derives from `version`.
    pub semantic_version: String,
}

/// Which direction the version moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// NEW is above OLD.
    Up,
    /// Both carry the same version.
    Same,
    /// NEW is below OLD.
    Down,
}

/// The highest version part that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The major version differs.
    Major,
    /// The minor version differs.
    Minor,
    /// Only the patch differs.
    Patch,
    /// Nothing differs.
    None,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Major => "major",
            Part::Minor => "minor",
            Part::Patch => "patch",
            Part::None => "none",
        })
    }
}

/// From OLD's version to NEW's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionStep {
    /// OLD's semantic version.
    pub from: String,
    /// NEW's semantic version.
    pub to: String,
    /// Up, same or down.
    pub direction: Direction,
    /// The highest part that differs.
    pub part: Part,
}

/// Everything that differs between two releases of a module.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseDiff {
    /// The release upgraded from.
    pub old: Release,
    /// The release upgraded to.
    pub new: Release,
    /// How the version moved.
    pub version_step: VersionStep,
    /// Things worth knowing that are not changes (NEW not above OLD).
    pub warnings: Vec<String>,
    /// The changes, grouped by kind, each group in name order.
    pub changes: Vec<Change>,
}

impl ReleaseDiff {
    /// Whether any change breaks clients or databases.
    pub fn is_breaking(&self) -> bool {
        self.changes.iter().any(|c| c.breaking)
    }

    /// The number of breaking changes.
    pub fn breaking_count(&self) -> usize {
        self.changes.iter().filter(|c| c.breaking).count()
    }

    /// Whether the two releases hold the same facts.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.version_step.direction == Direction::Same
    }

    /// The changes of one kind.
    pub fn of_kind(&self, kind: ChangeKind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }
}

/// Opens a release: a folder (holding module.json), a zip (by its leading bytes), else a
/// module.json.
pub fn open(path: &Path) -> Result<Bundle, DiffError> {
    let read = |source| DiffError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(|source| DiffError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if metadata.is_dir() {
        return Bundle::from_directory(path).map_err(read);
    }
    let mut head = [0u8; 2];
    let is_zip = {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|source| DiffError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        file.read(&mut head).map_err(|source| DiffError::Io {
            path: path.to_path_buf(),
            source,
        })? == 2
            && &head == b"PK"
    };
    if is_zip {
        Bundle::read(path).map_err(read)
    } else if head.starts_with(b"\x7fE") {
        Err(DiffError::NoModuleJson(path.to_path_buf()))
    } else {
        Bundle::from_module_json(path).map_err(read)
    }
}

/// The module.json of an opened release.
pub fn module_json(bundle: &Bundle) -> Result<&ModuleJson, DiffError> {
    match &bundle.module_json {
        None => Err(DiffError::NoModuleJson(bundle.path.clone())),
        Some(Err(reason)) => Err(DiffError::BadModuleJson {
            path: bundle.path.clone(),
            reason: reason.clone(),
        }),
        Some(Ok(module)) => Ok(module),
    }
}

/// Opens both paths and compares them.
pub fn diff_paths(old: &Path, new: &Path) -> Result<ReleaseDiff, DiffError> {
    let old_bundle = open(old)?;
    let new_bundle = open(new)?;
    Ok(diff(
        old,
        module_json(&old_bundle)?,
        new,
        module_json(&new_bundle)?,
    ))
}

/// Compares two module.json files (read from `old_path` and `new_path`).
pub fn diff(old_path: &Path, old: &ModuleJson, new_path: &Path, new: &ModuleJson) -> ReleaseDiff {
    let mut changes = Vec::new();
    module_changes(old, new, &mut changes);
    command_changes(&old.commands, &new.commands, &mut changes);
    capability_changes(old, new, &mut changes);
    requirement_changes(old, new, &mut changes);
    platform_changes(old, new, &mut changes);
    dependency_changes(old, new, &mut changes);
    changes.sort_by(|a, b| {
        a.kind.cmp(&b.kind).then_with(|| {
            a.subject
                .to_ascii_lowercase()
                .cmp(&b.subject.to_ascii_lowercase())
        })
    });

    let version_step = version_step(old.version, new.version);
    let mut warnings = Vec::new();
    match version_step.direction {
        Direction::Down => warnings.push(format!(
            "NEW's version {} is below OLD's {}: RS does not move a database to a lower module version (module_downgrade_unsupported)",
            version_step.to, version_step.from
        )),
        Direction::Same if !changes.is_empty() => warnings.push(format!(
            "NEW carries changes but the same version as OLD ({}): RS keeps one build per name and version (module_exists); raise the version",
            version_step.to
        )),
        _ => {}
    }
    let release = |path: &Path, module: &ModuleJson| Release {
        path: path.to_path_buf(),
        module_name: module.module_name.clone(),
        version: module.version,
        semantic_version: module.version.semantic().to_string(),
    };
    ReleaseDiff {
        old: release(old_path, old),
        new: release(new_path, new),
        version_step,
        warnings,
        changes,
    }
}

fn version_step(old: ModuleVersion, new: ModuleVersion) -> VersionStep {
    let (a, b) = (old.semantic(), new.semantic());
    let parts = |v: ModuleVersion| (v.0 / 10000, (v.0 % 10000) / 100, v.0 % 100);
    let (pa, pb) = (parts(old), parts(new));
    let part = if pa.0 != pb.0 {
        Part::Major
    } else if pa.1 != pb.1 {
        Part::Minor
    } else if pa.2 != pb.2 {
        Part::Patch
    } else {
        Part::None
    };
    VersionStep {
        from: a.to_string(),
        to: b.to_string(),
        direction: match new.0.cmp(&old.0) {
            std::cmp::Ordering::Greater => Direction::Up,
            std::cmp::Ordering::Equal => Direction::Same,
            std::cmp::Ordering::Less => Direction::Down,
        },
        part,
    }
}

fn module_changes(old: &ModuleJson, new: &ModuleJson, changes: &mut Vec<Change>) {
    if old.module_name != new.module_name {
        changes.push(
            Change::new(ChangeKind::Module, "module_name", Action::Changed)
                .values(Some(old.module_name.clone()), Some(new.module_name.clone()))
                .breaking("RS matches a module's versions by name: NEW is another module, and databases using OLD cannot upgrade to it"),
        );
    }
    if old.sha256 != new.sha256 && !(old.sha256.is_empty() && new.sha256.is_empty()) {
        changes.push(
            Change::new(ChangeKind::Module, "sha256", Action::Changed)
                .values(Some(old.sha256.clone()), Some(new.sha256.clone()))
                .note("the module binary differs"),
        );
    }
}

/// Every command and subcommand by lower-case name (Redis command names are case-insensitive).
fn flatten(commands: &[Command]) -> BTreeMap<String, &Command> {
    let mut all = BTreeMap::new();
    fn walk<'a>(list: &'a [Command], all: &mut BTreeMap<String, &'a Command>) {
        for command in list {
            all.entry(command.command_name.to_ascii_lowercase())
                .or_insert(command);
            walk(&command.subcommands, all);
        }
    }
    walk(commands, &mut all);
    all
}

fn command_changes(old: &[Command], new: &[Command], changes: &mut Vec<Change>) {
    let old = flatten(old);
    let new = flatten(new);
    for (key, command) in &old {
        if !new.contains_key(key) {
            let what = if key.contains('|') {
                "clients calling this subcommand will get an error"
            } else {
                "clients calling this command will get an unknown-command error"
            };
            changes.push(
                Change::new(ChangeKind::Command, &command.command_name, Action::Removed)
                    .breaking(what),
            );
        }
    }
    for (key, command) in &new {
        match old.get(key) {
            None => changes.push(Change::new(
                ChangeKind::Command,
                &command.command_name,
                Action::Added,
            )),
            Some(before) => {
                let details = command_details(before, command);
                if !details.is_empty() {
                    let mut change =
                        Change::new(ChangeKind::Command, &command.command_name, Action::Changed);
                    change.details = details;
                    changes.push(change);
                }
            }
        }
    }
}

fn command_details(old: &Command, new: &Command) -> Vec<Detail> {
    let mut details = Vec::new();
    if old.command_arity != new.command_arity {
        details.push(Detail::value(
            "command_arity",
            old.command_arity.into(),
            new.command_arity.into(),
        ));
    }
    details.extend(Detail::set("flags", &old.flags, &new.flags));
    let keys = |c: &Command| serde_json::json!([c.first_key, c.last_key, c.step]);
    if keys(old) != keys(new) {
        details.push(Detail::value("keys", keys(old), keys(new)));
    }
    if old.key_specs != new.key_specs {
        details.push(Detail::value(
            "key_specs",
            Value::Array(old.key_specs.clone()),
            Value::Array(new.key_specs.clone()),
        ));
    }
    details.extend(Detail::set(
        "acl_categories",
        &old.acl_categories,
        &new.acl_categories,
    ));
    details
}

fn capability_changes(old: &ModuleJson, new: &ModuleJson, changes: &mut Vec<Change>) {
    let names = |m: &ModuleJson| -> BTreeSet<String> {
        m.capabilities
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    };
    let (old, new) = (names(old), names(new));
    for name in old.difference(&new) {
        changes.push(
            Change::new(ChangeKind::Capability, name, Action::Removed).breaking(
                "databases whose configuration needs it cannot upgrade: RS answers unsupported_module_capabilities",
            ),
        );
    }
    for name in new.difference(&old) {
        changes.push(Change::new(ChangeKind::Capability, name, Action::Added));
    }
}

fn requirement_changes(old: &ModuleJson, new: &ModuleJson, changes: &mut Vec<Change>) {
    let pairs = [
        (
            "min_redis_version",
            Some(old.min_redis_version.to_string()),
            Some(new.min_redis_version.to_string()),
            old.min_redis_version == new.min_redis_version,
        ),
        (
            "min_redis_pack_version",
            Some(old.min_redis_pack_version.to_string()),
            Some(new.min_redis_pack_version.to_string()),
            old.min_redis_pack_version == new.min_redis_pack_version,
        ),
        (
            "compatible_redis_version",
            old.compatible_redis_version.as_ref().map(|v| v.to_string()),
            new.compatible_redis_version.as_ref().map(|v| v.to_string()),
            old.compatible_redis_version == new.compatible_redis_version,
        ),
    ];
    for (field, before, after, same) in pairs {
        if same {
            continue;
        }
        let action = match (&before, &after) {
            (None, Some(_)) => Action::Added,
            (Some(_), None) => Action::Removed,
            _ => Action::Changed,
        };
        let mut change = Change::new(ChangeKind::Requirement, field, action).values(before, after);
        if field == "compatible_redis_version" {
            change = change.note("RS offers a build to databases of this Redis major.minor");
        }
        changes.push(change);
    }
}

fn platform_changes(old: &ModuleJson, new: &ModuleJson, changes: &mut Vec<Change>) {
    if old.architecture != new.architecture {
        changes.push(
            Change::new(ChangeKind::Architecture, "architecture", Action::Changed)
                .values(
                    Some(old.architecture.to_string()),
                    Some(new.architecture.to_string()),
                )
                .breaking(&format!(
                    "nodes of {} get no build of NEW",
                    old.architecture
                )),
        );
    }
    let names = |m: &ModuleJson| -> BTreeSet<String> {
        m.operating_systems.iter().map(|o| o.to_string()).collect()
    };
    let (before, after) = (names(old), names(new));
    for name in before.difference(&after) {
        changes.push(
            Change::new(ChangeKind::OperatingSystem, name, Action::Removed)
                .breaking("nodes running it get no build of NEW"),
        );
    }
    for name in after.difference(&before) {
        changes.push(Change::new(
            ChangeKind::OperatingSystem,
            name,
            Action::Added,
        ));
    }
}

fn dependency_changes(old: &ModuleJson, new: &ModuleJson, changes: &mut Vec<Change>) {
    let all = |m: &ModuleJson| -> BTreeMap<String, (bool, Dependency)> {
        let mut deps = BTreeMap::new();
        for (name, dep) in &m.dependencies {
            deps.insert(name.clone(), (false, dep.clone()));
        }
        for (name, dep) in &m.optional_dependencies {
            deps.entry(name.clone()).or_insert((true, dep.clone()));
        }
        deps
    };
    let (before, after) = (all(old), all(new));
    let optional = |o: bool| if o { "optional" } else { "required" };
    for (name, (is_optional, _)) in &before {
        if !after.contains_key(name) {
            changes.push(
                Change::new(ChangeKind::Dependency, name, Action::Removed)
                    .note(optional(*is_optional)),
            );
        }
    }
    for (name, (is_optional, dep)) in &after {
        match before.get(name) {
            None => changes.push(
                Change::new(ChangeKind::Dependency, name, Action::Added)
                    .note(optional(*is_optional)),
            ),
            Some((was_optional, was)) => {
                let mut details = Vec::new();
                if was_optional != is_optional {
                    details.push(Detail::value(
                        "kind",
                        optional(*was_optional).into(),
                        optional(*is_optional).into(),
                    ));
                }
                if was.url != dep.url {
                    details.push(Detail::value(
                        "url",
                        was.url.clone().into(),
                        dep.url.clone().into(),
                    ));
                }
                if !was.sha256.eq_ignore_ascii_case(&dep.sha256) {
                    details.push(Detail::value(
                        "sha256",
                        was.sha256.clone().into(),
                        dep.sha256.clone().into(),
                    ));
                }
                if !details.is_empty() {
                    let mut change = Change::new(ChangeKind::Dependency, name, Action::Changed);
                    change.details = details;
                    changes.push(change);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(edit: impl FnOnce(&mut Value)) -> ModuleJson {
        let mut value = serde_json::json!({
            "module_name": "m", "version": 10203, "semantic_version": "1.2.3",
            "architecture": "x86_64", "operating_systems": ["rhel9"],
            "sha256": "aa", "capabilities": ["types", "replica_of"],
            "min_redis_version": "7.0", "min_redis_pack_version": "7.2",
            "commands": [
                {"command_name": "M.GET", "command_arity": 2, "flags": ["readonly"],
                 "first_key": 1, "last_key": 1, "step": 1},
                {"command_name": "m.cfg", "command_arity": -2, "flags": [],
                 "first_key": 0, "last_key": 0, "step": 0,
                 "subcommands": [{"command_name": "m.cfg|get", "command_arity": 3}]}
            ]
        });
        edit(&mut value);
        serde_json::from_value(value).unwrap()
    }

    fn run(old: &ModuleJson, new: &ModuleJson) -> ReleaseDiff {
        diff(Path::new("old"), old, Path::new("new"), new)
    }

    #[test]
    fn the_same_release_twice_has_no_changes() {
        let m = module(|_| {});
        let d = run(&m, &m);
        assert!(d.is_empty() && d.warnings.is_empty() && !d.is_breaking());
    }

    #[test]
    fn command_names_match_whatever_their_case() {
        let old = module(|_| {});
        let new = module(|v| v["commands"][0]["command_name"] = "m.get".into());
        assert!(run(&old, &new).changes.is_empty());
    }

    #[test]
    fn removals_break_and_additions_do_not() {
        let old = module(|_| {});
        let new = module(|v| {
            v["version"] = 10300.into();
            v["commands"][1]["subcommands"] = serde_json::json!([]);
            v["commands"][0]["command_arity"] = (-2).into();
            v["commands"][0]["flags"] = serde_json::json!(["readonly", "fast"]);
            v["capabilities"] = serde_json::json!(["types", "flash"]);
        });
        let d = run(&old, &new);
        assert_eq!(d.version_step.part, Part::Minor);
        assert_eq!(d.version_step.direction, Direction::Up);
        let find = |subject: &str| d.changes.iter().find(|c| c.subject == subject).unwrap();
        let sub = find("m.cfg|get");
        assert_eq!((sub.action, sub.breaking), (Action::Removed, true));
        let replica = find("replica_of");
        assert_eq!((replica.action, replica.breaking), (Action::Removed, true));
        assert!(replica
            .note
            .as_deref()
            .unwrap()
            .contains("unsupported_module_capabilities"));
        let flash = find("flash");
        assert_eq!((flash.action, flash.breaking), (Action::Added, false));
        let get = find("M.GET");
        assert_eq!(get.action, Action::Changed);
        assert!(!get.breaking);
        assert_eq!(get.details[0].field, "command_arity");
        assert_eq!(get.details[1].added, ["fast"]);
        assert_eq!(d.breaking_count(), 2);
    }

    #[test]
    fn a_lower_or_equal_version_is_warned_about() {
        let old = module(|_| {});
        let lower = module(|v| v["version"] = 10202.into());
        let d = run(&old, &lower);
        assert_eq!(d.version_step.direction, Direction::Down);
        assert!(d.warnings[0].contains("below"), "{:?}", d.warnings);
        let same_but_changed = module(|v| v["min_redis_version"] = "7.2".into());
        let d = run(&old, &same_but_changed);
        assert!(d.warnings[0].contains("same version"), "{:?}", d.warnings);
        assert_eq!(d.changes[0].old.as_deref(), Some("7.0"));
        assert_eq!(d.changes[0].new.as_deref(), Some("7.2"));
    }

    #[test]
    fn platforms_dependencies_and_identity_are_compared() {
        let old = module(|v| {
            v["dependencies"] =
                serde_json::json!({"lib": {"url": "https://a/l.tgz", "sha256": "aa"}});
        });
        let new = module(|v| {
            v["module_name"] = "m2".into();
            v["architecture"] = "aarch64".into();
            v["operating_systems"] = serde_json::json!(["rhel8"]);
            v["compatible_redis_version"] = "7.4".into();
            v["dependencies"] =
                serde_json::json!({"lib": {"url": "https://a/l2.tgz", "sha256": "aa"}});
        });
        let d = run(&old, &new);
        let kinds: Vec<(ChangeKind, &str, bool)> = d
            .changes
            .iter()
            .map(|c| (c.kind, c.subject.as_str(), c.breaking))
            .collect();
        assert_eq!(
            kinds,
            [
                (ChangeKind::Module, "module_name", true),
                (ChangeKind::Requirement, "compatible_redis_version", false),
                (ChangeKind::Architecture, "architecture", true),
                (ChangeKind::OperatingSystem, "rhel8", false),
                (ChangeKind::OperatingSystem, "rhel9", true),
                (ChangeKind::Dependency, "lib", false),
            ]
        );
        assert_eq!(d.changes[1].action, Action::Added);
        assert_eq!(d.changes[5].details[0].field, "url");
    }
}
