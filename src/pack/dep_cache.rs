//! Verified dependency archives kept by their sha256, so packing many variants of a module (a
//! CI matrix of operating systems, architectures and Redis versions) downloads each dependency
//! once, and `--offline` can pack without the network.
//!
//! An entry is `<sha256>.tgz`. It is written only after the download matched its sha256 and
//! passed the tarball checks, to a temporary file in the cache folder renamed into place (so a
//! reader never sees half an archive), and it is hashed again on every read: a damaged entry is
//! removed and downloaded again, never embedded.

use std::fs::File;
use std::io::{self, Seek};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The prefix and suffix of an entry being written.
const TEMP_PREFIX: &str = ".rmpack-dep-";
const TEMP_SUFFIX: &str = ".tmp";

/// A folder of verified dependency archives, named by sha256.
#[derive(Debug, Clone)]
pub(crate) struct DepCache {
    dir: PathBuf,
}

impl DepCache {
    /// The cache in `dir` (created when the first entry is stored).
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

    /// The cached archive with this (lower-case hex) sha256, open at its start, and its size,
    /// after hashing it again. A copy whose bytes no longer match is removed, and `damaged` is
    /// told why; anything that is not a regular file is ignored.
    pub(crate) fn lookup(&self, sha256: &str, damaged: impl FnOnce(&str)) -> Option<(File, u64)> {
        let path = self.entry(sha256);
        let metadata = std::fs::symlink_metadata(&path).ok()?;
        if !metadata.is_file() {
            return None;
        }
        let mut file = File::open(&path).ok()?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut &file, &mut HashSink(&mut hasher)).ok()?;
        if hex::encode(hasher.finalize()) != sha256 {
            let _ = std::fs::remove_file(&path);
            damaged(&format!(
                "{} does not match its sha256 (removed)",
                path.display()
            ));
            return None;
        }
        file.seek(io::SeekFrom::Start(0)).ok()?;
        Some((file, size))
    }

    /// Keeps a copy of `file` (whose bytes have this sha256) as the entry for `sha256`.
    pub(crate) fn store(&self, sha256: &str, file: &mut File) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(TEMP_SUFFIX)
            .tempfile_in(&self.dir)?;
        // A run stopped mid-copy leaves no partial entry (dropping `temp` covers errors).
        let _on_interrupt = crate::interrupt::remove_on_interrupt(temp.path());
        file.seek(io::SeekFrom::Start(0))?;
        let mut writer = temp.as_file();
        io::copy(&mut &*file, &mut writer)?;
        temp.as_file().sync_all()?;
        temp.persist(self.entry(sha256)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Feeds what is written into a hasher.
struct HashSink<'a>(&'a mut Sha256);

impl io::Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn spill(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    #[test]
    fn stored_entries_are_found_and_damaged_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DepCache::new(dir.path().join("deps"));
        let bytes = b"archive bytes";
        let sha = hex::encode(Sha256::digest(bytes));
        assert!(cache.lookup(&sha, |_| panic!("nothing cached")).is_none());
        cache.store(&sha, &mut spill(bytes)).unwrap();
        let (mut file, size) = cache.lookup(&sha, |_| panic!("intact")).unwrap();
        assert_eq!(size, bytes.len() as u64);
        let mut read = Vec::new();
        file.read_to_end(&mut read).unwrap();
        assert_eq!(read, bytes);
        // Only the entry is left: no temporary file.
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [format!("{sha}.tgz")]);

        std::fs::write(cache.entry(&sha), b"other bytes").unwrap();
        let mut told = None;
        assert!(cache
            .lookup(&sha, |why| told = Some(why.to_string()))
            .is_none());
        assert!(told.unwrap().contains("does not match"));
        assert!(!cache.entry(&sha).exists(), "the damaged copy is removed");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_the_cache_is_not_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DepCache::new(dir.path().to_path_buf());
        let bytes = b"linked";
        let sha = hex::encode(Sha256::digest(bytes));
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, bytes).unwrap();
        std::os::unix::fs::symlink(&target, cache.entry(&sha)).unwrap();
        assert!(cache.lookup(&sha, |_| panic!("not damaged")).is_none());
    }
}
