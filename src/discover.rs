//! Command discovery: load a module into a throw-away `redis-server` and read what it registers.
//!
//! [`discover`] starts a [`RedisServer`] on a free loopback port in a fresh temporary directory
//! (persistence off, `MODULE` command enabled), notes the commands and modules the bare server
//! has, runs `MODULE LOAD <absolute path> <args…>` with each argument sent as its own bulk string
//! (arguments are never evaluated), and takes the module's name and version from the one new entry
//! of `MODULE LIST` and its commands, subcommands, key specs and ACL categories from the new names
//! of `COMMAND LIST` and their `COMMAND INFO`. The server is killed and reaped when the guard is
//! dropped, whether discovery succeeds, fails or unwinds from a panic.
//!
//! When a load fails, the server log holds the reason (the reply only says "Error loading the
//! extension"), so [`DiscoverError::LoadFailed`] carries the log lines written during the attempt.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::manifest::{Command, ModuleVersion};
use crate::Listener;

/// The environment variable naming the `redis-server` binary when no explicit path is given.
pub const REDIS_SERVER_ENV: &str = "RMPACK_REDIS_SERVER";

/// How long discovery waits for the server to start and for each reply, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the socket is polled while the server starts.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// How long a startup probe waits for `PONG` before checking on the process again.
const PING_WAIT: Duration = Duration::from_millis(250);

/// How many fresh ports are tried when another process takes the probed port first.
const PORT_ATTEMPTS: usize = 5;

/// At most this many server log lines are quoted in an error.
const MAX_LOG_LINES: usize = 20;

/// Nesting deeper than this in a reply is refused rather than followed.
const MAX_REPLY_DEPTH: usize = 32;

/// A bulk string longer than this is refused rather than allocated.
const MAX_BULK_LEN: usize = 64 * 1024 * 1024;

/// How discovery finds and talks to `redis-server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// The `redis-server` binary; when `None`, [`REDIS_SERVER_ENV`] and then `PATH` are searched.
    pub redis_server: Option<PathBuf>,
    /// Arguments passed to the module's `RedisModule_OnLoad`, one list entry per argument.
    pub module_args: Vec<String>,
    /// Bound on the server start and on each request, including `MODULE LOAD` itself.
    pub timeout: Duration,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            redis_server: None,
            module_args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What a module registered when loaded into `redis-server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The name the module passed to `RedisModule_Init`, as `MODULE LIST` reports it.
    pub module_name: String,
    /// The integer version the module passed to `RedisModule_Init`.
    pub version: ModuleVersion,
    /// The module's commands, normalized and sorted by name; subcommands are nested in them.
    pub commands: Vec<Command>,
}

/// Why discovery failed. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The module path does not name a regular file.
    #[error("{} is not a file; give the path of the module's .so file", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// No `redis-server` binary could be found.
    #[error(
        "cannot find redis-server: {looked_at}. Command discovery loads the module into a \
         throw-away redis-server: install one (Debian/Ubuntu: apt-get install redis-server), point \
         to it with --redis-server PATH or the {REDIS_SERVER_ENV} environment variable, or put it \
         on PATH; or skip discovery with --no-discover and list the commands in the manifest"
    )]
    ServerNotFound {
        /// Where the binary was looked for and not found.
        looked_at: String,
    },
    /// `redis-server` was found but did not come up.
    #[error(
        "redis-server {} did not start: {reason}. Its output: {}",
        server.display(),
        quote_lines(log)
    )]
    ServerStart {
        /// The binary that was run.
        server: PathBuf,
        /// What went wrong (exit status, spawn error, or a foreign process on the port).
        reason: String,
        /// The last lines of the server's log and standard error.
        log: Vec<String>,
    },
    /// The server did not answer in time.
    #[error(
        "redis-server did not answer {action} within {} s; raise the timeout if the module \
         takes long to load, or check that the module does not block in RedisModule_OnLoad",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// What was being waited for.
        action: String,
        /// The bound that passed.
        timeout: Duration,
    },
    /// The server answered something that is not the reply its protocol promises.
    #[error("unexpected reply from redis-server: {detail}; check that the binary is a real redis-server 7 or later")]
    Protocol {
        /// What was wrong with the reply.
        detail: String,
    },
    /// The server refused a request other than the module load.
    #[error("redis-server refused `{command}`: {reply}; discovery needs redis-server 7 or later")]
    CommandFailed {
        /// The request, e.g. `COMMAND LIST`.
        command: String,
        /// The error reply.
        reply: String,
    },
    /// `MODULE LOAD` failed; the log lines say why.
    #[error(
        "redis-server could not load module {}: {}. {}Fix that cause (module arguments, \
         libraries the module needs, the Redis version it requires) and try again, or skip \
         discovery with --no-discover and list the commands in the manifest",
        module.display(),
        reply.trim_end_matches('.'),
        log_reason(log_lines)
    )]
    LoadFailed {
        /// The module path.
        module: PathBuf,
        /// The error reply to `MODULE LOAD`.
        reply: String,
        /// The server log lines written during the load attempt.
        log_lines: Vec<String>,
    },
    /// The dynamic loader said "cannot open shared object file" for a module file that exists.
    #[error(
        "redis-server could not open module {} although the file exists: the dynamic loader \
         says {}. This misleading message usually means the module is built for another \
         architecture than this machine, or a library it needs is missing here (check its \
         architecture and NEEDED libraries with `rmpack inspect`). Discover on a machine that \
         matches the module, or skip discovery with --no-discover and list the commands in the \
         manifest",
        module.display(),
        quote_lines(log_lines)
    )]
    CannotOpenModule {
        /// The module path.
        module: PathBuf,
        /// The server log lines written during the load attempt.
        log_lines: Vec<String>,
    },
    /// The load succeeded but `MODULE LIST` shows no new module.
    #[error("module {} loaded but MODULE LIST shows no new module; is it a Redis module that calls RedisModule_Init?", module.display())]
    NoNewModule {
        /// The module path.
        module: PathBuf,
    },
    /// The load added more than one module to `MODULE LIST`.
    #[error("loading module {} added {} modules ({}); load the modules one at a time", module.display(), names.len(), names.join(", "))]
    MultipleNewModules {
        /// The module path.
        module: PathBuf,
        /// The names of the new modules.
        names: Vec<String>,
    },
    /// An I/O error outside the protocol (temporary directory, log file, socket).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// Log lines as one quoted, `; `-separated run, or a note that there were none.
fn quote_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        "(nothing)".to_string()
    } else {
        format!("\"{}\"", lines.join("; "))
    }
}

fn log_reason(lines: &[String]) -> String {
    if lines.is_empty() {
        "The server log gives no reason. ".to_string()
    } else {
        format!("The server log says: {}. ", quote_lines(lines))
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> DiscoverError {
    let context = context.into();
    move |source| DiscoverError::Io { context, source }
}

fn protocol(detail: impl Into<String>) -> DiscoverError {
    DiscoverError::Protocol {
        detail: detail.into(),
    }
}

/// Loads `module` into a throw-away `redis-server` and reports its name, version and commands.
///
/// Module arguments are sent as separate protocol strings and reach `RedisModule_OnLoad`
/// verbatim. The module's architecture is not checked here: the caller compares the ELF
/// machine with the host first, since loading a foreign module only yields a misleading
/// loader message (reported as [`DiscoverError::CannotOpenModule`]).
pub fn discover(
    module: &Path,
    options: &DiscoverOptions,
    listener: &dyn Listener,
) -> Result<Discovered, DiscoverError> {
    let metadata = std::fs::metadata(module).map_err(|_| DiscoverError::NotAFile {
        path: module.to_path_buf(),
    })?;
    if !metadata.is_file() {
        return Err(DiscoverError::NotAFile {
            path: module.to_path_buf(),
        });
    }
    // The server runs in another directory, so it must get an absolute path.
    let module = std::fs::canonicalize(module)
        .map_err(io_error(format!("cannot resolve {}", module.display())))?;

    let binary = locate_redis_server(options.redis_server.as_deref())?;
    listener.on_status(&format!("starting {}", binary.display()));
    let mut server = RedisServer::start_binary(&binary, options.timeout)?;
    listener.on_status(&format!(
        "redis-server pid {} listening on 127.0.0.1:{}",
        server.pid(),
        server.port()
    ));

    let commands_before = server.command_names()?;
    let modules_before = server.module_list()?;

    listener.on_status(&format!("loading {}", module.display()));
    server.load_module(&module, &options.module_args)?;

    let new_modules: Vec<(String, ModuleVersion)> = server
        .module_list()?
        .into_iter()
        .filter(|(name, _)| !modules_before.iter().any(|(before, _)| before == name))
        .collect();
    let (module_name, version) = match new_modules.as_slice() {
        [] => return Err(DiscoverError::NoNewModule { module }),
        [(name, version)] => (name.clone(), *version),
        many => {
            return Err(DiscoverError::MultipleNewModules {
                module,
                names: many.iter().map(|(name, _)| name.clone()).collect(),
            })
        }
    };

    // Redis 7 lists subcommands (`parent|sub`) too; they come nested in their parent's info.
    let new_names: Vec<String> = server
        .command_names()?
        .difference(&commands_before)
        .filter(|name| !name.contains('|'))
        .cloned()
        .collect();
    if new_names.is_empty() {
        listener.on_warning(&format!(
            "module {module_name} registered no commands; module.json will list none"
        ));
    }
    listener.on_status(&format!(
        "reading COMMAND INFO of {} commands",
        new_names.len()
    ));
    let mut commands = server.command_info(&new_names)?;
    for command in &mut commands {
        command.normalize();
    }
    commands.sort_by(|a, b| a.command_name.cmp(&b.command_name));
    listener.on_status(&format!(
        "module {module_name} version {} ({}) registers {} commands",
        version,
        version.semantic(),
        commands.len()
    ));
    Ok(Discovered {
        module_name,
        version,
        commands,
    })
}

/// Finds the `redis-server` binary: `explicit` if given, else [`REDIS_SERVER_ENV`], else `PATH`.
///
/// An explicit path or environment value that names no file is an error; it does not fall back
/// to `PATH`, so a typo is reported instead of silently using another server.
pub fn locate_redis_server(explicit: Option<&Path>) -> Result<PathBuf, DiscoverError> {
    locate_in(
        explicit,
        std::env::var_os(REDIS_SERVER_ENV),
        std::env::var_os("PATH"),
    )
}

fn locate_in(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    path_value: Option<OsString>,
) -> Result<PathBuf, DiscoverError> {
    if let Some(path) = explicit {
        return existing_file(path).ok_or_else(|| DiscoverError::ServerNotFound {
            looked_at: format!("--redis-server {} is not a file", path.display()),
        });
    }
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&value);
        return existing_file(&path).ok_or_else(|| DiscoverError::ServerNotFound {
            looked_at: format!("{REDIS_SERVER_ENV}={} is not a file", path.display()),
        });
    }
    path_value
        .iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| DiscoverError::ServerNotFound {
            looked_at: format!("no --redis-server given, {REDIS_SERVER_ENV} is not set, and there is no redis-server on PATH"),
        })
}

fn existing_file(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_path_buf())
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// One reply in the Redis protocol (RESP2 or RESP3).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A simple string (`+OK`).
    Status(String),
    /// An error reply (`-ERR …`), without the leading `-`.
    Error(String),
    /// An integer.
    Integer(i64),
    /// A bulk string (RESP3 verbatim strings arrive here without their format prefix).
    Bulk(Vec<u8>),
    /// A null bulk string, null array or RESP3 null.
    Null,
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Boolean(bool),
    /// A RESP3 big number, as its decimal digits.
    BigNumber(String),
    /// An array (or a RESP3 push message).
    Array(Vec<Reply>),
    /// A RESP3 set.
    Set(Vec<Reply>),
    /// A RESP3 map, in the order the server sent it.
    Map(Vec<(Reply, Reply)>),
}

impl Reply {
    /// The text of a status, bulk or big-number reply.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) | Reply::BigNumber(s) => Some(s.clone()),
            Reply::Bulk(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a text reply that holds an integer.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Reply::Integer(n) => Some(*n),
            other => other.as_text().and_then(|s| s.trim().parse().ok()),
        }
    }

    /// The elements of an array, set or push reply.
    pub fn as_list(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(items) | Reply::Set(items) => Some(items),
            _ => None,
        }
    }

    /// The key/value pairs of a RESP3 map, or of a RESP2 array of alternating keys and values.
    pub fn as_pairs(&self) -> Option<Vec<(&Reply, &Reply)>> {
        match self {
            Reply::Map(pairs) => Some(pairs.iter().map(|(k, v)| (k, v)).collect()),
            Reply::Array(items) if items.len() % 2 == 0 => {
                Some(items.chunks(2).map(|pair| (&pair[0], &pair[1])).collect())
            }
            _ => None,
        }
    }

    /// The value under `key` in a map reply (see [`Reply::as_pairs`]).
    pub fn get(&self, key: &str) -> Option<&Reply> {
        self.as_pairs()?
            .into_iter()
            .find(|(k, _)| k.as_text().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// The reply as JSON: maps become objects (keys as text), sets and arrays become arrays.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Reply::Status(s) | Reply::Error(s) => Value::String(s.clone()),
            Reply::BigNumber(s) => s
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(s.clone())),
            Reply::Integer(n) => Value::from(*n),
            Reply::Bulk(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
            Reply::Null => Value::Null,
            Reply::Double(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            Reply::Boolean(b) => Value::Bool(*b),
            Reply::Array(items) | Reply::Set(items) => {
                Value::Array(items.iter().map(Reply::to_json).collect())
            }
            Reply::Map(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (json_key(k), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn json_key(key: &Reply) -> String {
    key.as_text().unwrap_or_else(|| key.to_json().to_string())
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Error(s) => write!(f, "{s}"),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

/// A running, throw-away `redis-server` on a loopback port, with one open connection.
///
/// Dropping the guard kills and reaps the server and removes its temporary directory.
pub struct RedisServer {
    // Fields drop in declaration order: the process goes first, its directory last.
    child: ReapOnDrop,
    port: u16,
    reader: BufReader<TcpStream>,
    log_path: PathBuf,
    timeout: Duration,
    resp3: bool,
    dir: tempfile::TempDir,
}

/// A child process that is killed and reaped when dropped, on every path out of a scope.
struct ReapOnDrop(Child);

impl ReapOnDrop {
    /// Kills and reaps the process now; dropping afterwards does nothing more.
    fn stop(&mut self) {
        // Nothing is persisted, so there is no state a graceful shutdown would save.
        let _ = self.0.kill();
        let _ = self.0.wait();
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
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// What one start attempt on one port came to.
enum Attempt {
    Ready(Box<RedisServer>),
    /// The port was taken between probing and binding; try another.
    PortTaken,
}

impl RedisServer {
    /// Starts `redis-server` (found as [`locate_redis_server`] does) and waits until it answers.
    pub fn start(redis_server: Option<&Path>, timeout: Duration) -> Result<Self, DiscoverError> {
        let binary = locate_redis_server(redis_server)?;
        Self::start_binary(&binary, timeout)
    }

    /// Starts the given `redis-server` binary and waits until it answers `PING`, at most `timeout`.
    ///
    /// The connection speaks RESP3 (maps arrive as [`Reply::Map`]) when the server knows `HELLO 3`.
    pub fn start_binary(binary: &Path, timeout: Duration) -> Result<Self, DiscoverError> {
        let deadline = Instant::now() + timeout;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_loopback_port()?;
            match Self::attempt(binary, port, timeout, deadline)? {
                Attempt::Ready(server) => return Ok(*server),
                Attempt::PortTaken => continue,
            }
        }
        Err(DiscoverError::ServerStart {
            server: binary.to_path_buf(),
            reason: format!("{PORT_ATTEMPTS} free loopback ports were each taken by another process before the server could bind them"),
            log: Vec::new(),
        })
    }

    /// Starts the server on `port` and waits for it; [`Attempt::PortTaken`] when the port
    /// turns out to belong to another process.
    fn attempt(
        binary: &Path,
        port: u16,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Attempt, DiscoverError> {
        let dir = tempfile::Builder::new()
            .prefix("rmpack-redis-")
            .tempdir()
            .map_err(io_error(
                "cannot create a temporary directory for redis-server",
            ))?;
        let log_path = dir.path().join("redis.log");
        let output_path = dir.path().join("output.log");
        let output = File::create(&output_path)
            .map_err(io_error(format!("cannot create {}", output_path.display())))?;
        let output_err = output
            .try_clone()
            .map_err(io_error("cannot duplicate a file handle"))?;
        let child = std::process::Command::new(binary)
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1"])
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
            .spawn();
        let mut child = match child {
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
        let failure = |child: &mut ReapOnDrop, reason: String| {
            child.stop();
            let mut log = tail_lines(&output_path, MAX_LOG_LINES);
            log.extend(tail_lines(&log_path, MAX_LOG_LINES));
            (reason, log)
        };

        let address = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = child
                .0
                .try_wait()
                .map_err(io_error("cannot poll redis-server"))?
            {
                let (reason, log) = failure(&mut child, format!("it exited early ({status})"));
                if log
                    .iter()
                    .any(|line| line.contains("Address already in use"))
                {
                    return Ok(Attempt::PortTaken);
                }
                return Err(DiscoverError::ServerStart {
                    server: binary.to_path_buf(),
                    reason,
                    log,
                });
            }
            if Instant::now() >= deadline {
                let _ = failure(&mut child, String::new());
                return Err(DiscoverError::Timeout {
                    action: "PING while starting".to_string(),
                    timeout,
                });
            }
            let Some(stream) = answers_ping(&address) else {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            };
            let mut server = RedisServer {
                child,
                port,
                reader: BufReader::new(stream),
                log_path: log_path.clone(),
                timeout,
                resp3: false,
                dir,
            };
            server.set_socket_timeouts()?;
            // Another process may have bound the probed port first; make sure it is ours.
            let info = server.query(["INFO", "server"])?;
            let owner = info
                .as_text()
                .and_then(|text| info_field(&text, "process_id"))
                .and_then(|pid| pid.parse::<u32>().ok());
            if owner != Some(server.pid()) {
                return Ok(Attempt::PortTaken);
            }
            server.negotiate_resp3()?;
            return Ok(Attempt::Ready(Box::new(server)));
        }
    }

    fn set_socket_timeouts(&mut self) -> Result<(), DiscoverError> {
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|_| stream.set_write_timeout(Some(self.timeout)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(io_error("cannot configure the redis-server connection"))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The loopback port the server listens on (address 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary working directory, removed when the guard is dropped.
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
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in &args {
            let arg = arg.as_ref();
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
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

    /// The names of every command the server has, lower case (Redis 7 includes `parent|sub`).
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
        Ok(names.into_iter().map(|n| n.to_ascii_lowercase()).collect())
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
    /// On failure the server log lines written during the attempt explain why.
    pub fn load_module(&mut self, path: &Path, args: &[String]) -> Result<(), DiscoverError> {
        let log_offset = std::fs::metadata(&self.log_path)
            .map(|m| m.len())
            .unwrap_or(0);
        let mut request: Vec<&[u8]> = vec![b"MODULE", b"LOAD", path.as_os_str().as_encoded_bytes()];
        request.extend(args.iter().map(|a| a.as_bytes()));
        let reply = match self.query(request)? {
            Reply::Error(reply) => reply,
            _ => return Ok(()),
        };
        let log_lines = log_lines_since(&self.log_path, log_offset);
        let cannot_open = log_lines.iter().any(|line| {
            line.contains("cannot open shared object file")
                && line.contains(&format!("{}: cannot open", path.display()))
        });
        if cannot_open && path.is_file() {
            return Err(DiscoverError::CannotOpenModule {
                module: path.to_path_buf(),
                log_lines,
            });
        }
        Err(DiscoverError::LoadFailed {
            module: path.to_path_buf(),
            reply,
            log_lines,
        })
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

/// Converts one `COMMAND INFO` entry (Redis 7 layout: name, arity, flags, first key, last key,
/// step, ACL categories, tips, key specs, subcommands; older servers send a prefix of it).
fn command_from_info(entry: &Reply, resp3: bool) -> Result<Command, DiscoverError> {
    let fields = entry
        .as_list()
        .ok_or_else(|| protocol(format!("COMMAND INFO entry {entry} is not an array")))?;
    let name = fields
        .first()
        .and_then(Reply::as_text)
        .ok_or_else(|| protocol(format!("COMMAND INFO entry {entry} has no name")))?;
    let integer = |index: usize, what: &str| -> Result<i64, DiscoverError> {
        match fields.get(index) {
            None => Ok(0),
            Some(value) => value.as_integer().ok_or_else(|| {
                protocol(format!(
                    "COMMAND INFO {name}: {what} {value} is not an integer"
                ))
            }),
        }
    };
    let texts = |index: usize, what: &str| -> Result<Vec<String>, DiscoverError> {
        match fields.get(index) {
            None => Ok(Vec::new()),
            Some(value) => value
                .as_list()
                .ok_or_else(|| {
                    protocol(format!("COMMAND INFO {name}: {what} {value} is not a list"))
                })?
                .iter()
                .map(|item| {
                    item.as_text().ok_or_else(|| {
                        protocol(format!(
                            "COMMAND INFO {name}: {what} holds {item}, not text"
                        ))
                    })
                })
                .collect(),
        }
    };
    let mut command = Command::new(name.clone(), integer(1, "arity")?);
    command.flags = texts(2, "flags")?;
    command.first_key = integer(3, "first key")?;
    command.last_key = integer(4, "last key")?;
    command.step = integer(5, "step")?;
    command.acl_categories = texts(6, "ACL categories")?;
    if let Some(specs) = fields.get(8) {
        command.key_specs = specs
            .as_list()
            .ok_or_else(|| {
                protocol(format!(
                    "COMMAND INFO {name}: key specs {specs} are not a list"
                ))
            })?
            .iter()
            .map(|spec| key_spec_json(spec, resp3))
            .collect();
    }
    if let Some(subcommands) = fields.get(9) {
        command.subcommands = subcommands
            .as_list()
            .ok_or_else(|| {
                protocol(format!(
                    "COMMAND INFO {name}: subcommands {subcommands} are not a list"
                ))
            })?
            .iter()
            .map(|sub| command_from_info(sub, resp3))
            .collect::<Result<_, _>>()?;
    }
    Ok(command)
}

/// A key spec as a JSON object. RESP3 sends maps; RESP2 flattens every map into an array of
/// alternating keys and values, so there the documented map fields are rebuilt by name.
fn key_spec_json(spec: &Reply, resp3: bool) -> serde_json::Value {
    if resp3 {
        spec.to_json()
    } else {
        resp2_map_json(spec, &["begin_search", "find_keys", "spec"])
    }
}

fn resp2_map_json(value: &Reply, map_fields: &[&str]) -> serde_json::Value {
    match value.as_pairs() {
        Some(pairs) if pairs.iter().all(|(k, _)| k.as_text().is_some()) => {
            serde_json::Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let key = json_key(k);
                        let value = if map_fields.contains(&key.as_str()) {
                            resp2_map_json(v, map_fields)
                        } else {
                            v.to_json()
                        };
                        (key, value)
                    })
                    .collect(),
            )
        }
        _ => value.to_json(),
    }
}

/// The value of `field` in an `INFO` reply (`field:value` lines).
fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(key, _)| *key == field)
        .map(|(_, value)| value.to_string())
}

/// A connection to `address` whose peer answered `PING` with `PONG` within [`PING_WAIT`], or
/// `None` (nothing listens yet, or the peer is silent, e.g. a foreign process on the port).
fn answers_ping(address: &SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(address, PING_WAIT).ok()?;
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

/// A port on 127.0.0.1 that was free a moment ago.
fn free_loopback_port() -> Result<u16, DiscoverError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(io_error("cannot find a free port on 127.0.0.1"))
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

/// Why a reply could not be read.
enum ReadError {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String, ReadError> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(ReadError::Io(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    if !line.ends_with(b"\r\n") {
        return Err(ReadError::Malformed("a line does not end in CRLF".into()));
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn parse_length(text: &str) -> Result<Option<usize>, ReadError> {
    let n: i64 = text
        .parse()
        .map_err(|_| ReadError::Malformed(format!("length `{text}` is not a number")))?;
    if n < 0 {
        return Ok(None);
    }
    usize::try_from(n)
        .map(Some)
        .map_err(|_| ReadError::Malformed(format!("length {n} is too large")))
}

fn read_bulk(reader: &mut impl BufRead, len: usize) -> Result<Vec<u8>, ReadError> {
    if len > MAX_BULK_LEN {
        return Err(ReadError::Malformed(format!(
            "a bulk string of {len} bytes is larger than {MAX_BULK_LEN}"
        )));
    }
    let mut bytes = vec![0; len + 2];
    reader.read_exact(&mut bytes)?;
    if !bytes.ends_with(b"\r\n") {
        return Err(ReadError::Malformed(
            "a bulk string does not end in CRLF".into(),
        ));
    }
    bytes.truncate(len);
    Ok(bytes)
}

fn read_items(
    reader: &mut impl BufRead,
    count: usize,
    depth: usize,
) -> Result<Vec<Reply>, ReadError> {
    // The count comes from the wire: grow as elements arrive rather than trusting it up front.
    let mut items = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        items.push(read_reply(reader, depth + 1)?);
    }
    Ok(items)
}

fn read_reply(reader: &mut impl BufRead, depth: usize) -> Result<Reply, ReadError> {
    if depth > MAX_REPLY_DEPTH {
        return Err(ReadError::Malformed(format!(
            "reply nested deeper than {MAX_REPLY_DEPTH} levels"
        )));
    }
    let line = read_line(reader)?;
    let mut chars = line.chars();
    let kind = chars.next().unwrap_or(' ');
    let rest = chars.as_str();
    match kind {
        '+' => Ok(Reply::Status(rest.to_string())),
        '-' => Ok(Reply::Error(rest.to_string())),
        ':' => rest
            .parse()
            .map(Reply::Integer)
            .map_err(|_| ReadError::Malformed(format!("integer `{rest}` does not parse"))),
        '$' | '=' | '!' => match parse_length(rest)? {
            None => Ok(Reply::Null),
            Some(len) => {
                let bytes = read_bulk(reader, len)?;
                Ok(match kind {
                    // A verbatim string starts with a three-letter format and a colon.
                    '=' => Reply::Bulk(bytes.get(4..).unwrap_or_default().to_vec()),
                    '!' => Reply::Error(String::from_utf8_lossy(&bytes).into_owned()),
                    _ => Reply::Bulk(bytes),
                })
            }
        },
        '*' | '~' | '>' => match parse_length(rest)? {
            None => Ok(Reply::Null),
            Some(count) => {
                let items = read_items(reader, count, depth)?;
                Ok(if kind == '~' {
                    Reply::Set(items)
                } else {
                    Reply::Array(items)
                })
            }
        },
        '%' | '|' => {
            let count = parse_length(rest)?.unwrap_or(0);
            let flat = read_items(reader, count.saturating_mul(2), depth)?;
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((key, value));
            }
            if kind == '|' {
                // Attributes describe the reply that follows; discovery has no use for them.
                return read_reply(reader, depth);
            }
            Ok(Reply::Map(pairs))
        }
        '_' => Ok(Reply::Null),
        '#' => match rest {
            "t" => Ok(Reply::Boolean(true)),
            "f" => Ok(Reply::Boolean(false)),
            _ => Err(ReadError::Malformed(format!("boolean `{rest}`"))),
        },
        ',' => {
            let value = match rest {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => rest
                    .parse()
                    .map_err(|_| ReadError::Malformed(format!("double `{rest}` does not parse")))?,
            };
            Ok(Reply::Double(value))
        }
        '(' => Ok(Reply::BigNumber(rest.to_string())),
        _ => Err(ReadError::Malformed(format!(
            "reply line `{line}` has an unknown type"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Reply, ReadError> {
        read_reply(&mut BufReader::new(bytes), 0)
    }

    #[test]
    fn parses_resp3_maps_sets_and_scalars() {
        let reply = parse(
            b"%2\r\n+flags\r\n~2\r\n+RW\r\n+update\r\n$12\r\nbegin_search\r\n%1\r\n+index\r\n:2\r\n",
        )
        .ok();
        let json = reply.map(|r| r.to_json());
        assert_eq!(
            json,
            Some(serde_json::json!({"flags": ["RW", "update"], "begin_search": {"index": 2}}))
        );
        assert!(matches!(parse(b"_\r\n"), Ok(Reply::Null)));
        assert!(matches!(parse(b"#t\r\n"), Ok(Reply::Boolean(true))));
        assert!(matches!(parse(b",1.5\r\n"), Ok(Reply::Double(f)) if f == 1.5));
        assert!(matches!(parse(b"=8\r\ntxt:abcd\r\n"), Ok(Reply::Bulk(b)) if b == b"abcd"));
        assert!(matches!(parse(b"$-1\r\n"), Ok(Reply::Null)));
    }

    #[test]
    fn refuses_malformed_replies_without_panicking() {
        for bad in [
            &b""[..],
            b"?what\r\n",
            b":12x\r\n",
            b"$5\r\nab\r\n",
            b"$3\r\nabcXY",
            b"+no crlf\n",
            b"$99999999999\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "*1\r\n".repeat(MAX_REPLY_DEPTH + 2);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn resp2_key_specs_become_objects() {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let spec = Reply::Array(vec![
            bulk("flags"),
            Reply::Array(vec![Reply::Status("RO".into())]),
            bulk("begin_search"),
            Reply::Array(vec![
                bulk("type"),
                bulk("index"),
                bulk("spec"),
                Reply::Array(vec![bulk("index"), Reply::Integer(1)]),
            ]),
            bulk("find_keys"),
            Reply::Array(vec![
                bulk("type"),
                bulk("unknown"),
                bulk("spec"),
                Reply::Array(vec![]),
            ]),
        ]);
        assert_eq!(
            key_spec_json(&spec, false),
            serde_json::json!({
                "flags": ["RO"],
                "begin_search": {"type": "index", "spec": {"index": 1}},
                "find_keys": {"type": "unknown", "spec": {}},
            })
        );
    }

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
    fn a_port_taken_by_another_process_is_given_up_for_a_fresh_one() {
        let binary = locate_redis_server(None).expect("redis-server for the tests");
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        let taken = |port| {
            matches!(
                RedisServer::attempt(&binary, port, DEFAULT_TIMEOUT, deadline),
                Ok(Attempt::PortTaken)
            )
        };

        // A silent listener: connections succeed but PING goes unanswered.
        let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let silent_port = silent.local_addr().expect("address").port();
        assert!(taken(silent_port));

        // Another redis-server: it answers PONG, but with another process id.
        let other = RedisServer::start_binary(&binary, DEFAULT_TIMEOUT).expect("start");
        assert!(taken(other.port()));

        // Starting afresh still works.
        assert!(RedisServer::start_binary(&binary, DEFAULT_TIMEOUT).is_ok());
    }

    #[test]
    fn locating_prefers_explicit_then_env_then_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = dir.path().join("redis-server");
        std::fs::write(&fake, "#!/bin/sh\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path_var = Some(dir.path().as_os_str().to_owned());

        assert_eq!(
            locate_in(None, None, path_var.clone()).ok(),
            Some(fake.clone())
        );
        let missing = dir.path().join("nope");
        for (explicit, env) in [
            (Some(missing.as_path()), None),
            (None, Some(missing.as_os_str().to_owned())),
        ] {
            let err = locate_in(explicit, env, path_var.clone()).expect_err("must not fall back");
            let message = err.to_string();
            assert!(matches!(err, DiscoverError::ServerNotFound { .. }));
            assert!(message.contains("nope"), "{message}");
            assert!(
                message.contains("apt-get install redis-server"),
                "{message}"
            );
            assert!(message.contains(REDIS_SERVER_ENV), "{message}");
            assert!(message.contains("--redis-server"), "{message}");
        }
        assert!(matches!(
            locate_in(None, None, Some(OsString::from("/nonexistent-dir"))),
            Err(DiscoverError::ServerNotFound { .. })
        ));
    }
}
