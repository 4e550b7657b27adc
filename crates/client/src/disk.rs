//! [`DiskCache`] (feature `disk`): cached responses as files in a
//! directory, surviving restarts.
//!
//! One file per primary cache key, named by the BLAKE3 hash of the key.
//! A file is `MAGIC`, then the BLAKE3 hash of the payload, then the payload
//! (the key and its stored responses, serialized with [`postcard`]). A file
//! that is truncated, has a wrong checksum, does not decode or holds
//! another key is a miss and is deleted: a cache may always forget, never
//! serve garbage. Files are written to a temporary name and renamed into
//! place, so a crash mid-write leaves the old entry or none; a temporary
//! file left by a crash is deleted when the directory is opened again.
//! Writes are not synced to the disk (a revalidated response rewrites its
//! entry, and a sync per request would cost more than the cache saves): a
//! crash of the machine can lose the latest entries or tear them, and the
//! checksum turns a torn entry into a miss.
//!
//! The storage does blocking file IO on the calling thread; entries are small
//! and the OS page cache absorbs most reads.
//!
//! The directory is bounded by the bytes of its entry files
//! ([`DiskCache::DEFAULT_CAPACITY_BYTES`], or [`DiskCache::with_capacity`]).
//! An in-memory index of the entries and their sizes, a [`quick_cache`]
//! cache weighted by file size, decides what to forget (CLOCK-Pro, the
//! policy of [`MemoryCache`](crate::MemoryCache)); each entry it evicts has
//! its file deleted, after the index's lock is released. Opening a directory
//! reads the sizes of the files there and keeps the most recently written
//! ones that fit, so a directory left over capacity (or opened with a
//! smaller one) is trimmed at once. The bound
//! holds for one cache per directory: files another process writes in the
//! same directory are counted only when this one next opens it.

use std::collections::hash_map::RandomState;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use revalidate_core::cache::StoredHead;
use serde::{Deserialize, Serialize};

use crate::storage::{CacheStorage, StoredResponse};

/// Version 2 keeps the core's stored head (times in whole seconds);
/// files of version 1 are misses, deleted when read.
const MAGIC: &[u8; 8] = b"RVCLNT02";
const CHECKSUM_LEN: usize = 32;
/// Entries are written under this prefix, then renamed.
const TEMP_PREFIX: &str = ".tmp-";
/// Entry files are named by this many bytes of the key's hash, in hex.
const NAME_BYTES: usize = 16;
const ENTRY_SUFFIX: &str = ".entry";

/// A [`CacheStorage`] keeping each key's responses in a checksummed file,
/// within a bound on the bytes of all its files.
pub struct DiskCache {
    dir: Arc<Path>,
    temp_counter: AtomicU64,
    capacity_bytes: u64,
    /// Each entry file by name, weighted by its size.
    index: Index,
}

/// An entry file's name: the first bytes of the BLAKE3 hash of its key.
type EntryName = [u8; NAME_BYTES];

type Index = quick_cache::sync::Cache<EntryName, u64, FileSize, RandomState, DeleteEvicted>;

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .field("capacity_bytes", &self.capacity_bytes)
            .field("entries", &self.index.len())
            .field("bytes", &self.index.weight())
            .finish()
    }
}

/// Weighs an index entry by its file's size.
#[derive(Clone, Copy, Debug)]
struct FileSize;

impl quick_cache::Weighter<EntryName, u64> for FileSize {
    fn weight(&self, _name: &EntryName, size: &u64) -> u64 {
        // Never zero: quick_cache keeps zero-weight items outside the bound.
        (*size).max(1)
    }
}

/// Collects the files of entries the index evicts (or refuses, being larger
/// than the whole capacity) while it holds its lock.
#[derive(Clone, Debug)]
struct DeleteEvicted {
    dir: Arc<Path>,
}

impl quick_cache::Lifecycle<EntryName, u64> for DeleteEvicted {
    type RequestState = EvictedFiles;

    fn on_evict(&self, evicted: &mut EvictedFiles, name: EntryName, _size: u64) {
        evicted.0.push(entry_path(&self.dir, &name));
    }
}

/// The files of one index operation's evicted entries, deleted when the
/// operation is over: quick_cache drops its request state after releasing
/// the lock, so no file IO happens under it.
#[derive(Default, Debug)]
struct EvictedFiles(Vec<PathBuf>);

impl Drop for EvictedFiles {
    fn drop(&mut self) {
        for path in self.0.drain(..) {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete an evicted cache file");
            }
        }
    }
}

fn entry_name(key: &str) -> EntryName {
    let hash = blake3::hash(key.as_bytes());
    let mut name = [0; NAME_BYTES];
    name.copy_from_slice(&hash.as_bytes()[..NAME_BYTES]);
    name
}

fn entry_path(dir: &Path, name: &EntryName) -> PathBuf {
    let mut file = String::with_capacity(NAME_BYTES * 2 + ENTRY_SUFFIX.len());
    for byte in name {
        use std::fmt::Write as _;
        let _ = write!(file, "{byte:02x}");
    }
    file.push_str(ENTRY_SUFFIX);
    dir.join(file)
}

/// The entry name a file name spells, if it is one of ours.
fn parse_entry_file_name(file_name: &str) -> Option<EntryName> {
    let hex = file_name.strip_suffix(ENTRY_SUFFIX)?;
    if hex.len() != NAME_BYTES * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut name = [0; NAME_BYTES];
    for (byte, pair) in name.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(name)
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    key: String,
    responses: Vec<FileResponse>,
}

/// One stored response in a file: the core's serde form of its head (the
/// same the edge writes), then its body.
#[derive(Serialize, Deserialize)]
struct FileResponse {
    head: StoredHead,
    body: Vec<u8>,
}

/// [`FileEntry`] as it is written: borrowed from the stored responses, so
/// writing copies nothing but the bytes of the file. Serde writes a
/// `&str`, a slice and a `&[u8]` exactly as a `String`, a `Vec` and a
/// `Vec<u8>`, so the file reads back as a [`FileEntry`].
#[derive(Serialize)]
struct FileEntryRef<'a> {
    key: &'a str,
    responses: Vec<FileResponseRef<'a>>,
}

#[derive(Serialize)]
struct FileResponseRef<'a> {
    head: &'a StoredHead,
    body: &'a [u8],
}

impl FileResponse {
    fn into_stored(self) -> StoredResponse {
        StoredResponse {
            head: self.head,
            body: Bytes::from(self.body),
        }
    }
}

impl DiskCache {
    /// The default bound on the bytes of the entry files: 256 MiB.
    pub const DEFAULT_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;

    /// Opens (creating it if needed) a cache storage in `dir`, bounded by
    /// [`DEFAULT_CAPACITY_BYTES`](Self::DEFAULT_CAPACITY_BYTES).
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        Self::with_capacity(dir, Self::DEFAULT_CAPACITY_BYTES)
    }

    /// Opens (creating it if needed) a cache storage in `dir` whose entry
    /// files hold at most `capacity_bytes` in all. Entries already there
    /// past the bound are deleted, the least recently written first; an
    /// entry larger than the whole bound is not kept.
    pub fn with_capacity(dir: impl Into<PathBuf>, capacity_bytes: u64) -> io::Result<Self> {
        let dir: Arc<Path> = Arc::from(dir.into());
        std::fs::create_dir_all(&dir)?;
        remove_leftover_temporaries(&dir);
        let existing = existing_entries(&dir, capacity_bytes)?;
        // Entries of a few KiB are typical; the estimate only sizes the table.
        let estimated_items = usize::try_from(capacity_bytes / 8_192)
            .unwrap_or(usize::MAX)
            .clamp(16, 1 << 20);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(estimated_items)
            .weight_capacity(capacity_bytes)
            // One shard: the bound is for the whole directory, and file IO,
            // not this lock, is what a save costs.
            .shards(1)
            .build()
            .map_err(|e| io::Error::other(format!("cache index options: {e:?}")))?;
        let index = Index::with_options(
            options,
            FileSize,
            RandomState::new(),
            DeleteEvicted { dir: dir.clone() },
        );
        let cache = Self {
            dir,
            temp_counter: AtomicU64::new(0),
            capacity_bytes,
            index,
        };
        for (name, size) in existing {
            cache.index.insert(name, size);
        }
        Ok(cache)
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bound on the bytes of the entry files.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The bytes of all entry files, as the cache counts them.
    pub fn bytes(&self) -> u64 {
        self.index.weight()
    }

    /// The file that holds `key`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        entry_path(&self.dir, &entry_name(key))
    }

    /// `key`'s responses in a file's `bytes`; `None` when the file is
    /// torn, damaged, of another version or of another key.
    fn decode(key: &str, bytes: &[u8]) -> Option<Vec<StoredResponse>> {
        let payload = bytes.strip_prefix(MAGIC.as_slice())?;
        if payload.len() < CHECKSUM_LEN {
            return None;
        }
        let (checksum, payload) = payload.split_at(CHECKSUM_LEN);
        if blake3::hash(payload).as_bytes().as_slice() != checksum {
            return None;
        }
        let entry: FileEntry = postcard::from_bytes(payload).ok()?;
        if entry.key != key {
            return None;
        }
        Some(
            entry
                .responses
                .into_iter()
                .map(FileResponse::into_stored)
                .collect(),
        )
    }

    /// Writes `key`'s entry file; returns its size.
    fn write(&self, key: &str, path: &Path, responses: &[StoredResponse]) -> io::Result<u64> {
        let entry = FileEntryRef {
            key,
            responses: responses
                .iter()
                .map(|stored| FileResponseRef {
                    head: &stored.head,
                    body: &stored.body,
                })
                .collect(),
        };
        // MAGIC, a checksum filled in below, then the payload, in one buffer.
        let body_bytes: usize = responses.iter().map(|r| r.body.len()).sum();
        let mut bytes = Vec::with_capacity(MAGIC.len() + CHECKSUM_LEN + body_bytes + 1024);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&[0; CHECKSUM_LEN]);
        let mut bytes = postcard::to_extend(&entry, bytes).map_err(io::Error::other)?;
        let (head, payload) = bytes.split_at_mut(MAGIC.len() + CHECKSUM_LEN);
        head[MAGIC.len()..].copy_from_slice(blake3::hash(payload).as_bytes());
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        std::fs::write(&temp, &bytes)?;
        std::fs::rename(&temp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })?;
        Ok(bytes.len() as u64)
    }
}

/// The entry files in `dir` with their sizes, the most recently written
/// first, as many as fit in `capacity_bytes`; the older ones past the bound
/// are deleted here.
fn existing_entries(dir: &Path, capacity_bytes: u64) -> io::Result<Vec<(EntryName, u64)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let Some(name) = entry.file_name().to_str().and_then(parse_entry_file_name) else {
            continue;
        };
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if metadata.is_file() {
            let written = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((written, name, metadata.len()));
        }
    }
    entries.sort_unstable_by_key(|&(written, name, _)| std::cmp::Reverse((written, name)));
    let mut total = 0_u64;
    let mut kept = Vec::with_capacity(entries.len());
    for (_, name, size) in entries {
        total = total.saturating_add(size.max(1));
        if total <= capacity_bytes {
            kept.push((name, size));
        } else {
            drop(EvictedFiles(vec![entry_path(dir, &name)]));
        }
    }
    Ok(kept)
}

/// Deletes the temporary files a crash left between write and rename.
/// They are never read (only `*.entry` files are), so this only reclaims
/// space; a file another process is still writing is lost, which a cache
/// may always do.
fn remove_leftover_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .as_encoded_bytes()
            .starts_with(TEMP_PREFIX.as_bytes())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl CacheStorage for DiskCache {
    fn load(&self, key: &str) -> Vec<StoredResponse> {
        let name = entry_name(key);
        // The index knows every file this cache wrote or found at open; a
        // lookup there also marks the entry as used, for eviction.
        if self.index.get(&name).is_none() {
            return Vec::new();
        }
        let path = entry_path(&self.dir, &name);
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Deleted behind the index's back (by hand, or an eviction
                // that raced a rewrite of the same entry): forget it.
                self.index.remove(&name);
                return Vec::new();
            }
            read => read.ok(),
        };
        match bytes.and_then(|bytes| Self::decode(key, &bytes)) {
            Some(responses) => responses,
            None => {
                tracing::warn!(path = %path.display(), "unreadable cache file; treating it as a miss");
                self.index.remove(&name);
                let _ = std::fs::remove_file(&path);
                Vec::new()
            }
        }
    }

    fn save(&self, key: &str, responses: Vec<StoredResponse>) {
        let name = entry_name(key);
        let path = entry_path(&self.dir, &name);
        let result = if responses.is_empty() {
            self.index.remove(&name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        } else {
            // Inserting may evict other entries (their files are deleted
            // once the index is unlocked), or this one if it alone is over
            // the bound.
            self.write(key, &path, &responses)
                .map(|size| self.index.insert(name, size))
        };
        if let Err(e) = result {
            // The entry is dropped whole: a file left from before would be
            // outside the index, neither read nor counted.
            self.index.remove(&name);
            let _ = std::fs::remove_file(&path);
            tracing::warn!(path = %path.display(), error = %e, "cannot write a cache file; the entry is dropped");
        }
    }
}
