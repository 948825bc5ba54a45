//! Reading a bundle from what a user gives: a module zip, a folder, a bare `.so` or a bare
//! `module.json`. Every file is opened through [`crate::input`] (regular files only, capped).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::inflate::{copy_hashed, read_module, read_module_entry, Digested, ReadFailure};
use super::layout::{self, classify, Role, MAX_MODULE_JSON};
use super::model::{Bundle, Entry, EntryKind, HashedFile, ModuleBinary, ReadProblem, Source};
use super::tarball::{self, CheckOnly, WalkError};
use super::zip::{CentralEntry, EntryReader, IndexError, ZipIndex, ZipSource};
use super::{BundleError, Limits};
use crate::input::{self, InputKind};
use crate::manifest::layout::{DEPENDENCY_SUFFIX, DEPS_DIR, MODULE_JSON, MODULE_SUFFIX};
use crate::manifest::ModuleJson;

/// Parses module.json bytes the one way every reader does: JSON with no duplicate keys at any
/// depth and nothing but white space after it, then the typed model.
pub fn parse_module_json(
    raw: &[u8],
) -> (
    Result<serde_json::Value, String>,
    Result<ModuleJson, String>,
) {
    let value = serde_json::from_slice::<NoDuplicateKeys>(raw)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_slice::<serde_json::Value>(raw).map_err(|e| e.to_string()));
    let typed = match &value {
        Ok(_) => ModuleJson::from_slice(raw).map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    (value, typed)
}

/// A JSON document checked for keys repeated within one object (serde_json keeps the last one
/// silently, which would let two readers see different values).
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
}

/// The zip index of `path`, opened through the bounded input reader.
pub(crate) fn open_zip(path: &Path, limits: &Limits) -> Result<(ZipSource, ZipIndex), BundleError> {
    let (file, len) = input::open_file(path, InputKind::Zip)?;
    let source = ZipSource::new(file, len);
    let index = ZipIndex::read(&source, limits.max_entries).map_err(|e| match e {
        IndexError::NotAZip(reason) => BundleError::NotAZip {
            path: path.to_path_buf(),
            reason,
        },
        IndexError::Inconsistent { entry, reason } => BundleError::Inconsistent {
            path: path.to_path_buf(),
            entry,
            reason,
        },
        IndexError::Io(source) => BundleError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    Ok((source, index))
}

/// The entry as listed, from its central directory record.
pub(crate) fn describe(entry: &CentralEntry) -> Entry {
    const TYPE_MASK: u32 = 0o170000;
    let mode = entry.unix_mode();
    let kind = match mode.map(|m| m & TYPE_MASK) {
        Some(0o120000) => EntryKind::Symlink,
        Some(0o040000) => EntryKind::Directory,
        _ if entry.name.ends_with('/') => EntryKind::Directory,
        // MS-DOS directory attribute.
        _ if entry.external_attributes & 0x10 != 0 => EntryKind::Directory,
        _ => EntryKind::File,
    };
    Entry {
        name: entry.name.clone(),
        kind,
        size: entry.size,
        compressed_size: entry.compressed_size,
        // Other systems' attributes say nothing about +x.
        unix_mode: mode.map(|m| m & 0o7777),
        compression: entry.method_name(),
    }
}

/// Reads `reader` (the bytes of dependency archive `name`) once: hashes it and walks it as a
/// tarball with the checks `unpack` applies. A problem inside it is returned beside the hash.
fn read_dependency(
    reader: &mut dyn Read,
    limits: &Limits,
    budget: &mut u64,
) -> Result<(Digested, Option<tarball::TarProblem>), ReadFailure> {
    struct Tee<'a> {
        inner: &'a mut dyn Read,
        hasher: Sha256,
        size: u64,
    }
    impl Read for Tee<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hasher.update(&buf[..n]);
            self.size += n as u64;
            Ok(n)
        }
    }
    let mut tee = Tee {
        inner: reader,
        hasher: Sha256::new(),
        size: 0,
    };
    // The archive's own bytes count, and so do the bytes it inflates to.
    let mut inner_budget = *budget;
    let problem = match tarball::walk(&mut tee, limits, &mut inner_budget, &mut CheckOnly) {
        Ok(()) => None,
        Err(WalkError::Problem(problem)) => Some(problem),
        Err(WalkError::Source(e)) => return Err(read_failure(e)),
        Err(WalkError::Sink(_)) => None,
    };
    // The rest of the archive (after the gzip stream, or after a refused entry) is hashed too.
    let mut rest = vec![0u8; 64 * 1024];
    loop {
        match tee.read(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_failure(e)),
        }
    }
    if tee.size > *budget {
        return Err(ReadFailure::Budget);
    }
    *budget -= tee.size;
    *budget = (*budget).min(inner_budget);
    Ok((
        Digested {
            sha256: hex::encode(tee.hasher.finalize()),
            size: tee.size,
        },
        problem,
    ))
}

fn read_failure(e: io::Error) -> ReadFailure {
    if e.kind() == io::ErrorKind::InvalidData {
        ReadFailure::Damaged(e.to_string())
    } else {
        ReadFailure::Io(e)
    }
}

impl Bundle {
    /// Reads a module zip with the default [`Limits`].
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        Bundle::read_with_limits(path, Limits::default())
    }

    /// Reads a module zip, failing only when it is not a readable, self-consistent zip (every
    /// central entry agrees with its local header, no two entries share data) or the file cannot
    /// be read; everything else it finds wrong is recorded in [`Bundle::layout`] and
    /// [`Bundle::problems`].
    pub fn read_with_limits(path: &Path, limits: Limits) -> Result<Bundle, BundleError> {
        let (source, index) = open_zip(path, &limits)?;
        let mut bundle = Bundle::empty(path, Source::Zip);
        bundle.entries = index.entries.iter().map(describe).collect();
        bundle.layout = layout::check(&bundle.entries, index.declared_entries, &limits);
        let mut budget = limits.max_total_size;
        let mut seen_deps = HashSet::new();
        for (central, entry) in index.entries.iter().zip(&bundle.entries) {
            if entry.kind != EntryKind::File || budget == 0 {
                continue;
            }
            let role = classify(&entry.name);
            let wanted = match role {
                Role::ModuleJson => {
                    bundle.module_json_raw.is_none() && entry.size <= MAX_MODULE_JSON
                }
                Role::Module => bundle.module.is_none(),
                Role::Dependency => seen_deps.insert(entry.name.clone()),
                Role::Other => false,
            };
            if !wanted {
                continue;
            }
            let name = entry.name.clone();
            let Some(mut reader) = EntryReader::new(&source, central) else {
                bundle.problems.push(ReadProblem::Unreadable {
                    entry: name,
                    reason: format!(
                        "it is compressed with {}, not stored or deflated as a module zip is",
                        entry.compression
                    ),
                });
                continue;
            };
            let outcome = match role {
                Role::ModuleJson => {
                    let mut json_budget = budget.min(MAX_MODULE_JSON);
                    let mut raw = Vec::with_capacity(entry.size as usize);
                    let result = copy_hashed(&mut reader, &mut json_budget, &mut raw);
                    budget -= budget.min(MAX_MODULE_JSON) - json_budget;
                    result.map(|_| bundle.module_json_raw = Some(raw))
                }
                Role::Module => read_module_entry(
                    &source,
                    central,
                    &mut reader,
                    limits.max_in_memory,
                    &mut budget,
                )
                .map(|(bytes, digest)| {
                    bundle.module = Some(ModuleBinary {
                        name: name.clone(),
                        bytes,
                        sha256: digest.sha256,
                        unix_mode: entry.unix_mode,
                    })
                }),
                _ => read_dependency(&mut reader, &limits, &mut budget).map(|(digest, problem)| {
                    if let Some(problem) = problem {
                        bundle.problems.push(ReadProblem::Dependency {
                            entry: name.clone(),
                            problem,
                        });
                    }
                    bundle.deps.push(HashedFile {
                        name: name.clone(),
                        size: digest.size,
                        sha256: digest.sha256,
                    });
                }),
            };
            match outcome {
                Ok(()) => {}
                Err(ReadFailure::Budget) => {
                    let max = if role == Role::ModuleJson {
                        MAX_MODULE_JSON.min(limits.max_total_size)
                    } else {
                        budget = 0;
                        limits.max_total_size
                    };
                    bundle
                        .problems
                        .push(ReadProblem::TooLarge { entry: name, max });
                }
                Err(ReadFailure::Damaged(reason)) => {
                    bundle.problems.push(ReadProblem::Unreadable {
                        entry: name,
                        reason,
                    });
                }
                Err(ReadFailure::Io(source_error)) => {
                    return Err(BundleError::Io {
                        path: path.to_path_buf(),
                        source: if source.shrank() {
                            source.shrank_error()
                        } else {
                            source_error
                        },
                    });
                }
                Err(ReadFailure::Store(error)) => {
                    return Err(BundleError::Io {
                        path: std::env::temp_dir(),
                        source: error,
                    })
                }
            }
        }
        bundle.parse_module_json();
        bundle.archive = Some(source.into_archive());
        Ok(bundle)
    }

    /// Reads a bare `.so`, hashing it while it is read.
    pub fn from_shared_object(path: &Path) -> Result<Bundle, BundleError> {
        Bundle::from_shared_object_with_limits(path, Limits::default())
    }

    fn from_shared_object_with_limits(path: &Path, limits: Limits) -> Result<Bundle, BundleError> {
        let mut bundle = Bundle::empty(path, Source::SharedObject);
        bundle.module = Some(read_module_file(path, &limits)?);
        Ok(bundle)
    }

    /// Reads a bare module.json (at most 4 MiB, a regular file).
    pub fn from_module_json(path: &Path) -> Result<Bundle, BundleError> {
        let mut bundle = Bundle::empty(path, Source::ModuleJson);
        bundle.module_json_raw = Some(input::read_file(path, InputKind::ModuleJson)?);
        bundle.parse_module_json();
        Ok(bundle)
    }

    /// Reads a folder holding module.json, a `.so` and maybe `deps/*.tgz` (the layout `unpack`
    /// writes, or a build folder). Dependency archives get the same checks as in a zip.
    pub fn from_directory(path: &Path) -> Result<Bundle, BundleError> {
        let limits = Limits::default();
        let io_error = |source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut bundle = Bundle::empty(path, Source::Directory);
        let json_path = path.join(MODULE_JSON);
        if json_path.symlink_metadata().is_ok() {
            bundle.module_json_raw = Some(input::read_file(&json_path, InputKind::ModuleJson)?);
            bundle.parse_module_json();
        }
        // Prefer the file module.json names; else the only (or first, by name) .so.
        let named = bundle
            .manifest()
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
                    .filter(|p| {
                        p.is_file()
                            && p.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.len() > 3 && n.ends_with(MODULE_SUFFIX))
                    })
                    .collect();
                candidates.sort();
                candidates.into_iter().next()
            }
        };
        if let Some(module_path) = module_path {
            bundle.module = Some(read_module_file(&module_path, &limits)?);
        }
        let deps_dir = path.join(DEPS_DIR);
        if deps_dir.is_dir() {
            let mut tarballs: Vec<PathBuf> = std::fs::read_dir(&deps_dir)
                .map_err(io_error)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(DEPENDENCY_SUFFIX))
                })
                .collect();
            tarballs.sort();
            let mut budget = limits.max_total_size;
            for tarball in tarballs {
                let (mut file, _) = input::open_file(&tarball, InputKind::Dependency)?;
                let name = format!(
                    "{DEPS_DIR}/{}",
                    tarball.file_name().unwrap_or_default().to_string_lossy()
                );
                let (digest, problem) = match read_dependency(&mut file, &limits, &mut budget) {
                    Ok(read) => read,
                    Err(ReadFailure::Budget) => {
                        bundle.problems.push(ReadProblem::TooLarge {
                            entry: name,
                            max: limits.max_total_size,
                        });
                        break;
                    }
                    Err(ReadFailure::Damaged(reason)) => {
                        bundle.problems.push(ReadProblem::Unreadable {
                            entry: name,
                            reason,
                        });
                        continue;
                    }
                    Err(ReadFailure::Io(source) | ReadFailure::Store(source)) => {
                        return Err(BundleError::Io {
                            path: tarball.clone(),
                            source,
                        })
                    }
                };
                if let Some(problem) = problem {
                    bundle.problems.push(ReadProblem::Dependency {
                        entry: name.clone(),
                        problem,
                    });
                }
                bundle.deps.push(HashedFile {
                    name,
                    size: digest.size,
                    sha256: digest.sha256,
                });
            }
        }
        Ok(bundle)
    }

    pub(crate) fn parse_module_json(&mut self) {
        let Some(raw) = &self.module_json_raw else {
            return;
        };
        let (value, typed) = parse_module_json(raw);
        self.module_json_value = Some(value);
        self.module_json = Some(typed);
    }
}

/// Reads a module file (a regular file) through a buffer, hashing it: into memory, or into an
/// unlinked temporary file when larger than `max_in_memory`. A file that shrinks while it is
/// read gives an error, where a mapping of it would crash with `SIGBUS`.
fn read_module_file(path: &Path, limits: &Limits) -> Result<ModuleBinary, BundleError> {
    let (file, len) = input::open_file(path, InputKind::Module)?;
    let metadata = file.metadata().map_err(|source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut budget = u64::MAX;
    let mut reader = ExactLength {
        file,
        left: len,
        len,
    };
    let (bytes, digest) = read_module(&mut reader, len, limits.max_in_memory, &mut budget)
        .map_err(|e| BundleError::Io {
            path: path.to_path_buf(),
            source: match e {
                ReadFailure::Io(e) | ReadFailure::Store(e) => e,
                ReadFailure::Damaged(m) => io::Error::other(m),
                ReadFailure::Budget => io::Error::other("size cap exceeded"),
            },
        })?;
    let _ = digest.size;
    Ok(ModuleBinary {
        name: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        bytes,
        sha256: digest.sha256,
        unix_mode: unix_mode_of(&metadata),
    })
}

/// Reads a file's length as it was at open: a file that ends early (truncated meanwhile) is an
/// error; bytes appended meanwhile are not read.
struct ExactLength {
    file: File,
    left: u64,
    len: u64,
}

impl Read for ExactLength {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file became shorter than its {} bytes while it was read (truncated or replaced meanwhile); read it again once nothing writes to it",
                    self.len
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
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

/// Reads just module.json from a module zip, with the reader's checks (a consistent zip, the cap
/// on module.json, the strict parse), for callers that need nothing else.
pub fn read_module_json(path: &Path) -> Result<ModuleJson, BundleError> {
    let limits = Limits::default();
    let (source, index) = open_zip(path, &limits)?;
    let central = index
        .entries
        .iter()
        .find(|e| e.name == MODULE_JSON)
        .ok_or(BundleError::Layout(layout::LayoutIssue::ModuleJsonMissing))?;
    if central.size > MAX_MODULE_JSON {
        return Err(BundleError::Layout(
            layout::LayoutIssue::ModuleJsonTooLarge {
                size: central.size,
                max: MAX_MODULE_JSON,
            },
        ));
    }
    let corrupt = |reason: String| BundleError::Corrupt {
        entry: MODULE_JSON.into(),
        reason,
    };
    let mut reader = EntryReader::new(&source, central)
        .ok_or_else(|| corrupt("it is neither stored nor deflated".into()))?;
    let mut raw = Vec::new();
    let mut budget = MAX_MODULE_JSON;
    copy_hashed(&mut reader, &mut budget, &mut raw).map_err(|e| match e {
        ReadFailure::Io(source) | ReadFailure::Store(source) => BundleError::Io {
            path: path.to_path_buf(),
            source,
        },
        ReadFailure::Damaged(reason) => corrupt(reason),
        ReadFailure::Budget => BundleError::Layout(layout::LayoutIssue::ModuleJsonTooLarge {
            size: central.size,
            max: MAX_MODULE_JSON,
        }),
    })?;
    let (_, typed) = parse_module_json(&raw);
    typed.map_err(|reason| BundleError::BadModuleJson { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_json_with_a_repeated_key_or_trailing_bytes_is_refused() {
        let (value, typed) = parse_module_json(br#"{"module_name": "a", "module_name": "b"}"#);
        assert!(value.unwrap_err().contains("duplicate key `module_name`"));
        assert!(typed.unwrap_err().contains("duplicate key"));
        let (value, _) = parse_module_json(br#"{"a": {"b": 1, "b": 2}}"#);
        assert!(value.unwrap_err().contains("duplicate key `b`"));
        let (value, _) = parse_module_json(b"{} {}");
        assert!(value.unwrap_err().contains("trailing"));
        let (value, _) = parse_module_json(b"{}\x00");
        assert!(value.is_err());
        let (value, _) = parse_module_json(b"{\"a\": [1, {\"x\": 1}]}\n  ");
        assert!(value.is_ok());
    }

    #[test]
    fn a_shrinking_file_is_an_error_not_a_short_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.so");
        std::fs::write(&path, vec![1u8; 10_000]).unwrap();
        let file = File::open(&path).unwrap();
        let mut reader = ExactLength {
            file,
            left: 10_000,
            len: 10_000,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let mut sink = Vec::new();
        let error = io::copy(&mut reader, &mut sink).unwrap_err();
        assert!(error.to_string().contains("became shorter"), "{error}");
    }
}
