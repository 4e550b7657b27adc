//! Snapshots of the human, JSON and HTML output for fixed recordings.

use revalidate_checker::assets::LinkedAssets;
use revalidate_checker::model::{CheckOptions, InmForm, ProbeKind, RecordedResponse, Recording};
use revalidate_checker::{
    CheckError, FailOn, UrlReport, checked, exit_code_failing_on, render_html, render_json,
    render_json_failing_on, render_text,
};

fn reports() -> Vec<UrlReport> {
    let broken = Recording::new("http://example.test/broken", CheckOptions::default())
        .with(
            ProbeKind::Initial,
            &[],
            RecordedResponse::new(200)
                .header("etag", "\"v1\"")
                .header("date", "Tue, 14 Nov 2023 22:13:20 GMT")
                .header("cache-control", "public, max-age=3600, s-maxage=86400")
                .body("hello"),
        )
        .with(
            ProbeKind::IfNoneMatch(InmForm::Exact),
            &[("if-none-match", "\"v1\"")],
            RecordedResponse::new(304).header("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        )
        .with(
            ProbeKind::IfNoneMatch(InmForm::Foreign),
            &[],
            RecordedResponse::new(304).header("etag", "\"v1\""),
        );
    let redirect = Recording::new("http://example.test/old", CheckOptions::default()).with(
        ProbeKind::Initial,
        &[],
        RecordedResponse::new(308).header("location", "/new"),
    );
    vec![
        UrlReport {
            url: broken.url.clone(),
            outcome: Ok(checked(&broken)),
            linked_from: None,
        },
        UrlReport {
            url: redirect.url.clone(),
            outcome: Ok(checked(&redirect)),
            linked_from: None,
        },
        UrlReport {
            url: "http://127.0.0.1:9/".into(),
            outcome: Err(CheckError::Unreachable {
                url: "http://127.0.0.1:9/".into(),
                reason: "Connection refused (os error 111)".into(),
            }),
            linked_from: None,
        },
    ]
}

#[test]
fn text_report() {
    insta::assert_snapshot!(render_text(&reports(), false));
}

#[test]
fn json_report() {
    insta::assert_snapshot!(render_json(&reports()));
}

#[test]
fn colour_only_when_asked() {
    let coloured = render_text(&reports(), true);
    assert!(coloured.contains("\u{1b}["), "{coloured}");
    assert!(!render_text(&reports(), false).contains('\u{1b}'));
}

/// A page with linked assets (one of them cut by the bound), and one of
/// its assets, as `--assets` reports them.
fn reports_with_assets() -> Vec<UrlReport> {
    let page = Recording::new("http://example.test/", CheckOptions::default()).with(
        ProbeKind::Initial,
        &[],
        RecordedResponse::new(200)
            .header("content-type", "text/html")
            .header("etag", "\"p1\"")
            .header("cache-control", "no-cache"),
    );
    let mut page_checked = checked(&page);
    page_checked.assets = Some(LinkedAssets {
        urls: vec!["http://example.test/app.js".into()],
        found: 2,
    });
    let script = Recording::new("http://example.test/app.js", CheckOptions::default()).with(
        ProbeKind::Initial,
        &[],
        RecordedResponse::new(200).header("cache-control", "max-age=60"),
    );
    vec![
        UrlReport {
            url: page.url.clone(),
            outcome: Ok(page_checked),
            linked_from: None,
        },
        UrlReport {
            url: script.url.clone(),
            outcome: Ok(checked(&script)),
            linked_from: Some(page.url.clone()),
        },
    ]
}

#[test]
fn html_report() {
    // One element a line, so that a change shows as a readable diff.
    insta::assert_snapshot!(render_html(&reports(), FailOn::Warning).replace("><", ">\n<"));
}

#[test]
fn html_report_with_assets() {
    insta::assert_snapshot!(render_html(&reports_with_assets(), FailOn::Error).replace("><", ">\n<"));
}

#[test]
fn text_and_json_with_assets() {
    let reports = reports_with_assets();
    insta::assert_snapshot!(format!(
        "{}\n{}",
        render_text(&reports, false),
        render_json(&reports)
    ));
}

#[test]
fn html_is_self_contained_and_escapes_what_servers_send() {
    let hostile = Recording::new("http://example.test/x?<b>", CheckOptions::default()).with(
        ProbeKind::Initial,
        &[("cookie", "session=<secret>")],
        RecordedResponse::new(308)
            .header("location", "/<script>alert(1)</script>")
            .header("x-note", "\"><img src=x onerror=alert(2)>"),
    );
    let mut report = checked(&hostile);
    for exchange in &mut report.exchanges {
        for value in exchange.request.headers.values_mut() {
            value.set_sensitive(true);
        }
    }
    let page = render_html(
        &[UrlReport {
            url: hostile.url.clone(),
            outcome: Ok(report),
            linked_from: None,
        }],
        FailOn::Warning,
    );
    // The header value and the message quoting it, escaped everywhere.
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    assert!(page.contains("http://example.test/x?&lt;b&gt;"), "{page}");
    // Fields given with --header (sensitive) are not written out.
    assert!(!page.contains("secret"), "{page}");
    assert!(page.contains("cookie: [redacted]"), "{page}");
    // Nothing to fetch: no script, no external stylesheet, image or font.
    for needle in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!page.contains(needle), "{needle}: {page}");
    }
}

#[test]
fn fail_on_error_lets_warnings_pass() {
    let warning_only = Recording::new("http://example.test/old", CheckOptions::default()).with(
        ProbeKind::Initial,
        &[],
        RecordedResponse::new(301).header("location", "/new"),
    );
    let reports = [UrlReport {
        url: warning_only.url.clone(),
        outcome: Ok(checked(&warning_only)),
        linked_from: None,
    }];
    assert_eq!(exit_code_failing_on(&reports, FailOn::Warning), 1);
    assert_eq!(exit_code_failing_on(&reports, FailOn::Error), 0);
    assert!(render_json_failing_on(&reports, FailOn::Error).contains("\"exit_code\":0"));
    // Errors fail either way; an unchecked URL is 2 either way.
    assert_eq!(exit_code_failing_on(&self::reports()[..1], FailOn::Error), 1);
    assert_eq!(exit_code_failing_on(&self::reports(), FailOn::Error), 2);
}
