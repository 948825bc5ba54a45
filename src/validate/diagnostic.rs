//! Findings as values: what rule, what RS error code it predicts, what is wrong, how to fix it.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// RS would refuse the module, or the module would fail to load.
    Error,
    /// Likely a problem; an error with `--strict`.
    Warning,
    /// Worth knowing.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable rule id, e.g. `elf-arch-mismatch`.
    pub rule: &'static str,
    /// The RS `error_code` this predicts, or `None` where RS would accept and fail later.
    pub code: Option<&'static str>,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, with the offending values.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// The file (or zip entry) the finding is about, when there is one.
    pub location: Option<String>,
}

/// All findings of one validation run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// What was validated (a path).
    pub subject: String,
    /// The findings, in the order the rules ran.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Whether any finding is an error (with `strict`, any warning too).
    pub fn failed(&self, strict: bool) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error || (strict && d.severity == Severity::Warning))
    }
}
