//! HTTP-dates ([RFC 9110 §5.6.7]): `HttpDate::parse`, including its
//! IMF-fixdate fast path, must accept exactly what the `httpdate` crate
//! accepts, with the same value; a parsed date formats as an IMF-fixdate
//! that parses back to it.
//!
//! Input: the whole input is parsed as a date. When it is at least 9 bytes
//! long, its first 8 bytes also pick a second (within the range an
//! HTTP-date can carry) whose IMF-fixdate is mutated at the byte the 9th
//! byte picks into the 10th byte, so the fast path sees near misses of its
//! fixed layout, not only random text.
//!
//! [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use revalidate_core::{HttpDate, InvalidHttpDate};

/// The slow path: the `httpdate` crate, as seconds since the epoch.
fn reference(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let date: httpdate::HttpDate = text.parse().ok()?;
    Some(SystemTime::from(date).duration_since(UNIX_EPOCH).ok()?.as_secs())
}

fn check(bytes: &[u8]) {
    let parsed = HttpDate::parse(bytes);
    let expected = reference(bytes);
    assert_eq!(
        parsed.ok().map(HttpDate::unix_seconds),
        expected,
        "HttpDate::parse disagrees with httpdate on {:?}",
        String::from_utf8_lossy(bytes)
    );
    match parsed {
        Ok(date) => {
            // parse → format → parse, through the header value and Display.
            let value = date.to_header_value();
            assert_eq!(value.len(), 29, "IMF-fixdate is 29 bytes: {value:?}");
            assert_eq!(HttpDate::parse(value.as_bytes()), Ok(date));
            assert_eq!(date.to_string().as_bytes(), value.as_bytes());
            assert_eq!(HttpDate::from_unix_seconds(date.unix_seconds()), Some(date));
            assert_eq!(HttpDate::from_system_time(date.to_system_time()), Ok(date));
            assert!(date <= HttpDate::MAX);
            // One field line is the date; two are a list of dates (§13.1.3).
            if let Ok(line) = HeaderValue::from_bytes(bytes) {
                assert_eq!(HttpDate::from_field([&line]), Ok(date));
                assert_eq!(
                    HttpDate::from_field([&line, &value]),
                    Err(InvalidHttpDate::MultipleValues)
                );
            }
        }
        // Invalid input never turns into a date (no epoch fallback).
        Err(error) => assert_eq!(error, InvalidHttpDate::Syntax, "{bytes:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let [a, b, c, d, e, f, g, h, position, replacement, ..] = *data {
        let secs = u64::from_le_bytes([a, b, c, d, e, f, g, h]) % (HttpDate::MAX.unix_seconds() + 1);
        let text = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
        assert_eq!(
            HttpDate::parse(text.as_bytes()).map(HttpDate::unix_seconds),
            Ok(secs),
            "{text}"
        );
        let mut mutated = text.into_bytes();
        let position = usize::from(position) % mutated.len();
        mutated[position] = replacement;
        check(&mutated);
        // Every prefix and the text with a byte dropped are near misses too.
        mutated.remove(position);
        check(&mutated);
    }
});
