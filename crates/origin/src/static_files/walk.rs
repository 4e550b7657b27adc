//! Walking the whole tree before serving: hash every regular file the
//! index does not know yet, forget files that are gone, and delete cached
//! compressions of content no file has any more.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io::{self, IsTerminal};
use std::path::Path;

use super::config::IndexSummary;
use super::confine::Confinement;
use super::index::{ContentHash, ContentIndex, identity_and_stamp, open};
use super::request_path::is_hidden;

/// Walks the tree under `confinement`'s root into `index`, prunes the
/// compressions in `compressed_dir`, and saves the index. Shows a progress
/// bar on stderr when `progress` is set and stderr is a terminal.
/// Blocking.
pub(super) fn index_tree(
    confinement: &Confinement,
    index: &ContentIndex,
    compressed_dir: &Path,
    progress: bool,
) -> io::Result<IndexSummary> {
    let hashed_before = index.files_hashed();
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(confinement.root())
        .follow_links(confinement.follows_symlinks())
        .into_iter()
        .filter_entry(|e| {
            let hidden = e.file_name().to_str().is_some_and(is_hidden);
            e.depth() == 0 || !(hidden || e.path().starts_with(confinement.data_dir()))
        });
    for entry in walker {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_file() {
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.push((entry.into_path(), len));
        }
    }
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    let bar = if progress && io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "indexing {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let hash_file = |path: &Path| -> io::Result<(ContentHash, Metadata)> {
        let (mut file, meta) = open(path)?;
        index.hash_of(&mut file, meta)
    };
    let mut keep = HashSet::with_capacity(files.len());
    let mut live = HashSet::with_capacity(files.len());
    for (path, len) in &files {
        match hash_file(path) {
            Ok((hash, meta)) => {
                keep.insert(identity_and_stamp(&meta).0);
                live.insert(hash.to_hex());
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot index file"),
        }
        bar.inc(*len);
    }
    bar.finish_and_clear();
    // Compressions of content no file has any more are deleted; the
    // others stay indexed.
    for entry in std::fs::read_dir(compressed_dir)?.flatten() {
        let path = entry.path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if !live.contains(stem) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove stale compression");
            }
            continue;
        }
        if let Ok((_, meta)) = hash_file(&path) {
            keep.insert(identity_and_stamp(&meta).0);
        }
    }
    index.retain(&keep);
    index.save()?;
    Ok(IndexSummary {
        files: files.len() as u64,
        bytes: total,
        hashed: index.files_hashed() - hashed_before,
    })
}
