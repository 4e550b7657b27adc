//! What a case found, and the table printed at the end of the run.
//!
//! A case returns an [`Observation`]: its verdict, one line of measured
//! figures (the "observed" column) and detail lines. Cases made of several
//! independent checks build it with [`Checks`], which passes only when
//! every check passes and lists each one with its figure.

use std::fmt::Write as _;
use std::time::Duration;

/// A case's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The expected outcome was observed.
    Pass,
    /// It was not (or the case could not run under CI).
    Fail,
    /// The case could not run here (no PostgreSQL), outside CI.
    Skipped,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Skipped => "SKIPPED",
        }
    }
}

/// What one case observed.
#[derive(Clone, Debug)]
pub(crate) struct Observation {
    pub(crate) verdict: Verdict,
    /// The measured figures, one line.
    pub(crate) observed: String,
    /// More lines: each check, notes about the build under test.
    pub(crate) details: Vec<String>,
}

impl Observation {
    /// Pass when `pass`, else fail, with the figures that decided it.
    pub(crate) fn judged(pass: bool, observed: impl Into<String>) -> Self {
        Self {
            verdict: if pass { Verdict::Pass } else { Verdict::Fail },
            observed: observed.into(),
            details: Vec::new(),
        }
    }

    /// The case cannot run here.
    pub(crate) fn skipped(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skipped,
            observed: reason.into(),
            details: Vec::new(),
        }
    }

    /// A failure that stopped the case before it could judge.
    pub(crate) fn error(error: &anyhow::Error) -> Self {
        Self::judged(false, format!("could not run: {error:#}"))
    }

    /// Adds a detail line.
    pub(crate) fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    /// Adds detail lines.
    pub(crate) fn details(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(lines);
        self
    }
}

/// Several independent checks that make up one case.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    items: Vec<Check>,
    notes: Vec<String>,
}

#[derive(Debug)]
struct Check {
    label: String,
    pass: bool,
    observed: String,
}

impl Checks {
    /// Records one check: what was tried, whether it behaved, what was seen.
    pub(crate) fn check(&mut self, label: impl Into<String>, pass: bool, observed: impl Into<String>) {
        self.items.push(Check {
            label: label.into(),
            pass,
            observed: observed.into(),
        });
    }

    /// A line that is not a check (a figure, a note about the build).
    pub(crate) fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// Pass when every check passed (and there was at least one); the
    /// observed line names the failing checks with their figures.
    pub(crate) fn into_observation(self) -> Observation {
        let failing = self.items.iter().filter(|c| !c.pass).count();
        let passed = self.items.len() - failing;
        let observed = if failing == 0 {
            format!("{passed} of {} checks as expected (each below)", self.items.len())
        } else {
            format!(
                "{failing} of {} checks failed (marked FAIL below)",
                self.items.len()
            )
        };
        let mut details: Vec<String> = self
            .items
            .iter()
            .map(|c| {
                let mark = if c.pass { "ok  " } else { "FAIL" };
                format!("{mark} {}: {}", c.label, c.observed)
            })
            .collect();
        details.extend(self.notes);
        Observation {
            verdict: if failing == 0 && !self.items.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            observed,
            details,
        }
    }
}

/// One row of the final table.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) expected: &'static str,
    pub(crate) observation: Observation,
    pub(crate) elapsed: Duration,
}

const NAME_WIDTH: usize = 40;
const RESULT_WIDTH: usize = 8;
const TEXT_WIDTH: usize = 100;

/// The table: case, result, expected and observed (wrapped), details.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let count = |v: Verdict| rows.iter().filter(|r| r.observation.verdict == v).count();
    let _ = writeln!(
        out,
        "\n== fault run: {} cases: {} PASS, {} FAIL, {} SKIPPED",
        rows.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skipped)
    );
    let _ = writeln!(
        out,
        "{:<NAME_WIDTH$} {:<RESULT_WIDTH$} EXPECTED / OBSERVED",
        "CASE", "RESULT"
    );
    let indent = " ".repeat(NAME_WIDTH + RESULT_WIDTH + 2);
    for row in rows {
        let mut lines = Vec::new();
        lines.extend(wrap(&format!("expected: {}", row.expected), TEXT_WIDTH, ""));
        lines.extend(wrap(
            &format!(
                "observed: {} ({:.1} s)",
                row.observation.observed,
                row.elapsed.as_secs_f64()
            ),
            TEXT_WIDTH,
            "",
        ));
        for detail in &row.observation.details {
            lines.extend(wrap(detail, TEXT_WIDTH, "  "));
        }
        for (i, line) in lines.iter().enumerate() {
            if i == 0 {
                let _ = writeln!(
                    out,
                    "{:<NAME_WIDTH$} {:<RESULT_WIDTH$} {line}",
                    row.name,
                    row.observation.verdict.label()
                );
            } else {
                let _ = writeln!(out, "{indent}{line}");
            }
        }
    }
    out
}

/// Splits `text` into lines of at most `width` characters at spaces;
/// continuation lines start with `hang` plus two spaces.
fn wrap(text: &str, width: usize, hang: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from(hang);
    let continuation = format!("{hang}  ");
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > continuation.len() && len + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, continuation.clone()));
        } else if len > hang.len() && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Milliseconds with one decimal, for figures.
pub(crate) fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// Seconds with two decimals, for figures.
pub(crate) fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_pass_only_when_every_check_passes() {
        let mut checks = Checks::default();
        checks.check("a", true, "fine");
        assert_eq!(checks.into_observation().verdict, Verdict::Pass);
        let mut checks = Checks::default();
        checks.check("a", true, "fine");
        checks.check("b", false, "502");
        let observation = checks.into_observation();
        assert_eq!(observation.verdict, Verdict::Fail);
        assert!(
            observation.details.iter().any(|d| d == "FAIL b: 502"),
            "{:?}",
            observation.details
        );
        assert_eq!(Checks::default().into_observation().verdict, Verdict::Fail);
    }

    #[test]
    fn wrap_keeps_words_whole() {
        let lines = wrap("aaa bbb ccc ddd", 8, "");
        assert_eq!(lines, ["aaa bbb", "  ccc", "  ddd"]);
    }
}
