//! The reproducible module zip: fixed entry order, one timestamp, fixed modes and compression,
//! hashed while it is written.

use std::io::{self, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};
use zip::write::{FileOptions, PreparedZipFile, SimpleFileOptions};
use zip::{CompressionMethod, DateTime, ZipWriter};

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
    /// The zip library refused an entry or failed to write.
    #[error("cannot write zip entry `{entry}`")]
    Zip {
        /// The entry being written.
        entry: String,
        /// The underlying error.
        source: zip::result::ZipError,
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

impl ZipStyle {
    /// The zip entry options for a file with unix `mode`.
    pub fn options(&self, mode: u32) -> Result<SimpleFileOptions, ZipWriteError> {
        let (method, level) = match self.compression {
            0 => (CompressionMethod::Stored, None),
            level @ 1..=9 => (CompressionMethod::Deflated, Some(i64::from(level))),
            other => return Err(ZipWriteError::BadCompression(other)),
        };
        let options: SimpleFileOptions = FileOptions::default()
            .compression_method(method)
            .compression_level(level)
            .last_modified_time(zip_datetime(self.timestamp)?)
            .unix_permissions(mode)
            .system(zip::System::Unix);
        Ok(options)
    }

    /// Compresses `data` as entry `name` with unix `mode`, ready to be added to a zip. This is
    /// the expensive part of packing and needs nothing but the bytes, so it may run on another
    /// thread while the rest of the inputs are gathered.
    pub fn prepare(
        &self,
        name: &str,
        mode: u32,
        data: &[u8],
    ) -> Result<PreparedZipFile, ZipWriteError> {
        let options = self.options(mode)?;
        PreparedZipFile::from_data(name, options, data).map_err(|source| ZipWriteError::Zip {
            entry: name.to_string(),
            source,
        })
    }
}

/// The MS-DOS date and time of `seconds` since 1970 (UTC). Times before 1980 become 1980-01-01,
/// as the format cannot hold them; odd seconds round down, as the format stores two-second steps.
pub fn zip_datetime(seconds: u64) -> Result<DateTime, ZipWriteError> {
    let seconds = seconds.max(ZIP_EPOCH);
    let days = seconds / 86_400;
    let in_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let out_of_range = || ZipWriteError::TimestampOutOfRange(seconds);
    let year = u16::try_from(year).map_err(|_| out_of_range())?;
    DateTime::from_date_and_time(
        year,
        month,
        day,
        (in_day / 3600) as u8,
        ((in_day % 3600) / 60) as u8,
        (in_day % 60) as u8,
    )
    .map_err(|_| out_of_range())
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

/// One entry to add to the zip, in the order given.
pub enum Entry<'a> {
    /// Bytes to compress now, with their unix mode.
    Bytes {
        /// Entry name (`module.json`, `deps/x.tgz`).
        name: &'a str,
        /// Unix mode (0644 or 0755).
        mode: u32,
        /// The content.
        data: &'a [u8],
    },
    /// An entry compressed ahead of time by [`ZipStyle::prepare`].
    Prepared(PreparedZipFile),
}

/// Writes `entries` in order as a zip to `out`; returns `out`, the zip's size and hex SHA-256.
pub fn write_zip<W: Write>(
    out: W,
    style: &ZipStyle,
    entries: Vec<Entry<'_>>,
) -> Result<(W, u64, String), ZipWriteError> {
    let mut zip = ZipWriter::new(HashingWriter::new(out));
    for entry in entries {
        match entry {
            Entry::Bytes { name, mode, data } => {
                let prepared = style.prepare(name, mode, data)?;
                add_prepared(&mut zip, name, prepared)?;
            }
            Entry::Prepared(prepared) => {
                let name = String::from_utf8_lossy(prepared.file_name_raw()).into_owned();
                add_prepared(&mut zip, &name, prepared)?;
            }
        }
    }
    let hashing = zip.finish().map_err(|source| ZipWriteError::Zip {
        entry: "(central directory)".into(),
        source,
    })?;
    Ok(hashing.finish()?)
}

fn add_prepared<W: Write>(
    zip: &mut ZipWriter<HashingWriter<W>>,
    name: &str,
    prepared: PreparedZipFile,
) -> Result<(), ZipWriteError> {
    zip.add_prepared_file(prepared)
        .map_err(|source| ZipWriteError::Zip {
            entry: name.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    #[test]
    fn dates_convert_from_epoch_seconds() {
        // 2021-01-02 03:04:06 UTC
        let dt = zip_datetime(1_609_556_646).unwrap();
        assert_eq!(
            (
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            ),
            (2021, 1, 2, 3, 4, 6)
        );
        // Leap day.
        let dt = zip_datetime(1_709_164_800).unwrap();
        assert_eq!((dt.year(), dt.month(), dt.day()), (2024, 2, 29));
        // Before 1980 clamps; the first second of 1980 is the zip epoch.
        let dt = zip_datetime(0).unwrap();
        assert_eq!(
            (dt.year(), dt.month(), dt.day(), dt.hour()),
            (1980, 1, 1, 0)
        );
        assert!(zip_datetime(5_000_000_000).is_err());
    }

    #[test]
    fn the_hash_is_of_the_bytes_written_and_entries_keep_their_order() {
        let style = ZipStyle::default();
        let (bytes, size, sha) = write_zip(
            Vec::new(),
            &style,
            vec![
                Entry::Bytes {
                    name: "module.json",
                    mode: DATA_MODE,
                    data: b"{}\n",
                },
                Entry::Prepared(style.prepare("m.so", MODULE_MODE, &[7u8; 5000]).unwrap()),
            ],
        )
        .unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.by_index(0).unwrap().name().unwrap(), "module.json");
        let mut so = archive.by_index(1).unwrap();
        assert_eq!(so.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(so.compression(), CompressionMethod::Deflated);
        let mut data = Vec::new();
        so.read_to_end(&mut data).unwrap();
        assert_eq!(data, vec![7u8; 5000]);
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
            vec![Entry::Bytes {
                name: "a",
                mode: DATA_MODE,
                data: b"aaaa",
            }],
        )
        .unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(
            archive.by_index(0).unwrap().compression(),
            CompressionMethod::Stored
        );
        let bad = ZipStyle {
            compression: 10,
            ..ZipStyle::default()
        };
        assert!(matches!(
            bad.options(DATA_MODE),
            Err(ZipWriteError::BadCompression(10))
        ));
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
