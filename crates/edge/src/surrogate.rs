//! `Surrogate-Control` ([Edge Architecture Specification 1.0]), the older
//! form of a targeted cache-control field, honoured by translating it into
//! `CDN-Cache-Control` ([RFC 9213]) when the response has none, so that the
//! core's one targeted-field rule applies to both.
//!
//! - The edge announces itself to the origin with
//!   `Surrogate-Capability: <cache name>="Surrogate/1.0"`.
//! - A `Surrogate-Control` directive applies to this edge when it names no
//!   device (`max-age=60`) or names this edge (`max-age=60;edge-1`);
//!   directives for other devices are dropped.
//! - `Surrogate-Control` itself is forwarded unchanged, for surrogates
//!   further down that it may also address.
//!
//! [Edge Architecture Specification 1.0]: https://www.w3.org/TR/edge-arch/
//! [RFC 9213]: https://www.rfc-editor.org/rfc/rfc9213

use http::{HeaderMap, HeaderName, HeaderValue};

/// `Surrogate-Control`.
pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
/// `Surrogate-Capability`.
pub const SURROGATE_CAPABILITY: HeaderName = HeaderName::from_static("surrogate-capability");
pub use revalidate_core::cache::CDN_CACHE_CONTROL;

/// The `Surrogate-Capability` value announcing `device`.
pub fn capability(device: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{device}=\"Surrogate/1.0\"")).ok()
}

/// The directives of `Surrogate-Control` that apply to `device`, joined
/// with commas, without their device targets; `None` when none apply.
pub fn directives_for(device: &str, headers: &HeaderMap) -> Option<String> {
    let mut kept: Vec<String> = Vec::new();
    for line in headers.get_all(SURROGATE_CONTROL) {
        let Ok(line) = line.to_str() else { continue };
        for element in line.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (directive, target) = match element.split_once(';') {
                Some((directive, target)) => (directive.trim(), Some(target.trim())),
                None => (element, None),
            };
            if target.is_none_or(|t| t.eq_ignore_ascii_case(device)) && !directive.is_empty() {
                // Surrogate-Control names are case-insensitive; the
                // structured-field dictionary of CDN-Cache-Control takes
                // lowercase keys only.
                kept.push(match directive.split_once('=') {
                    Some((name, value)) => format!("{}={value}", name.trim().to_ascii_lowercase()),
                    None => directive.to_ascii_lowercase(),
                });
            }
        }
    }
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// Applies `Surrogate-Control` to a response from the origin, in place:
/// when the response has no `CDN-Cache-Control`, adds one holding the
/// directives that apply to `device`.
pub fn translate(device: &str, headers: &mut HeaderMap) {
    if !headers.contains_key(SURROGATE_CONTROL) || headers.contains_key(CDN_CACHE_CONTROL) {
        return;
    }
    if let Some(value) = directives_for(device, headers).and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(CDN_CACHE_CONTROL, value);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with(fields: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn targeted_directives() {
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Fields<'_>, Option<&str>)] = &[
            (&[("surrogate-control", "max-age=3600")], Some("max-age=3600")),
            (
                &[("surrogate-control", "max-age=3600;edge")],
                Some("max-age=3600"),
            ),
            (
                &[("surrogate-control", "max-age=3600;EDGE")],
                Some("max-age=3600"),
            ),
            (&[("surrogate-control", "MaX-aGe=3600")], Some("max-age=3600")),
            (&[("surrogate-control", "max-age=3600;other")], None),
            (
                &[("surrogate-control", "no-store;other, max-age=60")],
                Some("max-age=60"),
            ),
            (
                &[
                    ("surrogate-control", "foobar"),
                    ("surrogate-control", "max-age=1"),
                ],
                Some("foobar, max-age=1"),
            ),
            (&[], None),
        ];
        for (fields, expected) in cases {
            assert_eq!(
                directives_for("edge", &with(fields)).as_deref(),
                *expected,
                "{fields:?}"
            );
        }
    }

    #[test]
    fn translation_yields_to_cdn_cache_control() {
        let mut headers = with(&[("surrogate-control", "max-age=60"), ("cache-control", "no-store")]);
        translate("edge", &mut headers);
        assert_eq!(headers.get("surrogate-control").unwrap(), "max-age=60");
        assert_eq!(headers.get("cdn-cache-control").unwrap(), "max-age=60");
        let mut headers = with(&[
            ("surrogate-control", "max-age=60"),
            ("cdn-cache-control", "no-store"),
        ]);
        translate("edge", &mut headers);
        assert_eq!(headers.get("cdn-cache-control").unwrap(), "no-store");
        assert_eq!(capability("edge").unwrap(), "edge=\"Surrogate/1.0\"");
    }
}
