//! Path confinement: a cleaned request path (see `request_path`, which
//! refuses `..`, encoded separators and hidden names without touching the
//! disk) joined onto the root, checked against the file system so that a
//! symlink cannot lead out of the root and the data directory is never
//! served. Security code: every path a request can name goes through
//! [`Confinement::below`] or [`Confinement::confine`].

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

/// The root and what may not be reached through it.
#[derive(Debug)]
pub(super) struct Confinement {
    /// Canonical.
    root: PathBuf,
    /// Canonical.
    data_dir: PathBuf,
    /// Whether `data_dir` lies inside `root` (only then can a request path
    /// reach it, and only then is each path compared with it).
    data_dir_in_root: bool,
    follow_symlinks_outside_root: bool,
}

/// Why a path was refused; each is answered like a missing file.
#[derive(Debug)]
pub(super) enum Refusal {
    /// A step could not be `lstat`ed or resolved (usually: it is missing).
    Io(io::Error),
    /// A symlink leads outside the root, and that is not allowed.
    OutsideRoot,
    /// The path is in the data directory (the index, the compressions).
    DataDir,
}

impl Confinement {
    /// `root` and `data_dir` canonical already.
    pub(super) fn new(root: PathBuf, data_dir: PathBuf, follow_symlinks_outside_root: bool) -> Self {
        Self {
            data_dir_in_root: data_dir.starts_with(&root),
            root,
            data_dir,
            follow_symlinks_outside_root,
        }
    }

    /// The canonical root.
    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// The canonical data directory.
    pub(super) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether symlinks are followed wherever they lead.
    pub(super) fn follows_symlinks(&self) -> bool {
        self.follow_symlinks_outside_root
    }

    /// `base` (confined already) joined with `relative` (clean segments
    /// joined by `/`, see `request_path`), confined: each step is
    /// `lstat`ed, and only when one is a symlink is the rest resolved by
    /// [`Confinement::confine`]. Cheaper than canonicalizing the whole
    /// path, whose components above the root need no checking.
    ///
    /// Also returns the last step's `lstat` when it is not a symlink: the
    /// metadata of the file itself, which answers a 304 without opening it.
    pub(super) fn below(&self, base: &Path, relative: &str) -> Result<(PathBuf, Option<Metadata>), Refusal> {
        let mut path = PathBuf::with_capacity(base.as_os_str().len() + 1 + relative.len());
        path.push(base);
        let mut last = None;
        let mut remaining = relative;
        while !remaining.is_empty() {
            let (segment, after) = remaining.split_once('/').unwrap_or((remaining, ""));
            remaining = after;
            // Appended as bytes: a clean segment holds no separator, and
            // `PathBuf::push` would look for one (and for a root) each time.
            let os = path.as_mut_os_string();
            if !os.as_encoded_bytes().ends_with(b"/") {
                os.push("/");
            }
            os.push(segment);
            if self.follow_symlinks_outside_root {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).map_err(Refusal::Io)?;
            if meta.file_type().is_symlink() {
                if !remaining.is_empty() {
                    path.push(remaining);
                }
                return Ok((self.confine(&path)?, None));
            }
            last = Some(meta);
        }
        if self.data_dir_in_root && path.starts_with(&self.data_dir) {
            return Err(Refusal::DataDir);
        }
        Ok((path, last))
    }

    /// The real path to open, or why not: a path whose canonical form
    /// leaves the root (through a symlink) unless allowed, and the data
    /// directory, are refused.
    pub(super) fn confine(&self, path: &Path) -> Result<PathBuf, Refusal> {
        if self.follow_symlinks_outside_root {
            if path.starts_with(&self.data_dir) {
                return Err(Refusal::DataDir);
            }
            return Ok(path.to_path_buf());
        }
        let canonical = std::fs::canonicalize(path).map_err(Refusal::Io)?;
        if !canonical.starts_with(&self.root) {
            tracing::debug!(path = %path.display(), "refused: a symlink leads outside the root");
            return Err(Refusal::OutsideRoot);
        }
        if canonical.starts_with(&self.data_dir) {
            return Err(Refusal::DataDir);
        }
        Ok(canonical)
    }
}
