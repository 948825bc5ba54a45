//! Facts read from a module's ELF image: what it was built for and what it needs to load.
//!
//! [`ElfFacts::read`] takes the bytes of a `.so` and answers, without loading it: the architecture
//! (from `e_machine`, class and byte order — never from the host), the file type, the OS/ABI, the
//! `DT_NEEDED` libraries, the symbol versions it needs from them (`GLIBC_2.34`, `OPENSSL_1_1_0`, …)
//! with the undefined symbols that need each one, and whether it exports `RedisModule_OnLoad`.
//!
//! Symbol versions and symbol names come from the dynamic symbol table (`.dynsym`,
//! `.gnu.version`, `.gnu.version_r`), which `strip` leaves in place, so a stripped module still
//! gets a precise answer.
//!
//! Reading never panics, whatever the bytes: headers are bounds-checked here before the ELF
//! parser sees them, and a parser panic is turned into [`ElfError::Malformed`].

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use goblin::elf::{dynamic, note, sym, Elf};
use serde::{Serialize, Serializer};

/// The entry point Redis calls when it loads a module.
pub const ONLOAD_SYMBOL: &str = "RedisModule_OnLoad";

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const ET_REL: u16 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const SHT_NOBITS: u32 = 8;
const SHF_EXECINSTR: u64 = 0x4;
const SHN_UNDEF: usize = 0;
/// Bit 15 of a `.gnu.version` entry marks a hidden symbol; the rest is the version index.
const VERSYM_INDEX_MASK: u16 = 0x7fff;

/// The processor an ELF file was built for (`e_machine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Machine {
    /// AMD64 / Intel 64.
    X86_64,
    /// 64-bit ARM.
    Aarch64,
    /// Anything else; RS cannot run it.
    Other {
        /// The raw `e_machine` value.
        e_machine: u16,
    },
}

impl Machine {
    /// The machine for a raw `e_machine` value.
    pub fn from_e_machine(e_machine: u16) -> Self {
        match e_machine {
            EM_X86_64 => Machine::X86_64,
            EM_AARCH64 => Machine::Aarch64,
            other => Machine::Other { e_machine: other },
        }
    }

    /// The raw `e_machine` value.
    pub fn e_machine(&self) -> u16 {
        match self {
            Machine::X86_64 => EM_X86_64,
            Machine::Aarch64 => EM_AARCH64,
            Machine::Other { e_machine } => *e_machine,
        }
    }

    /// The `architecture` name module.json and RS use, for the two architectures RS accepts.
    pub fn rs_arch_name(&self) -> Option<&'static str> {
        match self {
            Machine::X86_64 => Some("x86_64"),
            Machine::Aarch64 => Some("aarch64"),
            Machine::Other { .. } => None,
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.e_machine() {
            EM_X86_64 => "x86_64",
            EM_AARCH64 => "aarch64",
            0 => "no machine (e_machine 0)",
            2 => "SPARC",
            3 => "x86 (32-bit)",
            4 => "Motorola 68000",
            8 => "MIPS",
            15 => "PA-RISC",
            20 => "PowerPC (32-bit)",
            21 => "PowerPC64",
            22 => "IBM Z (s390)",
            40 => "32-bit ARM",
            43 => "SPARC V9",
            50 => "Itanium (IA-64)",
            243 => "RISC-V",
            247 => "eBPF",
            258 => "LoongArch",
            0x9026 => "Alpha",
            other => return write!(f, "e_machine 0x{other:04x}"),
        };
        f.write_str(name)
    }
}

/// 32- or 64-bit (`EI_CLASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

impl fmt::Display for ElfClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElfClass::Elf32 => "32-bit",
            ElfClass::Elf64 => "64-bit",
        })
    }
}

/// Byte order (`EI_DATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endianness {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

impl fmt::Display for Endianness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endianness::Little => "little-endian",
            Endianness::Big => "big-endian",
        })
    }
}

/// What kind of ELF file it is (`e_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A shared library (`ET_DYN` without the PIE flag): what a Redis module is.
    SharedObject,
    /// A program: `ET_EXEC`, or `ET_DYN` flagged `DF_1_PIE` (a position-independent executable).
    Executable,
    /// An object file (`.o`) that was never linked.
    Relocatable,
    /// A core dump.
    Core,
    /// Any other `e_type`.
    Other(u16),
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileType::SharedObject => f.write_str("shared object"),
            FileType::Executable => f.write_str("executable"),
            FileType::Relocatable => f.write_str("relocatable object file (.o)"),
            FileType::Core => f.write_str("core dump"),
            FileType::Other(e_type) => write!(f, "ELF file of type 0x{e_type:04x}"),
        }
    }
}

/// The OS/ABI byte of the ELF header (`EI_OSABI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OsAbi(pub u8);

impl OsAbi {
    /// System V, the value nearly every Linux toolchain writes.
    pub const SYSV: OsAbi = OsAbi(0);
    /// GNU/Linux, written when a file uses GNU extensions such as `STT_GNU_IFUNC`.
    pub const GNU_LINUX: OsAbi = OsAbi(3);

    /// Whether Linux's loader accepts files with this OS/ABI (System V or GNU/Linux).
    pub fn is_linux_compatible(&self) -> bool {
        *self == Self::SYSV || *self == Self::GNU_LINUX
    }
}

impl fmt::Display for OsAbi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "SYSV",
            1 => "HP-UX",
            2 => "NetBSD",
            3 => "GNU/Linux",
            6 => "Solaris",
            7 => "AIX",
            8 => "IRIX",
            9 => "FreeBSD",
            10 => "Tru64",
            12 => "OpenBSD",
            97 => "ARM",
            255 => "standalone",
            other => return write!(f, "OS/ABI {other}"),
        };
        f.write_str(name)
    }
}

/// Which library family a symbol version belongs to, by its name's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionFamily {
    /// `GLIBC_x.y[.z]`: the C library (libc, libm, libpthread, …).
    Glibc,
    /// `GLIBCXX_x.y.z`: the GNU C++ library (libstdc++).
    Glibcxx,
    /// `OPENSSL_x_y_z` or `OPENSSL_x.y.z`: libssl / libcrypto.
    Openssl,
    /// Anything else (`CXXABI_`, `GCC_`, private versions, …).
    Other,
}

impl VersionFamily {
    /// The family a version name such as `GLIBC_2.34` belongs to.
    pub fn of(version_name: &str) -> Self {
        if version_name.starts_with("GLIBCXX_") {
            VersionFamily::Glibcxx
        } else if version_name.starts_with("GLIBC_") {
            VersionFamily::Glibc
        } else if version_name.starts_with("OPENSSL_") {
            VersionFamily::Openssl
        } else {
            VersionFamily::Other
        }
    }
}

impl fmt::Display for VersionFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionFamily::Glibc => "glibc",
            VersionFamily::Glibcxx => "libstdc++",
            VersionFamily::Openssl => "OpenSSL",
            VersionFamily::Other => "other",
        })
    }
}

/// One symbol version the module needs from a library (an entry of `.gnu.version_r`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolVersion {
    /// The library that must provide it (`vn_file`), e.g. `libc.so.6`.
    pub library: String,
    /// The version name, e.g. `GLIBC_2.34`.
    pub name: String,
    /// The family, from the name's prefix.
    pub family: VersionFamily,
    /// The numeric part of the name: `GLIBC_2.34` → `[2, 34]`, `OPENSSL_1_1_1d` → `[1, 1, 1, 4]`
    /// (a trailing letter counts as one more component). Empty when the name has no number,
    /// e.g. `GLIBC_PRIVATE`.
    pub version: Vec<u32>,
    /// The undefined dynamic symbols bound to this version, sorted, e.g. `["arc4random"]`.
    pub symbols: Vec<String>,
}

impl SymbolVersion {
    /// The numeric version as text, e.g. `2.34`; empty when there is none.
    pub fn version_text(&self) -> String {
        self.version
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Whether this version is above `limit` (compared component by component, `[2, 34]` >
    /// `[2, 3, 4]`). Versions without a number are never above.
    pub fn is_above(&self, limit: &[u32]) -> bool {
        !self.version.is_empty() && self.version.as_slice() > limit
    }
}

/// Everything rmpack needs to know about a module's ELF image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfFacts {
    /// The processor it was built for.
    pub machine: Machine,
    /// 32- or 64-bit.
    pub class: ElfClass,
    /// Byte order.
    pub endianness: Endianness,
    /// Shared object, executable, …
    pub file_type: FileType,
    /// The OS/ABI byte.
    pub os_abi: OsAbi,
    /// `DT_NEEDED` libraries, in file order, e.g. `["libssl.so.1.1", "libc.so.6"]`.
    pub needed: Vec<String>,
    /// `DT_SONAME`, if set.
    pub soname: Option<String>,
    /// `DT_RPATH` and `DT_RUNPATH` entries, in file order.
    pub runpath: Vec<String>,
    /// The symbol versions needed from other libraries, in file order.
    pub version_needs: Vec<SymbolVersion>,
    /// Whether `RedisModule_OnLoad` is exported as a defined function in `.dynsym`.
    pub has_redis_module_onload: bool,
    /// How many defined, globally visible symbols `.dynsym` exports.
    pub exported_symbols: usize,
    /// Whether the full symbol table (`.symtab`) is still present, i.e. the file is not stripped.
    pub has_symtab: bool,
    /// The GNU build ID in hex, if the file carries one.
    pub build_id: Option<String>,
}

impl ElfFacts {
    /// Reads the facts from the bytes of an ELF file.
    ///
    /// Fails, before anything tries to load the file, when it is not an ELF file, is cut short,
    /// is a separate debug-info file, or is malformed. A non-shared-object ELF (an executable,
    /// a `.o`) is not an error: see [`ElfFacts::file_type`].
    pub fn read(bytes: &[u8]) -> Result<Self, ElfError> {
        let layout = RawLayout::check(bytes)?;
        // The checks above rule out the inputs known to upset the parser; this is a last guard.
        match catch_unwind(AssertUnwindSafe(|| facts_from_parser(bytes, &layout))) {
            Ok(result) => result,
            Err(_) => Err(ElfError::Malformed(
                "the ELF parser could not make sense of its tables".to_string(),
            )),
        }
    }

    /// Reads the facts from an open file of `len` bytes without reading the whole file: only
    /// the headers, the header tables, the dynamic, note and interpreter segments and the
    /// sections the parser looks at are read (with positioned reads) into a zero-filled image
    /// whose untouched pages take no memory. Code and data sections larger than 256 KiB are
    /// never read, so a 100 MB module costs a few pages. A file without section headers is read
    /// whole.
    ///
    /// Gives the same facts as [`ElfFacts::read`] of the file's bytes.
    pub fn read_file(file: &std::fs::File, len: u64) -> Result<Self, ElfError> {
        if len == 0 {
            return Err(ElfError::Empty);
        }
        let size = usize::try_from(len).map_err(|_| {
            ElfError::Malformed(format!("the file is {len} bytes, too large to map"))
        })?;
        let mut image = memmap2::MmapMut::map_anon(size).map_err(|e| {
            ElfError::Unreadable(format!("cannot reserve memory for its headers: {e}"))
        })?;
        let fill = |image: &mut [u8], offset: u64, count: u64| -> Result<(), ElfError> {
            let start = offset.min(len);
            let end = offset.saturating_add(count).min(len);
            if end <= start {
                return Ok(());
            }
            read_at(file, &mut image[start as usize..end as usize], start)
        };
        fill(&mut image, 0, 64)?;
        let Some(tables) = HeaderTables::of(&image) else {
            // Not an ELF header this reader understands: the full check names the problem.
            return ElfFacts::read(&image);
        };
        fill(&mut image, tables.phoff, tables.phnum * tables.phent)?;
        fill(&mut image, tables.shoff, tables.shnum * tables.shent)?;
        let raw = RawReader {
            bytes: &image,
            little: tables.little,
        };
        let is64 = tables.is64;
        let mut wanted: Vec<(u64, u64)> = Vec::new();
        for i in 0..tables.phnum {
            let at = tables.phoff.saturating_add(i * tables.phent);
            let (offset_at, filesz_at) = if is64 {
                (at + 8, at + 32)
            } else {
                (at + 4, at + 16)
            };
            let (Some(p_type), Some(offset), Some(filesz)) = (
                raw.u32(at),
                raw.word(offset_at, is64),
                raw.word(filesz_at, is64),
            ) else {
                break;
            };
            // PT_DYNAMIC, PT_INTERP, PT_NOTE.
            if matches!(p_type, PT_DYNAMIC | 3 | 4) {
                wanted.push((offset, filesz));
            }
        }
        let mut whole_file = tables.shnum == 0 || tables.shoff == 0;
        for i in 0..tables.shnum {
            let at = tables.shoff.saturating_add(i * tables.shent);
            let (offset_at, size_at) = if is64 {
                (at + 24, at + 32)
            } else {
                (at + 16, at + 20)
            };
            let (Some(sh_type), Some(offset), Some(size)) = (
                raw.u32(at + 4),
                raw.word(offset_at, is64),
                raw.word(size_at, is64),
            ) else {
                whole_file = true;
                break;
            };
            const SHT_PROGBITS: u32 = 1;
            const LARGE_SECTION: u64 = 256 * 1024;
            if sh_type == SHT_NOBITS || (sh_type == SHT_PROGBITS && size > LARGE_SECTION) {
                continue;
            }
            wanted.push((offset, size));
        }
        if whole_file {
            wanted = vec![(0, len)];
        }
        for (offset, count) in wanted {
            fill(&mut image, offset, count)?;
        }
        ElfFacts::read(&image)
    }

    /// The `architecture` value for module.json when RS can run this file: a 64-bit
    /// little-endian x86_64 or aarch64 image. `None` for anything else.
    pub fn rs_architecture(&self) -> Option<&'static str> {
        if self.class == ElfClass::Elf64 && self.endianness == Endianness::Little {
            self.machine.rs_arch_name()
        } else {
            None
        }
    }

    /// A human description of the architecture, e.g. `x86_64`, `32-bit ARM`,
    /// `aarch64 (32-bit, big-endian)`: the machine, plus class and byte order when they are not
    /// the usual 64-bit little-endian.
    pub fn describe_architecture(&self) -> String {
        let mut notes = Vec::new();
        // 32-bit machines already say so in their name; note the class only where it is unusual.
        let named_32_bit = matches!(self.machine.e_machine(), 3 | 20 | 40);
        if self.class == ElfClass::Elf32 && !named_32_bit {
            notes.push(self.class.to_string());
        }
        if self.endianness == Endianness::Big {
            notes.push(self.endianness.to_string());
        }
        if notes.is_empty() {
            self.machine.to_string()
        } else {
            format!("{} ({})", self.machine, notes.join(", "))
        }
    }

    /// The highest `GLIBC_` version needed, if any.
    pub fn max_glibc(&self) -> Option<&SymbolVersion> {
        self.required(VersionFamily::Glibc)
    }

    /// The highest `GLIBCXX_` version needed, if any.
    pub fn max_glibcxx(&self) -> Option<&SymbolVersion> {
        self.required(VersionFamily::Glibcxx)
    }

    /// The highest `OPENSSL_` version needed, if any.
    pub fn max_openssl(&self) -> Option<&SymbolVersion> {
        self.required(VersionFamily::Openssl)
    }

    /// The highest numbered version of `family` needed, if any.
    pub fn required(&self, family: VersionFamily) -> Option<&SymbolVersion> {
        self.version_needs
            .iter()
            .filter(|need| need.family == family && !need.version.is_empty())
            .max_by(|a, b| a.version.cmp(&b.version))
    }

    /// Every version of `family` needed above `limit` (e.g. the glibc versions a target OS
    /// lacks), highest first, each with the symbols that need it.
    pub fn versions_above(&self, family: VersionFamily, limit: &[u32]) -> Vec<&SymbolVersion> {
        let mut above: Vec<&SymbolVersion> = self
            .version_needs
            .iter()
            .filter(|need| need.family == family && need.is_above(limit))
            .collect();
        above.sort_by(|a, b| b.version.cmp(&a.version));
        above
    }
}

/// Why a file's ELF facts could not be read. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file has no bytes.
    #[error("the file is empty (0 bytes); pass the module's compiled .so file")]
    Empty,

    /// The file does not start with the ELF magic `7f 45 4c 46`.
    #[error(
        "not an ELF file: it starts with {}{}; pass the module's compiled .so file",
        hex_bytes(magic),
        describe_magic(magic).map(|kind| format!(" ({kind})")).unwrap_or_default()
    )]
    NotElf {
        /// The first bytes of the file (up to 4).
        magic: Vec<u8>,
    },

    /// The headers describe more bytes than the file has.
    #[error(
        "the ELF file is truncated: its headers describe {needed} bytes but it has only {actual}; \
         it was cut short (an interrupted build, copy or download) — build or copy it again"
    )]
    Truncated {
        /// The size the headers require.
        needed: u64,
        /// The file's size.
        actual: u64,
    },

    /// A separate debug-info file, as `objcopy --only-keep-debug` makes: its code and dynamic
    /// sections hold no bytes.
    #[error(
        "this is a separate debug-info file (as made by `objcopy --only-keep-debug`): its code \
         and dynamic sections are empty, so it cannot be loaded; pass the module's .so itself, \
         not its .debug file"
    )]
    DebugOnly,

    /// Inconsistent or unreadable headers or tables.
    #[error("the ELF file is malformed: {0}; it may be corrupt — build the module again")]
    Malformed(String),

    /// The file could not be read (or changed size while it was read).
    #[error("cannot read the file: {0}")]
    Unreadable(String),
}

/// Reads exactly `buf.len()` bytes at `offset`.
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> Result<(), ElfError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ElfError::Unreadable("it shrank while it was read".to_string())
            } else {
                ElfError::Unreadable(e.to_string())
            }
        })
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| ElfError::Unreadable(e.to_string()))
    }
}

/// Where the header tables are, from an ELF header (`None` when it is not one).
struct HeaderTables {
    is64: bool,
    little: bool,
    phoff: u64,
    phnum: u64,
    phent: u64,
    shoff: u64,
    shnum: u64,
    shent: u64,
}

impl HeaderTables {
    fn of(image: &[u8]) -> Option<Self> {
        if image.get(..4)? != ELF_MAGIC {
            return None;
        }
        let is64 = match image.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little = match image.get(5)? {
            1 => true,
            2 => false,
            _ => return None,
        };
        let raw = RawReader {
            bytes: image,
            little,
        };
        let (phoff_at, shoff_at, sizes_at) = if is64 { (32, 40, 54) } else { (28, 32, 42) };
        Some(HeaderTables {
            is64,
            little,
            phoff: raw.word(phoff_at, is64)?,
            phent: u64::from(raw.u16(sizes_at)?),
            phnum: u64::from(raw.u16(sizes_at + 2)?),
            shent: u64::from(raw.u16(sizes_at + 4)?),
            shnum: u64::from(raw.u16(sizes_at + 6)?),
            shoff: raw.word(shoff_at, is64)?,
        })
    }
}

/// The header fields checked before the parser runs.
struct RawLayout {
    class: ElfClass,
    endianness: Endianness,
    os_abi: u8,
    e_type: u16,
    e_machine: u16,
}

/// Reads integers at offsets with the file's byte order; `None` past the end.
struct RawReader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl RawReader<'_> {
    fn take<const N: usize>(&self, offset: u64) -> Option<[u8; N]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(N)?;
        let mut out: [u8; N] = self.bytes.get(start..end)?.try_into().ok()?;
        if !self.little {
            out.reverse();
        }
        Some(out)
    }
    fn u16(&self, offset: u64) -> Option<u16> {
        self.take::<2>(offset).map(u16::from_le_bytes)
    }
    fn u32(&self, offset: u64) -> Option<u32> {
        self.take::<4>(offset).map(u32::from_le_bytes)
    }
    fn u64(&self, offset: u64) -> Option<u64> {
        self.take::<8>(offset).map(u64::from_le_bytes)
    }
    /// An address-sized field: 4 bytes in ELF32, 8 in ELF64.
    fn word(&self, offset: u64, is64: bool) -> Option<u64> {
        if is64 {
            self.u64(offset)
        } else {
            self.u32(offset).map(u64::from)
        }
    }
}

impl RawLayout {
    /// Checks the identification, the header, and that every table and segment the headers
    /// describe lies within the file.
    fn check(bytes: &[u8]) -> Result<Self, ElfError> {
        let actual = bytes.len() as u64;
        if bytes.is_empty() {
            return Err(ElfError::Empty);
        }
        let start = &bytes[..bytes.len().min(4)];
        if start != &ELF_MAGIC[..start.len()] {
            return Err(ElfError::NotElf {
                magic: start.to_vec(),
            });
        }
        const IDENT_LEN: u64 = 16;
        if actual < IDENT_LEN {
            return Err(ElfError::Truncated {
                needed: IDENT_LEN,
                actual,
            });
        }
        let (class, header_size, phent, shent) = match bytes[4] {
            1 => (ElfClass::Elf32, 52u64, 32u64, 40u64),
            2 => (ElfClass::Elf64, 64, 56, 64),
            other => {
                return Err(ElfError::Malformed(format!(
                    "unknown ELF class byte {other} (1 means 32-bit, 2 means 64-bit)"
                )))
            }
        };
        let endianness = match bytes[5] {
            1 => Endianness::Little,
            2 => Endianness::Big,
            other => {
                return Err(ElfError::Malformed(format!(
                    "unknown byte-order byte {other} (1 means little-endian, 2 big-endian)"
                )))
            }
        };
        if bytes[6] != 1 {
            return Err(ElfError::Malformed(format!(
                "unknown ELF version {} (only version 1 exists)",
                bytes[6]
            )));
        }
        if actual < header_size {
            return Err(ElfError::Truncated {
                needed: header_size,
                actual,
            });
        }

        let is64 = class == ElfClass::Elf64;
        let raw = RawReader {
            bytes,
            little: endianness == Endianness::Little,
        };
        let field = |value: Option<u64>| value.ok_or_else(|| truncated(header_size, actual));
        // Offsets of the header fields after e_ident, which differ between the classes.
        let (phoff_at, shoff_at, sizes_at) = if is64 { (32, 40, 54) } else { (28, 32, 42) };
        let e_type = field(raw.u16(16).map(u64::from))? as u16;
        let e_machine = field(raw.u16(18).map(u64::from))? as u16;
        let e_phoff = field(raw.word(phoff_at, is64))?;
        let e_shoff = field(raw.word(shoff_at, is64))?;
        let e_phentsize = field(raw.u16(sizes_at).map(u64::from))?;
        let e_phnum = field(raw.u16(sizes_at + 2).map(u64::from))?;
        let e_shentsize = field(raw.u16(sizes_at + 4).map(u64::from))?;
        let e_shnum = field(raw.u16(sizes_at + 6).map(u64::from))?;

        let mut needed = header_size;
        let table_end = |offset: u64, count: u64, entry: u64| -> Result<u64, ElfError> {
            offset.checked_add(count * entry).ok_or_else(|| {
                ElfError::Malformed(format!("a header table offset {offset:#x} overflows"))
            })
        };

        // Program headers: the table, then each segment's bytes.
        let mut dynamic_without_bytes = false;
        if e_phnum > 0 {
            if e_phentsize != phent {
                return Err(ElfError::Malformed(format!(
                    "program header entries are {e_phentsize} bytes, expected {phent}"
                )));
            }
            let end = table_end(e_phoff, e_phnum, phent)?;
            if end > actual {
                return Err(truncated(end, actual));
            }
            for i in 0..e_phnum {
                let at = e_phoff + i * phent;
                // Elf64_Phdr: type, flags, offset, vaddr, paddr, filesz, memsz, align;
                // Elf32_Phdr: type, offset, vaddr, paddr, filesz, memsz, flags, align.
                let (offset_at, filesz_at, memsz_at) = if is64 {
                    (at + 8, at + 32, at + 40)
                } else {
                    (at + 4, at + 16, at + 20)
                };
                let p_type = field(raw.u32(at).map(u64::from))? as u32;
                let p_offset = field(raw.word(offset_at, is64))?;
                let p_filesz = field(raw.word(filesz_at, is64))?;
                let p_memsz = field(raw.word(memsz_at, is64))?;
                if p_type == PT_DYNAMIC && p_filesz == 0 && p_memsz > 0 {
                    dynamic_without_bytes = true;
                }
                if p_type == PT_LOAD || p_type == PT_DYNAMIC {
                    let end = p_offset.checked_add(p_filesz).ok_or_else(|| {
                        ElfError::Malformed(format!("segment {i} ends past 2^64 bytes"))
                    })?;
                    needed = needed.max(end);
                }
            }
        }

        // Section headers: the table, then each section's bytes (NOBITS sections have none).
        let mut code_without_bytes = false;
        if e_shoff != 0 && e_shnum > 0 {
            if e_shentsize != shent {
                return Err(ElfError::Malformed(format!(
                    "section header entries are {e_shentsize} bytes, expected {shent}"
                )));
            }
            let end = table_end(e_shoff, e_shnum, shent)?;
            if end > actual {
                return Err(truncated(end, actual));
            }
            for i in 0..e_shnum {
                let at = e_shoff + i * shent;
                // Elf64_Shdr: name, type, flags(8), addr(8), offset(8), size(8), …;
                // Elf32_Shdr: name, type, flags(4), addr(4), offset(4), size(4), …
                let (flags_at, offset_at, size_at) = if is64 {
                    (at + 8, at + 24, at + 32)
                } else {
                    (at + 8, at + 16, at + 20)
                };
                let sh_type = field(raw.u32(at + 4).map(u64::from))? as u32;
                let sh_flags = field(raw.word(flags_at, is64))?;
                let sh_offset = field(raw.word(offset_at, is64))?;
                let sh_size = field(raw.word(size_at, is64))?;
                if sh_type == SHT_NOBITS {
                    if sh_flags & SHF_EXECINSTR != 0 && sh_size > 0 {
                        code_without_bytes = true;
                    }
                    continue;
                }
                if i == 0 {
                    // The null section's size field may hold an extended section count.
                    continue;
                }
                let end = sh_offset.checked_add(sh_size).ok_or_else(|| {
                    ElfError::Malformed(format!("section {i} ends past 2^64 bytes"))
                })?;
                needed = needed.max(end);
            }
        }

        // A debug file keeps the headers of the image it came from but not its bytes, so it must
        // be recognised before the segment sizes are held against the file size.
        if code_without_bytes || dynamic_without_bytes {
            return Err(ElfError::DebugOnly);
        }
        if needed > actual {
            return Err(truncated(needed, actual));
        }
        Ok(RawLayout {
            class,
            endianness,
            os_abi: bytes[7],
            e_type,
            e_machine,
        })
    }
}

fn truncated(needed: u64, actual: u64) -> ElfError {
    ElfError::Truncated { needed, actual }
}

/// Everything that needs the parsed tables. Runs under `catch_unwind`.
fn facts_from_parser(bytes: &[u8], layout: &RawLayout) -> Result<ElfFacts, ElfError> {
    let elf = Elf::parse(bytes).map_err(|e| ElfError::Malformed(e.to_string()))?;

    let is_pie = elf
        .dynamic
        .as_ref()
        .is_some_and(|d| d.info.flags_1 & dynamic::DF_1_PIE != 0);
    let file_type = match layout.e_type {
        ET_DYN if is_pie => FileType::Executable,
        ET_DYN => FileType::SharedObject,
        ET_EXEC => FileType::Executable,
        ET_REL => FileType::Relocatable,
        ET_CORE => FileType::Core,
        other => FileType::Other(other),
    };

    let mut onload = false;
    let mut exported = 0;
    for symbol in elf.dynsyms.iter().skip(1) {
        let bind = symbol.st_bind();
        let visible = matches!(bind, sym::STB_GLOBAL | sym::STB_WEAK | sym::STB_GNU_UNIQUE)
            && matches!(
                symbol.st_visibility(),
                sym::STV_DEFAULT | sym::STV_PROTECTED
            );
        if !visible || symbol.st_shndx == SHN_UNDEF || symbol.st_type() == sym::STT_SECTION {
            continue;
        }
        exported += 1;
        let is_function = matches!(symbol.st_type(), sym::STT_FUNC | sym::STT_GNU_IFUNC);
        if is_function && elf.dynstrtab.get_at(symbol.st_name) == Some(ONLOAD_SYMBOL) {
            onload = true;
        }
    }

    Ok(ElfFacts {
        machine: Machine::from_e_machine(layout.e_machine),
        class: layout.class,
        endianness: layout.endianness,
        file_type,
        os_abi: OsAbi(layout.os_abi),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        soname: elf.soname.map(str::to_string),
        runpath: elf
            .rpaths
            .iter()
            .chain(elf.runpaths.iter())
            .map(|s| s.to_string())
            .collect(),
        version_needs: version_needs(&elf)?,
        has_redis_module_onload: onload,
        exported_symbols: exported,
        has_symtab: !elf.syms.is_empty(),
        build_id: build_id(&elf, bytes),
    })
}

/// The `.gnu.version_r` entries, each with the undefined symbols `.gnu.version` binds to it.
fn version_needs(elf: &Elf<'_>) -> Result<Vec<SymbolVersion>, ElfError> {
    let Some(verneed) = &elf.verneed else {
        return Ok(Vec::new());
    };
    let string = |offset: usize, what: &str| {
        elf.dynstrtab
            .get_at(offset)
            .map(str::to_string)
            .ok_or_else(|| {
                ElfError::Malformed(format!(
                "a version need names its {what} at string offset {offset}, outside the dynamic \
                 string table"
            ))
            })
    };

    // (version index, need) in file order.
    let mut needs: Vec<(u16, SymbolVersion)> = Vec::new();
    for file in verneed.iter() {
        let library = string(file.vn_file, "library")?;
        for aux in file.iter() {
            let name = string(aux.vna_name, "version")?;
            needs.push((
                aux.vna_other & VERSYM_INDEX_MASK,
                SymbolVersion {
                    library: library.clone(),
                    family: VersionFamily::of(&name),
                    version: parse_version_number(&name),
                    name,
                    symbols: Vec::new(),
                },
            ));
        }
    }

    if let Some(versym) = &elf.versym {
        for (index, symbol) in elf.dynsyms.iter().enumerate().skip(1) {
            if symbol.st_shndx != SHN_UNDEF {
                continue;
            }
            let Some(version) = versym.get_at(index) else {
                continue;
            };
            let version_index = version.vs_val & VERSYM_INDEX_MASK;
            let Some((_, need)) = needs.iter_mut().find(|(i, _)| *i == version_index) else {
                continue;
            };
            if let Some(name) = elf.dynstrtab.get_at(symbol.st_name) {
                need.symbols.push(name.to_string());
            }
        }
    }

    Ok(needs
        .into_iter()
        .map(|(_, mut need)| {
            need.symbols.sort();
            need.symbols.dedup();
            need
        })
        .collect())
}

/// The numbers in a version name: `GLIBC_2.2.5` → `[2, 2, 5]`, `OPENSSL_1_1_0` → `[1, 1, 0]`,
/// `OPENSSL_1_1_1d` → `[1, 1, 1, 4]`, `GLIBC_PRIVATE` → `[]`.
pub fn parse_version_number(version_name: &str) -> Vec<u32> {
    let Some(first_digit) = version_name.find(|c: char| c.is_ascii_digit()) else {
        return Vec::new();
    };
    let mut numbers = Vec::new();
    for part in version_name[first_digit..].split(['.', '_']) {
        let digits_end = part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(part.len());
        let Ok(number) = part[..digits_end].parse::<u32>() else {
            break;
        };
        numbers.push(number);
        // A single trailing letter is a patch level (OpenSSL's 1.1.1d): a=1, b=2, …
        match &part.as_bytes()[digits_end..] {
            [] => {}
            [letter @ b'a'..=b'z'] => {
                numbers.push(u32::from(letter - b'a') + 1);
                break;
            }
            _ => break,
        }
    }
    numbers
}

/// The GNU build ID from the file's notes, in hex.
fn build_id(elf: &Elf<'_>, bytes: &[u8]) -> Option<String> {
    let notes = elf.iter_note_headers(bytes)?;
    for item in notes {
        let Ok(item) = item else { break };
        if item.n_type == note::NT_GNU_BUILD_ID && item.name == "GNU" {
            return Some(hex_string(item.desc));
        }
    }
    None
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Names common non-ELF formats from their first bytes, to make the error more useful.
fn describe_magic(start: &[u8]) -> Option<&'static str> {
    let kind = match start {
        [b'#', b'!', ..] => "a script",
        [b'P', b'K', 3, 4] => {
            "a zip archive; `rmpack inspect` and `rmpack validate` read module zips"
        }
        [0x1f, 0x8b, ..] => "a gzip archive; extract the module's .so from it first",
        [b'!', b'<', b'a', b'r'] => "a static library (.a); link the module with -shared",
        [b'M', b'Z', ..] => "a Windows executable or DLL",
        [0xcf, 0xfa, 0xed, 0xfe] | [0xce, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe] => {
            "a macOS Mach-O binary; build the module on Linux"
        }
        [b'{', ..] => "JSON text",
        [b'v', b'e', b'r', b's'] => "a Git LFS pointer; fetch the real file with `git lfs pull`",
        _ if start
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            "text"
        }
        _ => return None,
    };
    Some(kind)
}

macro_rules! serialize_with_display {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}

serialize_with_display!(
    Machine,
    ElfClass,
    Endianness,
    FileType,
    OsAbi,
    VersionFamily
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A real module: the committed aarch64 build of the `plain` fixture.
    const PLAIN_AARCH64: &[u8] = include_bytes!("../testdata/prebuilt/plain.aarch64.so");

    fn read_through_file(bytes: &[u8]) -> Result<ElfFacts, ElfError> {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        ElfFacts::read_file(&file, bytes.len() as u64)
    }

    #[test]
    fn bounded_file_reads_agree_with_reading_the_whole_file() {
        assert_eq!(
            read_through_file(PLAIN_AARCH64),
            ElfFacts::read(PLAIN_AARCH64)
        );
        // Truncated and corrupted images give the same answer, error or facts, both ways.
        for cut in (0..PLAIN_AARCH64.len()).step_by(997) {
            let prefix = &PLAIN_AARCH64[..cut];
            assert_eq!(
                read_through_file(prefix),
                ElfFacts::read(prefix),
                "cut at {cut}"
            );
        }
        let mut state = 12345u64;
        for _ in 0..100 {
            let mut bytes = PLAIN_AARCH64.to_vec();
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let at = (state >> 33) as usize % 4096.min(bytes.len());
            bytes[at] ^= (state >> 8) as u8 | 1;
            assert_eq!(
                read_through_file(&bytes),
                ElfFacts::read(&bytes),
                "byte {at}"
            );
        }
        // A file that claims more than it has is caught by the size check, not a short read.
        let file = tempfile::tempfile().unwrap();
        assert!(ElfFacts::read_file(&file, 100).is_err());
    }

    #[test]
    fn reads_the_committed_aarch64_module() {
        let facts = ElfFacts::read(PLAIN_AARCH64).expect("facts");
        assert_eq!(facts.machine, Machine::Aarch64);
        assert_eq!(facts.rs_architecture(), Some("aarch64"));
        assert_eq!(facts.class, ElfClass::Elf64);
        assert_eq!(facts.file_type, FileType::SharedObject);
        assert!(facts.has_redis_module_onload);
        assert_eq!(facts.needed, ["libc.so.6"]);
        let glibc = facts.max_glibc().expect("a glibc need");
        assert_eq!(glibc.name, "GLIBC_2.17");
        assert_eq!(glibc.version, [2, 17]);
        assert!(!glibc.symbols.is_empty());
    }

    #[test]
    fn truncated_prefixes_are_errors_not_panics() {
        let lengths = (0..4096).chain((4096..PLAIN_AARCH64.len()).step_by(61));
        for len in lengths {
            match ElfFacts::read(&PLAIN_AARCH64[..len]) {
                Err(ElfError::Truncated { needed, actual }) => {
                    assert_eq!(actual, len as u64);
                    assert!(needed > actual, "len {len}");
                }
                Err(ElfError::Empty) => assert_eq!(len, 0),
                other => panic!("prefix of {len} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn corrupted_modules_never_panic() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..3000 {
            let mut bytes = PLAIN_AARCH64.to_vec();
            // Corrupt a few bytes, mostly in the headers and tables where the parser looks.
            for _ in 0..rng.usize(1..8) {
                let at = if rng.bool() {
                    rng.usize(0..1024)
                } else {
                    rng.usize(0..bytes.len())
                };
                bytes[at] = rng.u8(..);
            }
            let _ = ElfFacts::read(&bytes);
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..3000 {
            let len = rng.usize(0..512);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            // Half the time, make it look like an ELF so the deeper checks run.
            if rng.bool() && len >= 7 {
                bytes[..4].copy_from_slice(ELF_MAGIC);
                bytes[4] = rng.u8(1..=2);
                bytes[5] = rng.u8(1..=2);
                bytes[6] = 1;
            }
            let _ = ElfFacts::read(&bytes);
        }
    }

    /// A bare ELF header (no program or section headers) for `e_machine`.
    fn header(is64: bool, little: bool, e_type: u16, e_machine: u16, os_abi: u8) -> Vec<u8> {
        let size = if is64 { 64 } else { 52 };
        let mut bytes = vec![0u8; size];
        bytes[..4].copy_from_slice(ELF_MAGIC);
        bytes[4] = if is64 { 2 } else { 1 };
        bytes[5] = if little { 1 } else { 2 };
        bytes[6] = 1;
        bytes[7] = os_abi;
        let put16 = |bytes: &mut Vec<u8>, at: usize, value: u16| {
            let raw = if little {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            bytes[at..at + 2].copy_from_slice(&raw);
        };
        put16(&mut bytes, 16, e_type);
        put16(&mut bytes, 18, e_machine);
        // e_ehsize
        put16(&mut bytes, if is64 { 52 } else { 40 }, size as u16);
        bytes
    }

    #[test]
    fn hand_built_32_bit_arm_header() {
        let facts = ElfFacts::read(&header(false, true, ET_DYN, 40, 0)).expect("facts");
        assert_eq!(facts.machine, Machine::Other { e_machine: 40 });
        assert_eq!(facts.machine.to_string(), "32-bit ARM");
        assert_eq!(facts.class, ElfClass::Elf32);
        assert_eq!(facts.endianness, Endianness::Little);
        assert_eq!(facts.file_type, FileType::SharedObject);
        assert_eq!(facts.rs_architecture(), None);
        assert_eq!(facts.describe_architecture(), "32-bit ARM");
        assert!(!facts.has_redis_module_onload);
        assert!(facts.needed.is_empty());
    }

    #[test]
    fn hand_built_big_endian_headers() {
        let ppc = ElfFacts::read(&header(true, false, ET_DYN, 21, 0)).expect("facts");
        assert_eq!(ppc.endianness, Endianness::Big);
        assert_eq!(ppc.machine.to_string(), "PowerPC64");
        assert_eq!(ppc.describe_architecture(), "PowerPC64 (big-endian)");

        // aarch64_be: the machine RS accepts, in a byte order it does not.
        let be = ElfFacts::read(&header(true, false, ET_DYN, EM_AARCH64, 0)).expect("facts");
        assert_eq!(be.machine, Machine::Aarch64);
        assert_eq!(be.machine.rs_arch_name(), Some("aarch64"));
        assert_eq!(be.rs_architecture(), None);

        // x32: x86_64 instructions in a 32-bit ELF.
        let x32 = ElfFacts::read(&header(false, true, ET_DYN, EM_X86_64, 0)).expect("facts");
        assert_eq!(x32.rs_architecture(), None);
        assert_eq!(x32.describe_architecture(), "x86_64 (32-bit)");
    }

    #[test]
    fn header_fields_are_named() {
        let i386 = ElfFacts::read(&header(false, true, ET_EXEC, 3, 9)).expect("facts");
        assert_eq!(i386.machine.to_string(), "x86 (32-bit)");
        assert_eq!(i386.file_type, FileType::Executable);
        assert_eq!(i386.os_abi.to_string(), "FreeBSD");
        assert!(!i386.os_abi.is_linux_compatible());
        assert!(OsAbi(3).is_linux_compatible());
        assert_eq!(OsAbi(0).to_string(), "SYSV");

        let riscv = ElfFacts::read(&header(true, true, ET_REL, 243, 0)).expect("facts");
        assert_eq!(riscv.machine.to_string(), "RISC-V");
        assert_eq!(riscv.file_type, FileType::Relocatable);
        assert_eq!(
            Machine::from_e_machine(0x1234).to_string(),
            "e_machine 0x1234"
        );
    }

    #[test]
    fn bad_identification_bytes_are_malformed() {
        let mut bad_class = header(true, true, ET_DYN, EM_X86_64, 0);
        bad_class[4] = 9;
        assert!(
            matches!(ElfFacts::read(&bad_class), Err(ElfError::Malformed(m)) if m.contains("class"))
        );
        let mut bad_order = header(true, true, ET_DYN, EM_X86_64, 0);
        bad_order[5] = 0;
        assert!(
            matches!(ElfFacts::read(&bad_order), Err(ElfError::Malformed(m)) if m.contains("byte-order"))
        );
    }

    #[test]
    fn header_tables_past_the_end_are_truncation() {
        let mut bytes = header(true, true, ET_DYN, EM_X86_64, 0);
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        bytes[56..58].copy_from_slice(&3u16.to_le_bytes()); // e_phnum
        assert_eq!(
            ElfFacts::read(&bytes),
            Err(ElfError::Truncated {
                needed: 64 + 3 * 56,
                actual: 64
            })
        );
    }

    #[test]
    fn not_elf_names_what_it_is() {
        let message = ElfFacts::read(b"#!/bin/sh\n").unwrap_err().to_string();
        assert!(message.contains("23 21 2f 62"), "{message}");
        assert!(message.contains("a script"), "{message}");
        let zip = ElfFacts::read(b"PK\x03\x04rest").unwrap_err().to_string();
        assert!(zip.contains("zip archive"), "{zip}");
        assert_eq!(ElfFacts::read(b""), Err(ElfError::Empty));
        // A prefix of the magic is a truncated ELF, not a foreign file.
        assert!(matches!(
            ElfFacts::read(b"\x7fEL"),
            Err(ElfError::Truncated { .. })
        ));
    }

    #[test]
    fn version_numbers_parse() {
        assert_eq!(parse_version_number("GLIBC_2.34"), [2, 34]);
        assert_eq!(parse_version_number("GLIBC_2.2.5"), [2, 2, 5]);
        assert_eq!(parse_version_number("GLIBCXX_3.4.29"), [3, 4, 29]);
        assert_eq!(parse_version_number("OPENSSL_1_1_0"), [1, 1, 0]);
        assert_eq!(parse_version_number("OPENSSL_1_1_1d"), [1, 1, 1, 4]);
        assert_eq!(parse_version_number("OPENSSL_3.0.0"), [3, 0, 0]);
        assert!(parse_version_number("GLIBC_PRIVATE").is_empty());
        assert_eq!(VersionFamily::of("GLIBCXX_3.4"), VersionFamily::Glibcxx);
        assert_eq!(VersionFamily::of("GLIBC_2.17"), VersionFamily::Glibc);
        assert_eq!(VersionFamily::of("OPENSSL_3.0.0"), VersionFamily::Openssl);
        assert_eq!(VersionFamily::of("CXXABI_1.3"), VersionFamily::Other);
    }

    #[test]
    fn highest_version_wins_numerically() {
        let need = |name: &str| SymbolVersion {
            library: "libc.so.6".into(),
            name: name.into(),
            family: VersionFamily::of(name),
            version: parse_version_number(name),
            symbols: vec![],
        };
        let mut facts = ElfFacts::read(PLAIN_AARCH64).expect("facts");
        facts.version_needs = vec![
            need("GLIBC_2.2.5"),
            need("GLIBC_2.34"),
            need("GLIBC_2.4"),
            need("GLIBC_PRIVATE"),
        ];
        assert_eq!(
            facts.max_glibc().map(|v| v.name.as_str()),
            Some("GLIBC_2.34")
        );
        let above: Vec<_> = facts
            .versions_above(VersionFamily::Glibc, &[2, 3])
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(above, ["GLIBC_2.34", "GLIBC_2.4"]);
        assert!(facts.max_openssl().is_none());
    }
}
