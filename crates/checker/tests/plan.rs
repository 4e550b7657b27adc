//! The plan loop through an in-memory [`Transport`]: which probes go out,
//! and that the loop ends, with no socket.

use revalidate_checker::model::{
    CheckOptions, InmForm, ProbeKind, RecordedRequest, RecordedResponse, WriteStep,
};
use revalidate_checker::plan::ProbeSpec;
use revalidate_checker::probe::{CheckError, Transport, record};

/// Answers like a correct server of one unchanging document.
struct Memory;

impl Transport for Memory {
    async fn send(
        &self,
        url: &reqwest::Url,
        probe: &ProbeSpec,
    ) -> Result<(RecordedRequest, RecordedResponse), CheckError> {
        let request = RecordedRequest {
            method: probe.method.clone(),
            url: url.to_string(),
            headers: probe.headers.clone(),
        };
        let header = |name: &str| probe.headers.get(name).and_then(|v| v.to_str().ok());
        let ok = RecordedResponse::new(200)
            .header("etag", "\"v1\"")
            .header("cache-control", "no-cache")
            .body("{\"a\": 1}");
        let response = if probe.method == http::Method::PUT {
            match (header("if-match"), header("if-none-match")) {
                (Some("\"v1\""), _) | (None, None) => RecordedResponse::new(204),
                _ => RecordedResponse::new(412),
            }
        } else if header("if-match").is_some_and(|v| v != "*" && !v.split(',').any(|t| t.trim() == "\"v1\""))
        {
            RecordedResponse::new(412)
        } else if header("if-none-match").is_some_and(|v| v.contains("\"v1\"") || v == "*") {
            RecordedResponse::new(304)
                .header("etag", "\"v1\"")
                .header("cache-control", "no-cache")
        } else {
            ok
        };
        Ok((request, response))
    }
}

fn kinds(recording: &revalidate_checker::Recording) -> Vec<ProbeKind> {
    recording.exchanges.iter().map(|e| e.kind.clone()).collect()
}

#[tokio::test]
async fn reads_are_planned_from_the_first_answer() {
    let url = reqwest::Url::parse("https://example.test/doc").unwrap();
    let recording = record(&Memory, &url, CheckOptions::default()).await.unwrap();
    let sent = kinds(&recording);
    for expected in [
        ProbeKind::Initial,
        ProbeKind::Repeat(2),
        ProbeKind::Head,
        ProbeKind::IfNoneMatch(InmForm::Weak),
        ProbeKind::IfNoneMatch(InmForm::Foreign),
        ProbeKind::Range,
        ProbeKind::Encoding("zstd".into()),
    ] {
        assert!(sent.contains(&expected), "{expected:?} not in {sent:?}");
    }
    // No Last-Modified: no date probes; https: no raw probe; no --unsafe: no writes.
    assert!(!sent.iter().any(|k| matches!(
        k,
        ProbeKind::IfModifiedSince(_) | ProbeKind::RawNotModified | ProbeKind::Write(_)
    )));
    let findings = revalidate_checker::rules::evaluate(&recording);
    assert!(
        findings.iter().all(|f| !f.severity().is_problem()),
        "{findings:#?}"
    );
}

#[tokio::test]
async fn writes_run_only_when_asked_and_in_order() {
    let url = reqwest::Url::parse("https://example.test/doc").unwrap();
    let options = CheckOptions {
        unsafe_writes: true,
        ..CheckOptions::default()
    };
    let recording = record(&Memory, &url, options).await.unwrap();
    let writes: Vec<WriteStep> = kinds(&recording)
        .into_iter()
        .filter_map(|k| match k {
            ProbeKind::Write(step) => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(
        writes,
        [
            WriteStep::IfMatchStale,
            WriteStep::CreateOnlyExisting,
            WriteStep::AfterRefused,
            WriteStep::Unconditional,
            WriteStep::BeforeRace,
            WriteStep::RaceA,
            WriteStep::RaceB,
            WriteStep::AfterRace,
            WriteStep::Restore,
        ]
    );
}
