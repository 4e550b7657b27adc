//! Content-coded variants: the tag of each coding, `Vary:
//! accept-encoding`, the request's `Accept-Encoding`, and a client's tag of
//! a coded variant recognised before the handler runs.
//!
//! A compression layer below the [`ConditionalLayer`](crate::ConditionalLayer)
//! sends identity and coded bytes under one URL; these functions keep their
//! tags apart ([RFC 9110 §8.8.3.3]) and let a client's coded tag round-trip.
//!
//! [RFC 9110 §8.8.3.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.3

use http::header::{CONTENT_ENCODING, ETAG, VARY};
use http::{HeaderMap, HeaderValue, Method};
use revalidate_core::accept_encoding::AcceptEncoding;
use revalidate_core::{EntityTag, EntityTagList, Preconditions};

use crate::tag::single_etag;

/// Whether `Content-Encoding` names a coding other than `identity`.
pub(crate) fn is_content_coded(headers: &HeaderMap) -> bool {
    headers.get_all(CONTENT_ENCODING).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"))
    })
}

/// The content codings of a response, lowercased, in the order applied.
fn codings(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        for coding in value.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if coding.is_empty() || coding.eq_ignore_ascii_case(b"identity") {
                continue;
            }
            out.push(String::from_utf8_lossy(coding).to_ascii_lowercase());
        }
    }
    out
}

/// The entity-tag of a content-coded variant, given the tag of the
/// identity representation: `"<opaque>-<coding>"`, several codings joined
/// by `+`, weakness kept.
///
/// [RFC 9110 §8.8.3.3] gives the reason: "a server might use different
/// entity tags for representations that differ only by content coding";
/// identity and gzip bytes differ, so a strong tag shared by both would
/// let a cache splice ranges across them or answer 304 for the wrong one.
///
/// `None` when a coding name cannot appear in an entity-tag.
///
/// [RFC 9110 §8.8.3.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.3
pub(crate) fn coded_tag(identity: &EntityTag, codings: &[String]) -> Option<EntityTag> {
    if codings.is_empty() {
        return Some(identity.clone());
    }
    // DEVIATION(coded-tag): the coded variant's tag is derived from the
    // identity tag, not hashed from the coded bytes, which the layer never
    // holds; it is strong only while the compression settings stay fixed.
    let mut opaque = identity.opaque().to_vec();
    opaque.push(b'-');
    opaque.extend_from_slice(codings.join("+").as_bytes());
    if identity.is_weak() {
        EntityTag::weak(opaque).ok()
    } else {
        EntityTag::strong(opaque).ok()
    }
}

/// Rewrites the `ETag` of a response whose tag names the identity bytes
/// to the tag of the coding actually sent, and makes sure `Vary` names
/// `Accept-Encoding` on coded responses, and on identity ones too when
/// `vary_identity` (a compression layer is known to sit below): the same
/// URL has variants per coding ([RFC 9110 §12.5.5]).
///
/// A tag that cannot carry the coding's name is removed rather than kept:
/// no tag is better than one that two different byte sequences share.
///
/// [RFC 9110 §12.5.5]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
pub(crate) fn tag_for_coding(headers: &mut HeaderMap, vary_identity: bool) {
    let codings = codings(headers);
    let coded = !codings.is_empty();
    if coded {
        let identity = single_etag(headers);
        match identity.as_ref().and_then(|tag| coded_tag(tag, &codings)) {
            Some(tag) => {
                headers.insert(ETAG, tag.to_header_value());
            }
            None => {
                headers.remove(ETAG);
            }
        }
    }
    if coded || vary_identity {
        ensure_vary_accept_encoding(headers);
    }
}

/// Adds `Vary: accept-encoding` unless `Vary` already names it or is `*`.
///
/// `revalidate_core::cache` reads `Vary` for caches but does not export its
/// reader; the list syntax is simple enough to scan here.
pub(crate) fn ensure_vary_accept_encoding(headers: &mut HeaderMap) {
    let covered = headers.get_all(VARY).iter().any(|line| {
        line.as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|name| name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !covered {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// Codings whose names a client may find appended to a tag
/// ([IANA HTTP Content Coding Registry]).
///
/// [IANA HTTP Content Coding Registry]: https://www.iana.org/assignments/http-parameters/http-parameters.xhtml#content-coding
const KNOWN_CODINGS: &[&str] = &[
    "gzip",
    "x-gzip",
    "br",
    "zstd",
    "deflate",
    "compress",
    "x-compress",
    "dcb",
    "dcz",
    "aes128gcm",
    "exi",
    "pack200-gzip",
];

/// If `candidate` is `identity`'s tag with codings appended (as
/// [`coded_tag`] makes them), those codings.
fn coding_suffix<'a>(identity: &EntityTag, candidate: &'a EntityTag) -> Option<Vec<&'a str>> {
    let rest = candidate
        .opaque()
        .strip_prefix(identity.opaque())?
        .strip_prefix(b"-")?;
    let rest = std::str::from_utf8(rest).ok()?;
    let codings: Vec<&str> = rest.split('+').collect();
    codings
        .iter()
        .all(|c| KNOWN_CODINGS.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .then_some(codings)
}

/// Whether the request's `Accept-Encoding` accepts `coding` with a
/// non-zero weight ([RFC 9110 §12.5.3], read by the core). A request without the field is
/// taken as wanting identity, as compression layers treat it.
///
/// [RFC 9110 §12.5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
pub(crate) fn accepts_coding(request: &HeaderMap, coding: &str) -> bool {
    AcceptEncoding::from_headers(request).weight(coding).accepts()
}

/// Which tag stands for the current representation when a [`Lookup`]
/// answered with the identity validators and a compression layer below
/// may send a coded variant.
///
/// The client may hold a coded variant's tag (`"v-gzip"`), which the
/// plain evaluation against `"v"` would not recognise:
/// - for GET and HEAD, an `If-None-Match` tag naming a coding this request
///   accepts stands for the current representation, and the 304 carries
///   it, telling the cache which stored variant to reuse ([RFC 9111
///   §4.3.4]);
/// - for other methods, a tag naming any coding of the current
///   representation proves the client saw the current state.
///
/// `None` when no request tag names a coded variant of `current`.
///
/// [`Lookup`]: crate::Lookup
/// [RFC 9111 §4.3.4]: https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4
pub(crate) fn variant_in_request(
    current: &EntityTag,
    pre: &Preconditions,
    method: &Method,
    request: &HeaderMap,
) -> Option<EntityTag> {
    let safe = matches!(*method, Method::GET | Method::HEAD);
    let lists = if safe {
        [pre.if_none_match(), None]
    } else {
        [pre.if_match(), pre.if_none_match()]
    };
    for list in lists.into_iter().flatten() {
        let Ok(EntityTagList::Tags(tags)) = list else {
            continue;
        };
        for tag in tags {
            let Some(codings) = coding_suffix(current, &tag) else {
                continue;
            };
            // DEVIATION(variant-304): before the handler, the coding the
            // compression layer will choose is unknown; any coding this
            // request accepts stands for the selected representation.
            if !safe || codings.iter().all(|c| accepts_coding(request, c)) {
                let variant = if current.is_weak() {
                    EntityTag::weak(tag.opaque())
                } else {
                    EntityTag::strong(tag.opaque())
                };
                return variant.ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request or response fields of a table row.
    type Fields<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Fields<'_>) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        h
    }

    #[test]
    fn coded_tags_differ_per_coding_and_keep_weakness() {
        let strong = EntityTag::strong("abc").expect("valid");
        let weak = EntityTag::weak("abc").expect("valid");
        let gzip = coded_tag(&strong, &["gzip".into()]).expect("tag");
        let br = coded_tag(&strong, &["br".into()]).expect("tag");
        assert_eq!(gzip.to_string(), "\"abc-gzip\"");
        assert_ne!(gzip, br);
        assert_eq!(
            coded_tag(&weak, &["gzip".into(), "br".into()])
                .expect("tag")
                .to_string(),
            "W/\"abc-gzip+br\""
        );
        assert_eq!(coded_tag(&strong, &[]), Some(strong.clone()));
        assert_eq!(coded_tag(&strong, &["bad\"coding".into()]), None);
    }

    #[test]
    fn tag_for_coding_rewrites_and_varies() {
        let mut coded = headers(&[("etag", "\"h\""), ("content-encoding", "gzip")]);
        tag_for_coding(&mut coded, false);
        assert_eq!(coded["etag"], "\"h-gzip\"");
        assert_eq!(coded["vary"], "accept-encoding");

        let mut identity = headers(&[("etag", "\"h\""), ("vary", "Accept-Encoding")]);
        tag_for_coding(&mut identity, true);
        assert_eq!(identity["etag"], "\"h\"");
        assert_eq!(identity.get_all("vary").iter().count(), 1);

        let mut star = headers(&[("etag", "\"h\""), ("vary", "*")]);
        tag_for_coding(&mut star, true);
        assert_eq!(star.get_all("vary").iter().count(), 1);

        let mut listed = headers(&[("etag", "\"h\""), ("vary", "origin, accept-encoding")]);
        tag_for_coding(&mut listed, true);
        assert_eq!(listed.get_all("vary").iter().count(), 1);

        let mut plain = headers(&[("etag", "\"h\"")]);
        tag_for_coding(&mut plain, false);
        assert!(plain.get("vary").is_none(), "no compression below: no Vary");
        tag_for_coding(&mut plain, true);
        assert_eq!(plain["vary"], "accept-encoding");
    }

    #[test]
    fn accept_encoding_weights() {
        #[rustfmt::skip]
        let cases: &[(Fields<'_>, &str, bool)] = &[
            (&[], "gzip", false),
            (&[("accept-encoding", "gzip")], "gzip", true),
            (&[("accept-encoding", "GZIP;q=0.5")], "gzip", true),
            (&[("accept-encoding", "gzip;q=0")], "gzip", false),
            (&[("accept-encoding", "br, gzip;q=0")], "gzip", false),
            (&[("accept-encoding", "*")], "br", true),
            (&[("accept-encoding", "*, br;q=0")], "br", false),
            (&[("accept-encoding", "x-gzip")], "gzip", true),
            (&[("accept-encoding", "identity")], "gzip", false),
            (&[("accept-encoding", "deflate"), ("accept-encoding", "gzip")], "gzip", true),
        ];
        for (fields, coding, expected) in cases {
            assert_eq!(
                accepts_coding(&headers(fields), coding),
                *expected,
                "{fields:?} {coding}"
            );
        }
    }

    #[test]
    fn variant_in_request_table() {
        let current = EntityTag::strong("v1").expect("valid");
        let gzip_ae = headers(&[("accept-encoding", "gzip")]);
        #[rustfmt::skip]
        let cases: &[(&str, Method, Fields<'_>, Option<&str>)] = &[
            ("inm_gzip_accepted", Method::GET, &[("if-none-match", "\"v1-gzip\"")], Some("\"v1-gzip\"")),
            ("inm_br_not_accepted", Method::GET, &[("if-none-match", "\"v1-br\"")], None),
            ("inm_plain_is_not_a_variant", Method::GET, &[("if-none-match", "\"v1\"")], None),
            ("inm_other_resource", Method::GET, &[("if-none-match", "\"v2-gzip\"")], None),
            ("inm_unknown_suffix", Method::GET, &[("if-none-match", "\"v1-old\"")], None),
            ("if_match_any_coding", Method::PUT, &[("if-match", "\"v1-br\"")], Some("\"v1-br\"")),
            ("if_match_stale", Method::PUT, &[("if-match", "\"v0-gzip\"")], None),
            ("weak_request_tag", Method::GET, &[("if-none-match", "W/\"v1-gzip\"")], Some("\"v1-gzip\"")),
        ];
        for (name, method, fields, expected) in cases {
            let mut request = headers(fields);
            request.extend(gzip_ae.clone());
            let pre = Preconditions::from_headers(&request);
            let got = variant_in_request(&current, &pre, method, &request).map(|t| t.to_string());
            assert_eq!(got.as_deref(), *expected, "{name}");
        }
    }
}
