//! Reloading while serving: what asks for a reload ([`ReloadRequests`]:
//! `SIGHUP`, and changes to watched files, debounced) and what answers
//! ([`Reload`]: the TLS certificates of [`crate::tls::CertStore`], and
//! each server's whole configuration, `revalidate_edge::sites::reload`
//! and `revalidate_origin::reload`), joined by [`spawn_reloader`]. The
//! seam is the trait: each implements [`Reload`] with its own
//! [`ReloadRequests`] (every `SIGHUP` reaches each of them) without
//! touching the signal or file plumbing here.
//!
//! `SIGHUP` comes from the server's one set of operator signal handlers
//! ([`crate::signals::OperatorSignals`], installed before the server says
//! where it listens, so that a `SIGHUP` sent the moment it is up reloads
//! rather than kills it); [`ReloadRequests`] subscribes to it. A server
//! with no TLS listener, no access log and no configuration file installs
//! none, and `SIGHUP` keeps its default action.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::signals::{OperatorSignal, OperatorSignals};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

/// How long watched files must stay quiet before a reload: a renewal
/// that writes the certificate and then the key is read once, whole.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Changes that keep coming delay a reload by at most this many
/// [`DEBOUNCE`]s.
const MAX_DEBOUNCES: u32 = 10;

/// Why a reload was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadCause {
    /// `SIGHUP`.
    Hangup,
    /// A watched file, or its directory, changed.
    FilesChanged,
}

/// Something that can be read again while the server runs.
pub trait Reload: Send + Sync + 'static {
    /// What it is, for the logs (`"TLS certificates"`).
    fn what(&self) -> &'static str;

    /// Reads it again. `Ok(true)`: the new version is in force;
    /// `Ok(false)`: nothing changed. An error leaves what was in force and
    /// says why in one line.
    fn reload(&self) -> Result<bool, String>;
}

/// Reads a server's configuration as at start (the file, then the
/// command line's flags over it); an error is one line.
pub type ReadConfig<C> = Box<dyn Fn() -> Result<C, String> + Send + Sync>;

/// What a configuration reload needs of a server's configuration type.
pub trait ReloadableConfig: Clone + PartialEq + Send + 'static {
    /// Checks it as the server does at start.
    ///
    /// # Errors
    ///
    /// Why it cannot be used, in one line.
    fn validate_for_reload(&self) -> Result<(), String>;

    /// The keys that differ between `running` and `new` but change only
    /// with a restart (sockets, storage opened once); `new` gets their
    /// running values. See [`keep_restart_only!`](crate::keep_restart_only).
    fn keep_restart_only(running: &Self, new: &mut Self) -> Vec<&'static str>;
}

/// Puts a new configuration in force (new routes, a new site table):
/// what differs between servers in a reload.
pub trait ApplyConfig<C>: Send + Sync + 'static {
    /// Builds what `new` describes and swaps it in for what `running`
    /// built.
    ///
    /// # Errors
    ///
    /// It cannot be built; nothing changed.
    fn apply(&self, running: &C, new: &C) -> Result<(), String>;
}

/// The reload of a whole configuration ([`Reload`]), one flow for both
/// servers: read the file again (with the same flags over it), validate
/// it, keep the running values of keys that need a restart (and say which
/// in a warning), and, if anything else changed, let `A` put it in force.
/// A bad file changes nothing: the error is the one-line reason.
pub struct ConfigReload<C, A> {
    read: ReadConfig<C>,
    apply: A,
    /// What is in force.
    running: std::sync::Mutex<C>,
}

impl<C, A> std::fmt::Debug for ConfigReload<C, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigReload").finish_non_exhaustive()
    }
}

impl<C: ReloadableConfig, A: ApplyConfig<C>> ConfigReload<C, A> {
    /// Reloads what `running` started, reading the new configuration with
    /// `read` and putting it in force with `apply`.
    pub fn new(running: C, read: ReadConfig<C>, apply: A) -> Self {
        Self {
            read,
            apply,
            running: std::sync::Mutex::new(running),
        }
    }
}

impl<C: ReloadableConfig, A: ApplyConfig<C>> Reload for ConfigReload<C, A> {
    fn what(&self) -> &'static str {
        "configuration"
    }

    fn reload(&self) -> Result<bool, String> {
        let mut new = (self.read)()?;
        new.validate_for_reload()?;
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = C::keep_restart_only(&running, &mut new);
        if !kept.is_empty() {
            tracing::warn!(
                keys = kept.join(", "),
                "these keys change only with a restart; their running values stay"
            );
        }
        if new == *running {
            return Ok(false);
        }
        self.apply.apply(&running, &new)?;
        *running = new;
        Ok(true)
    }
}

/// The body of [`ReloadableConfig::keep_restart_only`]: for each named
/// field of `$running` and `$new` that differs, `$new` gets the running
/// value and the field's name is listed.
#[macro_export]
macro_rules! keep_restart_only {
    ($running:expr, $new:expr, [$($field:ident),* $(,)?]) => {{
        let (running, new) = ($running, $new);
        let mut kept: Vec<&'static str> = Vec::new();
        $(
            if running.$field != new.$field {
                new.$field = running.$field.clone();
                kept.push(stringify!($field));
            }
        )*
        kept
    }};
}

/// The reload requests of one reloadable thing: `SIGHUP` and changes in
/// the directories of its files.
#[derive(Debug)]
pub struct ReloadRequests {
    hangup: Hangup,
    changes: mpsc::UnboundedReceiver<()>,
    // Kept alive for as long as changes are wanted.
    _watcher: Option<RecommendedWatcher>,
    debounce: Duration,
}

impl ReloadRequests {
    /// Listens to the `SIGHUP`s of `signals` (when given) and watches the
    /// directories of `files` (any change there but a mere read, so a
    /// file replaced by a rename or a symlink swap counts). Call it inside
    /// the runtime.
    ///
    /// # Errors
    ///
    /// A directory cannot be watched.
    pub fn install(
        signals: Option<&OperatorSignals>,
        files: &[PathBuf],
        debounce: Duration,
    ) -> io::Result<Self> {
        let hangup = signals.map(OperatorSignals::subscribe);
        let (tx, changes) = mpsc::unbounded_channel();
        let watcher = if files.is_empty() {
            None
        } else {
            Some(watch_directories(files, tx).map_err(io::Error::other)?)
        };
        Ok(Self {
            hangup,
            changes,
            _watcher: watcher,
            debounce,
        })
    }

    /// The next request: at once for `SIGHUP`; for file changes once the
    /// files have been quiet for the debounce time (at most ten of them
    /// after the first change). `None` when nothing can ask any more.
    pub async fn next(&mut self) -> Option<ReloadCause> {
        let cause = tokio::select! {
            Some(()) = hangup(&mut self.hangup) => ReloadCause::Hangup,
            Some(()) = self.changes.recv() => ReloadCause::FilesChanged,
            else => return None,
        };
        if cause == ReloadCause::FilesChanged {
            for _ in 0..MAX_DEBOUNCES {
                match tokio::time::timeout(self.debounce, self.changes.recv()).await {
                    Ok(Some(())) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // What queued meanwhile is covered by this reload.
        while self.changes.try_recv().is_ok() {}
        Some(cause)
    }
}

type Hangup = Option<broadcast::Receiver<OperatorSignal>>;

/// The next `SIGHUP` (a lag counts as one); never, without signals.
async fn hangup(signals: &mut Hangup) -> Option<()> {
    let Some(receiver) = signals else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(OperatorSignal::Hangup) | Err(broadcast::error::RecvError::Lagged(_)) => return Some(()),
            Ok(OperatorSignal::User1) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

fn watch_directories(files: &[PathBuf], tx: mpsc::UnboundedSender<()>) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    })?;
    let directories: BTreeSet<&Path> = files
        .iter()
        .map(|file| match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        })
        .collect();
    for directory in directories {
        watcher.watch(directory, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// The task that answers `requests` by reloading `target`, logging each
/// outcome in one line (a failed reload is a warning with the reason;
/// what was in force stays). Ends (aborted) when dropped.
#[derive(Debug)]
pub struct Reloader(JoinHandle<()>);

impl Drop for Reloader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts reloading `target` on each of `requests`.
pub fn spawn_reloader(mut requests: ReloadRequests, target: Arc<dyn Reload>) -> Reloader {
    Reloader(tokio::spawn(async move {
        while let Some(cause) = requests.next().await {
            let what = target.what();
            let reloading = Arc::clone(&target);
            // Files are read and keys parsed: off the async workers.
            let outcome = tokio::task::spawn_blocking(move || reloading.reload())
                .await
                .unwrap_or_else(|e| Err(format!("the reload panicked: {e}")));
            match outcome {
                Ok(true) => tracing::info!(?cause, "{what} reloaded"),
                Ok(false) => tracing::debug!(?cause, "{what} unchanged"),
                Err(why) => tracing::warn!(?cause, "{what} not reloaded, keeping those in force: {why}"),
            }
        }
    }))
}
