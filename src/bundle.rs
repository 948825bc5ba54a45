//! Opening module zips safely: a tolerant reader for validation and inspection, and a strict
//! unpacker.
//!
//! [`Bundle::read`] lists every entry, reads `module.json` (keeping a parse error instead of
//! failing on it), and reads the module `.so` and each `deps/*.tgz` once, hashing the bytes in the
//! same pass as they are inflated. It fails only when the file is not a readable zip; everything
//! else it finds wrong is recorded in [`Bundle::problems`] for the validator to report.
//!
//! [`unpack`] is strict: it refuses unsafe names, links, duplicates, unexpected files and
//! expansion past a size cap before writing anything, extracts into a temporary folder inside the
//! destination, verifies every checksum, and only then moves the files into place.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::manifest::ModuleJson;

/// The name of the metadata file at the root of a module zip.
pub const MODULE_JSON: &str = "module.json";
/// The folder of embedded dependency archives.
pub const DEPS_DIR: &str = "deps";
/// Default cap on the number of entries in a zip.
pub const DEFAULT_MAX_ENTRIES: usize = 1_000;
/// Default cap on the bytes a zip may inflate to (2 GiB).
pub const DEFAULT_MAX_TOTAL_SIZE: u64 = 2 << 30;

const COPY_BUFFER: usize = 256 * 1024;

/// The largest `module.json` read: real ones are a few kilobytes, and it is parsed in memory.
pub const MAX_MODULE_JSON: u64 = 4 << 20;

/// Default of [`Limits::max_in_memory`].
pub const DEFAULT_MAX_IN_MEMORY: u64 = 48 << 20;

/// Guards against archives that would exhaust memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries a zip (or a dependency tarball) may hold.
    pub max_entries: usize,
    /// Most bytes all entries together may inflate to, counted on the bytes actually inflated.
    pub max_total_size: u64,
    /// A module entry larger than this is inflated into an unlinked temporary file instead of
    /// memory, and a zip larger than this is read through a buffer instead of being mapped:
    /// either way every byte read would otherwise count towards this process's memory, and an
    /// upload's pre-flight check of a 200 MB module should not need 200 MB. Below it, inflating
    /// in one call into memory is the fastest path.
    pub max_in_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_total_size: DEFAULT_MAX_TOTAL_SIZE,
            max_in_memory: DEFAULT_MAX_IN_MEMORY,
        }
    }
}

/// Errors opening or unpacking a module zip. Each names the offending entry or value.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file that cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file that cannot be written while unpacking.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Not a zip, or a zip whose central directory is damaged.
    #[error("{path} is not a readable zip archive: {source}")]
    NotAZip {
        /// The file.
        path: PathBuf,
        /// What the zip reader said.
        source: zip::result::ZipError,
    },
    /// An entry name that would escape the destination or is not portable.
    #[error("entry `{entry}` has an unsafe name ({reason}); a module zip holds only module.json, the .so and deps/<name>.tgz")]
    UnsafeName {
        /// The entry name as stored.
        entry: String,
        /// Why it is unsafe.
        reason: &'static str,
    },
    /// A symbolic or hard link.
    #[error("entry `{entry}` is a link; module archives must hold regular files only")]
    Link {
        /// The entry name.
        entry: String,
    },
    /// Two entries with the same name (or names that differ only by case).
    #[error(
        "entries `{first}` and `{second}` have the same name; rebuild the zip with each file once"
    )]
    Duplicate {
        /// The first entry.
        first: String,
        /// The entry that repeats it.
        second: String,
    },
    /// More than one module `.so`.
    #[error("the zip holds {} .so files ({}); a module zip holds exactly one", .names.len(), .names.join(", "))]
    SeveralModules {
        /// The `.so` entries.
        names: Vec<String>,
    },
    /// A file that is not module.json, the module `.so` or `deps/<name>.tgz`.
    #[error("unexpected entry `{entry}`; a module zip holds only module.json, one .so at the root and deps/<name>.tgz")]
    UnexpectedEntry {
        /// The entry name.
        entry: String,
    },
    /// A required file is absent.
    #[error("the zip has no {what} at its root")]
    Missing {
        /// What is missing (`module.json`, `module .so`).
        what: &'static str,
    },
    /// Too many entries.
    #[error("the archive {archive} has more than {max} entries; refusing to open it")]
    TooManyEntries {
        /// The archive (the zip, or a dependency tarball inside it).
        archive: String,
        /// The cap.
        max: usize,
    },
    /// A `module.json` far larger than any real one.
    #[error("module.json is {size} bytes, more than the {max} bytes a module.json may have; refusing to unpack it")]
    ModuleJsonTooLarge {
        /// Its declared size.
        size: u64,
        /// The cap, in bytes.
        max: u64,
    },
    /// Inflating would exceed the size cap.
    #[error("the archive inflates past {max} bytes (at entry `{entry}`); refusing to unpack it (raise the cap if it is genuine)")]
    TooLarge {
        /// The entry being inflated when the cap was reached.
        entry: String,
        /// The cap, in bytes.
        max: u64,
    },
    /// An entry that does not inflate (bad CRC, damaged data).
    #[error("entry `{entry}` is damaged: {reason}")]
    Corrupt {
        /// The entry name.
        entry: String,
        /// What went wrong.
        reason: String,
    },
    /// `module.json` that cannot be used to verify the files.
    #[error("module.json cannot be read: {reason}")]
    BadModuleJson {
        /// The parse error.
        reason: String,
    },
    /// A file whose SHA-256 differs from what module.json records.
    #[error("sha256 of `{entry}` is {actual}, but module.json records {expected}; the file was changed after packing")]
    ChecksumMismatch {
        /// The entry.
        entry: String,
        /// What module.json records.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A `deps/<name>.tgz` that module.json does not list.
    #[error(
        "`{entry}` is not listed in module.json's dependencies; its checksum cannot be verified"
    )]
    UnlistedDependency {
        /// The entry.
        entry: String,
    },
    /// An entry inside a dependency tarball that is unsafe.
    #[error("dependency archive `{archive}`: entry `{entry}` is refused ({reason})")]
    UnsafeTarEntry {
        /// The tarball.
        archive: String,
        /// The tar entry.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// The destination already holds a file the zip would write.
    #[error("{path} already exists; unpack into an empty folder")]
    DestinationExists {
        /// The existing path.
        path: PathBuf,
    },
}

/// What kind of thing a zip entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Directory,
    /// A symbolic link.
    Symlink,
}

/// One entry of a zip, as its central directory describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The name as stored (lossily decoded when not UTF-8).
    pub name: String,
    /// File, folder or link.
    pub kind: EntryKind,
    /// Uncompressed size the header claims.
    pub size: u64,
    /// Compressed size.
    pub compressed_size: u64,
    /// Unix permission bits, when the zip records them.
    pub unix_mode: Option<u32>,
    /// Compression method (`Deflated`, `Stored`, …).
    pub compression: String,
}

/// A file read from the bundle and hashed in the same pass.
#[derive(Debug, Clone, Serialize)]
pub struct HashedFile {
    /// Entry name (or file name for a folder or bare file).
    pub name: String,
    /// Bytes actually read.
    pub size: u64,
    /// Hex SHA-256 of those bytes.
    pub sha256: String,
}

/// Bytes of the module `.so`.
pub enum ModuleBytes {
    /// Inflated from a zip entry into the heap.
    Owned(Vec<u8>),
    /// Mapped memory: a file on disk, or an anonymous mapping a zip entry was inflated into.
    Mapped(memmap2::Mmap),
    /// Mapped from the unlinked temporary file an entry over [`Limits::max_in_memory`] was
    /// inflated into: only the pages a reader touches take memory.
    Spilled(memmap2::Mmap),
}

impl Deref for ModuleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ModuleBytes::Owned(bytes) => bytes,
            ModuleBytes::Mapped(map) | ModuleBytes::Spilled(map) => map,
        }
    }
}

impl std::fmt::Debug for ModuleBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleBytes({} bytes)", self.len())
    }
}

/// The module `.so` of a bundle.
#[derive(Debug)]
pub struct ModuleBinary {
    /// Entry or file name.
    pub name: String,
    /// Its bytes.
    pub bytes: ModuleBytes,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Unix permission bits, when known.
    pub unix_mode: Option<u32>,
}

/// Where a bundle was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A module zip.
    Zip,
    /// A folder holding module.json, the `.so` and maybe `deps/`.
    Directory,
    /// A bare `.so`.
    SharedObject,
    /// A bare module.json.
    ModuleJson,
}

/// Something wrong found while reading a bundle that did not stop the reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadProblem {
    /// More entries than the cap; only the first `max` were looked at.
    TooManyEntries {
        /// Entries in the zip.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// Inflating stopped at the size cap.
    TooLarge {
        /// The entry being inflated.
        entry: String,
        /// The cap in bytes.
        max: u64,
    },
    /// An entry that could not be inflated.
    Unreadable {
        /// The entry.
        entry: String,
        /// Why.
        reason: String,
    },
}

/// A module zip (or folder, or bare file) as read for validation and inspection.
#[derive(Debug)]
pub struct Bundle {
    /// What was opened.
    pub path: PathBuf,
    /// What kind of input it was.
    pub source: Source,
    /// Every zip entry in central-directory order (empty for other sources).
    pub entries: Vec<Entry>,
    /// Whether the zip's central directory repeats a name exactly.
    pub has_exact_duplicates: bool,
    /// The raw bytes of module.json, when present.
    pub module_json_raw: Option<Vec<u8>>,
    /// module.json as JSON, or why it is not JSON.
    pub module_json_value: Option<Result<serde_json::Value, String>>,
    /// module.json as the typed model, or why it does not fit it.
    pub module_json: Option<Result<ModuleJson, String>>,
    /// The first `.so` at the root.
    pub module: Option<ModuleBinary>,
    /// Every `deps/*.tgz`, hashed.
    pub deps: Vec<HashedFile>,
    /// Problems met while reading.
    pub problems: Vec<ReadProblem>,
}

impl Bundle {
    fn empty(path: &Path, source: Source) -> Bundle {
        Bundle {
            path: path.to_path_buf(),
            source,
            entries: Vec::new(),
            has_exact_duplicates: false,
            module_json_raw: None,
            module_json_value: None,
            module_json: None,
            module: None,
            deps: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Reads a module zip with the default [`Limits`].
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        Bundle::read_with_limits(path, Limits::default())
    }

    /// Reads a module zip, failing only when it is not a readable zip.
    pub fn read_with_limits(path: &Path, limits: Limits) -> Result<Bundle, BundleError> {
        let io_error = |source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        };
        let not_a_zip = |source| BundleError::NotAZip {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        if size > limits.max_in_memory {
            let reader = io::BufReader::with_capacity(COPY_BUFFER, file);
            let archive = zip::ZipArchive::new(reader).map_err(not_a_zip)?;
            return Ok(Bundle::read_archive(path, archive, None, limits));
        }
        let zip_bytes = map_zip(&file).map_err(io_error)?;
        let archive = zip::ZipArchive::new(io::Cursor::new(&*zip_bytes)).map_err(not_a_zip)?;
        Ok(Bundle::read_archive(
            path,
            archive,
            Some(&zip_bytes),
            limits,
        ))
    }

    /// Reads every entry of an opened zip; `zip_bytes` are the whole zip when it is in memory,
    /// which lets the module entry be inflated in one call.
    fn read_archive<R: Read + io::Seek>(
        path: &Path,
        mut archive: zip::ZipArchive<R>,
        zip_bytes: Option<&[u8]>,
        limits: Limits,
    ) -> Bundle {
        let mut bundle = Bundle::empty(path, Source::Zip);
        bundle.has_exact_duplicates = archive.has_duplicate_names();
        let count = archive.len();
        if count > limits.max_entries {
            bundle.problems.push(ReadProblem::TooManyEntries {
                count,
                max: limits.max_entries,
            });
        }
        let mut budget = limits.max_total_size;
        for index in 0..count.min(limits.max_entries) {
            let mut file = match archive.by_index(index) {
                Ok(file) => file,
                Err(e) => {
                    bundle.problems.push(ReadProblem::Unreadable {
                        entry: format!("#{index}"),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let entry = describe(&file);
            let role = classify(&entry.name);
            let is_file = entry.kind == EntryKind::File;
            let name = entry.name.clone();
            let unix_mode = entry.unix_mode;
            let declared = entry.size;
            bundle.entries.push(entry);
            if !is_file || budget == 0 {
                continue;
            }
            let wanted = match role {
                Role::ModuleJson => bundle.module_json_raw.is_none(),
                Role::Module => bundle.module.is_none(),
                Role::Dependency => true,
                Role::Other => false,
            };
            if !wanted {
                continue;
            }
            if role == Role::Module && declared <= limits.max_in_memory {
                let stored = zip_bytes.and_then(|zip| StoredEntry::locate(&file, zip, budget));
                if let Some(stored) = stored {
                    match inflate_whole(&stored) {
                        Some(Ok((bytes, sha256))) => {
                            budget -= declared;
                            bundle.module = Some(ModuleBinary {
                                name,
                                bytes,
                                sha256,
                                unix_mode,
                            });
                            continue;
                        }
                        Some(Err(reason)) => {
                            budget -= declared;
                            bundle.problems.push(ReadProblem::Unreadable {
                                entry: name,
                                reason,
                            });
                            continue;
                        }
                        // No memory could be mapped for it: inflate through the reader.
                        None => {}
                    }
                }
            }
            // module.json is parsed in memory: it gets a cap of its own, far below the total.
            let entry_cap = if role == Role::ModuleJson {
                MAX_MODULE_JSON
            } else {
                limits.max_total_size
            };
            let mut entry_budget = budget.min(entry_cap);
            let before = entry_budget;
            let read = if role == Role::Module && declared > limits.max_in_memory {
                spill_hashed(&mut file, &mut entry_budget)
            } else {
                let keep = role != Role::Dependency;
                let capacity = if keep { declared.min(entry_budget) } else { 0 };
                read_hashed(&mut file, &mut entry_budget, keep, capacity)
                    .map(|(bytes, sha256, size)| (ModuleBytes::Owned(bytes), sha256, size))
            };
            budget -= before - entry_budget;
            match read {
                Ok((bytes, sha256, size)) => match role {
                    Role::ModuleJson => bundle.module_json_raw = Some(bytes.to_vec()),
                    Role::Module => {
                        bundle.module = Some(ModuleBinary {
                            name,
                            bytes,
                            sha256,
                            unix_mode,
                        })
                    }
                    _ => bundle.deps.push(HashedFile { name, size, sha256 }),
                },
                Err(ReadError::Budget) => {
                    bundle.problems.push(ReadProblem::TooLarge {
                        entry: name,
                        max: entry_cap.min(limits.max_total_size),
                    });
                    if entry_cap >= limits.max_total_size {
                        budget = 0;
                    }
                }
                Err(ReadError::Io(e)) => bundle.problems.push(ReadProblem::Unreadable {
                    entry: name,
                    reason: e.to_string(),
                }),
            }
        }
        bundle.parse_module_json();
        bundle
    }

    /// Reads a bare `.so`, mapping it into memory and hashing the mapping.
    pub fn from_shared_object(path: &Path) -> Result<Bundle, BundleError> {
        let mut bundle = Bundle::empty(path, Source::SharedObject);
        bundle.module = Some(map_module(path)?);
        Ok(bundle)
    }

    /// Reads a bare module.json.
    pub fn from_module_json(path: &Path) -> Result<Bundle, BundleError> {
        let mut bundle = Bundle::empty(path, Source::ModuleJson);
        bundle.module_json_raw = Some(std::fs::read(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?);
        bundle.parse_module_json();
        Ok(bundle)
    }

    /// Reads a folder holding module.json, a `.so` and maybe `deps/*.tgz` (the layout `unpack`
    /// writes, or a build folder).
    pub fn from_directory(path: &Path) -> Result<Bundle, BundleError> {
        let io_error = |source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut bundle = Bundle::empty(path, Source::Directory);
        let json_path = path.join(MODULE_JSON);
        if json_path.is_file() {
            bundle.module_json_raw = Some(std::fs::read(&json_path).map_err(io_error)?);
            bundle.parse_module_json();
        }
        // Prefer the file module.json names; else the only (or first, by name) .so.
        let named = bundle
            .module_json
            .as_ref()
            .and_then(|m| m.as_ref().ok())
            .map(|m| m.module_file.clone())
            .filter(|name| !name.is_empty() && classify(name) == Role::Module)
            .map(|name| path.join(name))
            .filter(|p| p.is_file());
        let module_path = match named {
            Some(p) => Some(p),
            None => {
                let mut candidates: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(io_error)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "so"))
                    .collect();
                candidates.sort();
                candidates.into_iter().next()
            }
        };
        if let Some(module_path) = module_path {
            bundle.module = Some(map_module(&module_path)?);
        }
        let deps_dir = path.join(DEPS_DIR);
        if deps_dir.is_dir() {
            let mut tarballs: Vec<PathBuf> = std::fs::read_dir(&deps_dir)
                .map_err(io_error)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "tgz"))
                .collect();
            tarballs.sort();
            for tarball in tarballs {
                let mut file = File::open(&tarball).map_err(|source| BundleError::Io {
                    path: tarball.clone(),
                    source,
                })?;
                let mut budget = u64::MAX;
                let (_, sha256, size) =
                    read_hashed(&mut file, &mut budget, false, 0).map_err(|e| BundleError::Io {
                        path: tarball.clone(),
                        source: e.into_io(),
                    })?;
                let name = format!(
                    "{DEPS_DIR}/{}",
                    tarball.file_name().unwrap_or_default().to_string_lossy()
                );
                bundle.deps.push(HashedFile { name, size, sha256 });
            }
        }
        Ok(bundle)
    }

    fn parse_module_json(&mut self) {
        let Some(raw) = &self.module_json_raw else {
            return;
        };
        self.module_json_value =
            Some(serde_json::from_slice::<serde_json::Value>(raw).map_err(|e| e.to_string()));
        self.module_json = Some(ModuleJson::from_slice(raw).map_err(|e| e.to_string()));
    }

    /// The typed module.json, when it parsed.
    pub fn manifest(&self) -> Option<&ModuleJson> {
        self.module_json.as_ref().and_then(|m| m.as_ref().ok())
    }

    /// The module.json as a JSON value, when it is JSON.
    pub fn manifest_value(&self) -> Option<&serde_json::Value> {
        self.module_json_value
            .as_ref()
            .and_then(|m| m.as_ref().ok())
    }
}

fn map_module(path: &Path) -> Result<ModuleBinary, BundleError> {
    let io_error = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    // An empty file cannot be mapped; it is simply no ELF.
    let bytes = if metadata.len() == 0 {
        ModuleBytes::Owned(Vec::new())
    } else {
        // SAFETY: the mapping is read-only and private to this process; a concurrent writer
        // could change the bytes under us, which at worst yields a wrong hash or parse error.
        ModuleBytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(io_error)?)
    };
    let sha256 = hex::encode(Sha256::digest(&*bytes));
    Ok(ModuleBinary {
        name: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        bytes,
        sha256,
        unix_mode: unix_mode_of(&metadata),
    })
}

#[cfg(unix)]
fn unix_mode_of(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(metadata.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn unix_mode_of(_metadata: &std::fs::Metadata) -> Option<u32> {
    None
}

/// What an entry is in a module zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    ModuleJson,
    Module,
    Dependency,
    Other,
}

fn classify(name: &str) -> Role {
    if name == MODULE_JSON {
        Role::ModuleJson
    } else if !name.contains('/') && !name.contains('\\') && name.len() > 3 && name.ends_with(".so")
    {
        Role::Module
    } else if dependency_name(name).is_some() {
        Role::Dependency
    } else {
        Role::Other
    }
}

/// The dependency name of a `deps/<name>.tgz` entry.
pub fn dependency_name(entry: &str) -> Option<&str> {
    let rest = entry.strip_prefix("deps/")?;
    let name = rest.strip_suffix(".tgz")?;
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.starts_with('.');
    plain.then_some(name)
}

fn describe<R: Read>(file: &zip::read::ZipFile<'_, R>) -> Entry {
    let name = match file.name() {
        Ok(name) => name.into_owned(),
        Err(_) => String::from_utf8_lossy(file.name_raw()).into_owned(),
    };
    let kind = if file.is_symlink() {
        EntryKind::Symlink
    } else if file.is_dir() {
        EntryKind::Directory
    } else {
        EntryKind::File
    };
    Entry {
        name,
        kind,
        size: file.size(),
        compressed_size: file.compressed_size(),
        // Other systems' attributes only yield a synthesized mode; it says nothing about +x.
        unix_mode: (file.system() == zip::System::Unix)
            .then(|| file.unix_mode())
            .flatten()
            .map(|m| m & 0o7777),
        compression: format!("{:?}", file.compression()),
    }
}

enum ReadError {
    Budget,
    Io(io::Error),
}

impl ReadError {
    fn into_io(self) -> io::Error {
        match self {
            ReadError::Budget => io::Error::other("size cap exceeded"),
            ReadError::Io(e) => e,
        }
    }
}

/// The zip file's bytes: mapped, or read when the file cannot be mapped.
enum ZipBytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl Deref for ZipBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ZipBytes::Mapped(map) => map,
            ZipBytes::Read(bytes) => bytes,
        }
    }
}

/// Maps a zip so entries can be inflated straight from its bytes, with no copy through a reader.
fn map_zip(file: &File) -> io::Result<ZipBytes> {
    // An empty file cannot be mapped; it is no zip either, which the zip reader reports.
    if file.metadata()?.len() == 0 {
        return Ok(ZipBytes::Read(Vec::new()));
    }
    // SAFETY: the mapping is read-only and private to this process; a concurrent writer could
    // change the bytes under us, which at worst yields a wrong hash or a damaged-entry report.
    match unsafe { memmap2::Mmap::map(file) } {
        Ok(map) => Ok(ZipBytes::Mapped(map)),
        // Some file systems cannot map files: read it whole instead.
        Err(_) => {
            let mut bytes = Vec::new();
            let mut reader: &File = file;
            reader.read_to_end(&mut bytes)?;
            Ok(ZipBytes::Read(bytes))
        }
    }
}

/// How a zip entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Stored,
    Deflated,
}

/// A zip entry's data as it lies in the zip, with what its header promises about it.
#[derive(Debug)]
struct StoredEntry<'a> {
    /// The compressed (or stored) bytes.
    data: &'a [u8],
    storage: Storage,
    /// Uncompressed size the central directory declares (nonzero, within the size budget).
    declared: usize,
    /// CRC-32 the central directory declares.
    crc32: u32,
}

impl<'a> StoredEntry<'a> {
    /// The entry's data within `zip`, when it can be inflated in one call: stored or deflated,
    /// not encrypted, nonempty, and declaring no more than `budget` bytes (a larger entry goes
    /// through the streaming reader, which stops at the budget). Data that does not lie within
    /// the zip yields an empty slice, which then fails to inflate.
    fn locate<R: Read>(
        file: &zip::read::ZipFile<'_, R>,
        zip: &'a [u8],
        budget: u64,
    ) -> Option<StoredEntry<'a>> {
        let storage = match file.compression() {
            zip::CompressionMethod::Stored => Storage::Stored,
            zip::CompressionMethod::Deflated => Storage::Deflated,
            _ => return None,
        };
        if file.encrypted() || file.size() == 0 || file.size() > budget {
            return None;
        }
        let declared = usize::try_from(file.size()).ok()?;
        let start = usize::try_from(file.data_start()?).ok()?;
        let data = usize::try_from(file.compressed_size())
            .ok()
            .and_then(|len| start.checked_add(len))
            .and_then(|end| zip.get(start..end))
            .unwrap_or_default();
        Some(StoredEntry {
            data,
            storage,
            declared,
            crc32: file.crc32(),
        })
    }
}

/// Inflates a whole entry in one call into memory mapped at its declared size, then checks that
/// it filled exactly that size and matches its CRC-32, and hashes it. One call over whole buffers
/// runs libdeflate's fastest loop, and the anonymous mapping (with huge pages where the system
/// offers them) costs fewer page faults than a heap buffer. `None` when no memory could be
/// mapped; `Some(Err(reason))` when the data is damaged or the header lies.
fn inflate_whole(entry: &StoredEntry<'_>) -> Option<Result<(ModuleBytes, String), String>> {
    let mut out = memmap2::MmapMut::map_anon(entry.declared).ok()?;
    #[cfg(target_os = "linux")]
    {
        // Only a hint: without huge pages the inflate merely takes more page faults.
        let _ = out.advise(memmap2::Advice::HugePage);
    }
    let filled = match entry.storage {
        Storage::Stored if entry.data.len() == entry.declared => {
            out.copy_from_slice(entry.data);
            Ok(entry.declared)
        }
        Storage::Stored => Err(format!(
            "it is stored uncompressed in {} bytes, but its header declares {}",
            entry.data.len(),
            entry.declared
        )),
        Storage::Deflated => libdeflater::Decompressor::new()
            .deflate_decompress(entry.data, &mut out)
            .map_err(|e| match e {
                libdeflater::DecompressionError::InsufficientSpace => format!(
                    "it inflates past the {} bytes its header declares",
                    entry.declared
                ),
                libdeflater::DecompressionError::BadData => {
                    "its deflate stream is invalid or cut short".to_string()
                }
            }),
    };
    let outcome = filled.and_then(|filled| {
        if filled != entry.declared {
            return Err(format!(
                "it inflates to {filled} bytes, but its header declares {}",
                entry.declared
            ));
        }
        // The CRC-32 takes a few milliseconds: compute it beside the SHA-256.
        let (sha256, crc32) = std::thread::scope(|scope| {
            let crc = scope.spawn(|| libdeflater::crc32(&out));
            let sha256 = hex::encode(Sha256::digest(&*out));
            let crc32 = crc.join().unwrap_or_else(|_| libdeflater::crc32(&out));
            (sha256, crc32)
        });
        if crc32 != entry.crc32 {
            return Err(format!(
                "its CRC-32 is {crc32:08x}, but its header records {:08x}",
                entry.crc32
            ));
        }
        Ok(sha256)
    });
    Some(outcome.and_then(|sha256| match out.make_read_only() {
        Ok(map) => Ok((ModuleBytes::Mapped(map), sha256)),
        Err(e) => Err(format!("cannot protect the inflated bytes: {e}")),
    }))
}

/// Reads `reader` to its end once, hashing every byte, keeping them when `keep`, and charging
/// them to `budget`; fails as soon as more bytes arrive than the budget allows.
fn read_hashed(
    reader: &mut dyn Read,
    budget: &mut u64,
    keep: bool,
    capacity: u64,
) -> Result<(Vec<u8>, String, u64), ReadError> {
    let mut kept = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let sink: Option<&mut dyn Write> = if keep { Some(&mut kept) } else { None };
    let (sha256, total) = copy_hashed(reader, budget, sink)?;
    Ok((kept, sha256, total))
}

/// Like [`read_hashed`], but the bytes go to an unlinked temporary file that is then mapped:
/// only the pages a reader of the mapping touches (the ELF headers and tables) take memory.
fn spill_hashed(
    reader: &mut dyn Read,
    budget: &mut u64,
) -> Result<(ModuleBytes, String, u64), ReadError> {
    let mut spill = tempfile::tempfile().map_err(ReadError::Io)?;
    let (sha256, total) = {
        let mut writer = io::BufWriter::with_capacity(COPY_BUFFER, &mut spill);
        let result = copy_hashed(reader, budget, Some(&mut writer))?;
        writer.flush().map_err(ReadError::Io)?;
        result
    };
    if total == 0 {
        return Ok((ModuleBytes::Owned(Vec::new()), sha256, 0));
    }
    // SAFETY: the file is unlinked and private to this process, so nothing else can change it.
    let map = unsafe { memmap2::Mmap::map(&spill) }.map_err(ReadError::Io)?;
    Ok((ModuleBytes::Spilled(map), sha256, total))
}

/// Copies `reader` to `sink` (if any) once, hashing every byte and charging it to `budget`;
/// returns the hex SHA-256 and the byte count.
fn copy_hashed(
    reader: &mut dyn Read,
    budget: &mut u64,
    mut sink: Option<&mut dyn Write>,
) -> Result<(String, u64), ReadError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        if n as u64 > *budget {
            return Err(ReadError::Budget);
        }
        *budget -= n as u64;
        total += n as u64;
        hasher.update(&buffer[..n]);
        if let Some(sink) = sink.as_mut() {
            sink.write_all(&buffer[..n]).map_err(ReadError::Io)?;
        }
    }
    Ok((hex::encode(hasher.finalize()), total))
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

/// What [`unpack`] wrote.
#[derive(Debug)]
pub struct Unpacked {
    /// The destination folder.
    pub dir: PathBuf,
    /// The module.json read from the zip.
    pub module_json: ModuleJson,
    /// Path of the extracted `.so` (mode 0755).
    pub module: PathBuf,
    /// Each `deps/<name>.tgz` and the folder it was extracted into.
    pub dependencies: Vec<(PathBuf, PathBuf)>,
}

/// Extracts a module zip into `dest` safely: checks every name, kind and count before writing
/// anything, extracts into a temporary folder inside `dest`, verifies the `.so` and each
/// dependency against module.json's sha256, extracts `deps/<name>.tgz` into `deps/<name>/`, then
/// moves the results into place. On any error nothing is left in `dest`.
pub fn unpack(zip_path: &Path, dest: &Path, limits: Limits) -> Result<Unpacked, BundleError> {
    let file = File::open(zip_path).map_err(|source| BundleError::Io {
        path: zip_path.to_path_buf(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(io::BufReader::with_capacity(COPY_BUFFER, file))
        .map_err(|source| BundleError::NotAZip {
            path: zip_path.to_path_buf(),
            source,
        })?;
    let plan = plan_unpack(&mut archive, limits)?;

    // The folders this call creates, deepest first, so a failure can take them away again.
    let created: Vec<PathBuf> = dest
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dest).map_err(|source| BundleError::Write {
        path: dest.to_path_buf(),
        source,
    })?;
    let result = unpack_planned(&mut archive, &plan, dest, limits);
    if result.is_err() {
        // Only empty folders made here are removed: remove_dir refuses anything else.
        for dir in &created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

struct Plan {
    /// (index, name, role) of each file to extract.
    files: Vec<(usize, String, Role)>,
    module_name: String,
}

fn plan_unpack<R: Read + io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    limits: Limits,
) -> Result<Plan, BundleError> {
    if archive.len() > limits.max_entries {
        return Err(BundleError::TooManyEntries {
            archive: "zip".into(),
            max: limits.max_entries,
        });
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut files = Vec::new();
    let mut modules = Vec::new();
    let mut declared_total = 0u64;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| BundleError::Corrupt {
                entry: format!("#{index}"),
                reason: e.to_string(),
            })?;
        let entry = describe(&entry);
        if let Some(reason) = unsafe_name_reason(&entry.name) {
            return Err(BundleError::UnsafeName {
                entry: entry.name,
                reason,
            });
        }
        if entry.kind == EntryKind::Symlink {
            return Err(BundleError::Link { entry: entry.name });
        }
        let folded = entry.name.trim_end_matches('/').to_lowercase();
        if let Some(first) = seen.insert(folded, entry.name.clone()) {
            return Err(BundleError::Duplicate {
                first,
                second: entry.name,
            });
        }
        if entry.kind == EntryKind::Directory {
            // Only the deps/ folder itself may be recorded.
            if entry.name.trim_end_matches('/') != DEPS_DIR {
                return Err(BundleError::UnexpectedEntry { entry: entry.name });
            }
            continue;
        }
        let role = classify(&entry.name);
        match role {
            Role::Other => return Err(BundleError::UnexpectedEntry { entry: entry.name }),
            Role::Module => modules.push(entry.name.clone()),
            // The zip reader refuses an entry that inflates past its declared size, so the
            // declared size bounds what is read back into memory.
            Role::ModuleJson if entry.size > MAX_MODULE_JSON => {
                return Err(BundleError::ModuleJsonTooLarge {
                    size: entry.size,
                    max: MAX_MODULE_JSON,
                })
            }
            _ => {}
        }
        declared_total = declared_total.saturating_add(entry.size);
        if declared_total > limits.max_total_size {
            return Err(BundleError::TooLarge {
                entry: entry.name,
                max: limits.max_total_size,
            });
        }
        files.push((index, entry.name, role));
    }
    if archive.has_duplicate_names() {
        return Err(BundleError::Duplicate {
            first: "(central directory)".into(),
            second: "a repeated name".into(),
        });
    }
    if !files.iter().any(|(_, _, role)| *role == Role::ModuleJson) {
        return Err(BundleError::Missing { what: MODULE_JSON });
    }
    if modules.len() > 1 {
        return Err(BundleError::SeveralModules { names: modules });
    }
    let module_name = modules
        .pop()
        .ok_or(BundleError::Missing { what: "module .so" })?;
    Ok(Plan { files, module_name })
}

fn unpack_planned<R: Read + io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    plan: &Plan,
    dest: &Path,
    limits: Limits,
) -> Result<Unpacked, BundleError> {
    // Every final name must be free before anything moves.
    let mut finals: Vec<PathBuf> = vec![dest.join(MODULE_JSON), dest.join(&plan.module_name)];
    if plan.files.iter().any(|(_, _, r)| *r == Role::Dependency) {
        finals.push(dest.join(DEPS_DIR));
    }
    if let Some(existing) = finals.iter().find(|p| p.symlink_metadata().is_ok()) {
        return Err(BundleError::DestinationExists {
            path: existing.clone(),
        });
    }
    let staging = tempfile::Builder::new()
        .prefix(".rmpack-unpack-")
        .tempdir_in(dest)
        .map_err(|source| BundleError::Write {
            path: dest.to_path_buf(),
            source,
        })?;
    let stage = staging.path();
    let mut budget = limits.max_total_size;
    let mut hashes: BTreeMap<String, String> = BTreeMap::new();
    let mut module_json_raw = Vec::new();
    for (index, name, role) in &plan.files {
        let mut entry = archive.by_index(*index).map_err(|e| BundleError::Corrupt {
            entry: name.clone(),
            reason: e.to_string(),
        })?;
        let target = stage.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BundleError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let keep = *role == Role::ModuleJson;
        let mode = if *role == Role::Module { 0o755 } else { 0o644 };
        let sha256 = write_hashed(&mut entry, &target, mode, &mut budget, limits, name)?;
        if keep {
            module_json_raw = std::fs::read(&target).map_err(|source| BundleError::Io {
                path: target.clone(),
                source,
            })?;
        }
        hashes.insert(name.clone(), sha256);
    }
    let module_json =
        ModuleJson::from_slice(&module_json_raw).map_err(|e| BundleError::BadModuleJson {
            reason: e.to_string(),
        })?;
    verify(
        &plan.module_name,
        &module_json.sha256,
        hashes.get(&plan.module_name),
    )?;
    let mut dependencies = Vec::new();
    for (_, name, role) in &plan.files {
        if *role != Role::Dependency {
            continue;
        }
        let dep = dependency_name(name).unwrap_or_default();
        let recorded = module_json
            .dependencies
            .get(dep)
            .or_else(|| module_json.optional_dependencies.get(dep))
            .ok_or_else(|| BundleError::UnlistedDependency {
                entry: name.clone(),
            })?;
        verify(name, &recorded.sha256, hashes.get(name))?;
        let into = stage.join(DEPS_DIR).join(dep);
        extract_tarball(&stage.join(name), &into, name, &mut budget, limits)?;
        dependencies.push((dest.join(name), dest.join(DEPS_DIR).join(dep)));
    }
    // Move into place; undo the moves already made if one fails.
    let mut moved: Vec<PathBuf> = Vec::new();
    let mut sources = vec![MODULE_JSON.to_string(), plan.module_name.clone()];
    if !dependencies.is_empty() {
        sources.push(DEPS_DIR.to_string());
    }
    for name in &sources {
        let to = dest.join(name);
        if let Err(source) = std::fs::rename(stage.join(name), &to) {
            for path in moved.iter().rev() {
                if path.is_dir() {
                    let _ = std::fs::remove_dir_all(path);
                } else {
                    let _ = std::fs::remove_file(path);
                }
            }
            return Err(BundleError::Write { path: to, source });
        }
        moved.push(to);
    }
    Ok(Unpacked {
        dir: dest.to_path_buf(),
        module_json,
        module: dest.join(&plan.module_name),
        dependencies,
    })
}

fn verify(entry: &str, expected: &str, actual: Option<&String>) -> Result<(), BundleError> {
    let actual = actual.cloned().unwrap_or_default();
    if expected.eq_ignore_ascii_case(&actual) {
        Ok(())
    } else {
        Err(BundleError::ChecksumMismatch {
            entry: entry.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Copies `reader` into a new file at `target` with `mode`, hashing and charging the budget.
fn write_hashed(
    reader: &mut dyn Read,
    target: &Path,
    mode: u32,
    budget: &mut u64,
    limits: Limits,
    entry: &str,
) -> Result<String, BundleError> {
    let write_error = |source| BundleError::Write {
        path: target.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut out = options.open(target).map_err(write_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; COPY_BUFFER];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(BundleError::Corrupt {
                    entry: entry.to_string(),
                    reason: e.to_string(),
                })
            }
        };
        if n as u64 > *budget {
            return Err(BundleError::TooLarge {
                entry: entry.to_string(),
                max: limits.max_total_size,
            });
        }
        *budget -= n as u64;
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    set_mode(target, mode).map_err(write_error)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The umask may have masked bits off at creation; the .so needs its execute bit.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Extracts a gzip'd tarball into `into`, refusing links, special files and unsafe names.
fn extract_tarball(
    tarball: &Path,
    into: &Path,
    archive_name: &str,
    budget: &mut u64,
    limits: Limits,
) -> Result<(), BundleError> {
    let file = File::open(tarball).map_err(|source| BundleError::Io {
        path: tarball.to_path_buf(),
        source,
    })?;
    let corrupt = |reason: String| BundleError::Corrupt {
        entry: archive_name.to_string(),
        reason,
    };
    std::fs::create_dir_all(into).map_err(|source| BundleError::Write {
        path: into.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let entries = archive.entries().map_err(|e| corrupt(e.to_string()))?;
    let mut seen: HashMap<String, ()> = HashMap::new();
    for (count, entry) in entries.enumerate() {
        if count >= limits.max_entries {
            return Err(BundleError::TooManyEntries {
                archive: archive_name.to_string(),
                max: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(|e| corrupt(e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let refuse = |reason| BundleError::UnsafeTarEntry {
            archive: archive_name.to_string(),
            entry: raw.clone(),
            reason,
        };
        let name = raw.strip_prefix("./").unwrap_or(&raw).to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        if let Some(reason) = unsafe_name_reason(&name) {
            return Err(refuse(reason));
        }
        let kind = entry.header().entry_type();
        let target = into.join(name.trim_end_matches('/'));
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|source| BundleError::Write {
                path: target.clone(),
                source,
            })?;
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(refuse("a link"));
        }
        if !kind.is_file() {
            return Err(refuse("not a regular file"));
        }
        if seen
            .insert(name.trim_end_matches('/').to_lowercase(), ())
            .is_some()
        {
            return Err(refuse("a duplicate name"));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BundleError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // Keep the execute bit of executables; drop setuid, setgid and sticky bits.
        let mode = match entry.header().mode() {
            Ok(m) if m & 0o111 != 0 => 0o755,
            _ => 0o644,
        };
        write_hashed(
            &mut entry,
            &target,
            mode,
            budget,
            limits,
            &format!("{archive_name}:{name}"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn module_bytes() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    fn deflated_entry(compressed: &[u8], declared: usize, crc32: u32) -> StoredEntry<'_> {
        StoredEntry {
            data: compressed,
            storage: Storage::Deflated,
            declared,
            crc32,
        }
    }

    #[test]
    fn a_whole_entry_inflates_in_one_call_and_is_hashed() {
        let plain = module_bytes();
        let compressed = deflate(&plain);
        let entry = deflated_entry(&compressed, plain.len(), libdeflater::crc32(&plain));
        let (bytes, sha256) = inflate_whole(&entry).unwrap().unwrap();
        assert_eq!(&*bytes, &plain[..]);
        assert_eq!(sha256, hex::encode(Sha256::digest(&plain)));

        let stored = StoredEntry {
            data: &plain,
            storage: Storage::Stored,
            declared: plain.len(),
            crc32: libdeflater::crc32(&plain),
        };
        let (bytes, _) = inflate_whole(&stored).unwrap().unwrap();
        assert_eq!(&*bytes, &plain[..]);
    }

    #[test]
    fn a_header_that_lies_about_the_size_is_caught_in_one_call_inflate() {
        let plain = module_bytes();
        let compressed = deflate(&plain);
        let crc32 = libdeflater::crc32(&plain);
        let smaller = deflated_entry(&compressed, plain.len() - 1, crc32);
        let reason = inflate_whole(&smaller).unwrap().unwrap_err();
        assert!(reason.contains("inflates past"), "{reason}");
        let larger = deflated_entry(&compressed, plain.len() + 1, crc32);
        let reason = inflate_whole(&larger).unwrap().unwrap_err();
        assert!(
            reason.contains(&format!("inflates to {} bytes", plain.len())),
            "{reason}"
        );
        let stored = StoredEntry {
            data: &plain[1..],
            storage: Storage::Stored,
            declared: plain.len(),
            crc32,
        };
        let reason = inflate_whole(&stored).unwrap().unwrap_err();
        assert!(reason.contains("stored uncompressed"), "{reason}");
    }

    #[test]
    fn damaged_data_and_a_wrong_crc_are_caught_in_one_call_inflate() {
        let plain = module_bytes();
        let compressed = deflate(&plain);
        let crc32 = libdeflater::crc32(&plain);
        let cut = deflated_entry(&compressed[..compressed.len() / 2], plain.len(), crc32);
        let reason = inflate_whole(&cut).unwrap().unwrap_err();
        assert!(reason.contains("invalid or cut short"), "{reason}");
        // A reserved block type (0b11) is never valid deflate.
        let garbage = [0x07u8; 64];
        let reason = inflate_whole(&deflated_entry(&garbage, plain.len(), crc32))
            .unwrap()
            .unwrap_err();
        assert!(reason.contains("invalid or cut short"), "{reason}");
        let wrong_crc = deflated_entry(&compressed, plain.len(), crc32 ^ 1);
        let reason = inflate_whole(&wrong_crc).unwrap().unwrap_err();
        assert!(reason.contains("CRC-32"), "{reason}");
    }

    #[test]
    fn the_tolerant_reader_reports_a_crc_mismatch_of_the_module() {
        let plain = module_bytes();
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("m.so", options).unwrap();
        zip.write_all(&plain).unwrap();
        let mut bytes = zip.finish().unwrap().into_inner();
        // Change the CRC-32 in the local and the central header alike.
        let crc = libdeflater::crc32(&plain).to_le_bytes();
        let mut at = 0;
        while let Some(pos) = bytes[at..].windows(4).position(|w| w == crc) {
            bytes[at + pos] ^= 0xff;
            at += pos + 4;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.zip");
        std::fs::write(&path, &bytes).unwrap();
        let bundle = Bundle::read(&path).unwrap();
        assert!(bundle.module.is_none());
        assert!(
            matches!(
                &bundle.problems[..],
                [ReadProblem::Unreadable { entry, reason }]
                    if entry == "m.so" && reason.contains("CRC-32")
            ),
            "{:?}",
            bundle.problems
        );
        // Intact, it reads through the same path.
        std::fs::write(&path, zip_of(&plain)).unwrap();
        let bundle = Bundle::read(&path).unwrap();
        assert!(bundle.problems.is_empty(), "{:?}", bundle.problems);
        let module = bundle.module.unwrap();
        assert_eq!(&*module.bytes, &plain[..]);
        assert_eq!(module.sha256, hex::encode(Sha256::digest(&plain)));
    }

    fn zip_of(plain: &[u8]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        zip.start_file("m.so", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(plain).unwrap();
        zip.finish().unwrap().into_inner()
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
}
