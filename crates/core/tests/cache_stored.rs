//! `StoredHead`: what a cache keeps of a response (RFC 9111 §4.1, §4.2.3),
//! and its serde form, which the edge's storage and the client's store
//! both write.

use http::{HeaderMap, StatusCode};
use revalidate_core::cache::{StoredHead, current_age};

use crate::support::{CACHE_NOW as NOW, headers, secs};

fn head() -> StoredHead {
    let response = headers(&[
        ("cache-control", "max-age=60"),
        ("vary", "Accept-Encoding"),
        ("vary", "accept-language"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]);
    let request = headers(&[
        ("accept-encoding", "gzip"),
        ("user-agent", "curl"),
        ("accept-language", "de"),
    ]);
    StoredHead::new(StatusCode::OK, response, &request, secs(NOW - 2), secs(NOW - 1))
}

#[test]
fn keeps_only_the_request_fields_vary_names() {
    let head = head();
    let names: Vec<&str> = head.vary_request.keys().map(http::HeaderName::as_str).collect();
    assert_eq!(names, ["accept-encoding", "accept-language"]);
    assert!(head.vary_matches(&headers(&[
        ("accept-encoding", "gzip"),
        ("accept-language", "de")
    ])));
    assert!(!head.vary_matches(&headers(&[("accept-encoding", "br"), ("accept-language", "de")])));
}

#[test]
fn the_view_carries_the_clock_readings_into_the_age_calculation() {
    // §4.2.3: response_delay 1 s, resident 1 s; no Date or Age field.
    assert_eq!(current_age(&head().view(), secs(NOW)), 2);
}

#[test]
fn a_304_freshens_the_fields_and_the_clock_readings() {
    let mut head = head();
    head.freshen(
        &headers(&[("cache-control", "max-age=600")]),
        secs(NOW + 10),
        secs(NOW + 11),
    );
    assert_eq!(head.headers.get("cache-control").unwrap(), "max-age=600");
    assert_eq!(
        (head.request_time, head.response_time),
        (secs(NOW + 10), secs(NOW + 11))
    );
    assert_eq!(head.headers.get_all("set-cookie").iter().count(), 2);
}

#[cfg(feature = "serde")]
mod wire {
    use super::*;

    #[test]
    fn round_trips_with_repeated_fields_in_order() {
        let head = head();
        let text = serde_json::to_string(&head).unwrap();
        let back: StoredHead = serde_json::from_str(&text).unwrap();
        assert_eq!(back, head);
        let cookies: Vec<_> = back.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn is_a_record_of_status_fields_and_unix_seconds_in_a_fixed_order() {
        let mut response = HeaderMap::new();
        response.insert("etag", "\"x\"".parse().unwrap());
        let head = StoredHead::new(
            StatusCode::NOT_FOUND,
            response,
            &HeaderMap::new(),
            secs(7),
            secs(8),
        );
        assert_eq!(
            serde_json::to_string(&head).unwrap(),
            r#"{"status":404,"headers":[["etag",[34,120,34]]],"request_time":7,"response_time":8,"vary_request":[]}"#
        );
    }

    #[test]
    fn a_damaged_record_fails_instead_of_building_an_invalid_head() {
        let cases = [
            (
                "status out of range",
                r#"{"status":1000,"headers":[],"request_time":0,"response_time":0,"vary_request":[]}"#,
            ),
            (
                "name with a space",
                r#"{"status":200,"headers":[["a b",[49]]],"request_time":0,"response_time":0,"vary_request":[]}"#,
            ),
            (
                "value with a newline",
                r#"{"status":200,"headers":[["a",[10]]],"request_time":0,"response_time":0,"vary_request":[]}"#,
            ),
            (
                "time past 9999",
                r#"{"status":200,"headers":[],"request_time":253402300800,"response_time":0,"vary_request":[]}"#,
            ),
        ];
        for (case, text) in cases {
            assert!(serde_json::from_str::<StoredHead>(text).is_err(), "{case}");
        }
    }
}
