//! Output: human text grouped by URL (coloured on a terminal), JSON lines
//! for CI and one self-contained HTML page ([`crate::html`]). Pure: each
//! renders to a `String`. The exit code follows `--fail-on` ([`FailOn`]).

use anstyle::{AnsiColor, Style};
use serde_json::json;

use crate::assets::LinkedAssets;
use crate::finding::{Finding, Severity};
use crate::model::Exchange;
use crate::probe::CheckError;

/// What checking one URL gave.
#[derive(Clone, Debug)]
pub struct UrlReport {
    /// The URL as given.
    pub url: String,
    /// The findings, or why the URL could not be checked.
    pub outcome: Result<Checked, CheckError>,
    /// The page that links to this URL, when it was found by `--assets`.
    pub linked_from: Option<String>,
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
    /// Every request sent and the head of what came back, in order (bodies
    /// dropped: the HTML report shows heads, and a run of many URLs should
    /// not hold megabytes per probe).
    pub exchanges: Vec<Exchange>,
    /// With `--assets`, on an HTML page: the assets it links to.
    pub assets: Option<LinkedAssets>,
}

impl UrlReport {
    /// The findings, empty when the URL could not be checked.
    pub fn findings(&self) -> &[Finding] {
        self.outcome.as_ref().map_or(&[], |c| c.findings.as_slice())
    }
}

/// Which findings fail a run (`--fail-on`), for CI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOn {
    /// Errors and warnings give exit code 1 (the default).
    #[default]
    Warning,
    /// Only errors give exit code 1; warnings are reported and pass.
    Error,
}

impl FailOn {
    /// Whether a finding of this severity fails the run.
    pub fn fails(self, severity: Severity) -> bool {
        match self {
            Self::Warning => severity.is_problem(),
            Self::Error => severity == Severity::Error,
        }
    }
}

/// 0 when every URL was checked and nothing is wrong, 1 when a URL has an
/// error or warning finding, 2 when a URL could not be checked
/// ([`exit_code_failing_on`] with [`FailOn::Warning`]).
pub fn exit_code(reports: &[UrlReport]) -> u8 {
    exit_code_failing_on(reports, FailOn::Warning)
}

/// 2 when a URL could not be checked, else 1 when a finding is as bad as
/// `fail_on` says, else 0.
pub fn exit_code_failing_on(reports: &[UrlReport], fail_on: FailOn) -> u8 {
    if reports.iter().any(|r| r.outcome.is_err()) {
        2
    } else if reports
        .iter()
        .flat_map(UrlReport::findings)
        .any(|f| fail_on.fails(f.severity()))
    {
        1
    } else {
        0
    }
}

/// The summary counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// URLs in the run, linked assets included.
    pub urls: usize,
    /// Error findings.
    pub errors: usize,
    /// Warning findings.
    pub warnings: usize,
    /// Info findings.
    pub infos: usize,
    /// URLs that could not be checked.
    pub unchecked: usize,
}

impl Totals {
    /// The counts over `reports`.
    pub fn of(reports: &[UrlReport]) -> Self {
        let mut totals = Self {
            urls: reports.len(),
            ..Self::default()
        };
        for report in reports {
            if report.outcome.is_err() {
                totals.unchecked += 1;
            }
            for finding in report.findings() {
                match finding.severity() {
                    Severity::Error => totals.errors += 1,
                    Severity::Warning => totals.warnings += 1,
                    Severity::Info => totals.infos += 1,
                }
            }
        }
        totals
    }

    /// `3 URLs: 2 errors, 1 warning, 1 note; 1 URL could not be checked`.
    pub fn sentence(&self) -> String {
        let mut summary = format!(
            "{}: {}, {}, {}",
            count(self.urls, "URL", "URLs"),
            count(self.errors, "error", "errors"),
            count(self.warnings, "warning", "warnings"),
            count(self.infos, "note", "notes")
        );
        if self.unchecked > 0 {
            summary.push_str(&format!(
                "; {} could not be checked",
                count(self.unchecked, "URL", "URLs")
            ));
        }
        summary
    }
}

/// `3 assets linked, all checked` or `73 assets linked; only the first 50 are checked`.
pub(crate) fn assets_sentence(assets: &LinkedAssets) -> String {
    let linked = count(assets.found, "asset", "assets");
    if assets.truncated() {
        match assets.urls.len() {
            1 => format!("{linked} linked; only the first is checked"),
            n => format!("{linked} linked; only the first {n} are checked"),
        }
    } else if assets.found == 0 {
        "no assets linked".to_owned()
    } else if assets.found == 1 {
        "1 asset linked, checked below".to_owned()
    } else {
        format!("{linked} linked, each checked below")
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

pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The human report; with `colour`, ANSI styles (strip them with
/// anstream when the output is not a terminal).
pub fn render_text(reports: &[UrlReport], colour: bool) -> String {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    for report in reports {
        match &report.outcome {
            // Said once, on its own line, by the caller (see [`error_lines`]).
            Err(_) => {}
            Ok(checked) => {
                out.push_str(&paint(colour, bold, &report.url));
                out.push_str(&format!(
                    " ({}, {}{})\n",
                    checked.status,
                    count(checked.requests, "request", "requests"),
                    report
                        .linked_from
                        .as_ref()
                        .map(|page| format!(", linked from {page}"))
                        .unwrap_or_default()
                ));
                for finding in &checked.findings {
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
                if let Some(assets) = &checked.assets {
                    out.push_str(&format!("  {}\n", assets_sentence(assets)));
                }
                out.push('\n');
            }
        }
    }
    let totals = Totals::of(reports);
    if totals.unchecked == reports.len() {
        return out;
    }
    out.push_str(&totals.sentence());
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
    /// One self-contained HTML page.
    Html,
}

/// Writes the report to stdout (colour only on a terminal that wants it,
/// as anstream decides: `NO_COLOR`, `CLICOLOR_FORCE`) and one line per
/// unchecked URL to stderr; returns the exit code, as `fail_on` says.
pub fn print(reports: &[UrlReport], format: Format, fail_on: FailOn) -> u8 {
    use std::io::Write as _;
    for line in error_lines(reports) {
        eprintln!("revalidate: error: {line}");
    }
    let text = match format {
        Format::Text => render_text(reports, true),
        Format::Json => render_json_failing_on(reports, fail_on),
        Format::Html => crate::html::render_html(reports, fail_on),
    };
    let mut stdout = anstream::stdout();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    exit_code_failing_on(reports, fail_on)
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

/// JSON lines with the default exit code ([`render_json_failing_on`] with
/// [`FailOn::Warning`]).
pub fn render_json(reports: &[UrlReport]) -> String {
    render_json_failing_on(reports, FailOn::Warning)
}

/// JSON lines: one `finding` object per finding (with `linked_from` on a
/// linked asset's), one `error` object per URL that could not be checked,
/// one `assets` object per page checked with `--assets`, and a final
/// `summary` whose `exit_code` follows `fail_on`.
pub fn render_json_failing_on(reports: &[UrlReport], fail_on: FailOn) -> String {
    let mut out = String::new();
    let mut line = |value: serde_json::Value| {
        out.push_str(&value.to_string());
        out.push('\n');
    };
    for report in reports {
        match &report.outcome {
            Err(error) => {
                line(json!({
                    "type": "error",
                    "url": report.url,
                    "kind": error_kind(error),
                    "message": error.to_string(),
                }));
            }
            Ok(checked) => {
                for finding in &checked.findings {
                    let rule = finding.rule;
                    let mut value = json!({
                        "type": "finding",
                        "url": report.url,
                        "id": rule.id,
                        "severity": rule.severity,
                        "rfc": rule.section.to_string(),
                        "link": rule.section.link(),
                        "message": finding.message,
                        "fix": rule.fix,
                    });
                    if let Some(page) = &report.linked_from {
                        value["linked_from"] = json!(page);
                    }
                    line(value);
                }
                if let Some(assets) = &checked.assets {
                    line(json!({
                        "type": "assets",
                        "url": report.url,
                        "found": assets.found,
                        "checked": assets.urls.len(),
                        "truncated": assets.truncated(),
                    }));
                }
            }
        }
    }
    let totals = Totals::of(reports);
    line(json!({
        "type": "summary",
        "urls": totals.urls,
        "errors": totals.errors,
        "warnings": totals.warnings,
        "infos": totals.infos,
        "unchecked": totals.unchecked,
        "exit_code": exit_code_failing_on(reports, fail_on),
    }));
    out
}
