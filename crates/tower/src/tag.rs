//! Entity-tags: strong ones computed from the bytes of a response, and a
//! response's own `ETag` read back.

use http::header::{CONTENT_ENCODING, CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderValue};
use revalidate_core::EntityTag;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A strong entity-tag for `body`: 32 hex digits of its XXH3-128 hash.
///
/// A strong tag promises that equal tags mean byte-identical
/// representations ([RFC 9110 §8.8.1]). XXH3-128 is not a cryptographic
/// hash, but tags are not a security boundary: a client that forges a
/// collision only gets 304s for its own requests. 128 bits put an
/// accidental collision out of reach for any realistic number of versions.
///
/// `Content-Type` and `Content-Encoding` enter the tag too, so the same
/// bytes sent as another media type or coding get a different tag: they
/// are a different representation. Their 64-bit hash is folded into the
/// body's hash rather than used as its seed: XXH3 derives a 192-byte
/// secret from any non-zero seed for inputs over 240 bytes (about 120
/// instructions per response at 1 KiB). Two tags then collide only where
/// the XOR of the two body hashes equals that of the two metadata hashes:
/// as unlikely as any other 128-bit collision.
///
/// [RFC 9110 §8.8.1]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.1
pub(crate) fn body_tag(body: &[u8], headers: &HeaderMap) -> HeaderValue {
    let hash = xxh3_128(body) ^ u128::from(metadata_hash(headers));
    // `"` + 32 hex digits + `"`: a strong entity-tag written straight into
    // the field value (building an `EntityTag` first costs two more
    // allocations per response, for the same bytes).
    let mut quoted = [b'"'; 34];
    for (i, byte) in hash.to_be_bytes().iter().enumerate() {
        quoted[1 + 2 * i] = HEX[usize::from(byte >> 4)];
        quoted[2 + 2 * i] = HEX[usize::from(byte & 0x0f)];
    }
    HeaderValue::from_bytes(&quoted).expect("quotes and hex digits are valid field-value bytes")
}

fn metadata_hash(headers: &HeaderMap) -> u64 {
    // One pass over the few fields a response has, instead of a hash lookup
    // for each of the two names; the first line of each counts, as with
    // `HeaderMap::get`.
    let (mut content_type, mut content_encoding) = (None, None);
    for (name, value) in headers {
        if *name == CONTENT_TYPE {
            content_type.get_or_insert(value);
        } else if *name == CONTENT_ENCODING {
            content_encoding.get_or_insert(value);
        }
    }
    let content_type = content_type.map_or(&b""[..], HeaderValue::as_bytes);
    match content_encoding {
        None => xxh3_64(content_type),
        Some(coding) => {
            let mut buf = Vec::with_capacity(content_type.len() + coding.len() + 1);
            buf.extend_from_slice(content_type);
            buf.push(0);
            buf.extend_from_slice(coding.as_bytes());
            xxh3_64(&buf)
        }
    }
}

/// The response's entity-tag, when its `ETag` is one line that parses; a
/// field of several lines names no one tag.
pub(crate) fn single_etag(headers: &HeaderMap) -> Option<EntityTag> {
    let mut lines = headers.get_all(ETAG).iter();
    match (lines.next(), lines.next()) {
        (Some(value), None) => EntityTag::from_header(value).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_depends_on_bytes_and_metadata() {
        let json: HeaderMap = [(CONTENT_TYPE, "application/json".parse().expect("valid"))]
            .into_iter()
            .collect();
        let text: HeaderMap = [(CONTENT_TYPE, "text/plain".parse().expect("valid"))]
            .into_iter()
            .collect();
        let a = body_tag(b"{}", &json);
        let parsed = EntityTag::from_header(&a).expect("the core parses it");
        assert!(parsed.is_strong());
        assert_eq!(parsed.opaque().len(), 32);
        assert!(parsed.opaque().iter().all(u8::is_ascii_hexdigit));
        assert_eq!(a, body_tag(b"{}", &json), "deterministic");
        assert_ne!(a, body_tag(b"[]", &json), "bytes");
        assert_ne!(a, body_tag(b"{}", &text), "media type");
        let mut gzip = json.clone();
        gzip.insert(CONTENT_ENCODING, "gzip".parse().expect("valid"));
        assert_ne!(a, body_tag(b"{}", &gzip), "coding");
        let big = vec![b'x'; 4096];
        assert_ne!(
            body_tag(&big, &json),
            body_tag(&big, &text),
            "media type, long body"
        );
    }
}
