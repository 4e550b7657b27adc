//! Reloading `revalidate serve`'s configuration while serving (`SIGHUP`):
//! the file is read again, with the command line's flags over it, and
//! validated; if it is good, new routes are built over the same store,
//! static tree and metrics and put in force in one step
//! ([`App::reroute`](crate::server::App::reroute)). Requests already
//! running finish on the routes they started with. A bad file changes
//! nothing and is reported in one line (`configuration not reloaded,
//! keeping those in force: …`).
//!
//! What a reload changes: the `[api]` section (`prefix`, `body_limit`,
//! `body_read_timeout_ms`, `require_preconditions`), the `[static]`
//! section (`cache_control` rules, `directory_listing`,
//! `follow_symlinks`: the static files' answer templates, which hold the
//! `Cache-Control` value, start again empty; the ETag index is kept) and
//! `[edge_purge]` (the edges, their token, timeout and `cdn_max_age`: the
//! running deliverer takes them, `EdgePurger::replace`; the purges
//! recorded in the outbox are kept; static files are watched for purges
//! only when `[edge_purge]` was there at start).
//! What needs a restart, as the sockets, the database and the tree are
//! opened once: `listen`, `root`, `data`, `database`,
//! `database_timeout_ms`, `metrics_listen`, `[admin]`,
//! `max_header_bytes`, `[connections]`, `[tls]` and `[access_log]`; a
//! reload that changes one of them says so in a warning and applies the
//! rest. (The certificate and key files themselves are read again on
//! every `SIGHUP` by the TLS listener, and the access log file is
//! reopened, both without a restart.)

use std::sync::{Mutex, PoisonError};

use revalidate_listener::reload::Reload;
use revalidate_store::AnyStore;

use crate::clock::SharedClock;
use crate::config::OriginConfig;
use crate::edge_purge::EdgePurger;
use crate::metrics::Metrics;
use crate::server::App;
use crate::static_files::{StaticConfig, StaticFiles};

/// Reads the configuration as at start (the file, then the command
/// line's flags over it).
pub type ReadConfig = Box<dyn Fn() -> Result<OriginConfig, String> + Send + Sync>;

/// The configuration's reload: [`Reload`] for
/// [`revalidate_listener::reload::spawn_reloader`].
pub struct ConfigReload {
    app: App,
    parts: Parts,
    read: ReadConfig,
    running: Mutex<Running>,
}

/// What the routes are built over, opened once at start and kept by a
/// reload.
#[derive(Clone, Debug)]
pub(crate) struct Parts {
    pub(crate) store: AnyStore,
    /// The tree as opened at start; a reload derives its new settings from
    /// it ([`StaticFiles::reconfigured`]).
    pub(crate) static_files: StaticFiles,
    pub(crate) metrics: Metrics,
    pub(crate) clock: SharedClock,
}

/// What is in force.
struct Running {
    config: OriginConfig,
    edge_purge: Option<EdgePurger>,
}

impl std::fmt::Debug for ConfigReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigReload").finish_non_exhaustive()
    }
}

impl ConfigReload {
    pub(crate) fn new(
        app: App,
        parts: Parts,
        running: OriginConfig,
        edge_purge: Option<EdgePurger>,
        read: ReadConfig,
    ) -> Self {
        Self {
            app,
            parts,
            read,
            running: Mutex::new(Running {
                config: running,
                edge_purge,
            }),
        }
    }
}

/// The keys that differ between `running` and `new` but only change with
/// a restart; `new` gets the running values of them.
fn keep_restart_only(running: &OriginConfig, new: &mut OriginConfig) -> Vec<&'static str> {
    let mut kept = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if running.$field != new.$field {
                new.$field = running.$field.clone();
                kept.push(stringify!($field));
            }
        )*};
    }
    keep!(
        listen,
        root,
        data,
        database,
        database_timeout_ms,
        metrics_listen,
        admin,
        max_header_bytes,
        connections,
        tls,
        access_log
    );
    kept
}

impl Reload for ConfigReload {
    fn what(&self) -> &'static str {
        "configuration"
    }

    fn reload(&self) -> Result<bool, String> {
        let mut new = (self.read)()?;
        new.validate().map_err(|e| e.to_string())?;
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = keep_restart_only(&running.config, &mut new);
        if !kept.is_empty() {
            tracing::warn!(
                keys = kept.join(", "),
                "these keys change only with a restart; their running values stay"
            );
        }
        if new == running.config {
            return Ok(false);
        }
        let static_files = self
            .parts
            .static_files
            .reconfigured(&StaticConfig::from_origin_config(&new))
            .map_err(|e| e.to_string())?;
        // The purger is kept unless what it sends, or where, changed; then
        // the same deliverer takes the new edges (`EdgePurger::replace`).
        // A reload runs on a blocking thread: it may wait for the database.
        let edge_purge =
            if new.edge_purge == running.config.edge_purge && new.api.prefix == running.config.api.prefix {
                running.edge_purge.clone()
            } else {
                let runtime = tokio::runtime::Handle::current();
                let changed = match (&running.edge_purge, &new.edge_purge) {
                    (Some(purger), Some(edges)) => {
                        runtime.block_on(purger.replace(edges, &new.api.prefix)).map(Some)
                    }
                    (Some(purger), None) => runtime.block_on(purger.retire()).map(|()| None),
                    (None, _) => runtime.block_on(crate::server::start_edge_purge(
                        &new,
                        &self.parts.metrics,
                        &self.parts.store,
                    )),
                };
                changed.map_err(|e| e.to_string())?
            };
        let api = crate::server::api_router(&new, &self.parts, edge_purge.clone());
        self.app.reroute(api, &new.api.prefix, Some(static_files));
        *running = Running {
            config: new,
            edge_purge,
        };
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn restart_only_keys_keep_their_running_values_and_are_named() {
        let running: OriginConfig = toml::from_str("").unwrap();
        let mut new: OriginConfig = toml::from_str(
            "root = \"elsewhere\"\n[api]\nbody_limit = 10\n[connections]\nmax_connections = 7",
        )
        .unwrap();
        assert_eq!(keep_restart_only(&running, &mut new), ["root", "connections"]);
        assert_eq!(new.root, running.root);
        assert_eq!(new.connections, running.connections);
        assert_eq!(new.api.body_limit, 10, "[api] reloads");
    }
}
