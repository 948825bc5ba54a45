//! Command discovery against a real redis-server and gcc-built fixture modules.
//!
//! What discovery reports is checked against an independent path: the same module loaded into
//! a separate server through `redis-cli`, whose `--json` output is converted here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use rmpack::discover::{
    discover, DiscoverError, DiscoverOptions, Discovered, RedisServer, Reply, REDIS_SERVER_ENV,
};
use rmpack::manifest::{Command, ModuleVersion};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Status lines and warnings, as discovery reports them.
type Collect = rmpack::Recorder;

/// What the tests read from the recorded status lines.
trait ServerPid {
    /// The pid of the server discovery started, from its status line.
    fn server_pid(&self) -> u32;
}

impl ServerPid for Collect {
    fn server_pid(&self) -> u32 {
        let statuses = self.statuses();
        statuses
            .iter()
            .find_map(|line| {
                line.strip_prefix("redis-server pid ")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no server pid among {statuses:?}"))
    }
}

fn assert_process_gone(pid: u32) {
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "redis-server pid {pid} is still running or unreaped"
    );
}

/// Runs discovery with `args`, and checks that the server it started is gone afterwards.
fn run_discovery(module: &Path, args: &[&str]) -> Result<Discovered, DiscoverError> {
    let options = DiscoverOptions {
        module_args: args.iter().map(|a| a.to_string()).collect(),
        ..DiscoverOptions::default()
    };
    let listener = Collect::default();
    let result = discover(module, &options, &listener);
    assert_process_gone(listener.server_pid());
    result
}

/// `redis-cli -3 --json` against the server on `socket`.
fn redis_cli_json(socket: &Path, args: &[&str]) -> serde_json::Value {
    let output = Process::new("redis-cli")
        .arg("-s")
        .arg(socket)
        .args(["-3", "--json"])
        .args(args)
        .output()
        .expect("redis-cli runs (Debian package redis-tools)");
    assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("redis-cli {args:?} printed {text}: {e}"))
}

/// A command from one `COMMAND INFO` entry as `redis-cli --json` prints it.
fn command_from_cli_json(entry: &serde_json::Value) -> Command {
    let field = |i: usize| &entry[i];
    let texts = |i: usize| -> Vec<String> {
        field(i)
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut command = Command::new(field(0).as_str().unwrap(), field(1).as_i64().unwrap());
    command.flags = texts(2);
    command.first_key = field(3).as_i64().unwrap();
    command.last_key = field(4).as_i64().unwrap();
    command.step = field(5).as_i64().unwrap();
    command.acl_categories = texts(6);
    command.key_specs = field(8).as_array().cloned().unwrap_or_default();
    command.subcommands = field(9)
        .as_array()
        .map(|subs| subs.iter().map(command_from_cli_json).collect())
        .unwrap_or_default();
    command.normalize();
    command
}

/// The module as the server reports it when loaded by `redis-cli`: (name, ver, commands).
fn reported_by_redis_cli(module: &Path, args: &[&str]) -> (String, u64, Vec<Command>) {
    let binary = rmpack::discover::locate_redis_server(None).expect("redis-server");
    // The guard's connection and redis-cli's.
    let server = RedisServer::start_with_clients(&binary, TIMEOUT, 2).expect("redis-server starts");
    let port = server.socket_path();
    let mut load = vec!["MODULE", "LOAD", module.to_str().unwrap()];
    load.extend_from_slice(args);
    let output = Process::new("redis-cli")
        .arg("-s")
        .arg(port)
        .args(&load)
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "OK");

    let modules = redis_cli_json(port, &["MODULE", "LIST"]);
    let [module] = modules.as_array().unwrap().as_slice() else {
        panic!("one module expected: {modules}");
    };
    let name = module["name"].as_str().unwrap().to_string();
    let ver = module["ver"].as_u64().unwrap();

    let names = redis_cli_json(port, &["COMMAND", "LIST", "FILTERBY", "MODULE", &name]);
    let mut info_args = vec!["COMMAND", "INFO"];
    // Subcommands are listed too; COMMAND INFO of their parent holds them.
    info_args.extend(
        names
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .filter(|n| !n.contains('|')),
    );
    let mut commands: Vec<Command> = redis_cli_json(port, &info_args)
        .as_array()
        .unwrap()
        .iter()
        .map(command_from_cli_json)
        .collect();
    commands.sort_by(|a, b| a.command_name.cmp(&b.command_name));
    (name, ver, commands)
}

fn names(commands: &[Command]) -> Vec<&str> {
    commands.iter().map(|c| c.command_name.as_str()).collect()
}

#[test]
fn plain_module_matches_what_the_server_reports() {
    let module = common::fixture("plain");
    let discovered = run_discovery(&module, &[]).expect("discovery succeeds");
    let (name, ver, commands) = reported_by_redis_cli(&module, &[]);

    assert_eq!(discovered.module_name, name);
    assert_eq!(discovered.version, ModuleVersion(ver));
    assert_eq!(discovered.commands, commands);

    assert_eq!(discovered.module_name, "plain");
    assert_eq!(discovered.version, ModuleVersion(10203));
    assert_eq!(discovered.version.semantic().to_string(), "1.2.3");
    assert_eq!(
        names(&discovered.commands),
        ["plain.get", "plain.mget", "plain.ping", "plain.set"]
    );
    let mget = &discovered.commands[1];
    assert_eq!(
        mget.command_arity, -1,
        "no SetCommandInfo: Redis reports -1"
    );
    assert_eq!((mget.first_key, mget.last_key, mget.step), (1, -1, 1));
    let set = &discovered.commands[3];
    assert_eq!(set.flags, ["denyoom", "module", "write"]);
    assert_eq!(set.key_specs[0]["begin_search"]["spec"]["index"], 1);
    assert_eq!(
        set.key_specs[0]["flags"],
        serde_json::json!(["RW", "update"])
    );
}

#[test]
fn subcommands_and_key_specs_match_what_the_server_reports() {
    let module = common::fixture("subcmds");
    let discovered = run_discovery(&module, &[]).expect("discovery succeeds");
    let (name, ver, commands) = reported_by_redis_cli(&module, &[]);

    assert_eq!(discovered.module_name, name);
    assert_eq!(discovered.version, ModuleVersion(ver));
    assert_eq!(discovered.commands, commands);

    assert_eq!(discovered.version.semantic().to_string(), "2.0.1");
    assert_eq!(
        names(&discovered.commands),
        ["sub.cfg", "sub.count", "sub.obj"]
    );
    let cfg = &discovered.commands[0];
    assert_eq!(names(&cfg.subcommands), ["sub.cfg|get", "sub.cfg|set"]);
    assert_eq!(cfg.subcommands[0].command_arity, 3);
    let count = &discovered.commands[1];
    assert!(count.flags.iter().any(|f| f == "movablekeys"));
    assert_eq!(count.key_specs[0]["find_keys"]["type"], "keynum");
    let put = &discovered.commands[2].subcommands[0];
    assert_eq!(put.command_name, "sub.obj|put");
    assert_eq!((put.first_key, put.last_key, put.step), (2, 2, 1));
    assert_eq!(put.key_specs[0]["notes"], "the object written");
    assert_eq!(put.key_specs[0]["begin_search"]["spec"]["index"], 2);
}

#[test]
fn module_args_arrive_as_a_list_and_are_never_evaluated() {
    let module = common::fixture("args");
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("evaluated");
    let shell = format!("$(touch {})", marker.display());
    let python = format!("{{__import__('os').system('touch {}')}}", marker.display());
    let args = [
        "NAME",
        "argsmod",
        "PREFIX",
        "hostile",
        shell.as_str(),
        python.as_str(),
        "two words",
    ];

    let discovered = run_discovery(&module, &args).expect("discovery succeeds");
    let (name, ver, commands) = reported_by_redis_cli(&module, &args);
    assert_eq!(discovered.module_name, name);
    assert_eq!(discovered.module_name, "argsmod");
    assert_eq!(discovered.version, ModuleVersion(ver));
    assert_eq!(discovered.version.semantic().to_string(), "0.3.0");
    assert_eq!(discovered.commands, commands);
    assert_eq!(
        names(&discovered.commands),
        ["hostile.echo", "hostile.loadargs"]
    );

    // The module reports the arguments it received: byte for byte, one per list entry.
    let mut server = RedisServer::start(None, TIMEOUT).unwrap();
    let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    server.load_module(&module, &owned).unwrap();
    let received = server.query(["hostile.loadargs"]).unwrap();
    let received: Vec<String> = received
        .as_list()
        .unwrap()
        .iter()
        .map(|r| r.as_text().unwrap())
        .collect();
    assert_eq!(received, [shell.as_str(), python.as_str(), "two words"]);
    assert!(!marker.exists(), "a module argument was evaluated");
}

#[test]
fn a_module_that_refuses_to_load_reports_its_own_log_line() {
    let err = run_discovery(&common::fixture("failload"), &[]).unwrap_err();
    let DiscoverError::LoadFailed { log_lines, .. } = &err else {
        panic!("expected LoadFailed, got {err:?}");
    };
    let own_line = "failload: refusing to load: required setting 'license-key' is missing";
    assert!(
        log_lines.iter().any(|l| l.contains(own_line)),
        "{log_lines:?}"
    );
    assert!(log_lines
        .iter()
        .any(|l| l.contains("initialization failed")));
    let message = err.to_string();
    assert!(message.contains(own_line), "{message}");
    assert!(!message.contains('\n'), "one paragraph: {message}");
}

#[test]
fn a_library_that_is_not_a_module_is_refused_with_the_reason() {
    let err = run_discovery(&common::fixture("notmodule"), &[]).unwrap_err();
    assert!(matches!(err, DiscoverError::LoadFailed { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("does not export RedisModule_OnLoad"),
        "{message}"
    );
}

#[test]
fn a_foreign_architecture_module_gets_an_explained_error() {
    let err = run_discovery(&common::prebuilt_aarch64(), &[]).unwrap_err();
    assert!(
        matches!(err, DiscoverError::CannotOpenModule { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("another architecture"), "{message}");
    assert!(
        message.contains("cannot open shared object file"),
        "{message}"
    );
}

#[test]
fn a_path_that_is_not_a_file_is_refused_before_starting_a_server() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().to_path_buf(), dir.path().join("missing.so")] {
        let listener = Collect::default();
        let err = discover(&path, &DiscoverOptions::default(), &listener).unwrap_err();
        assert!(matches!(err, DiscoverError::NotAFile { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(listener.statuses().is_empty());
    }
}

#[test]
fn a_missing_redis_server_option_is_reported() {
    let options = DiscoverOptions {
        redis_server: Some(PathBuf::from("/nonexistent/redis-server")),
        ..DiscoverOptions::default()
    };
    let err = discover(&common::fixture("plain"), &options, &rmpack::Silent).unwrap_err();
    assert!(
        matches!(err, DiscoverError::ServerNotFound { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    for needle in [
        "/nonexistent/redis-server",
        "--redis-server",
        REDIS_SERVER_ENV,
        "PATH",
        "apt-get install redis-server",
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
}

/// Runs in a child process (see below) so the environment variable affects no other test.
#[test]
#[ignore = "run by a_missing_redis_server_from_the_environment_is_reported"]
fn env_var_child() {
    let Ok(value) = std::env::var(REDIS_SERVER_ENV) else {
        return;
    };
    let err = discover(
        &common::fixture("plain"),
        &DiscoverOptions::default(),
        &rmpack::Silent,
    )
    .unwrap_err();
    assert!(
        matches!(err, DiscoverError::ServerNotFound { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&value), "{err}");
}

#[test]
fn a_missing_redis_server_from_the_environment_is_reported() {
    let output = Process::new(std::env::current_exe().unwrap())
        .args(["env_var_child", "--exact", "--include-ignored"])
        .env(REDIS_SERVER_ENV, "/nonexistent/from-env/redis-server")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{output:?}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn a_server_that_exits_at_start_reports_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("redis-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'FATAL CONFIG FILE ERROR: this is not redis' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let err = RedisServer::start(Some(&fake), TIMEOUT).unwrap_err();
    let DiscoverError::ServerStart { log, .. } = &err else {
        panic!("expected ServerStart, got {err:?}");
    };
    assert!(
        log.iter().any(|l| l.contains("this is not redis")),
        "{log:?}"
    );
    assert!(err.to_string().contains("exited early"), "{err}");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("redis-server");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 60\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let err = RedisServer::start(Some(&fake), Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, DiscoverError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("0.3 s"), "{err}");
}

#[test]
fn the_guard_kills_and_reaps_the_server_and_removes_its_directory() {
    let mut server = RedisServer::start(None, TIMEOUT).unwrap();
    assert_eq!(
        server.query(["PING"]).unwrap(),
        Reply::Status("PONG".into())
    );
    let (pid, dir) = (server.pid(), server.dir().to_path_buf());
    assert!(dir.join("redis.log").is_file());
    drop(server);
    assert_process_gone(pid);
    assert!(!dir.exists(), "{} left behind", dir.display());

    // Also when a panic unwinds through the owner.
    let (sender, receiver) = std::sync::mpsc::channel();
    let unwound = std::panic::catch_unwind(move || {
        let server = RedisServer::start(None, TIMEOUT).unwrap();
        sender
            .send((server.pid(), server.dir().to_path_buf()))
            .unwrap();
        panic!("owner fails");
    });
    assert!(unwound.is_err());
    let (pid, dir) = receiver.recv().unwrap();
    assert_process_gone(pid);
    assert!(!dir.exists());
}

/// Prints how long a full discovery of the `plain` fixture takes (start, load, query, stop).
#[test]
#[ignore = "a measurement, not a check: cargo test --test discover -- --ignored --nocapture"]
fn measure_discovery_time() {
    let module = common::fixture("plain");
    discover(&module, &DiscoverOptions::default(), &rmpack::Silent).unwrap();
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            discover(&module, &DiscoverOptions::default(), &rmpack::Silent).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    eprintln!(
        "discovery of plain: min {:.1} ms, median {:.1} ms, max {:.1} ms (10 runs)",
        times[0].as_secs_f64() * 1e3,
        times[5].as_secs_f64() * 1e3,
        times[9].as_secs_f64() * 1e3
    );
}

// ---------------------------------------------------------------------------------------------
// Names as registered, load failures told apart, and a server no one else can reach.
// ---------------------------------------------------------------------------------------------

fn options_with(args: &[&str], timeout: Duration) -> DiscoverOptions {
    DiscoverOptions {
        module_args: args.iter().map(|a| a.to_string()).collect(),
        timeout,
        ..DiscoverOptions::default()
    }
}

#[test]
fn command_names_keep_the_case_the_module_registered() {
    let discovered = run_discovery(&common::fixture("upper"), &[]).expect("discovery succeeds");
    assert_eq!(names(&discovered.commands), ["HELLO.UPPER", "Hello.Mixed"]);
    let (_, _, commands) = reported_by_redis_cli(&common::fixture("upper"), &[]);
    assert_eq!(discovered.commands, commands);
}

#[test]
fn discovery_records_the_redis_version_it_used() {
    let discovered = run_discovery(&common::fixture("plain"), &[]).expect("discovery succeeds");
    let output = Process::new("redis-server")
        .arg("--version")
        .output()
        .unwrap();
    let banner = String::from_utf8_lossy(&output.stdout);
    assert!(
        banner.contains(&format!("v={}", discovered.redis_version)),
        "{} not in {banner}",
        discovered.redis_version
    );
}

#[test]
fn a_module_probing_for_a_tcp_listener_finds_none() {
    let scratch = tempfile::tempdir().unwrap();
    let report = scratch.path().join("probe.txt");
    let report_arg = report.to_str().unwrap();
    run_discovery(&common::fixture("probetcp"), &[report_arg]).expect("discovery succeeds");
    let text = std::fs::read_to_string(&report).expect("the module wrote its probe report");
    assert_eq!(
        text, "no tcp listener\n",
        "the discovery server listens on TCP"
    );
}

#[test]
fn the_server_folder_is_private_and_a_second_client_is_turned_away() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let mut server = RedisServer::start(None, TIMEOUT).unwrap();
    let mode = std::fs::metadata(server.dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "temp folder mode {mode:o}");
    let socket_mode = std::fs::metadata(server.socket_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(socket_mode & 0o077, 0, "socket mode {socket_mode:o}");

    let mut stray = std::os::unix::net::UnixStream::connect(server.socket_path()).unwrap();
    stray
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stray.write_all(b"*1\r\n$4\r\nPING\r\n");
    let mut answer = String::new();
    let _ = stray.read_to_string(&mut answer);
    assert!(
        answer.contains("max number of clients"),
        "a second client got {answer:?}"
    );
    // Discovery's own connection is unharmed.
    assert_eq!(
        server.query(["PING"]).unwrap(),
        Reply::Status("PONG".into())
    );
}

#[test]
fn a_module_that_wants_a_newer_redis_names_the_version_and_how_to_point_at_another() {
    let err = run_discovery(&common::fixture("newredis"), &[]).unwrap_err();
    let DiscoverError::RedisTooOld { asked, used, .. } = &err else {
        panic!("expected RedisTooOld, got {err:?}");
    };
    assert_eq!(asked, "99.1.0");
    let message = err.to_string();
    for needle in ["99.1.0", used.as_str(), "--redis-server", REDIS_SERVER_ENV] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
}

#[test]
fn a_library_the_host_lacks_is_named() {
    let err = run_discovery(&common::fixture("needs_absent"), &[]).unwrap_err();
    let DiscoverError::MissingLibrary { soname, .. } = &err else {
        panic!("expected MissingLibrary, got {err:?}");
    };
    assert_eq!(soname, "librmpack_absent.so.1");
    assert!(err.to_string().contains("librmpack_absent.so.1"), "{err}");
}

#[test]
fn a_module_that_crashes_the_server_is_reported_as_a_crash() {
    let listener = Collect::default();
    let err = discover(
        &common::fixture("crash"),
        &options_with(&[], TIMEOUT),
        &listener,
    )
    .unwrap_err();
    assert_process_gone(listener.server_pid());
    assert!(
        matches!(err, DiscoverError::ServerCrashed { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("crashed"), "{err}");
}

#[test]
fn a_module_that_hangs_times_out_and_the_server_is_killed() {
    let listener = Collect::default();
    let err = discover(
        &common::fixture("hang"),
        &options_with(&[], Duration::from_secs(1)),
        &listener,
    )
    .unwrap_err();
    assert!(matches!(err, DiscoverError::Timeout { .. }), "{err:?}");
    assert_process_gone(listener.server_pid());
}

/// The pids of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// True while `pid` names a process that is not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn sigterm_during_discovery_leaves_no_server_and_no_temp_folder() {
    let scratch = tempfile::tempdir().unwrap();
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let marker = scratch.path().join("loading");
    let mut rmpack = Process::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("pack")
        .arg(common::fixture("hang"))
        .arg("-o")
        .arg(scratch.path().join("out.zip"))
        .args(["--discover-timeout", "600"])
        .env("TMPDIR", &tmp)
        .env("RMPACK_FIXTURE_HANG_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the module is inside RedisModule_OnLoad (bounded: the child would exit on failure).
    while !marker.exists() {
        if let Some(status) = rmpack.try_wait().unwrap() {
            panic!("rmpack ended before the module loaded: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let servers = children_of(rmpack.id());
    assert_eq!(servers.len(), 1, "one redis-server child: {servers:?}");
    let leftovers = || -> Vec<PathBuf> {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect()
    };
    assert!(!leftovers().is_empty(), "the server's temp folder exists");

    // SAFETY: a signal to the child this test spawned.
    unsafe { libc::kill(rmpack.id() as i32, libc::SIGTERM) };
    let status = rmpack.wait().unwrap();

    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status}");
    assert!(!running(servers[0]), "redis-server {} survived", servers[0]);
    assert_eq!(leftovers(), Vec::<PathBuf>::new(), "temp files left behind");
}

#[test]
fn a_relative_redis_server_path_is_taken_from_the_current_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let real = rmpack::discover::locate_redis_server(None).unwrap();
    std::os::unix::fs::symlink(&real, bin.join("redis-server")).unwrap();
    let output = Process::new(env!("CARGO_BIN_EXE_rmpack"))
        .current_dir(scratch.path())
        .arg("pack")
        .arg(common::fixture("plain"))
        .args([
            "--redis-server",
            "bin/redis-server",
            "--json",
            "-o",
            "out.zip",
        ])
        .env_remove(REDIS_SERVER_ENV)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(scratch.path().join("out.zip").is_file());
}

#[test]
fn pack_keeps_upper_case_names_drops_lower_case_excludes_and_records_the_redis_used() {
    let scratch = tempfile::tempdir().unwrap();
    let output = Process::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("pack")
        .arg(common::fixture("upper"))
        .args(["--exclude-command", "hello.mixed", "--json", "-o"])
        .arg(scratch.path().join("upper.zip"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let commands: Vec<&str> = json["module_json"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_name"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["HELLO.UPPER"]);

    let used = json["discovery_redis_version"]
        .as_str()
        .unwrap()
        .to_string();
    let major_minor: Vec<&str> = used.split('.').take(2).collect();
    let major_minor = major_minor.join(".");
    assert_eq!(json["module_json"]["compatible_redis_version"], major_minor);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "compatible_redis_version {major_minor}, the Redis discovery used; set --compatible-redis-version"
        )),
        "{stderr}"
    );

    // Given explicitly, it is kept and nothing is said.
    let output = Process::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("pack")
        .arg(common::fixture("upper"))
        .args(["--compatible-redis-version", "7.4", "--json", "-o"])
        .arg(scratch.path().join("upper74.zip"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["module_json"]["compatible_redis_version"], "7.4");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("the Redis discovery used"));
}

#[test]
fn pack_of_a_module_that_wants_a_newer_redis_says_which_and_how_to_point_at_another() {
    let scratch = tempfile::tempdir().unwrap();
    let output = Process::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("pack")
        .arg(common::fixture("newredis"))
        .arg("-o")
        .arg(scratch.path().join("x.zip"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in ["asks for Redis 99.1.0", "--redis-server", REDIS_SERVER_ENV] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
}
