//! The module zip's layout facts, named once: what its entries are called and the modes they
//! carry. The writer (`pack`), the reader and unpacker (`bundle`) and the validator use these.

/// The metadata file at the root of a module zip.
pub const MODULE_JSON: &str = "module.json";
/// The folder of embedded dependency archives.
pub const DEPS_DIR: &str = "deps";
/// The file name suffix of an embedded dependency archive (a gzip'd tarball).
pub const DEPENDENCY_SUFFIX: &str = ".tgz";
/// The file name suffix of the module itself.
pub const MODULE_SUFFIX: &str = ".so";
/// Mode of the module `.so` inside the zip: Redis refuses to load a module without the execute bit.
pub const MODULE_MODE: u32 = 0o755;
/// Mode of every other entry (and of extracted files without an execute bit).
pub const DATA_MODE: u32 = 0o644;
/// The largest module zip RS accepts (`MAX_MODULE_SIZE_BYTES`, 500 MB).
pub const RS_MAX_MODULE_ZIP_BYTES: u64 = 500 * 1024 * 1024;

/// The entry name of dependency `name`: `deps/<name>.tgz`.
pub fn dependency_entry(name: &str) -> String {
    format!("{DEPS_DIR}/{name}{DEPENDENCY_SUFFIX}")
}

/// The dependency name of a `deps/<name>.tgz` entry, when `entry` is one and the name is plain
/// (letters, digits, `_`, `-`, `.`, not starting with a dot).
pub fn dependency_name(entry: &str) -> Option<&str> {
    let rest = entry.strip_prefix(DEPS_DIR)?.strip_prefix('/')?;
    let name = rest.strip_suffix(DEPENDENCY_SUFFIX)?;
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.starts_with('.');
    plain.then_some(name)
}

/// Whether `entry` names a module `.so` at the zip's root.
pub fn is_root_module(entry: &str) -> bool {
    !entry.contains('/')
        && !entry.contains('\\')
        && entry.len() > MODULE_SUFFIX.len()
        && entry.ends_with(MODULE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_entries_round_trip() {
        assert_eq!(dependency_entry("gears_py"), "deps/gears_py.tgz");
        assert_eq!(
            dependency_name(&dependency_entry("gears_py")),
            Some("gears_py")
        );
        assert_eq!(dependency_name("deps/.tgz"), None);
        assert_eq!(dependency_name("deps/.hidden.tgz"), None);
        assert_eq!(dependency_name("deps/a/b.tgz"), None);
        assert_eq!(dependency_name("depsx/a.tgz"), None);
        assert!(is_root_module("m.so"));
        assert!(!is_root_module("lib/m.so"));
        assert!(!is_root_module(".so"));
    }
}
