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

impl Severity {
    /// The lower-case name (`error`, `warning`, `info`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A validation rule: its stable id, the RS error code it predicts, its severity, what it checks
/// and the general fix. Every [`Diagnostic`] comes from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, e.g. `elf-glibc-too-new`.
    pub id: &'static str,
    /// The RS `error_code` a violation predicts, or `None` where RS would accept the module and
    /// it would fail later (at load time) or merely be odd.
    pub code: Option<&'static str>,
    /// How bad a violation is.
    pub severity: Severity,
    /// The family of rules it belongs to (`zip`, `module.json`, `elf`, `versions`, …).
    pub family: &'static str,
    /// What it checks, in one line.
    pub checks: &'static str,
    /// How to fix a violation, in general terms.
    pub fix: &'static str,
}

impl Rule {
    /// A finding of this rule with `message`, and the rule's general fix as help.
    pub fn finding(&'static self, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            rule: self.id,
            code: self.code,
            severity: self.severity,
            message: message.into(),
            help: self.fix.to_string(),
            location: None,
        }
    }
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

impl Diagnostic {
    /// The same finding about `location` (a zip entry or file name).
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// The same finding with a fix specific to it instead of the rule's general one.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }
}

/// Counts of findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Findings that are errors.
    pub errors: usize,
    /// Findings that are warnings.
    pub warnings: usize,
    /// Findings that are informational.
    pub infos: usize,
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

    /// How many findings there are of each severity.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for d in &self.diagnostics {
            match d.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
        summary
    }

    /// Turns every warning into an error (`--strict`), so renderings and the exit code agree.
    pub fn promote_warnings(&mut self) {
        for d in &mut self.diagnostics {
            if d.severity == Severity::Warning {
                d.severity = Severity::Error;
            }
        }
    }

    /// The findings of `rule`.
    pub fn of_rule<'a>(&'a self, rule: &'a str) -> impl Iterator<Item = &'a Diagnostic> + 'a {
        self.diagnostics.iter().filter(move |d| d.rule == rule)
    }

    /// Whether any finding comes from `rule`.
    pub fn has(&self, rule: &str) -> bool {
        self.of_rule(rule).next().is_some()
    }
}
