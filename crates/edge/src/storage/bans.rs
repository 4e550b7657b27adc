//! Purges by URL, prefix and tag, as Varnish-style bans.
//!
//! Hand-written on purpose: no crate keeps bans over a cache it cannot enumerate (foyer), and the
//! log's own record format is what lets a damaged log be detected and the disk tier cleared.
//!
//! foyer cannot enumerate its entries, so a purge cannot visit what it covers. Instead every purge is a
//! *ban* with a generation number, and every stored object remembers the generation current when it
//! was stored. An object is dead when a matching ban is newer than the object (`ban.generation >
//! object.generation`), or when the object is older than the *floor*. Lookups test this and remove
//! dead objects.
//!
//! Bans are kept until there are more than [`MAX_BANS`]; then the oldest half collapse into the floor
//! (everything stored before them is dead). That purges more than was asked, never less.
//!
//! With a disk tier the bans are persisted in `bans.log`: an append-only sequence of records
//! `len u32 LE | postcard(Record) | xxh3-64 LE of the postcard bytes`, each appended and synced to disk
//! before the purge is acknowledged. A damaged or missing log means we no longer know what was purged,
//! so the caller clears the whole disk tier (see [`Recovery`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{StorageError, StoredObject};

/// How many bans are remembered before the oldest half collapse into a floor.
pub const MAX_BANS: usize = 65_536;

/// What a ban matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BanKind {
    /// The object's URL equals this.
    Url(String),
    /// The object's URL starts with this.
    Prefix(String),
    /// The object carries this tag.
    Tag(String),
    /// The object's URL equals this, or is this with a query string
    /// (`url?…`): a URL and every query variant of it. (Last, so that
    /// the variant numbers of older logs still read.)
    UrlWithQueries(String),
}

/// One record of `bans.log`.
#[derive(Debug, Serialize, Deserialize)]
enum Record {
    /// First record of a compacted log: the floor and the generation at compaction time.
    Header { floor: u64, generation: u64 },
    /// A ban created at `generation`.
    Ban { generation: u64, kind: BanKind },
}

#[derive(Debug, Default)]
struct BanSet {
    /// The generation new objects are stamped with; every ban increments it first.
    generation: u64,
    /// Objects with `generation < floor` are dead.
    floor: u64,
    urls: HashMap<String, u64>,
    /// [`BanKind::UrlWithQueries`]: matched by the URL up to its `?`, one
    /// map lookup (a prefix ban per purged URL would make every lookup
    /// scan them all).
    with_queries: HashMap<String, u64>,
    tags: HashMap<String, u64>,
    prefixes: Vec<(String, u64)>,
}

impl BanSet {
    fn len(&self) -> usize {
        self.urls.len() + self.with_queries.len() + self.tags.len() + self.prefixes.len()
    }

    fn apply(&mut self, generation: u64, kind: BanKind) {
        self.generation = self.generation.max(generation);
        match kind {
            BanKind::Url(url) => {
                self.urls.insert(url, generation);
            }
            BanKind::Tag(tag) => {
                self.tags.insert(tag, generation);
            }
            BanKind::UrlWithQueries(url) => {
                self.with_queries.insert(url, generation);
            }
            BanKind::Prefix(prefix) => match self.prefixes.iter_mut().find(|(p, _)| *p == prefix) {
                Some(existing) => existing.1 = generation,
                None => self.prefixes.push((prefix, generation)),
            },
        }
    }

    fn is_dead<D>(&self, object: &StoredObject<D>) -> bool {
        let stored = object.generation;
        if stored == self.generation && self.floor <= stored {
            // Fast path: no ban was created since the object was stored.
            return false;
        }
        // An object from a future generation was stored under a ban log we no longer have.
        if stored < self.floor || stored > self.generation {
            return true;
        }
        let newer = |ban: Option<&u64>| ban.is_some_and(|&generation| generation > stored);
        let without_query = object
            .url
            .split_once('?')
            .map_or(object.url.as_str(), |(url, _)| url);
        newer(self.urls.get(&object.url))
            || (!self.with_queries.is_empty() && newer(self.with_queries.get(without_query)))
            || object.tags.iter().any(|tag| newer(self.tags.get(tag)))
            || self
                .prefixes
                .iter()
                .any(|(prefix, generation)| *generation > stored && object.url.starts_with(prefix))
    }

    /// Collapses the oldest half of the bans into the floor when there are more than `max`.
    /// Returns whether anything collapsed.
    fn collapse(&mut self, max: usize) -> bool {
        if self.len() <= max {
            return false;
        }
        let mut generations: Vec<u64> = self
            .urls
            .values()
            .chain(self.with_queries.values())
            .chain(self.tags.values())
            .chain(self.prefixes.iter().map(|(_, generation)| generation))
            .copied()
            .collect();
        generations.sort_unstable();
        // Every ban at or below the new floor is implied by it: it killed objects older than itself.
        let new_floor = generations[generations.len() / 2];
        self.floor = self.floor.max(new_floor);
        let floor = self.floor;
        self.urls.retain(|_, generation| *generation > floor);
        self.with_queries.retain(|_, generation| *generation > floor);
        self.tags.retain(|_, generation| *generation > floor);
        self.prefixes.retain(|(_, generation)| *generation > floor);
        true
    }

    fn records(&self) -> Vec<Record> {
        let mut records = vec![Record::Header {
            floor: self.floor,
            generation: self.generation,
        }];
        let urls = self.urls.iter().map(|(url, &g)| (g, BanKind::Url(url.clone())));
        let with_queries = self
            .with_queries
            .iter()
            .map(|(url, &g)| (g, BanKind::UrlWithQueries(url.clone())));
        let tags = self.tags.iter().map(|(tag, &g)| (g, BanKind::Tag(tag.clone())));
        let prefixes = self
            .prefixes
            .iter()
            .map(|(prefix, g)| (*g, BanKind::Prefix(prefix.clone())));
        let mut bans: Vec<(u64, BanKind)> = urls.chain(with_queries).chain(tags).chain(prefixes).collect();
        bans.sort_by_key(|(generation, _)| *generation);
        records.extend(
            bans.into_iter()
                .map(|(generation, kind)| Record::Ban { generation, kind }),
        );
        records
    }
}

/// What opening a ban log found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The log was read completely; the disk tier's entries can be trusted.
    Intact,
    /// There was no log: entries on disk (if any) predate what we know, clear the disk tier.
    Missing,
    /// The log was damaged: clear the disk tier; everything older than now is dead anyway.
    Damaged,
}

/// The ban list, optionally persisted.
#[derive(Debug)]
pub(crate) struct Bans {
    set: RwLock<BanSet>,
    /// Serialises ban creation (generation order = log order) and owns the log file.
    log: Mutex<Option<BanLog>>,
    max_bans: usize,
}

#[derive(Debug)]
struct BanLog {
    path: PathBuf,
    file: File,
}

impl Bans {
    /// Bans kept only in memory.
    pub(crate) fn in_memory(max_bans: usize) -> Self {
        let set = BanSet {
            generation: 1,
            floor: 0,
            ..BanSet::default()
        };
        Self {
            set: RwLock::new(set),
            log: Mutex::new(None),
            max_bans,
        }
    }

    /// Opens (or creates) `path`, replays it and rewrites it compacted.
    pub(crate) fn open(path: &Path, max_bans: usize) -> Result<(Self, Recovery), StorageError> {
        let (mut set, recovery) = match std::fs::read(path) {
            Ok(bytes) => replay(&bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => (
                BanSet {
                    generation: 1,
                    floor: 0,
                    ..BanSet::default()
                },
                Recovery::Missing,
            ),
            Err(e) => return Err(e.into()),
        };
        if recovery != Recovery::Intact {
            // Nothing stored before now can be trusted: start a new epoch above every generation the lost
            // log can have handed out, and make everything older dead. The replayed part may be short of
            // the lost tail, so the epoch starts at the clock in microseconds: an earlier epoch began at an
            // earlier microsecond and added one per ban, and bans (each one synced to disk) take far longer
            // than a microsecond. The caller also clears the disk tier.
            set.generation = (set.generation + 1).max(epoch_start());
            set.floor = set.generation;
            set.urls.clear();
            set.with_queries.clear();
            set.tags.clear();
            set.prefixes.clear();
        }
        set.collapse(max_bans);
        let file = rewrite(path, &set.records())?;
        let bans = Self {
            set: RwLock::new(set),
            log: Mutex::new(Some(BanLog {
                path: path.to_owned(),
                file,
            })),
            max_bans,
        };
        Ok((bans, recovery))
    }

    /// The generation to stamp on an object stored now.
    pub(crate) fn current(&self) -> u64 {
        self.set.read().unwrap_or_else(PoisonError::into_inner).generation
    }

    /// Whether a ban (or the floor) covers `object`.
    pub(crate) fn is_dead<D>(&self, object: &StoredObject<D>) -> bool {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_dead(object)
    }

    /// How many bans are remembered.
    pub(crate) fn len(&self) -> usize {
        self.set.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Adds a ban: persists it first (blocking file I/O), then makes it effective.
    pub(crate) fn add(&self, kind: BanKind) -> Result<u64, StorageError> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.current() + 1;
        if let Some(log) = log.as_mut() {
            append(
                &mut log.file,
                &Record::Ban {
                    generation,
                    kind: kind.clone(),
                },
            )?;
        }
        let mut set = self.set.write().unwrap_or_else(PoisonError::into_inner);
        set.apply(generation, kind);
        if set.collapse(self.max_bans)
            && let Some(log) = log.as_mut()
        {
            log.file = rewrite(&log.path, &set.records())?;
        }
        Ok(generation)
    }
}

/// Microseconds since the Unix epoch: the first generation of a new ban log.
fn epoch_start() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX / 2)
}

/// Replays log bytes. Stops at the first damaged record.
fn replay(mut bytes: &[u8]) -> (BanSet, Recovery) {
    let mut set = BanSet::default();
    let mut saw_header = false;
    while !bytes.is_empty() {
        let Some(record) = next_record(&mut bytes) else {
            return (set, Recovery::Damaged);
        };
        match record {
            Record::Header { floor, generation } => {
                saw_header = true;
                set.floor = set.floor.max(floor);
                set.generation = set.generation.max(generation);
            }
            Record::Ban { generation, kind } => set.apply(generation, kind),
        }
    }
    if saw_header {
        (set, Recovery::Intact)
    } else {
        (set, Recovery::Damaged)
    }
}

fn next_record(bytes: &mut &[u8]) -> Option<Record> {
    let mut len = [0u8; 4];
    bytes.read_exact(&mut len).ok()?;
    let len = u32::from_le_bytes(len) as usize;
    if bytes.len() < len + 8 {
        return None;
    }
    let (payload, rest) = bytes.split_at(len);
    let (checksum, rest) = rest.split_at(8);
    *bytes = rest;
    let checksum = u64::from_le_bytes(checksum.try_into().ok()?);
    if checksum != xxh3_64(payload) {
        return None;
    }
    postcard::from_bytes(payload).ok()
}

fn encode(record: &Record) -> Result<Vec<u8>, StorageError> {
    let payload = postcard::to_stdvec(record).map_err(|e| StorageError::Engine(Box::new(e)))?;
    let len = u32::try_from(payload.len()).map_err(|_| StorageError::Config("ban too long".to_owned()))?;
    let mut framed = Vec::with_capacity(payload.len() + 12);
    framed.extend_from_slice(&len.to_le_bytes());
    framed.extend_from_slice(&payload);
    framed.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
    Ok(framed)
}

fn append(file: &mut File, record: &Record) -> Result<(), StorageError> {
    file.write_all(&encode(record)?)?;
    file.sync_data()?;
    Ok(())
}

/// Writes `records` to a temporary file, syncs it and renames it over `path`; returns the new file
/// opened for appending.
fn rewrite(path: &Path, records: &[Record]) -> Result<File, StorageError> {
    let tmp = path.with_extension("log.tmp");
    {
        let mut file = File::create(&tmp)?;
        let mut buf = Vec::new();
        for record in records {
            buf.extend_from_slice(&encode(record)?);
        }
        file.write_all(&buf)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        File::open(dir)?.sync_all()?;
    }
    Ok(OpenOptions::new().append(true).open(path)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;

    fn object(url: &str, tags: &[&str], generation: u64) -> StoredObject {
        let mut object = StoredObject::new(
            url,
            tags.iter().map(|t| (*t).to_owned()).collect(),
            Bytes::new(),
            Bytes::new(),
        );
        object.generation = generation;
        object
    }

    #[test]
    fn ban_kills_older_matching_objects_only() {
        let bans = Bans::in_memory(MAX_BANS);
        let before = bans.current();
        bans.add(BanKind::Prefix("http://a/x/".to_owned())).unwrap();
        bans.add(BanKind::Tag("t1".to_owned())).unwrap();
        bans.add(BanKind::Url("http://a/exact".to_owned())).unwrap();
        bans.add(BanKind::UrlWithQueries("http://a/q".to_owned()))
            .unwrap();
        let after = bans.current();
        let cases = [
            ("http://a/x/1", &[][..], before, true),
            ("http://a/x/1", &[][..], after, false),
            ("http://a/y", &["t1"][..], before, true),
            ("http://a/y", &["t2"][..], before, false),
            ("http://a/exact", &[][..], before, true),
            ("http://a/exact2", &[][..], before, false),
            ("http://a/exact?x=1", &[][..], before, false),
            ("http://a/q", &[][..], before, true),
            ("http://a/q?x=1&y", &[][..], before, true),
            ("http://a/q?", &[][..], before, true),
            ("http://a/q?x=1", &[][..], after, false),
            ("http://a/qq?x=1", &[][..], before, false),
            ("http://a/q/r", &[][..], before, false),
            ("http://a/z", &[][..], after + 5, true),
        ];
        for (url, tags, generation, dead) in cases {
            assert_eq!(
                bans.is_dead(&object(url, tags, generation)),
                dead,
                "{url} {tags:?} {generation}"
            );
        }
    }

    #[test]
    fn collapse_keeps_newest_half_and_raises_floor() {
        let bans = Bans::in_memory(4);
        for n in 0..5 {
            bans.add(BanKind::Url(format!("u{n}"))).unwrap();
        }
        assert!(bans.len() <= 4);
        // An object stored before the first ban is dead whatever its URL.
        assert!(bans.is_dead(&object("unrelated", &[], 1)));
        assert!(!bans.is_dead(&object("unrelated", &[], bans.current())));
    }

    #[test]
    fn log_replays_bans_and_floor_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bans.log");
        let (bans, recovery) = Bans::open(&path, 4).unwrap();
        assert_eq!(recovery, Recovery::Missing);
        let first = bans.current();
        for n in 0..5 {
            bans.add(BanKind::Tag(format!("t{n}"))).unwrap();
        }
        let (generation, len) = (bans.current(), bans.len());
        drop(bans);

        let (bans, recovery) = Bans::open(&path, 4).unwrap();
        assert_eq!(recovery, Recovery::Intact);
        assert_eq!((bans.current(), bans.len()), (generation, len));
        assert!(
            bans.is_dead(&object("u", &[], first)),
            "the collapsed floor survived"
        );
        assert!(bans.is_dead(&object("u", &["t4"], generation - 1)));
        assert!(!bans.is_dead(&object("u", &["t4"], generation)));
    }

    #[test]
    fn damaged_log_starts_an_epoch_above_every_old_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bans.log");
        let (bans, _) = Bans::open(&path, MAX_BANS).unwrap();
        bans.add(BanKind::Url("u".to_owned())).unwrap();
        let old = bans.current();
        drop(bans);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, bytes).unwrap();

        let (bans, recovery) = Bans::open(&path, MAX_BANS).unwrap();
        assert_eq!(recovery, Recovery::Damaged);
        assert!(bans.current() > old);
        assert!(
            bans.is_dead(&object("other", &[], old)),
            "entries of the lost epoch are dead"
        );
        assert!(!bans.is_dead(&object("other", &[], bans.current())));
    }
}
