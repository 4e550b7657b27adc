//! `Age` ([RFC 9111 §5.1]) and the current-age calculation (§4.2.3):
//! `cache::freshness::age_value`, `age_header_value`, `current_age` and
//! `Freshness::after`, which the edge uses to age the freshness it worked
//! out on arrival.
//!
//! Properties:
//! - `age_value` is the model of §5.1: the first non-empty member of the
//!   list all field lines make, if it is `1*DIGIT` (OWS around it), capped
//!   at 2^31; absent or invalid is 0 (the field is ignored);
//! - the `Age` sent for any age reads back as that age capped at 2^31;
//! - `current_age` is the §4.2.3 formula computed without overflow, then
//!   held at the largest integer; it grows by exactly the resident time;
//! - the freshness at arrival, aged by `Freshness::after`, is the freshness
//!   worked out afresh at any later time.
//!
//! Input: 12 bytes of clock readings (request time, response delay, how
//! old `Date` is, resident time), then `Age` field lines separated by `\n`.
//!
//! [RFC 9111 §5.1]: https://www.rfc-editor.org/rfc/rfc9111#section-5.1
#![no_main]

use http::header::{AGE, DATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use revalidate_core::HttpDate;
use revalidate_core::cache::directives::DELTA_SECONDS_MAX;
use revalidate_core::cache::freshness::age_value;
use revalidate_core::cache::{CacheConfig, Stored, age_header_value, current_age, freshness};

fn model_age_value(lines: &[HeaderValue]) -> u64 {
    // RFC 9111 §5.1: the first member of the list (all lines, RFC 9110
    // §5.3; empty members skipped, §5.6.1.2); invalid is ignored (0).
    let mut members = Vec::new();
    for line in lines {
        for member in line.as_bytes().split(|&b| b == b',') {
            let start = member
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(member.len());
            let end = member
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |i| i + 1);
            if start < end {
                members.push(&member[start..end]);
            }
        }
    }
    let Some(digits) = members.first() else {
        return 0;
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    let value = digits.iter().fold(0u128, |v, &d| {
        (v * 10 + u128::from(d - b'0')).min(u128::from(DELTA_SECONDS_MAX))
    });
    value as u64
}

fuzz_target!(|data: &[u8]| {
    let Some((clock, rest)) = data.split_first_chunk::<12>() else {
        return;
    };
    let word = |i: usize, n: usize| {
        clock[i..i + n]
            .iter()
            .rev()
            .fold(0u64, |v, &b| v << 8 | u64::from(b))
    };
    let request_time = 1_500_000_000 + word(0, 4);
    let response_time = request_time + word(4, 2);
    let date = response_time.saturating_sub(word(6, 2));
    // The top bit of the resident time leaves Date out.
    let resident = word(8, 4);
    let with_date = resident & 0x8000_0000 == 0;
    let now = response_time + (resident & 0x7FFF_FFFF);

    let lines: Vec<HeaderValue> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&b| b == b'\n')
            .filter_map(|l| HeaderValue::from_bytes(l).ok())
            .collect()
    };
    let mut headers = HeaderMap::new();
    for line in &lines {
        headers.append(AGE, line.clone());
    }
    let age = age_value(&headers);
    assert_eq!(age, model_age_value(&lines), "Age {lines:?}");
    assert!(age <= DELTA_SECONDS_MAX);

    // What the cache sends reads back as what it meant (§5.1).
    let mut sent = HeaderMap::new();
    sent.insert(AGE, age_header_value(age));
    assert_eq!(age_value(&sent), age);
    let any = word(0, 8).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (word(8, 1) % 64);
    sent.insert(AGE, age_header_value(any));
    assert_eq!(age_value(&sent), any.min(DELTA_SECONDS_MAX), "age {any}");

    // §4.2.3, in wide integers.
    if with_date {
        headers.insert(DATE, HttpDate::from_unix_seconds(date).unwrap().to_header_value());
    }
    let at = |seconds: u64| HttpDate::from_unix_seconds(seconds).unwrap();
    let stored = Stored {
        status: StatusCode::OK,
        headers: &headers,
        request_time: at(request_time),
        response_time: at(response_time),
    };
    let date_value = if with_date { date } else { response_time };
    let apparent_age = u128::from(response_time.saturating_sub(date_value));
    let response_delay = u128::from(response_time - request_time);
    let corrected_initial_age = apparent_age.max(u128::from(age) + response_delay);
    let expected = (corrected_initial_age + u128::from(now - response_time)).min(u128::from(u64::MAX)) as u64;
    assert_eq!(current_age(&stored, at(now)), expected);
    let later = current_age(&stored, at(now + 1));
    assert!(
        later == expected + 1 || later == u64::MAX,
        "the age grows by the resident time"
    );
    // Before the response arrived, it is as old as it arrived.
    assert_eq!(
        current_age(&stored, at(response_time.saturating_sub(1 + word(0, 1)))),
        current_age(&stored, at(response_time))
    );

    // Freshness on arrival, aged, is freshness now.
    for config in [CacheConfig::shared(), CacheConfig::private()] {
        let arrival = freshness(&config, &stored, at(response_time));
        assert_eq!(
            arrival.after(now - response_time),
            freshness(&config, &stored, at(now))
        );
        assert_eq!(arrival.age_header_value(), age_header_value(arrival.age));
    }
});
