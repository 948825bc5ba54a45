//! Interruption: SIGTERM, SIGINT and SIGHUP run the registered cleanups (kill and reap the child,
//! remove the temp folder) and exit with 128 + signal.
//!
//! The test re-runs its own binary as the interrupted process: the child installs the handlers,
//! registers a folder and a `sleep` in its own process group, says so on stdout, and waits.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "RMPACK_INTERRUPT_TEST_CHILD";

/// Not a test of its own: the body of the child process (does nothing without the variable).
#[test]
// The sleeper is reaped by the interrupt cleanup under test, not by `wait`.
#[allow(clippy::zombie_processes)]
fn interrupted_child() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    rmpack::interrupt::install().unwrap();
    let folder = PathBuf::from(root).join("work");
    let _folder_guard = rmpack::interrupt::remove_on_interrupt(&folder);
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    std::fs::write(folder.join("nested/log"), b"partial").unwrap();
    let mut sleeper = Command::new("sleep");
    sleeper.arg("1000").process_group(0);
    let sleeper = sleeper.spawn().unwrap();
    let _kill_guard = rmpack::interrupt::kill_on_interrupt(sleeper.id());
    println!("ready {} {}", sleeper.id(), folder.display());
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// True while `pid` names a process that is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => !matches!(
            stat.rsplit(") ").next().and_then(|s| s.chars().next()),
            Some('Z')
        ),
        Err(_) => false,
    }
}

fn interrupt_with(signal: i32) {
    let root = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "interrupted_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut ready = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // The harness prints "test interrupted_child ... " on the same line.
        if let Some((_, rest)) = line.split_once("ready ") {
            let (pid, folder) = rest.split_once(' ').unwrap();
            ready = Some((pid.parse::<u32>().unwrap(), PathBuf::from(folder)));
            break;
        }
    }
    let (sleeper, folder) = ready.expect("the child said it was ready");
    assert!(alive(sleeper));
    assert!(folder.join("nested/log").exists());

    // SAFETY: a signal to the child this test spawned.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();

    assert_eq!(
        status.code(),
        Some(128 + signal),
        "exit code for signal {signal}"
    );
    assert!(
        !alive(sleeper),
        "the registered child process must be killed"
    );
    assert!(!folder.exists(), "the registered folder must be removed");
}

#[test]
fn sigterm_kills_registered_processes_and_removes_registered_folders() {
    interrupt_with(libc::SIGTERM);
}

#[test]
fn sigint_and_sighup_do_the_same() {
    interrupt_with(libc::SIGINT);
    interrupt_with(libc::SIGHUP);
}
