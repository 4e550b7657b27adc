//! The two storages ([`MemoryStorage`], [`HybridStorage`]) over one shared core, and the streaming
//! writer they both hand out.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use foyer::{
    BlockEngineConfig, Cache, CacheBuilder, DeviceBuilder, FsDeviceBuilder, HybridCache, HybridCacheBuilder,
    HybridCachePolicy, PsyncIoEngineConfig, RecoverMode,
};

use super::bans::{BanKind, Bans, MAX_BANS, Recovery};
use super::object::{CachedValue, weight};
use super::{
    ObjectHead, ObjectLookup, ObjectWriter, Storage, StorageError, StorageStats, StoredObject, TooLarge,
};

/// Default for [`MemoryConfig::max_object_size`] and [`HybridConfig::max_object_size`]: 8 MiB. Bigger
/// bodies stream through uncached (foyer stores whole values, not streams).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 8 << 20;

/// Settings for [`MemoryStorage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Total weight (payload plus per-entry overhead) the memory tier may hold, in bytes (`--memory`).
    pub capacity: u64,
    /// The largest object (URL + tags + meta + body) that is stored, in bytes.
    pub max_object_size: u64,
}

impl MemoryConfig {
    /// `capacity` bytes with the default maximum object size (capped at an eighth of the capacity so
    /// that one object cannot flush a whole shard).
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            max_object_size: DEFAULT_MAX_OBJECT_SIZE.min(capacity / 8).max(1),
        }
    }
}

/// Settings for [`HybridStorage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HybridConfig {
    /// The cache directory (`--cache-dir`); created if missing. Holds `bans.log` and `blocks/`.
    pub dir: PathBuf,
    /// Memory tier capacity in bytes (`--memory`).
    pub memory: u64,
    /// Disk tier capacity in bytes (`--disk`). Must hold at least four blocks (a block is at least
    /// the maximum object size).
    pub disk: u64,
    /// The largest object stored, in bytes.
    pub max_object_size: u64,
}

impl HybridConfig {
    /// The given directory and sizes with the default maximum object size (capped at an eighth of the
    /// memory capacity).
    pub fn new(dir: impl Into<PathBuf>, memory: u64, disk: u64) -> Self {
        Self {
            dir: dir.into(),
            memory,
            disk,
            max_object_size: DEFAULT_MAX_OBJECT_SIZE.min(memory / 8).max(1),
        }
    }
}

enum Tier<D: Send + Sync + 'static> {
    Memory(Cache<String, CachedValue<D>>),
    Hybrid {
        cache: HybridCache<String, CachedValue<D>>,
        disk_capacity: u64,
    },
}

/// What every storage of this module shares; `D` is what objects keep derived from them
/// ([`StoredObject::derived`]). `D: Send + Sync + 'static` on every type here because foyer's
/// caches demand it of the values they hold.
struct Core<D: Send + Sync + 'static> {
    tier: Tier<D>,
    bans: Arc<Bans>,
    max_object_size: u64,
    closed: AtomicBool,
}

impl<D: Send + Sync + 'static> std::fmt::Debug for Core<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("hybrid", &matches!(self.tier, Tier::Hybrid { .. }))
            .field("max_object_size", &self.max_object_size)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn engine_error(e: foyer::Error) -> StorageError {
    StorageError::Engine(Box::new(e))
}

fn to_usize(value: u64, what: &str) -> Result<usize, StorageError> {
    usize::try_from(value).map_err(|_| StorageError::Config(format!("{what} of {value} bytes is too large")))
}

/// Enough shards for concurrency, few enough that each shard holds several maximum-size objects
/// (foyer divides the capacity evenly among shards).
fn shards_for(capacity: u64, max_object_size: u64) -> usize {
    let shards = capacity / max_object_size.saturating_mul(4).max(1);
    shards.clamp(1, 16) as usize
}

impl<D: Send + Sync + 'static> Core<D> {
    fn check_open(&self) -> Result<(), StorageError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Arc<StoredObject<D>>>, StorageError> {
        if let Some(found) = self.get_in_memory(key) {
            return found;
        }
        let found = match &self.tier {
            Tier::Memory(_) => None,
            Tier::Hybrid { cache, .. } => cache
                .get(key)
                .await
                .map_err(engine_error)?
                .map(|entry| entry.value().0.clone()),
        };
        Ok(self.alive(key, found))
    }

    /// [`Self::get`] when memory can answer: always for the memory tier; for the hybrid tier only
    /// when the object is in its memory part (a hybrid `get` would answer from there too).
    fn get_in_memory(&self, key: &str) -> Option<ObjectLookup<D>> {
        if let Err(closed) = self.check_open() {
            return Some(Err(closed));
        }
        let found = match &self.tier {
            Tier::Memory(cache) => cache.get(key).map(|entry| entry.value().0.clone()),
            Tier::Hybrid { cache, .. } => Some(cache.memory().get(key)?.value().0.clone()),
        };
        Some(Ok(self.alive(key, found)))
    }

    /// `found`, unless a purge covers it (then it is removed).
    fn alive(&self, key: &str, found: Option<Arc<StoredObject<D>>>) -> Option<Arc<StoredObject<D>>> {
        match found {
            Some(object) if self.bans.is_dead(&object) => {
                self.remove_now(key);
                None
            }
            found => found,
        }
    }

    fn insert_stamped(
        &self,
        key: String,
        object: StoredObject<D>,
    ) -> Result<Arc<StoredObject<D>>, StorageError> {
        self.check_open()?;
        let size = object.payload_len();
        if size > self.max_object_size {
            return Err(StorageError::TooLarge {
                size,
                max: self.max_object_size,
            });
        }
        let object = Arc::new(object);
        let value = CachedValue(Arc::clone(&object));
        match &self.tier {
            Tier::Memory(cache) => drop(cache.insert(key, value)),
            Tier::Hybrid { cache, .. } => drop(cache.insert(key, value)),
        }
        Ok(object)
    }

    fn remove_now(&self, key: &str) {
        match &self.tier {
            Tier::Memory(cache) => drop(cache.remove(key)),
            Tier::Hybrid { cache, .. } => cache.remove(key),
        }
    }

    /// Removes `key` so that no later lookup finds it.
    ///
    /// foyer's disk delete does not cover an entry whose write is still queued (its "keeper" keeps
    /// serving it until the flush, as foyer's `test_may_contains_in_flight_entry_after_delete`
    /// documents), so wait for the queued writes and remove again whatever a lookup brought back into
    /// memory meanwhile.
    async fn remove_durably(&self, key: &str) {
        self.remove_now(key);
        if let Tier::Hybrid { cache, .. } = &self.tier
            && cache.storage().may_contains(key)
        {
            cache.storage().wait().await;
            cache.memory().remove(key);
        }
    }

    async fn ban(&self, kind: BanKind) -> Result<(), StorageError> {
        self.check_open()?;
        let bans = self.bans.clone();
        // Persisting a ban appends to a file and syncs it: blocking I/O, off the async threads.
        tokio::task::spawn_blocking(move || bans.add(kind))
            .await
            .map_err(|e| StorageError::Engine(Box::new(e)))??;
        Ok(())
    }

    fn stats(&self) -> StorageStats {
        // (entries, usage, capacity, disk bytes written, disk capacity)
        let (entries, usage, capacity, disk_bytes_written, disk_capacity) = match &self.tier {
            Tier::Memory(cache) => (cache.entries(), cache.usage(), cache.capacity(), 0, 0),
            Tier::Hybrid { cache, disk_capacity } => {
                let memory = cache.memory();
                let written = cache.statistics().disk_write_bytes() as u64;
                (
                    memory.entries(),
                    memory.usage(),
                    memory.capacity(),
                    written,
                    *disk_capacity,
                )
            }
        };
        StorageStats {
            memory_entries: entries as u64,
            memory_bytes: usage as u64,
            memory_capacity: capacity as u64,
            disk_bytes_written,
            disk_capacity,
            bans: self.bans.len() as u64,
            generation: self.bans.current(),
        }
    }

    async fn close(&self) -> Result<(), StorageError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        match &self.tier {
            Tier::Memory(cache) => {
                cache.clear();
                Ok(())
            }
            Tier::Hybrid { cache, .. } => cache.close().await.map_err(engine_error),
        }
    }

    fn begin(self: &Arc<Self>, key: String, head: ObjectHead) -> CacheWriter<D> {
        let max = self.max_object_size;
        let fixed =
            (head.url.len() + head.tags.iter().map(String::len).sum::<usize>() + head.meta.len()) as u64;
        let hint = head.size_hint.unwrap_or(0);
        let over = fixed.saturating_add(hint) > max;
        let capacity = if over { 0 } else { hint as usize };
        CacheWriter {
            core: self.clone(),
            key,
            generation: as_of(head.purge_generation, self.bans.current()),
            head: ObjectHead {
                size_hint: None,
                ..head
            },
            body: if over {
                None
            } else {
                Some(BytesMut::with_capacity(capacity))
            },
            written: 0,
            fixed,
        }
    }
}

/// The generation to stamp: that of the fetch when known, never one later than now.
fn as_of(purge_generation: Option<u64>, current: u64) -> u64 {
    purge_generation.map_or(current, |generation| generation.min(current))
}

macro_rules! delegate_storage {
    ($ty:ident) => {
        impl<D: Send + Sync + 'static> Storage for $ty<D> {
            type Derived = D;
            type Writer = CacheWriter<D>;

            async fn get(&self, key: &str) -> Result<Option<Arc<StoredObject<D>>>, StorageError> {
                self.core.get(key).await
            }

            fn get_in_memory(&self, key: &str) -> Option<ObjectLookup<D>> {
                self.core.get_in_memory(key)
            }

            async fn insert(&self, key: String, mut object: StoredObject<D>) -> Result<(), StorageError> {
                let requested = (object.generation != 0).then_some(object.generation);
                object.generation = as_of(requested, self.core.bans.current());
                self.core.insert_stamped(key, object).map(drop)
            }

            fn begin(&self, key: String, head: ObjectHead) -> CacheWriter<D> {
                self.core.begin(key, head)
            }

            async fn remove(&self, key: &str) -> Result<(), StorageError> {
                self.core.check_open()?;
                self.core.remove_durably(key).await;
                Ok(())
            }

            async fn purge_url(&self, url: &str) -> Result<(), StorageError> {
                self.core.ban(BanKind::Url(url.to_owned())).await
            }

            async fn purge_url_with_queries(&self, url: &str) -> Result<(), StorageError> {
                self.core.ban(BanKind::UrlWithQueries(url.to_owned())).await
            }

            async fn ban_prefix(&self, prefix: &str) -> Result<(), StorageError> {
                self.core.ban(BanKind::Prefix(prefix.to_owned())).await
            }

            async fn ban_tag(&self, tag: &str) -> Result<(), StorageError> {
                self.core.ban(BanKind::Tag(tag.to_owned())).await
            }

            fn generation(&self) -> u64 {
                self.core.bans.current()
            }

            fn max_object_size(&self) -> u64 {
                self.core.max_object_size
            }

            fn stats(&self) -> StorageStats {
                self.core.stats()
            }

            async fn close(&self) -> Result<(), StorageError> {
                self.core.close().await
            }
        }
    };
}

/// A bounded, memory-only storage: a weighted foyer cache (W-TinyLFU eviction) plus in-memory bans.
/// Cloning shares the same cache. `D`: what objects keep derived from them ([`StoredObject`]).
pub struct MemoryStorage<D: Send + Sync + 'static = ()> {
    core: Arc<Core<D>>,
}

impl<D: Send + Sync + 'static> MemoryStorage<D> {
    /// A memory storage holding at most `config.capacity` weighted bytes.
    pub fn new(config: MemoryConfig) -> Result<Self, StorageError> {
        let capacity = to_usize(config.capacity, "memory capacity")?;
        if config.max_object_size == 0 || config.max_object_size > config.capacity {
            return Err(StorageError::Config(format!(
                "maximum object size {} must be between 1 and the memory capacity {}",
                config.max_object_size, config.capacity
            )));
        }
        let cache = CacheBuilder::new(capacity)
            .with_name("revalidate-edge-memory")
            .with_shards(shards_for(config.capacity, config.max_object_size))
            .with_weighter(|key: &String, value: &CachedValue<D>| weight(key, &value.0))
            .build();
        let core = Core {
            tier: Tier::Memory(cache),
            bans: Arc::new(Bans::in_memory(MAX_BANS)),
            max_object_size: config.max_object_size,
            closed: AtomicBool::new(false),
        };
        Ok(Self { core: Arc::new(core) })
    }
}

delegate_storage!(MemoryStorage);

/// A bounded memory tier in front of a bounded disk tier (foyer `HybridCache` with its block engine on
/// a directory). Every insert is also queued for disk (`WriteOnInsertion`), so entries survive a
/// restart; bans survive in `bans.log`. Cloning shares the same cache. `D`: what objects keep
/// derived from them ([`StoredObject`]); never written to disk.
pub struct HybridStorage<D: Send + Sync + 'static = ()> {
    core: Arc<Core<D>>,
}

/// Room for foyer's per-entry header, the key and our own framing inside one block.
const BLOCK_HEADROOM: u64 = 64 << 10;
const PAGE: u64 = 4 << 10;

impl<D: Send + Sync + 'static> HybridStorage<D> {
    /// Opens (or creates) the cache in `config.dir`, recovering the entries and bans a previous run left.
    /// Must be called inside a Tokio runtime.
    ///
    /// If `bans.log` is missing or damaged, the disk tier is cleared: without the log we cannot know
    /// which entries were purged, and serving a purged entry is worse than a cold cache.
    pub async fn open(config: HybridConfig) -> Result<Self, StorageError> {
        let memory = to_usize(config.memory, "memory capacity")?;
        if config.max_object_size == 0 || config.max_object_size > config.memory {
            return Err(StorageError::Config(format!(
                "maximum object size {} must be between 1 and the memory capacity {}",
                config.max_object_size, config.memory
            )));
        }
        // A block is foyer's unit of disk eviction and bounds the largest entry: 16 MiB, or an eighth of
        // the disk for small disks, but always room for one maximum-size object.
        let preferred = (16 << 20_u64).min(config.disk / 8);
        let block = preferred
            .max(config.max_object_size + BLOCK_HEADROOM)
            .div_ceil(PAGE)
            * PAGE;
        if config.disk < block * 4 {
            return Err(StorageError::Config(format!(
                "disk capacity {} bytes is too small: it must hold four blocks of {block} bytes \
                 (a block fits the maximum object size {} plus headroom)",
                config.disk, config.max_object_size
            )));
        }
        std::fs::create_dir_all(&config.dir)?;
        let (bans, recovery) = Bans::open(&config.dir.join("bans.log"), MAX_BANS)?;
        let device = FsDeviceBuilder::new(config.dir.join("blocks"))
            .with_capacity(to_usize(config.disk, "disk capacity")?)
            .build()
            .map_err(engine_error)?;
        let cache = HybridCacheBuilder::new()
            .with_name("revalidate-edge")
            .with_policy(HybridCachePolicy::WriteOnInsertion)
            .memory(memory)
            .with_shards(shards_for(config.memory, config.max_object_size))
            .with_weighter(|key: &String, value: &CachedValue<D>| weight(key, &value.0))
            .storage()
            .with_io_engine_config(PsyncIoEngineConfig::new())
            .with_engine_config(
                BlockEngineConfig::new(device)
                    .with_block_size(to_usize(block, "block size")?)
                    // Entries are replaced and removed: without tombstones a removed entry could
                    // reappear after a restart (foyer's docs on `with_tombstone_log`).
                    .with_tombstone_log(true),
            )
            .with_recover_mode(RecoverMode::Quiet)
            .build()
            .await
            .map_err(engine_error)?;
        if recovery != Recovery::Intact {
            tracing::warn!(dir = %config.dir.display(), ?recovery, "ban log not intact: clearing the disk cache");
            cache.clear().await.map_err(engine_error)?;
        }
        let core = Core {
            tier: Tier::Hybrid {
                cache,
                disk_capacity: config.disk,
            },
            bans: Arc::new(bans),
            max_object_size: config.max_object_size,
            closed: AtomicBool::new(false),
        };
        Ok(Self { core: Arc::new(core) })
    }
}

delegate_storage!(HybridStorage);

/// Either storage, for code that decides at run time (e.g. from `--cache-dir`).
pub struct AnyStorage<D: Send + Sync + 'static = ()> {
    core: Arc<Core<D>>,
}

impl<D: Send + Sync + 'static> From<MemoryStorage<D>> for AnyStorage<D> {
    fn from(storage: MemoryStorage<D>) -> Self {
        Self { core: storage.core }
    }
}

impl<D: Send + Sync + 'static> From<HybridStorage<D>> for AnyStorage<D> {
    fn from(storage: HybridStorage<D>) -> Self {
        Self { core: storage.core }
    }
}

/// `Clone` and `Debug` for a storage handle, whatever `D` is (a derive would demand them of `D`).
macro_rules! share_handle {
    ($ty:ident) => {
        impl<D: Send + Sync + 'static> Clone for $ty<D> {
            fn clone(&self) -> Self {
                Self {
                    core: Arc::clone(&self.core),
                }
            }
        }

        impl<D: Send + Sync + 'static> std::fmt::Debug for $ty<D> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("core", &self.core)
                    .finish()
            }
        }
    };
}

share_handle!(MemoryStorage);
share_handle!(HybridStorage);
share_handle!(AnyStorage);

delegate_storage!(AnyStorage);

/// The [`ObjectWriter`] of every storage in this module.
pub struct CacheWriter<D: Send + Sync + 'static = ()> {
    core: Arc<Core<D>>,
    key: String,
    /// Stamped at [`Storage::begin`], so a purge during streaming covers this object.
    generation: u64,
    head: ObjectHead,
    /// `None` once the object grew too large.
    body: Option<BytesMut>,
    written: u64,
    /// URL, tags and meta bytes, which count against the maximum object size too.
    fixed: u64,
}

impl<D: Send + Sync + 'static> std::fmt::Debug for CacheWriter<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheWriter")
            .field("core", &self.core)
            .field("key", &self.key)
            .field("generation", &self.generation)
            .field("head", &self.head)
            .field("body", &self.body)
            .field("written", &self.written)
            .field("fixed", &self.fixed)
            .finish()
    }
}

impl<D: Send + Sync + 'static> ObjectWriter for CacheWriter<D> {
    type Derived = D;
    fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        let max = self.core.max_object_size;
        let Some(body) = self.body.as_mut() else {
            return Err(TooLarge { max });
        };
        self.written += chunk.len() as u64;
        if self.fixed.saturating_add(self.written) > max {
            self.body = None;
            return Err(TooLarge { max });
        }
        body.extend_from_slice(chunk);
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written
    }

    async fn commit(self) -> Result<Arc<StoredObject<D>>, StorageError> {
        let max = self.core.max_object_size;
        let Some(body) = self.body else {
            return Err(StorageError::TooLarge {
                size: self.fixed.saturating_add(self.written),
                max,
            });
        };
        let head = self.head;
        let object =
            StoredObject::with_generation(head.url, head.tags, head.meta, Bytes::from(body), self.generation);
        self.core.insert_stamped(self.key, object)
    }
}
