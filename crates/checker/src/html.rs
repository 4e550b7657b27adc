//! `--format html` / `--html FILE`: one self-contained page per run, as
//! REDbot's report is a page. Pure.
//!
//! The page fetches nothing: the CSS is inline, there is no script and no
//! image, so it opens the same from a CI artifact, a mail attachment or a
//! phone offline. Findings are grouped by URL with their severity (colour
//! and word), the RFC section linked, the fix, and the exchanges behind
//! them ([`crate::rules::evidence`]) as request and response heads.
//!
//! Built with maud: every `(value)` it interpolates is HTML-escaped, so
//! header values, URLs and messages a server chose cannot inject markup.
//! Request fields given with `--header` (credentials, cookies) are marked
//! sensitive by the prober and shown as `[redacted]`.

use http::HeaderMap;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::finding::{Finding, Severity};
use crate::model::Exchange;
use crate::report::{Checked, FailOn, Totals, UrlReport, assets_sentence, count, exit_code_failing_on};
use crate::rules::evidence;

/// Small enough to read whole; wraps long values instead of scrolling
/// sideways, which is what makes header dumps unreadable on a phone.
const CSS: &str = r#"
:root { --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de;
  --error: #b42318; --error-bg: #fdecea; --warning: #8a5300; --warning-bg: #fff4d6;
  --info: #0b5cad; --info-bg: #e8f1fb; --ok: #1a7f37; --ok-bg: #e6f4ea; --link: #0b5cad; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --panel: #161b22; --line: #30363d;
    --error: #ff8e86; --error-bg: #3b1614; --warning: #f0c36a; --warning-bg: #362a0c;
    --info: #79c0ff; --info-bg: #0f2740; --ok: #7ee2a0; --ok-bg: #10301c; --link: #79c0ff; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 60rem; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 0; overflow-wrap: anywhere; }
a { color: var(--link); }
.muted { color: var(--muted); }
.summary { padding: .75rem 1rem; border-radius: .5rem; background: var(--panel); border: 1px solid var(--line); }
nav ul { list-style: none; padding: 0; margin: .5rem 0 0; }
nav li { margin: .25rem 0; overflow-wrap: anywhere; }
section.url { margin: 1.5rem 0; padding: 1rem; border: 1px solid var(--line); border-radius: .5rem; }
.meta { margin: .25rem 0 .75rem; font-size: .9rem; }
.finding { margin: .75rem 0; padding: .5rem .75rem; border-left: .3rem solid var(--line);
  background: var(--panel); border-radius: .25rem; }
.finding.error { border-color: var(--error); }
.finding.warning { border-color: var(--warning); }
.finding.info { border-color: var(--info); }
.finding p { margin: .25rem 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .25rem; font-size: .8rem; font-weight: 700;
  text-transform: uppercase; letter-spacing: .03em; vertical-align: .1em; }
.badge.error { color: var(--error); background: var(--error-bg); }
.badge.warning { color: var(--warning); background: var(--warning-bg); }
.badge.info { color: var(--info); background: var(--info-bg); }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.failed { color: var(--error); background: var(--error-bg); }
code, pre { font: .8rem/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.id { font-weight: 700; overflow-wrap: anywhere; }
details { margin: .5rem 0 0; }
summary { cursor: pointer; color: var(--muted); font-size: .9rem; }
.exchange { margin: .5rem 0; }
.exchange h3 { font-size: .85rem; margin: .5rem 0 .25rem; font-weight: 600; }
pre { margin: 0 0 .25rem; padding: .5rem; background: var(--bg); border: 1px solid var(--line); border-radius: .25rem;
  white-space: pre-wrap; overflow-wrap: anywhere; }
pre.request { border-left: .2rem solid var(--info); }
pre.response { border-left: .2rem solid var(--muted); }
"#;

/// The whole report as one HTML page; `fail_on` sets the exit code it
/// states.
pub fn render_html(reports: &[UrlReport], fail_on: FailOn) -> String {
    let totals = Totals::of(reports);
    let exit = exit_code_failing_on(reports, fail_on);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "revalidate check: " (count(totals.urls, "URL", "URLs")) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { "revalidate check" }
                    div.summary {
                        p { (totals.sentence()) }
                        p.muted {
                            "Exit code " (exit) " (failing on "
                            (match fail_on { FailOn::Warning => "warnings and errors", FailOn::Error => "errors" })
                            "). "
                            (concat!("revalidate-check/", env!("CARGO_PKG_VERSION")))
                        }
                        nav {
                            ul {
                                @for (index, report) in reports.iter().enumerate() {
                                    li {
                                        (outcome_badge(report)) " "
                                        a href={ "#url-" (index + 1) } { (report.url) }
                                    }
                                }
                            }
                        }
                    }
                    @for (index, report) in reports.iter().enumerate() {
                        (url_section(index + 1, report, reports))
                    }
                }
            }
        }
    };
    page.into_string()
}

/// The worst severity of a URL's findings as a badge, or `failed`/`ok`.
fn outcome_badge(report: &UrlReport) -> Markup {
    let (class, text) = match &report.outcome {
        Err(_) => ("failed", "not checked".to_owned()),
        Ok(checked) => match checked.findings.iter().map(Finding::severity).min() {
            Some(Severity::Error) => ("error", count_of(checked, Severity::Error, "error", "errors")),
            Some(Severity::Warning) => (
                "warning",
                count_of(checked, Severity::Warning, "warning", "warnings"),
            ),
            Some(Severity::Info) | None => ("ok", "ok".to_owned()),
        },
    };
    html! { span class={ "badge " (class) } { (text) } }
}

fn count_of(checked: &Checked, severity: Severity, one: &str, many: &str) -> String {
    count(
        checked
            .findings
            .iter()
            .filter(|f| f.severity() == severity)
            .count(),
        one,
        many,
    )
}

fn url_section(number: usize, report: &UrlReport, all: &[UrlReport]) -> Markup {
    // A linked asset points back to its page's section.
    let page_number = report
        .linked_from
        .as_ref()
        .and_then(|page| all.iter().position(|r| r.linked_from.is_none() && &r.url == page))
        .map(|index| index + 1);
    html! {
        section.url id={ "url-" (number) } {
            h2 {
                // Only URLs that were checked are links: they are http(s)
                // by then; a URL that failed to parse is shown as text.
                @if report.outcome.is_ok() && is_web_url(&report.url) {
                    a href=(report.url) { (report.url) }
                } @else {
                    (report.url)
                }
            }
            @match &report.outcome {
                Err(error) => {
                    p.meta { span class="badge failed" { "not checked" } " " (error) }
                }
                Ok(checked) => {
                    p.meta.muted {
                        (checked.status) ", " (count(checked.requests, "request", "requests"))
                        @if let Some(page) = &report.linked_from {
                            ", linked from "
                            @if let Some(page_number) = page_number {
                                a href={ "#url-" (page_number) } { (page) }
                            } @else {
                                (page)
                            }
                        }
                    }
                    @if checked.findings.is_empty() {
                        p { span class="badge ok" { "ok" } " No findings." }
                    }
                    @for finding in &checked.findings {
                        (finding_block(finding, &checked.exchanges))
                    }
                    @if let Some(assets) = &checked.assets {
                        p.muted { (assets_sentence(assets)) "." }
                    }
                    @if !checked.exchanges.is_empty() {
                        details {
                            summary { "All " (count(checked.exchanges.len(), "exchange", "exchanges")) }
                            @for exchange in &checked.exchanges {
                                (exchange_block(exchange))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn finding_block(finding: &Finding, exchanges: &[Exchange]) -> Markup {
    let rule = finding.rule;
    let severity = rule.severity.as_str();
    let behind: Vec<&Exchange> = exchanges.iter().filter(|e| evidence::supports(rule, e)).collect();
    html! {
        article class={ "finding " (severity) } {
            p {
                span class={ "badge " (severity) } { (severity) } " "
                span.id { (rule.id) }
            }
            p { (finding.message) }
            p.muted {
                a href=(rule.section.link()) { (rule.section) }
            }
            @if rule.severity.is_problem() {
                p { strong { "Fix: " } (rule.fix) }
            }
            @if !behind.is_empty() {
                details {
                    summary { "The " (count(behind.len(), "exchange", "exchanges")) " behind it" }
                    @for exchange in behind {
                        (exchange_block(exchange))
                    }
                }
            }
        }
    }
}

fn exchange_block(exchange: &Exchange) -> Markup {
    html! {
        div.exchange {
            h3 { (exchange.kind) span.muted { " · " (exchange.elapsed_ms) " ms" } }
            pre.request { (request_head(exchange)) }
            pre.response { (response_head(exchange)) }
        }
    }
}

fn request_head(exchange: &Exchange) -> String {
    let request = &exchange.request;
    let mut text = format!("{} {}\n", request.method, request.url);
    push_fields(&mut text, &request.headers);
    text
}

fn response_head(exchange: &Exchange) -> String {
    match &exchange.response {
        Err(why) => format!("no response: {why}"),
        Ok(response) => {
            let mut text = format!("{} {}\n", response.version, response.status);
            push_fields(&mut text, &response.headers);
            if response.body_len == 0 {
                text.push_str("\n[no body]");
            } else {
                text.push_str(&format!(
                    "\n[{}, BLAKE3 {}…]",
                    count(
                        usize::try_from(response.body_len).unwrap_or(usize::MAX),
                        "body byte",
                        "body bytes"
                    ),
                    response.body_hash.get(..16).unwrap_or(&response.body_hash)
                ));
            }
            text
        }
    }
}

/// `name: value` lines, values as sent (bytes that are not UTF-8 shown as
/// U+FFFD); sensitive values (`--header`) redacted.
fn push_fields(text: &mut String, fields: &HeaderMap) {
    for (name, value) in fields {
        text.push_str(name.as_str());
        text.push_str(": ");
        if value.is_sensitive() {
            text.push_str("[redacted]");
        } else {
            text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        text.push('\n');
    }
}
