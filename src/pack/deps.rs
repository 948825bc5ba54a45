//! Local dependencies as reproducible `deps/<name>.tgz` archives.
//!
//! The same files give the same bytes on every machine: entries sorted by path, owner and group
//! 0 with empty names, one fixed modification time, modes 0755 for directories and executables and
//! 0644 for everything else, and a gzip header without name or time. A symbolic link to a file
//! inside the dependency is stored as that file (RS's unpacker, and `validate`, refuse links in
//! a dependency archive); a link that leads outside, or to a folder, is refused.

use std::io;
use std::path::{Component, Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// The gzip level of dependency archives; fixed so the bytes never change.
const GZIP_LEVEL: u32 = 6;

/// Errors while archiving a local dependency.
#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    /// The path does not exist or cannot be read.
    #[error("dependency `{name}`: cannot read {path}")]
    Read {
        /// Dependency name.
        name: String,
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A symbolic link points outside the dependency (or is absolute).
    #[error("dependency `{name}`: symbolic link {path} points to `{target}`, outside the dependency; replace it with the file it points to")]
    EscapingSymlink {
        /// Dependency name.
        name: String,
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A symbolic link to a folder: RS refuses links in dependency archives, and a folder
    /// cannot be stored in the link's place without copying it twice.
    #[error("dependency `{name}`: symbolic link {path} points to the folder `{target}`; RS refuses links in dependency archives: replace the link with the folder itself")]
    LinkToFolder {
        /// The dependency's name.
        name: String,
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// Something that is neither a file, a directory nor a symbolic link.
    #[error("dependency `{name}`: {path} is not a regular file, directory or symbolic link")]
    SpecialFile {
        /// Dependency name.
        name: String,
        /// The offending path.
        path: PathBuf,
    },
    /// A path that is not valid UTF-8 (tar paths would differ between systems).
    #[error("dependency `{name}`: file name {path} is not valid UTF-8")]
    NonUtf8Path {
        /// Dependency name.
        name: String,
        /// The offending path.
        path: PathBuf,
    },
    /// Writing the archive failed.
    #[error("dependency `{name}`: cannot build the archive")]
    Archive {
        /// Dependency name.
        name: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// A dependency archived for `deps/<name>.tgz`, kept in an unlinked temporary file so a large
/// dependency never sits in memory.
#[derive(Debug)]
pub struct DepArchive {
    /// The dependency name.
    pub name: String,
    /// The `.tgz`, positioned at its start.
    pub file: std::fs::File,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the `.tgz`.
    pub sha256: String,
}

impl DepArchive {
    /// The entry name inside the module zip.
    pub fn entry_name(&self) -> String {
        crate::manifest::layout::dependency_entry(&self.name)
    }

    /// The `.tgz` bytes (reads the whole archive; for tests and small archives).
    pub fn read_bytes(&self) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let mut file = &self.file;
        file.seek(io::SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        file.seek(io::SeekFrom::Start(0))?;
        Ok(bytes)
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: io::Write> io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Archives the file or directory at `path` as dependency `name`, stamping every entry with
/// `mtime` (seconds since 1970).
///
/// A directory's contents are stored relative to it; a single file is stored under its own name.
pub fn archive_dependency(name: &str, path: &Path, mtime: u64) -> Result<DepArchive, DepsError> {
    let read_err = |path: &Path, source: io::Error| DepsError::Read {
        name: name.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
    let mut entries = Vec::new();
    if metadata.is_dir() {
        collect_dir(name, path, &mut entries)?;
    } else if metadata.is_file() {
        let file_name = path
            .file_name()
            .map(PathBuf::from)
            .ok_or_else(|| read_err(path, io::Error::other("no file name")))?;
        entries.push(Planned {
            archive_path: utf8_path(name, &file_name)?,
            source: path.to_path_buf(),
            kind: Kind::File {
                executable: is_executable(&metadata),
            },
        });
    } else {
        return Err(DepsError::SpecialFile {
            name: name.to_string(),
            path: path.to_path_buf(),
        });
    }
    entries.sort_by(|a, b| a.archive_path.cmp(&b.archive_path));

    let archive_err = |source: io::Error| DepsError::Archive {
        name: name.to_string(),
        source,
    };
    let spill = tempfile::tempfile().map_err(archive_err)?;
    let sink = Hashing {
        inner: io::BufWriter::with_capacity(256 * 1024, spill),
        hasher: Sha256::new(),
        written: 0,
    };
    let gzip: GzEncoder<Hashing<io::BufWriter<std::fs::File>>> = GzBuilder::new()
        .mtime(0)
        .write(sink, Compression::new(GZIP_LEVEL));
    let mut builder = tar::Builder::new(gzip);
    for entry in &entries {
        let mut header = Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header
            .set_username("")
            .and_then(|_| header.set_groupname(""))
            .map_err(archive_err)?;
        header.set_mtime(mtime);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(crate::manifest::layout::MODULE_MODE);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{}/", entry.archive_path), io::empty())
                    .map_err(archive_err)?;
            }
            Kind::File { executable } => {
                // Streamed: the file's bytes go straight into the archive.
                let file =
                    std::fs::File::open(&entry.source).map_err(|e| read_err(&entry.source, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| read_err(&entry.source, e))?
                    .len();
                header.set_entry_type(EntryType::Regular);
                header.set_mode(if *executable {
                    crate::manifest::layout::MODULE_MODE
                } else {
                    crate::manifest::layout::DATA_MODE
                });
                header.set_size(len);
                // `take` keeps the entry the size its header says even if the file grows.
                builder
                    .append_data(
                        &mut header,
                        &entry.archive_path,
                        io::Read::take(io::BufReader::new(file), len),
                    )
                    .map_err(archive_err)?;
            }
        }
    }
    let gzip = builder.into_inner().map_err(archive_err)?;
    let sink = gzip.finish().map_err(archive_err)?;
    let sha256 = hex::encode(sink.hasher.finalize());
    let mut file = sink
        .inner
        .into_inner()
        .map_err(|e| archive_err(e.into_error()))?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0)).map_err(archive_err)?;
    Ok(DepArchive {
        name: name.to_string(),
        file,
        size: sink.written,
        sha256,
    })
}

enum Kind {
    Dir,
    File { executable: bool },
}

struct Planned {
    archive_path: String,
    source: PathBuf,
    kind: Kind,
}

fn collect_dir(name: &str, root: &Path, entries: &mut Vec<Planned>) -> Result<(), DepsError> {
    let canonical_root = std::fs::canonicalize(root).map_err(|e| DepsError::Read {
        name: name.to_string(),
        path: root.to_path_buf(),
        source: e,
    })?;
    for item in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            DepsError::Read {
                name: name.to_string(),
                path,
                source: e.into(),
            }
        })?;
        let relative = item
            .path()
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| item.path().to_path_buf());
        let archive_path = utf8_path(name, &relative)?;
        let file_type = item.file_type();
        let kind = if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            let metadata = item.metadata().map_err(|e| DepsError::Read {
                name: name.to_string(),
                path: item.path().to_path_buf(),
                source: e.into(),
            })?;
            Kind::File {
                executable: is_executable(&metadata),
            }
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(|e| DepsError::Read {
                name: name.to_string(),
                path: item.path().to_path_buf(),
                source: e,
            })?;
            // The text of one link can look inside while another link along its path leads
            // out (`s -> .`, `x -> s/../file`): resolve it on disk too. A dangling link is
            // refused as well, since what it will point at is unknown.
            let resolves_inside = std::fs::canonicalize(item.path())
                .is_ok_and(|resolved| resolved.starts_with(&canonical_root));
            if !link_stays_inside(&relative, &target) || !resolves_inside {
                return Err(DepsError::EscapingSymlink {
                    name: name.to_string(),
                    path: item.path().to_path_buf(),
                    target,
                });
            }
            // Stored as the file it points to: archives with links are refused by RS.
            let metadata = std::fs::metadata(item.path()).map_err(|e| DepsError::Read {
                name: name.to_string(),
                path: item.path().to_path_buf(),
                source: e,
            })?;
            if !metadata.is_file() {
                return Err(DepsError::LinkToFolder {
                    name: name.to_string(),
                    path: item.path().to_path_buf(),
                    target,
                });
            }
            Kind::File {
                executable: is_executable(&metadata),
            }
        } else {
            return Err(DepsError::SpecialFile {
                name: name.to_string(),
                path: item.path().to_path_buf(),
            });
        };
        entries.push(Planned {
            archive_path,
            source: item.path().to_path_buf(),
            kind,
        });
    }
    Ok(())
}

fn utf8_path(name: &str, path: &Path) -> Result<String, DepsError> {
    let text = path.to_str().ok_or_else(|| DepsError::NonUtf8Path {
        name: name.to_string(),
        path: path.to_path_buf(),
    })?;
    // Archive paths use '/' whatever the host writes.
    Ok(text.replace(std::path::MAIN_SEPARATOR, "/"))
}

/// Whether a link at `link` (relative to the dependency root) pointing to `target` resolves,
/// lexically, to a place inside the root.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn list(bytes: &[u8]) -> Vec<(String, u32, u64, u64, String, EntryType)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    h.username().unwrap().unwrap_or("").to_string(),
                    h.entry_type(),
                )
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn directories_archive_reproducibly() {
        use std::os::unix::fs::PermissionsExt;
        let make = |order: &[&str]| {
            let dir = tempfile::tempdir().unwrap();
            for name in order {
                let path = dir.path().join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, name.as_bytes()).unwrap();
            }
            std::fs::set_permissions(
                dir.path().join("bin/tool"),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
            std::fs::set_permissions(
                dir.path().join("b.txt"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            std::os::unix::fs::symlink("../b.txt", dir.path().join("bin/link")).unwrap();
            dir
        };
        let first = make(&["b.txt", "a/z.txt", "bin/tool"]);
        let second = make(&["bin/tool", "a/z.txt", "b.txt"]);
        let one = archive_dependency("lib", first.path(), 42).unwrap();
        let two = archive_dependency("lib", second.path(), 42).unwrap();
        let one_bytes = one.read_bytes().unwrap();
        assert_eq!(
            one_bytes,
            two.read_bytes().unwrap(),
            "same files, same bytes"
        );
        assert_eq!(one.sha256, two.sha256);
        assert_eq!(one.sha256, hex::encode(Sha256::digest(&one_bytes)));
        assert_eq!(one.size, one_bytes.len() as u64);
        assert_eq!(one.entry_name(), "deps/lib.tgz");
        let entries = list(&one_bytes);
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["a/", "a/z.txt", "b.txt", "bin/", "bin/link", "bin/tool"]
        );
        let modes: Vec<_> = entries.iter().map(|e| e.1).collect();
        assert_eq!(modes, [0o755, 0o644, 0o644, 0o755, 0o644, 0o755]);
        assert!(
            entries.iter().all(|e| e.5 != EntryType::Symlink),
            "the link inside is stored as the file it points to"
        );
        assert!(entries
            .iter()
            .all(|e| e.2 == 0 && e.3 == 42 && e.4.is_empty()));
        let other_time = archive_dependency("lib", first.path(), 43).unwrap();
        assert_ne!(other_time.sha256, one.sha256);
    }

    #[cfg(unix)]
    #[test]
    fn escaping_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("../../etc/passwd", dir.path().join("sub/x")).unwrap();
        let err = archive_dependency("lib", dir.path(), 0).unwrap_err();
        assert!(matches!(err, DepsError::EscapingSymlink { .. }), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("abs")).unwrap();
        assert!(archive_dependency("lib", dir.path(), 0).is_err());
        // Each link looks inside on its own; together they lead out.
        let outer = tempfile::tempdir().unwrap();
        std::fs::write(outer.path().join("secret.txt"), b"secret").unwrap();
        let dep = outer.path().join("dep");
        std::fs::create_dir(&dep).unwrap();
        std::os::unix::fs::symlink(".", dep.join("s")).unwrap();
        std::os::unix::fs::symlink("s/../secret.txt", dep.join("esc")).unwrap();
        let err = archive_dependency("lib", &dep, 0).unwrap_err();
        assert!(matches!(err, DepsError::EscapingSymlink { .. }), "{err}");
        // A dangling link is refused too.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("missing", dir.path().join("dangling")).unwrap();
        assert!(archive_dependency("lib", dir.path(), 0).is_err());
    }

    #[test]
    fn a_single_file_is_stored_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.bin");
        std::fs::write(&file, b"payload").unwrap();
        let archive = archive_dependency("data", &file, 0).unwrap();
        let bytes = archive.read_bytes().unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut entry = tar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("data.bin"));
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        assert_eq!(content, "payload");
        let missing = archive_dependency("x", &dir.path().join("nope"), 0).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
