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

use revalidate_listener::reload::{ApplyConfig, ReloadableConfig};
use revalidate_store::AnyStore;

use crate::clock::SharedClock;
use crate::config::OriginConfig;
use crate::edge_purge::EdgePurger;
use crate::metrics::Metrics;
use crate::server::App;
use crate::static_files::{StaticConfig, StaticFiles};

/// Reads the configuration as at start (the file, then the command
/// line's flags over it).
pub type ReadConfig = revalidate_listener::reload::ReadConfig<OriginConfig>;

/// The configuration's reload: [`Reload`](revalidate_listener::reload::Reload)
/// for [`revalidate_listener::reload::spawn_reloader`].
pub type ConfigReload = revalidate_listener::reload::ConfigReload<OriginConfig, NewRoutes>;

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

/// Puts a reloaded configuration in force: new routes over the same
/// store, static tree, metrics and clock.
pub struct NewRoutes {
    app: App,
    parts: Parts,
    /// The purger in force.
    edge_purge: Mutex<Option<EdgePurger>>,
}

impl std::fmt::Debug for NewRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRoutes").finish_non_exhaustive()
    }
}

impl NewRoutes {
    pub(crate) fn new(app: App, parts: Parts, edge_purge: Option<EdgePurger>) -> Self {
        Self {
            app,
            parts,
            edge_purge: Mutex::new(edge_purge),
        }
    }
}

impl ReloadableConfig for OriginConfig {
    fn validate_for_reload(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }

    fn keep_restart_only(running: &Self, new: &mut Self) -> Vec<&'static str> {
        revalidate_listener::keep_restart_only!(
            running,
            new,
            [
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
            ]
        )
    }
}

impl ApplyConfig<OriginConfig> for NewRoutes {
    fn apply(&self, running: &OriginConfig, new: &OriginConfig) -> Result<(), String> {
        let static_files = self
            .parts
            .static_files
            .reconfigured(&StaticConfig::from_origin_config(new))
            .map_err(|e| e.to_string())?;
        let mut edge_purge = self.edge_purge.lock().unwrap_or_else(PoisonError::into_inner);
        // The purger is kept unless what it sends, or where, changed; then
        // the same deliverer takes the new edges (`EdgePurger::replace`).
        // A reload runs on a blocking thread: it may wait for the database.
        let purger = if new.edge_purge == running.edge_purge && new.api.prefix == running.api.prefix {
            edge_purge.clone()
        } else {
            let runtime = tokio::runtime::Handle::current();
            let changed = match (&*edge_purge, &new.edge_purge) {
                (Some(purger), Some(edges)) => {
                    runtime.block_on(purger.replace(edges, &new.api.prefix)).map(Some)
                }
                (Some(purger), None) => runtime.block_on(purger.retire()).map(|()| None),
                (None, _) => runtime.block_on(crate::server::start_edge_purge(
                    new,
                    &self.parts.metrics,
                    &self.parts.store,
                )),
            };
            changed.map_err(|e| e.to_string())?
        };
        let api = crate::server::api_router(new, &self.parts, purger.clone());
        self.app.reroute(api, &new.api.prefix, Some(static_files));
        *edge_purge = purger;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use revalidate_listener::reload::ReloadableConfig;

    use crate::config::OriginConfig;

    #[test]
    fn restart_only_keys_keep_their_running_values_and_are_named() {
        let running: OriginConfig = toml::from_str("").unwrap();
        let mut new: OriginConfig = toml::from_str(
            "root = \"elsewhere\"\n[api]\nbody_limit = 10\n[connections]\nmax_connections = 7",
        )
        .unwrap();
        assert_eq!(
            OriginConfig::keep_restart_only(&running, &mut new),
            ["root", "connections"]
        );
        assert_eq!(new.root, running.root);
        assert_eq!(new.connections, running.connections);
        assert_eq!(new.api.body_limit, 10, "[api] reloads");
    }
}
