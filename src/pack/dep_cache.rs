//! Verified dependency archives kept by their sha256, so packing many variants of a module (a
//! CI matrix of operating systems, architectures and Redis versions) downloads each dependency
//! once, and `--offline` can pack without the network.
//!
//! An entry is `<sha256>.tgz`. It is written while the download streams, to a temporary file in
//! the cache folder, and renamed into place only once the download matched its sha256 and passed
//! the tarball checks (so a reader never sees half an archive or an unchecked one). It is hashed
//! and checked again on every read: a damaged entry is removed and downloaded again, never
//! embedded.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::interrupt::CleanupGuard;

/// The prefix and suffix of an entry being written.
const TEMP_PREFIX: &str = ".rmpack-dep-";
const TEMP_SUFFIX: &str = ".tmp";

/// A folder of verified dependency archives, named by sha256.
#[derive(Debug, Clone)]
pub(crate) struct DepCache {
    dir: PathBuf,
}

/// An entry being written: committed under its sha256, or removed when dropped (and when rmpack
/// is interrupted).
pub(crate) struct PendingEntry {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    _on_interrupt: CleanupGuard,
}

impl PendingEntry {
    /// The file to write the archive into.
    pub(crate) fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Makes the written archive the entry.
    pub(crate) fn commit(self) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

impl DepCache {
    /// The cache in `dir` (created when the first entry is written).
    pub(crate) fn new(dir: PathBuf) -> Self {
        DepCache { dir }
    }

    /// The cache folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.tgz"))
    }

    /// The entry for this (lower-case hex) sha256, open at its start, and its size; anything but
    /// a regular file is no entry. The caller verifies the bytes.
    pub(crate) fn open(&self, sha256: &str) -> Option<(File, u64)> {
        let path = self.entry(sha256);
        let metadata = std::fs::symlink_metadata(&path).ok()?;
        if !metadata.is_file() {
            return None;
        }
        let file = File::open(&path).ok()?;
        let size = file.metadata().ok()?.len();
        Some((file, size))
    }

    /// Removes the entry for `sha256` (its bytes no longer match); returns its path.
    pub(crate) fn discard(&self, sha256: &str) -> PathBuf {
        let path = self.entry(sha256);
        let _ = std::fs::remove_file(&path);
        path
    }

    /// Starts writing the entry for `sha256`.
    pub(crate) fn begin(&self, sha256: &str) -> io::Result<PendingEntry> {
        std::fs::create_dir_all(&self.dir)?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(TEMP_SUFFIX)
            .tempfile_in(&self.dir)?;
        let on_interrupt = crate::interrupt::remove_on_interrupt(temp.path());
        Ok(PendingEntry {
            temp,
            target: self.entry(sha256),
            _on_interrupt: on_interrupt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_entry_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DepCache::new(dir.path().join("deps"));
        let sha = "ab".repeat(32);
        assert!(cache.open(&sha).is_none());

        let abandoned = cache.begin(&sha).unwrap();
        abandoned.file().write_all(b"half").unwrap();
        drop(abandoned);
        assert!(listing(cache.dir()).is_empty(), "no partial entry");
        assert!(cache.open(&sha).is_none());

        let pending = cache.begin(&sha).unwrap();
        pending.file().write_all(b"archive").unwrap();
        pending.commit().unwrap();
        assert_eq!(listing(cache.dir()), [format!("{sha}.tgz")]);
        let (mut file, size) = cache.open(&sha).unwrap();
        assert_eq!(size, 7);
        let mut read = Vec::new();
        file.read_to_end(&mut read).unwrap();
        assert_eq!(read, b"archive");

        assert_eq!(cache.discard(&sha), cache.entry(&sha));
        assert!(cache.open(&sha).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_the_cache_is_not_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DepCache::new(dir.path().to_path_buf());
        let sha = "cd".repeat(32);
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"linked").unwrap();
        std::os::unix::fs::symlink(&target, cache.entry(&sha)).unwrap();
        assert!(cache.open(&sha).is_none());
    }
}
