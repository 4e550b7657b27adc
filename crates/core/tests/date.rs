//! HTTP-date: RFC 9110 §5.6.7.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use revalidate_core::{HttpDate, InvalidHttpDate};

use crate::support::headers;

/// RFC 9110 §5.6.7: the three forms of the same instant.
#[test]
fn rfc9110_5_6_7_three_forms() {
    let expected = HttpDate::from_unix_seconds(784_111_777).unwrap();
    for text in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(HttpDate::parse(text.as_bytes()), Ok(expected), "{text}");
    }
    assert_eq!(expected.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(expected.to_header_value(), "Sun, 06 Nov 1994 08:49:37 GMT");
}

/// Other examples from RFC 9110: §6.6.1 `Date`, §8.8.2 `Last-Modified`,
/// §13.1.3 `If-Modified-Since`.
#[test]
fn rfc9110_date_examples() {
    for (text, secs) in [
        ("Tue, 15 Nov 1994 08:12:31 GMT", 784_887_151),
        ("Tue, 15 Nov 1994 12:45:26 GMT", 784_903_526),
        ("Sat, 29 Oct 1994 19:43:31 GMT", 783_459_811),
    ] {
        assert_eq!(
            HttpDate::parse(text.as_bytes()).map(HttpDate::unix_seconds),
            Ok(secs),
            "{text}"
        );
    }
}

/// "HTTP-date is case sensitive", names a real day, and never falls back
/// to the epoch on bad input.
#[test]
fn invalid_dates_are_errors_not_epoch() {
    for text in [
        "",
        "0",
        "sun, 06 nov 1994 08:49:37 gmt",
        "Mon, 06 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
    ] {
        assert_eq!(
            HttpDate::parse(text.as_bytes()),
            Err(InvalidHttpDate::Syntax),
            "{text:?}"
        );
    }
    assert_eq!(
        HttpDate::parse(b"Sun, 06 Nov 1994 08:49:37 GM\xd4"),
        Err(InvalidHttpDate::Syntax)
    );
}

/// "A recipient MUST ignore the If-Modified-Since header field if the
/// received field value is not a valid HTTP-date, the field value has more
/// than one member" (RFC 9110 §13.1.3): two field lines are invalid.
#[test]
fn a_field_with_two_dates_is_invalid() {
    let map = headers(&[
        ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    assert_eq!(
        HttpDate::from_field(map.get_all("if-modified-since")),
        Err(InvalidHttpDate::MultipleValues)
    );
    assert_eq!(
        HttpDate::from_field(map.get_all("last-modified")),
        Err(InvalidHttpDate::Missing)
    );
}

/// HTTP-date has whole seconds: sub-second parts of a `SystemTime` are
/// truncated, not rounded.
#[test]
fn system_time_truncates_to_whole_seconds() {
    let t = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
    assert_eq!(
        HttpDate::from_system_time(t).unwrap().unix_seconds(),
        1_700_000_000
    );
    assert_eq!(
        SystemTime::from(HttpDate::from_unix_seconds(5).unwrap()),
        UNIX_EPOCH + Duration::from_secs(5)
    );
    assert_eq!(
        HttpDate::from_system_time(UNIX_EPOCH - Duration::from_secs(1)),
        Err(InvalidHttpDate::OutOfRange)
    );
    assert_eq!(
        HttpDate::from_system_time(UNIX_EPOCH + Duration::from_secs(HttpDate::MAX.unix_seconds() + 1)),
        Err(InvalidHttpDate::OutOfRange)
    );
}

/// DEVIATION(rfc850-year): the fixed pivot, documented in the crate docs.
#[test]
fn rfc850_two_digit_year_pivot() {
    assert_eq!(
        HttpDate::parse(b"Thursday, 01-Jan-70 00:00:00 GMT"),
        Ok(HttpDate::UNIX_EPOCH),
        "70 reads as 1970"
    );
    assert_eq!(
        HttpDate::parse(b"Saturday, 01-Jan-50 00:00:00 GMT")
            .unwrap()
            .to_string(),
        "Sat, 01 Jan 2050 00:00:00 GMT"
    );
}

#[test]
fn arithmetic_saturates() {
    assert_eq!(HttpDate::MAX.saturating_add(10), HttpDate::MAX);
    assert_eq!(HttpDate::UNIX_EPOCH.seconds_since(HttpDate::MAX), 0);
    assert_eq!(
        HttpDate::MAX.seconds_since(HttpDate::UNIX_EPOCH),
        HttpDate::MAX.unix_seconds()
    );
}
