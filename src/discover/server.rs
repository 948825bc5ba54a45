//! The throw-away `redis-server` guard: a private Unix socket, no TCP port, one client, and a
//! process that dies with rmpack.
//!
//! The server runs in a fresh temporary folder of mode 0700 and listens only on a Unix socket
//! inside it (`port 0`, `unixsocketperm 700`), so no other local user can reach it, and with
//! `maxclients 1`, so the guard's own connection is the only one it accepts: a stray client is
//! turned away instead of interleaving with discovery. The process gets its own process group and
//! a parent-death signal (SIGKILL when the thread that started it ends), and is registered with
//! [`crate::interrupt`], so SIGINT/SIGTERM/SIGHUP kill and reap it and remove its folder.
//! Dropping the guard does the same on every path out of a scope, panics included.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::command_info::command_from_info;
use super::resp::{encode_request, read_reply, ReadError, Reply};
use super::{io_error, locate_redis_server, protocol, DiscoverError, MAX_LOG_LINES};
use crate::interrupt::{self, CleanupGuard};
use crate::manifest::{Command, DottedVersion, ModuleVersion};

/// How often the socket is polled while the server starts.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// How long a startup probe waits for `PONG` before checking on the process again.
const PING_WAIT: Duration = Duration::from_millis(250);

/// The socket's file name inside the server's folder.
const SOCKET_NAME: &str = "redis.sock";

/// A running, throw-away `redis-server` on a private Unix socket, with its one open connection.
///
/// Dropping the guard kills and reaps the server and removes its temporary directory.
pub struct RedisServer {
    // Fields drop in declaration order: the process goes first, its directory last, and each
    // interrupt registration only after what it covers is gone.
    child: ReapOnDrop,
    _kill_on_interrupt: CleanupGuard,
    reader: BufReader<UnixStream>,
    socket_path: PathBuf,
    log_path: PathBuf,
    timeout: Duration,
    resp3: bool,
    version: String,
    dir: tempfile::TempDir,
    _remove_on_interrupt: CleanupGuard,
}

/// A child process that is killed (with its process group) and reaped when dropped.
struct ReapOnDrop(Child);

impl ReapOnDrop {
    /// Kills and reaps the process now; dropping afterwards does nothing more.
    fn stop(&mut self) {
        // Nothing is persisted, so there is no state a graceful shutdown would save. The group
        // goes too: a module may have started processes of its own.
        if self.0.try_wait().ok().flatten().is_none() {
            if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
                // SAFETY: a signal to the process group our own child leads.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// The exit status if the process has ended.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for ReapOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("pid", &self.pid())
            .field("socket", &self.socket_path)
            .field("version", &self.version)
            .finish()
    }
}

impl RedisServer {
    /// Starts `redis-server` (found as [`locate_redis_server`] does) and waits until it answers.
    pub fn start(redis_server: Option<&Path>, timeout: Duration) -> Result<Self, DiscoverError> {
        let binary = locate_redis_server(redis_server)?;
        Self::start_binary(&binary, timeout)
    }

    /// Starts the given `redis-server` binary and waits until it answers `PING`, at most
    /// `timeout`. The server accepts one client: this guard.
    ///
    /// The connection speaks RESP3 (maps arrive as [`Reply::Map`]) when the server knows `HELLO 3`.
    pub fn start_binary(binary: &Path, timeout: Duration) -> Result<Self, DiscoverError> {
        Self::start_with_clients(binary, timeout, 1)
    }

    /// Like [`RedisServer::start_binary`], but accepting up to `max_clients` connections (the
    /// guard's included), for a caller that connects a second client itself (`redis-cli -s`).
    pub fn start_with_clients(
        binary: &Path,
        timeout: Duration,
        max_clients: u32,
    ) -> Result<Self, DiscoverError> {
        let deadline = Instant::now() + timeout;
        let dir = tempfile::Builder::new()
            .prefix("rmpack-redis-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(io_error(
                "cannot create a temporary directory for redis-server",
            ))?;
        let remove_on_interrupt = interrupt::remove_on_interrupt(dir.path());
        // The umask cannot widen it, but a TMPDIR with odd defaults (ACLs) could: say it plainly.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(
            io_error(format!("cannot make {} private", dir.path().display())),
        )?;
        let log_path = dir.path().join("redis.log");
        let socket_path = dir.path().join(SOCKET_NAME);
        let output_path = dir.path().join("output.log");
        let output = File::create(&output_path)
            .map_err(io_error(format!("cannot create {}", output_path.display())))?;
        let output_err = output
            .try_clone()
            .map_err(io_error("cannot duplicate a file handle"))?;
        let mut command = std::process::Command::new(binary);
        command
            // No TCP listener at all: the socket below, in a folder only we can enter, is the
            // only way in.
            .args(["--port", "0"])
            .arg("--unixsocket")
            .arg(&socket_path)
            .args(["--unixsocketperm", "700"])
            .args(["--maxclients", &max_clients.max(1).to_string()])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--enable-module-command", "yes"])
            .args(["--daemonize", "no"])
            .arg("--logfile")
            .arg(&log_path)
            .arg("--dir")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(output_err)
            // Its own group: a terminal's Ctrl-C reaches rmpack only, which then stops the
            // server itself (and everything the module may have started).
            .process_group(0);
        // SAFETY: getpid is async-signal-safe; it runs before fork.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure calls only async-signal-safe functions (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                // The server dies with the thread that started it, even when rmpack is killed
                // with SIGKILL and no handler runs.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // rmpack may have died between fork and prctl: then nobody would stop us.
                if libc::getppid() != parent {
                    return Err(io::Error::other(
                        "rmpack exited while starting redis-server",
                    ));
                }
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => ReapOnDrop(child),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(DiscoverError::ServerNotFound {
                    looked_at: format!("{} cannot be run: {e}", binary.display()),
                })
            }
            Err(e) => {
                return Err(DiscoverError::ServerStart {
                    server: binary.to_path_buf(),
                    reason: format!("cannot run it: {e}"),
                    log: Vec::new(),
                })
            }
        };
        let kill_on_interrupt = interrupt::kill_on_interrupt(child.0.id());
        let failure = |child: &mut ReapOnDrop| {
            child.stop();
            let mut log = tail_lines(&output_path, MAX_LOG_LINES);
            log.extend(tail_lines(&log_path, MAX_LOG_LINES));
            log
        };

        let stream = loop {
            if let Some(status) = child.exited() {
                let log = failure(&mut child);
                return Err(DiscoverError::ServerStart {
                    server: binary.to_path_buf(),
                    reason: format!("it exited early ({status})"),
                    log,
                });
            }
            if Instant::now() >= deadline {
                let _ = failure(&mut child);
                return Err(DiscoverError::Timeout {
                    action: "PING while starting".to_string(),
                    timeout,
                });
            }
            match answers_ping(&socket_path) {
                Some(stream) => break stream,
                None => std::thread::sleep(POLL_INTERVAL),
            }
        };
        let mut server = RedisServer {
            child,
            _kill_on_interrupt: kill_on_interrupt,
            reader: BufReader::new(stream),
            socket_path,
            log_path,
            timeout,
            resp3: false,
            version: String::new(),
            dir,
            _remove_on_interrupt: remove_on_interrupt,
        };
        server.set_socket_timeouts()?;
        let info = server.query_ok(&["INFO", "server"])?;
        server.version = info
            .as_text()
            .and_then(|text| info_field(&text, "redis_version"))
            .ok_or_else(|| protocol("INFO server names no redis_version"))?;
        server.negotiate_resp3()?;
        Ok(server)
    }

    fn set_socket_timeouts(&mut self) -> Result<(), DiscoverError> {
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|_| stream.set_write_timeout(Some(self.timeout)))
            .map_err(io_error("cannot configure the redis-server connection"))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The Unix socket the server listens on (it has no TCP port).
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The server's version as `INFO server` reports it (`redis_version`, e.g. `7.0.15`).
    pub fn redis_version(&self) -> &str {
        &self.version
    }

    /// The server's temporary working directory (mode 0700), removed when the guard is dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Sends one request (each argument as its own bulk string) and reads the reply.
    ///
    /// An error reply is returned as [`Reply::Error`], not as an `Err`.
    pub fn query<I, A>(&mut self, args: I) -> Result<Reply, DiscoverError>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let args: Vec<A> = args.into_iter().collect();
        let action = args
            .first()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .unwrap_or_default();
        let request = encode_request(&args);
        let timeout = self.timeout;
        let map_io = |e: io::Error| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => DiscoverError::Timeout {
                action: action.clone(),
                timeout,
            },
            _ => DiscoverError::Io {
                context: format!("lost the connection to redis-server during {action}"),
                source: e,
            },
        };
        self.reader.get_mut().write_all(&request).map_err(&map_io)?;
        read_reply(&mut self.reader, 0).map_err(|e| match e {
            ReadError::Io(e) => map_io(e),
            ReadError::Malformed(detail) => protocol(format!("{detail} (in reply to {action})")),
        })
    }

    /// Like [`RedisServer::query`], but an error reply becomes [`DiscoverError::CommandFailed`].
    fn query_ok(&mut self, args: &[&str]) -> Result<Reply, DiscoverError> {
        match self.query(args)? {
            Reply::Error(reply) => Err(DiscoverError::CommandFailed {
                command: args.join(" "),
                reply,
            }),
            reply => Ok(reply),
        }
    }

    /// Switches the connection to RESP3 so maps (key specs) arrive as maps; servers without
    /// `HELLO` stay on RESP2.
    fn negotiate_resp3(&mut self) -> Result<(), DiscoverError> {
        self.resp3 = !matches!(self.query(["HELLO", "3"])?, Reply::Error(_));
        Ok(())
    }

    /// The names of every command the server has, as registered (Redis 7 includes `parent|sub`).
    pub fn command_names(&mut self) -> Result<BTreeSet<String>, DiscoverError> {
        let names: Vec<String> = match self.query(["COMMAND", "LIST"])? {
            // Before Redis 7 there is no COMMAND LIST; the full COMMAND reply starts with names.
            Reply::Error(_) => self
                .query_ok(&["COMMAND"])?
                .as_list()
                .ok_or_else(|| protocol("COMMAND did not return an array"))?
                .iter()
                .map(|entry| {
                    entry
                        .as_list()
                        .and_then(|fields| fields.first())
                        .and_then(Reply::as_text)
                        .ok_or_else(|| protocol("a COMMAND entry has no name"))
                })
                .collect::<Result<_, _>>()?,
            reply => reply
                .as_list()
                .ok_or_else(|| protocol("COMMAND LIST did not return an array"))?
                .iter()
                .map(|name| {
                    name.as_text()
                        .ok_or_else(|| protocol("COMMAND LIST holds a name that is not text"))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(names.into_iter().collect())
    }

    /// `MODULE LIST` as (name, version) pairs.
    pub fn module_list(&mut self) -> Result<Vec<(String, ModuleVersion)>, DiscoverError> {
        let reply = self.query_ok(&["MODULE", "LIST"])?;
        reply
            .as_list()
            .ok_or_else(|| protocol("MODULE LIST did not return an array"))?
            .iter()
            .map(|entry| {
                let name = entry
                    .get("name")
                    .and_then(Reply::as_text)
                    .ok_or_else(|| protocol(format!("MODULE LIST entry {entry} has no name")))?;
                let version = entry
                    .get("ver")
                    .and_then(Reply::as_integer)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| {
                        protocol(format!(
                            "MODULE LIST entry {entry} has no non-negative integer ver"
                        ))
                    })?;
                Ok((name, ModuleVersion(version)))
            })
            .collect()
    }

    /// Loads the module at `path` (absolute) with `args`, each sent as its own string.
    ///
    /// On failure the server log lines written during the attempt say why; the error tells a
    /// missing library, a module that wants a newer Redis, a crash and a hang apart.
    pub fn load_module(&mut self, path: &Path, args: &[String]) -> Result<(), DiscoverError> {
        let log_offset = std::fs::metadata(&self.log_path)
            .map(|m| m.len())
            .unwrap_or(0);
        let mut request: Vec<&[u8]> = vec![b"MODULE", b"LOAD", path.as_os_str().as_encoded_bytes()];
        request.extend(args.iter().map(|a| a.as_bytes()));
        let reply = match self.query(request) {
            Ok(Reply::Error(reply)) => reply,
            Ok(_) => return Ok(()),
            Err(error) => {
                // A server that died under the load is a crash, not a lost connection.
                if matches!(error, DiscoverError::Io { .. }) {
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while Instant::now() < deadline {
                        if let Some(status) = self.child.exited() {
                            return Err(DiscoverError::ServerCrashed {
                                module: path.to_path_buf(),
                                status: status.to_string(),
                                log_lines: log_lines_since(&self.log_path, log_offset),
                            });
                        }
                        std::thread::sleep(POLL_INTERVAL);
                    }
                }
                return Err(error);
            }
        };
        let log_lines = log_lines_since(&self.log_path, log_offset);
        Err(classify_load_failure(path, reply, log_lines, &self.version))
    }

    /// `COMMAND INFO` of `names`, each converted to a [`Command`] with its subcommands.
    pub fn command_info(&mut self, names: &[String]) -> Result<Vec<Command>, DiscoverError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = vec!["COMMAND", "INFO"];
        request.extend(names.iter().map(String::as_str));
        let reply = self.query_ok(&request)?;
        let entries = reply
            .as_list()
            .ok_or_else(|| protocol("COMMAND INFO did not return an array"))?;
        entries
            .iter()
            .zip(names)
            .map(|(entry, name)| match entry {
                Reply::Null => Err(protocol(format!(
                    "COMMAND INFO knows no command {name}, which COMMAND LIST reported"
                ))),
                entry => command_from_info(entry, self.resp3),
            })
            .collect()
    }
}

/// The error for a refused `MODULE LOAD`, from the reply and the log lines it wrote.
fn classify_load_failure(
    path: &Path,
    reply: String,
    log_lines: Vec<String>,
    server_version: &str,
) -> DiscoverError {
    let module = path.to_path_buf();
    let own_name = format!("{}: cannot open shared object file", path.display());
    if log_lines.iter().any(|line| line.contains(&own_name)) && path.is_file() {
        return DiscoverError::CannotOpenModule { module, log_lines };
    }
    if let Some(soname) = log_lines.iter().find_map(|line| missing_library(line)) {
        return DiscoverError::MissingLibrary {
            module,
            soname,
            log_lines,
        };
    }
    if let Some(asked) = newer_redis_asked(&log_lines, server_version) {
        return DiscoverError::RedisTooOld {
            module,
            asked,
            used: server_version.to_string(),
            log_lines,
        };
    }
    DiscoverError::LoadFailed {
        module,
        reply,
        log_lines,
    }
}

/// The library the dynamic loader could not find, from a line such as
/// `Module /m.so failed to load: libfoo.so.1: cannot open shared object file: No such file…`.
fn missing_library(line: &str) -> Option<String> {
    let before = &line[..line.find(": cannot open shared object file")?];
    let soname = before.rsplit([' ', ':']).next()?.trim();
    (!soname.is_empty() && !soname.contains('/')).then(|| soname.to_string())
}

/// The Redis version a module asks for in its log lines ("Redis version is too old, please
/// upgrade to redis 7.1.0"), when it is above the server's: the highest such version mentioned
/// on a line that speaks of versions.
pub(crate) fn newer_redis_asked(log_lines: &[String], server_version: &str) -> Option<String> {
    let server: DottedVersion = server_version.parse().ok()?;
    log_lines
        .iter()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            lower.contains("version") || lower.contains("upgrade") || lower.contains("require")
        })
        .flat_map(|line| {
            line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map(|token| token.trim_matches('.'))
                .filter(|token| token.contains('.'))
                .filter_map(|token| token.parse::<DottedVersion>().ok().map(|v| (v, token)))
                .collect::<Vec<_>>()
        })
        .filter(|(version, _)| *version > server)
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, token)| token.to_string())
}

/// The value of `field` in an `INFO` reply (`field:value` lines).
fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(key, _)| *key == field)
        .map(|(_, value)| value.to_string())
}

/// A connection to the socket whose server answered `PING` with `PONG` within [`PING_WAIT`], or
/// `None` (the socket is not there yet, or the server turned the connection away).
fn answers_ping(socket: &Path) -> Option<UnixStream> {
    let stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(PING_WAIT)).ok()?;
    stream.set_write_timeout(Some(PING_WAIT)).ok()?;
    (&stream).write_all(b"*1\r\n$4\r\nPING\r\n").ok()?;
    let mut reader = BufReader::new(stream);
    match read_reply(&mut reader, 0) {
        // Nothing else was sent, so nothing is left buffered in the reader.
        Ok(Reply::Status(pong)) if pong == "PONG" => Some(reader.into_inner()),
        _ => None,
    }
}

/// The last `count` non-empty lines of a file (nothing if it cannot be read).
fn tail_lines(path: &Path, count: usize) -> Vec<String> {
    let text = std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let lines: Vec<String> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| log_message(line).to_string())
        .collect();
    lines[lines.len().saturating_sub(count)..].to_vec()
}

/// The messages of the log lines written after byte `offset`, at most [`MAX_LOG_LINES`].
fn log_lines_since(path: &Path, offset: u64) -> Vec<String> {
    let mut text = Vec::new();
    let read = File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut text)
    });
    if read.is_err() {
        return Vec::new();
    }
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| log_message(line).to_string())
        .take(MAX_LOG_LINES)
        .collect()
}

/// A server log line without its `pid:role date time level` prefix, e.g.
/// `123:M 22 Nov 2026 15:34:41.039 # Module x initialization failed` → the part after `# `.
fn log_message(line: &str) -> &str {
    let prefixed = line
        .split_once(':')
        .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    if !prefixed {
        return line;
    }
    [" # ", " * ", " - ", " . "]
        .iter()
        .filter_map(|marker| line.find(marker).map(|at| at + marker.len()))
        .min()
        .map_or(line, |start| &line[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_prefix_is_removed() {
        assert_eq!(
            log_message("13393:M 22 Nov 2026 15:34:41.039 # Module x initialization failed"),
            "Module x initialization failed"
        );
        assert_eq!(
            log_message("13393:M 22 Nov 2026 15:34:41.021 * Module 'a' loaded"),
            "Module 'a' loaded"
        );
        assert_eq!(log_message("plain text # here"), "plain text # here");
    }

    #[test]
    fn the_library_the_loader_misses_is_named() {
        assert_eq!(
            missing_library(
                "Module /t/m.so failed to load: libabsent.so.3: cannot open shared object file: No such file or directory"
            )
            .as_deref(),
            Some("libabsent.so.3")
        );
        assert_eq!(
            missing_library("Module /t/m.so failed to load: /t/m.so: cannot open shared object file: No such file or directory"),
            None,
            "the module itself is not a missing library"
        );
        assert_eq!(missing_library("Module loaded"), None);
    }

    #[test]
    fn the_redis_version_a_module_asks_for_is_read_from_its_log() {
        let lines = |text: &str| vec![text.to_string()];
        assert_eq!(
            newer_redis_asked(
                &lines("<search> Redis version is too old, please upgrade to redis 7.1.0."),
                "7.0.15"
            )
            .as_deref(),
            Some("7.1.0")
        );
        assert_eq!(
            newer_redis_asked(&lines("needs Redis version 6.2 or later"), "7.0.15"),
            None,
            "a version the server satisfies is not the reason"
        );
        assert_eq!(
            newer_redis_asked(&lines("failed: key 1.2.3 missing"), "7.0.15"),
            None,
            "a line that does not speak of versions"
        );
    }
}
