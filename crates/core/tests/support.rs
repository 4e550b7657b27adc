//! Helpers shared by the test modules.

use http::{HeaderMap, HeaderName, HeaderValue};
use revalidate_core::{EntityTag, HttpDate};

/// A header map from `(name, value)` pairs; repeated names become
/// separate field lines.
pub(crate) fn headers(fields: &[(&str, &str)]) -> HeaderMap {
    let raw: Vec<(&str, &[u8])> = fields.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    headers_raw(&raw)
}

/// Like [`headers`], with raw byte values so tests can send obs-text.
pub(crate) fn headers_raw(fields: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

pub(crate) fn date(text: &str) -> HttpDate {
    text.parse().unwrap()
}

pub(crate) fn strong(opaque: &str) -> EntityTag {
    EntityTag::strong(opaque).unwrap()
}

pub(crate) fn weak(opaque: &str) -> EntityTag {
    EntityTag::weak(opaque).unwrap()
}

/// The clock of the cache tables (2026-02-18T00:00:00Z), in Unix seconds.
pub(crate) const CACHE_NOW: u64 = 1_771_372_800;

/// The core's time `secs` Unix seconds after the epoch.
pub(crate) fn secs(secs: u64) -> HttpDate {
    HttpDate::from_unix_seconds(secs).unwrap()
}

/// The IMF-fixdate field value of `secs` Unix seconds.
pub(crate) fn date_at(secs: u64) -> String {
    HttpDate::from_unix_seconds(secs)
        .unwrap()
        .to_header_value()
        .to_str()
        .unwrap()
        .to_owned()
}
