//! The checks every dependency archive (`deps/<name>.tgz`) passes, in one walk shared by the
//! validator (which only reads) and `unpack` (which writes): gzip'd tar, plain relative names,
//! regular files and folders only, no duplicates, within the entry and size caps.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use super::layout::unsafe_name_reason;
use super::{BundleError, Limits};

/// What is wrong inside a dependency archive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarProblem {
    /// Not gzip data at all.
    #[error("it is not a gzip'd tarball ({reason})")]
    NotGzip {
        /// What was found instead.
        reason: String,
    },
    /// Gzip or tar data that is damaged or cut short.
    #[error("it is damaged: {reason}")]
    Damaged {
        /// What the reader said.
        reason: String,
    },
    /// A name that would escape the destination or is not portable.
    #[error("entry `{entry}` is refused ({reason})")]
    UnsafePath {
        /// The tar entry.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// A symbolic or hard link.
    #[error("entry `{entry}` is refused (a link)")]
    Link {
        /// The tar entry.
        entry: String,
    },
    /// A device, FIFO or other special file.
    #[error("entry `{entry}` is refused (not a regular file: {kind})")]
    SpecialFile {
        /// The tar entry.
        entry: String,
        /// What it is.
        kind: &'static str,
    },
    /// A name given twice (also ignoring case).
    #[error("entry `{entry}` is refused (a duplicate name)")]
    Duplicate {
        /// The tar entry.
        entry: String,
    },
    /// More entries than the cap.
    #[error("it has more than {max} entries")]
    TooManyEntries {
        /// The cap.
        max: usize,
    },
    /// Inflating passed the size cap.
    #[error("it inflates past {max} bytes (at `{entry}`)")]
    TooLarge {
        /// The tar entry being read.
        entry: String,
        /// The cap, in bytes.
        max: u64,
    },
}

/// What receives the archive's contents while it is walked.
pub(crate) trait TarSink {
    /// A folder.
    fn folder(&mut self, name: &str) -> Result<(), BundleError>;
    /// A regular file starts.
    fn begin(&mut self, name: &str, executable: bool) -> Result<(), BundleError>;
    /// Bytes of the current file.
    fn data(&mut self, bytes: &[u8]) -> Result<(), BundleError>;
    /// The current file is complete.
    fn end(&mut self) -> Result<(), BundleError>;
}

/// Receives nothing: the validator only checks.
pub(crate) struct CheckOnly;

impl TarSink for CheckOnly {
    fn folder(&mut self, _name: &str) -> Result<(), BundleError> {
        Ok(())
    }
    fn begin(&mut self, _name: &str, _executable: bool) -> Result<(), BundleError> {
        Ok(())
    }
    fn data(&mut self, _bytes: &[u8]) -> Result<(), BundleError> {
        Ok(())
    }
    fn end(&mut self) -> Result<(), BundleError> {
        Ok(())
    }
}

/// Why a walk stopped.
#[derive(Debug)]
pub(crate) enum WalkError {
    /// The archive breaks a rule.
    Problem(TarProblem),
    /// The reader under the archive failed (the zip entry is damaged, or the file cannot be read).
    Source(io::Error),
    /// The sink failed.
    Sink(BundleError),
}

/// Remembers the first error of the reader beneath, so it is told apart from gzip and tar errors.
struct Watched<'a> {
    inner: &'a mut dyn Read,
    failure: Rc<RefCell<Option<io::Error>>>,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failure
                .borrow_mut()
                .get_or_insert_with(|| io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// Charges inflated bytes to a budget and fails once it is spent.
struct Budgeted<R> {
    inner: R,
    left: Rc<Cell<u64>>,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left.get() {
            self.exceeded.set(true);
            return Err(io::Error::other("size cap reached"));
        }
        self.left.set(self.left.get() - n as u64);
        Ok(n)
    }
}

/// Walks the gzip'd tarball read from `reader`, checking every entry and handing folders and
/// files to `sink`; inflated bytes are charged to `budget`. The gzip stream is read to its end
/// (so its CRC is checked); bytes of `reader` after it are left unread.
pub(crate) fn walk(
    reader: &mut dyn Read,
    limits: &Limits,
    budget: &mut u64,
    sink: &mut dyn TarSink,
) -> Result<(), WalkError> {
    let failure = Rc::new(RefCell::new(None));
    let left = Rc::new(Cell::new(*budget));
    let exceeded = Rc::new(Cell::new(false));
    let result = walk_inner(
        Watched {
            inner: reader,
            failure: failure.clone(),
        },
        limits,
        &left,
        &exceeded,
        sink,
    );
    *budget = left.get();
    result.map_err(|error| match error {
        WalkError::Problem(TarProblem::Damaged { .. })
        | WalkError::Problem(TarProblem::NotGzip { .. }) => match failure.borrow_mut().take() {
            Some(source) => WalkError::Source(source),
            None => error,
        },
        other => other,
    })
}

fn walk_inner(
    reader: Watched<'_>,
    limits: &Limits,
    left: &Rc<Cell<u64>>,
    exceeded: &Rc<Cell<bool>>,
    sink: &mut dyn TarSink,
) -> Result<(), WalkError> {
    let mut buffered = io::BufReader::with_capacity(64 * 1024, reader);
    let head = buffered.fill_buf().map_err(|e| {
        WalkError::Problem(TarProblem::Damaged {
            reason: e.to_string(),
        })
    })?;
    if head.is_empty() {
        return Err(WalkError::Problem(TarProblem::NotGzip {
            reason: "it is empty".into(),
        }));
    }
    if head.len() >= 2 && head[..2] != [0x1f, 0x8b] || head.len() < 2 {
        return Err(WalkError::Problem(TarProblem::NotGzip {
            reason: "it does not start with the gzip magic bytes".into(),
        }));
    }
    let gz = flate2::bufread::GzDecoder::new(buffered);
    let mut archive = tar::Archive::new(Budgeted {
        inner: gz,
        left: left.clone(),
        exceeded: exceeded.clone(),
    });
    let mut current = String::new();
    let damaged_or_large = |e: io::Error, current: &str| {
        if exceeded.get() {
            WalkError::Problem(TarProblem::TooLarge {
                entry: current.to_string(),
                max: limits.max_total_size,
            })
        } else {
            WalkError::Problem(TarProblem::Damaged {
                reason: e.to_string(),
            })
        }
    };
    let entries = archive
        .entries()
        .map_err(|e| damaged_or_large(e, &current))?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut buffer = vec![0u8; 64 * 1024];
    for (count, entry) in entries.enumerate() {
        if count >= limits.max_entries {
            return Err(WalkError::Problem(TarProblem::TooManyEntries {
                max: limits.max_entries,
            }));
        }
        let mut entry = entry.map_err(|e| damaged_or_large(e, &current))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        current.clone_from(&raw);
        let problem = |p: TarProblem| Err(WalkError::Problem(p));
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let name = raw.strip_prefix("./").unwrap_or(&raw).to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        if let Some(reason) = unsafe_name_reason(&name) {
            return problem(TarProblem::UnsafePath { entry: raw, reason });
        }
        let name = name.trim_end_matches('/').to_string();
        if kind.is_dir() {
            sink.folder(&name).map_err(WalkError::Sink)?;
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return problem(TarProblem::Link { entry: raw });
        }
        if !kind.is_file() {
            let what = match kind {
                tar::EntryType::Char => "a character device",
                tar::EntryType::Block => "a block device",
                tar::EntryType::Fifo => "a FIFO",
                tar::EntryType::GNUSparse => "a sparse file",
                _ => "an unknown entry type",
            };
            return problem(TarProblem::SpecialFile {
                entry: raw,
                kind: what,
            });
        }
        if !seen.insert(name.to_lowercase()) {
            return problem(TarProblem::Duplicate { entry: raw });
        }
        let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
        sink.begin(&name, executable).map_err(WalkError::Sink)?;
        loop {
            let n = match entry.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(damaged_or_large(e, &current)),
            };
            sink.data(&buffer[..n]).map_err(WalkError::Sink)?;
        }
        sink.end().map_err(WalkError::Sink)?;
    }
    // Read the gzip stream to its end, so its CRC and length are checked.
    let mut rest = archive.into_inner();
    loop {
        match rest.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(damaged_or_large(e, &current)),
        }
    }
    Ok(())
}
