//! On-the-fly compression, done once per (content, coding) and kept in
//! `<data>/compressed/<blake3 of the identity bytes>.<ext>`
//! ([`Compressions`]).
//!
//! The levels are fixed, so the output for given bytes and library
//! versions is deterministic; its entity-tag is the hash of the compressed
//! bytes themselves (never derived from the identity tag), so a strong
//! tag always names exactly the bytes sent.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::encoding::Coding;
use super::failure::Detour;
use super::index::{self, ContentHash, ContentIndex, open};

/// Smallest file worth compressing: below this the framing overhead and
/// the extra round of negotiation gain little.
pub const MIN_COMPRESS_LEN: u64 = 1024;
/// Largest file compressed on the fly; larger text should ship a
/// precompressed sibling.
pub const MAX_COMPRESS_LEN: u64 = 16 * 1024 * 1024;

/// Files up to this size are compressed on the fly while the first request
/// waits (a few milliseconds); larger ones in the background.
pub const COMPRESS_WHILE_WAITING: u64 = 256 * 1024;

/// A compression at hand: the open file, its metadata and its hash.
pub(super) type Compressed = (File, Metadata, ContentHash);

/// The cache of compressions in the data directory, and what is known
/// about compressions not made.
#[derive(Debug)]
pub(super) struct Compressions {
    dir: PathBuf,
    index: Arc<ContentIndex>,
    /// (content, coding) pairs whose compression did not pay off.
    not_worth_compressing: RwLock<HashSet<(ContentHash, Coding)>>,
    /// (content, coding) pairs being compressed in the background.
    compressing: Mutex<HashSet<(ContentHash, Coding)>>,
}

impl Compressions {
    /// Compressions kept in `dir`, hashed into `index`.
    pub(super) fn new(dir: PathBuf, index: Arc<ContentIndex>) -> Self {
        Self {
            dir,
            index,
            not_worth_compressing: RwLock::new(HashSet::new()),
            compressing: Mutex::new(HashSet::new()),
        }
    }

    /// Where the compressions are kept.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached compression of the identity content. When missing, it
    /// is made now for files up to [`COMPRESS_WHILE_WAITING`]; larger ones
    /// are compressed in the background and this request gets the next
    /// best variant. `None` when there is none yet or it does not pay off.
    /// On the async worker (`inline`), anything but a known compression is
    /// [`Detour::NeedsBlocking`].
    pub(super) fn get_or_make(
        self: &Arc<Self>,
        inline: bool,
        identity: &mut File,
        identity_path: &Path,
        identity_hash: ContentHash,
        coding: Coding,
    ) -> Result<Option<Compressed>, Detour> {
        let key = (identity_hash, coding);
        if self
            .not_worth_compressing
            .read()
            .is_ok_and(|set| set.contains(&key))
        {
            return Ok(None);
        }
        let cached = cache_path(&self.dir, &identity_hash, coding);
        match open(&cached) {
            Ok((mut file, meta)) => {
                let (hash, meta) = self
                    .index
                    .hash_if(!inline, &mut file, meta)?
                    .ok_or(Detour::NeedsBlocking)?;
                return Ok(Some((file, meta, hash)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if inline {
            return Err(Detour::NeedsBlocking);
        }
        let len = identity.metadata()?.len();
        if len > COMPRESS_WHILE_WAITING
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let first = self.compressing.lock().is_ok_and(|mut set| set.insert(key));
            if first {
                let this = Arc::clone(self);
                let path = identity_path.to_path_buf();
                runtime.spawn_blocking(move || {
                    let made = File::open(&path).and_then(|mut file| this.make(&mut file, key));
                    if let Err(e) = made {
                        tracing::warn!(path = %path.display(), error = %e, "background compression failed");
                    }
                    if let Ok(mut set) = this.compressing.lock() {
                        set.remove(&key);
                    }
                });
            }
            return Ok(None);
        }
        Ok(self.make(identity, key)?)
    }

    /// Compresses the identity content into the cache, if its bytes still
    /// hash to `key.0` and compressing saves at least a tenth.
    fn make(
        &self,
        identity: &mut File,
        (identity_hash, coding): (ContentHash, Coding),
    ) -> io::Result<Option<Compressed>> {
        identity.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(usize::try_from(identity.metadata()?.len()).unwrap_or(0));
        identity.read_to_end(&mut bytes)?;
        identity.seek(SeekFrom::Start(0))?;
        if ContentHash::of(&bytes) != identity_hash {
            // Changed since it was hashed: do not file a compression of
            // new bytes under the old hash. Identity is sent this time.
            return Ok(None);
        }
        let output = compress(&bytes, coding)?;
        if output.len() as u64 * 10 > bytes.len() as u64 * 9 {
            if let Ok(mut set) = self.not_worth_compressing.write() {
                set.insert((identity_hash, coding));
            }
            return Ok(None);
        }
        let cached = cache_path(&self.dir, &identity_hash, coding);
        index::write_atomically(&cached, &output)?;
        let (file, meta) = open(&cached)?;
        let hash = ContentHash::of(&output);
        if meta.len() == output.len() as u64 {
            self.index.record(&meta, hash);
        }
        Ok(Some((file, meta, hash)))
    }
}

/// Whether a media type compresses well.
pub(super) fn is_compressible(essence: &str) -> bool {
    let (kind, subtype) = essence.split_once('/').unwrap_or((essence, ""));
    kind == "text"
        || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
        || matches!(
            essence,
            "application/javascript"
                | "application/x-javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/vnd.ms-fontobject"
                | "font/ttf"
                | "font/otf"
                | "image/x-icon"
                | "image/vnd.microsoft.icon"
                | "image/bmp"
        )
}

/// Where the compressed form of the content with `hash` is cached.
fn cache_path(dir: &Path, hash: &ContentHash, coding: Coding) -> PathBuf {
    dir.join(format!("{}.{}", hash.to_hex(), coding.extension()))
}

/// Compresses `input`. Deterministic for given input and library versions.
fn compress(input: &[u8], coding: Coding) -> io::Result<Vec<u8>> {
    let large = input.len() > 1024 * 1024;
    match coding {
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(input)?;
            encoder.finish()
        }
        Coding::Brotli => {
            let mut output = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: if large { 9 } else { 11 },
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &input[..], &mut output, &params)?;
            Ok(output)
        }
        Coding::Zstd => zstd::bulk::compress(input, if large { 9 } else { 19 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_deterministic_and_round_trips() {
        let input = "hello, revalidate! ".repeat(200);
        for coding in Coding::ALL {
            let a = compress(input.as_bytes(), coding).unwrap();
            let b = compress(input.as_bytes(), coding).unwrap();
            assert_eq!(a, b, "{coding:?}");
            assert!(a.len() < input.len() / 4, "{coding:?}");
            let back = match coding {
                Coding::Gzip => {
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a[..]), &mut out).unwrap();
                    out
                }
                Coding::Brotli => {
                    let mut out = Vec::new();
                    brotli::BrotliDecompress(&mut &a[..], &mut out).unwrap();
                    out
                }
                Coding::Zstd => zstd::decode_all(&a[..]).unwrap(),
            };
            assert_eq!(back, input.as_bytes());
        }
    }

    #[test]
    fn compressible_types() {
        for yes in [
            "text/html",
            "application/javascript",
            "image/svg+xml",
            "application/ld+json",
        ] {
            assert!(is_compressible(yes), "{yes}");
        }
        for no in [
            "image/png",
            "application/octet-stream",
            "video/mp4",
            "application/gzip",
        ] {
            assert!(!is_compressible(no), "{no}");
        }
    }
}
