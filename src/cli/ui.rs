//! The binary's [`Listener`]: progress bars on a terminal, plain lines on stderr otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rmpack::Listener;

/// Renders library progress for a person (bars on a TTY) or a log (one line per status).
pub struct TermListener {
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
    quiet: bool,
}

impl TermListener {
    /// A listener that draws bars when stderr is a terminal; `quiet` drops status lines.
    pub fn new(quiet: bool) -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| (MultiProgress::new(), Mutex::new(HashMap::new())));
        TermListener { bars, quiet }
    }

    fn bar(&self, task: &str, total: Option<u64>, template: &str) -> Option<ProgressBar> {
        let (multi, bars) = self.bars.as_ref()?;
        let mut bars = bars.lock().ok()?;
        let bar = bars.entry(task.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(total.unwrap_or(0)));
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            // Task names quote node addresses and action uids: escape control characters.
            bar.set_prefix(rmpack::report::sanitize(task).into_owned());
            bar
        });
        Some(bar.clone())
    }
}

impl Listener for TermListener {
    fn on_percent(&self, task: &str, percent: u64) {
        if let Some(bar) = self.bar(task, Some(100), "{prefix:>22} [{bar:30}] {pos:>3}%") {
            bar.set_position(percent.min(100));
            if percent >= 100 {
                bar.finish();
            }
        }
    }

    fn on_progress(&self, task: &str, done: u64, total: Option<u64>) {
        let template = "{prefix:>22} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}";
        if let Some(bar) = self.bar(task, total, template) {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
            if total == Some(done) {
                bar.finish();
            }
        }
    }

    fn on_status(&self, message: &str) {
        if self.quiet {
            return;
        }
        // Messages quote module names, log lines and server text: escape control characters.
        let message = &*rmpack::report::sanitize(message);
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(message);
            }
            None => eprintln!("{message}"),
        }
    }

    fn on_warning(&self, message: &str) {
        let message = &*rmpack::report::sanitize(message);
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(format!("warning: {message}"));
            }
            None => eprintln!("warning: {message}"),
        }
    }
}

/// How to colour a human rendering printed on stdout: only on a terminal, and never when
/// `NO_COLOR` is set (no-color.org).
pub fn stdout_style() -> rmpack::report::Style {
    rmpack::report::Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}
