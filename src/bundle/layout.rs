//! What a module zip may hold, checked in one place: the validator reports every issue found
//! here as a finding, and `unpack` refuses the zip on the first one.

use std::collections::HashMap;

use super::model::{Entry, EntryKind};
use super::Limits;
use crate::manifest::layout::{dependency_name, is_root_module, DEPS_DIR, MODULE_JSON};

/// The largest `module.json` read: real ones are a few kilobytes, and it is parsed in memory.
pub const MAX_MODULE_JSON: u64 = 4 << 20;

/// What an entry is in a module zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    ModuleJson,
    Module,
    Dependency,
    Other,
}

/// The role of entry `name`.
pub(crate) fn classify(name: &str) -> Role {
    if name == MODULE_JSON {
        Role::ModuleJson
    } else if is_root_module(name) {
        Role::Module
    } else if dependency_name(name).is_some() {
        Role::Dependency
    } else {
        Role::Other
    }
}

/// Why a zip entry name is not safe to extract, if it is not.
pub fn unsafe_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("NUL byte in the name");
    }
    if name.contains('\\') {
        return Some("backslash in the name");
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Some("drive letter");
    }
    if name.split('/').any(|part| part == "..") {
        return Some("`..` component");
    }
    if name.split('/').any(|part| part == ".") {
        return Some("`.` component");
    }
    if name.trim_end_matches('/').split('/').any(str::is_empty) {
        return Some("empty path component");
    }
    None
}

/// One way a zip's list of entries breaks the module zip layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutIssue {
    /// An entry name that would escape the destination or is not portable.
    UnsafeName {
        /// The entry.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// A symbolic link.
    Link {
        /// The entry.
        entry: String,
    },
    /// Two entries with the same name, exactly or ignoring case.
    Duplicate {
        /// The first entry.
        first: String,
        /// The entry repeating it.
        second: String,
    },
    /// A folder other than `deps/`.
    UnexpectedFolder {
        /// The entry.
        entry: String,
    },
    /// A file that is not module.json, the `.so` or `deps/<name>.tgz`.
    UnexpectedEntry {
        /// The entry.
        entry: String,
        /// A hint on where it should be, when it is misplaced.
        hint: &'static str,
    },
    /// No module.json at the root.
    ModuleJsonMissing,
    /// No `.so` at the root.
    ModuleMissing,
    /// More than one `.so`.
    SeveralModules {
        /// The `.so` entries.
        names: Vec<String>,
    },
    /// A module.json declaring more bytes than a module.json may have.
    ModuleJsonTooLarge {
        /// Its declared size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// More entries than the cap.
    TooManyEntries {
        /// The entries the zip declares.
        count: u64,
        /// The cap.
        max: usize,
    },
    /// The declared sizes add up past the size cap.
    TooLarge {
        /// The entry at which the cap was passed.
        entry: String,
        /// The cap, in bytes.
        max: u64,
    },
}

impl std::fmt::Display for LayoutIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutIssue::UnsafeName { entry, reason } => write!(
                f,
                "entry `{entry}` has an unsafe name ({reason}); a module zip holds only module.json, the .so and deps/<name>.tgz"
            ),
            LayoutIssue::Link { entry } => write!(
                f,
                "entry `{entry}` is a link; module archives must hold regular files only"
            ),
            LayoutIssue::Duplicate { first, second } if first == second => write!(
                f,
                "entries `{first}` and `{second}` have the same name; rebuild the zip with each file once"
            ),
            LayoutIssue::Duplicate { first, second } => write!(
                f,
                "entries `{first}` and `{second}` have the same name (ignoring case); rebuild the zip with each file once"
            ),
            LayoutIssue::UnexpectedFolder { entry } => write!(
                f,
                "unexpected folder `{entry}`; a module zip holds only module.json, one .so at the root and deps/<name>.tgz"
            ),
            LayoutIssue::UnexpectedEntry { entry, hint } => write!(
                f,
                "unexpected entry `{entry}`{hint}; a module zip holds only module.json, one .so at the root and deps/<name>.tgz"
            ),
            LayoutIssue::ModuleJsonMissing => write!(f, "the zip has no {MODULE_JSON} at its root"),
            LayoutIssue::ModuleMissing => write!(f, "the zip has no module .so at its root"),
            LayoutIssue::SeveralModules { names } => write!(
                f,
                "the zip holds {} .so files ({}); a module zip holds exactly one",
                names.len(),
                names.join(", ")
            ),
            LayoutIssue::ModuleJsonTooLarge { size, max } => write!(
                f,
                "module.json is {size} bytes, more than the {max} bytes a module.json may have"
            ),
            LayoutIssue::TooManyEntries { count, max } => write!(
                f,
                "the zip has {count} entries, more than the cap of {max}"
            ),
            LayoutIssue::TooLarge { entry, max } => write!(
                f,
                "the archive inflates past {max} bytes (at entry `{entry}`); raise the cap if it is genuine"
            ),
        }
    }
}

impl LayoutIssue {
    /// The entry the issue is about, when it is about one.
    pub fn entry(&self) -> Option<&str> {
        match self {
            LayoutIssue::UnsafeName { entry, .. }
            | LayoutIssue::Link { entry }
            | LayoutIssue::UnexpectedFolder { entry }
            | LayoutIssue::UnexpectedEntry { entry, .. }
            | LayoutIssue::TooLarge { entry, .. } => Some(entry),
            LayoutIssue::Duplicate { second, .. } => Some(second),
            LayoutIssue::ModuleJsonTooLarge { .. } => Some(MODULE_JSON),
            _ => None,
        }
    }
}

/// Every way `entries` (and the count the zip declares) break the module zip layout, in entry
/// order, then what is missing.
pub fn check(entries: &[Entry], declared_entries: u64, limits: &Limits) -> Vec<LayoutIssue> {
    let mut issues = Vec::new();
    if declared_entries > limits.max_entries as u64 {
        issues.push(LayoutIssue::TooManyEntries {
            count: declared_entries,
            max: limits.max_entries,
        });
    }
    let mut folded: HashMap<String, &str> = HashMap::new();
    let mut modules = Vec::new();
    let mut has_module_json = false;
    let mut declared_total = 0u64;
    let mut over_total = false;
    for entry in entries {
        let name = entry.name.as_str();
        if let Some(reason) = unsafe_name_reason(name) {
            issues.push(LayoutIssue::UnsafeName {
                entry: name.to_string(),
                reason,
            });
            continue;
        }
        if entry.kind == EntryKind::Symlink {
            issues.push(LayoutIssue::Link {
                entry: name.to_string(),
            });
            continue;
        }
        let key = name.trim_end_matches('/').to_lowercase();
        if let Some(first) = folded.insert(key, name) {
            issues.push(LayoutIssue::Duplicate {
                first: first.to_string(),
                second: name.to_string(),
            });
            continue;
        }
        if entry.kind == EntryKind::Directory {
            // Only the deps/ folder itself may be recorded.
            if name.trim_end_matches('/') != DEPS_DIR {
                issues.push(LayoutIssue::UnexpectedFolder {
                    entry: name.to_string(),
                });
            }
            continue;
        }
        match classify(name) {
            Role::ModuleJson => {
                has_module_json = true;
                if entry.size > MAX_MODULE_JSON {
                    issues.push(LayoutIssue::ModuleJsonTooLarge {
                        size: entry.size,
                        max: MAX_MODULE_JSON,
                    });
                }
            }
            Role::Module => modules.push(name.to_string()),
            Role::Dependency => {}
            Role::Other => {
                let hint = if name.ends_with("/module.json") {
                    " (module.json must be at the root, not in a folder)"
                } else if name.ends_with(".so") {
                    " (the .so must be at the root, not in a folder)"
                } else {
                    ""
                };
                issues.push(LayoutIssue::UnexpectedEntry {
                    entry: name.to_string(),
                    hint,
                });
            }
        }
        declared_total = declared_total.saturating_add(entry.size);
        if declared_total > limits.max_total_size && !over_total {
            over_total = true;
            issues.push(LayoutIssue::TooLarge {
                entry: name.to_string(),
                max: limits.max_total_size,
            });
        }
    }
    if !has_module_json {
        issues.push(LayoutIssue::ModuleJsonMissing);
    }
    match modules.len() {
        0 => issues.push(LayoutIssue::ModuleMissing),
        1 => {}
        _ => issues.push(LayoutIssue::SeveralModules { names: modules }),
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size,
            compressed_size: size,
            unix_mode: Some(0o644),
            compression: "Stored".into(),
        }
    }

    #[test]
    fn unsafe_names_are_named() {
        assert_eq!(unsafe_name_reason("module.json"), None);
        assert_eq!(unsafe_name_reason("deps/x.tgz"), None);
        assert!(unsafe_name_reason("../x").is_some());
        assert!(unsafe_name_reason("a/../../x").is_some());
        assert!(unsafe_name_reason("/etc/passwd").is_some());
        assert!(unsafe_name_reason("C:/x").is_some());
        assert!(unsafe_name_reason("a\\b").is_some());
        assert!(unsafe_name_reason("a//b").is_some());
    }

    #[test]
    fn entries_are_classified() {
        assert_eq!(classify("module.json"), Role::ModuleJson);
        assert_eq!(classify("m.so"), Role::Module);
        assert_eq!(classify("lib/m.so"), Role::Other);
        assert_eq!(classify("deps/gears_py.tgz"), Role::Dependency);
        assert_eq!(classify("deps/.tgz"), Role::Other);
        assert_eq!(classify("README"), Role::Other);
    }

    #[test]
    fn a_good_layout_has_no_issue_and_each_fault_is_named() {
        let limits = Limits::default();
        let good = [
            file("module.json", 10),
            file("m.so", 100),
            file("deps/x.tgz", 5),
        ];
        assert_eq!(check(&good, 3, &limits), vec![]);
        let issues = check(
            &[
                file("module.json", MAX_MODULE_JSON + 1),
                file("M.so", 1),
                file("m.so", 1),
                file("lib/x.so", 1),
                file("../x", 1),
            ],
            5,
            &limits,
        );
        assert!(matches!(issues[0], LayoutIssue::ModuleJsonTooLarge { .. }));
        assert!(matches!(issues[1], LayoutIssue::Duplicate { .. }));
        assert!(
            matches!(&issues[2], LayoutIssue::UnexpectedEntry { hint, .. } if hint.contains("root"))
        );
        assert!(matches!(issues[3], LayoutIssue::UnsafeName { .. }));
        assert_eq!(issues.len(), 4, "{issues:?}");
        let issues = check(&[file("a.so", 1), file("b.so", 1)], 2000, &limits);
        assert!(matches!(issues[0], LayoutIssue::TooManyEntries { .. }));
        assert!(issues.contains(&LayoutIssue::ModuleJsonMissing));
        assert!(matches!(
            issues.last(),
            Some(LayoutIssue::SeveralModules { .. })
        ));
    }
}
