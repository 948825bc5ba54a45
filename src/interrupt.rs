//! Clean interruption: what to undo when the user (or CI) stops rmpack with SIGINT, SIGTERM or
//! SIGHUP.
//!
//! Stages register what they would leave behind — a temp file, a temp folder, a child process —
//! and get a [`CleanupGuard`] back; dropping the guard (the normal path, after the stage cleaned up
//! itself) only unregisters. When a signal arrives, a dedicated thread (started by [`install`])
//! kills and reaps every registered process, removes every registered path, and exits with
//! `128 + signal`, the shell's convention for "killed by a signal".
//!
//! A rollout that changes a cluster cannot stop just anywhere: it must say what is done, what is
//! in flight and how to resume. While it holds a [`StopGuard`] (from [`defer_stop`]), the first
//! signal only asks it to stop ([`stop_requested`]): it stops sending new requests, waits for
//! nothing it cannot bound, reports, and exits with `128 + signal` ([`stop_signal`]). A second
//! signal exits at once, as without a guard.
//!
//! Without [`install`] (a library caller that handles signals itself) registering is harmless:
//! nothing runs on a signal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals that stop rmpack cleanly.
pub const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// How long a killed child may take to be reaped before we exit anyway (a process stuck in the
/// kernel cannot hold rmpack forever).
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// One thing to undo on interruption.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cleanup {
    /// A file or a folder (removed recursively).
    Remove(PathBuf),
    /// A child process (and its process group when it leads one), killed and reaped.
    Kill(u32),
}

static REGISTRY: Mutex<BTreeMap<u64, Cleanup>> = Mutex::new(BTreeMap::new());
/// How many [`StopGuard`]s are held.
static DEFERRING: AtomicUsize = AtomicUsize::new(0);
/// The signal that asked a deferring rollout to stop (0: none).
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static INSTALL: Once = Once::new();

/// The registry, even if a panicking thread poisoned the lock (a cleanup list is still valid).
fn registry() -> MutexGuard<'static, BTreeMap<u64, Cleanup>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the thread that runs the registered cleanups on SIGINT, SIGTERM or SIGHUP and then exits
/// with `128 + signal`. Call once, early in `main`; later calls do nothing.
///
/// Fails only when the signal handlers cannot be registered (the thread is then not started).
pub fn install() -> std::io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        result = Signals::new(SIGNALS).and_then(|mut signals| {
            std::thread::Builder::new()
                .name("rmpack-interrupt".into())
                .spawn(move || {
                    for signal in signals.forever() {
                        let first = STOP_SIGNAL
                            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok();
                        if first && DEFERRING.load(Ordering::SeqCst) > 0 {
                            // The rollout stops at its next step and reports; a second signal
                            // does not wait for that.
                            eprintln!(
                                "rmpack: stopping: finishing what is in flight, then reporting what is done and how to resume (send the signal again to exit at once)"
                            );
                            continue;
                        }
                        run_cleanups();
                        std::process::exit(128 + signal);
                    }
                })
                .map(drop)
        });
    });
    result
}

/// Asks the signal handler to let the caller stop on its own at the first signal (see the module
/// docs) for as long as the guard is held.
pub fn defer_stop() -> StopGuard {
    DEFERRING.fetch_add(1, Ordering::SeqCst);
    StopGuard { _private: () }
}

/// Whether a signal asked the running rollout to stop.
pub fn stop_requested() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst) != 0
}

/// The signal that asked to stop, if one did: the caller exits with `128 + signal` after
/// reporting.
pub fn stop_signal() -> Option<i32> {
    match STOP_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// While held, the first signal asks to stop instead of exiting; see [`defer_stop`].
#[derive(Debug)]
#[must_use = "dropping the guard ends the deferral at once"]
pub struct StopGuard {
    _private: (),
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        DEFERRING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers `path` (a file or a folder) to be removed if rmpack is interrupted. Register before
/// creating it, so no window leaves it behind; a path that does not exist is skipped.
pub fn remove_on_interrupt(path: impl AsRef<Path>) -> CleanupGuard {
    register(Cleanup::Remove(path.as_ref().to_path_buf()))
}

/// Registers the child process `pid` to be killed (with its process group, when it leads one) and
/// reaped if rmpack is interrupted.
pub fn kill_on_interrupt(pid: u32) -> CleanupGuard {
    register(Cleanup::Kill(pid))
}

fn register(cleanup: Cleanup) -> CleanupGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    registry().insert(id, cleanup);
    CleanupGuard { id }
}

/// Keeps a cleanup registered; dropping it unregisters (it does not run the cleanup).
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the cleanup at once"]
pub struct CleanupGuard {
    id: u64,
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        registry().remove(&self.id);
    }
}

/// Runs every registered cleanup: processes first (a server may still write into its folder),
/// newest first, then paths, newest first. The registry stays locked, so no stage registers
/// anything new while rmpack is going away.
fn run_cleanups() {
    let registry = registry();
    let newest_first: Vec<&Cleanup> = registry.values().rev().collect();
    for cleanup in &newest_first {
        if let Cleanup::Kill(pid) = cleanup {
            kill_and_reap(*pid);
        }
    }
    for cleanup in &newest_first {
        if let Cleanup::Remove(path) = cleanup {
            remove_path(path);
        }
    }
    // Hold the lock until exit: a guard dropped on another thread now waits instead of racing.
    std::mem::forget(registry);
}

/// SIGKILL to `pid`'s process group (when `pid` leads it) and to `pid`, then wait for it, bounded.
fn kill_and_reap(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: plain syscalls on a pid we spawned; no memory is shared.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, libc::SIGKILL);
        }
        libc::kill(pid, libc::SIGKILL);
    }
    let started = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        // `reaped == pid`: gone; `-1`: not our child or already reaped.
        if reaped != 0 || started.elapsed() > REAP_TIMEOUT {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn remove_path(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(cleanup: &Cleanup) -> bool {
        registry().values().any(|c| c == cleanup)
    }

    #[test]
    fn dropping_the_guard_unregisters_without_running() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("partial.zip.tmp");
        std::fs::write(&file, b"x").unwrap();
        let guard = remove_on_interrupt(&file);
        assert!(registered(&Cleanup::Remove(file.clone())));
        drop(guard);
        assert!(!registered(&Cleanup::Remove(file.clone())));
        assert!(file.exists(), "dropping a guard must not remove the file");
    }

    #[test]
    fn install_is_idempotent() {
        install().unwrap();
        install().unwrap();
    }

    #[test]
    fn remove_path_removes_folders_recursively_and_skips_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("log"), b"x").unwrap();
        remove_path(&dir.path().join("a"));
        assert!(!dir.path().join("a").exists());
        remove_path(&dir.path().join("missing"));
    }
}
