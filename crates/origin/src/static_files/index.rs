//! The content-hash index: file identity and stamp → BLAKE3 of the bytes.
//!
//! An entry is keyed by the file's identity (device, inode) and holds the
//! stamp it had when hashed (size, mtime and ctime in nanoseconds). A
//! lookup re-reads the stamp with one `fstat` on the open file; any
//! difference means the bytes may differ and the file is hashed again, so
//! a changed file never keeps its old tag. `ctime` is in the stamp because
//! tools can put an old mtime back (`touch -r`, `cp -p`) but nothing can
//! set ctime: every write moves it.
//!
//! The index is saved to `<data>/static-index.bin` (written to a temporary
//! file, synced, then renamed over the old one) so that a restart does not
//! rehash unchanged files. Format, version 1: the 8 bytes `RVSIDX01`, then
//! a [postcard] `Vec<Record>`. A file with another header, or that does
//! not decode, is ignored and rebuilt.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"RVSIDX01";
/// How many times a file that changes while being hashed is re-read.
const HASH_ATTEMPTS: usize = 3;

/// A BLAKE3 digest of a representation's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// All 64 hex digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// The entity-tag's opaque part: the first 128 bits in hex. Collisions
    /// at that width are out of reach for any real tree.
    pub fn etag_opaque(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(32);
        hex
    }
}

/// Which file (device, inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
}

/// What the file looked like when it was hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileStamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

#[cfg(unix)]
pub(crate) fn identity_and_stamp(meta: &Metadata) -> (FileIdentity, FileStamp) {
    use std::os::unix::fs::MetadataExt;
    let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    (
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        },
        FileStamp {
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        },
    )
}

#[derive(Serialize, Deserialize)]
struct Record {
    identity: FileIdentity,
    stamp: FileStamp,
    hash: ContentHash,
}

/// The in-memory index, saved to disk now and then.
#[derive(Debug)]
pub(crate) struct ContentIndex {
    entries: RwLock<HashMap<FileIdentity, (FileStamp, ContentHash)>>,
    path: PathBuf,
    files_hashed: AtomicU64,
    dirty: AtomicBool,
    save_scheduled: AtomicBool,
    save_lock: Mutex<()>,
}

impl ContentIndex {
    /// Loads the index saved in `data_dir`, or starts empty.
    pub(crate) fn load(data_dir: &Path) -> Self {
        let path = data_dir.join("static-index.bin");
        let entries = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "static ETag index unreadable; rebuilding it");
                HashMap::new()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read static ETag index; rebuilding it");
                HashMap::new()
            }
        };
        Self {
            entries: RwLock::new(entries),
            path,
            files_hashed: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            save_scheduled: AtomicBool::new(false),
            save_lock: Mutex::new(()),
        }
    }

    /// Files whose bytes were read and hashed since this index was loaded.
    pub(crate) fn files_hashed(&self) -> u64 {
        self.files_hashed.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.len())
    }

    /// The hash recorded for a file that still has this stamp.
    pub(crate) fn lookup(&self, meta: &Metadata) -> Option<ContentHash> {
        let (identity, stamp) = identity_and_stamp(meta);
        let entries = self.entries.read().ok()?;
        match entries.get(&identity) {
            Some((known, hash)) if *known == stamp => Some(*hash),
            _ => None,
        }
    }

    /// Records the hash of a file whose metadata is `meta`.
    pub(crate) fn record(&self, meta: &Metadata, hash: ContentHash) {
        let (identity, stamp) = identity_and_stamp(meta);
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(identity, (stamp, hash));
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// The hash of the open `file` whose metadata is `meta`: from the index
    /// when the stamp still matches, else by reading the file (and then
    /// recorded). Blocking; call from a blocking thread.
    ///
    /// Returns the hash and the metadata it belongs to, which differs from
    /// `meta` when the file changed under us.
    pub(crate) fn hash_of(&self, file: &mut File, meta: Metadata) -> io::Result<(ContentHash, Metadata)> {
        if let Some(hash) = self.lookup(&meta) {
            return Ok((hash, meta));
        }
        let mut before = meta;
        for _ in 0..HASH_ATTEMPTS {
            file.seek(SeekFrom::Start(0))?;
            let mut hasher = blake3::Hasher::new();
            let hashed = io::copy(file, &mut hasher)?;
            self.files_hashed.fetch_add(1, Ordering::Relaxed);
            let after = file.metadata()?;
            // Only a file that did not change while being read gets recorded.
            if identity_and_stamp(&after) == identity_and_stamp(&before) && hashed == after.len() {
                let hash = ContentHash(*hasher.finalize().as_bytes());
                self.record(&after, hash);
                file.seek(SeekFrom::Start(0))?;
                return Ok((hash, after));
            }
            before = after;
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "the file keeps changing while it is being hashed",
        ))
    }

    /// [`ContentIndex::hash_of`] when reading the file is allowed
    /// (`may_read`, off the async worker), else only the recorded hash:
    /// `Ok(None)` when the file would have to be read.
    pub(crate) fn hash_if(
        &self,
        may_read: bool,
        file: &mut File,
        meta: Metadata,
    ) -> io::Result<Option<(ContentHash, Metadata)>> {
        if may_read {
            return self.hash_of(file, meta).map(Some);
        }
        Ok(self.lookup(&meta).map(|hash| (hash, meta)))
    }

    /// Keeps only the entries whose identity is in `keep` (after a full walk).
    pub(crate) fn retain(&self, keep: &std::collections::HashSet<FileIdentity>) {
        if let Ok(mut entries) = self.entries.write() {
            let before = entries.len();
            entries.retain(|identity, _| keep.contains(identity));
            if entries.len() != before {
                self.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Writes the index to disk if it changed since the last save.
    pub(crate) fn save(&self) -> io::Result<()> {
        let _one_writer = self
            .save_lock
            .lock()
            .map_err(|_| io::Error::other("index save lock poisoned"))?;
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let records: Vec<Record> = {
            let entries = self
                .entries
                .read()
                .map_err(|_| io::Error::other("index lock poisoned"))?;
            entries
                .iter()
                .map(|(identity, (stamp, hash))| Record {
                    identity: *identity,
                    stamp: *stamp,
                    hash: *hash,
                })
                .collect()
        };
        let result = write_atomically(&self.path, &encode(&records)?);
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result
    }

    /// Saves soon, from a task on the current runtime, so that bursts of
    /// new files cost one write. Without a runtime, does nothing (the
    /// owner saves on drop).
    pub(crate) fn schedule_save(self: &Arc<Self>) {
        if !self.dirty.load(Ordering::Acquire) || self.save_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.save_scheduled.store(false, Ordering::Release);
            return;
        };
        let index = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            index.save_scheduled.store(false, Ordering::Release);
            let saved = tokio::task::spawn_blocking(move || index.save()).await;
            if let Ok(Err(e)) = saved {
                tracing::warn!(error = %e, "cannot save the static ETag index");
            }
        });
    }
}

fn encode(records: &[Record]) -> io::Result<Vec<u8>> {
    let mut bytes = MAGIC.to_vec();
    let body = postcard::to_stdvec(records).map_err(io::Error::other)?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Option<HashMap<FileIdentity, (FileStamp, ContentHash)>> {
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let records: Vec<Record> = postcard::from_bytes(body).ok()?;
    Some(
        records
            .into_iter()
            .map(|r| (r.identity, (r.stamp, r.hash)))
            .collect(),
    )
}

/// Opens `path` and `fstat`s the open file: the identity and stamp the
/// index keys on are those of the file read, not of whatever the path
/// named a moment earlier.
pub(crate) fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Writes `bytes` to `path` so that readers see the old or the new file,
/// never a torn one: a temporary file in the same directory, synced, then
/// renamed over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file_path = dir.path().join("f");
        std::fs::write(&file_path, b"hello").unwrap();
        let index = ContentIndex::load(dir.path());
        let mut file = File::open(&file_path).unwrap();
        let meta = file.metadata().unwrap();
        let (hash, _) = index.hash_of(&mut file, meta).unwrap();
        assert_eq!(hash, ContentHash::of(b"hello"));
        assert_eq!(index.files_hashed(), 1);
        index.save().unwrap();

        let reloaded = ContentIndex::load(dir.path());
        assert_eq!(reloaded.lookup(&file.metadata().unwrap()), Some(hash));
        assert_eq!(reloaded.files_hashed(), 0);

        std::fs::write(dir.path().join("static-index.bin"), b"RVSIDX01garbage").unwrap();
        assert_eq!(ContentIndex::load(dir.path()).len(), 0);
        std::fs::write(dir.path().join("static-index.bin"), b"OTHERFMT").unwrap();
        assert_eq!(ContentIndex::load(dir.path()).len(), 0);
    }
}
