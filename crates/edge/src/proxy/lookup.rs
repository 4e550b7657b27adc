//! A `GET`/`HEAD` as the proxy sees it ([`Ask`]), and finding the stored
//! response it selects: the primary key, then
//! the variant its `Vary` index names, each object's meta bytes decoded
//! once and kept with it; and a flight's product as the answer to a request
//! that waited for it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode, Uri};
use revalidate_core::HttpDate;
use revalidate_listener::access_log::Upstream;

use super::setup::Edge;
use crate::entry::{DecodedEntry, Entry, ResponseEntry, VaryIndex};
use crate::flight::Product;
use crate::metrics::Outcome;
use crate::storage::{ObjectLookup, Storage, StoredObject};

/// One `GET`/`HEAD` as the proxy sees it.
#[derive(Clone, Debug)]
pub(super) struct Ask {
    /// Its method (`GET` or `HEAD`; a background refresh is a `GET`).
    pub(super) method: Method,
    /// Its target.
    pub(super) uri: Uri,
    /// Its fields.
    pub(super) headers: HeaderMap,
    /// The client's address, for `X-Forwarded-For`.
    pub(super) peer: Option<IpAddr>,
    /// Its primary cache key ([`crate::decide::primary_key`]).
    pub(super) key: String,
    /// When the request arrived: the clock reading its
    /// first lookup is judged at.
    pub(super) arrived_at: HttpDate,
    /// When the request arrived, by the monotonic clock: the start of its
    /// `revalidate_edge_request_duration_seconds` sample.
    pub(super) arrived: Instant,
    /// A background refresh: no client waits, nothing is counted as a request.
    pub(super) background: bool,
    /// What the access log will say of it.
    pub(super) logged: LogSlot,
}

/// What the access log says of a request the cache handled: its
/// [`Outcome`], the origin's status and how long the origin took to
/// answer its head. Written as the request is answered (relaxed stores
/// into the request's own value: no allocation, no shared line), read
/// once when its response leaves.
#[derive(Debug, Default)]
pub(super) struct LogSlot {
    /// The outcome's index plus one; 0: none yet.
    outcome: AtomicU8,
    /// 0: the origin was not asked.
    origin_status: AtomicU16,
    /// Microseconds plus one; 0: not timed.
    origin_micros: AtomicU64,
}

impl Clone for LogSlot {
    /// A copy is another request (a background refresh): it starts empty.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl LogSlot {
    pub(super) fn outcome(&self, outcome: Outcome) {
        self.outcome.store(outcome as u8 + 1, Ordering::Relaxed);
    }

    pub(super) fn origin_status(&self, status: StatusCode) {
        self.origin_status.store(status.as_u16(), Ordering::Relaxed);
    }

    pub(super) fn origin_time(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX - 1);
        self.origin_micros.store(micros + 1, Ordering::Relaxed);
    }

    /// The extension the access log reads.
    pub(super) fn upstream(&self) -> Upstream {
        let outcome = self.outcome.load(Ordering::Relaxed);
        let status = self.origin_status.load(Ordering::Relaxed);
        let micros = self.origin_micros.load(Ordering::Relaxed);
        Upstream {
            cache: outcome
                .checked_sub(1)
                .and_then(|i| Outcome::from_index(usize::from(i)))
                .map_or("-", Outcome::label),
            status: (status != 0).then_some(status),
            duration: micros.checked_sub(1).map(Duration::from_micros),
        }
    }
}

/// A stored response that matches the request.
#[derive(Clone, Debug)]
pub(super) struct Found {
    /// Where it is stored: the primary key, or its variant key.
    pub(super) storage_key: String,
    /// What the edge derived from its meta bytes.
    pub(super) entry: Arc<ResponseEntry>,
    /// The stored object (the body).
    pub(super) object: Arc<StoredObject<DecodedEntry>>,
    /// The `Vary` index it was found through, if any.
    pub(super) index: Option<VaryIndex>,
}

/// What a lookup found.
pub(super) enum Lookup {
    /// The stored response the request selects.
    Found(Found),
    /// The primary key holds a `Vary` index but not this request's variant.
    VaryMiss(VaryIndex),
    /// Nothing stored for the request.
    Miss,
}

/// A lookup half done: the answer, or the variant key still to look up.
enum Step {
    Done(Lookup),
    Variant(String, VaryIndex),
}

impl Edge {
    /// The stored response `ask` selects ([RFC 9111 §4.1]: its `Vary`
    /// fields match), the `Vary` index without it, or nothing.
    ///
    /// [RFC 9111 §4.1]: https://www.rfc-editor.org/rfc/rfc9111#section-4.1
    pub(super) async fn lookup(&self, ask: &Ask) -> Lookup {
        match self.primary(ask, self.get(&ask.key).await) {
            Step::Done(lookup) => lookup,
            Step::Variant(key, index) => {
                let variant = self.get(&key).await;
                Self::variant(ask, key, index, variant)
            }
        }
    }

    /// [`Self::lookup`] without waiting, when the objects it needs are in
    /// memory; `None` when only the disk tier can tell. A hit is answered
    /// through it, so that it never builds the state of a request that
    /// waits (for the disk, the origin or another request's fetch).
    pub(super) fn lookup_in_memory(&self, ask: &Ask) -> Option<Lookup> {
        match self.primary(ask, self.get_in_memory(&ask.key)?) {
            Step::Done(lookup) => Some(lookup),
            Step::Variant(key, index) => {
                let variant = self.get_in_memory(&key)?;
                Some(Self::variant(ask, key, index, variant))
            }
        }
    }

    /// What the object under the primary key says for `ask`.
    fn primary(&self, ask: &Ask, stored: Option<(Entry, Arc<StoredObject<DecodedEntry>>)>) -> Step {
        match stored {
            None => Step::Done(Lookup::Miss),
            Some((Entry::Response(entry), object)) if entry.head.vary_matches(&ask.headers) => {
                Step::Done(Lookup::Found(Found {
                    storage_key: ask.key.clone(),
                    entry,
                    object,
                    index: None,
                }))
            }
            Some((Entry::Response(_), _)) => Step::Done(Lookup::Miss),
            Some((Entry::Vary(index), _)) => match index.variant_key(&ask.key, &ask.headers) {
                Some(variant) => Step::Variant(variant, index),
                None => Step::Done(Lookup::Miss),
            },
        }
    }

    /// What the object under `key`, the variant `index` names for `ask`, says.
    fn variant(
        ask: &Ask,
        key: String,
        index: VaryIndex,
        stored: Option<(Entry, Arc<StoredObject<DecodedEntry>>)>,
    ) -> Lookup {
        match stored {
            Some((Entry::Response(entry), object)) if entry.head.vary_matches(&ask.headers) => {
                Lookup::Found(Found {
                    storage_key: key,
                    entry,
                    object,
                    index: Some(index),
                })
            }
            _ => Lookup::VaryMiss(index),
        }
    }

    /// The object under `key` and what its meta bytes say, decoded on the
    /// object's first lookup and kept with it.
    async fn get(&self, key: &str) -> Option<(Entry, Arc<StoredObject<DecodedEntry>>)> {
        self.got(key, self.inner.storage.get(key).await)
    }

    /// [`Self::get`] when memory can answer; `None` when only the disk can.
    fn get_in_memory(&self, key: &str) -> Option<Option<(Entry, Arc<StoredObject<DecodedEntry>>)>> {
        Some(self.got(key, self.inner.storage.get_in_memory(key)?))
    }

    /// A storage answer as an entry and its object.
    fn got(
        &self,
        key: &str,
        result: ObjectLookup<DecodedEntry>,
    ) -> Option<(Entry, Arc<StoredObject<DecodedEntry>>)> {
        match result {
            Ok(Some(object)) => Some((self.entry_of(&object)?, object)),
            Ok(None) => None,
            Err(e) => {
                // A storage fault is a miss, never an error for the client.
                tracing::warn!(error = %e, key, "cache lookup failed");
                None
            }
        }
    }

    /// What a stored object's meta bytes say, decoded on the object's first
    /// lookup and kept with it. A response entry another edge over the same
    /// storage kept is decoded again for this one, and not kept
    /// ([`crate::entry::EdgeId`]).
    fn entry_of(&self, object: &StoredObject<DecodedEntry>) -> Option<Entry> {
        let (cache, id) = (self.cache_for_key(&object.url), self.inner.id);
        match object.derived(|object| Entry::decode(&object.meta, cache, id)) {
            Some(Entry::Response(entry)) if !entry.built_by(id) => Entry::decode(&object.meta, cache, id),
            decoded => decoded.clone(),
        }
    }

    /// A flight's product as the answer to `ask`, if it is the variant
    /// `ask` selects.
    pub(super) fn product_for(&self, ask: &Ask, product: Product) -> Option<Found> {
        let entry = match product.entry {
            Some(entry) => entry,
            None => match self.entry_of(&product.object)? {
                Entry::Response(entry) => entry,
                Entry::Vary(_) => return None,
            },
        };
        entry.head.vary_matches(&ask.headers).then(|| Found {
            storage_key: product.storage_key,
            entry,
            object: product.object,
            index: None,
        })
    }
}
