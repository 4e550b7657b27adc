//! What a cache keeps of one response besides its body, one type for every
//! cache built on this crate (the edge's storage and the client's store
//! both keep a [`StoredHead`]), and the borrowed view the decisions read
//! ([`Stored`]).
//!
//! [RFC 9111 §4.2.3] needs two clock readings per stored response (when
//! the request that fetched it was sent, when the response arrived) and
//! §4.1 the request fields its `Vary` names, as the request that chose it
//! had them. Both are kept here, beside the status and header fields.
//!
//! With the `serde` feature a [`StoredHead`] serializes as a plain record:
//! the status as a number, each header map as a list of (lower-case name,
//! value bytes) pairs in map order (repeated names stay separate lines),
//! and the two times as Unix seconds. The order of the record's fields is
//! part of the format: `status`, `headers`, `request_time`,
//! `response_time`, `vary_request`. Deserializing checks every name, value
//! and status, and fails rather than building a head the `http` types
//! would reject.
//!
//! [RFC 9111 §4.1]: https://www.rfc-editor.org/rfc/rfc9111#section-4.1
//! [RFC 9111 §4.2.3]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3

use http::{HeaderMap, StatusCode};

use crate::HttpDate;

/// What a cache knows of one stored response, borrowed: what every
/// decision in [`crate::cache`] reads.
#[derive(Clone, Copy, Debug)]
pub struct Stored<'a> {
    /// Its status.
    pub status: StatusCode,
    /// Its header fields (after any 304 updates).
    pub headers: &'a HeaderMap,
    /// When the request that fetched (or last validated) it was sent.
    pub request_time: HttpDate,
    /// When that response arrived.
    pub response_time: HttpDate,
}

/// One stored response's head: status, header fields, the request fields
/// its `Vary` names, and the two clock readings of [RFC 9111 §4.2.3].
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use revalidate_core::HttpDate;
/// use revalidate_core::cache::StoredHead;
///
/// let mut response = HeaderMap::new();
/// response.insert("vary", "accept-language".parse().unwrap());
/// let mut request = HeaderMap::new();
/// request.insert("accept-language", "de".parse().unwrap());
/// request.insert("user-agent", "curl".parse().unwrap());
///
/// let sent = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
/// let head = StoredHead::new(StatusCode::OK, response, &request, sent, sent);
/// assert_eq!(head.vary_request.len(), 1, "only the field Vary names is kept");
/// assert!(head.vary_matches(&request));
/// ```
///
/// [RFC 9111 §4.2.3]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHead {
    /// Its status.
    pub status: StatusCode,
    /// Its header fields (hop-by-hop fields removed, 304 updates applied).
    pub headers: HeaderMap,
    /// When the request that fetched or last validated it was sent.
    pub request_time: HttpDate,
    /// When that response arrived.
    pub response_time: HttpDate,
    /// The request fields its `Vary` names, as the request that chose it
    /// had them ([`super::vary_request_fields`]).
    pub vary_request: HeaderMap,
}

impl StoredHead {
    /// The head of `response` (status and fields as they will be stored),
    /// chosen by `request`, fetched by a request sent at `request_time`
    /// and received at `response_time`.
    pub fn new(
        status: StatusCode,
        headers: HeaderMap,
        request: &HeaderMap,
        request_time: HttpDate,
        response_time: HttpDate,
    ) -> Self {
        let vary_request = super::vary_request_fields(&headers, request);
        Self {
            status,
            headers,
            request_time,
            response_time,
            vary_request,
        }
    }

    /// The view the decisions read.
    pub fn view(&self) -> Stored<'_> {
        Stored {
            status: self.status,
            headers: &self.headers,
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }

    /// Whether it was selected by a request like `request` (§4.1).
    pub fn vary_matches(&self, request: &HeaderMap) -> bool {
        super::vary_matches(&self.headers, &self.vary_request, request)
    }

    /// Applies a `304` that validated it: the 304's fields update the
    /// stored ones ([`super::update_stored_headers`], §3.2, §4.3.4) and the
    /// clock readings become those of the validation exchange, whose
    /// response now vouches for it (§4.2.3 computes its age from them).
    pub fn freshen(&mut self, not_modified: &HeaderMap, request_time: HttpDate, response_time: HttpDate) {
        super::update_stored_headers(&mut self.headers, not_modified);
        self.request_time = request_time;
        self.response_time = response_time;
    }
}

#[cfg(feature = "serde")]
pub mod fields {
    //! The serde form of a header map inside a [`StoredHead`](super::StoredHead),
    //! for a cache's own records that keep header fields beside it (use with
    //! `#[serde(with = "revalidate_core::cache::stored::fields")]`): a list of
    //! (lower-case name, value bytes) pairs in map order, repeated names as
    //! separate pairs. Reading checks every name and value.

    use http::{HeaderMap, HeaderName, HeaderValue};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `headers` as (name, value bytes) pairs.
    pub fn serialize<S: Serializer>(headers: &HeaderMap, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(headers.len()))?;
        for (name, value) in headers {
            seq.serialize_element(&(name.as_str(), value.as_bytes()))?;
        }
        seq.end()
    }

    /// Reads (name, value bytes) pairs; fails on a name or value the `http`
    /// types reject, or past a header map's capacity.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HeaderMap, D::Error> {
        use serde::de::Error as _;
        let fields = Vec::<(String, Vec<u8>)>::deserialize(deserializer)?;
        // The count comes from the input: a damaged one can name more
        // fields than a `HeaderMap` holds, where `with_capacity` and
        // `append` panic. The capacity is only a hint.
        let mut headers = HeaderMap::try_with_capacity(fields.len()).unwrap_or_default();
        for (name, value) in fields {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(D::Error::custom)?;
            let value = HeaderValue::from_bytes(&value).map_err(D::Error::custom)?;
            headers.try_append(name, value).map_err(D::Error::custom)?;
        }
        Ok(headers)
    }
}

#[cfg(feature = "serde")]
mod wire {
    //! The serde form of a [`StoredHead`] (see the module docs).

    use http::{HeaderMap, StatusCode};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{StoredHead, fields};
    use crate::HttpDate;

    #[derive(Serialize)]
    struct HeadRef<'a> {
        status: u16,
        #[serde(with = "fields")]
        headers: &'a HeaderMap,
        request_time: u64,
        response_time: u64,
        #[serde(with = "fields")]
        vary_request: &'a HeaderMap,
    }

    #[derive(Deserialize)]
    struct HeadOwned {
        status: u16,
        #[serde(with = "fields")]
        headers: HeaderMap,
        request_time: u64,
        response_time: u64,
        #[serde(with = "fields")]
        vary_request: HeaderMap,
    }

    fn time_from<E: serde::de::Error>(seconds: u64) -> Result<HttpDate, E> {
        HttpDate::from_unix_seconds(seconds).ok_or_else(|| E::custom("time past 9999-12-31"))
    }

    impl Serialize for StoredHead {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            HeadRef {
                status: self.status.as_u16(),
                headers: &self.headers,
                request_time: self.request_time.unix_seconds(),
                response_time: self.response_time.unix_seconds(),
                vary_request: &self.vary_request,
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for StoredHead {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let head = HeadOwned::deserialize(deserializer)?;
            Ok(Self {
                status: StatusCode::from_u16(head.status).map_err(D::Error::custom)?,
                headers: head.headers,
                request_time: time_from(head.request_time)?,
                response_time: time_from(head.response_time)?,
                vary_request: head.vary_request,
            })
        }
    }
}
