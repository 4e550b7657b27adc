//! What the proxy keeps in a storage object's `meta` bytes, and what a
//! lookup derives from them once ([`DecodedEntry`], kept with the object in
//! the storage's slot for it, [`crate::storage::StoredObject::derived`]:
//! the speed-up cache that spares a hit decoding them). The keys are built
//! elsewhere: the primary key by [`crate::decide::primary_key`], the
//! secondary key by the core; a [`VaryIndex`] only joins them into the
//! storage key of a variant.
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
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::HeaderMap;
use revalidate_core::cache::{
    CacheConfig, Freshness, Reuse, StoredHead, freshness, reuse_decision_with, stored_validators,
};
use revalidate_core::{HttpDate, Validators};
use serde::{Deserialize, Serialize};

/// The first byte of every meta blob; a different value is a miss.
const FORMAT: u8 = 1;

/// A stored response with what one edge derives from it while it is
/// stored: the core's validators and freshness for it, and the header sets
/// it was last sent with as a plain hit. Built once per stored
/// object (kept with it as its [`DecodedEntry`]) or
/// per refresh, so that a hit neither decodes the meta bytes nor reparses
/// `Date`, `Last-Modified` and `Cache-Control` for these.
///
/// The lifetime and the header sets depend on the edge's configuration
/// (cache name, `CDN-Cache-Control`), so an entry records which edge built
/// it ([`ResponseEntry::built_by`]); another edge sharing the storage
/// builds its own.
#[derive(Debug)]
pub struct ResponseEntry {
    /// The response's head.
    pub head: StoredHead,
    /// [`stored_validators`] of it: what the client's conditionals are
    /// evaluated against.
    pub validators: Validators,
    /// Its freshness ([RFC 9111 §4.2]) under the building edge's
    /// configuration when it arrived (`response_time`): the lifetime and
    /// directives hold while it is stored, and the age at any later time
    /// is [`Freshness::after`] the resident time ([`Self::freshness_at`]).
    ///
    /// [RFC 9111 §4.2]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2
    pub freshness_on_arrival: Freshness,
    /// The edge that built it.
    edge: EdgeId,
    hit_headers: Mutex<HitHeaders>,
}

/// The header sets of plain hits within one second of age; see
/// [`ResponseEntry::hit_headers`].
#[derive(Debug, Default)]
struct HitHeaders {
    age: u64,
    sets: [Option<HeaderMap>; 2],
}

/// Which plain-hit answer a header set is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitAnswer {
    /// The stored response, whole (`GET` or `HEAD`).
    Full,
    /// `304 Not Modified` for the client's own conditional.
    NotModified,
}

impl ResponseEntry {
    /// `head` with its validators and its lifetime under `config`, for
    /// `edge`.
    pub fn new(head: StoredHead, config: &CacheConfig, edge: EdgeId) -> Self {
        let stored = head.view();
        let validators = stored_validators(&stored);
        let freshness_on_arrival = freshness(config, &stored, head.response_time);
        Self {
            head,
            validators,
            freshness_on_arrival,
            edge,
            hit_headers: Mutex::new(HitHeaders::default()),
        }
    }

    /// Its freshness at `now`, without reading its header fields again.
    pub fn freshness_at(&self, now: HttpDate) -> Freshness {
        self.freshness_on_arrival
            .after(now.seconds_since(self.head.response_time))
    }

    /// Its current age ([RFC 9111 §4.2.3]) at `now`.
    ///
    /// [RFC 9111 §4.2.3]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3
    pub fn age_at(&self, now: HttpDate) -> u64 {
        self.freshness_on_arrival
            .age
            .saturating_add(now.seconds_since(self.head.response_time))
    }

    /// The core's reuse decision for `request` at `now` under `config` (the
    /// building edge's), from the freshness worked out on arrival.
    pub fn reuse_decision(&self, config: &CacheConfig, request: &HeaderMap, now: HttpDate) -> Reuse {
        reuse_decision_with(config, &self.head.view(), &self.freshness_at(now), request)
    }

    /// Whether `edge` built it.
    pub fn built_by(&self, edge: EdgeId) -> bool {
        self.edge == edge
    }

    /// The client's header set for a plain hit (`Cache-Status: <name>; hit;
    /// ttl=…`, nothing else varying) answered with `answer` at this `age`:
    /// `build`'s result, kept until the age changes. Within one second
    /// every such hit gets the same fields (`Age`, the `ttl` and the rest
    /// follow from the age), so a hot entry builds them once a second.
    pub fn hit_headers(&self, age: u64, answer: HitAnswer, build: impl FnOnce() -> HeaderMap) -> HeaderMap {
        let mut memo = self.hit_headers.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.age != age {
            *memo = HitHeaders {
                age,
                sets: [None, None],
            };
        }
        memo.sets[answer as usize].get_or_insert_with(build).clone()
    }
}

/// Which edge of this process built a [`ResponseEntry`].
///
/// Several [`crate::Edge`]s can share one storage (a storage handle is a
/// cheap clone, and nothing stops two edges with different cache names or
/// `CDN-Cache-Control` settings from being built over it), but the entry
/// kept with a stored object holds one edge's lifetime and header sets. So
/// an edge uses a kept entry only if it built it, and decodes its own
/// (without keeping it) otherwise. Checking this costs one comparison per
/// hit; keying the kept entry by configuration instead would have to
/// compare every setting that shapes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EdgeId(u64);

impl EdgeId {
    /// An id no other edge of this process has.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What the proxy makes of a storage object's meta bytes: [`Meta`] with
/// a response's derived values.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A response.
    Response(Arc<ResponseEntry>),
    /// The index of a response with `Vary`.
    Vary(VaryIndex),
}

/// What the proxy keeps with each stored object, the `D` of its storage
/// ([`crate::storage::StoredObject::derived`]): the object's meta bytes
/// decoded on its first lookup, `None` if they do not decode (a miss on
/// every lookup, without decoding again). A response entry is the
/// decoding edge's ([`EdgeId`]); a `Vary` index is the same for every edge.
pub type DecodedEntry = Option<Entry>;

impl Entry {
    /// Decodes meta bytes ([`Meta::decode`]) for `edge` with `config`;
    /// `None` for anything this version did not write.
    pub fn decode(bytes: &[u8], config: &CacheConfig, edge: EdgeId) -> Option<Self> {
        Some(match Meta::decode(bytes)? {
            Meta::Response(meta) => Self::Response(Arc::new(ResponseEntry::new(meta, config, edge))),
            Meta::Vary(index) => Self::Vary(index),
        })
    }
}

/// The primary-key object of a response with `Vary`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaryIndex {
    /// The `Vary` field value the variants were stored under.
    #[serde(with = "revalidate_core::cache::stored::fields")]
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

/// What a meta blob holds after its format byte, in postcard.
///
/// A response's head has the core's serde form (a record of status,
/// fields, the two times in Unix seconds and the `Vary` request fields),
/// which postcard writes exactly as the struct variant with the same fields
/// inline that format 1 had before the head moved to the core, so blobs
/// written then still decode
/// (`meta_written_before_the_head_moved_to_the_core_still_decodes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Meta {
    /// A response's head.
    Response(StoredHead),
    /// The index of a response with `Vary`.
    Vary(VaryIndex),
}

impl Meta {
    /// Encodes it for [`crate::storage::StoredObject::meta`].
    pub fn encode(&self) -> Bytes {
        let mut out = vec![FORMAT];
        // Serialising header maps, numbers and strings into a Vec cannot fail.
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        Bytes::from(out)
    }

    /// Decodes meta bytes; `None` for anything this version did not write
    /// or that does not decode into valid fields (treated as a miss).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        if format != FORMAT {
            return None;
        }
        postcard::from_bytes(rest).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http::{HeaderValue, StatusCode};

    use super::*;

    fn at(seconds: u64) -> HttpDate {
        HttpDate::from_unix_seconds(seconds).unwrap()
    }

    fn head(
        status: StatusCode,
        headers: HeaderMap,
        times: (u64, u64),
        vary_request: HeaderMap,
    ) -> StoredHead {
        StoredHead {
            status,
            headers,
            request_time: at(times.0),
            response_time: at(times.1),
            vary_request,
        }
    }

    /// Format 1 as it was written before the head moved to the core, with
    /// its fields inline: the layout blobs already on disk have.
    #[derive(Serialize)]
    enum Format1 {
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

    fn format_1_blob(wire: &Format1) -> Vec<u8> {
        let mut out = vec![FORMAT];
        out.extend(postcard::to_stdvec(wire).unwrap());
        out
    }

    fn pairs(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn meta_written_before_the_head_moved_to_the_core_still_decodes() {
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert("vary", HeaderValue::from_static("accept"));
        let mut vary_request = HeaderMap::new();
        vary_request.insert("accept", HeaderValue::from_static("text/html"));
        let response = Meta::Response(head(
            StatusCode::OK,
            headers.clone(),
            (10, 11),
            vary_request.clone(),
        ));
        let old_response = format_1_blob(&Format1::Response {
            status: 200,
            headers: pairs(&headers),
            request_time: 10,
            response_time: 11,
            vary_request: pairs(&vary_request),
        });
        let index = VaryIndex::for_response(&headers);
        let old_index = format_1_blob(&Format1::Vary {
            vary: pairs(&index.vary),
            nonce: index.nonce,
        });
        for (old, meta) in [(old_response, response), (old_index, Meta::Vary(index))] {
            assert_eq!(Meta::decode(&old).as_ref(), Some(&meta));
            assert_eq!(
                meta.encode().as_ref(),
                old.as_slice(),
                "written byte for byte as before"
            );
        }
    }

    #[test]
    fn meta_round_trips() {
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert("vary", HeaderValue::from_static("accept"));
        let mut vary_request = HeaderMap::new();
        vary_request.insert("accept", HeaderValue::from_static("text/html"));
        let cases = [
            Meta::Response(head(
                StatusCode::NOT_FOUND,
                headers.clone(),
                (10, 11),
                vary_request,
            )),
            Meta::Vary(VaryIndex::for_response(&headers)),
        ];
        for meta in cases {
            assert_eq!(Meta::decode(&meta.encode()), Some(meta));
        }
        assert_eq!(Meta::decode(b""), None);
        assert_eq!(Meta::decode(b"\x02abc"), None);
        assert_eq!(Meta::decode(b"\x01\xff\xff"), None);
    }

    /// Found by `fuzz/` (target `edge_meta`, `fuzz/regressions/edge_meta/`):
    /// a blob whose field count is past what a `HeaderMap` can hold made
    /// `HeaderMap::with_capacity` panic instead of being a miss.
    #[test]
    fn a_meta_blob_naming_more_fields_than_a_header_map_holds_decodes_without_a_panic() {
        let blob = |headers: Vec<(String, Vec<u8>)>| {
            format_1_blob(&Format1::Response {
                status: 200,
                headers,
                request_time: 1,
                response_time: 2,
                vary_request: Vec::new(),
            })
        };
        // Empty names: invalid, so a miss.
        assert_eq!(
            Meta::decode(&blob(vec![(String::new(), Vec::new()); 30_000])),
            None
        );
        // Valid, distinct names, more than a map's 32768 entries: a miss.
        let distinct = (0..40_000).map(|i| (format!("x-{i}"), b"v".to_vec())).collect();
        assert_eq!(Meta::decode(&blob(distinct)), None);
        // Many values of one name fit: that response round-trips.
        let repeated = vec![("set-cookie".to_owned(), b"a=1".to_vec()); 30_000];
        let Some(Meta::Response(meta)) = Meta::decode(&blob(repeated)) else {
            panic!("30 000 lines of one field are a valid response");
        };
        assert_eq!(meta.headers.get_all("set-cookie").iter().count(), 30_000);
    }

    #[test]
    fn the_entry_reuse_decision_is_the_cores_for_every_request_and_second() {
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", HeaderValue::from_static("max-age=10"));
        let meta = head(StatusCode::OK, headers, (100, 100), HeaderMap::new());
        let config = CacheConfig::shared();
        let entry = ResponseEntry::new(meta, &config, EdgeId(1));
        assert_eq!(entry.freshness_on_arrival.lifetime, 10);
        let plain = HeaderMap::new();
        let mut no_cache = HeaderMap::new();
        no_cache.insert("cache-control", HeaderValue::from_static("no-cache"));
        let mut max_age_1 = HeaderMap::new();
        max_age_1.insert("cache-control", HeaderValue::from_static("max-age=1"));
        let mut pragma = HeaderMap::new();
        pragma.insert("pragma", HeaderValue::from_static("no-cache"));
        // (now, request, decision): each row's answer must be the core's own
        // for that request and second, whatever was kept before it.
        let rows = [
            (103, &plain, Reuse::Fresh { age: 3 }),
            (103, &no_cache, Reuse::Revalidate),
            (103, &max_age_1, Reuse::Revalidate),
            (103, &pragma, Reuse::Revalidate),
            (103, &plain, Reuse::Fresh { age: 3 }),
            (104, &plain, Reuse::Fresh { age: 4 }),
            (111, &plain, Reuse::Revalidate),
        ];
        for (row, (now, request, decision)) in rows.into_iter().enumerate() {
            let core = revalidate_core::cache::reuse_decision(&config, &entry.head.view(), request, at(now));
            assert_eq!(core, decision, "row {row}: the table itself");
            assert_eq!(
                entry.reuse_decision(&config, request, at(now)),
                decision,
                "row {row}"
            );
        }
    }

    #[test]
    fn hit_headers_are_built_once_per_age_and_answer() {
        let meta = head(StatusCode::OK, HeaderMap::new(), (10, 10), HeaderMap::new());
        let entry = ResponseEntry::new(meta, &CacheConfig::shared(), EdgeId(7));
        assert!(entry.built_by(EdgeId(7)) && !entry.built_by(EdgeId(8)));
        let built = std::cell::Cell::new(0);
        let build = |label: &'static str| {
            built.set(built.get() + 1);
            let mut headers = HeaderMap::new();
            headers.insert("x-built", HeaderValue::from_static(label));
            headers
        };
        // (age, answer, what a build would make, what is served)
        let rows = [
            (1, HitAnswer::Full, "full 1", "full 1"),
            (1, HitAnswer::Full, "full 1 again", "full 1"),
            (1, HitAnswer::NotModified, "304 1", "304 1"),
            (2, HitAnswer::Full, "full 2", "full 2"),
            (2, HitAnswer::NotModified, "304 2", "304 2"),
            (2, HitAnswer::NotModified, "304 2 again", "304 2"),
            (1, HitAnswer::Full, "full 1 later", "full 1 later"),
        ];
        for (row, (age, answer, label, served)) in rows.into_iter().enumerate() {
            let headers = entry.hit_headers(age, answer, || build(label));
            assert_eq!(headers.get("x-built").unwrap(), served, "row {row}");
        }
        assert_eq!(built.get(), 5);
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
