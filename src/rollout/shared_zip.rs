//! The bytes of one zip as the transfers to its nodes read them, checked against the SHA-256 the
//! pre-flight computed, with the SHA-256 computed once per zip however many nodes it goes to.
//!
//! Each transfer reads the open file itself, a piece at a time (the file's pages are cached, so
//! that is a copy, and no transfer waits for another). The first transfer to reach a piece adds
//! it to the zip's one SHA-256 and records the piece's CRC-32; every other transfer compares the
//! CRC-32 of the piece it read with that record. Before a transfer hands out its last piece, the
//! whole zip must have hashed to the checked SHA-256: a zip rewritten in place during the
//! transfers cuts every body off before its end, so no node stores other bytes. The CRC-32 finds
//! any accidental change of a piece; it is no defence against bytes forged to match it, which
//! needs a hand that could as well change the zip before the pre-flight. SHA-256 costs rmpack
//! more CPU than the TLS encryption of the same bytes, while a CRC-32 costs a small part of it.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::bundle::{Archive, ArchiveReader};

/// Bytes read and checked at a time.
const PIECE: u64 = 128 * 1024;

/// One zip being sent to one or more nodes.
pub(super) struct SharedZip {
    archive: Archive,
    name: String,
    /// The SHA-256 the pre-flight computed (lowercase hex).
    expected: String,
    hashed: Mutex<Hashed>,
}

/// The pieces hashed so far, in file order.
struct Hashed {
    /// The SHA-256 of those pieces.
    hasher: Sha256,
    /// The CRC-32 of each.
    crcs: Vec<u32>,
    /// Whether the zip hashed to the checked SHA-256, once its last piece is hashed.
    matches: Option<bool>,
}

/// The error of a zip whose bytes are no longer the ones checked.
pub(super) fn changed(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{name} changed on disk after the pre-flight checked it; nothing of it was sent"),
    )
}

impl SharedZip {
    /// The zip `archive`, named `name`, whose SHA-256 the pre-flight found to be `expected`.
    pub(super) fn new(archive: &Archive, name: &str, expected: &str) -> Self {
        SharedZip {
            archive: archive.clone(),
            name: name.to_string(),
            expected: expected.to_ascii_lowercase(),
            hashed: Mutex::new(Hashed {
                hasher: Sha256::new(),
                crcs: Vec::new(),
                matches: None,
            }),
        }
    }

    /// The zip's size in bytes.
    pub(super) fn size(&self) -> u64 {
        self.archive.size()
    }

    /// Its file name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the open file still has the size and modification time it had when checked.
    pub(super) fn unchanged(&self) -> io::Result<bool> {
        self.archive.unchanged()
    }

    /// A reader of every byte from the first, for one transfer; `stop` cuts it off.
    pub(super) fn stream(self: &Arc<Self>, stop: Arc<AtomicBool>) -> ZipStream {
        ZipStream {
            zip: self.clone(),
            stop,
            reader: self.archive.reader(),
            piece: Vec::new(),
            next_piece: 0,
            used: 0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Hashed> {
        self.hashed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks piece `index` as one transfer read it: the first transfer here hashes it, the
    /// others compare it with what was hashed; the last piece passes only when the whole zip
    /// hashed to the checked SHA-256.
    fn check(&self, index: usize, piece: &[u8], last: bool) -> io::Result<()> {
        let crc = crc32fast::hash(piece);
        let mut hashed = self.lock();
        if index == hashed.crcs.len() {
            hashed.hasher.update(piece);
            hashed.crcs.push(crc);
            if last {
                let digest = hex::encode(hashed.hasher.clone().finalize());
                hashed.matches = Some(digest == self.expected);
            }
        } else if hashed.crcs.get(index) != Some(&crc) {
            return Err(changed(&self.name));
        }
        if last && hashed.matches != Some(true) {
            return Err(changed(&self.name));
        }
        Ok(())
    }
}

/// One transfer's reader of a [`SharedZip`].
pub(super) struct ZipStream {
    zip: Arc<SharedZip>,
    stop: Arc<AtomicBool>,
    reader: ArchiveReader,
    /// The piece being handed out.
    piece: Vec<u8>,
    /// The index of the piece after it.
    next_piece: usize,
    /// Bytes of `piece` handed out.
    used: usize,
}

impl Read for ZipStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "stopped: the rollout is stopping",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.used == self.piece.len() {
            let size = self.zip.size();
            let offset = self.next_piece as u64 * PIECE;
            if offset >= size {
                // An empty zip has no last piece to check.
                if size == 0 && hex::encode(Sha256::digest([])) != self.zip.expected {
                    return Err(changed(&self.zip.name));
                }
                return Ok(0);
            }
            let len = PIECE.min(size - offset);
            self.piece.resize(len as usize, 0);
            self.reader.read_exact(&mut self.piece)?;
            self.zip
                .check(self.next_piece, &self.piece, offset + len == size)?;
            self.next_piece += 1;
            self.used = 0;
        }
        let n = buf.len().min(self.piece.len() - self.used);
        buf[..n].copy_from_slice(&self.piece[self.used..self.used + n]);
        self.used += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    /// A file of `len` bytes (any bytes: the reader does not parse them), its archive, and the
    /// SHA-256 the pre-flight would have computed.
    fn archive_of(len: usize) -> (tempfile::NamedTempFile, Archive, String) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4099) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&bytes).unwrap();
        file.flush().unwrap();
        let archive = Archive::new(std::fs::File::open(file.path()).unwrap(), len as u64);
        let sha = hex::encode(Sha256::digest(&bytes));
        (file, archive, sha)
    }

    fn read_in(stream: &mut ZipStream, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn no_stop() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    fn rewrite_at(file: &tempfile::NamedTempFile, offset: u64, bytes: &[u8]) {
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(file.path())
            .unwrap();
        writer.seek(SeekFrom::Start(offset)).unwrap();
        writer.write_all(bytes).unwrap();
        writer.flush().unwrap();
    }

    #[test]
    fn transfers_side_by_side_get_every_byte_and_the_zip_is_hashed_once() {
        let len = 5 * PIECE as usize + 123;
        let (file, archive, sha) = archive_of(len);
        let expected = std::fs::read(file.path()).unwrap();
        let zip = Arc::new(SharedZip::new(&archive, "m.zip", &sha));
        let mut streams: Vec<ZipStream> = (0..3).map(|_| zip.stream(no_stop())).collect();
        let mut outs = vec![Vec::new(); 3];
        let mut buf = vec![0; 10_000];
        // Round robin, as parallel transfers go, the last one at a third of the pace.
        let mut finished = [false; 3];
        let mut round = 0;
        while finished.contains(&false) {
            for (which, (stream, out)) in streams.iter_mut().zip(&mut outs).enumerate() {
                if finished[which] || (which == 2 && round % 3 != 0) {
                    continue;
                }
                let n = stream.read(&mut buf).unwrap();
                out.extend_from_slice(&buf[..n]);
                finished[which] = n == 0;
            }
            round += 1;
        }
        for out in &outs {
            assert!(out == &expected);
        }
        assert_eq!(zip.lock().crcs.len(), 6, "each piece hashed once");
        // A retried transfer starts again from the first byte.
        assert!(read_in(&mut zip.stream(no_stop()), 100_000).unwrap() == expected);
    }

    #[test]
    fn bytes_rewritten_in_place_stop_every_transfer_before_its_last_piece() {
        let len = 3 * PIECE as usize + 10;
        let (file, archive, sha) = archive_of(len);
        let zip = Arc::new(SharedZip::new(&archive, "m.zip", &sha));
        let mut first = zip.stream(no_stop());
        let mut piece = vec![0; PIECE as usize];
        first.read_exact(&mut piece).unwrap();
        // Rewritten in place behind the reader's back, size kept.
        rewrite_at(&file, 2 * PIECE, b"other bytes");
        let error = read_in(&mut first, 65_536).unwrap_err();
        assert!(error.to_string().contains("changed on disk"), "{error}");
        // Another transfer of the same zip stops too, at the piece that differs or the last.
        let error = read_in(&mut zip.stream(no_stop()), 65_536).unwrap_err();
        assert!(error.to_string().contains("changed on disk"), "{error}");
        // So does a transfer that is alone.
        let alone = Arc::new(SharedZip::new(&archive, "m.zip", &sha));
        let mut stream = alone.stream(no_stop());
        let mut sent = Vec::new();
        let error = loop {
            let mut buf = [0; 4096];
            match stream.read(&mut buf) {
                Ok(0) => panic!("the whole body went out"),
                Ok(n) => sent.extend_from_slice(&buf[..n]),
                Err(error) => break error,
            }
        };
        assert!(error.to_string().contains("changed on disk"), "{error}");
        assert!(sent.len() < len, "the body stops before its end");
    }

    #[test]
    fn a_transfer_behind_the_others_is_stopped_at_a_piece_that_differs() {
        let len = 4 * PIECE as usize;
        let (file, archive, sha) = archive_of(len);
        let zip = Arc::new(SharedZip::new(&archive, "m.zip", &sha));
        let mut ahead = zip.stream(no_stop());
        let mut behind = zip.stream(no_stop());
        let mut two_pieces = vec![0; 2 * PIECE as usize];
        ahead.read_exact(&mut two_pieces).unwrap();
        // The first piece changes after the first transfer hashed it.
        rewrite_at(&file, 100, b"other bytes");
        let mut one = [0; 10];
        let error = behind.read(&mut one).unwrap_err();
        assert!(error.to_string().contains("changed on disk"), "{error}");
    }

    #[test]
    fn a_stop_cuts_the_transfer_off() {
        let (_file, archive, sha) = archive_of(1000);
        let zip = Arc::new(SharedZip::new(&archive, "m.zip", &sha));
        let stop = no_stop();
        let mut stream = zip.stream(stop.clone());
        stop.store(true, Ordering::SeqCst);
        let error = stream.read(&mut [0; 10]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Interrupted);
    }
}
