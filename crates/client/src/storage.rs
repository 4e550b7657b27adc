//! Where cached responses live: the [`CacheStorage`] trait, the bounded
//! [`MemoryCache`] (the default) and, with the `disk` feature,
//! [`DiskCache`](crate::disk::DiskCache).
//!
//! A cache storage maps a *primary cache key* ([RFC 9111 §4.1]: the method and
//! target URI; this client only stores `GET`, so it is the URI) to the
//! stored responses for that key — more than one when the responses carry
//! `Vary` and different requests selected different variants. Choosing
//! among them is the client's job, not the storage's.
//!
//! A cache storage is a cache: losing an entry is always allowed, so reads and
//! writes do not fail — an entry that cannot be read is a miss, and a write
//! that cannot be made is logged and dropped.
//!
//! [RFC 9111 §4.1]: https://www.rfc-editor.org/rfc/rfc9111#section-4.1

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use revalidate_core::cache::StoredHead;

/// One stored response, with what is needed to compute its age and to
/// match it against later requests.
#[derive(Clone, Debug)]
pub struct StoredResponse {
    /// Its status, header fields (updated in place by each `304` that
    /// validates it, [RFC 9111 §3.2](https://www.rfc-editor.org/rfc/rfc9111#section-3.2)),
    /// the request fields its `Vary` names and its clock readings: the
    /// core's [`StoredHead`], the same the edge stores.
    pub head: StoredHead,
    /// Its content.
    pub body: Bytes,
}

impl StoredResponse {
    /// Approximate bytes held, for bounding a cache storage.
    pub fn weight(&self) -> u64 {
        let fields = |headers: &HeaderMap| {
            headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 32)
                .sum::<usize>()
        };
        (self.body.len() + fields(&self.head.headers) + fields(&self.head.vary_request) + 64) as u64
    }
}

/// Storage for cached responses, keyed by primary cache key.
pub trait CacheStorage: Send + Sync + 'static {
    /// Every stored response under `key` (empty on a miss).
    fn load(&self, key: &str) -> Vec<StoredResponse>;
    /// Replaces everything under `key` with `responses` (removes the key
    /// when `responses` is empty).
    fn save(&self, key: &str, responses: Vec<StoredResponse>);
}

impl<S: CacheStorage> CacheStorage for Arc<S> {
    fn load(&self, key: &str) -> Vec<StoredResponse> {
        (**self).load(key)
    }

    fn save(&self, key: &str, responses: Vec<StoredResponse>) {
        (**self).save(key, responses);
    }
}

#[derive(Clone, Copy, Debug)]
struct ByBytes;

impl quick_cache::Weighter<String, Arc<Vec<StoredResponse>>> for ByBytes {
    fn weight(&self, key: &String, responses: &Arc<Vec<StoredResponse>>) -> u64 {
        key.len() as u64 + responses.iter().map(StoredResponse::weight).sum::<u64>()
    }
}

/// The default cache storage: in memory, bounded by bytes, evicting by the CLOCK-Pro
/// policy of [`quick_cache`].
pub struct MemoryCache {
    entries: quick_cache::sync::Cache<String, Arc<Vec<StoredResponse>>, ByBytes>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("keys", &self.entries.len())
            .field("bytes", &self.entries.weight())
            .finish()
    }
}

impl MemoryCache {
    /// The default capacity: 64 MiB.
    pub const DEFAULT_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

    /// A cache storage holding at most `capacity_bytes` (approximately: headers
    /// are estimated). A single response larger than the capacity is not
    /// kept.
    pub fn with_capacity(capacity_bytes: u64) -> Self {
        // quick_cache wants an estimate of the item count; assume ~16 KiB each.
        let estimated_items = usize::try_from(capacity_bytes / 16_384)
            .unwrap_or(usize::MAX)
            .max(16);
        Self {
            entries: quick_cache::sync::Cache::with_weighter(estimated_items, capacity_bytes, ByBytes),
        }
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY_BYTES)
    }
}

impl CacheStorage for MemoryCache {
    fn load(&self, key: &str) -> Vec<StoredResponse> {
        self.entries
            .get(key)
            .map(|responses| responses.as_ref().clone())
            .unwrap_or_default()
    }

    fn save(&self, key: &str, responses: Vec<StoredResponse>) {
        if responses.is_empty() {
            self.entries.remove(key);
        } else {
            self.entries.insert(key.to_owned(), Arc::new(responses));
        }
    }
}
