//! Which variant of a file to send: a precompressed sibling ranked above
//! identity by `Accept-Encoding`, else an on-the-fly compression so
//! ranked, else the file as it is (if the client accepts identity), each
//! with the hash of its own bytes.

use std::fs::{File, Metadata};
use std::path::Path;
use std::sync::Arc;

use super::compress::{Compressions, MAX_COMPRESS_LEN, MIN_COMPRESS_LEN};
use super::confine::Confinement;
use super::encoding::{Coding, RankedCodings};
use super::failure::Detour;
use super::index::{ContentHash, ContentIndex, open};

/// The variant chosen.
pub(super) struct Variant {
    pub(super) file: File,
    pub(super) meta: Metadata,
    /// Whose modification time is the `Last-Modified` (the source file for
    /// on-the-fly compression).
    pub(super) modified_meta: Metadata,
    pub(super) hash: ContentHash,
    pub(super) coding: Option<Coding>,
}

/// What variant selection needs.
#[derive(Debug)]
pub(super) struct Variants {
    pub(super) index: Arc<ContentIndex>,
    pub(super) compressions: Arc<Compressions>,
    pub(super) compress_on_the_fly: bool,
}

impl Variants {
    /// Picks what to send for the regular file `path`, open as `file`,
    /// for a client that ranks codings as `codings`; `compressible` when
    /// its media type compresses well. `None` when the client accepts
    /// none of the variants. On the async worker (`inline`), reading a
    /// file to hash it or compressing is [`Detour::NeedsBlocking`].
    pub(super) fn select(
        &self,
        codings: &RankedCodings,
        inline: bool,
        confinement: &Confinement,
        (mut file, meta): (File, Metadata),
        path: &Path,
        compressible: bool,
    ) -> Result<Option<Variant>, Detour> {
        let compressible = compressible
            && self.compress_on_the_fly
            && (MIN_COMPRESS_LEN..=MAX_COMPRESS_LEN).contains(&meta.len());
        for coding in codings.preferred_over_identity() {
            if let Some((mut sibling, sibling_meta)) = open_sibling(confinement, path, &meta, coding) {
                let (hash, sibling_meta) = self.hash(inline, &mut sibling, sibling_meta)?;
                return Ok(Some(Variant {
                    file: sibling,
                    modified_meta: sibling_meta.clone(),
                    meta: sibling_meta,
                    hash,
                    coding: Some(coding),
                }));
            }
        }
        let (identity_hash, meta) = self.hash(inline, &mut file, meta)?;
        if compressible {
            for coding in codings.preferred_over_identity() {
                if let Some((compressed, compressed_meta, hash)) =
                    self.compressions
                        .get_or_make(inline, &mut file, path, identity_hash, coding)?
                {
                    return Ok(Some(Variant {
                        file: compressed,
                        meta: compressed_meta,
                        modified_meta: meta,
                        hash,
                        coding: Some(coding),
                    }));
                }
            }
        }
        if !codings.identity_acceptable() {
            return Ok(None);
        }
        Ok(Some(Variant {
            file,
            modified_meta: meta.clone(),
            meta,
            hash: identity_hash,
            coding: None,
        }))
    }

    /// The content hash from the index; hashing the file only off the
    /// async worker.
    fn hash(&self, inline: bool, file: &mut File, meta: Metadata) -> Result<(ContentHash, Metadata), Detour> {
        self.index
            .hash_if(!inline, file, meta)?
            .ok_or(Detour::NeedsBlocking)
    }
}

/// `path.<ext>` when it is a regular file inside the root, modified no
/// earlier than the original. The sibling sits in a directory already
/// confined, so only a symlink needs the full check.
///
/// A sibling older than its original was most likely left behind when the
/// original changed; sending it would give gzip clients other content than
/// identity clients, so it is skipped (and the original compressed on the
/// fly instead).
fn open_sibling(
    confinement: &Confinement,
    path: &Path,
    original: &Metadata,
    coding: Coding,
) -> Option<(File, Metadata)> {
    let mut name = path.file_name()?.to_os_string();
    name.push(".");
    name.push(coding.extension());
    let sibling = path.with_file_name(name);
    let link_meta = std::fs::symlink_metadata(&sibling).ok()?;
    let sibling = if link_meta.file_type().is_symlink() {
        confinement.confine(&sibling).ok()?
    } else {
        sibling
    };
    let (file, meta) = open(&sibling).ok()?;
    if let (Ok(sibling_time), Ok(original_time)) = (meta.modified(), original.modified())
        && sibling_time < original_time
    {
        tracing::debug!(path = %sibling.display(), "precompressed sibling older than its original; skipped");
        return None;
    }
    meta.is_file().then_some((file, meta))
}
