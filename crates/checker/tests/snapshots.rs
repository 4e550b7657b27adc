//! Snapshots of the human and JSON output for fixed recordings.

use revalidate_checker::model::{CheckOptions, InmForm, ProbeKind, RecordedResponse, Recording};
use revalidate_checker::{CheckError, UrlReport, checked, render_json, render_text};

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
        },
        UrlReport {
            url: redirect.url.clone(),
            outcome: Ok(checked(&redirect)),
        },
        UrlReport {
            url: "http://127.0.0.1:9/".into(),
            outcome: Err(CheckError::Unreachable {
                url: "http://127.0.0.1:9/".into(),
                reason: "Connection refused (os error 111)".into(),
            }),
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
