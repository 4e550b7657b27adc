//! The edge's stored metadata codec (`crates/edge/src/entry.rs`):
//! `Meta::encode`, `Meta::decode` and `Entry::decode`.
//!
//! Properties:
//! - decode(encode(x)) == x for `arbitrary`-generated responses (any
//!   status, any valid field names and values, repeated fields, any clock
//!   readings) and `Vary` indexes;
//! - decoding garbage (the whole input) never panics; what decodes
//!   re-encodes to something that decodes to the same value;
//! - `Entry::decode` accepts exactly what `Meta::decode` accepts, and what
//!   it derives (validators, freshness on arrival) is what the core works
//!   out from the decoded response.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use revalidate_core::HttpDate;
use revalidate_core::cache::{CacheConfig, StoredHead, freshness, stored_validators};
use revalidate_edge::entry::{EdgeId, Entry, Meta, VaryIndex};

const NAMES: &[&str] = &[
    "cache-control",
    "cdn-cache-control",
    "etag",
    "last-modified",
    "date",
    "expires",
    "age",
    "vary",
    "set-cookie",
    "content-type",
    "content-length",
    "accept-encoding",
    "x-custom",
];

fn name(u: &mut Unstructured<'_>) -> Result<HeaderName> {
    if bool::arbitrary(u)? {
        return Ok(HeaderName::from_static(u.choose(NAMES)?));
    }
    // Any byte string that is a valid field name (upper case is folded).
    let bytes: &[u8] = u.arbitrary()?;
    Ok(HeaderName::from_bytes(bytes).unwrap_or(HeaderName::from_static("x-fallback")))
}

fn value(u: &mut Unstructured<'_>) -> Result<HeaderValue> {
    let bytes: &[u8] = u.arbitrary()?;
    // Keep only the bytes a field value may hold (HTAB, SP to `~`, obs-text).
    let cleaned: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7F))
        .collect();
    Ok(HeaderValue::from_bytes(&cleaned).unwrap_or(HeaderValue::from_static("")))
}

fn fields(u: &mut Unstructured<'_>) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for _ in 0..u.int_in_range(0..=12)? {
        map.append(name(u)?, value(u)?);
    }
    Ok(map)
}

/// Any time the core's type holds (1970 to 9999).
fn time(u: &mut Unstructured<'_>) -> Result<HttpDate> {
    Ok(HttpDate::UNIX_EPOCH.saturating_add(u.int_in_range(0..=HttpDate::MAX.unix_seconds())?))
}

fn meta(u: &mut Unstructured<'_>) -> Result<Meta> {
    Ok(if bool::arbitrary(u)? {
        Meta::Response(StoredHead {
            status: StatusCode::from_u16(u.int_in_range(100..=999)?).unwrap_or(StatusCode::OK),
            headers: fields(u)?,
            request_time: time(u)?,
            response_time: time(u)?,
            vary_request: fields(u)?,
        })
    } else {
        Meta::Vary(VaryIndex {
            vary: fields(u)?,
            nonce: u.arbitrary()?,
        })
    })
}

fn check_entry(bytes: &[u8], decoded: Option<&Meta>) {
    let config = CacheConfig::shared();
    let edge = EdgeId::next();
    let entry = Entry::decode(bytes, &config, edge);
    match (entry, decoded) {
        (None, None) => {}
        (Some(Entry::Vary(index)), Some(Meta::Vary(expected))) => assert_eq!(&index, expected),
        (Some(Entry::Response(entry)), Some(Meta::Response(expected))) => {
            assert_eq!(&entry.head, expected);
            assert!(entry.built_by(edge));
            let stored = expected.view();
            assert_eq!(entry.validators, stored_validators(&stored));
            assert_eq!(
                entry.freshness_on_arrival,
                freshness(&config, &stored, expected.response_time)
            );
        }
        (entry, decoded) => panic!("Entry::decode gave {entry:?} where Meta::decode gave {decoded:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // Garbage: never a panic; what decodes round-trips.
    let decoded = Meta::decode(data);
    if let Some(meta) = &decoded {
        assert_eq!(Meta::decode(&meta.encode()).as_ref(), Some(meta));
    }
    check_entry(data, decoded.as_ref());

    // Structured values: decode(encode(x)) == x.
    let mut u = Unstructured::new(data);
    if let Ok(meta) = meta(&mut u) {
        let encoded = meta.encode();
        assert_eq!(Meta::decode(&encoded).as_ref(), Some(&meta), "round trip");
        check_entry(&encoded, Some(&meta));
        // Any cut of a valid blob is a miss or a value, never a panic.
        let cut = u.arbitrary_len::<u8>().unwrap_or(0) % (encoded.len() + 1);
        if let Some(meta) = Meta::decode(&encoded[..cut]) {
            assert_eq!(Meta::decode(&meta.encode()), Some(meta));
        }
    }
});
