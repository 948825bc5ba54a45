//! The progress and warning listener every long-running stage reports through, and two simple
//! implementations: [`Silent`] drops everything, [`Recorder`] keeps it.

/// Receives progress and warnings from long-running library operations.
///
/// The binary renders these with progress bars on a terminal and plain lines otherwise; tests
/// collect them. Every method has an empty default so a listener implements only what it shows.
pub trait Listener: Send + Sync {
    /// A transfer of `task` (e.g. a node address or a file name) advanced to `done` of `total`
    /// bytes. `total` is `None` when unknown.
    fn on_progress(&self, task: &str, done: u64, total: Option<u64>) {
        let _ = (task, done, total);
    }

    /// An operation measured in percent (an RS action) reached `percent` of 100.
    fn on_percent(&self, task: &str, percent: u64) {
        let _ = (task, percent);
    }

    /// A short human-readable status line, e.g. "loading module into redis-server".
    fn on_status(&self, message: &str) {
        let _ = message;
    }

    /// Something the user should know that does not stop the operation.
    fn on_warning(&self, message: &str) {
        let _ = message;
    }
}

/// A listener that drops everything; for callers that want no output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Listener for Silent {}

/// A listener that keeps every status line and warning, for callers that show or check them
/// afterwards (a CI wrapper, a test).
#[derive(Debug, Default)]
pub struct Recorder {
    statuses: std::sync::Mutex<Vec<String>>,
    warnings: std::sync::Mutex<Vec<String>>,
}

impl Recorder {
    /// The status lines received so far, in order.
    pub fn statuses(&self) -> Vec<String> {
        lock(&self.statuses).clone()
    }

    /// The warnings received so far, in order.
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }
}

/// The guarded list, even if a panicking thread poisoned the lock.
fn lock(list: &std::sync::Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Listener for Recorder {
    fn on_status(&self, message: &str) {
        lock(&self.statuses).push(message.to_string());
    }

    fn on_warning(&self, message: &str) {
        lock(&self.warnings).push(message.to_string());
    }
}

/// A listener that names where each line comes from (`[prod-eu] …`), for work on several
/// clusters at once whose lines would otherwise interleave unlabelled.
pub struct Prefixed {
    prefix: String,
    inner: std::sync::Arc<dyn Listener>,
}

impl Prefixed {
    /// Lines to `inner`, each after `[name] `.
    pub fn new(name: &str, inner: std::sync::Arc<dyn Listener>) -> Prefixed {
        Prefixed {
            prefix: format!("[{}] ", crate::text::sanitize(name)),
            inner,
        }
    }
}

impl Listener for Prefixed {
    fn on_progress(&self, task: &str, done: u64, total: Option<u64>) {
        self.inner
            .on_progress(&format!("{}{task}", self.prefix), done, total);
    }

    fn on_percent(&self, task: &str, percent: u64) {
        self.inner
            .on_percent(&format!("{}{task}", self.prefix), percent);
    }

    fn on_status(&self, message: &str) {
        self.inner.on_status(&format!("{}{message}", self.prefix));
    }

    fn on_warning(&self, message: &str) {
        self.inner.on_warning(&format!("{}{message}", self.prefix));
    }
}
