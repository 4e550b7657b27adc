//! Pre-warming the index from file system events, so that the first
//! request after a deploy does not pay for hashing. Only an optimisation:
//! requests re-check every file's stamp whatever the watcher saw.
//!
//! With a change callback (the edge purges, `crate::edge_purge`), each
//! settled burst of events also gives the URLs of the files it touched
//! ([`urls_of`]): created, modified, renamed (both names) or removed. The
//! request path stays as it is: the watcher runs on its own thread.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::index::{ContentIndex, open};
use super::request_path::{SEGMENT, is_hidden};

/// How long a burst of events must be quiet before its files are hashed:
/// a file being written sends many events, and hashing it each time
/// would be wasted.
const QUIET: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
#[derive(Debug)]
pub struct StaticWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// What to call with the URLs of the files a burst of events changed.
pub(super) type OnChange = Box<dyn Fn(Vec<String>) + Send>;

/// Watches `root` and hashes created or modified files into `index`
/// shortly after they settle, until the index is dropped; with
/// `on_change`, calls it with the URLs of the files each burst changed.
/// Files under `data_dir` and hidden files are left alone.
pub(super) fn watch(
    root: &Path,
    data_dir: &Path,
    index: Weak<ContentIndex>,
    on_change: Option<OnChange>,
) -> notify::Result<StaticWatcher> {
    let (sender, receiver) = std::sync::mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            )
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
        on_change,
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
    on_change: Option<OnChange>,
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
            let mut urls = Vec::new();
            for path in pending.drain() {
                self.prewarm(&index, &path, &mut urls);
            }
            if let Some(on_change) = &self.on_change
                && !urls.is_empty()
            {
                urls.sort();
                urls.dedup();
                on_change(urls);
            }
            if let Err(e) = index.save() {
                tracing::warn!(error = %e, "cannot save the static ETag index");
            }
        }
    }

    /// Hashes the file at `path` (every file under it, for a directory),
    /// and adds the URLs it is served at to `urls`.
    fn prewarm(&self, index: &ContentIndex, path: &Path, urls: &mut Vec<String>) {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return;
        };
        let hidden = relative
            .components()
            .any(|c| c.as_os_str().to_str().is_none_or(is_hidden));
        if hidden || path.starts_with(&self.data_dir) {
            return;
        }
        if self.on_change.is_some() {
            urls.extend(urls_of(relative));
        }
        let Ok((mut file, meta)) = open(path) else { return };
        if meta.is_dir() {
            // Files created in a new directory before its watch was added
            // send no events of their own.
            for entry in walkdir::WalkDir::new(path).min_depth(1).into_iter().flatten() {
                if entry.file_type().is_file() {
                    self.prewarm(index, entry.path(), urls);
                }
            }
        } else if meta.is_file()
            && let Err(e) = index.hash_of(&mut file, meta)
        {
            tracing::debug!(path = %path.display(), error = %e, "cannot pre-warm");
        }
    }
}

/// The URLs a file at `relative` (to the root) is served at, for purging:
/// its path, percent-encoded as the server's redirects and listings spell
/// it; `/dir/` too for `dir/index.html`; and the original's URLs too for a
/// precompressed sibling (`app.js.gz` serves `/app.js`). A path that is
/// not UTF-8 is never served: none.
pub(crate) fn urls_of(relative: &Path) -> Vec<String> {
    let Some(segments) = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<&str>>>()
    else {
        return Vec::new();
    };
    let Some((last, dirs)) = segments.split_last() else {
        return vec!["/".to_owned()];
    };
    let mut directory = String::from("/");
    for dir in dirs {
        directory.extend(percent_encoding::utf8_percent_encode(dir, SEGMENT));
        directory.push('/');
    }
    let mut names = vec![*last];
    for coding in [".gz", ".br", ".zst"] {
        if let Some(original) = last.strip_suffix(coding)
            && !original.is_empty()
        {
            names.push(original);
        }
    }
    let mut urls = Vec::new();
    for name in names {
        urls.push(format!(
            "{directory}{}",
            percent_encoding::utf8_percent_encode(name, SEGMENT)
        ));
        if name == "index.html" {
            urls.push(directory.clone());
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_urls_of_a_changed_file() {
        let cases: [(&str, &[&str]); 6] = [
            ("app.js", &["/app.js"]),
            ("docs/a b.html", &["/docs/a%20b.html"]),
            ("index.html", &["/index.html", "/"]),
            ("docs/index.html", &["/docs/index.html", "/docs/"]),
            ("css/site.css.br", &["/css/site.css.br", "/css/site.css"]),
            (
                "docs/index.html.gz",
                &["/docs/index.html.gz", "/docs/index.html", "/docs/"],
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(urls_of(Path::new(path)), expected, "{path}");
        }
    }
}
