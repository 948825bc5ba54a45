//! The strict unpacker: the reader's zip and layout checks, refused on the first issue, then
//! extraction into a staging folder inside the destination, checksums, tarball checks, and a move
//! into place.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::inflate::{copy_hashed, ReadFailure};
use super::layout::{self, classify, Role};
use super::model::EntryKind;
use super::readers::{describe, open_zip, parse_module_json};
use super::tarball::{self, TarSink, WalkError};
use super::zip::{EntryReader, ZipSource};
use super::{BundleError, Limits};
use crate::manifest::layout::{dependency_name, DATA_MODE, DEPS_DIR, MODULE_JSON, MODULE_MODE};
use crate::manifest::ModuleJson;

/// The name prefix of the staging folder an unpack extracts into, inside the destination.
pub const STAGING_PREFIX: &str = ".rmpack-unpack-";

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
    /// Staging folders left in the destination by an earlier, interrupted unpack, now removed.
    pub removed_leftovers: Vec<PathBuf>,
}

/// Extracts a module zip into `dest` safely: checks the zip (every entry against its local
/// header, no shared data), every name, kind and count before writing anything, extracts into a
/// staging folder inside `dest` (removed if rmpack is interrupted), verifies the `.so` and each
/// dependency against module.json's sha256, extracts `deps/<name>.tgz` into `deps/<name>/` with
/// the same tarball checks the validator runs, then moves the results into place. On any error
/// nothing is left in `dest`. A staging folder left by a killed earlier run is removed first.
pub fn unpack(zip_path: &Path, dest: &Path, limits: Limits) -> Result<Unpacked, BundleError> {
    let (source, index) = open_zip(zip_path, &limits)?;
    let entries: Vec<_> = index.entries.iter().map(describe).collect();
    if let Some(issue) = layout::check(&entries, index.declared_entries, &limits)
        .into_iter()
        .next()
    {
        return Err(BundleError::Layout(issue));
    }
    let files: Vec<(usize, String, Role)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EntryKind::File)
        .map(|(i, e)| (i, e.name.clone(), classify(&e.name)))
        .collect();
    let module_name = files
        .iter()
        .find(|(_, _, role)| *role == Role::Module)
        .map(|(_, name, _)| name.clone())
        .ok_or(BundleError::Layout(layout::LayoutIssue::ModuleMissing))?;
    let plan = Plan { files, module_name };

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
    let result = remove_leftovers(dest).and_then(|removed| {
        unpack_planned(&source, &index.entries, &plan, dest, limits).map(|mut unpacked| {
            unpacked.removed_leftovers = removed;
            unpacked
        })
    });
    if result.is_err() {
        // Only empty folders made here are removed: remove_dir refuses anything else.
        for dir in &created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result.map_err(|e| match e {
        BundleError::Io { source: _, .. } if source.shrank() => BundleError::Io {
            path: zip_path.to_path_buf(),
            source: source.shrank_error(),
        },
        other => other,
    })
}

/// Removes staging folders an interrupted unpack left in `dest`. One whose process still runs
/// belongs to an unpack in progress: that is refused rather than removed.
fn remove_leftovers(dest: &Path) -> Result<Vec<PathBuf>, BundleError> {
    let read = std::fs::read_dir(dest).map_err(|source| BundleError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    let mut removed = Vec::new();
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(STAGING_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && process_runs(pid) {
                return Err(BundleError::UnpackInProgress {
                    path: entry.path(),
                    pid,
                });
            }
        }
        let path = entry.path();
        std::fs::remove_dir_all(&path).map_err(|source| BundleError::Write {
            path: path.clone(),
            source,
        })?;
        removed.push(path);
    }
    Ok(removed)
}

fn process_runs(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

struct Plan {
    /// (index, name, role) of each file to extract.
    files: Vec<(usize, String, Role)>,
    module_name: String,
}

/// A staging folder that is removed when dropped, and by the interrupt handler if rmpack is
/// interrupted while it exists.
struct Staging {
    path: PathBuf,
    _guard: crate::interrupt::CleanupGuard,
}

impl Staging {
    fn create(dest: &Path) -> Result<Staging, BundleError> {
        let mut last = None;
        for _ in 0..8 {
            let path = dest.join(format!(
                "{STAGING_PREFIX}{}-{:016x}",
                std::process::id(),
                fastrand::u64(..)
            ));
            // Registered before it exists, so no moment leaves it behind on an interrupt.
            let guard = crate::interrupt::remove_on_interrupt(&path);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(Staging {
                        path,
                        _guard: guard,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(source) => {
                    return Err(BundleError::Write {
                        path: dest.to_path_buf(),
                        source,
                    })
                }
            }
        }
        Err(BundleError::Write {
            path: dest.to_path_buf(),
            source: last.unwrap_or_else(|| io::Error::other("no free staging name")),
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn unpack_planned(
    source: &ZipSource,
    central: &[super::zip::CentralEntry],
    plan: &Plan,
    dest: &Path,
    limits: Limits,
) -> Result<super::Unpacked, BundleError> {
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
    let staging = Staging::create(dest)?;
    let stage = staging.path.as_path();
    let mut budget = limits.max_total_size;
    let mut hashes: BTreeMap<String, String> = BTreeMap::new();
    let mut module_json_raw = Vec::new();
    for (index, name, role) in &plan.files {
        let entry = &central[*index];
        let mut reader = EntryReader::new(source, entry).ok_or_else(|| BundleError::Corrupt {
            entry: name.clone(),
            reason: format!(
                "it is compressed with {}, not stored or deflated as a module zip is",
                entry.method_name()
            ),
        })?;
        let target = stage.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BundleError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mode = if *role == Role::Module {
            MODULE_MODE
        } else {
            DATA_MODE
        };
        let mut out = create_file(&target, mode)?;
        let result = if *role == Role::ModuleJson {
            let mut tee = Tee {
                file: &mut out,
                kept: &mut module_json_raw,
            };
            copy_hashed(&mut reader, &mut budget, &mut tee)
        } else {
            copy_hashed(&mut reader, &mut budget, &mut out)
        };
        let digest = result.map_err(|e| entry_failure(e, name, &target, &limits))?;
        out.flush().map_err(|source| BundleError::Write {
            path: target.clone(),
            source,
        })?;
        set_mode(&target, mode)?;
        hashes.insert(name.clone(), digest.sha256);
    }
    let (_, typed) = parse_module_json(&module_json_raw);
    let module_json = typed.map_err(|reason| BundleError::BadModuleJson { reason })?;
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
        extract_tarball(&stage.join(name), &into, name, &mut budget, &limits)?;
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
    Ok(super::Unpacked {
        dir: dest.to_path_buf(),
        module_json,
        module: dest.join(&plan.module_name),
        dependencies,
        removed_leftovers: Vec::new(),
    })
}

/// Writes to a file and keeps a copy (module.json, parsed after it is written).
struct Tee<'a> {
    file: &'a mut File,
    kept: &'a mut Vec<u8>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn entry_failure(e: ReadFailure, entry: &str, target: &Path, limits: &Limits) -> BundleError {
    match e {
        ReadFailure::Budget => BundleError::TooLarge {
            entry: entry.to_string(),
            max: limits.max_total_size,
        },
        ReadFailure::Damaged(reason) => BundleError::Corrupt {
            entry: entry.to_string(),
            reason,
        },
        ReadFailure::Io(source) => BundleError::Io {
            path: PathBuf::from(entry),
            source,
        },
        ReadFailure::Store(source) => BundleError::Write {
            path: target.to_path_buf(),
            source,
        },
    }
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

fn create_file(target: &Path, mode: u32) -> Result<File, BundleError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(target).map_err(|source| BundleError::Write {
        path: target.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), BundleError> {
    use std::os::unix::fs::PermissionsExt;
    // The umask may have masked bits off at creation; the .so needs its execute bit.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        BundleError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), BundleError> {
    Ok(())
}

/// Writes a tarball's files under a folder.
struct WriteInto<'a> {
    into: &'a Path,
    current: Option<(PathBuf, File, u32)>,
}

impl TarSink for WriteInto<'_> {
    fn folder(&mut self, name: &str) -> Result<(), BundleError> {
        let path = self.into.join(name);
        std::fs::create_dir_all(&path).map_err(|source| BundleError::Write { path, source })
    }

    fn begin(&mut self, name: &str, executable: bool) -> Result<(), BundleError> {
        let target = self.into.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BundleError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // Keep the execute bit of executables; drop setuid, setgid and sticky bits.
        let mode = if executable { MODULE_MODE } else { DATA_MODE };
        let file = create_file(&target, mode)?;
        self.current = Some((target, file, mode));
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        if let Some((path, file, _)) = self.current.as_mut() {
            file.write_all(bytes).map_err(|source| BundleError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), BundleError> {
        if let Some((path, _, mode)) = self.current.take() {
            set_mode(&path, mode)?;
        }
        Ok(())
    }
}

/// Extracts a gzip'd tarball into `into` with the checks every dependency archive passes.
fn extract_tarball(
    tarball: &Path,
    into: &Path,
    archive_name: &str,
    budget: &mut u64,
    limits: &Limits,
) -> Result<(), BundleError> {
    let mut file = File::open(tarball).map_err(|source| BundleError::Io {
        path: tarball.to_path_buf(),
        source,
    })?;
    std::fs::create_dir_all(into).map_err(|source| BundleError::Write {
        path: into.to_path_buf(),
        source,
    })?;
    let mut sink = WriteInto {
        into,
        current: None,
    };
    tarball::walk(&mut file, limits, budget, &mut sink).map_err(|e| match e {
        WalkError::Problem(problem) => BundleError::Dependency {
            archive: archive_name.to_string(),
            problem,
        },
        WalkError::Source(source) => BundleError::Io {
            path: tarball.to_path_buf(),
            source,
        },
        WalkError::Sink(error) => error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_staging_folder_of_a_dead_process_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        // No process has a pid this large (the kernel's maximum is 4,194,304).
        let stale = dir.path().join(format!("{STAGING_PREFIX}999999999-abc"));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("big.so"), b"partial").unwrap();
        let old_style = dir.path().join(format!("{STAGING_PREFIX}Xyz12"));
        std::fs::create_dir(&old_style).unwrap();
        std::fs::write(dir.path().join("keep.txt"), b"mine").unwrap();
        let mut removed = remove_leftovers(dir.path()).unwrap();
        removed.sort();
        assert_eq!(removed, vec![stale.clone(), old_style.clone()]);
        assert!(!stale.exists() && !old_style.exists());
        assert!(dir.path().join("keep.txt").exists());
    }

    #[test]
    fn a_staging_folder_of_a_running_unpack_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let busy = dir
            .path()
            .join(format!("{STAGING_PREFIX}{}-abc", child.id()));
        std::fs::create_dir(&busy).unwrap();
        let error = remove_leftovers(dir.path()).unwrap_err();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            matches!(error, BundleError::UnpackInProgress { pid, .. } if pid == child.id()),
            "{error}"
        );
        assert!(busy.exists());
    }
}
