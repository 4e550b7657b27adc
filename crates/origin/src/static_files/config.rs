//! What the static file server is told ([`StaticConfig`]), why opening it
//! can fail ([`StaticError`]), and what indexing the tree reports
//! ([`IndexSummary`]). Data only.

use std::io;
use std::path::PathBuf;

use super::cache_control::InvalidRule;

/// What [`StaticFiles`](super::StaticFiles) needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticConfig {
    /// Root of the tree to serve.
    pub root: PathBuf,
    /// Where the ETag index and the compressed variants are kept (`--data`).
    pub data_dir: PathBuf,
    /// Serve an HTML listing for directories without `index.html`.
    pub directory_listing: bool,
    /// Follow symbolic links whose target is outside the root.
    pub follow_symlinks_outside_root: bool,
    /// `(glob over the path relative to the root, Cache-Control value)`,
    /// first match wins, before the defaults of
    /// [`cache_control`](super::cache_control).
    pub cache_control: Vec<(String, String)>,
    /// Compress text-like files on the fly (once, cached) when they have
    /// no precompressed sibling.
    pub compress_on_the_fly: bool,
}

impl StaticConfig {
    /// Defaults: no listing, symlinks confined to the root, default
    /// `Cache-Control`, on-the-fly compression on.
    pub fn new(root: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            data_dir: data_dir.into(),
            directory_listing: false,
            follow_symlinks_outside_root: false,
            cache_control: Vec::new(),
            compress_on_the_fly: true,
        }
    }

    /// From the `revalidate serve` configuration.
    pub fn from_origin_config(config: &crate::config::OriginConfig) -> Self {
        let section = &config.static_files;
        Self {
            directory_listing: section.directory_listing,
            follow_symlinks_outside_root: section.follow_symlinks,
            cache_control: section
                .cache_control
                .iter()
                .map(|r| (r.pattern.clone(), r.value.clone()))
                .collect(),
            ..Self::new(&config.root, &config.data)
        }
    }
}

/// Why [`StaticFiles::open`](super::StaticFiles::open) failed.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    /// The root cannot be resolved.
    #[error("static root {path}: {source}")]
    Root {
        /// The configured root.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The root is not a directory.
    #[error("static root {0} is not a directory")]
    RootNotDirectory(PathBuf),
    /// The data directory cannot be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The configured directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A `Cache-Control` rule is invalid.
    #[error(transparent)]
    CacheControl(#[from] InvalidRule),
}

/// What [`StaticFiles::index_all`](super::StaticFiles::index_all) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexSummary {
    /// Regular files seen.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// How many had to be read and hashed (the rest were in the index).
    pub hashed: u64,
}
