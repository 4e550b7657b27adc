//! Pre-warming the index from file system events, so that the first
//! request after a deploy does not pay for hashing. Only an optimisation:
//! requests re-check every file's stamp whatever the watcher saw.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::{Inner, StaticFiles, open};

/// How long a burst of events must be quiet before its files are hashed:
/// a file being written sends many events, and hashing it each time
/// would be wasted.
const QUIET: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
#[derive(Debug)]
pub struct StaticWatcher {
    _watcher: notify::RecommendedWatcher,
}

impl StaticFiles {
    /// Watches the root and hashes created or modified files shortly after
    /// they settle.
    pub fn watch(&self) -> notify::Result<StaticWatcher> {
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
        watcher.watch(&self.inner.root, RecursiveMode::Recursive)?;
        let inner = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("static-prewarm".into())
            .spawn(move || prewarm_loop(&receiver, &inner))
            .map_err(notify::Error::io)?;
        Ok(StaticWatcher { _watcher: watcher })
    }
}

/// Runs until the watcher (the sender) or the server is gone.
fn prewarm_loop(receiver: &Receiver<PathBuf>, inner: &Weak<Inner>) {
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
        let Some(inner) = inner.upgrade() else { return };
        for path in pending.drain() {
            inner.prewarm(&path);
        }
        if let Err(e) = inner.index.save() {
            tracing::warn!(error = %e, "cannot save the static ETag index");
        }
    }
}

impl Inner {
    fn prewarm(&self, path: &Path) {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return;
        };
        let hidden = relative.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_none_or(|s| s.starts_with('.') && s != ".well-known")
        });
        if hidden || path.starts_with(&self.data_dir) {
            return;
        }
        let Ok((mut file, meta)) = open(path) else { return };
        if meta.is_dir() {
            // Files created in a new directory before its watch was added
            // send no events of their own.
            for entry in walkdir::WalkDir::new(path).min_depth(1).into_iter().flatten() {
                if entry.file_type().is_file() {
                    self.prewarm(entry.path());
                }
            }
        } else if meta.is_file()
            && let Err(e) = self.index.hash_of(&mut file, meta)
        {
            tracing::debug!(path = %path.display(), error = %e, "cannot pre-warm");
        }
    }
}
