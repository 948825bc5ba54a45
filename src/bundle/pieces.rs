//! Inflating an entry that carries a piece table (see [`crate::manifest::pieces`]) on every core.
//!
//! Each piece was compressed on its own and ends byte-aligned, so a piece followed by a final
//! empty stored block is a complete deflate stream: workers inflate pieces with libdeflate (read
//! by offset, each into a buffer of exactly its share) while this thread hashes them in order and
//! stores them. A piece must fill its share exactly and its stream must end exactly at the
//! appended block; the CRC-32 of the whole is checked at the end. Anything else means the table
//! does not describe the stream, and the caller reads the entry as a plain stream instead, which
//! gives the exact diagnosis (or accepts a valid stream whose table was wrong).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use sha2::{Digest, Sha256};

use super::inflate::{Digested, ReadFailure};
use super::zip::{CentralEntry, ZipSource};
use crate::manifest::pieces::PieceTable;

/// A final, empty stored block: `BFINAL = 1`, `BTYPE = 00`, padding, `LEN = 0`, `NLEN = 0xffff`.
/// After a byte-aligned piece it ends the stream.
const FINAL_EMPTY_STORED: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

/// Most workers: beyond a few, hashing on this thread is the bound.
const MAX_WORKERS: usize = 4;

/// A libdeflate decompressor, for the one call the safe wrapper lacks: inflating with the number
/// of input bytes consumed reported back.
struct Inflater(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

// SAFETY: a libdeflate decompressor holds no thread-local state; it is used by one thread at a
// time (`&mut self`).
unsafe impl Send for Inflater {}

impl Inflater {
    fn new() -> Option<Inflater> {
        // SAFETY: allocating has no preconditions; a null result is handled.
        std::ptr::NonNull::new(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() })
            .map(Inflater)
    }

    /// Inflates `input` into all of `out`; true only when the stream fills `out` exactly and
    /// ends exactly at the end of `input`.
    fn inflate_exact(&mut self, input: &[u8], out: &mut [u8]) -> bool {
        let mut consumed = 0usize;
        let mut produced = 0usize;
        // SAFETY: both buffers are valid for the lengths given, and the out-pointers are
        // valid `usize`s; libdeflate reads and writes only within them.
        let result = unsafe {
            libdeflate_sys::libdeflate_deflate_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut consumed,
                &mut produced,
            )
        };
        result == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
            && consumed == input.len()
            && produced == out.len()
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `libdeflate_alloc_decompressor` and is freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// One inflated piece, or why the table is not to be trusted.
type PieceResult = Result<(Vec<u8>, u32), PieceFailure>;

enum PieceFailure {
    /// The piece does not inflate to its share: fall back to the stream.
    Mismatch,
    /// The zip file could not be read.
    Io(io::Error),
}

/// Inflates `entry` piece by piece on up to `workers` threads, passing the bytes in order to
/// `sink` and hashing them. `Ok(None)` when the table does not describe the entry's stream
/// (nothing useful was stored: the caller starts again with the stream); `sink` may then hold
/// part of the entry.
pub(crate) fn copy_pieces(
    source: &ZipSource,
    entry: &CentralEntry,
    table: &PieceTable,
    workers: usize,
    sink: &mut dyn Write,
) -> Result<Option<Digested>, ReadFailure> {
    let spans: Vec<(u64, usize, usize)> = table.spans(entry.size).collect();
    let workers = workers.clamp(1, MAX_WORKERS).min(spans.len());
    // Every worker holds at most one output buffer, and finished ones wait here only until the
    // pieces before them arrive; the free list bounds memory to a few pieces per worker.
    let in_flight = workers * 2;
    let next = AtomicUsize::new(0);
    let (done_tx, done_rx) = mpsc::sync_channel::<(usize, PieceResult)>(in_flight);
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(in_flight);
    for _ in 0..in_flight {
        free_tx.send(Vec::new()).expect("the channel has room");
    }
    let free_rx = Mutex::new(free_rx);

    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (next, free_rx, spans) = (&next, &free_rx, &spans);
            scope.spawn(move || {
                let Some(mut inflater) = Inflater::new() else {
                    let _ = done_tx.send((0, Err(PieceFailure::Mismatch)));
                    return;
                };
                let mut input = Vec::new();
                loop {
                    // Take a buffer before a piece, so the earliest unfinished piece always has
                    // one and the writer never waits on a piece that cannot start.
                    let buffer = free_rx.lock().ok().and_then(|rx| rx.recv().ok());
                    let Some(mut out) = buffer else { return };
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(offset, length, size)) = spans.get(index) else {
                        return;
                    };
                    let result = inflate_piece(
                        source,
                        (entry.data_start + offset, length, size),
                        index + 1 == spans.len(),
                        &mut inflater,
                        &mut input,
                        &mut out,
                    )
                    .map(|()| {
                        let crc = crc32fast::hash(&out);
                        (out, crc)
                    });
                    if done_tx.send((index, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);

        let mut pending = BTreeMap::new();
        let mut written = 0usize;
        let mut hasher = Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let mut outcome = Ok(None);
        for (index, result) in done_rx.iter() {
            match result {
                Ok(piece) => {
                    pending.insert(index, piece);
                }
                Err(PieceFailure::Mismatch) => break,
                Err(PieceFailure::Io(e)) => {
                    outcome = Err(ReadFailure::Io(e));
                    break;
                }
            }
            while let Some((out, piece_crc)) = pending.remove(&written) {
                hasher.update(&out);
                crc.combine(&crc32fast::Hasher::new_with_initial_len(
                    piece_crc,
                    out.len() as u64,
                ));
                if let Err(e) = sink.write_all(&out) {
                    outcome = Err(ReadFailure::Store(e));
                    break;
                }
                written += 1;
                let _ = free_tx.try_send(out);
            }
            if outcome.is_err() || written == spans.len() {
                break;
            }
        }
        // Dropping the channels stops the workers.
        drop(done_rx);
        drop(free_tx);
        if outcome.is_err() || written != spans.len() || crc.finalize() != entry.crc32 {
            return outcome;
        }
        Ok(Some(Digested {
            sha256: hex::encode(hasher.finalize()),
            size: entry.size,
        }))
    })
}

/// Reads the piece of `length` bytes at `offset` and inflates it into `out`, which it leaves
/// exactly `size` long. Every piece but the last gets the final block appended; the last must end
/// the stream itself.
fn inflate_piece(
    source: &ZipSource,
    (offset, length, size): (u64, usize, usize),
    last: bool,
    inflater: &mut Inflater,
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), PieceFailure> {
    let end = if last {
        &[][..]
    } else {
        &FINAL_EMPTY_STORED[..]
    };
    input.resize(length + end.len(), 0);
    source
        .read_exact_at(&mut input[..length], offset)
        .map_err(PieceFailure::Io)?;
    input[length..].copy_from_slice(end);
    out.resize(size, 0);
    if inflater.inflate_exact(input, out) {
        Ok(())
    } else {
        Err(PieceFailure::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::zip::ZipIndex;
    use crate::pack::deflate::BLOCK_SIZE;
    use crate::pack::zip_writer::{write_zip, ZipStyle};

    /// Bytes that compress like code, different in every block.
    fn sample(len: usize) -> Vec<u8> {
        const CODE: &[u8] = b"push rbp; mov rbp, rsp; call ";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state % 3 == 0 {
                    (state >> 32) as u8
                } else {
                    CODE[i % CODE.len()]
                }
            })
            .collect()
    }

    /// A zip of one entry packed as pack writes it, and the entry's bytes.
    fn packed_zip(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let data = sample(len);
        (zip_of(&data), data)
    }

    fn zip_of(data: &[u8]) -> tempfile::NamedTempFile {
        let style = ZipStyle::default();
        let entry = style
            .compress_stream(
                "m.so",
                0o755,
                data,
                data.len() as u64,
                3,
                &std::env::temp_dir(),
                &mut |_| {},
            )
            .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        write_zip(file.reopen().unwrap(), &style, vec![entry]).unwrap();
        file
    }

    fn open(file: &tempfile::NamedTempFile) -> (ZipSource, CentralEntry) {
        let handle = file.reopen().unwrap();
        let len = handle.metadata().unwrap().len();
        let source = ZipSource::new(handle, len);
        let entry = ZipIndex::read(&source, 10).unwrap().entries.remove(0);
        (source, entry)
    }

    #[test]
    fn pieces_inflate_to_the_entry_on_any_number_of_workers() {
        let (file, data) = packed_zip(3 * BLOCK_SIZE + 4321);
        let (source, entry) = open(&file);
        let table = entry.pieces.clone().expect("pack lists the pieces");
        assert_eq!(table.compressed.len(), 4);
        for workers in [1, 2, 4] {
            let mut out = Vec::new();
            let digest = copy_pieces(&source, &entry, &table, workers, &mut out)
                .unwrap()
                .expect("the table describes the stream");
            assert_eq!(out, data, "{workers} workers");
            assert_eq!(digest.sha256, hex::encode(Sha256::digest(&data)));
            assert_eq!(digest.size, data.len() as u64);
        }
    }

    #[test]
    fn incompressible_pieces_stay_within_the_tables_bound() {
        let noise = crate::pack::deflate::noise(2 * BLOCK_SIZE + 99);
        let file = zip_of(&noise);
        let (source, entry) = open(&file);
        let table = entry.pieces.clone().expect("the table is kept");
        let mut out = Vec::new();
        assert!(copy_pieces(&source, &entry, &table, 2, &mut out)
            .unwrap()
            .is_some());
        assert_eq!(out, noise);
    }

    #[test]
    fn a_table_that_does_not_describe_the_stream_is_given_up() {
        let (file, _) = packed_zip(2 * BLOCK_SIZE + 10);
        let (source, entry) = open(&file);
        let table = entry.pieces.clone().unwrap();
        // The same total, cut in other places.
        let mut shifted = table.clone();
        shifted.compressed[0] -= 1;
        shifted.compressed[1] += 1;
        let mut out = Vec::new();
        assert!(copy_pieces(&source, &entry, &shifted, 2, &mut out)
            .unwrap()
            .is_none());
        // The right cuts, but the header's CRC does not match the bytes.
        let mut wrong_crc = entry.clone();
        wrong_crc.crc32 ^= 1;
        assert!(copy_pieces(&source, &wrong_crc, &table, 2, &mut Vec::new())
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_damaged_piece_is_given_up_and_a_vanished_file_is_an_error() {
        let (file, _) = packed_zip(2 * BLOCK_SIZE + 10);
        let (_, entry) = open(&file);
        let table = entry.pieces.clone().unwrap();
        let mut bytes = std::fs::read(file.path()).unwrap();
        let middle = entry.data_start as usize + table.compressed[0] as usize + 1000;
        bytes[middle] ^= 0x55;
        std::fs::write(file.path(), &bytes).unwrap();
        let (source, entry) = open(&file);
        assert!(copy_pieces(&source, &entry, &table, 2, &mut Vec::new())
            .unwrap()
            .is_none());

        // Cut short after the index was read: an I/O error, not a verdict on the table.
        std::fs::OpenOptions::new()
            .write(true)
            .open(file.path())
            .unwrap()
            .set_len(entry.data_start + 10)
            .unwrap();
        let result = copy_pieces(&source, &entry, &table, 2, &mut Vec::new());
        assert!(matches!(result, Err(ReadFailure::Io(_))));
    }
}
