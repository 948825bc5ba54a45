//! Renderings of validation reports: human text, JSON (with a schema `version`), GitHub Actions
//! annotations and SARIF 2.1.0. The small building blocks ([`Style`], [`table`],
//! [`github_escape`]) are shared with other renderings such as rollout tables.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::validate::{rules, Diagnostic, Report, Severity};

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

/// Lays out `rows` under `headers` in left-aligned columns separated by two spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
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
        report.subject
    );
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
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            let _ = writeln!(out, "  {label} {location}{}", d.message);
            let code = match d.code {
                Some(code) => format!("RS error code: {code}"),
                None => "RS error code: none (RS would not refuse it at upload)".to_string(),
            };
            let _ = writeln!(out, "    {}", style.paint(&code, Color::Dim));
            let _ = writeln!(out, "    {} {}", style.paint("fix:", Color::Green), d.help);
        }
    }
    let summary = report.summary();
    let verdict = if summary.errors > 0 {
        style.paint("FAILED", Color::Red)
    } else {
        style.paint("OK", Color::Green)
    };
    let _ = writeln!(
        out,
        "\n{verdict}: {}, {}, {}",
        plural(summary.errors, "error"),
        plural(summary.warnings, "warning"),
        plural(summary.infos, "info")
    );
    out
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
        let message = match &d.location {
            Some(location) => format!("{location}: {}\nfix: {}", d.message, d.help),
            None => format!("{}\nfix: {}", d.message, d.help),
        };
        let _ = writeln!(
            out,
            "::{level} file={},title={}::{}",
            github_escape_property(&report.subject),
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

#[cfg(test)]
mod tests {
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
