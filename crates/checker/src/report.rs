//! Output: human text grouped by URL (coloured on a terminal) and JSON
//! lines for CI. Pure: both render to a `String`.

use anstyle::{AnsiColor, Style};
use serde_json::json;

use crate::finding::{Finding, Severity};
use crate::probe::CheckError;

/// What checking one URL gave.
#[derive(Clone, Debug)]
pub struct UrlReport {
    /// The URL as given.
    pub url: String,
    /// The findings, or why the URL could not be checked.
    pub outcome: Result<Checked, CheckError>,
}

/// A URL that could be checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The status of the plain `GET`.
    pub status: http::StatusCode,
    /// How many requests the check sent.
    pub requests: usize,
    /// What the rules found, errors first.
    pub findings: Vec<Finding>,
}

impl UrlReport {
    /// The findings, empty when the URL could not be checked.
    pub fn findings(&self) -> &[Finding] {
        self.outcome.as_ref().map_or(&[], |c| c.findings.as_slice())
    }
}

/// 0 when every URL was checked and nothing is wrong, 1 when a URL has an
/// error or warning finding, 2 when a URL could not be checked.
pub fn exit_code(reports: &[UrlReport]) -> u8 {
    if reports.iter().any(|r| r.outcome.is_err()) {
        2
    } else if reports
        .iter()
        .flat_map(UrlReport::findings)
        .any(|f| f.severity().is_problem())
    {
        1
    } else {
        0
    }
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Error => AnsiColor::Red.on_default().bold(),
        Severity::Warning => AnsiColor::Yellow.on_default().bold(),
        Severity::Info => AnsiColor::Cyan.on_default(),
    }
}

fn paint(colour: bool, style: Style, text: &str) -> String {
    if colour {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The human report; with `colour`, ANSI styles (strip them with
/// anstream when the output is not a terminal).
pub fn render_text(reports: &[UrlReport], colour: bool) -> String {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    let (mut errors, mut warnings, mut infos, mut failed) = (0, 0, 0, 0);
    for report in reports {
        match &report.outcome {
            // Said once, on its own line, by the caller (see [`error_lines`]).
            Err(_) => failed += 1,
            Ok(checked) => {
                out.push_str(&paint(colour, bold, &report.url));
                out.push_str(&format!(
                    " ({}, {})\n",
                    checked.status,
                    count(checked.requests, "request", "requests")
                ));
                for finding in &checked.findings {
                    match finding.severity() {
                        Severity::Error => errors += 1,
                        Severity::Warning => warnings += 1,
                        Severity::Info => infos += 1,
                    }
                    let rule = finding.rule;
                    out.push_str(&format!(
                        "  {} {}\n",
                        paint(
                            colour,
                            severity_style(rule.severity),
                            &format!("{:<7}", rule.severity.as_str())
                        ),
                        paint(colour, bold, rule.id)
                    ));
                    out.push_str(&format!("          {}\n", finding.message));
                    out.push_str(&format!(
                        "          {}\n",
                        paint(colour, dim, &format!("{} {}", rule.section, rule.section.link()))
                    ));
                    if rule.severity.is_problem() {
                        out.push_str(&format!("          fix: {}\n", rule.fix));
                    }
                }
                if checked.findings.is_empty() {
                    out.push_str("  no findings\n");
                }
                out.push('\n');
            }
        }
    }
    if failed == reports.len() {
        return out;
    }
    let mut summary = format!(
        "{}: {}, {}, {}",
        count(reports.len(), "URL", "URLs"),
        count(errors, "error", "errors"),
        count(warnings, "warning", "warnings"),
        count(infos, "note", "notes")
    );
    if failed > 0 {
        summary.push_str(&format!(
            "; {} could not be checked",
            count(failed, "URL", "URLs")
        ));
    }
    out.push_str(&summary);
    out.push('\n');
    out
}

/// One line per URL that could not be checked, such as
/// `http://x/: cannot connect: connection refused`.
pub fn error_lines(reports: &[UrlReport]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| r.outcome.as_ref().err().map(ToString::to_string))
        .collect()
}

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human text, coloured on a terminal.
    Text,
    /// JSON lines.
    Json,
}

/// Writes the report to stdout (colour only on a terminal that wants it,
/// as anstream decides: `NO_COLOR`, `CLICOLOR_FORCE`) and one line per
/// unchecked URL to stderr; returns the exit code.
pub fn print(reports: &[UrlReport], format: Format) -> u8 {
    use std::io::Write as _;
    for line in error_lines(reports) {
        eprintln!("revalidate: error: {line}");
    }
    let text = match format {
        Format::Text => render_text(reports, true),
        Format::Json => render_json(reports),
    };
    let mut stdout = anstream::stdout();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    exit_code(reports)
}

fn error_kind(error: &CheckError) -> &'static str {
    match error {
        CheckError::InvalidUrl { .. } => "invalid-url",
        CheckError::Timeout { .. } => "timeout",
        CheckError::Unreachable { .. } => "unreachable",
        CheckError::Tls { .. } => "tls",
        CheckError::Http { .. } => "http",
    }
}

/// JSON lines: one `finding` object per finding, one `error` object per URL
/// that could not be checked, and a final `summary`.
pub fn render_json(reports: &[UrlReport]) -> String {
    let mut out = String::new();
    let mut line = |value: serde_json::Value| {
        out.push_str(&value.to_string());
        out.push('\n');
    };
    let (mut errors, mut warnings, mut infos, mut failed) = (0, 0, 0, 0);
    for report in reports {
        match &report.outcome {
            Err(error) => {
                failed += 1;
                line(json!({
                    "type": "error",
                    "url": report.url,
                    "kind": error_kind(error),
                    "message": error.to_string(),
                }));
            }
            Ok(checked) => {
                for finding in &checked.findings {
                    match finding.severity() {
                        Severity::Error => errors += 1,
                        Severity::Warning => warnings += 1,
                        Severity::Info => infos += 1,
                    }
                    let rule = finding.rule;
                    line(json!({
                        "type": "finding",
                        "url": report.url,
                        "id": rule.id,
                        "severity": rule.severity,
                        "rfc": rule.section.to_string(),
                        "link": rule.section.link(),
                        "message": finding.message,
                        "fix": rule.fix,
                    }));
                }
            }
        }
    }
    line(json!({
        "type": "summary",
        "urls": reports.len(),
        "errors": errors,
        "warnings": warnings,
        "infos": infos,
        "unchecked": failed,
        "exit_code": exit_code(reports),
    }));
    out
}
