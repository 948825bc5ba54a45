//! The reproducible module zip: fixed entry order, one timestamp, fixed modes and compression,
//! hashed while it is written. Entries are compressed first (the large ones into unlinked
//! temporary files, on every core), then the zip is written front to back.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::deflate::{self, BlockCompressor, BLOCK_SIZE};
use crate::manifest::pieces::PieceTable;

pub use crate::manifest::layout::{DATA_MODE, MODULE_MODE};
/// The deflate level used unless another is asked for.
pub const DEFAULT_COMPRESSION: u32 = 6;
/// Seconds from the Unix epoch to 1980-01-01 00:00:00 UTC, the earliest time a zip can hold.
pub const ZIP_EPOCH: u64 = 315_532_800;

/// Errors while writing the zip.
#[derive(Debug, thiserror::Error)]
pub enum ZipWriteError {
    /// The compression level is outside 0–9.
    #[error("compression level {0} is out of range; give 0 (store) to 9 (smallest)")]
    BadCompression(u32),
    /// The timestamp cannot be written into a zip.
    #[error("timestamp {0} (seconds since 1970) is after 2107, the last year a zip entry can hold; set SOURCE_DATE_EPOCH to an earlier time")]
    TimestampOutOfRange(u64),
    /// An entry name too long for a zip header.
    #[error("zip entry name `{0}` is longer than 65535 bytes")]
    NameTooLong(String),
    /// Reading an input or writing the output failed.
    #[error("cannot write zip entry `{entry}`")]
    Entry {
        /// The entry being written.
        entry: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write the zip")]
    Io(#[from] io::Error),
}

/// How every entry of a zip is stamped and compressed.
#[derive(Debug, Clone, Copy)]
pub struct ZipStyle {
    /// Deflate level 1–9, or 0 to store.
    pub compression: u32,
    /// The one modification time of every entry, in seconds since 1970 (UTC).
    pub timestamp: u64,
}

impl Default for ZipStyle {
    fn default() -> Self {
        ZipStyle {
            compression: DEFAULT_COMPRESSION,
            timestamp: ZIP_EPOCH,
        }
    }
}

/// Compression method numbers of the zip format.
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;

/// Where an entry's stored bytes are.
pub enum EntryData {
    /// In memory (module.json).
    Memory(Vec<u8>),
    /// In an unlinked temporary file, from its start (the module, dependency archives).
    Spilled(File),
}

/// One entry, compressed and ready to be written: everything its headers need is known, so
/// the zip is written front to back without seeking back or data descriptors.
pub struct Entry {
    /// Entry name (`module.json`, `deps/x.tgz`).
    pub name: String,
    /// Unix mode (0644 or 0755).
    pub mode: u32,
    method: u16,
    crc32: u32,
    size: u64,
    compressed_size: u64,
    /// Where the independently compressed pieces are, listed in the central record so readers
    /// can inflate them on several cores; `None` for a stored or one-piece entry.
    pieces: Option<PieceTable>,
    data: EntryData,
}

impl Entry {
    /// Bytes of the uncompressed content.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes as stored in the zip.
    pub fn compressed_size(&self) -> u64 {
        self.compressed_size
    }
}

impl ZipStyle {
    /// Checks the level and the timestamp, so bad values fail before any work is done.
    pub fn check(&self) -> Result<(), ZipWriteError> {
        if self.compression > 9 {
            return Err(ZipWriteError::BadCompression(self.compression));
        }
        dos_datetime(self.timestamp).map(|_| ())
    }

    /// Compresses `data` in memory as entry `name` with unix `mode`.
    pub fn compress_bytes(
        &self,
        name: &str,
        mode: u32,
        data: &[u8],
    ) -> Result<Entry, ZipWriteError> {
        self.check()?;
        let entry_err = |source: io::Error| ZipWriteError::Entry {
            entry: name.to_string(),
            source,
        };
        let mut piece_lengths = Vec::new();
        let (method, stored) = if self.compression == 0 {
            (METHOD_STORED, data.to_vec())
        } else {
            let mut compressor =
                BlockCompressor::new(self.compression).map_err(|e| entry_err(e.into()))?;
            let mut stored = Vec::new();
            for (i, block) in data.chunks(BLOCK_SIZE.max(1)).enumerate() {
                let last = (i + 1) * BLOCK_SIZE >= data.len();
                let piece = compressor
                    .compress(block, last)
                    .map_err(|e| entry_err(e.into()))?;
                piece_lengths.push(piece.len() as u32);
                stored.extend(piece);
            }
            if data.is_empty() {
                stored = compressor
                    .compress(&[], true)
                    .map_err(|e| entry_err(e.into()))?;
            }
            (METHOD_DEFLATED, stored)
        };
        Ok(Entry {
            name: name.to_string(),
            mode,
            method,
            crc32: crc32fast::hash(data),
            size: data.len() as u64,
            compressed_size: stored.len() as u64,
            pieces: piece_table(piece_lengths),
            data: EntryData::Memory(stored),
        })
    }

    /// Compresses exactly `len` bytes of `input` as entry `name` on `workers` threads into an
    /// unlinked temporary file in `spill_dir` (else the system's temp folder), calling
    /// `observe` with the input in order (to hash it while it is compressed). Memory stays a
    /// few blocks per worker whatever `len` is.
    #[allow(clippy::too_many_arguments)]
    pub fn compress_stream<R: Read + Send>(
        &self,
        name: &str,
        mode: u32,
        input: R,
        len: u64,
        workers: usize,
        spill_dir: &Path,
        observe: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Entry, ZipWriteError> {
        self.check()?;
        let entry_err = |source: io::Error| ZipWriteError::Entry {
            entry: name.to_string(),
            source,
        };
        let spill = tempfile::tempfile_in(spill_dir)
            .or_else(|_| tempfile::tempfile())
            .map_err(entry_err)?;
        let mut out = io::BufWriter::with_capacity(256 * 1024, spill);
        let (method, crc32, compressed_size, piece_lengths) = if self.compression == 0 {
            let mut crc = crc32fast::Hasher::new();
            let mut copied = 0u64;
            let mut input = input.take(len);
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let n = input.read(&mut buffer).map_err(entry_err)?;
                if n == 0 {
                    break;
                }
                observe(&buffer[..n]);
                crc.update(&buffer[..n]);
                out.write_all(&buffer[..n]).map_err(entry_err)?;
                copied += n as u64;
            }
            if copied != len {
                return Err(entry_err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was read",
                )));
            }
            (METHOD_STORED, crc.finalize(), len, Vec::new())
        } else {
            let summary =
                deflate::compress_stream(input, len, self.compression, workers, &mut out, observe)
                    .map_err(entry_err)?;
            (
                METHOD_DEFLATED,
                summary.crc32,
                summary.compressed_size,
                summary.piece_lengths,
            )
        };
        let mut spill = out.into_inner().map_err(|e| entry_err(e.into_error()))?;
        spill.seek(SeekFrom::Start(0)).map_err(entry_err)?;
        Ok(Entry {
            name: name.to_string(),
            mode,
            method,
            crc32,
            size: len,
            compressed_size,
            pieces: piece_table(piece_lengths),
            data: EntryData::Spilled(spill),
        })
    }
}

/// The piece table of an entry compressed in `lengths.len()` pieces of [`BLOCK_SIZE`] bytes;
/// none for one piece, which a reader inflates as fast without it.
fn piece_table(lengths: Vec<u32>) -> Option<PieceTable> {
    (lengths.len() > 1).then_some(PieceTable {
        piece_size: BLOCK_SIZE as u32,
        compressed: lengths,
    })
}

/// The MS-DOS (time, date) fields of `seconds` since 1970 (UTC). Times before 1980 become
/// 1980-01-01, as the format cannot hold them; odd seconds round down, as the format stores
/// two-second steps.
pub fn dos_datetime(seconds: u64) -> Result<(u16, u16), ZipWriteError> {
    let seconds = seconds.max(ZIP_EPOCH);
    let days = seconds / 86_400;
    let in_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    if year > 2107 {
        return Err(ZipWriteError::TimestampOutOfRange(seconds));
    }
    let time = ((in_day / 3600) << 11) | (((in_day % 3600) / 60) << 5) | ((in_day % 60) / 2);
    let date = (year - 1980) << 9 | u64::from(month) << 5 | u64::from(day);
    Ok((time as u16, date as u16))
}

/// Year, month (1–12) and day (1–31) of the day `days` after 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u8;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u8;
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A writer that hashes and counts every byte on its way to `inner`.
///
/// The zip library asks for its position and, at the end, seeks to where it already is; both
/// are answered from the count. Any seek elsewhere would rewrite bytes already hashed, so it is
/// refused rather than silently giving a wrong checksum.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Flushes and returns the inner writer, the byte count and the hex SHA-256 of all bytes.
    pub fn finish(mut self) -> io::Result<(W, u64, String)> {
        self.inner.flush()?;
        Ok((
            self.inner,
            self.written,
            hex::encode(self.hasher.finalize()),
        ))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Seek for HashingWriter<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) | SeekFrom::Current(delta) => {
                self.written.checked_add_signed(delta)
            }
        };
        if target == Some(self.written) {
            Ok(self.written)
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the zip is hashed while it is written and cannot seek back",
            ))
        }
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.written)
    }
}

/// The largest value a 32-bit zip field holds; at or above it the zip64 extra field holds the
/// value instead.
const ZIP32_LIMIT: u64 = 0xffff_ffff;

/// Writes `entries` in order as a zip to `out`; returns `out`, the zip's size and hex SHA-256.
///
/// Every header is written with its final values (sizes and CRC are known up front), so the
/// zip holds no data descriptors. An entry whose sizes reach 4 GiB, or that starts beyond
/// 4 GiB, gets zip64 fields; the decision depends only on the inputs, so the bytes stay
/// reproducible.
pub fn write_zip<W: Write>(
    out: W,
    style: &ZipStyle,
    entries: Vec<Entry>,
) -> Result<(W, u64, String), ZipWriteError> {
    let (time, date) = dos_datetime(style.timestamp)?;
    let mut out = HashingWriter::new(out);
    let mut central = Vec::new();
    let mut count = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    for entry in entries {
        let entry_err = |source: io::Error| ZipWriteError::Entry {
            entry: entry.name.clone(),
            source,
        };
        let name = entry.name.as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| ZipWriteError::NameTooLong(entry.name.clone()))?;
        let offset = out.written;
        let sizes_need_64 = entry.size >= ZIP32_LIMIT || entry.compressed_size >= ZIP32_LIMIT;
        // Bit 11: the name is UTF-8.
        let flags: u16 = if entry.name.is_ascii() { 0 } else { 1 << 11 };
        let version_needed: u16 = if sizes_need_64 || offset >= ZIP32_LIMIT {
            45
        } else {
            20
        };
        let (size32, compressed32) = if sizes_need_64 {
            (ZIP32_LIMIT as u32, ZIP32_LIMIT as u32)
        } else {
            (entry.size as u32, entry.compressed_size as u32)
        };

        let mut local = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut local, 0x0403_4b50);
        put16(&mut local, version_needed);
        put16(&mut local, flags);
        put16(&mut local, entry.method);
        put16(&mut local, time);
        put16(&mut local, date);
        put32(&mut local, entry.crc32);
        put32(&mut local, compressed32);
        put32(&mut local, size32);
        put16(&mut local, name_len);
        put16(&mut local, if sizes_need_64 { 20 } else { 0 });
        local.extend_from_slice(name);
        if sizes_need_64 {
            put16(&mut local, 0x0001);
            put16(&mut local, 16);
            put64(&mut local, entry.size);
            put64(&mut local, entry.compressed_size);
        }
        out.write_all(&local)?;
        match entry.data {
            EntryData::Memory(bytes) => out.write_all(&bytes)?,
            EntryData::Spilled(mut file) => {
                let mut left = entry.compressed_size;
                while left > 0 {
                    let want = left.min(buffer.len() as u64) as usize;
                    file.read_exact(&mut buffer[..want]).map_err(entry_err)?;
                    out.write_all(&buffer[..want])?;
                    left -= want as u64;
                }
            }
        }

        // The central record: the same fields, plus the zip64 offset when it is needed.
        let mut zip64 = Vec::new();
        if sizes_need_64 {
            put64(&mut zip64, entry.size);
            put64(&mut zip64, entry.compressed_size);
        }
        if offset >= ZIP32_LIMIT {
            put64(&mut zip64, offset);
        }
        let mut extra = Vec::new();
        if !zip64.is_empty() {
            put16(&mut extra, 0x0001);
            put16(&mut extra, zip64.len() as u16);
            extra.extend_from_slice(&zip64);
        }
        if let Some(field) = entry.pieces.as_ref().and_then(PieceTable::to_extra_field) {
            extra.extend_from_slice(&field);
        }
        put32(&mut central, 0x0201_4b50);
        // Made by Unix (3), spec 2.0 (or 4.5 with zip64).
        put16(&mut central, 3 << 8 | version_needed);
        put16(&mut central, version_needed);
        put16(&mut central, flags);
        put16(&mut central, entry.method);
        put16(&mut central, time);
        put16(&mut central, date);
        put32(&mut central, entry.crc32);
        put32(&mut central, compressed32);
        put32(&mut central, size32);
        put16(&mut central, name_len);
        // At most the zip64 field (28 bytes) and a piece table (bounded to fit beside it).
        put16(&mut central, extra.len() as u16);
        put16(&mut central, 0); // comment
        put16(&mut central, 0); // disk
        put16(&mut central, 0); // internal attributes
                                // A regular file (0o100000) with its permissions, in the upper half.
        put32(&mut central, (0o100_000 | (entry.mode & 0o7777)) << 16);
        put32(&mut central, offset.min(ZIP32_LIMIT) as u32);
        central.extend_from_slice(name);
        central.extend_from_slice(&extra);
        count += 1;
    }

    let central_offset = out.written;
    let central_size = central.len() as u64;
    out.write_all(&central)?;
    let needs_64 = central_offset >= ZIP32_LIMIT || central_size >= ZIP32_LIMIT || count >= 0xffff;
    if needs_64 {
        let end64_offset = out.written;
        let mut end64 = Vec::with_capacity(76);
        put32(&mut end64, 0x0606_4b50);
        put64(&mut end64, 44);
        put16(&mut end64, 3 << 8 | 45);
        put16(&mut end64, 45);
        put32(&mut end64, 0);
        put32(&mut end64, 0);
        put64(&mut end64, count);
        put64(&mut end64, count);
        put64(&mut end64, central_size);
        put64(&mut end64, central_offset);
        // The locator.
        put32(&mut end64, 0x0706_4b50);
        put32(&mut end64, 0);
        put64(&mut end64, end64_offset);
        put32(&mut end64, 1);
        out.write_all(&end64)?;
    }
    let mut end = Vec::with_capacity(22);
    put32(&mut end, 0x0605_4b50);
    put16(&mut end, 0);
    put16(&mut end, 0);
    put16(&mut end, count.min(0xffff) as u16);
    put16(&mut end, count.min(0xffff) as u16);
    put32(&mut end, central_size.min(ZIP32_LIMIT) as u32);
    put32(&mut end, central_offset.min(ZIP32_LIMIT) as u32);
    put16(&mut end, 0);
    out.write_all(&end)?;
    Ok(out.finish()?)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use zip::CompressionMethod;

    fn fields(seconds: u64) -> (u16, u8, u8, u8, u8, u8) {
        let (time, date) = dos_datetime(seconds).unwrap();
        (
            (date >> 9) + 1980,
            ((date >> 5) & 0xf) as u8,
            (date & 0x1f) as u8,
            (time >> 11) as u8,
            ((time >> 5) & 0x3f) as u8,
            ((time & 0x1f) * 2) as u8,
        )
    }

    #[test]
    fn dates_convert_from_epoch_seconds() {
        // 2021-01-02 03:04:06 UTC
        assert_eq!(fields(1_609_556_646), (2021, 1, 2, 3, 4, 6));
        // Leap day.
        let (year, month, day, ..) = fields(1_709_164_800);
        assert_eq!((year, month, day), (2024, 2, 29));
        // Before 1980 clamps; the first second of 1980 is the zip epoch.
        assert_eq!(fields(0), (1980, 1, 1, 0, 0, 0));
        assert!(dos_datetime(5_000_000_000).is_err());
    }

    fn stream_entry(style: &ZipStyle, name: &str, data: &[u8], workers: usize) -> Entry {
        style
            .compress_stream(
                name,
                MODULE_MODE,
                data,
                data.len() as u64,
                workers,
                &std::env::temp_dir(),
                &mut |_| {},
            )
            .unwrap()
    }

    #[test]
    fn the_hash_is_of_the_bytes_written_and_entries_keep_their_order() {
        let style = ZipStyle::default();
        let module: Vec<u8> = (0..3_000_000u32)
            .map(|i| ((i % 251) ^ (i / 7919)) as u8)
            .collect();
        let (bytes, size, sha) = write_zip(
            Vec::new(),
            &style,
            vec![
                style
                    .compress_bytes("module.json", DATA_MODE, b"{}\n")
                    .unwrap(),
                stream_entry(&style, "m.so", &module, 3),
            ],
        )
        .unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.by_index(0).unwrap().name().unwrap(), "module.json");
        assert_eq!(
            archive.by_index(0).unwrap().unix_mode().map(|m| m & 0o777),
            Some(0o644)
        );
        let mut so = archive.by_index(1).unwrap();
        assert_eq!(so.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(so.compression(), CompressionMethod::Deflated);
        let mut data = Vec::new();
        so.read_to_end(&mut data).unwrap();
        assert_eq!(data, module);
    }

    #[test]
    fn level_zero_stores_and_out_of_range_levels_are_refused() {
        let stored = ZipStyle {
            compression: 0,
            ..ZipStyle::default()
        };
        let (bytes, _, _) = write_zip(
            Vec::new(),
            &stored,
            vec![
                stored.compress_bytes("a", DATA_MODE, b"aaaa").unwrap(),
                stream_entry(&stored, "b", b"bbbb", 2),
            ],
        )
        .unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        for i in 0..2 {
            let mut entry = archive.by_index(i).unwrap();
            assert_eq!(entry.compression(), CompressionMethod::Stored);
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            assert_eq!(text.len(), 4);
        }
        let bad = ZipStyle {
            compression: 10,
            ..ZipStyle::default()
        };
        assert!(matches!(
            bad.check(),
            Err(ZipWriteError::BadCompression(10))
        ));
    }

    #[test]
    fn entries_of_four_gib_or_more_get_zip64_fields() {
        // The headers of a 5 GiB entry, without 5 GiB of data: the central directory must carry
        // the sizes in a zip64 extra field that readers take them from.
        // It lists its 5,120 pieces beside the zip64 field.
        let size = 5u64 << 30;
        let pieces = (size / BLOCK_SIZE as u64) as usize;
        let entry = Entry {
            name: "big.so".into(),
            mode: MODULE_MODE,
            method: METHOD_DEFLATED,
            crc32: 0,
            size,
            compressed_size: pieces as u64,
            pieces: piece_table(vec![1; pieces]),
            data: EntryData::Memory(vec![0; pieces]),
        };
        let (bytes, _, _) = write_zip(Vec::new(), &ZipStyle::default(), vec![entry]).unwrap();
        // Local header: both 32-bit sizes say "see zip64", version needed 4.5.
        assert_eq!(&bytes[18..26], &[0xff; 8]);
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 45);
        assert_eq!(u64::from_le_bytes(bytes[40..48].try_into().unwrap()), size);
        let zip_file = tempfile::NamedTempFile::new().unwrap();
        let python = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\ni = z.infolist()[0]\nprint(i.file_size, i.compress_size, len(i.extra))",
            ])
            .arg({
                std::fs::write(zip_file.path(), &bytes).unwrap();
                zip_file.path()
            })
            .output()
            .expect("python3");
        assert!(
            python.status.success(),
            "{}",
            String::from_utf8_lossy(&python.stderr)
        );
        // The central extra holds the zip64 field (4 + 16 bytes) and the table (4 + 5 + 4 each).
        assert_eq!(
            String::from_utf8_lossy(&python.stdout).trim(),
            format!("{size} {pieces} {}", 20 + 9 + 4 * pieces)
        );
    }

    #[test]
    fn seeking_back_is_refused() {
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"abc").unwrap();
        assert_eq!(writer.seek(SeekFrom::End(0)).unwrap(), 3);
        assert_eq!(writer.seek(SeekFrom::Start(3)).unwrap(), 3);
        assert!(writer.seek(SeekFrom::Start(0)).is_err());
    }
}
