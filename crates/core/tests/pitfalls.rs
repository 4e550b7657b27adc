//! One test per origin-side pitfall in `shared/guide/peers.md` §3 (and the
//! user reports of §2 they come from). Each name says the pitfall and the
//! peer or report that got it wrong.

use http::{Method, StatusCode};
use revalidate_core::{HttpDate, Outcome, Preconditions, Validators, not_modified_headers};

use crate::support::{date, headers, strong, weak};

const LM: &str = "Tue, 15 Nov 1994 12:45:26 GMT";
const NOW: &str = "Wed, 16 Nov 1994 12:45:26 GMT";

fn evaluate(method: Method, request: &[(&str, &str)], current: &Validators) -> Outcome {
    Preconditions::from_headers(&headers(request)).evaluate(&method, current, date(NOW))
}

fn representation() -> Validators {
    Validators::new()
        .with_etag(strong("v2"))
        .with_last_modified(date(LM))
}

/// §3.1 (RFC 9110 §13.1.3): a non-matching If-None-Match wins over a
/// matching If-Modified-Since. nginx and httpd require both to match;
/// jshttp/fresh#35 and rails#52274 shipped the same bug.
#[test]
fn p01_inm_supersedes_ims_nginx_httpd_fresh35_rails52274() {
    let request = [("if-none-match", "\"v1\""), ("if-modified-since", LM)];
    assert_eq!(
        evaluate(Method::GET, &request, &representation()),
        Outcome::Proceed
    );
}

/// §3.2: weak comparison for If-None-Match, strong for If-Match and
/// If-Range. send uses weak compare for If-Match; ASP.NET static files use
/// strong compare for If-None-Match; Rails compares INM as exact strings.
#[test]
fn p02_comparison_functions_send_aspnet_rails() {
    let current = representation();
    assert_eq!(
        evaluate(Method::PUT, &[("if-match", "W/\"v2\"")], &current),
        Outcome::PreconditionFailed
    );
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "W/\"v2\"")], &current),
        Outcome::NotModified
    );
    let weak_current = Validators::new().with_etag(weak("v2"));
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"v2\"")], &weak_current),
        Outcome::NotModified
    );
    assert_eq!(
        evaluate(
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", "\"v2\"")],
            &weak_current
        ),
        Outcome::IgnoreRange
    );
}

/// §3.3: If-Range dates must match exactly and the Last-Modified must be
/// strong; otherwise a stale If-Range still gets 206 of new bytes. The
/// `headers` crate uses `<`, ASP.NET `>`, send `<=`; tower-http, actix,
/// Django and Spring (#27952) ignore If-Range entirely.
#[test]
fn p03_if_range_date_exact_and_strong_headers_aspnet_send_spring27952() {
    let current = representation();
    let later = "Tue, 15 Nov 1994 12:45:27 GMT";
    assert_eq!(
        evaluate(
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", later)],
            &current
        ),
        Outcome::IgnoreRange
    );
    assert_eq!(
        evaluate(Method::GET, &[("range", "bytes=0-1"), ("if-range", LM)], &current),
        Outcome::Proceed
    );
    // Modified in the same second as the Date it was sent with: weak.
    let same_second = representation().with_date(date(LM));
    assert_eq!(
        evaluate(
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", LM)],
            &same_second
        ),
        Outcome::IgnoreRange
    );
    // A stale entity-tag never yields a range.
    assert_eq!(
        evaluate(
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", "\"v1\"")],
            &current
        ),
        Outcome::IgnoreRange
    );
}

/// §3.4: HTTP-dates have whole seconds, so a modification time must be
/// truncated before comparing; otherwise IMS equal to the sent
/// Last-Modified looks older than the file's sub-second mtime.
#[test]
fn p04_second_resolution_truncation() {
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::new(784_903_526, 750_000_000);
    let current = Validators::new().with_last_modified(HttpDate::from_system_time(mtime).unwrap());
    assert_eq!(
        evaluate(Method::GET, &[("if-modified-since", LM)], &current),
        Outcome::NotModified
    );
    assert_eq!(
        evaluate(Method::PUT, &[("if-unmodified-since", LM)], &current),
        Outcome::Proceed
    );
}

/// §3.5 (RFC 9110 §15.4.5): the 304 keeps Cache-Control, Content-Location,
/// Date, ETag, Expires and Vary and drops the rest of the representation
/// metadata. tower-http#411/#540 omitted ETag; tower-http drops Vary; actix
/// keeps Content-Type, Content-Encoding and Content-Range; httpd 2.4.48
/// fixed a regression that stripped ETag; golang PR #50903 removed
/// Content-Encoding.
#[test]
fn p05_304_header_set_towerhttp411_actix_httpd_go50903() {
    let ok = headers(&[
        ("etag", "\"v2\""),
        ("vary", "Accept-Encoding"),
        ("cache-control", "no-cache"),
        ("content-location", "/doc.en"),
        ("date", NOW),
        ("expires", NOW),
        ("content-type", "text/html"),
        ("content-encoding", "br"),
        ("content-range", "bytes 0-1/10"),
    ]);
    let h = not_modified_headers(&ok);
    let mut names: Vec<_> = h.keys().map(http::HeaderName::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cache-control",
            "content-location",
            "date",
            "etag",
            "expires",
            "vary"
        ]
    );
}

/// §3.6: no body framing on a 304: Content-Length and Transfer-Encoding
/// are dropped (actix#2453, Bun PR #36454 `Content-Length: 0`).
#[test]
fn p06_no_framing_on_304_actix2453_bun36454() {
    let ok = headers(&[
        ("etag", "\"v2\""),
        ("content-length", "0"),
        ("transfer-encoding", "chunked"),
    ]);
    let h = not_modified_headers(&ok);
    assert!(!h.contains_key("content-length") && !h.contains_key("transfer-encoding"));
}

/// §3.7 (RFC 9110 §8.8.3.3's example): the gzip representation has its own
/// strong tag, so the identity tag does not revalidate it, and vice versa.
/// nginx#93: br and gzip variants shared one weak tag and cross-304'd.
#[test]
fn p07_representation_specific_tags_rfc9110_8_8_3_3_nginx93() {
    let identity = Validators::new().with_etag(strong("1"));
    let gzip = Validators::new().with_etag(strong("2"));
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"1\"")], &gzip),
        Outcome::Proceed
    );
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"2\"")], &identity),
        Outcome::Proceed
    );
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"1\", \"2\"")], &gzip),
        Outcome::NotModified
    );
}

/// §3.8: Vary is on the 304 too, every line of it (tower-http drops it;
/// Caddy #5849 had to add it).
#[test]
fn p08_vary_on_304_towerhttp_caddy5849() {
    let ok = headers(&[
        ("etag", "\"v2\""),
        ("vary", "Accept-Encoding"),
        ("vary", "Origin"),
    ]);
    let h = not_modified_headers(&ok);
    let vary: Vec<_> = h.get_all("vary").iter().collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
}

/// §3.9 (RFC 9110 §13.1.4): If-Unmodified-Since is ignored when there is no
/// modification date. nginx, ATS, send and Django answer 412.
#[test]
fn p09_ius_without_last_modified_ignored_nginx_ats_send_django() {
    let current = Validators::new().with_etag(strong("v2"));
    let request = [("if-unmodified-since", "Sat, 29 Oct 1994 19:43:31 GMT")];
    assert_eq!(evaluate(Method::PUT, &request, &current), Outcome::Proceed);
}

/// §3.10 (RFC 9110 §13.1.1): `If-Match: *` is false when there is no
/// current representation; Go returns true unconditionally.
#[test]
fn p10_if_match_star_without_representation_go() {
    assert_eq!(
        evaluate(Method::PUT, &[("if-match", "*")], &Validators::missing()),
        Outcome::PreconditionFailed
    );
    assert_eq!(
        evaluate(Method::PUT, &[("if-match", "*")], &representation()),
        Outcome::Proceed
    );
}

/// §3.11: If-Modified-Since only for GET/HEAD; a failed If-None-Match on an
/// unsafe method is 412, not 304. nginx's not_modified filter has no method
/// check; Varnish#3121.
#[test]
fn p11_method_rules_nginx_varnish3121() {
    let current = representation();
    assert_eq!(
        evaluate(Method::POST, &[("if-modified-since", LM)], &current),
        Outcome::Proceed
    );
    assert_eq!(
        evaluate(Method::POST, &[("if-none-match", "\"v2\"")], &current),
        Outcome::PreconditionFailed
    );
    assert_eq!(
        evaluate(Method::HEAD, &[("if-none-match", "\"v2\"")], &current),
        Outcome::NotModified
    );
}

/// §3.12 (RFC 9110 §13.2.2 step 5): preconditions come before Range. An
/// unsatisfiable Range must not pre-empt the 304/412 (actix parses Range
/// first and answers 416).
#[test]
fn p12_preconditions_before_range_actix() {
    let current = representation();
    let request = [("range", "bytes=999999-"), ("if-none-match", "\"v2\"")];
    assert_eq!(evaluate(Method::GET, &request, &current), Outcome::NotModified);
    let request = [("range", "bytes=999999-"), ("if-match", "\"v1\"")];
    assert_eq!(
        evaluate(Method::GET, &request, &current),
        Outcome::PreconditionFailed
    );
}

/// §3.13: an invalid date is ignored, never read as the epoch (which would
/// make everything "modified since"), and a future If-Modified-Since is
/// ignored as httpd and Varnish do (DEVIATION(future-ims)).
#[test]
fn p13_invalid_and_future_dates_go_httpd_varnish() {
    let current = representation();
    for bad in [
        "0",
        "-1",
        "Thu, 01 Jan 1970 00:00:00",
        "Sun, 31 Feb 2026 00:00:00 GMT",
    ] {
        assert_eq!(
            evaluate(Method::GET, &[("if-modified-since", bad)], &current),
            Outcome::Proceed,
            "{bad}"
        );
        assert_eq!(
            evaluate(Method::PUT, &[("if-unmodified-since", bad)], &current),
            Outcome::Proceed,
            "{bad}"
        );
    }
    let future = [("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")];
    assert_eq!(evaluate(Method::GET, &future, &current), Outcome::Proceed);
}

/// §3.16: commas are legal inside quoted entity-tags; splitting on ","
/// (Souin, sirv PR #177, supabase/storage PR #1424) breaks matching.
/// tower-http reads only the first If-None-Match field line.
#[test]
fn p16_etag_list_parsing_souin_sirv177_towerhttp_first_line() {
    let current = Validators::new().with_etag(strong("a,b"));
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"x\", \"a,b\"")], &current),
        Outcome::NotModified
    );
    let split_lines = [("if-none-match", "\"x\""), ("if-none-match", "\"a,b\"")];
    assert_eq!(
        evaluate(Method::GET, &split_lines, &current),
        Outcome::NotModified
    );
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"a\"")], &current),
        Outcome::Proceed
    );
}

/// §2.13 (kubernetes/ingress-nginx#1390, fastify-etag#108, hapi#3956): a
/// proxy that weakens our strong tag sends back `W/"…"`; If-None-Match must
/// still give a 304.
#[test]
fn p_weakened_echo_still_revalidates_ingress_nginx1390_hapi3956() {
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "W/\"v2\"")], &representation()),
        Outcome::NotModified
    );
}

/// §3.18 / §2.7 / go#60940: a bogus modification time is no validator at
/// all, but the entity-tag still works without it.
#[test]
fn p18_no_last_modified_still_etag_caddy7730_go60940() {
    let current = Validators::new().with_etag(strong("v2"));
    assert_eq!(
        evaluate(Method::GET, &[("if-modified-since", LM)], &current),
        Outcome::Proceed
    );
    assert_eq!(
        evaluate(Method::GET, &[("if-none-match", "\"v2\"")], &current),
        Outcome::NotModified
    );
}

/// §4.1 / nestjs#7859: the data a 428 policy needs.
#[test]
fn p_guards_write_for_428_nestjs7859() {
    let unguarded = Preconditions::from_headers(&headers(&[("if-modified-since", LM)]));
    assert!(!unguarded.guards_write(date(NOW)));
    let guarded = Preconditions::from_headers(&headers(&[("if-match", "\"v2\"")]));
    assert!(guarded.guards_write(date(NOW)));
    // §13.2.1: a 404 without preconditions stays a 404.
    assert_eq!(
        guarded.evaluate_for_status(
            &Method::PUT,
            StatusCode::NOT_FOUND,
            &Validators::missing(),
            date(NOW)
        ),
        Outcome::Proceed
    );
}
