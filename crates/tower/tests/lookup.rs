//! Validators before the handler ([`ConditionalLayer::with_lookup`]):
//! 304 and 412 are answered without calling it.

use std::future::{Ready, ready};

use http::StatusCode;
use http::header::CACHE_CONTROL;
use revalidate_core::{EntityTag, Validators};
use revalidate_tower::{ConditionalLayer, Current};

use crate::support::{DOC, MODIFIED, OwnedFields, date, http_date, json_handler, layer, request, send};

type LookupFn = fn(&http::request::Parts) -> Ready<Option<Current>>;

/// The resource at `/doc` is at version `"v7"`, modified at [`MODIFIED`].
fn current(_: &http::request::Parts) -> Ready<Option<Current>> {
    let validators = Validators::new()
        .with_etag(EntityTag::strong("v7").unwrap())
        .with_last_modified(date(MODIFIED));
    ready(Some(
        Current::new(validators).with_header(CACHE_CONTROL, "no-cache".parse().unwrap()),
    ))
}

/// Nothing exists at the target.
fn missing(_: &http::request::Parts) -> Ready<Option<Current>> {
    ready(Some(Current::missing()))
}

/// The lookup does not manage the target.
fn unmanaged(_: &http::request::Parts) -> Ready<Option<Current>> {
    ready(None)
}

fn with(lookup: LookupFn) -> ConditionalLayer<LookupFn> {
    layer().with_lookup(lookup)
}

#[tokio::test]
async fn lookup_table() {
    let modified = http_date(MODIFIED);
    let earlier = http_date(MODIFIED - 1);
    #[rustfmt::skip]
    let cases: &[(&str, LookupFn, &str, OwnedFields<'_>, StatusCode, bool)] = &[
        // (name, lookup, method, request fields, status, handler called)
        ("get_inm_current_304", current, "GET", vec![("if-none-match", "\"v7\"".into())], StatusCode::NOT_MODIFIED, false),
        ("head_inm_current_304", current, "HEAD", vec![("if-none-match", "\"v7\"".into())], StatusCode::NOT_MODIFIED, false),
        ("get_ims_304", current, "GET", vec![("if-modified-since", modified.clone())], StatusCode::NOT_MODIFIED, false),
        ("get_inm_stale_runs_handler", current, "GET", vec![("if-none-match", "\"v6\"".into())], StatusCode::OK, true),
        ("get_unconditional_runs_handler", current, "GET", vec![], StatusCode::OK, true),
        ("get_if_match_stale_412", current, "GET", vec![("if-match", "\"v6\"".into())], StatusCode::PRECONDITION_FAILED, false),
        ("put_if_match_current_runs", current, "PUT", vec![("if-match", "\"v7\"".into())], StatusCode::OK, true),
        ("put_if_match_stale_412", current, "PUT", vec![("if-match", "\"v6\"".into())], StatusCode::PRECONDITION_FAILED, false),
        ("put_if_match_list_with_current", current, "PUT", vec![("if-match", "\"v5\", \"v7\"".into())], StatusCode::OK, true),
        ("patch_ius_before_modification_412", current, "PATCH", vec![("if-unmodified-since", earlier.clone())], StatusCode::PRECONDITION_FAILED, false),
        ("delete_ius_at_modification_runs", current, "DELETE", vec![("if-unmodified-since", modified.clone())], StatusCode::OK, true),
        // §13.1.4: "A recipient MUST ignore If-Unmodified-Since if the request contains an If-Match".
        ("put_if_match_beats_ius", current, "PUT", vec![("if-match", "\"v7\"".into()), ("if-unmodified-since", earlier)], StatusCode::OK, true),
        ("put_create_only_exists_412", current, "PUT", vec![("if-none-match", "*".into())], StatusCode::PRECONDITION_FAILED, false),
        ("put_create_only_missing_runs", missing, "PUT", vec![("if-none-match", "*".into())], StatusCode::OK, true),
        ("delete_if_match_star_missing_412", missing, "DELETE", vec![("if-match", "*".into())], StatusCode::PRECONDITION_FAILED, false),
        ("post_if_match_star_exists_runs", current, "POST", vec![("if-match", "*".into())], StatusCode::OK, true),
        ("unmanaged_put_runs", unmanaged, "PUT", vec![("if-match", "\"v6\"".into())], StatusCode::OK, true),
        ("put_unconditional_runs", current, "PUT", vec![], StatusCode::OK, true),
        // A tag the layer coded for gzip proves the client saw v7 (see `compression`).
        ("put_if_match_coded_variant_runs", current, "PUT", vec![("if-match", "\"v7-gzip\"".into())], StatusCode::OK, true),
    ];
    for (name, lookup, method, fields, status, called) in cases {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (service, seen) = json_handler();
        let answer = send(&with(*lookup), service, request(method, &fields)).await;
        assert_eq!(answer.status, *status, "{name}: {answer:?}");
        assert_eq!(seen.calls(), usize::from(*called), "{name}: handler called?");
        match answer.status {
            StatusCode::NOT_MODIFIED => {
                assert!(answer.body.is_empty(), "{name}");
                assert_eq!(answer.header("etag"), Some("\"v7\""), "{name}");
                assert_eq!(
                    answer.header("cache-control"),
                    Some("no-cache"),
                    "{name}: §15.4.5 fields from Current"
                );
                assert!(
                    answer.header("last-modified").is_none(),
                    "{name}: dropped next to an ETag"
                );
            }
            StatusCode::PRECONDITION_FAILED => {
                let problem: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
                assert_eq!(problem["status"], 412, "{name}");
                assert!(problem["detail"].as_str().unwrap().len() > 10, "{name}");
            }
            _ => {}
        }
    }
}

/// The lookup's validators go on the 200 when the handler sets none, and
/// the body is then not read to hash it.
#[tokio::test]
async fn lookup_validators_tag_the_response() {
    let (service, _) = json_handler();
    let answer = send(&with(current), service, request("GET", &[])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("etag"), Some("\"v7\""));
    assert_eq!(answer.body, DOC.as_bytes());
    assert!(answer.header("vary").is_none(), "no compression below: no Vary");
}

#[tokio::test]
async fn unmanaged_requests_are_hashed() {
    let (service, _) = json_handler();
    let answer = send(&with(unmanaged), service, request("GET", &[])).await;
    let etag = answer.header("etag").unwrap();
    assert_eq!(etag.len(), 34, "{etag}");
}

/// An async lookup that copies what it needs out of the request head.
#[tokio::test]
async fn async_closure_lookup() {
    let lookup = |request: &http::request::Parts| {
        let path = request.uri.path().to_owned();
        async move {
            tokio::task::yield_now().await;
            (path == "/doc")
                .then(|| Current::new(Validators::new().with_etag(EntityTag::strong("v7").unwrap())))
        }
    };
    let layer = crate::support::layer().with_lookup(lookup);
    let (service, seen) = json_handler();
    let answer = send(&layer, service, request("GET", &[("if-none-match", "\"v7\"")])).await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert_eq!(seen.calls(), 0);
}
