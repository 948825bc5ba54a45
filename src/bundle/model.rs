//! The values a bundle is read into.

use std::ops::Deref;
use std::path::PathBuf;

use serde::Serialize;

use super::layout::LayoutIssue;
use super::tarball::TarProblem;
use crate::manifest::ModuleJson;

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
    /// Mapped from the unlinked temporary file an entry over [`Limits::max_in_memory`] was
    /// inflated into: only the pages a reader touches take memory.
    Spilled(memmap2::Mmap),
}

impl Deref for ModuleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ModuleBytes::Owned(bytes) => bytes,
            ModuleBytes::Spilled(map) => map,
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
    /// A dependency archive that `unpack` (and RS) would refuse.
    Dependency {
        /// The `deps/<name>.tgz` entry.
        entry: String,
        /// What is wrong inside it.
        problem: TarProblem,
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
    /// Every way the zip's entry list breaks the module zip layout (zip inputs only).
    pub layout: Vec<LayoutIssue>,
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
    /// The zip itself, held open (zip inputs only).
    pub archive: Option<Archive>,
}

/// The zip a bundle was read from, kept open: what was checked is what an upload sends, even
/// when the path is replaced or rewritten meanwhile (a rename leaves the open file as it was;
/// a file that shrinks under it gives an error, never other bytes).
#[derive(Debug, Clone)]
pub struct Archive {
    file: std::sync::Arc<std::fs::File>,
    size: u64,
    modified: Option<std::time::SystemTime>,
    sha256: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl Archive {
    pub(crate) fn new(file: std::fs::File, size: u64) -> Archive {
        let modified = file.metadata().and_then(|m| m.modified()).ok();
        Archive {
            file: std::sync::Arc::new(file),
            size,
            modified,
            sha256: Default::default(),
        }
    }

    /// Whether the open file is as it was when read: same size and modification time. A zip
    /// replaced by a rename leaves the open file as it was; one rewritten in place does not.
    pub fn unchanged(&self) -> std::io::Result<bool> {
        let metadata = self.file.metadata()?;
        Ok(metadata.len() == self.size && metadata.modified().ok() == self.modified)
    }

    /// The zip's size in bytes, when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A reader of the whole zip from its first byte, by offset: readers do not share a cursor,
    /// so several uploads can stream the same open file at once.
    pub fn reader(&self) -> ArchiveReader {
        ArchiveReader {
            file: self.file.clone(),
            pos: 0,
            end: self.size,
        }
    }

    /// The hex SHA-256 of the zip, computed on first use from the open file.
    pub fn sha256(&self) -> std::io::Result<String> {
        if let Some(done) = self.sha256.get() {
            return Ok(done.clone());
        }
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let mut reader = self.reader();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut reader, &mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        let hex = hex::encode(hasher.finalize());
        Ok(self.sha256.get_or_init(|| hex).clone())
    }
}

/// Reads an [`Archive`] by offset; a file that became shorter than it was is an error.
#[derive(Debug)]
pub struct ArchiveReader {
    file: std::sync::Arc<std::fs::File>,
    pos: u64,
    end: u64,
}

impl ArchiveReader {
    /// Bytes left to read.
    pub fn remaining(&self) -> u64 {
        self.end - self.pos
    }
}

impl std::io::Read for ArchiveReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = (buf.len() as u64).min(self.end - self.pos) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the zip became shorter than its {} bytes after it was checked; nothing more is sent",
                    self.end
                ),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Bundle {
    pub(crate) fn empty(path: &std::path::Path, source: Source) -> Bundle {
        Bundle {
            path: path.to_path_buf(),
            source,
            entries: Vec::new(),
            layout: Vec::new(),
            module_json_raw: None,
            module_json_value: None,
            module_json: None,
            module: None,
            deps: Vec::new(),
            problems: Vec::new(),
            archive: None,
        }
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
