//! One deflate stream compressed on every core, with bytes that do not depend on the number of
//! threads or on timing.
//!
//! The input is cut into fixed-size blocks ([`BLOCK_SIZE`]). Each block is compressed on its own
//! by libdeflate (which compresses code a little smaller than zlib at the same level, and faster),
//! so each gives a complete deflate stream whose last deflate block is marked final. To join them
//! into one stream, as parallel gzip tools do, every piece but the last is turned into a
//! non-final, byte-aligned piece: the final bit of its last block is cleared and an empty stored
//! block (what zlib's sync flush writes) follows its end-of-block code, so the next piece starts
//! on a byte boundary. Finding those two bit positions needs a walk over the piece's deflate
//! blocks ([`stream_layout`]); it decodes Huffman symbols without producing output.
//!
//! The blocks are cut at fixed offsets and compressed with fixed settings, so the output is the
//! same whatever the number of workers; the workers only change which thread does a block.
//! CRC-32s are taken per block on the workers and combined in order.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{mpsc, Mutex};

/// Bytes of input per independently compressed block. Large enough that restarting the
/// dictionary costs little (about 0.1 % of output against 1 MiB blocks, on code), small enough
/// that a 5 MB module spreads evenly over the cores and a few blocks in flight per worker keep
/// memory low.
pub const BLOCK_SIZE: usize = 512 << 10;

/// The empty stored block that ends a byte-aligned piece, after its 3 header bits and the padding
/// to the byte boundary: `LEN = 0`, `NLEN = 0xffff`.
const EMPTY_STORED_LEN: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The libdeflate level each zip compression level 1–9 maps to: the fastest one whose output
/// is no larger than `zip -N`'s (+0.3 %), measured on 38 MB of x86-64 code in blocks of
/// [`BLOCK_SIZE`].
/// libdeflate compresses harder than zlib at the same number (its 5 gives zip -6's size), so
/// the numbers differ; 9, "smallest", takes libdeflate's smallest (12).
///
/// | zip level | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |
/// |---|---|---|---|---|---|---|---|---|---|
/// | libdeflate level | 1 | 2 | 2 | 3 | 5 | 5 | 6 | 6 | 12 |
const LIBDEFLATE_LEVELS: [i32; 9] = [1, 2, 2, 3, 5, 5, 6, 6, 12];

/// The libdeflate level for zip compression level `level` (1–9; others are clamped).
pub fn libdeflate_level(level: u32) -> i32 {
    LIBDEFLATE_LEVELS[level.clamp(1, 9) as usize - 1]
}

/// Why a piece of deflate data could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum DeflateError {
    /// libdeflate gave data that does not parse as deflate (a bug, never the input's fault).
    #[error("the compressor produced deflate data that does not parse: {0}")]
    Malformed(&'static str),
    /// libdeflate refused the level.
    #[error("compression level {0} is not supported")]
    Level(u32),
    /// libdeflate ran out of room, which its own bound rules out.
    #[error("the compressor ran out of room")]
    NoRoom,
}

impl From<DeflateError> for io::Error {
    fn from(error: DeflateError) -> Self {
        io::Error::other(error)
    }
}

/// Compresses blocks with one fixed level.
pub struct BlockCompressor {
    compressor: libdeflater::Compressor,
    out: Vec<u8>,
}

impl BlockCompressor {
    /// A compressor at zip level `level` (1–9).
    pub fn new(level: u32) -> Result<Self, DeflateError> {
        let lvl = libdeflater::CompressionLvl::new(libdeflate_level(level))
            .map_err(|_| DeflateError::Level(level))?;
        Ok(BlockCompressor {
            compressor: libdeflater::Compressor::new(lvl),
            out: Vec::new(),
        })
    }

    /// Compresses `data` as one piece of a stream: the last piece ends the stream, every other
    /// one ends byte-aligned with no final block, ready for the next piece to follow.
    pub fn compress(&mut self, data: &[u8], last: bool) -> Result<Vec<u8>, DeflateError> {
        let mut piece = Vec::new();
        self.compress_into(data, last, &mut piece)?;
        Ok(piece)
    }

    /// [`BlockCompressor::compress`] into `piece` (cleared first), reusing its memory.
    pub fn compress_into(
        &mut self,
        data: &[u8],
        last: bool,
        piece: &mut Vec<u8>,
    ) -> Result<(), DeflateError> {
        let bound = self.compressor.deflate_compress_bound(data.len());
        if self.out.len() < bound {
            self.out.resize(bound, 0);
        }
        let n = self
            .compressor
            .deflate_compress(data, &mut self.out)
            .map_err(|_| DeflateError::NoRoom)?;
        piece.clear();
        piece.extend_from_slice(&self.out[..n]);
        if !last {
            make_joinable(piece)?;
        }
        Ok(())
    }
}

/// Turns a complete deflate stream into a non-final piece ending on a byte boundary.
fn make_joinable(piece: &mut Vec<u8>) -> Result<(), DeflateError> {
    let layout = stream_layout(piece)?;
    piece[layout.final_header_bit / 8] &= !(1u8 << (layout.final_header_bit % 8));
    // The bits after the end-of-block code up to the byte boundary are zero; an empty stored
    // block's header is three zero bits, so it fits there when there are at least three of them,
    // else it spills into one more zero byte.
    piece.truncate(layout.end_bit.div_ceil(8));
    let spare = piece.len() * 8 - layout.end_bit;
    if spare < 3 {
        piece.push(0);
    }
    piece.extend_from_slice(&EMPTY_STORED_LEN);
    Ok(())
}

/// Where the final block of a deflate stream starts and where the stream ends, in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLayout {
    /// Bit offset of the final block's `BFINAL` bit.
    pub final_header_bit: usize,
    /// Bit offset just past the final block's end-of-block code (or stored data).
    pub end_bit: usize,
}

/// Reads bits least significant first, as deflate packs them. Past the end of the data it reads
/// zeros; `overran` then tells.
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte not yet counted in `buffer`.
    next: usize,
    /// The next `count` bits, lowest first. Bits above them are either zero or the bits that
    /// follow (a whole word is loaded at a time), so filling again never changes them.
    buffer: u64,
    count: u32,
}

/// Bits [`Bits::refill`] guarantees at least.
const REFILLED: u32 = 56;

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            next: 0,
            buffer: 0,
            count: 0,
        }
    }

    /// Bits consumed so far.
    fn position(&self) -> usize {
        self.next * 8 - self.count as usize
    }

    /// Tops the buffer up to at least [`REFILLED`] bits: a whole word at a time while one
    /// remains, then byte by byte, with zeros past the end.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.next..self.next + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            self.buffer |= word << self.count;
            let bytes = (63 - self.count) / 8;
            self.next += bytes as usize;
            self.count += bytes * 8;
        } else {
            while self.count < REFILLED {
                let byte = self.data.get(self.next).copied().unwrap_or(0);
                self.buffer |= u64::from(byte) << self.count;
                self.next += 1;
                self.count += 8;
            }
        }
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buffer >>= n;
        self.count -= n;
    }

    /// The next `n` (at most 16) bits, consumed.
    fn take(&mut self, n: u32) -> u64 {
        if self.count < n {
            self.refill();
        }
        let value = self.buffer & ((1u64 << n) - 1);
        self.consume(n);
        value
    }

    fn align(&mut self) {
        let drop = self.count % 8;
        self.consume(drop);
    }

    fn overran(&self) -> bool {
        self.position() > self.data.len() * 8
    }
}

/// Bits a [`Table`] looks up at once: its entries fit in L1 cache; longer (rare) codes are
/// decoded one bit at a time.
const TABLE_BITS: u32 = 11;
/// An entry for a prefix of a code longer than [`TABLE_BITS`].
const LONG: u16 = 1 << 5;

/// A Huffman decoding table indexed by the next [`TABLE_BITS`] bits (fewer for a short code).
/// Each entry is `symbol << 5 | bits`, where `bits` counts the code and the extra bits that
/// follow it (the walker skips those unread); 0 where no code matches, [`LONG`] where the code is
/// longer than the table.
struct Table {
    mask: u64,
    entries: Vec<u16>,
    /// Codes per length, and the symbols in code order, for codes longer than the table.
    count: [u16; 16],
    symbols: Vec<u16>,
    /// Extra bits of each symbol.
    extra: Vec<u8>,
}

impl Table {
    /// The table of the canonical code with these code lengths; `extra` gives the extra bits
    /// that follow each symbol's code.
    fn new(lengths: &[u8], extra: impl Fn(usize) -> u8) -> Result<Self, DeflateError> {
        let max = u32::from(lengths.iter().copied().max().unwrap_or(0));
        if max == 0 || max > 15 {
            return Err(DeflateError::Malformed(
                "a Huffman code has no or too long codes",
            ));
        }
        let mut count = [0u16; 16];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        count[0] = 0;
        let mut next_code = [0u32; 16];
        let mut offset = [0usize; 16];
        let mut code = 0u32;
        for bits in 1..16 {
            code = (code + u32::from(count[bits - 1])) << 1;
            next_code[bits] = code;
            offset[bits] = offset[bits - 1] + usize::from(count[bits - 1]);
        }
        let table_bits = max.min(TABLE_BITS);
        let size = 1usize << table_bits;
        let mut entries = vec![0u16; size];
        let mut symbols = vec![0u16; lengths.len()];
        let extra: Vec<u8> = (0..lengths.len()).map(extra).collect();
        for (symbol, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let len32 = u32::from(len);
            let code = next_code[usize::from(len)];
            next_code[usize::from(len)] += 1;
            if code >= 1 << len32 {
                return Err(DeflateError::Malformed("a Huffman code is over-subscribed"));
            }
            symbols[offset[usize::from(len)]] = symbol as u16;
            offset[usize::from(len)] += 1;
            let reversed = (code.reverse_bits() >> (32 - len32)) as usize;
            if len32 <= table_bits {
                let entry = (symbol as u16) << 5 | u16::from(len + extra[symbol]);
                let mut at = reversed;
                while at < size {
                    entries[at] = entry;
                    at += 1 << len32;
                }
            } else {
                entries[reversed & (size - 1)] = LONG;
            }
        }
        Ok(Table {
            mask: (1u64 << table_bits) - 1,
            entries,
            count,
            symbols,
            extra,
        })
    }

    /// A table that matches nothing (a block with no distance codes).
    fn empty() -> Table {
        Table {
            mask: 0,
            entries: vec![0],
            count: [0; 16],
            symbols: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Decodes one symbol (and skips its extra bits); the buffer must hold enough bits.
    #[inline(always)]
    fn skip(&self, bits: &mut Bits<'_>) -> Result<u16, DeflateError> {
        let entry = self.entries[(bits.buffer & self.mask) as usize];
        let len = u32::from(entry & 0x1f);
        if len == 0 {
            return self.skip_long(bits, entry);
        }
        bits.consume(len);
        Ok(entry >> 5)
    }

    /// Decodes a code longer than the table one bit at a time (canonical decoding, as zlib's
    /// reference decoder `puff` does).
    #[cold]
    fn skip_long(&self, bits: &mut Bits<'_>, entry: u16) -> Result<u16, DeflateError> {
        let no_code = DeflateError::Malformed("a bit pattern matches no Huffman code");
        if entry != LONG {
            return Err(no_code);
        }
        let (mut code, mut first, mut index) = (0i32, 0i32, 0usize);
        for len in 1..16u32 {
            code |= ((bits.buffer >> (len - 1)) & 1) as i32;
            let count = i32::from(self.count[len as usize]);
            if code - count < first {
                let symbol = self.symbols[index + (code - first) as usize];
                bits.consume(len + u32::from(self.extra[usize::from(symbol)]));
                return Ok(symbol);
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(no_code)
    }

    /// Decodes one symbol, refilling first.
    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, DeflateError> {
        if bits.count < 16 {
            bits.refill();
        }
        self.skip(bits)
    }
}

/// Extra bits of length codes 257–285.
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Extra bits of distance codes 0–29.
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code-length code lengths are sent in.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
/// Bits one literal/length symbol and one distance take at most, extra bits included.
const MOST_BITS_PER_MATCH: u32 = (15 + 5) + (15 + 13);

fn length_extra(symbol: usize) -> u8 {
    symbol
        .checked_sub(257)
        .and_then(|at| LENGTH_EXTRA.get(at))
        .copied()
        .unwrap_or(0)
}

fn distance_extra(symbol: usize) -> u8 {
    DISTANCE_EXTRA.get(symbol).copied().unwrap_or(0)
}

fn fixed_tables() -> Result<(Table, Table), DeflateError> {
    let mut litlen = [0u8; 288];
    litlen[..144].fill(8);
    litlen[144..256].fill(9);
    litlen[256..280].fill(7);
    litlen[280..].fill(8);
    Ok((
        Table::new(&litlen, length_extra)?,
        Table::new(&[5u8; 30], distance_extra)?,
    ))
}

fn dynamic_tables(bits: &mut Bits<'_>) -> Result<(Table, Table), DeflateError> {
    let hlit = bits.take(5) as usize + 257;
    let hdist = bits.take(5) as usize + 1;
    let hclen = bits.take(4) as usize + 4;
    let mut code_lengths = [0u8; 19];
    for &at in &CODE_LENGTH_ORDER[..hclen] {
        code_lengths[at] = bits.take(3) as u8;
    }
    let code_table = Table::new(&code_lengths, |_| 0)?;
    let mut lengths = vec![0u8; hlit + hdist];
    let mut i = 0;
    while i < lengths.len() {
        let symbol = code_table.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => {
                let previous = *lengths[..i].last().ok_or(DeflateError::Malformed(
                    "a repeat code has nothing to repeat",
                ))?;
                (previous, 3 + bits.take(2) as usize)
            }
            17 => (0, 3 + bits.take(3) as usize),
            _ => (0, 11 + bits.take(7) as usize),
        };
        let end = i + repeat;
        if end > lengths.len() {
            return Err(DeflateError::Malformed("code lengths run past their count"));
        }
        lengths[i..end].fill(value);
        i = end;
        if bits.overran() {
            return Err(DeflateError::Malformed("the stream ends inside a block"));
        }
    }
    if lengths[256] == 0 {
        return Err(DeflateError::Malformed("a block has no end-of-block code"));
    }
    let distance = &lengths[hlit..];
    let distance_table = if distance.iter().all(|&l| l == 0) {
        // Only literals: the table is never consulted.
        Table::empty()
    } else {
        Table::new(distance, distance_extra)?
    };
    Ok((Table::new(&lengths[..hlit], length_extra)?, distance_table))
}

/// Skips the symbols of one Huffman-coded block up to and including its end-of-block code.
fn skip_huffman_block(
    bits: &mut Bits<'_>,
    litlen: &Table,
    distance: &Table,
) -> Result<(), DeflateError> {
    loop {
        if bits.count < MOST_BITS_PER_MATCH {
            if bits.overran() {
                return Err(DeflateError::Malformed("the stream ends inside a block"));
            }
            bits.refill();
        }
        match litlen.skip(bits)? {
            0..=255 => {}
            256 => return Ok(()),
            257..=285 => {
                if distance.skip(bits)? >= 30 {
                    return Err(DeflateError::Malformed("an invalid distance code"));
                }
            }
            _ => return Err(DeflateError::Malformed("an invalid length code")),
        }
    }
}

/// Walks the blocks of a complete raw deflate stream and says where its final block starts and
/// where the stream ends.
pub fn stream_layout(stream: &[u8]) -> Result<StreamLayout, DeflateError> {
    let mut bits = Bits::new(stream);
    let mut fixed: Option<(Table, Table)> = None;
    loop {
        let header_bit = bits.position();
        let is_final = bits.take(1) == 1;
        match bits.take(2) {
            0 => {
                bits.align();
                let len = bits.take(16) as usize;
                let nlen = bits.take(16) as usize;
                if len != !nlen & 0xffff {
                    return Err(DeflateError::Malformed(
                        "a stored block's length check fails",
                    ));
                }
                // Whole bytes remain in the buffer after the length; skip them, then the rest.
                let in_buffer = (bits.count / 8) as usize;
                if len <= in_buffer {
                    bits.consume(len as u32 * 8);
                } else {
                    bits.next += len - in_buffer;
                    bits.buffer = 0;
                    bits.count = 0;
                }
            }
            kind @ (1 | 2) => {
                if kind == 1 {
                    if fixed.is_none() {
                        fixed = Some(fixed_tables()?);
                    }
                    let (litlen, distance) = fixed.as_ref().expect("just built");
                    skip_huffman_block(&mut bits, litlen, distance)?;
                } else {
                    let (litlen, distance) = dynamic_tables(&mut bits)?;
                    skip_huffman_block(&mut bits, &litlen, &distance)?;
                }
            }
            _ => return Err(DeflateError::Malformed("a block of the reserved type 3")),
        }
        if bits.overran() {
            return Err(DeflateError::Malformed("the stream ends inside a block"));
        }
        if is_final {
            return Ok(StreamLayout {
                final_header_bit: header_bit,
                end_bit: bits.position(),
            });
        }
    }
}

/// What a compressed stream came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// CRC-32 of the input.
    pub crc32: u32,
    /// Input bytes.
    pub size: u64,
    /// Output bytes.
    pub compressed_size: u64,
    /// Output bytes of each block's piece, in order (what a piece table lists).
    pub piece_lengths: Vec<u32>,
}

/// Compresses exactly `len` bytes of `input` as one raw deflate stream into `out`, on `workers`
/// threads, calling `observe` with each block of input in order (on the reading thread, so a
/// hash of the input runs beside the compression). Memory is a few blocks per worker.
///
/// Fails with `UnexpectedEof` if `input` ends early, or `InvalidData` if it holds more than
/// `len` bytes (the file changed while it was read).
pub fn compress_stream<R: Read + Send, W: Write>(
    mut input: R,
    len: u64,
    level: u32,
    workers: usize,
    out: &mut W,
    observe: &mut (dyn FnMut(&[u8]) + Send),
) -> io::Result<StreamSummary> {
    let workers = workers.max(1);
    let blocks = len.div_ceil(BLOCK_SIZE as u64).max(1);
    // One block waiting per worker plus the one being read: enough to keep every core busy.
    let in_flight = workers + 1;
    type Done = io::Result<(Vec<u8>, Vec<u8>, u32)>;
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(in_flight);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Done)>(in_flight);
    // A block is read only into one of `in_flight` buffers, each given back once its piece is
    // written, so memory is bounded however the workers are scheduled; the buffers (and the
    // pieces' buffers) are reused rather than allocated per block.
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(in_flight);
    for _ in 0..in_flight {
        free_tx.send(Vec::new()).expect("the channel has room");
    }
    let pieces: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    std::thread::scope(|scope| -> io::Result<StreamSummary> {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            let pieces = &pieces;
            scope.spawn(move || {
                let mut compressor = match BlockCompressor::new(level) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = done_tx.send((0, Err(e.into())));
                        return;
                    }
                };
                loop {
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((index, data))) = job else { return };
                    let crc = crc32fast::hash(&data);
                    let mut piece = pieces
                        .lock()
                        .ok()
                        .and_then(|mut pool| pool.pop())
                        .unwrap_or_default();
                    let result = compressor
                        .compress_into(&data, index + 1 == blocks, &mut piece)
                        .map(|()| (piece, data, crc))
                        .map_err(io::Error::from);
                    if done_tx.send((index, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);

        // The writer gathers pieces in order on this scope's thread while a reader feeds jobs.
        let reader = scope.spawn(move || -> io::Result<()> {
            let mut remaining = len;
            for index in 0..blocks {
                let Ok(mut data) = free_rx.recv() else {
                    // The writer stopped; it reports why.
                    return Ok(());
                };
                let want = remaining.min(BLOCK_SIZE as u64) as usize;
                data.resize(want, 0);
                input.read_exact(&mut data)?;
                remaining -= want as u64;
                observe(&data);
                if job_tx.send((index, data)).is_err() {
                    return Ok(());
                }
            }
            let mut probe = [0u8; 1];
            if input.read(&mut probe)? != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file grew while it was read",
                ));
            }
            Ok(())
        });

        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut crc = crc32fast::Hasher::new();
        let mut summary = StreamSummary {
            crc32: 0,
            size: 0,
            compressed_size: 0,
            piece_lengths: Vec::with_capacity(usize::try_from(blocks).unwrap_or(0).min(1 << 16)),
        };
        let mut failure: Option<io::Error> = None;
        for (index, result) in done_rx.iter() {
            match result {
                Ok(done) => {
                    pending.insert(index, done);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            while let Some((piece, data, block_crc)) = pending.remove(&next) {
                if let Err(e) = out.write_all(&piece) {
                    failure = Some(e);
                    break;
                }
                let size = data.len() as u64;
                crc.combine(&crc32fast::Hasher::new_with_initial_len(block_crc, size));
                summary.size += size;
                summary.compressed_size += piece.len() as u64;
                // A piece is at most a little larger than its block.
                summary.piece_lengths.push(piece.len() as u32);
                next += 1;
                if let Ok(mut pool) = pieces.lock() {
                    pool.push(piece);
                }
                let _ = free_tx.try_send(data);
            }
            if failure.is_some() {
                break;
            }
        }
        // Dropping the receiver stops workers and, through them, the reader.
        drop(done_rx);
        drop(free_tx);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read?;
        if let Some(e) = failure {
            return Err(e);
        }
        if next != blocks {
            return Err(io::Error::other("a compression worker stopped early"));
        }
        summary.crc32 = crc.finalize();
        Ok(summary)
    })
}

/// `len` bytes no compressor can shrink (a fixed-seed LCG), for tests of stored blocks.
#[cfg(test)]
pub(crate) fn noise(len: usize) -> Vec<u8> {
    let mut state = 7u64;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes that compress like code: words from a small alphabet, some noise.
    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        let words: [&[u8]; 6] = [
            b"mov rax, ",
            b"call ",
            b"\x48\x89\xe5",
            b"ret\n",
            b"push ",
            b"\0\0\0\0",
        ];
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 5 == 0 {
                out.push((state >> 24) as u8);
            } else {
                out.extend_from_slice(words[(state >> 40) as usize % words.len()]);
            }
        }
        out.truncate(len);
        out
    }

    fn inflate(stream: &[u8], size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(stream, &mut out)
            .expect("valid deflate");
        out.truncate(n);
        out
    }

    /// One complete stream of `data` from libdeflate at its `level`.
    fn libdeflate_stream(data: &[u8], level: i32) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let mut out = vec![0u8; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn compress_all(data: &[u8], level: u32, workers: usize) -> (Vec<u8>, StreamSummary) {
        let mut out = Vec::new();
        let mut seen = 0usize;
        let summary = compress_stream(
            data,
            data.len() as u64,
            level,
            workers,
            &mut out,
            &mut |block| seen += block.len(),
        )
        .unwrap();
        assert_eq!(seen, data.len());
        (out, summary)
    }

    #[test]
    fn the_walker_finds_the_final_block_of_every_block_type() {
        for level in [1, 6, 12] {
            for data in [
                sample(300_000, 3),
                vec![0u8; 100_000],
                b"a".to_vec(),
                Vec::new(),
            ] {
                let out = libdeflate_stream(&data, level);
                let layout = stream_layout(&out).unwrap();
                assert_eq!(layout.end_bit.div_ceil(8), out.len(), "level {level}");
                assert_eq!(
                    out[layout.final_header_bit / 8] >> (layout.final_header_bit % 8) & 1,
                    1
                );
            }
        }
        // Stored blocks (incompressible input at level 0 of zlib would be stored; libdeflate
        // stores random bytes).
        let out = libdeflate_stream(&noise(200_000), 6);
        let layout = stream_layout(&out).unwrap();
        assert_eq!(layout.end_bit.div_ceil(8), out.len());
    }

    #[test]
    fn codes_longer_than_the_lookup_table_are_walked() {
        // Fibonacci frequencies give the deepest Huffman trees: codes of up to 15 bits, past
        // the table's 11. The bytes are shuffled so few matches form.
        let mut data = Vec::new();
        let (mut a, mut b) = (1usize, 1usize);
        for symbol in 0..24u8 {
            data.extend(std::iter::repeat_n(symbol.wrapping_mul(37), a));
            (a, b) = (b, a + b);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..data.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for level in [1, 6, 12] {
            let out = libdeflate_stream(&data, level);
            let layout = stream_layout(&out).unwrap();
            assert_eq!(layout.end_bit.div_ceil(8), out.len(), "level {level}");
            // The first block's code really has codes longer than the table.
            let mut bits = Bits::new(&out);
            assert_eq!(bits.take(3) >> 1, 2, "a dynamic block");
            let (litlen, _) = dynamic_tables(&mut bits).unwrap();
            assert!(litlen.entries.contains(&LONG), "level {level}");
        }
        let (stream, _) = compress_all(&data, 6, 2);
        assert_eq!(inflate(&stream, data.len()), data);
    }

    #[test]
    fn joined_pieces_inflate_to_the_input_whatever_the_worker_count() {
        let data = sample(BLOCK_SIZE * 3 + 12_345, 11);
        let (one, summary) = compress_all(&data, 6, 1);
        for workers in [2, 4, 7] {
            assert_eq!(compress_all(&data, 6, workers).0, one, "{workers} workers");
        }
        assert_eq!(summary.crc32, crc32fast::hash(&data));
        assert_eq!(summary.size, data.len() as u64);
        assert_eq!(summary.compressed_size, one.len() as u64);
        assert_eq!(inflate(&one, data.len()), data);
        // zlib's inflater (flate2) agrees.
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(&one[..]), &mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn every_level_and_awkward_sizes_make_valid_streams() {
        for level in 1..=9 {
            for len in [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1] {
                let data = sample(len, u64::from(level) + len as u64);
                let (stream, summary) = compress_all(&data, level, 3);
                assert_eq!(
                    inflate(&stream, len.max(1)),
                    data,
                    "level {level} len {len}"
                );
                assert_eq!(summary.crc32, crc32fast::hash(&data));
            }
        }
    }

    #[test]
    fn input_shorter_or_longer_than_declared_is_an_error() {
        let data = sample(5000, 1);
        let mut out = Vec::new();
        let err = compress_stream(&data[..], 6000, 6, 2, &mut out, &mut |_| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = compress_stream(&data[..], 4000, 6, 2, &mut out, &mut |_| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn damaged_streams_are_refused_not_panicked_on() {
        let data = sample(100_000, 5);
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
        let mut out = vec![0u8; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(&data, &mut out).unwrap();
        let good = &out[..n];
        assert!(stream_layout(&good[..n / 2]).is_err());
        let mut state = 99u64;
        for _ in 0..200 {
            let mut bad = good.to_vec();
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let at = (state >> 33) as usize % bad.len();
            bad[at] ^= 1 << (state % 8);
            let _ = stream_layout(&bad);
        }
    }
}
