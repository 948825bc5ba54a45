//! Zip structure: what RS's unpacker expects to find in a module zip, and the checksums.

use super::rules::*;
use super::Ctx;
use crate::bundle::{dependency_name, LayoutIssue, ReadProblem, MODULE_JSON};
use crate::manifest::layout::{dependency_entry, DEPENDENCY_SUFFIX, RS_MAX_MODULE_ZIP_BYTES};

/// Checks that need the zip's entry list (zip inputs only): the layout issues the reader found
/// with the check `unpack` refuses on, and what could not be inflated.
pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let bundle = ctx.bundle;
    for issue in &bundle.layout {
        let rule = match issue {
            LayoutIssue::UnsafeName { .. } => &ZIP_UNSAFE_NAME,
            LayoutIssue::Link { .. } => &ZIP_LINK,
            LayoutIssue::Duplicate { .. } => &ZIP_DUPLICATE,
            LayoutIssue::UnexpectedFolder { .. } | LayoutIssue::UnexpectedEntry { .. } => {
                &ZIP_UNEXPECTED_ENTRY
            }
            LayoutIssue::ModuleJsonMissing => &ZIP_MODULE_JSON_MISSING,
            LayoutIssue::ModuleMissing => &ZIP_MODULE_MISSING,
            LayoutIssue::SeveralModules { .. } => &ZIP_SEVERAL_MODULES,
            LayoutIssue::ModuleJsonTooLarge { .. }
            | LayoutIssue::TooManyEntries { .. }
            | LayoutIssue::TooLarge { .. } => &ZIP_TOO_LARGE,
        };
        let finding = rule.finding(issue.to_string());
        ctx.push(match issue.entry() {
            Some(entry) => finding.at(entry),
            None => finding,
        });
    }
    for problem in &bundle.problems {
        let finding = match problem {
            ReadProblem::TooLarge { entry, max } => ZIP_TOO_LARGE
                .finding(format!(
                    "entry `{entry}` inflates past the cap of {max} bytes"
                ))
                .at(entry),
            ReadProblem::Unreadable { entry, reason } => ZIP_DAMAGED
                .finding(format!("entry `{entry}` cannot be inflated: {reason}"))
                .at(entry),
            // Reported by the dependency rules.
            ReadProblem::Dependency { .. } => continue,
        };
        ctx.push(finding);
    }
    if let Some(archive) = &bundle.archive {
        if archive.size() > RS_MAX_MODULE_ZIP_BYTES {
            ctx.push(ZIP_OVER_RS_LIMIT.finding(format!(
                "the zip is {} bytes; RS accepts modules of at most {RS_MAX_MODULE_ZIP_BYTES} bytes (500 MB) and refuses this one at upload",
                archive.size()
            )));
        }
    }
    if let Some(module) = &bundle.module {
        let name = module.name.clone();
        match module.unix_mode {
            Some(mode) if mode & 0o111 == 0 => ctx.push(
                ZIP_MODULE_NOT_EXECUTABLE
                    .finding(format!(
                        "`{name}` is stored with mode {mode:04o}, without an execute bit"
                    ))
                    .at(name.clone()),
            ),
            Some(_) => {}
            None => ctx.push(
                ZIP_MODULE_MODE_UNKNOWN
                    .finding(format!(
                        "`{name}` records no Unix permissions (zipped on a non-Unix system?)"
                    ))
                    .at(name.clone()),
            ),
        }
        if let Some(module_file) = ctx.str_field("module_file") {
            if !module_file.is_empty() && module_file != name {
                ctx.push(
                    ZIP_MODULE_FILE_MISMATCH
                        .finding(format!(
                            "module.json's module_file is `{module_file}`, but the zip's .so is `{name}`"
                        ))
                        .at(MODULE_JSON),
                );
            }
        }
    }
}

/// Checksums of the `.so` and of the dependency archives against module.json (zips and folders).
pub(crate) fn check_checksums(ctx: &mut Ctx<'_>) {
    let bundle = ctx.bundle;
    let Some(value) = ctx.value else {
        return;
    };
    if let (Some(module), Some(recorded)) = (&bundle.module, ctx.str_field("sha256")) {
        if crate::manifest::is_sha256_hex(recorded)
            && !recorded.eq_ignore_ascii_case(&module.sha256)
        {
            ctx.push(
                ZIP_MODULE_SHA256_MISMATCH
                    .finding(format!(
                        "module.json records sha256 {recorded}, but `{}` hashes to {}",
                        module.name, module.sha256
                    ))
                    .at(module.name.clone()),
            );
        }
    }
    if bundle.source == crate::bundle::Source::ModuleJson {
        return;
    }
    let mut listed: Vec<&str> = Vec::new();
    for field in ["dependencies", "optional-dependencies"] {
        let Some(deps) = value.get(field).and_then(|d| d.as_object()) else {
            continue;
        };
        for (name, dep) in deps {
            listed.push(name);
            let entry = dependency_entry(name);
            let embedded = bundle.deps.iter().find(|d| d.name == entry);
            let has_url = dep
                .get("url")
                .and_then(|u| u.as_str())
                .is_some_and(|u| !u.is_empty());
            match embedded {
                Some(file) => {
                    let recorded = dep.get("sha256").and_then(|s| s.as_str()).unwrap_or("");
                    if crate::manifest::is_sha256_hex(recorded)
                        && !recorded.eq_ignore_ascii_case(&file.sha256)
                    {
                        ctx.push(
                            ZIP_DEPENDENCY_SHA256_MISMATCH
                                .finding(format!(
                                    "module.json records sha256 {recorded} for dependency `{name}`, but `{entry}` hashes to {}",
                                    file.sha256
                                ))
                                .at(entry),
                        );
                    }
                }
                // RS reads dependencies only from the zip; a url does not help.
                None if field == "dependencies" => ctx.push(
                    ZIP_DEPENDENCY_MISSING
                        .finding(format!(
                            "dependency `{name}` is not embedded as `{entry}`{}; RS reads dependencies only from the zip and fails the upload with \"Missing dependency {name}{DEPENDENCY_SUFFIX}\"",
                            if has_url { " (it has only a url)" } else { "" }
                        ))
                        .at(MODULE_JSON),
                ),
                None => ctx.push(
                    ZIP_OPTIONAL_DEPENDENCY_MISSING
                        .finding(format!(
                            "optional dependency `{name}` is not embedded as `{entry}`{}; RS reads dependencies only from the zip",
                            if has_url { " (it has only a url)" } else { "" }
                        ))
                        .at(MODULE_JSON),
                ),
            }
        }
    }
    for dep in &bundle.deps {
        let name = dependency_name(&dep.name).unwrap_or_default();
        if !listed.contains(&name) {
            ctx.push(
                ZIP_DEPENDENCY_UNLISTED
                    .finding(format!(
                        "`{}` is not listed in module.json's dependencies",
                        dep.name
                    ))
                    .at(dep.name.clone()),
            );
        }
    }
}
