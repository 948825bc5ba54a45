//! Renderings of validation reports (human text, JSON with a schema `version`, GitHub Actions
//! annotations, SARIF 2.1.0) and of rollouts (the per-node table). JSON of a rollout is its
//! `Serialize` form. Also what `pack` wrote and what a bundle holds (`inspect`).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde_json::{json, Value};

use crate::bundle::{Bundle, Source};
use crate::diff::{Action, ChangeKind, Detail, Direction, ReleaseDiff};
use crate::elf::{ElfError, ElfFacts};
use crate::validate::{rules, Diagnostic, Report, Severity};

// Terminal safety: every human rendering shows text from outside through `sanitize`
// (`crate::text`), which turns each control character into a visible escape.
use crate::text::is_unsafe_char;
pub use crate::text::sanitize;

/// Shows a string through [`sanitize`] in `format!` and `println!`: `{}` of `Shown(&text)`.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sanitize(self.0))
    }
}

/// Shows any `Display` value (a path's `display()`, an error) through [`sanitize`].
pub fn shown(value: impl fmt::Display) -> String {
    sanitize(&value.to_string()).into_owned()
}

/// Pretty JSON (two-space indent, a final newline) safe to print on a terminal: besides what
/// JSON itself escapes (C0 controls), DEL, the C1 controls (`\u009b` is CSI to many terminals)
/// and the bidirectional overrides are written as `\uXXXX` escapes. The text is the same JSON.
pub fn json_pretty(value: &impl serde::Serialize) -> String {
    let mut bytes = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut bytes,
        TerminalSafeJson(serde_json::ser::PrettyFormatter::new()),
    );
    if value.serialize(&mut serializer).is_err() {
        return "null\n".to_string();
    }
    let mut text = String::from_utf8(bytes).unwrap_or_default();
    text.push('\n');
    text
}

/// serde_json's pretty formatter, escaping what terminals act on inside strings.
struct TerminalSafeJson<'a>(serde_json::ser::PrettyFormatter<'a>);

impl serde_json::ser::Formatter for TerminalSafeJson<'_> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe_char(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{:04x}", unit)?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// The `version` of the JSON report format; bumped on incompatible changes.
pub const JSON_REPORT_VERSION: u64 = 1;

/// Terminal colours, written as ANSI escapes only when enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Errors.
    Red,
    /// Warnings.
    Yellow,
    /// Information.
    Blue,
    /// Success.
    Green,
    /// Secondary text.
    Dim,
    /// Emphasis.
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Red => "1;31",
            Color::Yellow => "1;33",
            Color::Blue => "1;34",
            Color::Green => "1;32",
            Color::Dim => "2",
            Color::Bold => "1",
        }
    }
}

/// Whether to colour output (decided by the caller: colour only on a terminal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Write ANSI colour codes.
    pub color: bool,
}

impl Style {
    /// `text` in `color` when colouring, else as is.
    pub fn paint(&self, text: &str, color: Color) -> String {
        if self.color {
            format!("\x1b[{}m{text}\x1b[0m", color.code())
        } else {
            text.to_string()
        }
    }

    /// The colour of a severity.
    pub fn severity_color(severity: Severity) -> Color {
        match severity {
            Severity::Error => Color::Red,
            Severity::Warning => Color::Yellow,
            Severity::Info => Color::Blue,
        }
    }
}

/// The width of `text` on a terminal: its characters, less ANSI colour sequences.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, _) => width += 1,
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    width
}

/// Lays out `rows` under `headers` in left-aligned columns separated by two spaces; coloured
/// cells line up by their visible width.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| visible_width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(visible_width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(visible_width(cell));
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// "1 error", "2 warnings".
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The human rendering: findings grouped by severity, each with its fix under it, then a summary.
pub fn human(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        style.paint("validating", Color::Bold),
        Shown(&report.subject)
    );
    out.push_str(&findings(report, style));
    let _ = writeln!(out, "\n{}", verdict(report.summary(), style));
    out
}

/// The findings of `report` grouped by severity, each with its RS error code and fix.
fn findings(report: &Report, style: Style) -> String {
    let mut out = String::new();
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let group: Vec<&Diagnostic> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        let heading = format!("{} ({})", plural_heading(severity), group.len());
        let _ = writeln!(
            out,
            "\n{}",
            style.paint(&heading, Style::severity_color(severity))
        );
        for d in group {
            let label = style.paint(
                &format!("{}[{}]", severity.name(), d.rule),
                Style::severity_color(severity),
            );
            let location = d
                .location
                .as_deref()
                .map(|l| format!("{}: ", Shown(l)))
                .unwrap_or_default();
            let _ = writeln!(out, "  {label} {location}{}", Shown(&d.message));
            let code = match d.code {
                Some(code) => format!("RS error code: {code}"),
                None => "RS error code: none (RS would not refuse it at upload)".to_string(),
            };
            let _ = writeln!(out, "    {}", style.paint(&code, Color::Dim));
            let _ = writeln!(
                out,
                "    {} {}",
                style.paint("fix:", Color::Green),
                Shown(&d.help)
            );
        }
    }
    out
}

/// `OK: 0 errors, 1 warning, 0 infos` (or `FAILED: …`).
fn verdict(summary: crate::validate::Summary, style: Style) -> String {
    let word = if summary.errors > 0 {
        style.paint("FAILED", Color::Red)
    } else {
        style.paint("OK", Color::Green)
    };
    format!(
        "{word}: {}, {}, {}",
        plural(summary.errors, "error"),
        plural(summary.warnings, "warning"),
        plural(summary.infos, "info")
    )
}

/// The human rendering of a release set: each zip's findings, the coverage matrix (a row per
/// OS/architecture, a column per Redis feature set), the set's findings and the totals.
pub fn set_human(report: &crate::validate::SetReport, style: Style) -> String {
    let mut out = String::new();
    let names: std::collections::BTreeSet<&str> = report
        .zips
        .iter()
        .filter_map(|z| z.module_name.as_deref())
        .collect();
    let versions: std::collections::BTreeSet<crate::manifest::ModuleVersion> = report
        .zips
        .iter()
        .filter_map(|z| z.semantic_version.as_deref())
        .filter_map(crate::manifest::ModuleVersion::from_semantic_text)
        .collect();
    let _ = writeln!(
        out,
        "{} {} of {} (versions {})",
        style.paint("validating release set:", Color::Bold),
        plural(report.zips.len(), "zip"),
        shown(names.into_iter().collect::<Vec<_>>().join(", ")),
        versions
            .iter()
            .map(|v| v.semantic().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for zip in &report.zips {
        let summary = zip.report.summary();
        let _ = writeln!(
            out,
            "\n{}: {}",
            Shown(&zip.subject),
            verdict(summary, style)
        );
        out.push_str(&indent(&findings(&zip.report, style)));
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.paint(
            "coverage (a row per OS/architecture, a column per Redis feature set):",
            Color::Bold
        )
    );
    out.push_str(&matrix(&report.matrix));
    if !report.set.diagnostics.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint("the set:", Color::Bold));
        out.push_str(&indent(&findings(&report.set, style)));
    }
    let _ = writeln!(
        out,
        "\n{} (in {} and the set)",
        verdict(report.all_findings().summary(), style),
        plural(report.zips.len(), "zip")
    );
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect()
}

/// The coverage matrix as a table; `-` marks a hole.
pub fn matrix(matrix: &crate::release::Matrix) -> String {
    let headers: Vec<String> = std::iter::once("PLATFORM".to_string())
        .chain(matrix.columns.iter().map(|c| {
            if c == crate::release::NO_FEATURE_SET {
                "NO compatible_redis_version".to_string()
            } else {
                format!("REDIS {c}")
            }
        }))
        .collect();
    let rows: Vec<Vec<String>> = matrix
        .rows
        .iter()
        .map(|row| {
            std::iter::once(shown(&row.platform))
                .chain(row.cells.iter().map(|cell| {
                    if cell.is_empty() {
                        "-".to_string()
                    } else {
                        shown(cell.join(", "))
                    }
                }))
                .collect()
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&headers, &rows)
}

/// The JSON rendering of a release set: the totals and the set's findings as a report has them,
/// plus `zips` (each zip's report) and `matrix`; `schema/validate-report.schema.json`.
pub fn set_json(report: &crate::validate::SetReport) -> Value {
    let zips: Vec<Value> = report
        .zips
        .iter()
        .map(|zip| {
            json!({
                "subject": zip.subject,
                "sha256": zip.sha256,
                "module_name": zip.module_name,
                "semantic_version": zip.semantic_version,
                "feature_set": zip.feature_set,
                "platforms": zip.platforms,
                "summary": zip.report.summary(),
                "diagnostics": zip.report.diagnostics,
            })
        })
        .collect();
    json!({
        "version": JSON_REPORT_VERSION,
        "subject": report.subject,
        "summary": report.all_findings().summary(),
        "diagnostics": report.set.diagnostics,
        "zips": zips,
        "matrix": report.matrix,
    })
}

fn plural_heading(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "errors",
        Severity::Warning => "warnings",
        Severity::Info => "information",
    }
}

/// The JSON rendering: `{"version": 1, "subject", "summary": {errors, warnings, infos},
/// "diagnostics": [...]}`; `schema/validate-report.schema.json` describes it.
pub fn json(report: &Report) -> Value {
    json!({
        "version": JSON_REPORT_VERSION,
        "subject": report.subject,
        "summary": report.summary(),
        "diagnostics": report.diagnostics,
    })
}

/// Escapes a GitHub workflow-command message (`%`, CR, LF).
pub fn github_escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a GitHub workflow-command property value (also `:` and `,`).
pub fn github_escape_property(text: &str) -> String {
    github_escape(text).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions annotations: one `::error file=…,title=rule::message` line per finding.
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for d in &report.diagnostics {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let title = match d.code {
            Some(code) => format!("{} ({code})", d.rule),
            None => d.rule.to_string(),
        };
        // The Actions log shows colour escapes too: sanitize the parts, then join them.
        let message = match &d.location {
            Some(location) => format!(
                "{}: {}\nfix: {}",
                Shown(location),
                Shown(&d.message),
                Shown(&d.help)
            ),
            None => format!("{}\nfix: {}", Shown(&d.message), Shown(&d.help)),
        };
        let _ = writeln!(
            out,
            "::{level} file={},title={}::{}",
            github_escape_property(&sanitize(&report.subject)),
            github_escape_property(&title),
            github_escape(&message)
        );
    }
    out
}

/// SARIF 2.1.0, with every rule of the catalogue described in the tool's driver.
pub fn sarif(report: &Report) -> Value {
    let rule_list: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.checks},
                "help": {"text": r.fix},
                "defaultConfiguration": {"level": sarif_level(r.severity)},
                "properties": {"rs_error_code": r.code, "family": r.family},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let mut location = json!({
                "physicalLocation": {"artifactLocation": {"uri": report.subject}}
            });
            if let Some(entry) = &d.location {
                location["logicalLocations"] = json!([{"name": entry, "kind": "member"}]);
            }
            json!({
                "ruleId": d.rule,
                "ruleIndex": rules::ALL.iter().position(|r| r.id == d.rule),
                "level": sarif_level(d.severity),
                "message": {"text": format!("{} Fix: {}", d.message, d.help)},
                "locations": [location],
                "properties": {"rs_error_code": d.code},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rmpack",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_list,
            }},
            "results": results,
        }],
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The rule catalogue as a Markdown table (id, RS error code, severity, what it checks, fix),
/// as the README shows it.
pub fn rules_markdown() -> String {
    let mut out =
        String::from("| rule | RS error code | severity | checks | fix |\n|---|---|---|---|---|\n");
    for r in rules::ALL {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.id,
            r.code
                .map(|c| format!("`{c}`"))
                .unwrap_or_else(|| "—".into()),
            r.severity,
            r.checks.replace('|', "\\|"),
            r.fix.replace('|', "\\|")
        );
    }
    out
}

/// A byte count for people: `12 B`, `200.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The human rendering of a rollout's outcome (executed or planned): a line per step (what it
/// acts on, what it puts there, where it stands), the errors and details under it, then what the
/// rollout amounts to and the command that resumes it.
pub fn outcome(outcome: &crate::rollout::Outcome, style: Style) -> String {
    use crate::rollout::StepState;
    let mut out = String::new();
    let mode = if outcome.dry_run {
        " (dry run: only GET requests were sent)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{} on {}{mode}",
        style.paint(outcome.operation.name(), Color::Bold),
        Shown(&outcome.cluster)
    );
    for note in &outcome.notes {
        let _ = writeln!(
            out,
            "{} {}",
            style.paint("note:", Color::Yellow),
            Shown(note)
        );
    }
    if !outcome.steps.is_empty() {
        let rows: Vec<Vec<String>> = outcome
            .steps
            .iter()
            .map(|step| {
                let label = step.label();
                let result = match step.state {
                    StepState::Done | StepState::AlreadyDone => style.paint(label, Color::Green),
                    StepState::Failed | StepState::Unknown | StepState::InFlight => {
                        style.paint(label, Color::Red)
                    }
                    _ => label.to_string(),
                };
                vec![
                    shown(&step.target),
                    step.address.as_deref().map(shown).unwrap_or_default(),
                    shown(&step.subject),
                    result,
                    if step.bytes > 0 {
                        human_bytes(step.bytes)
                    } else {
                        String::new()
                    },
                    if step.elapsed.is_zero() {
                        String::new()
                    } else {
                        format!("{:.2}s", step.elapsed.as_secs_f64())
                    },
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["TARGET", "ADDRESS", "WHAT", "RESULT", "BYTES", "TIME"],
            &rows,
        ));
        for step in &outcome.steps {
            // The action to follow matters while the step is not settled.
            if let Some(action) = step.action.as_ref().filter(|_| !step.state.is_settled()) {
                let _ = writeln!(out, "  {}: action {}", Shown(&step.target), Shown(action));
            }
            for detail in &step.details {
                let _ = writeln!(out, "  {}: {}", Shown(&step.target), Shown(detail));
            }
            if let Some(error) = &step.error {
                let _ = writeln!(out, "  {}: {}", Shown(&step.target), Shown(error));
            }
        }
    }
    if outcome.dry_run {
        let _ = writeln!(out, "\nrequests to send:");
        if outcome.requests.is_empty() {
            let _ = writeln!(out, "  none: everything is already in place");
        }
        for request in &outcome.requests {
            let _ = writeln!(
                out,
                "  {} {} ({})",
                request.method,
                Shown(&request.url),
                human_bytes(request.bytes)
            );
        }
        let total: u64 = outcome.requests.iter().map(|r| r.bytes).sum();
        let _ = writeln!(
            out,
            "  total: {} in {}",
            human_bytes(total),
            plural(outcome.requests.len(), "request")
        );
        return out;
    }
    out.push('\n');
    let _ = writeln!(out, "{}", outcome_summary(outcome, style));
    if let Some(command) = &outcome.resume_command {
        let _ = writeln!(out, "resume with:\n  {}", command.0);
    }
    out
}

/// The closing line: what the rollout amounts to.
fn outcome_summary(outcome: &crate::rollout::Outcome, style: Style) -> String {
    use crate::rollout::{Operation, StepKind, StepState};
    let count = |state: StepState| outcome.count(state);
    if outcome.count(StepState::RolledBack) > 0 {
        return style.paint(
            "rolled back: a node refused the artifact (or --rollback-on-failure), and what this run uploaded or registered was deleted",
            Color::Red,
        );
    }
    let what = match outcome.operation {
        Operation::Upload => "upload",
        Operation::Upgrade => "database upgrade",
        Operation::Delete => "delete",
    };
    if outcome.is_complete() && !outcome.changed_anything() {
        return "nothing changed: everything was already in place".to_string();
    }
    let nodes: std::collections::BTreeSet<&str> = outcome
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Artifact)
        .map(|s| s.target.as_str())
        .collect();
    let whole = match outcome.operation {
        Operation::Upload if !nodes.is_empty() => {
            let holding = nodes
                .iter()
                .filter(|n| {
                    outcome
                        .steps
                        .iter()
                        .filter(|s| s.kind == StepKind::Artifact && s.target == **n)
                        .all(|s| s.state.is_settled())
                })
                .count();
            format!(
                "{holding} of {} node(s) hold every version uploaded",
                nodes.len()
            )
        }
        Operation::Upgrade => format!(
            "{} of {} database(s) upgraded",
            count(StepState::Done) + count(StepState::AlreadyDone),
            outcome.steps.len()
        ),
        _ => format!(
            "{} of {} step(s) in place",
            outcome
                .steps
                .iter()
                .filter(|s| s.state.is_settled())
                .count(),
            outcome.steps.len()
        ),
    };
    if outcome.is_complete() {
        return style.paint(&format!("complete: {whole}"), Color::Green);
    }
    let mut open = Vec::new();
    for (state, word) in [
        (StepState::Failed, "failed"),
        (StepState::Unknown, "unknown (the cluster may have done it)"),
        (StepState::InFlight, "still running on the cluster"),
        (StepState::NotStarted, "not started"),
    ] {
        let n = count(state);
        if n > 0 {
            open.push(format!("{n} {word}"));
        }
    }
    let head = if outcome.interrupted {
        format!("interrupted: the {what} stopped on a signal")
    } else {
        format!("stopped: the {what} is partial")
    };
    style.paint(&format!("{head}; {whole}; {}", open.join(", ")), Color::Red)
}

/// The human rendering of a fleet rollout: each cluster's own report (its plan, its outcome,
/// or the findings that refused it) under a header naming it and its wave, then a row per
/// cluster and the command that goes on with the clusters not done.
pub fn fleet_outcome(fleet: &crate::rollout::fleet::FleetOutcome, style: Style) -> String {
    use crate::rollout::fleet::ClusterState;
    let mut out = String::new();
    for row in &fleet.clusters {
        if row.outcome.is_none() && row.refusal.is_none() && row.error.is_none() {
            continue;
        }
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                &format!("== wave {}: cluster {} ==", row.wave, shown(&row.cluster)),
                Color::Bold
            )
        );
        if let Some(refusal) = &row.refusal {
            for report in refusal.reports.iter().filter(|r| !r.diagnostics.is_empty()) {
                out.push_str(&human(report, style));
            }
        } else if let Some(error) = row.error.as_ref().filter(|_| row.outcome.is_none()) {
            let _ = writeln!(
                out,
                "{} {}",
                style.paint("error:", Color::Red),
                Shown(error)
            );
        }
        if let Some(outcome) = &row.outcome {
            out.push_str(&self::outcome(outcome, style));
        }
        out.push('\n');
    }
    let mode = if fleet.dry_run {
        " (dry run: only GET requests were sent)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{} fleet {}{mode}",
        style.paint(fleet.operation.name(), Color::Bold),
        Shown(&fleet.fleet)
    );
    let rows: Vec<Vec<String>> = fleet
        .clusters
        .iter()
        .map(|row| {
            let label = row.state.label();
            let result = match row.state {
                ClusterState::Done => style.paint(label, Color::Green),
                ClusterState::Refused | ClusterState::Failed | ClusterState::Interrupted => {
                    style.paint(label, Color::Red)
                }
                _ => label.to_string(),
            };
            let detail = match (&row.error, &row.outcome) {
                (Some(error), _) => shown(first_chars(error, 160)),
                (None, Some(outcome)) if !outcome.dry_run => {
                    shown(outcome_summary(outcome, Style::default()))
                }
                (None, Some(outcome)) => {
                    format!("{} to send", plural(outcome.requests.len(), "request"))
                }
                (None, None) => String::new(),
            };
            vec![
                row.wave.to_string(),
                shown(&row.cluster),
                row.url.as_deref().map(shown).unwrap_or_default(),
                row.rs_version.as_deref().map(shown).unwrap_or_default(),
                result,
                detail,
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &["WAVE", "CLUSTER", "URL", "RS", "RESULT", "DETAIL"],
        &rows,
    ));
    out.push('\n');
    let done = fleet
        .clusters
        .iter()
        .filter(|c| c.state == ClusterState::Done)
        .count();
    let line = if fleet.dry_run && !fleet.refused() {
        style.paint(
            &format!(
                "plan: {} in {} wave(s); nothing was changed",
                plural(fleet.clusters.len(), "cluster"),
                fleet.clusters.iter().map(|c| c.wave).max().unwrap_or(0)
            ),
            Color::Green,
        )
    } else if fleet.refused() {
        style.paint(
            "refused: the pre-flight of some cluster failed; nothing was sent to any cluster",
            Color::Red,
        )
    } else if fleet.is_complete() {
        style.paint(
            &format!(
                "complete: {done} of {} cluster(s) done",
                fleet.clusters.len()
            ),
            Color::Green,
        )
    } else if fleet.interrupted {
        style.paint(
            &format!(
                "interrupted: the fleet stopped on a signal; {done} of {} cluster(s) done",
                fleet.clusters.len()
            ),
            Color::Red,
        )
    } else {
        style.paint(
            &format!(
                "stopped: the fleet stopped at the first cluster that failed; {done} of {} cluster(s) done",
                fleet.clusters.len()
            ),
            Color::Red,
        )
    };
    let _ = writeln!(out, "{line}");
    if let Some(command) = &fleet.resume_command {
        let _ = writeln!(out, "resume with:\n  {}", command.0);
    }
    out
}

/// What `validate` found for one cluster of a fleet: a zip's report, or a release set's.
#[derive(Debug)]
pub enum Checked {
    /// One module (a `.so`, a module.json, a zip).
    Module(Report),
    /// A release set.
    Set(crate::validate::SetReport),
}

impl Checked {
    /// Whether it fails (`strict`: warnings count as errors).
    pub fn failed(&self, strict: bool) -> bool {
        match self {
            Checked::Module(report) => report.failed(strict),
            Checked::Set(report) => report.failed(strict),
        }
    }
}

/// The version of `validate --fleet --format json`.
pub const FLEET_VALIDATE_JSON_VERSION: u64 = 1;

/// `validate --fleet`: each cluster's report under a header naming it; a cluster that could not
/// be read is named with why.
pub fn fleet_validation_human(
    fleet: &str,
    clusters: &[(String, Result<Checked, String>)],
    style: Style,
) -> String {
    let mut out = String::new();
    for (cluster, checked) in clusters {
        let _ = writeln!(
            out,
            "{}",
            style.paint(&format!("== cluster {} ==", shown(cluster)), Color::Bold)
        );
        match checked {
            Ok(Checked::Module(report)) => out.push_str(&human(report, style)),
            Ok(Checked::Set(report)) => out.push_str(&set_human(report, style)),
            Err(error) => {
                let _ = writeln!(
                    out,
                    "{} {}",
                    style.paint("error:", Color::Red),
                    Shown(error)
                );
            }
        }
        out.push('\n');
    }
    let failing: Vec<&str> = clusters
        .iter()
        .filter(|(_, c)| c.as_ref().map_or(true, |c| c.failed(false)))
        .map(|(name, _)| name.as_str())
        .collect();
    let line = if failing.is_empty() {
        style.paint(
            &format!(
                "fleet {}: OK on {}",
                shown(fleet),
                plural(clusters.len(), "cluster")
            ),
            Color::Green,
        )
    } else {
        style.paint(
            &format!(
                "fleet {}: FAILED on {}",
                shown(fleet),
                shown(failing.join(", "))
            ),
            Color::Red,
        )
    };
    let _ = writeln!(out, "{line}");
    out
}

/// `validate --fleet --format json`: `{"version", "fleet", "clusters": [{"cluster", "error",
/// "report"}]}`, each report as `--format json` renders it for one cluster.
pub fn fleet_validation_json(fleet: &str, clusters: &[(String, Result<Checked, String>)]) -> Value {
    json!({
        "version": FLEET_VALIDATE_JSON_VERSION,
        "fleet": fleet,
        "clusters": clusters.iter().map(|(cluster, checked)| match checked {
            Ok(Checked::Module(report)) => json!({"cluster": cluster, "error": null, "report": self::json(report)}),
            Ok(Checked::Set(report)) => json!({"cluster": cluster, "error": null, "report": set_json(report)}),
            Err(error) => json!({"cluster": cluster, "error": error, "report": null}),
        }).collect::<Vec<_>>(),
    })
}

/// The JSON rendering of a fleet rollout (`schema/fleet.schema.json`): each cluster's outcome as
/// [`outcome_json`] renders it.
pub fn fleet_outcome_json(fleet: &crate::rollout::fleet::FleetOutcome) -> Value {
    let mut value = serde_json::to_value(fleet).unwrap_or(Value::Null);
    if let Some(rows) = value.get_mut("clusters").and_then(Value::as_array_mut) {
        for (row, cluster) in rows.iter_mut().zip(&fleet.clusters) {
            if let Some(outcome) = &cluster.outcome {
                row["outcome"] = outcome_json(outcome);
            }
        }
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("complete".into(), fleet.is_complete().into());
    }
    value
}

/// The human rendering of `status --fleet`: a row per module version, a column per cluster
/// (registered, nodes holding it of the cluster's nodes, databases), then the drift with what
/// heals it.
pub fn fleet_status(status: &crate::rollout::fleet::FleetStatus, style: Style) -> String {
    use crate::rollout::fleet::FleetDrift;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fleet {}: {}",
        Shown(&status.fleet),
        plural(status.clusters.len(), "cluster")
    );
    let mut headers: Vec<String> = vec!["MODULE".into(), "VERSION".into()];
    headers.extend(status.clusters.iter().map(|c| shown(&c.cluster)));
    let rows: Vec<Vec<String>> = status
        .versions
        .iter()
        .map(|version| {
            let mut row = vec![
                shown(&version.module_name),
                shown(&version.semantic_version),
            ];
            for cluster in &status.clusters {
                row.push(
                    match (&cluster.error, version.clusters.get(&cluster.cluster)) {
                        (Some(_), _) => "?".to_string(),
                        (None, None) => "-".to_string(),
                        (None, Some(cell)) => {
                            let mut text = if cell.registered {
                                format!("{}/{} nodes", cell.nodes_holding, cell.nodes)
                            } else {
                                format!("unregistered, {}/{} nodes", cell.nodes_holding, cell.nodes)
                            };
                            if !cell.databases.is_empty() {
                                text.push_str(&format!(", db {}", shown(cell.databases.join(","))));
                            }
                            text
                        }
                    },
                );
            }
            row
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    out.push('\n');
    out.push_str(&table(&header_refs, &rows));
    out.push('\n');
    for cluster in &status.clusters {
        if let Some(error) = &cluster.error {
            let _ = writeln!(
                out,
                "{} cluster {}: {}",
                style.paint("error:", Color::Red),
                Shown(&cluster.cluster),
                Shown(error)
            );
        }
    }
    if status.is_consistent() {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                "consistent: every cluster holds the same module versions, each on every node",
                Color::Green
            )
        );
        return out;
    }
    for drift in &status.drift {
        match drift {
            FleetDrift::Cluster { cluster, drift } => {
                let _ = writeln!(
                    out,
                    "{} cluster {}: {}",
                    style.paint("drift:", Color::Red),
                    Shown(cluster),
                    shown(drift_line(drift))
                );
            }
            FleetDrift::BetweenClusters {
                module_name,
                semantic_version,
                held_by,
                lacking,
                heal,
            } => {
                let _ = writeln!(
                    out,
                    "{} {} {} is registered on {} but not on {}",
                    style.paint("drift:", Color::Red),
                    Shown(module_name),
                    Shown(semantic_version),
                    shown(held_by.join(", ")),
                    shown(lacking.join(", "))
                );
                for command in heal {
                    let _ = writeln!(out, "  heal: {}", Shown(command));
                }
            }
        }
    }
    let problems =
        status.drift.len() + status.clusters.iter().filter(|c| c.error.is_some()).count();
    let _ = writeln!(
        out,
        "\n{}",
        style.paint(
            &format!("drift: {}", plural(problems, "problem")),
            Color::Red
        )
    );
    out
}

/// At most `max` characters of `text`, with `…` when cut (a table cell stays readable; the full
/// text is in the cluster's own report above the table).
fn first_chars(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// One cluster's drift in a line, for the fleet's view (its heal is on the cluster's own
/// `rmpack status`).
fn drift_line(drift: &crate::rollout::status::Drift) -> String {
    use crate::rollout::status::Drift;
    match drift {
        Drift::MissingArtifact {
            module_name,
            semantic_version,
            nodes,
            ..
        } => format!(
            "{module_name} {semantic_version} is registered but node(s) {} lack its artifact",
            nodes.join(", ")
        ),
        Drift::OrphanArtifact {
            module_name,
            semantic_version,
            nodes,
            ..
        } => format!(
            "orphan artifact {module_name} {semantic_version} on node(s) {}",
            nodes.join(", ")
        ),
        Drift::DatabaseOnMissingArtifact {
            database,
            module_name,
            semantic_version,
            nodes,
        } => format!(
            "database {database} runs {module_name} {semantic_version}, whose artifact node(s) {} lack",
            nodes.join(", ")
        ),
        Drift::NodeJoinHole {
            module_name,
            redis_version,
            nodes,
            ..
        } => format!(
            "node(s) {} hold no {module_name} build for Redis {redis_version} (they would fail to join with incompatible_modules)",
            nodes.join(", ")
        ),
    }
}

/// The JSON rendering of an outcome (`schema/rollout.schema.json`): the outcome itself, plus
/// whether it is complete and whether it changed the cluster.
pub fn outcome_json(outcome: &crate::rollout::Outcome) -> Value {
    let mut value = serde_json::to_value(outcome).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("complete".into(), outcome.is_complete().into());
        object.insert("changed".into(), outcome.changed_anything().into());
    }
    value
}

/// The `version` of the JSON diff format (`schema/diff.schema.json`); bumped on incompatible
/// changes.
pub const JSON_DIFF_VERSION: u64 = 1;

/// The JSON rendering of a diff: `{"version": 1, "old", "new", "version_step", "summary":
/// {changes, breaking}, "warnings", "changes": [...]}`; `schema/diff.schema.json` describes it.
pub fn diff_json(diff: &ReleaseDiff) -> Value {
    json!({
        "version": JSON_DIFF_VERSION,
        "old": diff.old,
        "new": diff.new,
        "version_step": diff.version_step,
        "summary": {"changes": diff.changes.len(), "breaking": diff.breaking_count()},
        "warnings": diff.warnings,
        "changes": diff.changes,
    })
}

/// A sha256 as its first 12 hex digits (enough to tell two apart); other text as it is.
fn abbreviate_hash(text: &str) -> Cow<'_, str> {
    if crate::manifest::is_sha256_hex(text) {
        Cow::Owned(format!("{}…", &text[..12]))
    } else {
        sanitize(text)
    }
}

fn detail_value(value: &Option<Value>) -> String {
    match value {
        Some(Value::String(s)) => abbreviate_hash(s).into_owned(),
        Some(Value::Null) | None => "none".to_string(),
        Some(other) => sanitize(&other.to_string()).into_owned(),
    }
}

fn detail_text(detail: &Detail) -> String {
    let field = sanitize(&detail.field);
    if detail.field == "key_specs" {
        return "key specs differ".to_string();
    }
    if detail.old.is_some() || detail.new.is_some() {
        return format!(
            "{field} {} → {}",
            detail_value(&detail.old),
            detail_value(&detail.new)
        );
    }
    let mut parts = vec![field.into_owned()];
    parts.extend(detail.added.iter().map(|a| format!("+{}", sanitize(a))));
    parts.extend(detail.removed.iter().map(|r| format!("-{}", sanitize(r))));
    parts.join(" ")
}

/// The human rendering of a diff: the two releases, the version step and its warnings, then the
/// changes grouped by kind (`+` added, `-` removed, `~` changed; breaking ones say why), and a
/// summary line. The same facts on both sides say "no changes".
pub fn diff_human(diff: &ReleaseDiff, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {} → {} {}",
        style.paint("diff", Color::Bold),
        Shown(&diff.old.module_name),
        diff.old.semantic_version,
        Shown(&diff.new.module_name),
        diff.new.semantic_version
    );
    let _ = writeln!(out, "  old: {}", shown(diff.old.path.display()));
    let _ = writeln!(out, "  new: {}", shown(diff.new.path.display()));
    let step = &diff.version_step;
    let direction = match step.direction {
        Direction::Up => format!("{} step up", step.part),
        Direction::Same => "the same version".to_string(),
        Direction::Down => style.paint(&format!("{} step DOWN", step.part), Color::Red),
    };
    let _ = writeln!(out, "version: {} → {} ({direction})", step.from, step.to);
    for warning in &diff.warnings {
        let _ = writeln!(
            out,
            "{} {}",
            style.paint("warning:", Color::Yellow),
            Shown(warning)
        );
    }
    if diff.changes.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            style.paint(
                "no changes: both releases hold the same commands, capabilities, requirements, platforms and dependencies",
                Color::Green
            )
        );
        return out;
    }
    for kind in ChangeKind::ALL {
        let group: Vec<_> = diff.of_kind(kind).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{}",
            style.paint(
                &format!("{} ({})", kind.heading(), group.len()),
                Color::Bold
            )
        );
        for change in group {
            let (sigil, color) = match change.action {
                Action::Added => ("+", Color::Green),
                Action::Removed => ("-", Color::Red),
                Action::Changed => ("~", Color::Yellow),
            };
            let mut line = format!("  {} {}", style.paint(sigil, color), Shown(&change.subject));
            match (&change.old, &change.new) {
                (None, None) => {}
                (old, new) => {
                    let show = |v: &Option<String>| {
                        v.as_deref()
                            .map(|s| abbreviate_hash(s).into_owned())
                            .unwrap_or_else(|| "none".to_string())
                    };
                    let _ = write!(line, ": {} → {}", show(old), show(new));
                }
            }
            if !change.details.is_empty() {
                let details: Vec<String> = change.details.iter().map(detail_text).collect();
                let _ = write!(line, ": {}", details.join("; "));
            }
            match (&change.note, change.breaking) {
                (Some(note), true) => {
                    let _ = write!(
                        line,
                        "  {} {}",
                        style.paint("BREAKING:", Color::Red),
                        Shown(note)
                    );
                }
                (Some(note), false) => {
                    let _ = write!(line, " ({})", Shown(note));
                }
                (None, true) => {
                    let _ = write!(line, "  {}", style.paint("BREAKING", Color::Red));
                }
                (None, false) => {}
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let total = plural(diff.changes.len(), "change");
    let breaking = diff.breaking_count();
    let summary = if breaking == 0 {
        style.paint(&format!("{total}, none breaking"), Color::Green)
    } else {
        style.paint(
            &format!("{total}, {breaking} breaking (clients or databases that use what went away)"),
            Color::Red,
        )
    };
    let _ = writeln!(out, "\n{summary}");
    out
}

// ---------------------------------------------------------------------------------------------
// What `pack` wrote; what a bundle holds (`inspect`).
// ---------------------------------------------------------------------------------------------

/// The human rendering of a packed zip: its path, size and sha256.
pub fn packed_human(packed: &crate::pack::Packed) -> String {
    format!(
        "{}\n  size:   {} bytes\n  sha256: {}\n",
        shown(packed.path.display()),
        packed.size,
        packed.sha256
    )
}

/// The JSON rendering of a packed zip: `path`, `size`, `sha256`, the `module_json` inside it,
/// and the `discovery_redis_version` the module was loaded into (null without discovery).
pub fn packed_json(packed: &crate::pack::Packed) -> Value {
    json!({
        "path": packed.path,
        "size": packed.size,
        "sha256": packed.sha256,
        "module_json": packed.module_json.user_defined_config(),
        "discovery_redis_version": packed.redis_version,
    })
}

/// The JSON rendering of what a bundle holds: `path`, `source`, `entries`, `module_json` (or
/// `{"error"}`), `module` (name, size, sha256, the recorded sha256 and whether it matches, mode),
/// `elf` (the facts, or `{"error"}`) and `dependencies`.
pub fn inspect_json(bundle: &Bundle, elf: Option<&Result<ElfFacts, ElfError>>) -> Value {
    let checksum = bundle.module_checksum();
    json!({
        "path": bundle.path.display().to_string(),
        "source": bundle.source,
        "entries": bundle.entries,
        "module_json": match &bundle.module_json_value {
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => json!({"error": e}),
            None => Value::Null,
        },
        "module": bundle.module.as_ref().map(|m| json!({
            "name": m.name,
            "size": m.bytes.len(),
            "sha256": m.sha256,
            "recorded_sha256": checksum.recorded,
            "sha256_matches": checksum.matches,
            "unix_mode": m.unix_mode.map(|mode| format!("{mode:04o}")),
        })),
        "elf": match elf {
            Some(Ok(facts)) => serde_json::to_value(facts).unwrap_or(Value::Null),
            Some(Err(e)) => json!({"error": e.to_string()}),
            None => Value::Null,
        },
        "dependencies": bundle.deps,
    })
}

/// The module.json fields the human rendering of a bundle shows, in order (commands follow as
/// a table).
const INSPECTED_FIELDS: &[&str] = &[
    "module_name",
    "display_name",
    "version",
    "semantic_version",
    "architecture",
    "os",
    "operating_systems",
    "min_redis_version",
    "min_redis_pack_version",
    "compatible_redis_version",
    "capabilities",
    "command_line_args",
    "module_file",
    "sha256",
    "dependencies",
];

/// The human rendering of what a bundle holds: the zip's entries, module.json's main fields and
/// commands, the `.so` (size, sha256 against the recorded one, mode), its ELF facts and the
/// dependency archives.
pub fn inspect_human(bundle: &Bundle, elf: Option<&Result<ElfFacts, ElfError>>) -> String {
    let mut out = String::new();
    // Every string from the zip, module.json or the ELF file goes through `sanitize`: it may hold
    // escape sequences meant to rewrite the terminal.
    out.push_str(&format!("{}\n", shown(bundle.path.display())));
    if bundle.source == Source::Zip {
        let rows: Vec<Vec<String>> = bundle
            .entries
            .iter()
            .map(|e| {
                vec![
                    sanitize(&e.name).into_owned(),
                    format!("{:?}", e.kind).to_lowercase(),
                    e.size.to_string(),
                    e.compressed_size.to_string(),
                    e.unix_mode
                        .map(|m| format!("{m:04o}"))
                        .unwrap_or_else(|| "-".into()),
                    sanitize(&e.compression).into_owned(),
                ]
            })
            .collect();
        out.push_str("\nentries\n");
        out.push_str(&table(
            &["name", "kind", "size", "compressed", "mode", "method"],
            &rows,
        ));
    }
    match &bundle.module_json_value {
        Some(Ok(Value::Object(map))) => {
            out.push_str("\nmodule.json\n");
            for key in INSPECTED_FIELDS {
                if let Some(value) = map.get(*key) {
                    out.push_str(&format!("  {key:<26} {}\n", compact(value)));
                }
            }
            if let Some(Value::Array(commands)) = map.get("commands") {
                let rows: Vec<Vec<String>> = commands
                    .iter()
                    .map(|c| {
                        let field = |k: &str| c.get(k).map(compact).unwrap_or_default();
                        let flags = c
                            .get("flags")
                            .and_then(Value::as_array)
                            .map(|f| {
                                f.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .unwrap_or_default();
                        let flags = sanitize(&flags).into_owned();
                        vec![
                            sanitize(c.get("command_name").and_then(Value::as_str).unwrap_or("?"))
                                .into_owned(),
                            field("command_arity"),
                            flags,
                            field("first_key"),
                            field("last_key"),
                            field("step"),
                        ]
                    })
                    .collect();
                out.push_str(&format!("\ncommands ({})\n", rows.len()));
                out.push_str(&table(
                    &["name", "arity", "flags", "first", "last", "step"],
                    &rows,
                ));
            }
        }
        Some(Ok(_)) => out.push_str("\nmodule.json is not a JSON object\n"),
        Some(Err(e)) => out.push_str(&format!("\nmodule.json is not valid JSON: {}\n", Shown(e))),
        None => {}
    }
    if let Some(module) = &bundle.module {
        out.push_str(&format!("\nmodule {}\n", Shown(&module.name)));
        out.push_str(&format!("  size    {} bytes\n", module.bytes.len()));
        out.push_str(&format!("  sha256  {}\n", module.sha256));
        let checksum = bundle.module_checksum();
        match (checksum.recorded, checksum.matches) {
            (Some(_), Some(true)) => out.push_str("  matches the sha256 module.json records\n"),
            (Some(r), _) => out.push_str(&format!(
                "  DOES NOT MATCH the sha256 module.json records ({})\n",
                Shown(&r)
            )),
            (None, _) if bundle.module_json_raw.is_some() => {
                out.push_str("  module.json records no sha256\n")
            }
            _ => {}
        }
        if let Some(mode) = module.unix_mode {
            out.push_str(&format!("  mode    {mode:04o}\n"));
        }
    }
    match elf {
        Some(Ok(facts)) => {
            out.push_str("\nELF\n");
            out.push_str(&format!(
                "  architecture  {}\n",
                facts.describe_architecture()
            ));
            out.push_str(&format!(
                "  class         {}, {}\n",
                facts.class, facts.endianness
            ));
            out.push_str(&format!("  type          {}\n", facts.file_type));
            out.push_str(&format!("  OS/ABI        {}\n", facts.os_abi));
            out.push_str(&format!(
                "  OnLoad        {}\n",
                if facts.has_redis_module_onload {
                    "RedisModule_OnLoad exported"
                } else {
                    "RedisModule_OnLoad MISSING"
                }
            ));
            out.push_str(&format!(
                "  NEEDED        {}\n",
                Shown(&facts.needed.join(", "))
            ));
            for (label, need) in [
                ("glibc", facts.max_glibc()),
                ("libstdc++", facts.max_glibcxx()),
                ("OpenSSL", facts.max_openssl()),
            ] {
                if let Some(need) = need {
                    out.push_str(&format!(
                        "  max {label:<9} {} ({})\n",
                        Shown(&need.name),
                        Shown(&need.symbols.join(", "))
                    ));
                }
            }
        }
        Some(Err(e)) => out.push_str(&format!("\nELF: {}\n", shown(e))),
        None => {}
    }
    if !bundle.deps.is_empty() {
        let rows: Vec<Vec<String>> = bundle
            .deps
            .iter()
            .map(|d| {
                vec![
                    sanitize(&d.name).into_owned(),
                    d.size.to_string(),
                    d.sha256.clone(),
                ]
            })
            .collect();
        out.push_str("\ndependencies\n");
        out.push_str(&table(&["name", "size", "sha256"], &rows));
    }
    out
}

/// A module.json value for the terminal: a string as it is, anything else as JSON; either way
/// with control characters escaped.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => sanitize(s).into_owned(),
        other => sanitize(&other.to_string()).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Upgrade plans and outcomes, cluster status, per-node artifact tables.
// ---------------------------------------------------------------------------------------------

/// The human rendering of an upgrade plan: the route, then per database its Redis version and
/// each module before → after (and what the cluster's own dry run answered, when it did), the
/// request, and the notes.
pub fn upgrade_plan(plan: &crate::rollout::upgrade::UpgradePlan, style: Style) -> String {
    use crate::rollout::upgrade::{ChangeReason, UpgradeRoute};
    let mut out = String::new();
    let route = match plan.route {
        UpgradeRoute::General => "POST /v1/bdbs/{uid}/upgrade",
        UpgradeRoute::Modules => "POST /v1/bdbs/{uid}/modules/upgrade",
    };
    let _ = writeln!(
        out,
        "upgrade plan for {} on RS {} ({route}), one database at a time:",
        style.paint(&sanitize(&plan.module), Color::Bold),
        Shown(&plan.rs_version)
    );
    for db in &plan.databases {
        let name = if db.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", db.name)
        };
        let _ = writeln!(out, "\ndatabase {}{}", Shown(&db.uid), shown(&name));
        let _ = writeln!(
            out,
            "  Redis   {}: {}",
            shown(&db.redis),
            Shown(&db.redis_reason)
        );
        let why = match db.module.reason {
            ChangeReason::NewestFitting => {
                format!("the newest build for Redis {}", shown(&db.redis.after))
            }
            _ => "asked with --to".to_string(),
        };
        let _ = writeln!(
            out,
            "  module  {} {}   ({why}; module uid {})",
            shown(&db.module.module_name),
            shown(&db.module.version),
            shown(&db.new_module_uid)
        );
        for other in &db.other_modules {
            let note = if !other.changes() {
                String::new()
            } else if plan.other_modules_accepted {
                "   (RS moves it to its newest fitting build; accepted with --accept-other-modules)"
                    .to_string()
            } else {
                format!(
                    "   ({}: RS moves it to its newest fitting build; add --accept-other-modules)",
                    style.paint("NOT ACCEPTED", Color::Red)
                )
            };
            let _ = writeln!(
                out,
                "  module  {} {}{note}",
                shown(&other.module_name),
                shown(&other.version)
            );
        }
        for change in &db.added_or_removed {
            let note = match change.reason {
                ChangeReason::AddedByRedis8 => "added: Redis 8 bundles it",
                _ => "removed: search replaces it on Redis 8",
            };
            let _ = writeln!(
                out,
                "  module  {} {}   ({note})",
                shown(&change.module_name),
                shown(&change.version)
            );
        }
        if let Some(preview) = &db.cluster_preview {
            let _ = writeln!(out, "  the cluster's dry run answers:");
            for module in preview {
                let _ = writeln!(
                    out,
                    "    {} {}",
                    shown(&module.module_name),
                    shown(&module.version)
                );
            }
        }
        let _ = writeln!(
            out,
            "  request {} {} ({})",
            db.request.method,
            Shown(&db.request.url),
            human_bytes(db.request.bytes)
        );
    }
    if !plan.already_current.is_empty() {
        let _ = writeln!(
            out,
            "\nalready current: database(s) {}",
            shown(plan.already_current.join(", "))
        );
    }
    for note in &plan.notes {
        let _ = writeln!(
            out,
            "{} {}",
            style.paint("note:", Color::Yellow),
            shown(note)
        );
    }
    out
}

/// `rmpack modules list`: a row per module the cluster stores.
pub fn modules_table(modules: &[crate::cluster::Module]) -> String {
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|m| {
            vec![
                shown(&m.uid),
                shown(&m.module_name),
                shown(m.semantic_version.as_deref().unwrap_or("-")),
                m.module_version().map_or("-".into(), |v| v.to_string()),
                match m.is_bundled {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
                .to_string(),
            ]
        })
        .collect();
    table(&["UID", "NAME", "VERSION", "NUMBER", "BUNDLED"], &rows)
}

/// The human rendering of `rmpack status`: a row per module version (registered uids, nodes
/// holding the artifact, nodes lacking it, databases running it), then the drift with the
/// command that heals each.
pub fn status(status: &crate::rollout::status::ClusterStatus, style: Style) -> String {
    use crate::rollout::status::Drift;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cluster {}: {} ({})",
        Shown(&status.cluster),
        plural(status.nodes.len(), "node"),
        shown(status.nodes.join(", "))
    );
    let dash = |list: &[String]| {
        if list.is_empty() {
            "-".to_string()
        } else {
            list.join(",")
        }
    };
    let rows: Vec<Vec<String>> = status
        .modules
        .iter()
        .flat_map(|module| {
            module.versions.iter().map(move |v| {
                vec![
                    shown(&module.module_name),
                    shown(&v.semantic_version),
                    if v.registered.is_empty() {
                        "no".to_string()
                    } else if v.bundled {
                        "bundled".to_string()
                    } else {
                        "yes".to_string()
                    },
                    if v.bundled || !status.artifacts_listed {
                        "n/a".to_string()
                    } else {
                        shown(dash(&v.nodes))
                    },
                    shown(dash(&v.missing_on)),
                    shown(dash(&v.databases)),
                ]
            })
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &[
            "MODULE",
            "VERSION",
            "REGISTERED",
            "NODES",
            "MISSING ON",
            "DATABASES",
        ],
        &rows,
    ));
    for problem in &status.unreadable_nodes {
        let _ = writeln!(
            out,
            "{} node {}: {}",
            style.paint("error:", Color::Red),
            Shown(&problem.node),
            shown(&problem.error)
        );
    }
    out.push('\n');
    if status.drift.is_empty() && status.unreadable_nodes.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                "consistent: every registered module is on every node",
                Color::Green
            )
        );
        return out;
    }
    let mut shown_heals = std::collections::BTreeSet::new();
    for drift in &status.drift {
        // Each server value is escaped on its own; the heal commands are quoted word by word
        // (`text::command_line`), so they hold no character to escape and are shown as built.
        let list = |nodes: &[String]| shown(nodes.join(", "));
        // A command already shown for an earlier drift is not repeated.
        let mut heals = |heal: &[String]| {
            heal.iter()
                .map(|h| {
                    if shown_heals.insert(h.clone()) {
                        format!("\n  heal: {}", Shown(h))
                    } else {
                        "\n  heal: the command above".to_string()
                    }
                })
                .collect::<String>()
        };
        let line = match drift {
            Drift::MissingArtifact {
                module_name,
                semantic_version,
                nodes,
                heal,
            } => format!(
                "{} {} is registered but node(s) {} lack its artifact{}",
                Shown(module_name),
                Shown(semantic_version),
                list(nodes),
                heals(heal)
            ),
            Drift::OrphanArtifact {
                module_name,
                semantic_version,
                nodes,
                heal,
            } => format!(
                "orphan artifact: {} {} on node(s) {} has no registered configuration{}",
                Shown(module_name),
                Shown(semantic_version),
                list(nodes),
                heals(heal)
            ),
            Drift::DatabaseOnMissingArtifact {
                database,
                module_name,
                semantic_version,
                nodes,
            } => format!(
                "database {} runs {} {}, whose artifact node(s) {} lack",
                Shown(database),
                Shown(module_name),
                Shown(semantic_version),
                list(nodes)
            ),
            Drift::NodeJoinHole {
                module_name,
                redis_version,
                databases,
                nodes,
                fitting_versions,
                heal,
            } => format!(
                "node(s) {} hold no {} build for Redis {} (database(s) {} use it): such a node fails to join with incompatible_modules{}{}",
                list(nodes),
                Shown(module_name),
                Shown(redis_version),
                list(databases),
                if fitting_versions.is_empty() {
                    String::new()
                } else {
                    format!("; registered builds that fit: {}", list(fitting_versions))
                },
                heals(heal)
            ),
        };
        let _ = writeln!(out, "{} {line}", style.paint("drift:", Color::Red));
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.paint(
            &format!(
                "drift: {}",
                plural(
                    status.drift.len() + status.unreadable_nodes.len(),
                    "problem"
                )
            ),
            Color::Red
        )
    );
    out
}

/// The per-node artifact table of `rmpack artifacts list`.
pub fn artifact_lists(lists: &[crate::rollout::artifacts::NodeArtifacts]) -> String {
    let mut rows = Vec::new();
    for node in lists {
        let (uid, address) = (shown(&node.node), shown(&node.address));
        if let Some(error) = &node.error {
            rows.push(vec![
                uid,
                address,
                format!("ERROR: {}", Shown(error)),
                String::new(),
            ]);
            continue;
        }
        if node.artifacts.is_empty() {
            rows.push(vec![uid.clone(), address.clone(), "-".into(), "-".into()]);
        }
        for artifact in &node.artifacts {
            rows.push(vec![
                uid.clone(),
                address.clone(),
                shown(&artifact.module_name),
                artifact.version.map_or("-".into(), |v| v.to_string()),
            ]);
        }
    }
    table(&["NODE", "ADDRESS", "MODULE", "VERSION"], &rows)
}

#[cfg(test)]
mod tests {
    use crate::rollout::{Operation, Outcome, Resume, Step, StepKind, StepState};
    use std::time::Duration;

    fn node(uid: &str, state: StepState, error: Option<&str>) -> Step {
        let mut step = Step::new(
            StepKind::Artifact,
            format!("node {uid}"),
            "plain 1.2.3 rhel9/x86_64 (plain.zip)",
        )
        .at(format!("127.0.0.{uid}"))
        .with_state(state);
        if state == StepState::Done {
            step.bytes = 4096;
        }
        step.elapsed = Duration::from_millis(250);
        step.error = error.map(str::to_string);
        step
    }

    fn packed(path: &str, redis_version: Option<&str>) -> crate::pack::Packed {
        crate::pack::Packed {
            path: path.into(),
            size: 1234,
            sha256: "ab".repeat(32),
            module_json: crate::manifest::ModuleJson::from_slice(
                br#"{"module_name": "plain", "version": 10203, "architecture": "x86_64"}"#,
            )
            .unwrap(),
            redis_version: redis_version.map(str::to_string),
        }
    }

    #[test]
    fn a_packed_zip_shows_its_path_size_and_hash() {
        let text = super::packed_human(&packed("out/plain\x1b[2J.zip", None));
        assert_eq!(
            text,
            format!(
                "out/plain\\x1b[2J.zip\n  size:   1234 bytes\n  sha256: {}\n",
                "ab".repeat(32)
            )
        );
        let value = super::packed_json(&packed("plain.zip", Some("7.2.4")));
        assert_eq!(value["path"], "plain.zip");
        assert_eq!(value["size"], 1234);
        assert_eq!(value["module_json"]["module_name"], "plain");
        assert_eq!(value["module_json"]["version"], 10203);
        assert_eq!(value["discovery_redis_version"], "7.2.4");
        let value = super::packed_json(&packed("plain.zip", None));
        assert!(value["discovery_redis_version"].is_null());
    }

    fn inspected(module_json: Option<Value>, module_sha256: &str) -> crate::bundle::Bundle {
        let mut bundle =
            crate::bundle::Bundle::empty(std::path::Path::new("m.zip"), super::Source::Directory);
        if let Some(value) = module_json {
            bundle.module_json_raw = Some(value.to_string().into_bytes());
            bundle.module_json_value = Some(Ok(value));
        }
        bundle.module = Some(crate::bundle::ModuleBinary {
            name: "m\x07.so".into(),
            bytes: crate::bundle::ModuleBytes::Owned(b"no elf".to_vec()),
            sha256: module_sha256.into(),
            unix_mode: Some(0o755),
        });
        bundle
    }

    #[test]
    fn an_inspected_bundle_says_whether_the_module_matches_its_recorded_hash() {
        let value = json!({"module_name": "plain\x1b]0;x", "sha256": "abcd", "commands": [
            {"command_name": "plain.get", "command_arity": 2, "flags": ["readonly", "fast"],
             "first_key": 1, "last_key": 1, "step": 1}]});
        let bundle = inspected(Some(value.clone()), "ABCD");
        let elf = bundle.module_elf();
        let text = super::inspect_human(&bundle, elf.as_ref());
        assert!(
            text.contains("  module_name                plain\\x1b]0;x\n"),
            "{text}"
        );
        assert!(
            text.contains("plain.get  2      readonly fast  1      1     1"),
            "{text}"
        );
        assert!(text.contains("\nmodule m\\x07.so\n"), "{text}");
        assert!(
            text.contains("  matches the sha256 module.json records\n"),
            "{text}"
        );
        assert!(text.contains("\nELF: "), "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");

        let bundle = inspected(Some(value), "abce");
        let text = super::inspect_human(&bundle, None);
        assert!(
            text.contains("  DOES NOT MATCH the sha256 module.json records (abcd)\n"),
            "{text}"
        );
        let json = super::inspect_json(&bundle, bundle.module_elf().as_ref());
        assert_eq!(json["module"]["recorded_sha256"], "abcd");
        assert_eq!(json["module"]["sha256_matches"], false);
        assert_eq!(json["module"]["unix_mode"], "0755");
        assert!(json["elf"]["error"].is_string());
        assert_eq!(json["source"], "directory");

        let bundle = inspected(Some(json!({"module_name": "plain"})), "abcd");
        let text = super::inspect_human(&bundle, None);
        assert!(text.contains("  module.json records no sha256\n"), "{text}");
        let json = super::inspect_json(&bundle, None);
        assert!(json["module"]["sha256_matches"].is_null());
        assert!(json["elf"].is_null());
    }

    #[test]
    fn a_partial_rollout_names_the_failed_node_and_how_to_resume() {
        let mut outcome = Outcome::new(Operation::Upload, "https://c:9443");
        outcome.steps = vec![
            Step::new(StepKind::Register, "cluster", "plain 1.2.3").with_state(StepState::Done),
            node("1", StepState::Done, None),
            node("2", StepState::Failed, Some("connection refused")),
            node("3", StepState::AlreadyDone, None),
        ];
        outcome.resume_command = Some(Resume("rmpack upload plain.zip --nodes 2".into()));
        let text = super::outcome(&outcome, Style::default());
        assert_eq!(
            text,
            "upload on https://c:9443\n\
             \n\
             TARGET   ADDRESS    WHAT                                  RESULT           BYTES    TIME\n\
             -------  ---------  ------------------------------------  ---------------  -------  -----\n\
             cluster             plain 1.2.3                           registered\n\
             node 1   127.0.0.1  plain 1.2.3 rhel9/x86_64 (plain.zip)  uploaded         4.0 KiB  0.25s\n\
             node 2   127.0.0.2  plain 1.2.3 rhel9/x86_64 (plain.zip)  FAILED                    0.25s\n\
             node 3   127.0.0.3  plain 1.2.3 rhel9/x86_64 (plain.zip)  already present           0.25s\n\
             \x20 node 2: connection refused\n\
             \n\
             stopped: the upload is partial; 2 of 3 node(s) hold every version uploaded; 1 failed\n\
             resume with:\n\
             \x20 rmpack upload plain.zip --nodes 2\n"
        );
    }

    #[test]
    fn control_characters_are_shown_as_visible_escapes() {
        assert!(matches!(sanitize("plain.get 1.2.3 ✓"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a\x1b[2Kb"), "a\\x1b[2Kb");
        assert_eq!(sanitize("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(sanitize("line\nOK: 0 errors\r"), "line\\nOK: 0 errors\\r");
        assert_eq!(sanitize("\t\x07\x7f\x00"), "\\t\\x07\\x7f\\x00");
        assert_eq!(sanitize("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(Shown("x\x1by").to_string(), "x\\x1by");
    }

    #[test]
    fn terminal_safe_json_escapes_c1_controls_and_reads_back_the_same() {
        let value = json!({"name": "a\u{9b}2J\x1b[0m\u{202e}b", "n": [1, 2]});
        let text = json_pretty(&value);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains("\\u009b") && text.contains("\\u202e"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        assert_eq!(
            text,
            format!("{}\n", serde_json::to_string_pretty(&value).unwrap())
                .replace('\u{9b}', "\\u009b")
                .replace('\u{202e}', "\\u202e"),
            "otherwise the same pretty JSON"
        );
    }

    #[test]
    fn a_server_error_with_escapes_is_shown_escaped_in_the_rollout_table() {
        let mut outcome = Outcome::new(Operation::Upload, "https://c:9443");
        let mut step = node(
            "1",
            StepState::Failed,
            Some("400: bad artifact\x1b[2K\x1b[1Acomplete"),
        );
        step.subject = "plain\x1b]0;owned\x07 1.2.3".into();
        outcome.steps = vec![step];
        outcome.notes = vec!["server says \u{9b}2J".into()];
        let text = super::outcome(&outcome, Style::default());
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains("bad artifact\\x1b[2K\\x1b[1Acomplete"),
            "{text}"
        );
        assert!(text.contains("plain\\x1b]0;owned\\x07"), "{text}");
        assert!(text.contains("server says \\u{9b}2J"), "{text}");
    }

    #[test]
    fn a_diagnostic_quoting_a_hostile_entry_name_is_shown_escaped() {
        let mut report = Report {
            subject: "m\x1b[2J.zip".into(),
            diagnostics: Vec::new(),
        };
        report.diagnostics.push(Diagnostic {
            rule: "zip-extra-entry",
            code: Some("invalid_number_of_files"),
            severity: Severity::Error,
            message: "unexpected entry `x\x1b[1AOK: 0 errors`".into(),
            help: "remove it".into(),
            location: Some("x\x1b[1A".into()),
        });
        let text = human(&report, Style::default());
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("x\\x1b[1AOK: 0 errors"), "{text}");
        assert!(text.contains("m\\x1b[2J.zip"), "{text}");
        let annotations = github(&report);
        assert!(!annotations.contains('\x1b'), "{annotations}");
    }

    #[test]
    fn status_and_upgrade_renderings_escape_every_server_value() {
        use crate::rollout::plan::Change;
        use crate::rollout::status::{ClusterStatus, Drift, ModuleStatus, VersionStatus};
        let hostile = "x\ndrift: fake\u{1b}[2K\u{9b}31m\u{202e}\u{2066}";
        let status = ClusterStatus {
            version: 1,
            cluster: "https://c:9443".into(),
            nodes: vec!["1".into(), hostile.into()],
            artifacts_listed: true,
            modules: vec![ModuleStatus {
                module_name: hostile.into(),
                versions: vec![VersionStatus {
                    semantic_version: hostile.into(),
                    version: 10203,
                    registered: vec!["m".into()],
                    bundled: false,
                    nodes: vec![hostile.into()],
                    missing_on: vec![hostile.into()],
                    databases: vec![hostile.into()],
                }],
            }],
            drift: vec![
                Drift::MissingArtifact {
                    module_name: hostile.into(),
                    semantic_version: hostile.into(),
                    nodes: vec![hostile.into()],
                    heal: vec![crate::text::command_line(["rmpack", hostile])],
                },
                Drift::DatabaseOnMissingArtifact {
                    database: hostile.into(),
                    module_name: hostile.into(),
                    semantic_version: "1.2.3".into(),
                    nodes: vec![hostile.into()],
                },
            ],
            unreadable_nodes: Vec::new(),
        };
        let text = super::status(&status, Style::default());
        assert!(
            !text.chars().any(|c| c != '\n' && is_unsafe_char(c)),
            "{text:?}"
        );
        // A newline a server sent never starts a line of its own.
        assert!(
            !text.lines().any(|l| l.starts_with("drift: fake")),
            "{text}"
        );
        let change = Change {
            before: hostile.into(),
            after: hostile.into(),
        };
        let mut outcome = Outcome::new(Operation::Upgrade, hostile);
        let mut step = Step::new(
            StepKind::DatabaseUpgrade,
            format!("database 1 ({hostile})"),
            format!("{hostile} {change}"),
        )
        .with_state(StepState::Failed);
        step.details = vec![format!("action {hostile} → completed")];
        step.error = Some(hostile.into());
        step.action = Some(hostile.into());
        outcome.steps.push(step);
        outcome
            .notes
            .push(format!("already current: database(s) {hostile}"));
        let text = super::outcome(&outcome, Style::default());
        assert!(
            !text.chars().any(|c| c != '\n' && is_unsafe_char(c)),
            "{text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("drift: fake")),
            "{text}"
        );
        assert!(text.contains("action x\\ndrift: fake\\x1b[2K"), "{text}");
    }

    #[test]
    fn coloured_cells_line_up_by_what_shows() {
        let style = Style { color: true };
        let rows = vec![
            vec![style.paint("ok", Color::Green), "1".into()],
            vec!["failed".into(), "2".into()],
        ];
        let text = table(&["RESULT", "N"], &rows);
        let plain: Vec<String> = text
            .lines()
            .map(|l| l.replace("\x1b[1;32m", "").replace("\x1b[0m", ""))
            .collect();
        assert_eq!(plain, ["RESULT  N", "------  -", "ok      1", "failed  2"]);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(200 * 1024 * 1024), "200.0 MiB");
    }

    use super::*;

    #[test]
    fn tables_align() {
        let text = table(&["a", "long"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(text, "a    long\n---  ----\nxyz  1\n");
    }

    #[test]
    fn github_escapes() {
        assert_eq!(github_escape("a%b\nc"), "a%25b%0Ac");
        assert_eq!(github_escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(Style { color: false }.paint("x", Color::Red), "x");
        assert!(Style { color: true }
            .paint("x", Color::Red)
            .contains("\x1b["));
    }
}
