//! One cached object and its on-disk encoding.
//!
//! Disk layout of a value (foyer stores the key next to it and checksums both with xxh64):
//!
//! ```text
//! "RVE1" | header_len u32 LE | postcard(Header) | meta | body | xxh3-64 LE of everything before
//! ```
//!
//! Our own xxh3 makes a damaged entry detectable no matter which foyer code path read it; a decode
//! failure is reported to foyer as a checksum mismatch, which makes foyer drop the entry and answer
//! a miss.
//!
//! What the proxy derives from an object ([`StoredObject::derived`]) is never written: it lives
//! only as long as the object stays in memory, and is derived again after a disk read.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use foyer::{Code, Error as FoyerError, ErrorKind};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// A cached response as the storage keeps it, with a slot for `D`, what its user derives from it
/// ([`StoredObject::derived`]): the speed-up cache that spares a hit decoding `meta` again. The proxy
/// keeps its decoded entry there ([`crate::entry::DecodedEntry`]); `()` (the default) for a storage
/// used on its own. The storage never looks inside `D`.
pub struct StoredObject<D = ()> {
    /// The effective request URL (what URL and prefix purges match).
    pub url: String,
    /// Surrogate keys (what tag purges match).
    pub tags: Vec<String>,
    /// Opaque metadata serialised by the proxy.
    pub meta: Bytes,
    /// The response body.
    pub body: Bytes,
    /// The ban generation current when the object was stored; set by the storage.
    pub(crate) generation: u64,
    /// What was derived from `meta` on the first lookup; see [`StoredObject::derived`].
    derived: OnceLock<D>,
}

impl<D> StoredObject<D> {
    /// A new object; the storage stamps its ban generation when it is inserted.
    pub fn new(url: impl Into<String>, tags: Vec<String>, meta: Bytes, body: Bytes) -> Self {
        Self::with_generation(url.into(), tags, meta, body, 0)
    }

    pub(crate) fn with_generation(
        url: String,
        tags: Vec<String>,
        meta: Bytes,
        body: Bytes,
        generation: u64,
    ) -> Self {
        Self {
            url,
            tags,
            meta,
            body,
            generation,
            derived: OnceLock::new(),
        }
    }

    /// What `derive` makes of this object, computed on the first call and kept with the object
    /// for as long as the storage holds it, so that every later hit skips decoding `meta`. Later
    /// calls return the kept value and do not call their `derive`.
    ///
    /// The memory tier's weigher counts the slot itself (`size_of::<D>()`, inside the object) but
    /// not what `D` owns on the heap: that is computed after the insert, and only for objects that
    /// are read.
    pub fn derived(&self, derive: impl FnOnce(&Self) -> D) -> &D {
        self.derived.get_or_init(|| derive(self))
    }

    /// Stores this object as of `generation` ([`Storage::generation`](super::Storage::generation)
    /// when the request that fetched it was sent) rather than as of the insert, so that a purge made
    /// while that request was in flight covers it.
    #[must_use]
    pub fn as_of_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    /// The ban generation the storage stamped on this object when storing it (0 before that).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes this object counts for against a size limit: payload plus variable-size fields. The fixed
    /// per-entry overhead is added by [`weight`].
    pub(crate) fn payload_len(&self) -> u64 {
        let tags: usize = self.tags.iter().map(String::len).sum();
        (self.url.len() + tags + self.meta.len() + self.body.len()) as u64
    }
}

impl<D> Clone for StoredObject<D> {
    /// A copy without what was derived from it (derived again on demand).
    fn clone(&self) -> Self {
        Self::with_generation(
            self.url.clone(),
            self.tags.clone(),
            self.meta.clone(),
            self.body.clone(),
            self.generation,
        )
    }
}

impl<D> PartialEq for StoredObject<D> {
    /// The stored fields; what was derived from them follows from them.
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
            && self.tags == other.tags
            && self.meta == other.meta
            && self.body == other.body
            && self.generation == other.generation
    }
}

impl<D> Eq for StoredObject<D> {}

impl<D> std::fmt::Debug for StoredObject<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("url", &self.url)
            .field("tags", &self.tags)
            .field("meta", &self.meta)
            .field("body", &self.body)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Approximate heap bytes of one memory-tier entry that are neither payload nor the
/// [`StoredObject`] itself: foyer's record, the key's allocation header, the `Arc`'s counters and
/// allocator rounding. [`weight`] adds the object's own size, which depends on `D` (on x86-64: 128
/// bytes for `StoredObject<()>`, 232 for the proxy's, whose slot holds its entry inline). Measured with the `memory_overhead_per_object` test
/// (`StoredObject<()>`: 423 bytes per 1 KiB object besides the payload, 400 weighed); keep in step
/// with it.
pub(crate) const ENTRY_OVERHEAD: usize = 272;

/// The weight of `key → object` in the memory tier: the object's own size (its `derived` slot
/// included, empty or not), the fixed overhead and the payload. What a derived value owns on the
/// heap ([`StoredObject::derived`]) is not counted.
pub(crate) fn weight<D>(key: &str, object: &StoredObject<D>) -> usize {
    let payload = usize::try_from(object.payload_len()).unwrap_or(usize::MAX);
    ENTRY_OVERHEAD
        .saturating_add(size_of::<StoredObject<D>>())
        .saturating_add(key.len())
        .saturating_add(payload)
}

/// The value type held by the foyer caches: a shared object, so a hit is a reference-count bump.
pub(crate) struct CachedValue<D>(pub(crate) Arc<StoredObject<D>>);

impl<D> Clone for CachedValue<D> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<D> std::fmt::Debug for CachedValue<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CachedValue").field(&self.0).finish()
    }
}

const MAGIC: &[u8; 4] = b"RVE1";
/// Refuse to allocate for absurd lengths read from a damaged header.
const MAX_DECODED_LEN: u64 = 1 << 36;

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    generation: u64,
    #[serde(borrow)]
    url: std::borrow::Cow<'a, str>,
    tags: Vec<std::borrow::Cow<'a, str>>,
    meta_len: u64,
    body_len: u64,
}

fn damaged(what: &'static str) -> FoyerError {
    // ChecksumMismatch (not Parse) so that foyer's block engine drops the entry and reports a miss.
    FoyerError::new(
        ErrorKind::ChecksumMismatch,
        format!("damaged cache entry: {what}"),
    )
}

/// A writer that also feeds an xxh3 hasher.
struct HashingWriter<'w, W> {
    inner: &'w mut W,
    hasher: Xxh3,
}

impl<W: Write> HashingWriter<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> foyer::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes).map_err(FoyerError::io_error)
    }
}

impl<D> CachedValue<D> {
    fn header(&self) -> Header<'_> {
        let object = &self.0;
        Header {
            generation: object.generation,
            url: object.url.as_str().into(),
            tags: object.tags.iter().map(|tag| tag.as_str().into()).collect(),
            meta_len: object.meta.len() as u64,
            body_len: object.body.len() as u64,
        }
    }

    fn encoded_header(&self) -> foyer::Result<Vec<u8>> {
        postcard::to_stdvec(&self.header()).map_err(|e| {
            FoyerError::new(ErrorKind::External, "cannot encode cache entry header").with_source(e)
        })
    }
}

fn read_exact(
    reader: &mut impl Read,
    hasher: &mut Xxh3,
    buf: &mut [u8],
    what: &'static str,
) -> foyer::Result<()> {
    reader.read_exact(buf).map_err(|_| damaged(what))?;
    hasher.update(buf);
    Ok(())
}

impl<D: Send + Sync + 'static> Code for CachedValue<D> {
    fn encode(&self, writer: &mut impl Write) -> foyer::Result<()> {
        let header = self.encoded_header()?;
        let header_len = u32::try_from(header.len())
            .map_err(|_| FoyerError::new(ErrorKind::OutOfRange, "cache entry header too long"))?;
        let mut out = HashingWriter {
            inner: writer,
            hasher: Xxh3::new(),
        };
        out.put(MAGIC)?;
        out.put(&header_len.to_le_bytes())?;
        out.put(&header)?;
        out.put(&self.0.meta)?;
        out.put(&self.0.body)?;
        let checksum = out.hasher.digest();
        out.inner
            .write_all(&checksum.to_le_bytes())
            .map_err(FoyerError::io_error)
    }

    fn decode(reader: &mut impl Read) -> foyer::Result<Self> {
        let mut hasher = Xxh3::new();
        let mut magic = [0u8; 4];
        read_exact(reader, &mut hasher, &mut magic, "truncated magic")?;
        if &magic != MAGIC {
            return Err(damaged("bad magic"));
        }
        let mut len = [0u8; 4];
        read_exact(reader, &mut hasher, &mut len, "truncated header length")?;
        let header_len = u64::from(u32::from_le_bytes(len));
        if header_len > MAX_DECODED_LEN {
            return Err(damaged("header length out of range"));
        }
        let mut header_bytes = vec![0u8; header_len as usize];
        read_exact(reader, &mut hasher, &mut header_bytes, "truncated header")?;
        let header: Header<'_> = postcard::from_bytes(&header_bytes).map_err(|_| damaged("bad header"))?;
        let payload_len = header
            .meta_len
            .checked_add(header.body_len)
            .ok_or_else(|| damaged("lengths"))?;
        if payload_len > MAX_DECODED_LEN {
            return Err(damaged("payload length out of range"));
        }
        let mut payload = vec![0u8; payload_len as usize];
        read_exact(reader, &mut hasher, &mut payload, "truncated payload")?;
        let mut stored = [0u8; 8];
        reader
            .read_exact(&mut stored)
            .map_err(|_| damaged("truncated checksum"))?;
        if u64::from_le_bytes(stored) != hasher.digest() {
            return Err(damaged("checksum mismatch"));
        }
        // One allocation holds meta and body; both are zero-copy slices of it.
        let payload = Bytes::from(payload);
        let meta_len = header.meta_len as usize;
        let object = StoredObject::with_generation(
            header.url.into_owned(),
            header
                .tags
                .into_iter()
                .map(std::borrow::Cow::into_owned)
                .collect(),
            payload.slice(..meta_len),
            payload.slice(meta_len..),
            header.generation,
        );
        Ok(Self(Arc::new(object)))
    }

    fn estimated_size(&self) -> usize {
        let header = self.encoded_header().map(|h| h.len()).unwrap_or(0);
        MAGIC.len() + 4 + header + self.0.meta.len() + self.0.body.len() + 8
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn encoded() -> (CachedValue<()>, Vec<u8>) {
        let mut object = StoredObject::new(
            "http://o/a",
            vec!["t1".to_owned(), "t2".to_owned()],
            Bytes::from_static(b"meta"),
            Bytes::from_static(b"the body"),
        );
        object.generation = 7;
        let value = CachedValue(Arc::new(object));
        let mut bytes = Vec::new();
        value.encode(&mut bytes).unwrap();
        (value, bytes)
    }

    #[test]
    fn encoding_round_trips_and_estimates_its_size_exactly() {
        let (value, bytes) = encoded();
        assert_eq!(value.estimated_size(), bytes.len());
        let decoded = CachedValue::decode(&mut &bytes[..]).unwrap();
        assert_eq!(decoded.0, value.0);
    }

    /// The disk format, byte for byte: entries written by earlier versions must still decode.
    #[test]
    fn the_disk_format_is_pinned() {
        let (_, bytes) = encoded();
        let expected = [
            &b"RVE1"[..],
            &[21, 0, 0, 0],
            // postcard(Header): generation 7, the URL, two tags, meta_len 4, body_len 8.
            &[7, 10],
            b"http://o/a",
            &[2, 2],
            b"t1",
            &[2],
            b"t2",
            &[4, 8],
            b"meta",
            b"the body",
            // xxh3-64 LE of everything before.
            &[0x25, 0xfe, 0x4f, 0x28, 0x03, 0x18, 0x58, 0x68],
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn what_is_derived_is_never_written() {
        let (_, without) = encoded();
        let object = StoredObject::new(
            "http://o/a",
            vec!["t1".to_owned(), "t2".to_owned()],
            Bytes::from_static(b"meta"),
            Bytes::from_static(b"the body"),
        )
        .as_of_generation(7);
        object.derived(|_| "kept in memory only".to_owned());
        let mut with = Vec::new();
        CachedValue(Arc::new(object)).encode(&mut with).unwrap();
        assert_eq!(with, without);
        let decoded = CachedValue::<String>::decode(&mut &with[..]).unwrap();
        assert_eq!(decoded.0.derived(|_| "derived again".to_owned()), "derived again");
    }

    #[test]
    fn derived_is_computed_once_per_object_and_not_cloned() {
        let object = StoredObject::new("/d", Vec::new(), Bytes::from_static(b"meta"), Bytes::new());
        let calls = std::cell::Cell::new(0);
        let derive = |object: &StoredObject<usize>| {
            calls.set(calls.get() + 1);
            object.meta.len()
        };
        assert_eq!(object.derived(derive), &4);
        assert_eq!(object.derived(derive), &4);
        assert_eq!(calls.get(), 1);
        let copy = object.clone();
        assert_eq!(copy, object);
        assert_eq!(copy.derived(derive), &4);
        assert_eq!(calls.get(), 2, "a clone derives again");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let (_, bytes) = encoded();
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                let error = CachedValue::<()>::decode(&mut &damaged[..]).unwrap_err();
                assert_eq!(error.kind(), ErrorKind::ChecksumMismatch, "byte {at} bit {bit}");
            }
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let (_, bytes) = encoded();
        for len in 0..bytes.len() {
            let error = CachedValue::<()>::decode(&mut &bytes[..len]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ChecksumMismatch, "truncated to {len}");
        }
    }
}
