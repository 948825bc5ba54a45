//! A release set: the zips of one release, several module versions (one per Redis feature set,
//! since RS gives a database only a build whose `compatible_redis_version` is its Redis
//! major.minor), each built per OS and architecture.
//!
//! The set is read from zips or folders of zips ([`collect_inputs`]); each member keeps its
//! opened [`Bundle`] (with the zip's open file: what was checked is what is sent), the build
//! facts RS's rules read, and the zip's SHA-256. The coverage matrix lays the members out as RS
//! uses them: a row per OS and architecture, a column per Redis feature set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::Bundle;
use crate::manifest::{Arch, ModuleVersion, OsNick};

use super::fit::{platform_label, Build};

/// Most zips one set may hold: more is not a release but a mistake (a whole download folder).
pub const MAX_SET_ZIPS: usize = 1_000;

/// Why a set cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// A path that cannot be read.
    #[error("cannot read {path}: {source}", path = path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A folder without a single zip.
    #[error("{} holds no module zip (*.zip); give the zips of a release, or a folder holding them", .0.display())]
    Empty(PathBuf),
    /// More zips than a set may hold.
    #[error("{count} zips is more than the {MAX_SET_ZIPS} one release set may hold; give the folder of one release")]
    TooMany {
        /// How many were found.
        count: usize,
    },
}

/// The files a set is read from.
#[derive(Debug, Clone, Default)]
pub struct SetInputs {
    /// The zips, in the order given (a folder's in name order), each once.
    pub zips: Vec<PathBuf>,
    /// What a folder held besides zips: not part of the set, and said so.
    pub ignored: Vec<PathBuf>,
}

/// The zips `paths` name: a file as it is (the reader says when it is no zip), a folder's `*.zip`
/// files in name order; the same file named twice is read once.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<SetInputs, SetError> {
    let mut inputs = SetInputs::default();
    let mut seen = BTreeSet::new();
    let io = |path: &Path, source| SetError::Io {
        path: path.to_path_buf(),
        source,
    };
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|e| io(path, e))?;
        let files: Vec<PathBuf> = if metadata.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| io(path, e))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|e| io(path, e))?;
            entries.sort();
            let (zips, others): (Vec<PathBuf>, Vec<PathBuf>) = entries
                .into_iter()
                .partition(|p| p.is_file() && is_zip_name(p));
            inputs.ignored.extend(others);
            if zips.is_empty() {
                return Err(SetError::Empty(path.clone()));
            }
            zips
        } else {
            vec![path.clone()]
        };
        for file in files {
            let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if seen.insert(key) {
                inputs.zips.push(file);
            }
        }
        if inputs.zips.len() > MAX_SET_ZIPS {
            return Err(SetError::TooMany {
                count: inputs.zips.len(),
            });
        }
    }
    Ok(inputs)
}

/// Whether `path` is a folder of a release's zips rather than an unpacked module: a folder
/// that holds neither module.json nor a `.so` (names compared in any case). Anything that is not
/// a readable folder is not one.
pub fn is_release_folder(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    !entries.flatten().any(|entry| {
        let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
        name == crate::bundle::MODULE_JSON || name.ends_with(crate::manifest::layout::MODULE_SUFFIX)
    })
}

fn is_zip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Opens every zip of `inputs` with `limits`; an input that is not a readable zip is kept in
/// [`ReleaseSet::unreadable`] with why, so the rest of the set is still checked.
pub fn open_set(inputs: &SetInputs, limits: crate::bundle::Limits) -> ReleaseSet {
    let mut set = ReleaseSet {
        ignored: inputs.ignored.clone(),
        ..ReleaseSet::default()
    };
    for path in &inputs.zips {
        let member = Bundle::read_with_limits(path, limits)
            .map_err(|e| e.to_string())
            .and_then(|bundle| SetMember::new(path.clone(), bundle).map_err(|e| e.to_string()));
        match member {
            Ok(member) => set.members.push(member),
            Err(why) => set.unreadable.push((path.clone(), why)),
        }
    }
    set
}

/// One zip of the set.
#[derive(Debug)]
pub struct SetMember {
    /// The path given (or found in a folder).
    pub path: PathBuf,
    /// The opened zip. Its module bytes are dropped once checked; its open file stays.
    pub bundle: Bundle,
    /// What RS's rules read of it, when its module.json can be read.
    pub build: Option<Build>,
    /// The zip's hex SHA-256.
    pub sha256: String,
    /// The zip's size in bytes.
    pub size: u64,
}

impl SetMember {
    /// A member from an opened zip: hashes the zip from its open file.
    pub fn new(path: PathBuf, bundle: Bundle) -> std::io::Result<SetMember> {
        let (sha256, size) = match &bundle.archive {
            Some(archive) => (archive.sha256()?, archive.size()),
            None => (String::new(), 0),
        };
        let build = bundle.manifest_value().and_then(Build::from_value);
        Ok(SetMember {
            path,
            bundle,
            build,
            sha256,
            size,
        })
    }

    /// Drops the module's bytes once its checks ran, so a set of large zips takes little memory
    /// (the zip's open file, which an upload sends, stays).
    pub fn release_module_bytes(&mut self) {
        self.bundle.module = None;
    }

    /// The file name, for messages and checksum files.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// The module version, when module.json gives one.
    pub fn version(&self) -> Option<ModuleVersion> {
        self.build.as_ref().map(|b| b.version)
    }

    /// `8.2` for a build for Redis 8.2, `none` for one without `compatible_redis_version`.
    pub fn feature_set(&self) -> String {
        feature_set_label(self.build.as_ref())
    }

    /// Whether a node running `os` on `arch` takes this zip.
    pub fn runs_on(&self, os: Option<&OsNick>, arch: Option<Arch>) -> bool {
        self.build
            .as_ref()
            .is_some_and(|b| b.runs_on(os, arch).is_ok())
    }
}

/// The column a build goes in: its Redis feature set (`8.2`), or `none`.
pub fn feature_set_label(build: Option<&Build>) -> String {
    match build.and_then(|b| b.compatible_redis_version.as_ref()) {
        Some(v) => {
            let (major, minor) = v.major_minor();
            format!("{major}.{minor}")
        }
        None => NO_FEATURE_SET.to_string(),
    }
}

/// The column of builds without `compatible_redis_version`.
pub const NO_FEATURE_SET: &str = "none";

/// The zips of one release.
#[derive(Debug, Default)]
pub struct ReleaseSet {
    /// The zips that could be opened, in input order.
    pub members: Vec<SetMember>,
    /// The inputs that are not readable module zips, with why.
    pub unreadable: Vec<(PathBuf, String)>,
    /// What a folder held besides zips.
    pub ignored: Vec<PathBuf>,
}

impl ReleaseSet {
    /// The distinct module names the members carry.
    pub fn module_names(&self) -> BTreeSet<String> {
        self.members
            .iter()
            .filter_map(|m| m.build.as_ref().map(|b| b.module_name.clone()))
            .collect()
    }

    /// Drops every member's module bytes once the checks ran (their open files stay).
    pub fn release_module_bytes(&mut self) {
        for member in &mut self.members {
            member.release_module_bytes();
        }
    }

    /// The distinct module versions, lowest first.
    pub fn versions(&self) -> Vec<ModuleVersion> {
        let versions: BTreeSet<ModuleVersion> =
            self.members.iter().filter_map(SetMember::version).collect();
        versions.into_iter().collect()
    }

    /// The members of one version.
    pub fn of_version(&self, version: ModuleVersion) -> impl Iterator<Item = &SetMember> {
        self.members
            .iter()
            .filter(move |m| m.version() == Some(version))
    }

    /// The zip of `version` a node running `os` on `arch` takes: the first member of that
    /// version built for it.
    pub fn build_for(
        &self,
        version: ModuleVersion,
        os: Option<&OsNick>,
        arch: Option<Arch>,
    ) -> Option<&SetMember> {
        self.of_version(version).find(|m| m.runs_on(os, arch))
    }

    /// The zip of module `name` at `version` a node running `os` on `arch` takes.
    pub fn build_of(
        &self,
        name: &str,
        version: ModuleVersion,
        os: Option<&OsNick>,
        arch: Option<Arch>,
    ) -> Option<&SetMember> {
        self.of_version(version).find(|m| {
            m.build
                .as_ref()
                .is_some_and(|b| b.module_name.eq_ignore_ascii_case(name))
                && m.runs_on(os, arch)
        })
    }

    /// The coverage matrix: a row per OS/architecture, a column per Redis feature set, the
    /// module versions in each cell.
    pub fn matrix(&self) -> Matrix {
        let mut columns: Vec<(Option<(u64, u64)>, String)> = Vec::new();
        let mut rows: BTreeSet<String> = BTreeSet::new();
        for member in &self.members {
            let Some(build) = &member.build else { continue };
            let key = build
                .compatible_redis_version
                .as_ref()
                .map(|v| v.major_minor());
            let label = member.feature_set();
            if !columns.iter().any(|(k, _)| *k == key) {
                columns.push((key, label));
            }
            for (os, arch) in &build.platforms {
                rows.insert(row_label(os.as_ref(), *arch));
            }
        }
        // Feature sets in version order; builds without one last.
        columns.sort_by_key(|(key, _)| (key.is_none(), *key));
        let rows = rows
            .into_iter()
            .map(|platform| {
                let cells = columns
                    .iter()
                    .map(|(key, _)| {
                        let versions: BTreeSet<ModuleVersion> = self
                            .members
                            .iter()
                            .filter_map(|m| m.build.as_ref())
                            .filter(|b| {
                                b.compatible_redis_version.as_ref().map(|v| v.major_minor()) == *key
                            })
                            .filter(|b| {
                                b.platforms
                                    .iter()
                                    .any(|(os, arch)| row_label(os.as_ref(), *arch) == platform)
                            })
                            .map(|b| b.version)
                            .collect();
                        versions
                            .into_iter()
                            .map(|v| v.semantic().to_string())
                            .collect()
                    })
                    .collect();
                MatrixRow { platform, cells }
            })
            .collect();
        Matrix {
            columns: columns.into_iter().map(|(_, label)| label).collect(),
            rows,
        }
    }
}

fn row_label(os: Option<&OsNick>, arch: Option<Arch>) -> String {
    match os {
        Some(_) => platform_label(os, arch),
        None => format!("any OS/{}", arch.map_or("?".to_string(), |a| a.to_string())),
    }
}

/// Which module versions a release holds for each platform and Redis feature set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    /// The Redis feature sets (`8.0`, `8.2`, …, then `none`).
    pub columns: Vec<String>,
    /// A row per OS/architecture.
    pub rows: Vec<MatrixRow>,
}

/// One platform's row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixRow {
    /// `rhel9/x86_64`.
    pub platform: String,
    /// Per column, the module versions built for it (empty: a hole).
    pub cells: Vec<Vec<String>>,
}

impl Matrix {
    /// The holes: (platform, feature set) pairs that other columns of the row, or other rows of
    /// the column, have builds for.
    pub fn holes(&self) -> Vec<(String, String)> {
        let mut holes = Vec::new();
        for row in &self.rows {
            for (column, cell) in self.columns.iter().zip(&row.cells) {
                if cell.is_empty() {
                    holes.push((row.platform.clone(), column.clone()));
                }
            }
        }
        holes
    }
}

/// A checksum file `sha256sum -c` accepts: `HEX  NAME` lines, sorted by name; each name relative
/// to `base` (the checksum file's folder) when the zip is inside it, else as given.
pub fn checksums_text(members: &[SetMember], base: &Path) -> String {
    let mut lines: Vec<(String, String)> = members
        .iter()
        .map(|m| (relative_name(&m.path, base), m.sha256.clone()))
        .collect();
    lines.sort();
    lines
        .into_iter()
        .map(|(name, sha)| format!("{sha}  {name}\n"))
        .collect()
}

/// Writes [`checksums_text`] to `path` atomically (a temp file beside it, then a rename), names
/// relative to `path`'s folder; returns the text.
pub fn write_checksums(path: &Path, members: &[SetMember]) -> std::io::Result<String> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let text = checksums_text(members, &folder);
    let mut temp = tempfile::Builder::new()
        .prefix(".rmpack-checksums-")
        .tempfile_in(&folder)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(text)
}

/// `path` relative to `base` when it lies inside it.
pub fn relative_name(path: &Path, base: &Path) -> String {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (path_abs, base_abs) = (absolute(path), absolute(base));
    match path_abs.strip_prefix(&base_abs) {
        Ok(relative) => relative.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// Reads a `sha256sum` file: (hex, name) pairs; a line that is not `HEX  NAME` (or `HEX *NAME`)
/// is an error naming its number.
pub fn parse_checksums(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line
            .split_once(' ')
            .and_then(|(hex, rest)| {
                let name = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
                (crate::manifest::is_sha256_hex(hex) && !name.is_empty())
                    .then(|| (hex.to_ascii_lowercase(), name.to_string()))
            })
            .ok_or_else(|| {
                format!(
                    "line {} is not `SHA256  FILE` as sha256sum writes it",
                    index + 1
                )
            })?;
        out.push(parsed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_of_zips_is_a_release_and_an_unpacked_module_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain.Linux-rhel9-x86_64.1.2.3.zip"), b"PK").unwrap();
        assert!(is_release_folder(dir.path()));
        let module = tempfile::tempdir().unwrap();
        std::fs::write(module.path().join("Module.JSON"), b"{}").unwrap();
        assert!(!is_release_folder(module.path()));
        let so = tempfile::tempdir().unwrap();
        std::fs::write(so.path().join("plain.SO"), b"").unwrap();
        assert!(!is_release_folder(so.path()));
        // A file, or a path that does not exist, is no folder of a release.
        let file = dir.path().join("plain.Linux-rhel9-x86_64.1.2.3.zip");
        assert!(!is_release_folder(&file));
        assert!(!is_release_folder(&dir.path().join("absent")));
    }

    #[test]
    fn checksum_lines_parse_both_sha256sum_modes_and_refuse_others() {
        let hex = "a".repeat(64);
        let parsed =
            parse_checksums(&format!("{hex}  x.zip\n{} *y.zip\n\n", "B".repeat(64))).unwrap();
        assert_eq!(parsed[0], (hex.clone(), "x.zip".to_string()));
        assert_eq!(parsed[1].0, "b".repeat(64));
        assert_eq!(parsed[1].1, "y.zip");
        let error = parse_checksums(&format!("{hex}  x.zip\nnot a line\n")).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(parse_checksums("abc  x.zip").is_err());
    }
}
