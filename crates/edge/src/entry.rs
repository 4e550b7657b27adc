//! What the proxy keeps in a storage object's `meta` bytes, and the cache
//! keys.
//!
//! Two kinds of object live in the storage:
//!
//! - under the *primary key* (the request target), either the response
//!   itself, when it has no `Vary`, or a [`VaryIndex`] naming the request
//!   fields its `Vary` lists ([RFC 9111 §4.1]);
//! - under `primary key + nonce + secondary key` (see
//!   [`revalidate_core::cache::secondary_key`]), one response per variant.
//!
//! The index's nonce is new each time an index is written from scratch, so
//! removing the primary key (invalidation, §4.4) also orphans every variant
//! stored under the old index: a later index cannot bring them back.
//!
//! [RFC 9111 §4.1]: https://www.rfc-editor.org/rfc/rfc9111#section-4.1

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use revalidate_core::cache::Stored;
use serde::{Deserialize, Serialize};

/// The first byte of every meta blob; a different value is a miss.
const FORMAT: u8 = 1;

/// A stored response's head and clock readings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseMeta {
    /// Its status.
    pub status: StatusCode,
    /// Its header fields (hop-by-hop fields removed, 304 updates applied).
    pub headers: HeaderMap,
    /// When the request that fetched or last validated it was sent (Unix seconds).
    pub request_time: u64,
    /// When that response arrived (Unix seconds).
    pub response_time: u64,
    /// The request fields its `Vary` names, as the request that chose it had them.
    pub vary_request: HeaderMap,
}

impl ResponseMeta {
    /// The core's view of it.
    pub fn stored(&self) -> Stored<'_> {
        Stored {
            status: self.status,
            headers: &self.headers,
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }
}

/// The primary-key object of a response with `Vary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaryIndex {
    /// The `Vary` field value the variants were stored under.
    pub vary: HeaderMap,
    /// Distinguishes this index's variants from those of earlier indexes.
    pub nonce: u64,
}

impl VaryIndex {
    /// An index for a response with these headers (only `Vary` is kept).
    pub fn for_response(response: &HeaderMap) -> Self {
        let mut vary = HeaderMap::new();
        for value in response.get_all(http::header::VARY) {
            vary.append(http::header::VARY, value.clone());
        }
        Self {
            vary,
            nonce: next_nonce(),
        }
    }

    /// Whether a response with these headers can be stored under this
    /// index: it varies on the same fields.
    pub fn same_vary(&self, response: &HeaderMap) -> bool {
        revalidate_core::cache::validate::vary_names(&self.vary)
            == revalidate_core::cache::validate::vary_names(response)
    }

    /// The storage key of the variant `request` selects.
    pub fn variant_key(&self, primary: &str, request: &HeaderMap) -> Option<String> {
        let secondary = revalidate_core::cache::secondary_key(&self.vary, request)?;
        Some(format!("{primary}\n#{:016x}\n{secondary}", self.nonce))
    }
}

/// Nonces only need to differ within one cache directory's life: the clock
/// in microseconds at start plus a counter.
fn next_nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    start.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed) << 20)
}

/// What a meta blob holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meta {
    /// A response.
    Response(ResponseMeta),
    /// The index of a response with `Vary`.
    Vary(VaryIndex),
}

#[derive(Serialize, Deserialize)]
enum Wire {
    Response {
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        request_time: u64,
        response_time: u64,
        vary_request: Vec<(String, Vec<u8>)>,
    },
    Vary {
        vary: Vec<(String, Vec<u8>)>,
        nonce: u64,
    },
}

fn fields_to_wire(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect()
}

fn fields_from_wire(fields: Vec<(String, Vec<u8>)>) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(&value).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

impl Meta {
    /// Encodes it for [`crate::storage::StoredObject::meta`].
    pub fn encode(&self) -> Bytes {
        let wire = match self {
            Self::Response(r) => Wire::Response {
                status: r.status.as_u16(),
                headers: fields_to_wire(&r.headers),
                request_time: r.request_time,
                response_time: r.response_time,
                vary_request: fields_to_wire(&r.vary_request),
            },
            Self::Vary(v) => Wire::Vary {
                vary: fields_to_wire(&v.vary),
                nonce: v.nonce,
            },
        };
        let mut out = vec![FORMAT];
        // Serialising owned strings and byte vectors into a Vec cannot fail.
        out.extend(postcard::to_stdvec(&wire).unwrap_or_default());
        Bytes::from(out)
    }

    /// Decodes meta bytes; `None` for anything this version did not write
    /// (treated as a miss).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        if format != FORMAT {
            return None;
        }
        Some(match postcard::from_bytes::<Wire>(rest).ok()? {
            Wire::Response {
                status,
                headers,
                request_time,
                response_time,
                vary_request,
            } => Self::Response(ResponseMeta {
                status: StatusCode::from_u16(status).ok()?,
                headers: fields_from_wire(headers)?,
                request_time,
                response_time,
                vary_request: fields_from_wire(vary_request)?,
            }),
            Wire::Vary { vary, nonce } => Self::Vary(VaryIndex {
                vary: fields_from_wire(vary)?,
                nonce,
            }),
        })
    }
}

/// The request fields `response`'s `Vary` names, copied from `request`.
pub fn vary_request_fields(response: &HeaderMap, request: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in revalidate_core::cache::validate::vary_names(response).unwrap_or_default() {
        for value in request.get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn meta_round_trips() {
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert("vary", HeaderValue::from_static("accept"));
        let mut vary_request = HeaderMap::new();
        vary_request.insert("accept", HeaderValue::from_static("text/html"));
        let cases = [
            Meta::Response(ResponseMeta {
                status: StatusCode::NOT_FOUND,
                headers: headers.clone(),
                request_time: 10,
                response_time: 11,
                vary_request,
            }),
            Meta::Vary(VaryIndex::for_response(&headers)),
        ];
        for meta in cases {
            assert_eq!(Meta::decode(&meta.encode()), Some(meta));
        }
        assert_eq!(Meta::decode(b""), None);
        assert_eq!(Meta::decode(b"\x02abc"), None);
        assert_eq!(Meta::decode(b"\x01\xff\xff"), None);
    }

    #[test]
    fn variant_keys_differ_by_vary_value_and_nonce() {
        let mut response = HeaderMap::new();
        response.insert("vary", HeaderValue::from_static("Accept-Language"));
        let index = VaryIndex::for_response(&response);
        let other = VaryIndex::for_response(&response);
        let mut fr = HeaderMap::new();
        fr.insert("accept-language", HeaderValue::from_static("fr"));
        let en = HeaderMap::new();
        let key_fr = index.variant_key("/a", &fr).unwrap();
        assert_ne!(key_fr, index.variant_key("/a", &en).unwrap());
        assert_ne!(key_fr, other.variant_key("/a", &fr).unwrap());
        assert!(index.same_vary(&response));
        assert!(!index.same_vary(&HeaderMap::new()));
    }
}
