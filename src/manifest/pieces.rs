//! The piece table: a private zip extra field that says where the independently compressed
//! pieces of a deflated entry start, so a reader can inflate them on several cores.
//!
//! `pack` cuts a large entry into fixed-size pieces and compresses each on its own (no
//! back-references across pieces); the pieces are joined into one ordinary deflate stream, so
//! every zip reader inflates the entry as usual. The table only lists each piece's compressed
//! length, in the central directory record of that entry. Readers that do not know the field
//! skip it, as the zip format asks (APPNOTE 4.5: unknown extra fields are ignored).
//!
//! A reader must treat the table as a hint: it is checked against the entry's sizes here, and
//! every piece must inflate to exactly its share, else the reader falls back to the stream.
//!
//! Layout, little-endian: `u16` id [`PIECE_TABLE_ID`], `u16` length of what follows, `u8`
//! format version (1), `u32` uncompressed bytes per piece, then one `u32` compressed length per
//! piece, in order. Every piece but the last inflates to exactly the piece size.

/// The extra-field id (`"rm"` read as a little-endian `u16`); not one APPNOTE assigns.
pub const PIECE_TABLE_ID: u16 = u16::from_le_bytes(*b"rm");
/// The table's format version.
const VERSION: u8 = 1;
/// Bytes before the per-piece lengths: version and piece size.
const HEAD: usize = 5;
/// The largest piece a reader accepts a table for: every worker holds a piece or two, so a
/// table claiming gigabyte pieces would cost gigabytes.
pub const MAX_PIECE_SIZE: u32 = 4 << 20;
/// Most pieces one table lists: an extra field holds at most 65,535 bytes, some of which the
/// zip64 field may need.
pub const MAX_PIECES: usize = (u16::MAX as usize - 64 - HEAD) / 4;

/// Where the pieces of one deflated entry are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceTable {
    /// Uncompressed bytes per piece (the last may hold fewer).
    pub piece_size: u32,
    /// Compressed length of each piece, in order.
    pub compressed: Vec<u32>,
}

impl PieceTable {
    /// The whole extra field (id, length, body), or `None` when the table does not fit in one.
    pub fn to_extra_field(&self) -> Option<Vec<u8>> {
        if self.compressed.is_empty() || self.compressed.len() > MAX_PIECES {
            return None;
        }
        let body = HEAD + 4 * self.compressed.len();
        let mut out = Vec::with_capacity(4 + body);
        out.extend_from_slice(&PIECE_TABLE_ID.to_le_bytes());
        out.extend_from_slice(&(body as u16).to_le_bytes());
        out.push(VERSION);
        out.extend_from_slice(&self.piece_size.to_le_bytes());
        for length in &self.compressed {
            out.extend_from_slice(&length.to_le_bytes());
        }
        Some(out)
    }

    /// Finds and reads the table in an entry's extra fields, keeping it only when it agrees
    /// with the entry: pieces of at most [`MAX_PIECE_SIZE`] bytes, one per `piece_size` bytes of
    /// `size` (one for an empty entry), none empty or longer than deflate can make a piece of
    /// that size, and lengths that add up to `compressed_size`.
    pub fn from_extra_fields(extra: &[u8], size: u64, compressed_size: u64) -> Option<PieceTable> {
        let body = find_field(extra, PIECE_TABLE_ID)?;
        if body.len() < HEAD || (body.len() - HEAD) % 4 != 0 || body[0] != VERSION {
            return None;
        }
        let piece_size = u32::from_le_bytes(body[1..5].try_into().ok()?);
        if piece_size == 0 || piece_size > MAX_PIECE_SIZE {
            return None;
        }
        // Deflate stores what it cannot shrink, 5 bytes of header per 64 KiB at most; a joined
        // piece adds an empty stored block.
        let longest = piece_size + piece_size / 1024 + 64;
        let compressed: Vec<u32> = body[HEAD..]
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let expected = size.div_ceil(u64::from(piece_size)).max(1);
        let total: u64 = compressed.iter().map(|&n| u64::from(n)).sum();
        let fits = compressed.len() as u64 == expected
            && total == compressed_size
            && compressed.iter().all(|&n| n > 0 && n <= longest);
        fits.then_some(PieceTable {
            piece_size,
            compressed,
        })
    }

    /// Each piece's (offset into the compressed data, compressed length, uncompressed length)
    /// for an entry of `size` bytes.
    pub fn spans(&self, size: u64) -> impl Iterator<Item = (u64, usize, usize)> + '_ {
        let piece = u64::from(self.piece_size);
        let mut offset = 0u64;
        self.compressed
            .iter()
            .enumerate()
            .map(move |(index, &length)| {
                let start = index as u64 * piece;
                let out = size.saturating_sub(start).min(piece) as usize;
                let span = (offset, length as usize, out);
                offset += u64::from(length);
                span
            })
    }
}

/// The body of the first extra field with `id`, if the fields parse.
fn find_field(mut extra: &[u8], id: u16) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let field = u16::from_le_bytes([extra[0], extra[1]]);
        let len = usize::from(u16::from_le_bytes([extra[2], extra[3]]));
        let body = extra.get(4..4 + len)?;
        if field == id {
            return Some(body);
        }
        extra = &extra[4 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PieceTable {
        PieceTable {
            piece_size: 1000,
            compressed: vec![300, 280, 5],
        }
    }

    #[test]
    fn a_table_reads_back_beside_other_fields() {
        let field = table().to_extra_field().unwrap();
        let mut extra = vec![0x01, 0x00, 0x08, 0x00];
        extra.extend_from_slice(&[0; 8]);
        extra.extend_from_slice(&field);
        assert_eq!(
            PieceTable::from_extra_fields(&extra, 2500, 585),
            Some(table())
        );
        let spans: Vec<_> = table().spans(2500).collect();
        assert_eq!(spans, vec![(0, 300, 1000), (300, 280, 1000), (580, 5, 500)]);
    }

    #[test]
    fn a_table_that_disagrees_with_its_entry_is_ignored() {
        let field = table().to_extra_field().unwrap();
        // Sizes that need another number of pieces, or other compressed totals.
        for (size, compressed) in [(2000, 585), (3001, 585), (2500, 584), (2500, 586)] {
            assert_eq!(
                PieceTable::from_extra_fields(&field, size, compressed),
                None,
                "{size} {compressed}"
            );
        }
        // Pieces too large to hold, or a piece longer than deflate makes one.
        let huge = PieceTable {
            piece_size: MAX_PIECE_SIZE + 1,
            compressed: vec![585],
        }
        .to_extra_field()
        .unwrap();
        assert_eq!(PieceTable::from_extra_fields(&huge, 2500, 585), None);
        let bloated = PieceTable {
            piece_size: 1000,
            compressed: vec![1100, 1],
        }
        .to_extra_field()
        .unwrap();
        assert_eq!(PieceTable::from_extra_fields(&bloated, 1500, 1101), None);
        let largest = PieceTable {
            piece_size: 1000,
            compressed: vec![1064, 1],
        };
        assert_eq!(
            PieceTable::from_extra_fields(&largest.to_extra_field().unwrap(), 1500, 1065),
            Some(largest)
        );
        // A damaged body, a zero piece size, an empty piece, a cut-off field.
        let mut bad_version = field.clone();
        bad_version[4] = 2;
        let mut zero_size = field.clone();
        zero_size[5..9].fill(0);
        let empty_piece = PieceTable {
            piece_size: 1000,
            compressed: vec![585, 0, 0],
        }
        .to_extra_field()
        .unwrap();
        for extra in [
            bad_version,
            zero_size,
            empty_piece,
            field[..field.len() - 1].to_vec(),
        ] {
            assert_eq!(PieceTable::from_extra_fields(&extra, 2500, 585), None);
        }
        assert_eq!(PieceTable::from_extra_fields(&[], 2500, 585), None);
    }

    #[test]
    fn a_table_too_large_for_one_field_is_not_written() {
        let huge = PieceTable {
            piece_size: 1,
            compressed: vec![1; MAX_PIECES + 1],
        };
        assert_eq!(huge.to_extra_field(), None);
        let largest = PieceTable {
            piece_size: 1,
            compressed: vec![1; MAX_PIECES],
        };
        assert!(largest.to_extra_field().unwrap().len() <= u16::MAX as usize - 60);
    }
}
