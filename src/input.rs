//! Bounded, typed reads of the files a user names on the command line.
//!
//! Every file rmpack reads on a user's say-so goes through here, so that a FIFO, a device, a
//! socket or a directory given where a file is expected is refused at once with what it is (it is
//! opened with `O_NONBLOCK` and checked with `fstat` before a byte is read, so a FIFO with no
//! writer cannot hang us), and so that a file larger than its kind allows is refused after reading
//! at most one byte past the cap (so `/dev/zero` or a huge file cannot take memory).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What a user-given file is expected to be; each kind has its own size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// A `module.json` (4 MiB).
    ModuleJson,
    /// An input manifest, `rmpack.toml` or `ramp.yml` (1 MiB).
    Manifest,
    /// A JSON file of commands, for `--add-command` or `--override-command` (4 MiB).
    CommandJson,
    /// A database configuration, for `--db-config` (1 MiB).
    DatabaseConfig,
    /// A module `.so` (no small cap: real modules reach hundreds of megabytes).
    Module,
    /// A module zip.
    Zip,
    /// A dependency archive or file.
    Dependency,
    /// A checksum file of a release, as `sha256sum` writes it (1 MiB).
    Checksums,
}

impl InputKind {
    /// The largest file of this kind that is read, in bytes; `None` for no cap beyond the file's
    /// own length.
    pub fn cap(self) -> Option<u64> {
        match self {
            InputKind::ModuleJson | InputKind::CommandJson => Some(4 << 20),
            InputKind::Manifest | InputKind::DatabaseConfig | InputKind::Checksums => Some(1 << 20),
            InputKind::Module | InputKind::Zip | InputKind::Dependency => None,
        }
    }

    /// How the kind is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            InputKind::ModuleJson => "module.json",
            InputKind::Manifest => "manifest",
            InputKind::CommandJson => "command JSON file",
            InputKind::DatabaseConfig => "database configuration",
            InputKind::Module => "module",
            InputKind::Zip => "module zip",
            InputKind::Dependency => "dependency",
            InputKind::Checksums => "checksum file",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What a path names when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAFile {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device such as `/dev/zero`.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else that is not a regular file.
    Other,
}

impl fmt::Display for NotAFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAFile::Directory => "a directory",
            NotAFile::Fifo => "a FIFO (named pipe)",
            NotAFile::CharDevice => "a character device",
            NotAFile::BlockDevice => "a block device",
            NotAFile::Socket => "a socket",
            NotAFile::Other => "not a regular file",
        })
    }
}

/// Why a user-given file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The path names something other than a regular file.
    #[error("the {kind} {path} is {what}, not a regular file; give the path of a file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What the file was expected to be.
        kind: InputKind,
        /// What it is instead.
        what: NotAFile,
    },
    /// The file is larger than its kind allows.
    #[error("the {kind} {path} is larger than {cap} bytes, the most rmpack reads for a {kind}")]
    TooLarge {
        /// The path given.
        path: PathBuf,
        /// What the file was expected to be.
        kind: InputKind,
        /// The cap, in bytes.
        cap: u64,
    },
    /// The file changed size while it was read.
    #[error("the {kind} {path} changed size while it was read ({expected} bytes at open, {found} read); read it again once nothing writes to it")]
    Changed {
        /// The path given.
        path: PathBuf,
        /// What the file was expected to be.
        kind: InputKind,
        /// The length when it was opened.
        expected: u64,
        /// The bytes actually read.
        found: u64,
    },
    /// The file cannot be opened or read.
    #[error("cannot read the {kind} {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// What the file was expected to be.
        kind: InputKind,
        /// The I/O error.
        source: io::Error,
    },
}

impl InputError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            InputError::NotAFile { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::Changed { path, .. }
            | InputError::Io { path, .. } => path,
        }
    }
}

#[cfg(unix)]
fn classify(file_type: std::fs::FileType) -> Option<NotAFile> {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some(NotAFile::Directory)
    } else if file_type.is_fifo() {
        Some(NotAFile::Fifo)
    } else if file_type.is_char_device() {
        Some(NotAFile::CharDevice)
    } else if file_type.is_block_device() {
        Some(NotAFile::BlockDevice)
    } else if file_type.is_socket() {
        Some(NotAFile::Socket)
    } else {
        Some(NotAFile::Other)
    }
}

#[cfg(not(unix))]
fn classify(file_type: std::fs::FileType) -> Option<NotAFile> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some(NotAFile::Directory)
    } else {
        Some(NotAFile::Other)
    }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Clears `O_NONBLOCK` again once the file is known to be regular, so reads behave as usual.
#[cfg(unix)]
fn make_blocking(file: &File) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

#[cfg(not(unix))]
fn make_blocking(_file: &File) {}

/// Opens a user-given file of `kind` for streaming, after checking that it is a regular file
/// within the kind's cap. Returns the file and its length at open.
pub fn open_file(path: &Path, kind: InputKind) -> Result<(File, u64), InputError> {
    let io_error = |source| InputError::Io {
        path: path.to_path_buf(),
        kind,
        source,
    };
    let file = match open_nonblocking(path) {
        Ok(file) => file,
        Err(error) => {
            // A socket cannot be opened at all (ENXIO); name what the path is if we can tell.
            if let Ok(metadata) = std::fs::metadata(path) {
                if let Some(what) = classify(metadata.file_type()) {
                    return Err(InputError::NotAFile {
                        path: path.to_path_buf(),
                        kind,
                        what,
                    });
                }
            }
            return Err(io_error(error));
        }
    };
    let metadata = file.metadata().map_err(io_error)?;
    if let Some(what) = classify(metadata.file_type()) {
        return Err(InputError::NotAFile {
            path: path.to_path_buf(),
            kind,
            what,
        });
    }
    let len = metadata.len();
    if let Some(cap) = kind.cap() {
        if len > cap {
            return Err(InputError::TooLarge {
                path: path.to_path_buf(),
                kind,
                cap,
            });
        }
    }
    make_blocking(&file);
    Ok((file, len))
}

/// Reads a whole user-given file of `kind`: a regular file only, at most the kind's cap (reading
/// at most one byte past it, whatever the file claims its length is).
pub fn read_file(path: &Path, kind: InputKind) -> Result<Vec<u8>, InputError> {
    let (file, len) = open_file(path, kind)?;
    let io_error = |source| InputError::Io {
        path: path.to_path_buf(),
        kind,
        source,
    };
    // Files such as those in /proc report length 0 but have content: the cap bounds them.
    let bound = match kind.cap() {
        Some(cap) => cap.saturating_add(1),
        None => len.saturating_add(1),
    };
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(bound)).unwrap_or(0));
    file.take(bound).read_to_end(&mut bytes).map_err(io_error)?;
    let read = bytes.len() as u64;
    match kind.cap() {
        Some(cap) if read > cap => Err(InputError::TooLarge {
            path: path.to_path_buf(),
            kind,
            cap,
        }),
        None if read != len => Err(InputError::Changed {
            path: path.to_path_buf(),
            kind,
            expected: len,
            found: read,
        }),
        _ => Ok(bytes),
    }
}

/// Reads a whole user-given file of `kind` as UTF-8 text, with the checks of [`read_file`].
pub fn read_to_string(path: &Path, kind: InputKind) -> Result<String, InputError> {
    let bytes = read_file(path, kind)?;
    String::from_utf8(bytes).map_err(|error| InputError::Io {
        path: path.to_path_buf(),
        kind,
        source: io::Error::new(io::ErrorKind::InvalidData, error.utf8_error()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("module.json");
        std::fs::write(&path, b"{\"name\":\"m\"}").unwrap();
        assert_eq!(
            read_file(&path, InputKind::ModuleJson).unwrap(),
            b"{\"name\":\"m\"}"
        );
        let (_, len) = open_file(&path, InputKind::Module).unwrap();
        assert_eq!(len, 12);
        assert_eq!(
            read_to_string(&path, InputKind::Manifest).unwrap(),
            "{\"name\":\"m\"}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_is_refused_as_a_character_device() {
        for kind in [
            InputKind::ModuleJson,
            InputKind::Module,
            InputKind::Manifest,
            InputKind::Zip,
        ] {
            let error = read_file(Path::new("/dev/zero"), kind).unwrap_err();
            assert!(
                matches!(
                    error,
                    InputError::NotAFile {
                        what: NotAFile::CharDevice,
                        ..
                    }
                ),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("/dev/zero"), "{message}");
            assert!(message.contains("character device"), "{message}");
            assert!(message.contains(kind.describe()), "{message}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // Without O_NONBLOCK this open would wait for a writer forever.
        let error = read_file(&path, InputKind::Manifest).unwrap_err();
        assert!(
            matches!(
                error,
                InputError::NotAFile {
                    what: NotAFile::Fifo,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("FIFO"), "{error}");
        let error = open_file(&path, InputKind::Module).unwrap_err();
        assert!(error.to_string().contains("FIFO"), "{error}");
    }

    #[test]
    fn a_directory_is_refused_as_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_file(dir.path(), InputKind::ModuleJson).unwrap_err();
        assert!(
            matches!(
                error,
                InputError::NotAFile {
                    what: NotAFile::Directory,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("a directory"), "{error}");
        assert_eq!(error.path(), dir.path());
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_is_refused_as_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let error = read_file(&path, InputKind::DatabaseConfig).unwrap_err();
        assert!(
            matches!(
                error,
                InputError::NotAFile {
                    what: NotAFile::Socket,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_file_over_its_kind_cap_is_refused_naming_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ramp.yml");
        // Sparse: the length is what counts, no disk is used.
        let file = File::create(&path).unwrap();
        file.set_len((1 << 20) + 1).unwrap();
        let error = read_file(&path, InputKind::Manifest).unwrap_err();
        assert!(
            matches!(error, InputError::TooLarge { cap, .. } if cap == 1 << 20),
            "{error:?}"
        );
        assert!(error.to_string().contains("1048576"), "{error}");
        // Exactly at the cap is fine.
        file.set_len(1 << 20).unwrap();
        assert_eq!(
            read_file(&path, InputKind::Manifest).unwrap().len(),
            1 << 20
        );
        // The same length is fine for a kind with a larger cap.
        file.set_len((1 << 20) + 1).unwrap();
        assert!(read_file(&path, InputKind::CommandJson).is_ok());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_reporting_length_zero_is_still_bounded_by_the_cap() {
        // /proc files report length 0; their content is read, up to the cap.
        let bytes = read_file(Path::new("/proc/self/status"), InputKind::Manifest).unwrap();
        assert!(!bytes.is_empty());
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_the_path_and_kind() {
        let error =
            read_file(Path::new("/nonexistent/db.json"), InputKind::DatabaseConfig).unwrap_err();
        assert!(matches!(error, InputError::Io { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("/nonexistent/db.json"), "{message}");
        assert!(message.contains("database configuration"), "{message}");
    }
}
