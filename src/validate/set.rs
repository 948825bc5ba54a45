//! A release as one: after each zip's own checks, the rules that hold between the zips of a
//! [`ReleaseSet`]. RS keeps one configuration per module name and version and serves it to every
//! node, gives a database only a build for its Redis feature set, and gives a node only a build
//! for its OS and architecture; these rules find what breaks that before upload.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::rules::*;
use super::{check_bundle, CheckOptions, Diagnostic, Report, Target};
use crate::bundle::Bundle;
use crate::diff::{self, Action, ChangeKind};
use crate::manifest::layout::parse_zip_file_name;
use crate::manifest::{ModuleJson, ModuleVersion, OsNick};
use crate::release::{
    open_set, parse_checksums, platform_label, relative_name, Matrix, ReleaseSet, SetInputs,
    SetMember,
};

/// One zip's findings within a set.
#[derive(Debug, Clone, Serialize)]
pub struct ZipReport {
    /// The zip.
    pub subject: String,
    /// The zip's SHA-256 (empty when it could not be read).
    pub sha256: String,
    /// `module_name`, when module.json gives it.
    pub module_name: Option<String>,
    /// `major.minor.patch`, when module.json gives it.
    pub semantic_version: Option<String>,
    /// The Redis feature set it is for (`8.2`, or `none`).
    pub feature_set: Option<String>,
    /// The OS/architecture pairs it is built for.
    pub platforms: Vec<String>,
    /// Its own findings.
    pub report: Report,
}

/// The findings of a whole release.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    /// What was validated (the paths given).
    pub subject: String,
    /// Each zip's report, in input order.
    pub zips: Vec<ZipReport>,
    /// The findings about the set as a whole.
    pub set: Report,
    /// The coverage matrix.
    pub matrix: Matrix,
}

impl SetReport {
    /// Whether any finding, of a zip or of the set, is an error (with `strict`, a warning too).
    pub fn failed(&self, strict: bool) -> bool {
        self.set.failed(strict) || self.zips.iter().any(|z| z.report.failed(strict))
    }

    /// Every finding, each zip's located at the zip (for annotations and totals).
    pub fn all_findings(&self) -> Report {
        let mut diagnostics = self.set.diagnostics.clone();
        for zip in &self.zips {
            for finding in &zip.report.diagnostics {
                let mut finding = finding.clone();
                finding.location = Some(match &finding.location {
                    Some(inside) => format!("{}:{inside}", zip.subject),
                    None => zip.subject.clone(),
                });
                diagnostics.push(finding);
            }
        }
        Report {
            subject: self.subject.clone(),
            diagnostics,
        }
    }

    /// Turns every warning into an error (`--strict`).
    pub fn promote_warnings(&mut self) {
        self.set.promote_warnings();
        for zip in &mut self.zips {
            zip.report.promote_warnings();
        }
    }
}

/// A checksum file to verify the set against.
#[derive(Debug, Clone)]
pub struct ChecksumFile {
    /// Where it is (names in it are relative to its folder).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl ChecksumFile {
    /// Reads a `sha256sum` file through the bounded reader; bytes that are not UTF-8 are kept
    /// as replacement characters, so the lines around them are still verified.
    pub fn read(path: &Path) -> Result<ChecksumFile, crate::input::InputError> {
        let bytes = crate::input::read_file(path, crate::input::InputKind::Checksums)?;
        Ok(ChecksumFile {
            path: path.to_path_buf(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Reads and checks every zip of `inputs`, then the set as a whole. Each zip is checked against
/// `target` narrowed to its own platforms and without a Redis version (a release holds builds for
/// other platforms and feature sets by design); whether the set covers the target's platforms,
/// Redis version and nodes is a set rule.
pub fn check_set(
    inputs: &SetInputs,
    target: &Target,
    options: &CheckOptions,
    checksums: Option<&ChecksumFile>,
) -> (ReleaseSet, SetReport) {
    let (set, mut reports) =
        check_set_for_each(inputs, std::slice::from_ref(target), options, checksums);
    let report = reports.pop().expect("one report per target");
    (set, report)
}

/// [`check_set`] against several targets (the clusters of a fleet): the zips are opened once,
/// checked against each target in turn, and their module bytes dropped after the last.
pub fn check_set_for_each(
    inputs: &SetInputs,
    targets: &[Target],
    options: &CheckOptions,
    checksums: Option<&ChecksumFile>,
) -> (ReleaseSet, Vec<SetReport>) {
    let mut set = open_set(inputs, options.limits);
    let reports = targets
        .iter()
        .map(|target| {
            let zips = check_members_keeping(&set, target, options);
            set_report(&set, zips, target, checksums)
        })
        .collect();
    set.release_module_bytes();
    (set, reports)
}

/// Each member's own checks against `target` narrowed to it. The module bytes stay: a caller
/// that checks the set against several targets (a fleet's clusters) releases them after the last.
pub fn check_members_keeping(
    set: &ReleaseSet,
    target: &Target,
    options: &CheckOptions,
) -> Vec<ZipReport> {
    set.members
        .iter()
        .map(|member| {
            let report = check_bundle(&member.bundle, &narrowed(target, &member.bundle), options);
            ZipReport {
                subject: member.path.display().to_string(),
                sha256: member.sha256.clone(),
                module_name: member.build.as_ref().map(|b| b.module_name.clone()),
                semantic_version: member.build.as_ref().map(|b| b.semantic_version()),
                feature_set: member.build.as_ref().map(|_| member.feature_set()),
                platforms: member
                    .build
                    .as_ref()
                    .map(|b| {
                        b.platforms
                            .iter()
                            .map(|(os, arch)| platform_label(os.as_ref(), *arch))
                            .collect()
                    })
                    .unwrap_or_default(),
                report,
            }
        })
        .collect()
}

/// The set's report: each zip's, the rules between them, the matrix.
pub fn set_report(
    set: &ReleaseSet,
    zips: Vec<ZipReport>,
    target: &Target,
    checksums: Option<&ChecksumFile>,
) -> SetReport {
    let subject = set
        .members
        .iter()
        .map(|m| m.path.display().to_string())
        .chain(set.unreadable.iter().map(|(p, _)| p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    SetReport {
        subject,
        zips,
        set: Report {
            subject: "the release set".to_string(),
            diagnostics: set_findings(set, target, checksums),
        },
        matrix: set.matrix(),
    }
}

/// `target` for one zip of a set: only the target platforms the zip is built for, no Redis
/// version, no node list.
fn narrowed(target: &Target, bundle: &Bundle) -> Target {
    let mut narrowed = target.clone();
    narrowed.redis_version = None;
    if let Some(build) = bundle
        .manifest_value()
        .and_then(crate::release::Build::from_value)
    {
        narrowed
            .operating_systems
            .retain(|os| build.runs_on(Some(os), None).is_ok());
        narrowed
            .architectures
            .retain(|arch| build.runs_on(None, Some(*arch)).is_ok());
    }
    if let Some(cluster) = narrowed.cluster.as_mut() {
        cluster.nodes.clear();
    }
    narrowed
}

/// The rules between the zips of `set`.
pub fn set_findings(
    set: &ReleaseSet,
    target: &Target,
    checksums: Option<&ChecksumFile>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (path, why) in &set.unreadable {
        out.push(
            SET_ZIP_UNREADABLE
                .finding(format!(
                    "{} is not a readable module zip: {why}",
                    path.display()
                ))
                .at(path.display().to_string()),
        );
    }
    for path in &set.ignored {
        out.push(
            SET_FILE_IGNORED
                .finding(format!(
                    "{} is not a zip; it is not part of the set",
                    path.display()
                ))
                .at(path.display().to_string()),
        );
    }
    for member in &set.members {
        if member.build.is_none() {
            out.push(
                SET_ZIP_UNREADABLE
                    .finding(format!(
                        "{}: its module.json gives no module name and version, so the set cannot place it",
                        member.path.display()
                    ))
                    .at(member.path.display().to_string()),
            );
        }
    }
    module_names(set, &mut out);
    same_configuration(set, &mut out);
    one_zip_per_build(set, &mut out);
    file_names(set, &mut out);
    coverage(set, &mut out);
    target_coverage(set, target, &mut out);
    if let Some(file) = checksums {
        verify_checksums(set, file, &mut out);
    }
    out
}

fn module_names(set: &ReleaseSet, out: &mut Vec<Diagnostic>) {
    let names = set.module_names();
    if names.len() <= 1 {
        return;
    }
    let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for member in &set.members {
        if let Some(build) = &member.build {
            by_name
                .entry(&build.module_name)
                .or_default()
                .push(member.file_name());
        }
    }
    let listed: Vec<String> = by_name
        .iter()
        .map(|(name, files)| format!("`{name}` ({})", files.join(", ")))
        .collect();
    out.push(SET_MODULE_NAMES.finding(format!(
        "the zips carry {} module names: {}",
        names.len(),
        listed.join("; ")
    )));
}

/// The fields RS registers once per version: every build of a version must agree on them.
fn same_configuration(set: &ReleaseSet, out: &mut Vec<Diagnostic>) {
    for version in set.versions() {
        let members: Vec<(&SetMember, &ModuleJson)> = set
            .of_version(version)
            .filter_map(|m| Some((m, m.bundle.manifest()?)))
            .collect();
        let Some(((first, first_json), rest)) = members.split_first() else {
            continue;
        };
        for (member, json) in rest {
            let differences = configuration_differences(first_json, json);
            if differences.is_empty() {
                continue;
            }
            out.push(
                SET_VERSION_CONFIG_DIFFERS
                    .finding(format!(
                        "{} and {} are both {} {} but register different configurations: {}",
                        first.file_name(),
                        member.file_name(),
                        json.module_name,
                        version.semantic(),
                        differences.join("; ")
                    ))
                    .at(member.file_name()),
            );
        }
    }
}

/// What differs between two builds of one version in the fields RS registers per version,
/// named field by field (the release diff, without what legitimately differs per platform).
pub fn configuration_differences(a: &ModuleJson, b: &ModuleJson) -> Vec<String> {
    let changes = diff::diff(Path::new("a"), a, Path::new("b"), b);
    let mut out = Vec::new();
    for change in &changes.changes {
        let text = match change.kind {
            ChangeKind::Command | ChangeKind::Capability => {
                let kind = if change.kind == ChangeKind::Command {
                    "command"
                } else {
                    "capability"
                };
                match change.action {
                    Action::Added => format!("{kind} {} only in the second", change.subject),
                    Action::Removed => format!("{kind} {} only in the first", change.subject),
                    Action::Changed => format!(
                        "{kind} {} differs ({})",
                        change.subject,
                        change
                            .details
                            .iter()
                            .map(|d| d.field.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
            ChangeKind::Requirement => format!(
                "{}: {} vs {}",
                change.subject,
                change.old.as_deref().unwrap_or("none"),
                change.new.as_deref().unwrap_or("none")
            ),
            // Names only: each platform's archive has its own bytes and URL.
            ChangeKind::Dependency if change.action != Action::Changed => match change.action {
                Action::Added => format!("dependency {} only in the second", change.subject),
                _ => format!("dependency {} only in the first", change.subject),
            },
            _ => continue,
        };
        out.push(text);
    }
    if a.command_line_args != b.command_line_args {
        out.push(format!(
            "command_line_args: `{}` vs `{}`",
            a.command_line_args, b.command_line_args
        ));
    }
    out
}

/// Each (version, OS, architecture) once: two different zips for one is an error, the same
/// bytes twice an info.
fn one_zip_per_build(set: &ReleaseSet, out: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<(ModuleVersion, String), &SetMember> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for member in &set.members {
        let Some(build) = &member.build else { continue };
        for (os, arch) in &build.platforms {
            let platform = platform_label(os.as_ref(), *arch);
            let key = (build.version, platform.clone());
            match seen.get(&key) {
                None => {
                    seen.insert(key, member);
                }
                Some(earlier) => {
                    if !reported.insert((earlier.file_name(), member.file_name())) {
                        continue;
                    }
                    if earlier.sha256 == member.sha256 {
                        out.push(
                            SET_SAME_ZIP_TWICE
                                .finding(format!(
                                    "{} and {} hold the same bytes ({} {} for {platform}); one is enough",
                                    earlier.file_name(),
                                    member.file_name(),
                                    build.module_name,
                                    build.semantic_version()
                                ))
                                .at(member.file_name()),
                        );
                    } else {
                        out.push(
                            SET_DUPLICATE_BUILD
                                .finding(format!(
                                    "{} and {} are both {} {} for {platform}, with different bytes; a node takes one build per version",
                                    earlier.file_name(),
                                    member.file_name(),
                                    build.module_name,
                                    build.semantic_version()
                                ))
                                .at(member.file_name()),
                        );
                    }
                }
            }
        }
    }
}

/// A file name that follows Redis's convention must say what the zip holds.
fn file_names(set: &ReleaseSet, out: &mut Vec<Diagnostic>) {
    for member in &set.members {
        let Some(build) = &member.build else { continue };
        let name = member.file_name();
        let Some(parts) = parse_zip_file_name(&name) else {
            continue;
        };
        let mut wrong = Vec::new();
        if parts.module_name != build.module_name {
            wrong.push(format!(
                "module `{}` (module.json: `{}`)",
                parts.module_name, build.module_name
            ));
        }
        if parts.semantic_version != build.semantic_version() {
            wrong.push(format!(
                "version {} (module.json: {})",
                parts.semantic_version,
                build.semantic_version()
            ));
        }
        let os = OsNick::parse(&parts.os, true).ok();
        let arch = parts.arch.parse().ok();
        if build.runs_on(os.as_ref(), arch).is_err() {
            wrong.push(format!(
                "platform {}-{} (module.json: {})",
                parts.os,
                parts.arch,
                build.platforms_label()
            ));
        }
        if !wrong.is_empty() {
            out.push(
                SET_FILE_NAME_MISMATCH
                    .finding(format!("{name} names {}", wrong.join(", ")))
                    .at(name.clone()),
            );
        }
    }
}

/// The matrix's holes, and feature sets with more than one version.
fn coverage(set: &ReleaseSet, out: &mut Vec<Diagnostic>) {
    let matrix = set.matrix();
    if matrix.columns.len() > 1 || matrix.rows.len() > 1 {
        for (platform, feature_set) in matrix.holes() {
            out.push(SET_PLATFORM_HOLE.finding(format!(
                "no build for {platform} with Redis {feature_set}, though the release builds for {platform} and for Redis {feature_set}: nodes of that platform cannot run databases on that Redis"
            )));
        }
    }
    let mut by_feature_set: BTreeMap<String, BTreeSet<ModuleVersion>> = BTreeMap::new();
    for member in &set.members {
        if let Some(version) = member.version() {
            by_feature_set
                .entry(member.feature_set())
                .or_default()
                .insert(version);
        }
    }
    for (feature_set, versions) in by_feature_set {
        if versions.len() > 1 && feature_set != crate::release::NO_FEATURE_SET {
            let listed: Vec<String> = versions.iter().map(|v| v.semantic().to_string()).collect();
            let highest = listed.last().cloned().unwrap_or_default();
            out.push(SET_FEATURE_SET_TWICE.finding(format!(
                "versions {} are all for Redis {feature_set}; RS gives such databases only the highest ({highest}) unless one is named",
                listed.join(", ")
            )));
        }
    }
}

/// Against a target: a build for each target platform, one that fits the target Redis, and
/// one for each node of a live cluster, per version.
fn target_coverage(set: &ReleaseSet, target: &Target, out: &mut Vec<Diagnostic>) {
    if set.members.is_empty() {
        return;
    }
    // A live cluster's nodes are checked one by one below, each with its own OS and
    // architecture; the target's lists would only repeat that, less precisely.
    let nodes_known = target.cluster.as_ref().is_some_and(|c| !c.nodes.is_empty());
    for os in target.operating_systems.iter().filter(|_| !nodes_known) {
        if !set.members.iter().any(|m| m.runs_on(Some(os), None)) {
            out.push(
                SET_TARGET_NOT_COVERED.finding(format!("no zip of the set is built for {os}")),
            );
        }
    }
    for arch in target.architectures.iter().filter(|_| !nodes_known) {
        if !set.members.iter().any(|m| m.runs_on(None, Some(*arch))) {
            out.push(
                SET_TARGET_NOT_COVERED.finding(format!("no zip of the set is built for {arch}")),
            );
        }
    }
    if let Some(redis) = &target.redis_version {
        let fits = set.members.iter().any(|m| {
            m.build
                .as_ref()
                .is_some_and(|b| b.fits_redis(redis).is_ok())
        });
        if !fits {
            out.push(SET_TARGET_NOT_COVERED.finding(format!(
                "no build of the set fits a Redis {redis} database (feature sets: {})",
                set.matrix().columns.join(", ")
            )));
        }
    }
    if let Some(cluster) = &target.cluster {
        for version in set.versions() {
            for node in &cluster.nodes {
                if set
                    .build_for(version, node.os.as_ref(), node.arch)
                    .is_some()
                {
                    continue;
                }
                let name = set
                    .of_version(version)
                    .find_map(|m| m.build.as_ref().map(|b| b.module_name.clone()))
                    .unwrap_or_default();
                let platform = platform_label(node.os.as_ref(), node.arch);
                let zip = crate::manifest::layout::zip_file_name(
                    &name,
                    node.os.as_ref().map_or("OS", |os| os.file_name_spelling()),
                    &node.arch.map_or("ARCH".to_string(), |a| a.to_string()),
                    &version.semantic().to_string(),
                );
                let built_for: BTreeSet<String> = set
                    .of_version(version)
                    .filter_map(|m| m.build.as_ref())
                    .map(|b| b.platforms_label())
                    .collect();
                out.push(
                    SET_NODE_BUILD_MISSING
                        .finding(format!(
                            "node {} runs {platform} ({}), but {name} {} is built for {} only: the node answers os_not_supported",
                            node.uid,
                            node.os_reported,
                            version.semantic(),
                            built_for.into_iter().collect::<Vec<_>>().join(", ")
                        ))
                        .help(format!(
                            "Build {name} {} for {platform} ({zip}) and add it to the set.",
                            version.semantic()
                        )),
                );
            }
        }
    }
}

fn verify_checksums(set: &ReleaseSet, file: &ChecksumFile, out: &mut Vec<Diagnostic>) {
    let location = file.path.display().to_string();
    let listed = match parse_checksums(&file.text) {
        Ok(listed) => listed,
        Err(why) => {
            out.push(
                SET_CHECKSUM_MISMATCH
                    .finding(format!("{location} is not a checksum file: {why}"))
                    .at(location),
            );
            return;
        }
    };
    let base = file.path.parent().unwrap_or(Path::new("."));
    let names: BTreeMap<String, &SetMember> = set
        .members
        .iter()
        .map(|m| (relative_name(&m.path, base), m))
        .collect();
    let mut seen = BTreeSet::new();
    for (sha, name) in &listed {
        seen.insert(name.clone());
        match names.get(name) {
            Some(member) if member.sha256.eq_ignore_ascii_case(sha) => {}
            Some(member) => out.push(
                SET_CHECKSUM_MISMATCH
                    .finding(format!(
                        "{name} hashes to {}, but {location} lists {sha}",
                        member.sha256
                    ))
                    .at(name.clone()),
            ),
            None => out.push(
                SET_CHECKSUM_MISSING
                    .finding(format!("{location} lists {name}, which is not in the set"))
                    .at(name.clone()),
            ),
        }
    }
    for name in names.keys() {
        if !seen.contains(name) {
            out.push(
                SET_CHECKSUM_UNLISTED
                    .finding(format!("{name} is in the set but not in {location}"))
                    .at(name.clone()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_file_is_read_with_bytes_that_are_no_utf8_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("SHA256SUMS");
        std::fs::write(&path, b"abc  a.zip\n\xff  b.zip\n").unwrap();
        let file = ChecksumFile::read(&path).unwrap();
        assert_eq!(file.path, path);
        assert_eq!(file.text, "abc  a.zip\n\u{fffd}  b.zip\n");
    }

    #[test]
    fn a_checksum_file_that_is_no_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = ChecksumFile::read(dir.path()).unwrap_err();
        assert!(error.to_string().contains("a directory"), "{error}");
        let error = ChecksumFile::read(&dir.path().join("absent")).unwrap_err();
        assert!(error.to_string().contains("absent"), "{error}");
    }
}
