//! Where the edge keeps cached responses: a bounded memory tier, optionally backed by a bounded disk
//! tier that survives restarts.
//!
//! # Map
//!
//! - [`Storage`] is the seam the proxy codes against; [`ObjectWriter`] streams one body into it.
//! - [`StoredObject`] (`object.rs`): one cached response, its disk encoding, and the speed-up
//!   cache: a typed slot for what the storage's user derives from the object
//!   ([`StoredObject::derived`]). Every storage is generic over that type, `D` ([`Storage::Derived`];
//!   `()` when nothing is derived); the storage never looks inside it, never writes it to disk,
//!   and drops it with the object.
//! - [`MemoryStorage`]: memory only (tests, `revalidate edge` without `--cache-dir`).
//! - [`HybridStorage`]: memory in front of disk (`--cache-dir`, `--memory SIZE`, `--disk SIZE`).
//! - [`AnyStorage`]: either of them, for code that picks one at run time.
//! - Both tiers are [foyer](https://docs.rs/foyer) caches (weighted W-TinyLFU in memory, a block
//!   engine on disk). Entries are encoded with postcard plus an xxh3 checksum
//!   (`object.rs`); foyer checks its own checksum too. A damaged entry decodes to a miss and is removed;
//!   it is never served.
//! - Purges (`bans.rs`): foyer cannot iterate its entries, so prefix, tag and whole-URL purges are
//!   Varnish-style *bans*. Every entry remembers the ban generation current when it was stored, or
//!   when the request that fetched it was sent if that is earlier (`ObjectHead::purge_generation`):
//!   a purge that arrives while the origin is still answering covers the answer. A
//!   lookup drops an entry that an equal-or-newer matching ban covers. Bans live in an append-only,
//!   checksummed log next to the disk tier, so they survive restarts. When there are more than
//!   [`MAX_BANS`] bans the oldest half collapse into a *floor*: everything stored before the newest
//!   collapsed ban is treated as purged (it purges more than asked, never less).
//!
//! - Restarts: the disk tier is recovered by foyer (its tombstone log keeps removed and replaced entries
//!   from coming back). If `bans.log` is missing or damaged the disk tier is cleared and a new ban
//!   epoch starts above every old generation, so nothing a lost ban covered can be served.
//!
//! Known limits (foyer 0.22): values are whole objects, so bodies above the maximum object size
//! stream through uncached; foyer drops disk writes when its submit queue overflows (the entry then
//! lives in memory only); there is no per-entry disk usage figure, only bytes written; the memory
//! tier starts empty after a restart and fills from disk on lookups. Call [`Storage::close`] on
//! shutdown so queued disk writes are flushed.
//!
//! Objects are shared (`Arc`): a hit is a reference-count bump, and the proxy keeps what it decodes
//! from an object's metadata in the object's slot ([`StoredObject::derived`], with
//! `D` = [`crate::entry::DecodedEntry`]), so it decodes once per stored object rather than once per
//! hit. The slot lives as long as the object stays in the memory tier: an object read from disk, or
//! a clone, starts with an empty one.
//!
//! Keys are opaque strings built by the proxy (method-normalised URL plus the secondary Vary key);
//! the URL and tags stored with each object are what purges match against.

mod bans;
mod object;
mod size;
mod tier;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

pub use self::bans::MAX_BANS;
pub use self::object::StoredObject;
pub use self::size::{SizeError, parse_size};
pub use self::tier::{
    AnyStorage, CacheWriter, DEFAULT_MAX_OBJECT_SIZE, HybridConfig, HybridStorage, MemoryConfig,
    MemoryStorage,
};

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object is larger than the storage's maximum object size, so it was not stored.
    #[error("object of {size} bytes exceeds the maximum cacheable object size of {max} bytes")]
    TooLarge {
        /// Bytes offered (at least; streaming stops counting at the first chunk over the limit).
        size: u64,
        /// The configured maximum object size.
        max: u64,
    },
    /// Reading or writing the cache directory or the ban log failed.
    #[error("cache storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The cache engine (foyer) reported an error.
    #[error("cache engine failed: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The configuration cannot work, e.g. a disk tier too small for one object.
    #[error("invalid cache configuration: {0}")]
    Config(String),
    /// The storage was closed.
    #[error("cache storage is closed")]
    Closed,
}

/// Returned by [`ObjectWriter::push`] once the body grew past the maximum object size. The writer has
/// dropped what it buffered; the proxy keeps streaming to the client, uncached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body exceeds the maximum cacheable object size of {max} bytes")]
pub struct TooLarge {
    /// The configured maximum object size.
    pub max: u64,
}

/// What the proxy knows about a response before its body arrives; see [`Storage::begin`].
#[derive(Debug, Clone, Default)]
pub struct ObjectHead {
    /// The effective request URL, matched by [`Storage::purge_url`] and [`Storage::ban_prefix`].
    pub url: String,
    /// Surrogate keys (from `Cache-Tag` / `Surrogate-Key`), matched by [`Storage::ban_tag`].
    pub tags: Vec<String>,
    /// Opaque metadata serialised by the proxy (status, headers, request/response times, Vary).
    pub meta: Bytes,
    /// The body length when known (`Content-Length`), used to size the buffer once. A hint larger
    /// than the maximum object size makes the writer refuse at once.
    pub size_hint: Option<u64>,
    /// [`Storage::generation`] when the request that fetched this response was sent, so that a purge
    /// that arrives while the origin is still answering covers the response too (the origin may have
    /// read the old version before the write that caused the purge). `None`: stored as of now.
    pub purge_generation: Option<u64>,
}

/// Counters describing what a storage holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageStats {
    /// Entries in the memory tier.
    pub memory_entries: u64,
    /// Weighted bytes in the memory tier (what counts against `--memory`).
    pub memory_bytes: u64,
    /// The memory tier's capacity in bytes.
    pub memory_capacity: u64,
    /// Bytes written to the disk tier's device so far by this process (0 without a disk tier).
    pub disk_bytes_written: u64,
    /// The disk tier's capacity in bytes (0 without a disk tier).
    pub disk_capacity: u64,
    /// Bans (URL, prefix and tag purges) currently remembered.
    pub bans: u64,
    /// The current ban generation; grows by one per ban.
    pub generation: u64,
}

/// What looking an object up gives: the object, `None` for a miss, or the storage's fault.
pub type ObjectLookup<D> = Result<Option<Arc<StoredObject<D>>>, StorageError>;

/// A bounded object store for the edge cache. Cheap to share (`Arc` inside implementations).
///
/// Every method takes `&self`; implementations are safe to call from many tasks at once.
pub trait Storage: Send + Sync + 'static {
    /// What each stored object keeps derived from it while it is in memory
    /// ([`StoredObject::derived`]); the storage never looks inside it.
    type Derived: Send + Sync + 'static;

    /// The streaming writer returned by [`Storage::begin`].
    type Writer: ObjectWriter<Derived = Self::Derived>;

    /// Looks `key` up in memory, then on disk. Returns `None` for a miss, and also for an entry that a
    /// purge covers or whose bytes are damaged (such entries are removed, never returned).
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Arc<StoredObject<Self::Derived>>>, StorageError>> + Send;

    /// [`Storage::get`] without waiting, when memory alone can answer: `Some` with what `get` would
    /// return, or `None` when only the disk tier can tell (the object is not in memory). The
    /// proxy answers hits through it without the state of a request that waits.
    fn get_in_memory(&self, key: &str) -> Option<ObjectLookup<Self::Derived>> {
        let _ = key;
        None
    }

    /// Stores a complete object under `key`, replacing any previous one (e.g. after a 304 refreshed its
    /// headers). An object larger than [`Storage::max_object_size`] is not stored:
    /// [`StorageError::TooLarge`].
    fn insert(
        &self,
        key: String,
        object: StoredObject<Self::Derived>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Starts storing a body that is still arriving. The proxy [`push`](ObjectWriter::push)es every
    /// chunk as it forwards it to the client and [`commit`](ObjectWriter::commit)s at the end.
    /// Dropping the writer aborts: nothing is stored. The entry counts as stored *now* for purges, so
    /// a purge that arrives while the body streams also covers it.
    fn begin(&self, key: String, head: ObjectHead) -> Self::Writer;

    /// Removes the entry stored under exactly `key` (one variant).
    fn remove(&self, key: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Purges every entry (every Vary variant) whose URL equals `url`. Durable when it returns `Ok`.
    fn purge_url(&self, url: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Purges every entry whose URL equals `url` or is `url` with a query string (`url?…`): a URL and
    /// every query variant of it. Durable when it returns `Ok`.
    fn purge_url_with_queries(&self, url: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Purges every entry whose URL starts with `prefix`. Durable when it returns `Ok`.
    fn ban_prefix(&self, prefix: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Purges every entry carrying `tag`. Durable when it returns `Ok`.
    fn ban_tag(&self, tag: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The ban generation now. A response fetched by a request sent now is stored as of this
    /// generation ([`ObjectHead::purge_generation`], [`StoredObject::as_of_generation`]), so a
    /// purge made while it was in flight covers it.
    fn generation(&self) -> u64;

    /// The largest body (plus metadata) this storage accepts, in bytes.
    fn max_object_size(&self) -> u64;

    /// What the storage holds right now.
    fn stats(&self) -> StorageStats;

    /// Flushes and closes the storage (the disk tier writes out what is pending). Later calls fail
    /// with [`StorageError::Closed`] or miss.
    fn close(&self) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Collects one response body while the proxy streams it to the client; see [`Storage::begin`].
///
/// Dropping a writer without calling [`commit`](ObjectWriter::commit) aborts it: nothing is stored.
pub trait ObjectWriter: Send + 'static {
    /// What the stored object keeps derived from it ([`Storage::Derived`]).
    type Derived: Send + Sync + 'static;

    /// Appends a chunk. Fails (and forgets everything buffered) once the body exceeds the maximum
    /// object size; after that every call fails and [`commit`](ObjectWriter::commit) stores nothing.
    fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge>;

    /// Body bytes accepted so far.
    fn written(&self) -> u64;

    /// Stores the complete object and returns it as stored (for the requests that waited for it).
    /// Fails with [`StorageError::TooLarge`] if a push overflowed.
    fn commit(self) -> impl Future<Output = Result<Arc<StoredObject<Self::Derived>>, StorageError>> + Send;

    /// Discards the body: nothing is stored. Same as dropping the writer; reads better at call sites.
    fn abort(self)
    where
        Self: Sized,
    {
    }
}
