//! Command discovery: load a module into a throw-away `redis-server` and read what it registers.
//!
//! [`discover`] starts a [`RedisServer`] (see [`server`]: a private Unix socket in a 0700 temp
//! folder, no TCP port, one client, dies with rmpack), notes the commands and modules the bare
//! server has, runs `MODULE LOAD <absolute path> <args…>` with each argument sent as its own bulk
//! string (arguments are never evaluated), and takes the module's name and version from the one
//! new entry of `MODULE LIST` and its commands, subcommands, key specs and ACL categories from the
//! new names of `COMMAND LIST` and their `COMMAND INFO` ([`command_info`]), names kept exactly as
//! the module registered them. The server is killed and reaped when the guard is dropped, whether
//! discovery succeeds, fails or unwinds from a panic, and when rmpack is interrupted.
//!
//! When a load fails, the server log holds the reason (the reply only says "Error loading the
//! extension"), so the load errors carry the log lines written during the attempt, and name the
//! missing library or the Redis version the module asks for when the log says so.
//!
//! The protocol is read by [`resp`], a small RESP2/RESP3 reader with bounded nesting and bulk
//! sizes, rather than by the `redis` crate: discovery sends a handful of requests over one Unix
//! socket, and the reader (with its RESP2 fallback and key-spec rebuilding) is pinned against
//! `redis-cli` by the tests and by a damaged-reply campaign.

mod command_info;
pub mod resp;
pub mod server;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::listener::Listener;
use crate::manifest::{Command, ModuleVersion};

pub use resp::Reply;
pub use server::RedisServer;

/// The environment variable naming the `redis-server` binary when no explicit path is given.
pub const REDIS_SERVER_ENV: &str = "RMPACK_REDIS_SERVER";

/// How long discovery waits for the server to start and for each reply, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// At most this many server log lines are quoted in an error.
pub(crate) const MAX_LOG_LINES: usize = 20;

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
    /// The module's commands, names as registered, sorted by name; subcommands are nested in
    /// them.
    pub commands: Vec<Command>,
    /// The version of the redis-server the module was loaded into (`INFO server`), e.g. `7.0.15`.
    pub redis_version: String,
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
    /// The dynamic loader could not find a library the module needs.
    #[error(
        "redis-server could not load module {}: it needs the library {soname}, which this machine \
         lacks (the server log says: {}). Install the package that provides {soname}, or build the \
         module without it; or skip discovery with --no-discover and list the commands in the \
         manifest",
        module.display(),
        quote_lines(log_lines)
    )]
    MissingLibrary {
        /// The module path.
        module: PathBuf,
        /// The library's name as the loader gave it, e.g. `libssl.so.3`.
        soname: String,
        /// The server log lines written during the load attempt.
        log_lines: Vec<String>,
    },
    /// The module refused to load because it wants a newer Redis than the server discovery used.
    #[error(
        "module {} asks for Redis {asked}, but the redis-server used is {used} (the server log \
         says: {}). Point discovery at a redis-server {asked} or later with --redis-server PATH \
         or the {REDIS_SERVER_ENV} environment variable",
        module.display(),
        quote_lines(log_lines)
    )]
    RedisTooOld {
        /// The module path.
        module: PathBuf,
        /// The version the module asks for, as its log line gives it.
        asked: String,
        /// The version of the redis-server that refused it.
        used: String,
        /// The server log lines written during the load attempt.
        log_lines: Vec<String>,
    },
    /// The server died while loading the module (a crash in `RedisModule_OnLoad`).
    #[error(
        "redis-server crashed while loading module {} ({status}); the server log says: {}. The \
         module's RedisModule_OnLoad crashes on this machine: debug it (e.g. under gdb), or skip \
         discovery with --no-discover and list the commands in the manifest",
        module.display(),
        quote_lines(log_lines)
    )]
    ServerCrashed {
        /// The module path.
        module: PathBuf,
        /// How the server ended (e.g. "signal: 11 (SIGSEGV)").
        status: String,
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

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> DiscoverError {
    let context = context.into();
    move |source| DiscoverError::Io { context, source }
}

pub(crate) fn protocol(detail: impl Into<String>) -> DiscoverError {
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
        "redis-server pid {} (Redis {}) listening on {}",
        server.pid(),
        server.redis_version(),
        server.socket_path().display()
    ));

    load_and_read(&mut server, &module, &options.module_args, listener)
}

/// Loads `module` (an absolute path) with `args` into the running `server` and reads its name,
/// version and commands: the part of [`discover`] after the server is up, which the load check of
/// `validate` shares.
pub fn load_and_read(
    server: &mut RedisServer,
    module: &Path,
    args: &[String],
    listener: &dyn Listener,
) -> Result<Discovered, DiscoverError> {
    let module = module.to_path_buf();
    let commands_before = server.command_names()?;
    let modules_before = server.module_list()?;

    listener.on_status(&format!("loading {}", module.display()));
    server.load_module(&module, args)?;

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
        // Sorts flags and subcommands; names stay as the module registered them.
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
        redis_version: server.redis_version().to_string(),
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
    // The server runs in its own temp folder: a relative path means one relative to ours.
    let found = locate_relative(explicit, env_value, path_value)?;
    if found.is_absolute() {
        return Ok(found);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(&found))
        .map_err(io_error("cannot read the current directory"))
}

fn locate_relative(
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_relative_server_path_is_resolved_against_the_current_directory() {
        let cwd = std::env::current_dir().expect("cwd");
        let relative = Path::new("Cargo.toml");
        assert_eq!(
            locate_in(Some(relative), None, None).expect("found"),
            cwd.join("Cargo.toml")
        );
    }
}
