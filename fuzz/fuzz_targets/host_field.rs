//! The edge's `Host` field check and the site key rules
//! (`crates/edge/src/sites/`): `host_of_field`, `request_host` and
//! `KeyRules::normalise`, all hand-written byte handling.
//!
//! Properties:
//! - any bytes: no panic; what `host_of_field` accepts is ASCII, a prefix
//!   of the value, and parses as an `http::uri::Authority` with that host
//!   when it holds no `%` (the http crate refuses some percent-encoded
//!   hosts RFC 3986 allows);
//! - `request_host` on a request with that field agrees with it, and
//!   `check_host` accepts exactly what `request_host` does;
//! - normalising a target twice changes nothing (idempotent), and keeps its
//!   path, under every query mode.
#![no_main]

use http::{HeaderMap, HeaderValue, Uri, Version};
use libfuzzer_sys::fuzz_target;
use revalidate_edge::sites::{KeyConfig, KeyRules, QueryMode, check_host, host_of_field, request_host};

fuzz_target!(|data: &[u8]| {
    // `check_host` (one site for every host) accepts exactly the values
    // `request_host` reads a host from.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, value);
        let target = Uri::from_static("/");
        assert_eq!(
            check_host(&target, &headers, Version::HTTP_11).is_ok(),
            request_host(&target, &headers, Version::HTTP_11).is_ok()
        );
    }
    if let Some(host) = host_of_field(data) {
        assert!(host.is_ascii());
        assert!(data.starts_with(host.as_bytes()));
        if !data.contains(&b'%')
            && let Ok(text) = std::str::from_utf8(data)
            && !text.is_empty()
        {
            let authority: http::uri::Authority = text.parse().expect("accepted hosts are authorities");
            assert_eq!(authority.host(), host);
        }
        if let Ok(value) = HeaderValue::from_bytes(data) {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::HOST, value);
            let target = Uri::from_static("/");
            let found = request_host(&target, &headers, Version::HTTP_11).expect("an accepted Host is a host");
            let normalised = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
            assert_eq!(found.as_deref(), Some(normalised.as_str()));
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && text.starts_with('/')
    {
        for query in [QueryMode::Keep, QueryMode::Sort, QueryMode::Ignore] {
            let rules = KeyRules::new(&KeyConfig {
                query,
                drop: vec!["utm_*".into()],
            })
            .expect("valid rules");
            let once = rules.normalise(text).into_owned();
            assert_eq!(rules.normalise(&once), once.as_str());
            assert_eq!(once.split('?').next(), text.split('?').next());
        }
    }
});
