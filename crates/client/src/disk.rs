//! [`DiskCache`] (feature `disk`): cached responses as files in a
//! directory, surviving restarts.
//!
//! One file per primary cache key, named by the BLAKE3 hash of the key.
//! A file is `MAGIC`, then the BLAKE3 hash of the payload, then the payload
//! (the key and its stored responses, serialized with [`postcard`]). A file
//! that is truncated, has a wrong checksum, does not decode or holds
//! another key is a miss and is deleted: a cache may always forget, never
//! serve garbage. Files are written to a temporary name and renamed into
//! place, so a crash mid-write leaves the old entry or none.
//!
//! The storage does blocking file IO on the calling thread; entries are small
//! and the OS page cache absorbs most reads. It is not bounded: clear the
//! directory to reclaim space.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::storage::{CacheStorage, StoredResponse};

const MAGIC: &[u8; 8] = b"RVCLNT01";
const CHECKSUM_LEN: usize = 32;

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

#[derive(Serialize, Deserialize)]
struct FileResponse {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    request_headers: Vec<(String, Vec<u8>)>,
    request_time: SystemTime,
    response_time: SystemTime,
}

fn fields_to_file(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect()
}

fn fields_from_file(fields: Vec<(String, Vec<u8>)>) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        headers.append(
            HeaderName::try_from(name).ok()?,
            HeaderValue::try_from(value).ok()?,
        );
    }
    Some(headers)
}

impl FileResponse {
    fn from_stored(stored: &StoredResponse) -> Self {
        Self {
            status: stored.status.as_u16(),
            headers: fields_to_file(&stored.headers),
            body: stored.body.to_vec(),
            request_headers: fields_to_file(&stored.request_headers),
            request_time: stored.request_time,
            response_time: stored.response_time,
        }
    }

    fn into_stored(self) -> Option<StoredResponse> {
        Some(StoredResponse {
            status: StatusCode::from_u16(self.status).ok()?,
            headers: fields_from_file(self.headers)?,
            body: Bytes::from(self.body),
            request_headers: fields_from_file(self.request_headers)?,
            request_time: self.request_time,
            response_time: self.response_time,
        })
    }
}

impl DiskCache {
    /// Opens (creating it if needed) a cache storage in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
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
        entry
            .responses
            .into_iter()
            .map(FileResponse::into_stored)
            .collect()
    }

    fn write(&self, key: &str, path: &Path, responses: &[StoredResponse]) -> io::Result<()> {
        let entry = FileEntry {
            key: key.to_owned(),
            responses: responses.iter().map(FileResponse::from_stored).collect(),
        };
        let payload = postcard::to_allocvec(&entry).map_err(io::Error::other)?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + CHECKSUM_LEN + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(blake3::hash(&payload).as_bytes());
        bytes.extend_from_slice(&payload);
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(".tmp-{}-{n}", std::process::id()));
        std::fs::write(&temp, &bytes)?;
        std::fs::rename(&temp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
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
