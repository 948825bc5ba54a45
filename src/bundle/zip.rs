//! The zip container, read by offset (never mapped): the end of central directory (zip64 too),
//! every central entry checked against its local header, the data ranges, and a reader that
//! inflates one entry while checking it against what its headers promise.
//!
//! Reading by offset (`pread`) rather than through a mapping means a file that shrinks while it is
//! read gives an error naming it, never a `SIGBUS`.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::manifest::pieces::PieceTable;

/// How much compressed data is fetched per read.
pub(crate) const READ_BLOCK: usize = 256 * 1024;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// General purpose flag bits.
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// The most a central directory may take: far above 1,000 entries with long names.
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;

/// Compression methods this reader inflates.
pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATED: u16 = 8;

/// The zip file, read by offset.
#[derive(Debug)]
pub(crate) struct ZipSource {
    file: File,
    /// The length when opened.
    pub len: u64,
    /// Set when a read found the file shorter than it was at open.
    shrank: AtomicBool,
}

impl ZipSource {
    pub fn new(file: File, len: u64) -> ZipSource {
        ZipSource {
            file,
            len,
            shrank: AtomicBool::new(false),
        }
    }

    /// The open file and its length at open, for keeping after the read.
    pub fn into_archive(self) -> super::model::Archive {
        super::model::Archive::new(self.file, self.len)
    }

    /// Whether a read found the file shorter than it was when opened.
    pub fn shrank(&self) -> bool {
        self.shrank.load(Ordering::Relaxed)
    }

    /// The error a shrunk file gives.
    pub fn shrank_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the file became shorter than its {} bytes while it was read (truncated or replaced meanwhile); read it again once nothing writes to it",
                self.len
            ),
        )
    }

    /// Fills `buf` from `offset`; a file that ends early is an error naming it.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    self.shrank.store(true, Ordering::Relaxed);
                    return Err(self.shrank_error());
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_vec(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// A reader of `len` bytes from `offset`.
    pub fn range(&self, offset: u64, len: u64) -> RangeReader<'_> {
        RangeReader {
            source: self,
            pos: offset,
            end: offset.saturating_add(len),
        }
    }
}

/// Reads a byte range of the zip by offset.
pub(crate) struct RangeReader<'a> {
    source: &'a ZipSource,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        self.source.read_exact_at(&mut buf[..want], self.pos)?;
        self.pos += want as u64;
        Ok(want)
    }
}

/// Why a file is not a zip this reader accepts (the zip as a whole, not one entry).
#[derive(Debug)]
pub(crate) enum IndexError {
    /// Not a zip, or its central directory is damaged.
    NotAZip(String),
    /// A central entry disagrees with its local header, or data ranges overlap.
    Inconsistent {
        /// The entry.
        entry: String,
        /// What disagrees.
        reason: String,
    },
    /// The file cannot be read.
    Io(io::Error),
}

impl From<io::Error> for IndexError {
    fn from(e: io::Error) -> Self {
        IndexError::Io(e)
    }
}

/// One entry of the central directory, checked against its local header.
#[derive(Debug, Clone)]
pub(crate) struct CentralEntry {
    /// The name as stored, decoded lossily when not UTF-8.
    pub name: String,
    /// The "version made by" host system (3 = Unix).
    pub system: u8,
    /// General purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Compressed size.
    pub compressed_size: u64,
    /// Uncompressed size.
    pub size: u64,
    /// External attributes (Unix mode in the high 16 bits when made on Unix).
    pub external_attributes: u32,
    /// Where the entry's data starts, after its local header.
    pub data_start: u64,
    /// The pieces a deflated entry was compressed in, when its central record lists them and
    /// the list agrees with its sizes (a hint for inflating on several cores).
    pub pieces: Option<PieceTable>,
}

impl CentralEntry {
    /// The Unix mode (file type and permission bits) when the zip was made on Unix.
    pub fn unix_mode(&self) -> Option<u32> {
        let mode = self.external_attributes >> 16;
        (self.system == 3 && mode != 0).then_some(mode)
    }

    /// The compression method's name.
    pub fn method_name(&self) -> String {
        match self.method {
            METHOD_STORED => "Stored".into(),
            METHOD_DEFLATED => "Deflated".into(),
            12 => "Bzip2".into(),
            14 => "Lzma".into(),
            93 => "Zstd".into(),
            other => format!("Unknown({other})"),
        }
    }
}

/// The central directory of a zip: its entries (at most the cap) and how many it declares.
#[derive(Debug)]
pub(crate) struct ZipIndex {
    pub entries: Vec<CentralEntry>,
    /// Entries the end of central directory declares (may exceed `entries.len()`).
    pub declared_entries: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// The zip64 extended information of an extra field: the values that are 0xFFFFFFFF in the fixed
/// header, in their fixed order.
fn zip64_values(extra: &[u8], wanted: usize) -> Option<Vec<u64>> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at);
        let len = u16_at(extra, at + 2) as usize;
        let body = extra.get(at + 4..at + 4 + len)?;
        if id == ZIP64_EXTRA {
            if body.len() < wanted * 8 {
                return None;
            }
            return Some((0..wanted).map(|i| u64_at(body, i * 8)).collect());
        }
        at += 4 + len;
    }
    None
}

impl ZipIndex {
    /// Reads the central directory (at most `max_entries` entries) and checks every entry
    /// against its local header and every data range against the others.
    pub fn read(source: &ZipSource, max_entries: usize) -> Result<ZipIndex, IndexError> {
        let not_a_zip = |reason: &str| IndexError::NotAZip(reason.to_string());
        let len = source.len;
        if len < 22 {
            return Err(not_a_zip("it is too short to be a zip"));
        }
        let tail_len = len.min(22 + 65_535 + 20);
        let tail_start = len - tail_len;
        let tail = source.read_vec(tail_start, tail_len as usize)?;
        // The last end record whose comment ends within the file.
        let end_at = (0..=tail.len() - 22)
            .rev()
            .find(|&at| {
                u32_at(&tail, at) == END_SIGNATURE
                    && at + 22 + u16_at(&tail, at + 20) as usize <= tail.len()
            })
            .ok_or_else(|| not_a_zip("it has no end of central directory record"))?;
        let end = &tail[end_at..end_at + 22];
        let end_offset = tail_start + end_at as u64;
        if u16_at(end, 4) != 0 || u16_at(end, 6) != 0 {
            return Err(not_a_zip("it spans several disks"));
        }
        let mut declared = u16_at(end, 10) as u64;
        let mut cd_size = u32_at(end, 12) as u64;
        let mut cd_offset = u32_at(end, 16) as u64;
        let mut cd_limit = end_offset;
        if end_at >= 20 && u32_at(&tail, end_at - 20) == ZIP64_LOCATOR_SIGNATURE {
            let record_offset = u64_at(&tail, end_at - 20 + 8);
            if record_offset
                .checked_add(56)
                .is_none_or(|e| e > end_offset - 20)
            {
                return Err(not_a_zip("its zip64 end record lies outside the file"));
            }
            let record = source.read_vec(record_offset, 56)?;
            if u32_at(&record, 0) != ZIP64_END_SIGNATURE {
                return Err(not_a_zip("its zip64 end record is damaged"));
            }
            declared = u64_at(&record, 32);
            cd_size = u64_at(&record, 40);
            cd_offset = u64_at(&record, 48);
            cd_limit = record_offset;
        }
        if cd_offset.checked_add(cd_size).is_none_or(|e| e > cd_limit) {
            return Err(not_a_zip(
                "its central directory lies outside the file (data before or after the zip?)",
            ));
        }
        if cd_size > MAX_CENTRAL_DIRECTORY {
            return Err(not_a_zip("its central directory is larger than 64 MiB"));
        }
        let cd = source.read_vec(cd_offset, cd_size as usize)?;
        let mut entries = Vec::new();
        let mut at = 0usize;
        let keep = declared.min(max_entries as u64) as usize;
        while entries.len() < keep {
            let fixed = cd
                .get(at..at + 46)
                .ok_or_else(|| not_a_zip("its central directory ends before its last entry"))?;
            if u32_at(fixed, 0) != CENTRAL_SIGNATURE {
                return Err(not_a_zip("its central directory is damaged"));
            }
            let name_len = u16_at(fixed, 28) as usize;
            let extra_len = u16_at(fixed, 30) as usize;
            let comment_len = u16_at(fixed, 32) as usize;
            let var = cd
                .get(at + 46..at + 46 + name_len + extra_len + comment_len)
                .ok_or_else(|| not_a_zip("its central directory ends inside an entry"))?;
            let name_raw = &var[..name_len];
            let extra = &var[name_len..name_len + extra_len];
            let mut size = u32_at(fixed, 24) as u64;
            let mut compressed_size = u32_at(fixed, 20) as u64;
            let mut offset = u32_at(fixed, 42) as u64;
            let wanted = [size, compressed_size, offset]
                .iter()
                .filter(|v| **v == 0xFFFF_FFFF)
                .count();
            if wanted > 0 {
                let values = zip64_values(extra, wanted)
                    .ok_or_else(|| not_a_zip("an entry lacks its zip64 sizes"))?;
                let mut values = values.into_iter();
                for field in [&mut size, &mut compressed_size, &mut offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = values.next().unwrap_or(0);
                    }
                }
            }
            let entry = CentralEntry {
                name: String::from_utf8_lossy(name_raw).into_owned(),
                system: (u16_at(fixed, 4) >> 8) as u8,
                flags: u16_at(fixed, 8),
                method: u16_at(fixed, 10),
                crc32: u32_at(fixed, 16),
                compressed_size,
                size,
                external_attributes: u32_at(fixed, 38),
                data_start: 0,
                pieces: (u16_at(fixed, 10) == METHOD_DEFLATED)
                    .then(|| PieceTable::from_extra_fields(extra, size, compressed_size))
                    .flatten(),
            };
            entries.push((entry, name_raw.to_vec(), offset));
            at += 46 + name_len + extra_len + comment_len;
        }
        if (entries.len() as u64) < declared && declared <= max_entries as u64 {
            return Err(not_a_zip(
                "its central directory holds fewer entries than it declares",
            ));
        }
        let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(entries.len());
        let mut checked = Vec::with_capacity(entries.len());
        for (index, (mut entry, name_raw, offset)) in entries.into_iter().enumerate() {
            let end = check_local_header(source, &mut entry, &name_raw, offset, cd_offset)?;
            ranges.push((offset, end, index));
            checked.push(entry);
        }
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            let (_, first_end, first) = pair[0];
            let (second_start, _, second) = pair[1];
            if second_start < first_end {
                return Err(IndexError::Inconsistent {
                    entry: checked[second].name.clone(),
                    reason: format!(
                        "its data overlaps that of `{}` (entries sharing or overlapping data are refused)",
                        checked[first].name
                    ),
                });
            }
        }
        Ok(ZipIndex {
            entries: checked,
            declared_entries: declared,
        })
    }
}

/// Checks `entry` against its local header at `offset`, sets its data start, and returns where
/// its data (and data descriptor) end.
fn check_local_header(
    source: &ZipSource,
    entry: &mut CentralEntry,
    name_raw: &[u8],
    offset: u64,
    cd_offset: u64,
) -> Result<u64, IndexError> {
    let inconsistent = |reason: String| IndexError::Inconsistent {
        entry: entry.name.clone(),
        reason,
    };
    if offset.checked_add(30).is_none_or(|e| e > cd_offset) {
        return Err(inconsistent(
            "its local header lies outside the zip's data".into(),
        ));
    }
    let mut fixed = [0u8; 30];
    source.read_exact_at(&mut fixed, offset)?;
    if u32_at(&fixed, 0) != LOCAL_SIGNATURE {
        return Err(inconsistent(format!(
            "there is no local header at offset {offset}, where the central directory points"
        )));
    }
    let name_len = u16_at(&fixed, 26) as u64;
    let extra_len = u16_at(&fixed, 28) as u64;
    let data_start = offset + 30 + name_len + extra_len;
    if data_start > cd_offset {
        return Err(inconsistent(
            "its local header runs into the central directory".into(),
        ));
    }
    let var = source.read_vec(offset + 30, (name_len + extra_len) as usize)?;
    let local_name = &var[..name_len as usize];
    if local_name != name_raw {
        return Err(inconsistent(format!(
            "its local header names it `{}`",
            String::from_utf8_lossy(local_name)
        )));
    }
    let flags = u16_at(&fixed, 6);
    if flags != entry.flags {
        return Err(inconsistent(format!(
            "its local header has flags {flags:#06x}, the central directory {:#06x}",
            entry.flags
        )));
    }
    if flags & FLAG_ENCRYPTED != 0 {
        return Err(inconsistent("it is encrypted; a module zip is not".into()));
    }
    let method = u16_at(&fixed, 8);
    if method != entry.method {
        return Err(inconsistent(format!(
            "its local header says compression method {method}, the central directory {}",
            entry.method
        )));
    }
    if entry.method == METHOD_STORED && entry.compressed_size != entry.size {
        return Err(inconsistent(format!(
            "it is stored uncompressed in {} bytes, but declares {} bytes",
            entry.compressed_size, entry.size
        )));
    }
    let data_end = data_start
        .checked_add(entry.compressed_size)
        .filter(|e| *e <= cd_offset)
        .ok_or_else(|| inconsistent("its data runs past the zip's data".into()))?;
    let mut crc32 = u32_at(&fixed, 14);
    let mut compressed = u32_at(&fixed, 18) as u64;
    let mut size = u32_at(&fixed, 22) as u64;
    if size == 0xFFFF_FFFF || compressed == 0xFFFF_FFFF {
        // A local zip64 extra holds both sizes, uncompressed first.
        let values = zip64_values(&var[name_len as usize..], 2)
            .ok_or_else(|| inconsistent("its local header lacks its zip64 sizes".into()))?;
        size = values[0];
        compressed = values[1];
    }
    let mut end = data_end;
    if flags & FLAG_DESCRIPTOR != 0 {
        // The sizes follow the data; the local header may hold zeros.
        let zip64 = entry.size >= 0xFFFF_FFFF || entry.compressed_size >= 0xFFFF_FFFF;
        let body = if zip64 { 20 } else { 12 };
        let mut descriptor = [0u8; 24];
        let available = cd_offset.saturating_sub(data_end).min(24) as usize;
        source.read_exact_at(&mut descriptor[..available], data_end)?;
        let skip = if available >= 4 && u32_at(&descriptor, 0) == DESCRIPTOR_SIGNATURE {
            4
        } else {
            0
        };
        if available < skip + body {
            return Err(inconsistent("its data descriptor is missing".into()));
        }
        let d = &descriptor[skip..];
        let (d_crc, d_compressed, d_size) = if zip64 {
            (u32_at(d, 0), u64_at(d, 4), u64_at(d, 12))
        } else {
            (u32_at(d, 0), u32_at(d, 4) as u64, u32_at(d, 8) as u64)
        };
        if (d_crc, d_compressed, d_size) != (entry.crc32, entry.compressed_size, entry.size) {
            return Err(inconsistent(
                "its data descriptor disagrees with the central directory".into(),
            ));
        }
        end = data_end + (skip + body) as u64;
        if crc32 == 0 && compressed == 0 && size == 0 {
            crc32 = entry.crc32;
            compressed = entry.compressed_size;
            size = entry.size;
        }
    }
    if crc32 != entry.crc32 {
        return Err(inconsistent(format!(
            "its local header records CRC-32 {crc32:08x}, the central directory {:08x}",
            entry.crc32
        )));
    }
    if (compressed, size) != (entry.compressed_size, entry.size) {
        return Err(inconsistent(format!(
            "its local header declares {size} bytes ({compressed} compressed), the central directory {} ({} compressed)",
            entry.size, entry.compressed_size
        )));
    }
    entry.data_start = data_start;
    Ok(end)
}

/// Inflates one entry, checking as it goes that it inflates to exactly its declared size, that
/// the deflate stream ends exactly at the end of its compressed data, and (at the end) its
/// CRC-32. Damage is reported as [`io::ErrorKind::InvalidData`] with a message saying what is
/// wrong; any other error kind is an I/O error of the zip file itself.
pub(crate) struct EntryReader<'a> {
    input: io::BufReader<RangeReader<'a>>,
    inflater: Option<flate2::Decompress>,
    declared: u64,
    produced: u64,
    expected_crc: u32,
    crc: crc32fast::Hasher,
    stream_end: bool,
    finished: bool,
}

fn damaged(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

impl<'a> EntryReader<'a> {
    /// A reader of `entry`'s uncompressed bytes; `None` for a method this reader cannot inflate.
    pub fn new(source: &'a ZipSource, entry: &CentralEntry) -> Option<EntryReader<'a>> {
        let inflater = match entry.method {
            METHOD_STORED => None,
            METHOD_DEFLATED => Some(flate2::Decompress::new(false)),
            _ => return None,
        };
        Some(EntryReader {
            input: io::BufReader::with_capacity(
                READ_BLOCK,
                source.range(entry.data_start, entry.compressed_size),
            ),
            inflater,
            declared: entry.size,
            produced: 0,
            expected_crc: entry.crc32,
            crc: crc32fast::Hasher::new(),
            stream_end: false,
            finished: false,
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finished = true;
        if self.produced != self.declared {
            return Err(damaged(format!(
                "it inflates to {} bytes, but its header declares {}",
                self.produced, self.declared
            )));
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        if crc != self.expected_crc {
            return Err(damaged(format!(
                "its CRC-32 is {crc:08x}, but its header records {:08x}",
                self.expected_crc
            )));
        }
        Ok(())
    }

    fn inflate(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(inflater) = self.inflater.as_mut() else {
            return self.input.read(buf);
        };
        loop {
            let input = self.input.fill_buf()?;
            let eof = input.is_empty();
            let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress(input, buf, flate2::FlushDecompress::None)
                .map_err(|_| damaged("its deflate stream is invalid".into()))?;
            let consumed = (inflater.total_in() - before_in) as usize;
            let written = (inflater.total_out() - before_out) as usize;
            self.input.consume(consumed);
            if status == flate2::Status::StreamEnd {
                self.stream_end = true;
                if !self.input.fill_buf()?.is_empty() {
                    return Err(damaged(
                        "bytes follow the end of its deflate stream within its compressed size"
                            .into(),
                    ));
                }
                return Ok(written);
            }
            if written > 0 {
                return Ok(written);
            }
            if eof {
                return Err(damaged("its deflate stream is cut short".into()));
            }
            if consumed == 0 {
                return Err(damaged("its deflate stream is invalid".into()));
            }
        }
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        // Never produce more than declared, plus one byte to tell "more than declared" apart.
        let room = (self.declared - self.produced.min(self.declared)).saturating_add(1);
        let limit = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = if self.stream_end {
            0
        } else {
            self.inflate(&mut buf[..limit])?
        };
        if n == 0 {
            self.finish()?;
            return Ok(0);
        }
        self.produced += n as u64;
        if self.produced > self.declared {
            self.finished = true;
            return Err(damaged(format!(
                "it inflates past the {} bytes its header declares",
                self.declared
            )));
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stored_zip(path: &std::path::Path, data: &[u8]) {
        let mut zip = ::zip::ZipWriter::new(File::create(path).unwrap());
        let options = ::zip::write::SimpleFileOptions::default()
            .compression_method(::zip::CompressionMethod::Stored);
        zip.start_file("m.so", options).unwrap();
        zip.write_all(data).unwrap();
        zip.finish().unwrap();
    }

    #[test]
    fn a_zip_truncated_after_its_index_is_read_gives_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.zip");
        let data = vec![7u8; 1 << 20];
        stored_zip(&path, &data);
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let source = ZipSource::new(file, len);
        let index = ZipIndex::read(&source, 10).unwrap();
        // Cut the data short once the index is read, as a concurrent writer would.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let mut reader = EntryReader::new(&source, &index.entries[0]).unwrap();
        let error = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(error.to_string().contains("became shorter"), "{error}");
        assert!(source.shrank());
    }

    #[test]
    fn an_intact_entry_reads_back_and_its_crc_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.zip");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
        stored_zip(&path, &data);
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let source = ZipSource::new(file, len);
        let index = ZipIndex::read(&source, 10).unwrap();
        let mut out = Vec::new();
        io::copy(
            &mut EntryReader::new(&source, &index.entries[0]).unwrap(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, data);
        let mut wrong = index.entries[0].clone();
        wrong.crc32 ^= 1;
        let error = io::copy(
            &mut EntryReader::new(&source, &wrong).unwrap(),
            &mut io::sink(),
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("CRC-32"), "{error}");
    }
}
