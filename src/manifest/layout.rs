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
/// The file name the Redis module repositories give a module zip, e.g.
/// `rejson.Linux-ubuntu22.04-x86_64.2.0.8.zip` (the OS spelled as [`crate::manifest::OsNick::file_name_spelling`]).
pub const ZIP_NAME_TEMPLATE: &str = "{module_name}.Linux-{os}-{arch}.{semantic_version}.zip";
/// The suffix Redis gives the zip of a module that embeds its dependencies
/// (`redisgears.Linux-ubuntu22.04-x86_64.8.4.0-withdeps.zip`).
pub const WITH_DEPS_SUFFIX: &str = "-withdeps";

/// The parts of a file name that follows [`ZIP_NAME_TEMPLATE`] (with or without
/// [`WITH_DEPS_SUFFIX`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipNameParts {
    /// `module_name`.
    pub module_name: String,
    /// The OS as spelled in the name.
    pub os: String,
    /// The architecture as spelled in the name.
    pub arch: String,
    /// `major.minor.patch`.
    pub semantic_version: String,
}

/// The zip file name of a build: [`ZIP_NAME_TEMPLATE`] filled in.
pub fn zip_file_name(module_name: &str, os: &str, arch: &str, semantic_version: &str) -> String {
    format!("{module_name}.Linux-{os}-{arch}.{semantic_version}.zip")
}

/// Reads a file name that follows [`ZIP_NAME_TEMPLATE`]; `None` for any other name.
pub fn parse_zip_file_name(file_name: &str) -> Option<ZipNameParts> {
    let stem = file_name.strip_suffix(".zip")?;
    let stem = stem.strip_suffix(WITH_DEPS_SUFFIX).unwrap_or(stem);
    let (module_name, rest) = stem.split_once(".Linux-")?;
    // `{os}-{arch}.{major}.{minor}.{patch}`: the version is the last three dotted numbers.
    let (rest, patch) = rest.rsplit_once('.')?;
    let (rest, minor) = rest.rsplit_once('.')?;
    let (platform, major) = rest.rsplit_once('.')?;
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(numeric(major) && numeric(minor) && numeric(patch)) {
        return None;
    }
    let (os, arch) = ["x86_64", "aarch64"]
        .iter()
        .find_map(|arch| Some((platform.strip_suffix(&format!("-{arch}"))?, *arch)))?;
    (!module_name.is_empty() && !os.is_empty()).then(|| ZipNameParts {
        module_name: module_name.to_string(),
        os: os.to_string(),
        arch: arch.to_string(),
        semantic_version: format!("{major}.{minor}.{patch}"),
    })
}

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

    #[test]
    fn zip_names_follow_the_redis_convention() {
        let name = zip_file_name("redisgears", "ubuntu22.04", "x86_64", "8.4.0");
        assert_eq!(name, "redisgears.Linux-ubuntu22.04-x86_64.8.4.0.zip");
        let parts = parse_zip_file_name(&name).unwrap();
        assert_eq!(
            (
                parts.module_name.as_str(),
                parts.os.as_str(),
                parts.arch.as_str(),
                parts.semantic_version.as_str()
            ),
            ("redisgears", "ubuntu22.04", "x86_64", "8.4.0")
        );
        let withdeps =
            parse_zip_file_name("redisgears.Linux-rhel9-aarch64.8.2.1-withdeps.zip").unwrap();
        assert_eq!(
            (
                withdeps.os.as_str(),
                withdeps.arch.as_str(),
                withdeps.semantic_version.as_str()
            ),
            ("rhel9", "aarch64", "8.2.1")
        );
        for other in [
            "r8.zip",
            "hello.Linux-rhel9-armv7.1.2.3.zip",
            "hello.Linux-rhel9-x86_64.1.2.zip",
            "hello.Linux--x86_64.1.2.3.zip",
            "hello.Linux-rhel9-x86_64.1.2.3.tar",
        ] {
            assert_eq!(parse_zip_file_name(other), None, "{other}");
        }
    }
}
