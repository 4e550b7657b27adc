//! Pre-warming the index from file system events, so that the first
//! request after a deploy does not pay for hashing. Only an optimisation:
//! requests re-check every file's stamp whatever the watcher saw.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::index::{ContentIndex, open};
use super::request_path::is_hidden;

/// How long a burst of events must be quiet before its files are hashed:
/// a file being written sends many events, and hashing it each time
/// would be wasted.
const QUIET: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
#[derive(Debug)]
pub struct StaticWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `root` and hashes created or modified files into `index`
/// shortly after they settle, until the index is dropped. Files under
/// `data_dir` and hidden files are left alone.
pub(super) fn watch(
    root: &Path,
    data_dir: &Path,
    index: Weak<ContentIndex>,
) -> notify::Result<StaticWatcher> {
    let (sender, receiver) = std::sync::mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_))
        {
            for path in event.paths {
                let _ = sender.send(path);
            }
        }
    })?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    let prewarm = Prewarm {
        root: root.to_path_buf(),
        data_dir: data_dir.to_path_buf(),
        index,
    };
    std::thread::Builder::new()
        .name("static-prewarm".into())
        .spawn(move || prewarm.run(&receiver))
        .map_err(notify::Error::io)?;
    Ok(StaticWatcher { _watcher: watcher })
}

/// What the pre-warming thread holds.
struct Prewarm {
    root: PathBuf,
    data_dir: PathBuf,
    index: Weak<ContentIndex>,
}

impl Prewarm {
    /// Runs until the watcher (the sender) or the server (the index) is
    /// gone.
    fn run(&self, receiver: &Receiver<PathBuf>) {
        let mut pending = HashSet::new();
        while let Ok(first) = receiver.recv() {
            pending.insert(first);
            loop {
                match receiver.recv_timeout(QUIET) {
                    Ok(path) => {
                        pending.insert(path);
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let Some(index) = self.index.upgrade() else { return };
            for path in pending.drain() {
                self.prewarm(&index, &path);
            }
            if let Err(e) = index.save() {
                tracing::warn!(error = %e, "cannot save the static ETag index");
            }
        }
    }

    fn prewarm(&self, index: &ContentIndex, path: &Path) {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return;
        };
        let hidden = relative
            .components()
            .any(|c| c.as_os_str().to_str().is_none_or(is_hidden));
        if hidden || path.starts_with(&self.data_dir) {
            return;
        }
        let Ok((mut file, meta)) = open(path) else { return };
        if meta.is_dir() {
            // Files created in a new directory before its watch was added
            // send no events of their own.
            for entry in walkdir::WalkDir::new(path).min_depth(1).into_iter().flatten() {
                if entry.file_type().is_file() {
                    self.prewarm(index, entry.path());
                }
            }
        } else if meta.is_file()
            && let Err(e) = index.hash_of(&mut file, meta)
        {
            tracing::debug!(path = %path.display(), error = %e, "cannot pre-warm");
        }
    }
}
