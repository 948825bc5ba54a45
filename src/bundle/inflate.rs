//! How entry bytes are read: streamed in blocks and hashed as they come, never inflated whole.
//!
//! A large entry is inflated on a second thread that hands blocks over a bounded channel, while
//! this thread hashes them (SHA-256) and stores them: memory stays a few blocks in flight, and
//! inflating and hashing run on both cores at once. A module larger than
//! [`Limits::max_in_memory`](super::Limits::max_in_memory) is stored in an unlinked temporary
//! file, then mapped: only the pages the ELF reader touches take memory.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::model::ModuleBytes;
use super::pieces::copy_pieces;
use super::zip::{CentralEntry, ZipSource};

/// The size of a block handed from the inflating thread to the hashing one.
const BLOCK: usize = 256 * 1024;
/// Blocks in flight between the two threads.
const BLOCKS_IN_FLIGHT: usize = 4;
/// Entries at least this large are inflated on a second thread.
const THREADED_FROM: u64 = 1 << 20;

/// Why an entry's bytes could not be read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// More bytes than the budget allows.
    Budget,
    /// The entry is damaged (a message saying how).
    Damaged(String),
    /// The file it is read from cannot be read.
    Io(io::Error),
    /// The bytes cannot be stored.
    Store(io::Error),
}

impl ReadFailure {
    fn from_read(e: io::Error) -> ReadFailure {
        if e.kind() == io::ErrorKind::InvalidData {
            ReadFailure::Damaged(e.to_string())
        } else {
            ReadFailure::Io(e)
        }
    }
}

/// The SHA-256 and length of what was read.
#[derive(Debug, Clone)]
pub(crate) struct Digested {
    pub sha256: String,
    pub size: u64,
}

/// Reads `reader` to its end once, hashing every byte, passing it to `sink` and charging it to
/// `budget`; fails as soon as more bytes arrive than the budget allows.
pub(crate) fn copy_hashed(
    reader: &mut dyn Read,
    budget: &mut u64,
    sink: &mut dyn Write,
) -> Result<Digested, ReadFailure> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BLOCK];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadFailure::from_read(e)),
        };
        if n as u64 > *budget {
            return Err(ReadFailure::Budget);
        }
        *budget -= n as u64;
        size += n as u64;
        hasher.update(&buffer[..n]);
        sink.write_all(&buffer[..n]).map_err(ReadFailure::Store)?;
    }
    Ok(Digested {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// Fills `block` from `reader` as far as it goes; returns the bytes read (0 at the end).
fn fill(reader: &mut dyn Read, block: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < block.len() {
        match reader.read(&mut block[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Like [`copy_hashed`], but `reader` runs on a second thread (inflating), handing blocks over a
/// bounded channel to this one (hashing and storing).
pub(crate) fn copy_hashed_threaded(
    reader: &mut (dyn Read + Send),
    budget: &mut u64,
    sink: &mut dyn Write,
) -> Result<Digested, ReadFailure> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) =
            mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(BLOCKS_IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        scope.spawn(move || loop {
            // Reuse a block handed back, else make one (at most a few exist).
            let mut block = empty_rx.try_recv().unwrap_or_else(|_| vec![0u8; BLOCK]);
            let result = fill(reader, &mut block);
            let done = !matches!(result, Ok(n) if n > 0);
            if full_tx.send(result.map(|n| (block, n))).is_err() || done {
                break;
            }
        });
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        // Dropping the receiving ends (on return) stops the inflating thread.
        let outcome = loop {
            let (block, n) = match full_rx.recv() {
                Ok(Ok((_, 0))) | Err(_) => break Ok(()),
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => break Err(ReadFailure::from_read(e)),
            };
            if n as u64 > *budget {
                break Err(ReadFailure::Budget);
            }
            *budget -= n as u64;
            size += n as u64;
            hasher.update(&block[..n]);
            if let Err(e) = sink.write_all(&block[..n]) {
                break Err(ReadFailure::Store(e));
            }
            let _ = empty_tx.send(block);
        };
        drop(full_rx);
        drop(empty_tx);
        outcome.map(|()| Digested {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    })
}

/// Reads a module entry's bytes into memory, or into an unlinked temporary file when larger than
/// `max_in_memory`, hashing them on the way. An entry with a piece table is inflated on every
/// core; should the table not describe its stream, or any other entry, it is read from `reader`
/// as a stream (inflating on one thread while this one hashes, when it is large).
pub(crate) fn read_module_entry(
    source: &ZipSource,
    entry: &CentralEntry,
    reader: &mut (dyn Read + Send),
    max_in_memory: u64,
    budget: &mut u64,
) -> Result<(ModuleBytes, Digested), ReadFailure> {
    let declared = entry.size;
    let table = entry
        .pieces
        .as_ref()
        .filter(|table| table.compressed.len() > 1 && declared <= *budget);
    if let Some(table) = table {
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let stored = store(declared, declared, max_in_memory, &mut |sink| {
            copy_pieces(source, entry, table, workers, sink)
        })?;
        if let Some(read) = stored {
            // Each piece inflated to exactly its share: the bytes inflated are the declared ones.
            *budget -= declared;
            return Ok(read);
        }
    }
    read_module(reader, declared, max_in_memory, budget)
}

/// Reads a module's bytes (declaring `declared` bytes) from `reader` as a stream, into memory or
/// (over `max_in_memory`) an unlinked temporary file; a large one is inflated on a second thread
/// while this one hashes.
pub(crate) fn read_module(
    reader: &mut (dyn Read + Send),
    declared: u64,
    max_in_memory: u64,
    budget: &mut u64,
) -> Result<(ModuleBytes, Digested), ReadFailure> {
    let threaded = declared >= THREADED_FROM;
    // Reserve no more than the budget allows: the declared size is the zip's word only.
    let reserve = declared.min(*budget);
    let stored = store(declared, reserve, max_in_memory, &mut |sink| {
        if threaded {
            copy_hashed_threaded(reader, budget, sink).map(Some)
        } else {
            copy_hashed(reader, budget, sink).map(Some)
        }
    })?;
    Ok(stored.expect("a stream copy always gives its bytes"))
}

/// Copies an entry's bytes into a sink; `None` when it gave up (see [`copy_pieces`]).
type CopyInto<'a> = dyn FnMut(&mut dyn Write) -> Result<Option<Digested>, ReadFailure> + 'a;

/// Runs `copy` into memory (`reserve` bytes reserved) or, when `expected` is over
/// `max_in_memory`, into an unlinked temporary file that is then mapped; `None` when `copy`
/// gave up.
fn store(
    expected: u64,
    reserve: u64,
    max_in_memory: u64,
    copy: &mut CopyInto<'_>,
) -> Result<Option<(ModuleBytes, Digested)>, ReadFailure> {
    if expected <= max_in_memory {
        let mut bytes = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
        let Some(digest) = copy(&mut bytes)? else {
            return Ok(None);
        };
        return Ok(Some((ModuleBytes::Owned(bytes), digest)));
    }
    let mut spill = tempfile::tempfile().map_err(ReadFailure::Store)?;
    let digest = {
        let mut writer = io::BufWriter::with_capacity(BLOCK, &mut spill);
        let Some(digest) = copy(&mut writer)? else {
            return Ok(None);
        };
        writer.flush().map_err(ReadFailure::Store)?;
        digest
    };
    if digest.size == 0 {
        return Ok(Some((ModuleBytes::Owned(Vec::new()), digest)));
    }
    // SAFETY: the file is unlinked and private to this process, so nothing else can change or
    // truncate it while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&spill) }.map_err(ReadFailure::Store)?;
    Ok(Some((ModuleBytes::Spilled(map), digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(usize);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad block"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            buf[..n].fill(7);
            Ok(n)
        }
    }

    #[test]
    fn threaded_and_plain_copies_agree() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut budget = u64::MAX;
        let mut plain = Vec::new();
        let a = copy_hashed(&mut &data[..], &mut budget, &mut plain).unwrap();
        let mut threaded = Vec::new();
        let b = copy_hashed_threaded(&mut &data[..], &mut budget, &mut threaded).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(a.size, data.len() as u64);
        assert_eq!(plain, threaded);
        assert_eq!(threaded, data);
    }

    #[test]
    fn threaded_copy_reports_damage_and_the_budget() {
        let mut budget = u64::MAX;
        let error =
            copy_hashed_threaded(&mut Failing(600_000), &mut budget, &mut io::sink()).unwrap_err();
        assert!(
            matches!(error, ReadFailure::Damaged(ref m) if m == "bad block"),
            "{error:?}"
        );
        let data = vec![1u8; 2_000_000];
        let mut budget = 1_000_000;
        let error = copy_hashed_threaded(&mut &data[..], &mut budget, &mut io::sink()).unwrap_err();
        assert!(matches!(error, ReadFailure::Budget), "{error:?}");
    }

    #[test]
    fn a_large_module_is_spilled_and_reads_the_same() {
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 7) as u8).collect();
        let mut budget = u64::MAX;
        let (bytes, digest) =
            read_module(&mut &data[..], data.len() as u64, 1024, &mut budget).unwrap();
        assert!(matches!(bytes, ModuleBytes::Spilled(_)));
        assert_eq!(&*bytes, &data[..]);
        assert_eq!(digest.sha256, hex::encode(Sha256::digest(&data)));
        let (bytes, _) =
            read_module(&mut &data[..], data.len() as u64, u64::MAX, &mut budget).unwrap();
        assert!(matches!(bytes, ModuleBytes::Owned(_)));
    }
}
