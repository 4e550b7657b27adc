//! Bodies: where the bytes come from ([`Source`]), which of them are sent
//! ([`Pieces`]), read at once when small or streamed in chunks when large,
//! and the per-stamp memo of small files' bytes ([`SmallFiles`]).

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use revalidate_core::answer::Segment;

use super::failure::Detour;
use super::index::{FileIdentity, FileStamp, identity_and_stamp, open};

/// Bodies up to this size are read in one go; larger ones are streamed in
/// chunks of this size.
const READ_AT_ONCE: u64 = 256 * 1024;
/// Files up to this size are kept in [`SmallFiles`].
const SMALL_FILE_MAX: u64 = 64 * 1024;
/// The bytes [`SmallFiles`] may hold in all.
const SMALL_FILES_CAPACITY: u64 = 64 * 1024 * 1024;

/// The bytes of small files by identity, valid for one stamp: a repeat 200
/// is then one `lstat` and no open/read/close. The stamp (size, mtime and
/// ctime in ns) is the same trust as the ETag index's, so a cached body can
/// never be sent under another file's ETag.
pub(super) type SmallFiles = quick_cache::sync::Cache<FileIdentity, (FileStamp, Bytes), SmallFileWeight>;

/// An empty [`SmallFiles`].
pub(super) fn small_files() -> SmallFiles {
    SmallFiles::with_weighter(4096, SMALL_FILES_CAPACITY, SmallFileWeight)
}

/// Weighs a [`SmallFiles`] entry by its bytes.
#[derive(Clone, Debug)]
pub(super) struct SmallFileWeight;

impl quick_cache::Weighter<FileIdentity, (FileStamp, Bytes)> for SmallFileWeight {
    fn weight(&self, _key: &FileIdentity, value: &(FileStamp, Bytes)) -> u64 {
        // The bytes plus the entry's own bookkeeping, so empty files count.
        value.1.len() as u64 + 64
    }
}

/// Where a representation's bytes are.
pub(super) enum Source {
    /// Open already.
    File(File),
    /// In memory.
    Bytes(Bytes),
    /// A file known only by its `lstat` so far: opened (and checked to be
    /// the same file) only if the response has a body, so a 304, a 412 or
    /// a HEAD costs one metadata syscall and no open/fstat/close.
    Stated {
        path: PathBuf,
        meta: Metadata,
        small_files: Arc<SmallFiles>,
    },
}

/// Which bytes of the representation the body holds.
#[derive(Clone, Debug)]
pub(super) enum Pieces {
    /// One run of bytes (all of them for a `200`, one range for a `206`):
    /// no list to allocate.
    Slice { start: u64, len: u64 },
    /// A `multipart/byteranges` body laid out by the core.
    Multipart(Vec<Segment>),
}

impl Pieces {
    fn into_segments(self) -> PieceIter {
        match self {
            Self::Slice { start, len } => PieceIter::One(Some(Segment::Slice { start, len })),
            Self::Multipart(segments) => PieceIter::Many(segments.into_iter()),
        }
    }
}

enum PieceIter {
    One(Option<Segment>),
    Many(std::vec::IntoIter<Segment>),
}

impl Iterator for PieceIter {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        match self {
            Self::One(segment) => segment.take(),
            Self::Many(segments) => segments.next(),
        }
    }
}

/// The body of `pieces` of `source`, `body_len` bytes: read now when
/// small, else a stream. [`Detour::FileChanged`] when a
/// [`Source::Stated`] file is not the one that was `lstat`ed.
pub(super) fn body_of(source: Source, pieces: Pieces, body_len: u64) -> Result<Body, Detour> {
    match source {
        Source::Bytes(bytes) => Ok(from_bytes(bytes, pieces, body_len)),
        Source::File(file) if body_len <= READ_AT_ONCE => {
            let mut out = Vec::with_capacity(usize::try_from(body_len).unwrap_or(0));
            for segment in pieces.into_segments() {
                match segment {
                    Segment::Literal(literal) => out.extend_from_slice(literal.as_bytes()),
                    Segment::Slice { start, len } => {
                        let old = out.len();
                        out.resize(old + usize::try_from(len).unwrap_or(0), 0);
                        read_exact_at(&file, &mut out[old..], start)?;
                    }
                }
            }
            Ok(Body::from(out))
        }
        Source::File(file) => Ok(stream_file(file, pieces)),
        Source::Stated {
            path,
            meta,
            small_files,
        } => {
            let (mut file, opened) = open(&path)?;
            let (identity, stamp) = identity_and_stamp(&opened);
            if (identity, stamp) != identity_and_stamp(&meta) {
                return Err(Detour::FileChanged);
            }
            if opened.len() > SMALL_FILE_MAX {
                return body_of(Source::File(file), pieces, body_len);
            }
            let mut bytes = Vec::with_capacity(usize::try_from(opened.len()).unwrap_or(0));
            file.read_to_end(&mut bytes)?;
            if bytes.len() as u64 != opened.len() {
                return Err(Detour::FileChanged);
            }
            let bytes = Bytes::from(bytes);
            // Kept only if the file did not change while being read: a
            // cached body outlives this response.
            if file
                .metadata()
                .is_ok_and(|after| identity_and_stamp(&after) == (identity, stamp))
            {
                small_files.insert(identity, (stamp, bytes.clone()));
            }
            Ok(from_bytes(bytes, pieces, body_len))
        }
    }
}

/// The body of `pieces` of bytes in memory; one slice shares them.
fn from_bytes(bytes: Bytes, pieces: Pieces, body_len: u64) -> Body {
    let clamp = |start: u64, len: u64| {
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(bytes.len());
        let end = start
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
            .min(bytes.len());
        start..end
    };
    match pieces {
        Pieces::Slice { start: 0, len } if len == bytes.len() as u64 => Body::from(bytes),
        Pieces::Slice { start, len } => Body::from(bytes.slice(clamp(start, len))),
        Pieces::Multipart(segments) => {
            let mut out = Vec::with_capacity(usize::try_from(body_len).unwrap_or(0));
            for segment in segments {
                match segment {
                    Segment::Literal(literal) => out.extend_from_slice(literal.as_bytes()),
                    Segment::Slice { start, len } => out.extend_from_slice(&bytes[clamp(start, len)]),
                }
            }
            Body::from(out)
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while being read")
        } else {
            e
        }
    })
}

/// Streams `pieces` of a large file in chunks of [`READ_AT_ONCE`]. A file
/// that shrinks mid-way ends the stream with an error, which aborts the
/// connection rather than sending fewer bytes than `Content-Length`.
///
/// Each chunk is read on the worker itself, as nginx does without `aio`: a
/// static tree sits in the page cache, where a 256 KiB read takes tens of
/// microseconds, less than handing it to a blocking thread and back
/// (tokio::fs does that for every chunk).
fn stream_file(file: File, pieces: Pieces) -> Body {
    struct State {
        file: File,
        segments: PieceIter,
        remaining: u64,
    }
    let state = State {
        file,
        segments: pieces.into_segments(),
        remaining: 0,
    };
    let stream = futures_util::stream::try_unfold(state, |mut state| async move {
        loop {
            if state.remaining > 0 {
                let want = state.remaining.min(READ_AT_ONCE);
                // `read_to_end` fills spare capacity without zeroing it first.
                let mut chunk = Vec::with_capacity(usize::try_from(want).unwrap_or(64 * 1024));
                (&state.file).take(want).read_to_end(&mut chunk)?;
                if (chunk.len() as u64) < want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while being sent",
                    ));
                }
                state.remaining -= want;
                return Ok::<_, io::Error>(Some((Bytes::from(chunk), state)));
            }
            match state.segments.next() {
                None => return Ok(None),
                Some(Segment::Literal(literal)) => return Ok(Some((Bytes::from(literal), state))),
                Some(Segment::Slice { start, len }) => {
                    state.file.seek(SeekFrom::Start(start))?;
                    state.remaining = len;
                }
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http::HeaderValue;
    use revalidate_core::answer::multipart_layout;

    use super::*;

    const CONTENT: &[u8] = b"0123456789abcdefghij";

    async fn collect(body: Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec()
    }

    fn file() -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(CONTENT).unwrap();
        file
    }

    /// Bytes in memory and an open file give the same body for the same
    /// pieces: all, one range, a multipart layout.
    #[tokio::test]
    async fn every_source_gives_the_pieces_asked() {
        let layout = multipart_layout(
            &[0..=1, 10..=12],
            CONTENT.len() as u64,
            &HeaderValue::from_static("text/plain"),
            b"tag",
        );
        let multipart = layout
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.as_bytes().to_vec(),
                Segment::Slice { start, len } => CONTENT[*start as usize..(*start + *len) as usize].to_vec(),
            })
            .collect::<Vec<_>>()
            .concat();
        let cases: [(Pieces, u64, &[u8]); 3] = [
            (Pieces::Slice { start: 0, len: 20 }, 20, CONTENT),
            (Pieces::Slice { start: 2, len: 4 }, 4, b"2345"),
            (Pieces::Multipart(layout.segments), layout.length, &multipart),
        ];
        for (pieces, len, expected) in cases {
            let from_bytes =
                body_of(Source::Bytes(Bytes::from_static(CONTENT)), pieces.clone(), len).unwrap();
            assert_eq!(collect(from_bytes).await, expected);
            let from_file = body_of(Source::File(file()), pieces, len).unwrap();
            assert_eq!(collect(from_file).await, expected);
        }
    }
}
