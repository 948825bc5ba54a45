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
