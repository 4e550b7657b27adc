//! The header sets the edge sends to the origin: what a forwarded request
//! keeps of the client's fields, what it adds (`Via`, `X-Forwarded-For`,
//! `X-Forwarded-Proto`), and what a cache fill leaves out. Pure: the
//! proxy says who the peer is and whether it is trusted.
//!
//! # Forwarding fields
//!
//! The cache key is the request target, so a request field the origin
//! builds its answer from but the key does not hold lets one client decide
//! what every client gets (cache poisoning). `X-Forwarded-Host` is the
//! classic one: frameworks build absolute links from it. So the client's
//! own `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host`,
//! `X-Forwarded-Proto`, `X-Forwarded-Port`, `X-Forwarded-Prefix` and
//! `X-Real-IP` never reach the origin; the edge sets `X-Forwarded-For` to
//! the peer's address and `X-Forwarded-Proto` to the scheme of the
//! connection the request came on. A peer inside `trusted_proxies` (a load
//! balancer in front of the edge) passes its `X-Forwarded-For` chain
//! through, with its own address appended, and its `X-Forwarded-Proto`;
//! never `X-Forwarded-Host` or `Forwarded` (whose `host=` is the same
//! field), which no peer may set.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{
    CONTENT_LENGTH, EXPECT, FORWARDED, HeaderName, HeaderValue, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_RANGE, IF_UNMODIFIED_SINCE, RANGE, TRANSFER_ENCODING, VIA,
};
use revalidate_core::cache::{revalidation_request_headers, strip_hop_by_hop};

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The client-supplied forwarding fields that never reach the origin as the
/// client sent them (see the module docs).
pub const CLIENT_FORWARDING_FIELDS: [HeaderName; 7] = [
    FORWARDED,
    X_FORWARDED_FOR,
    HeaderName::from_static("x-forwarded-host"),
    X_FORWARDED_PROTO,
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-real-ip"),
];

/// The client's own preconditions and range, which a cache fill does not
/// forward: the edge asks for the whole response and answers them itself.
const CLIENT_CONDITIONALS: [HeaderName; 6] = [
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
    IF_RANGE,
    RANGE,
];

/// Who the request came from, as the forwarding fields say it.
#[derive(Clone, Copy, Debug)]
pub struct Forwarding<'a> {
    /// This cache's `Via` member.
    pub via: &'a HeaderValue,
    /// The peer's address, when known.
    pub peer: Option<IpAddr>,
    /// Whether the peer is inside `trusted_proxies`.
    pub trusted_peer: bool,
    /// The scheme of the connection the request came on.
    pub proto: &'static str,
}

/// The fields sent to the origin with any forwarded request: the client's
/// end-to-end fields less its forwarding fields, plus `Via`
/// ([RFC 9110 §7.6.3]), `X-Forwarded-For` and `X-Forwarded-Proto`.
///
/// [RFC 9110 §7.6.3]: https://www.rfc-editor.org/rfc/rfc9110#section-7.6.3
pub fn forwarded_headers(client: &HeaderMap, forwarding: &Forwarding<'_>) -> HeaderMap {
    let mut headers = client.clone();
    // RFC 9110 §7.6.1: "a proxy MUST parse the Connection header field ...
    // remove any header or trailer field(s) from the message with the same
    // name as the connection option, and then remove the Connection header
    // field itself".
    strip_hop_by_hop(&mut headers);
    let (chain, proto) = if forwarding.trusted_peer {
        (
            joined(&headers, &X_FORWARDED_FOR),
            headers.get(X_FORWARDED_PROTO).cloned(),
        )
    } else {
        (None, None)
    };
    for name in CLIENT_FORWARDING_FIELDS {
        headers.remove(name);
    }
    headers.append(VIA, forwarding.via.clone());
    if let Some(peer) = forwarding.peer {
        let peer = peer.to_canonical();
        let value = match chain {
            Some(chain) => format!("{chain}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    headers.insert(
        X_FORWARDED_PROTO,
        proto.unwrap_or_else(|| HeaderValue::from_static(forwarding.proto)),
    );
    headers
}

/// The fields of a cache fill: [`forwarded_headers`] without the client's
/// conditionals and range, and without framing: a fill carries no content
/// (the edge drops a `GET`'s, which RFC 9110 §9.3.1 gives no meaning), so
/// a `Content-Length` would leave the origin waiting for bytes that never
/// come. When revalidating `stored`, with its validators through the
/// core's [`revalidation_request_headers`] (§4.3.1).
pub fn fill_headers(
    client: &HeaderMap,
    stored: Option<&HeaderMap>,
    forwarding: &Forwarding<'_>,
) -> HeaderMap {
    let mut headers = forwarded_headers(client, forwarding);
    for name in CLIENT_CONDITIONALS {
        headers.remove(name);
    }
    // `Transfer-Encoding` is hop-by-hop and already gone; `Content-Length`
    // describes content the fill does not have.
    headers.remove(CONTENT_LENGTH);
    headers.remove(TRANSFER_ENCODING);
    // RFC 9110 §10.1.1: "A client MUST NOT generate a 100-continue
    // expectation in a request that does not include content."
    headers.remove(EXPECT);
    match stored {
        Some(stored) => revalidation_request_headers([stored], &headers),
        None => headers,
    }
}

/// The field lines of `name`, joined into one list ("a, b").
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out = String::new();
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(value);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn from<'a>(peer: &str, trusted_peer: bool, via: &'a HeaderValue) -> Forwarding<'a> {
        Forwarding {
            via,
            peer: Some(peer.parse().unwrap()),
            trusted_peer,
            proto: "http",
        }
    }

    #[test]
    fn fills_drop_client_conditionals_and_add_stored_validators() {
        let client = headers(&[
            ("host", "example.test"),
            ("if-none-match", "\"client\""),
            ("if-match", "\"client\""),
            ("range", "bytes=0-1"),
            ("connection", "x-private, keep-alive"),
            ("x-private", "secret"),
            ("accept", "text/html"),
        ]);
        let stored = headers(&[("etag", "\"stored\"")]);
        let via = HeaderValue::from_static("1.1 edge");
        let fill = fill_headers(&client, Some(&stored), &from("127.0.0.9", false, &via));
        assert_eq!(fill.get("host").unwrap(), "example.test");
        assert_eq!(fill.get_all("if-none-match").iter().count(), 1);
        assert_eq!(fill.get("if-none-match").unwrap(), "\"stored\"");
        assert!(fill.get("if-match").is_none() && fill.get("range").is_none());
        assert!(fill.get("x-private").is_none() && fill.get("connection").is_none());
        assert_eq!(fill.get("via").unwrap(), "1.1 edge");
        assert_eq!(fill.get("x-forwarded-for").unwrap(), "127.0.0.9");
        // A trusted peer's chain is appended to (this row's peer is trusted;
        // untrusted peers are the table below).
        let pass = forwarded_headers(
            &headers(&[("if-match", "\"c\""), ("x-forwarded-for", "10.0.0.1")]),
            &from("127.0.0.9", true, &via),
        );
        assert_eq!(pass.get("if-match").unwrap(), "\"c\"");
        assert_eq!(pass.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.9");
    }

    #[test]
    fn a_fill_carries_no_framing_fields() {
        let client = headers(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked"),
            ("expect", "100-continue"),
            ("content-type", "text/plain"),
        ]);
        let via = HeaderValue::from_static("1.1 edge");
        let fill = fill_headers(&client, None, &from("127.0.0.9", false, &via));
        for name in ["content-length", "transfer-encoding", "expect"] {
            assert!(fill.get(name).is_none(), "{name}");
        }
        // A write keeps its framing: its body goes along.
        let pass = forwarded_headers(
            &headers(&[("content-length", "5")]),
            &from("127.0.0.9", false, &via),
        );
        assert_eq!(pass.get("content-length").unwrap(), "5");
    }

    #[test]
    fn client_forwarding_fields_pass_only_from_trusted_peers_and_never_the_host() {
        let client = headers(&[
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-for", "198.51.100.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=192.0.2.1;host=evil.example"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-prefix", "/app"),
            ("x-real-ip", "192.0.2.1"),
        ]);
        let via = HeaderValue::from_static("1.1 edge");
        // (case, peer, trusted, X-Forwarded-For, X-Forwarded-Proto)
        let cases = [
            ("untrusted", "203.0.113.5", false, "203.0.113.5", "http"),
            (
                "trusted",
                "10.0.0.1",
                true,
                "192.0.2.1, 198.51.100.2, 10.0.0.1",
                "https",
            ),
            (
                "v4-mapped peer",
                "::ffff:203.0.113.5",
                false,
                "203.0.113.5",
                "http",
            ),
        ];
        for (case, peer, trusted, xff, proto) in cases {
            let sent = forwarded_headers(&client, &from(peer, trusted, &via));
            assert_eq!(sent.get_all("x-forwarded-for").iter().count(), 1, "{case}");
            assert_eq!(sent.get("x-forwarded-for").unwrap(), xff, "{case}");
            assert_eq!(sent.get("x-forwarded-proto").unwrap(), proto, "{case}");
            for name in [
                "x-forwarded-host",
                "forwarded",
                "x-forwarded-port",
                "x-forwarded-prefix",
                "x-real-ip",
            ] {
                assert!(sent.get(name).is_none(), "{case}: {name}");
            }
        }
        // A trusted peer that sent no chain or proto: the edge's own.
        let bare = forwarded_headers(&HeaderMap::new(), &from("10.0.0.1", true, &via));
        assert_eq!(bare.get("x-forwarded-for").unwrap(), "10.0.0.1");
        assert_eq!(bare.get("x-forwarded-proto").unwrap(), "http");
    }
}
