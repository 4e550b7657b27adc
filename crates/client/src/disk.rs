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
//! and the OS page cache absorbs most reads. It is not bounded: clear the
//! directory to reclaim space.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A [`CacheStorage`] keeping each key's responses in a checksummed file.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    temp_counter: AtomicU64,
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
    /// Opens (creating it if needed) a cache storage in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        remove_leftover_temporaries(&dir);
        Ok(Self {
            dir,
            temp_counter: AtomicU64::new(0),
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `key`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        let name = blake3::hash(key.as_bytes()).to_hex();
        self.dir.join(format!("{}.entry", &name[..32]))
    }

    fn read(&self, key: &str, path: &Path) -> Option<Vec<StoredResponse>> {
        let bytes = std::fs::read(path).ok()?;
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

    fn write(&self, key: &str, path: &Path, responses: &[StoredResponse]) -> io::Result<()> {
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
        })
    }
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
        let path = self.path_for(key);
        if !path.exists() {
            return Vec::new();
        }
        match self.read(key, &path) {
            Some(responses) => responses,
            None => {
                tracing::warn!(path = %path.display(), "unreadable cache file; treating it as a miss");
                let _ = std::fs::remove_file(&path);
                Vec::new()
            }
        }
    }

    fn save(&self, key: &str, responses: Vec<StoredResponse>) {
        let path = self.path_for(key);
        let result = if responses.is_empty() {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        } else {
            self.write(key, &path, &responses)
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot write a cache file; the entry is dropped");
        }
    }
}
