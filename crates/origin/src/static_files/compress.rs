//! On-the-fly compression, done once per (content, coding) and kept in
//! `<data>/compressed/<blake3 of the identity bytes>.<ext>`.
//!
//! The levels are fixed, so the output for given bytes and library
//! versions is deterministic; its entity-tag is the hash of the compressed
//! bytes themselves (never derived from the identity tag), so a strong
//! tag always names exactly the bytes sent.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::encoding::Coding;
use super::index::ContentHash;

/// Smallest file worth compressing: below this the framing overhead and
/// the extra round of negotiation gain little.
pub const MIN_COMPRESS_LEN: u64 = 1024;
/// Largest file compressed on the fly; larger text should ship a
/// precompressed sibling.
pub const MAX_COMPRESS_LEN: u64 = 16 * 1024 * 1024;

/// Whether a media type compresses well.
pub(crate) fn is_compressible(essence: &str) -> bool {
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
pub(crate) fn cache_path(dir: &Path, hash: &ContentHash, coding: Coding) -> PathBuf {
    dir.join(format!("{}.{}", hash.to_hex(), coding.extension()))
}

/// Compresses `input`. Deterministic for given input and library versions.
pub(crate) fn compress(input: &[u8], coding: Coding) -> io::Result<Vec<u8>> {
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
