//! The one zip reader: opening module zips (and folders, bare `.so` files and bare
//! `module.json` files) for validation, inspection, upload and unpacking.
//!
//! * [`zip`](self) reading (private): the central directory, every entry checked against its
//!   local header (name, sizes, method, CRC, flags), overlapping or shared data refused; the file
//!   is read by offset, never mapped, so a file that shrinks meanwhile gives an error.
//! * [`layout`]: the one "what a module zip may hold" check; the validator reports its issues,
//!   [`unpack`] refuses on the first.
//! * inflating (private): entries are inflated in a stream and hashed as they come, a large
//!   one on a second thread; a large module is kept in an unlinked temporary file.
//! * [`tarball`]: the checks every `deps/<name>.tgz` passes, for the validator and [`unpack`].
//! * [`Bundle::read`] is tolerant: it fails only when the file is not a readable, consistent
//!   zip, and records everything else it finds wrong for the validator to report. [`unpack`] is
//!   strict.

mod inflate;
pub mod layout;
mod model;
mod pieces;
mod readers;
pub mod tarball;
mod unpack;
mod zip;

use std::io;
use std::path::PathBuf;

use crate::input::InputError;
pub use crate::manifest::layout::{dependency_name, DEPS_DIR, MODULE_JSON};
pub use layout::{unsafe_name_reason, LayoutIssue, MAX_MODULE_JSON};
pub use model::{
    Archive, ArchiveReader, Bundle, Entry, EntryKind, HashedFile, ModuleBinary, ModuleBytes,
    ModuleChecksum, ReadProblem, Source,
};
pub use readers::{parse_module_json, read_module_json};
pub use tarball::TarProblem;
pub use unpack::{unpack, Unpacked, STAGING_PREFIX};

/// Default cap on the number of entries in a zip.
pub const DEFAULT_MAX_ENTRIES: usize = 1_000;
/// Default cap on the bytes a zip may inflate to (2 GiB).
pub const DEFAULT_MAX_TOTAL_SIZE: u64 = 2 << 30;
/// Default of [`Limits::max_in_memory`].
pub const DEFAULT_MAX_IN_MEMORY: u64 = 8 << 20;

/// Guards against archives that would exhaust memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries a zip (or a dependency tarball) may hold.
    pub max_entries: usize,
    /// Most bytes all entries together may inflate to, counted on the bytes actually inflated.
    pub max_total_size: u64,
    /// A module larger than this is inflated into an unlinked temporary file instead of memory
    /// (then mapped, so only the pages the ELF reader touches take memory): an upload's
    /// pre-flight check of a 200 MB module should not need 200 MB.
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
    /// A user-given file that is not a regular file or is over its cap.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Not a zip, or a zip whose central directory is damaged.
    #[error("{path} is not a readable zip archive: {reason}")]
    NotAZip {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A zip that disagrees with itself: a central entry and its local header differ, or two
    /// entries share data. Readers that trust one or the other would see different files.
    #[error("{path} is not a consistent zip archive: entry `{entry}`: {reason}; rebuild the zip (`rmpack pack` writes a consistent one)")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// What disagrees.
        reason: String,
    },
    /// The zip's entry list breaks the module zip layout.
    #[error("{0}")]
    Layout(LayoutIssue),
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
    /// A dependency archive with a refused entry, or damaged.
    #[error("dependency archive `{archive}`: {problem}")]
    Dependency {
        /// The `deps/<name>.tgz` entry.
        archive: String,
        /// What is wrong inside it.
        problem: TarProblem,
    },
    /// The destination already holds a file the zip would write.
    #[error("{path} already exists; unpack into an empty folder")]
    DestinationExists {
        /// The existing path.
        path: PathBuf,
    },
    /// Another unpack into the same folder is running.
    #[error("{path} belongs to an unpack still running (process {pid}); wait for it to finish, or unpack elsewhere")]
    UnpackInProgress {
        /// Its staging folder.
        path: PathBuf,
        /// The process.
        pid: u32,
    },
}
