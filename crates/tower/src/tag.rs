//! Strong entity-tags computed from the bytes of a response.

use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use xxhash_rust::xxh3::{xxh3_64, xxh3_128_with_seed};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A strong entity-tag for `body`: 32 hex digits of its XXH3-128 hash.
///
/// A strong tag promises that equal tags mean byte-identical
/// representations ([RFC 9110 §8.8.1]). XXH3-128 is not a cryptographic
/// hash, but tags are not a security boundary: a client that forges a
/// collision only gets 304s for its own requests. 128 bits put an
/// accidental collision out of reach for any realistic number of versions.
///
/// `Content-Type` and `Content-Encoding` seed the hash, so the same bytes
/// sent as another media type or coding get a different tag: they are a
/// different representation.
///
/// [RFC 9110 §8.8.1]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.1
pub(crate) fn body_tag(body: &[u8], headers: &HeaderMap) -> HeaderValue {
    let seed = metadata_seed(headers);
    let hash = xxh3_128_with_seed(body, seed);
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

fn metadata_seed(headers: &HeaderMap) -> u64 {
    let content_type = headers.get(CONTENT_TYPE).map_or(&b""[..], |v| v.as_bytes());
    match headers.get(CONTENT_ENCODING) {
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

#[cfg(test)]
mod tests {
    use super::*;

    use revalidate_core::EntityTag;

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
    }
}
