//! Reloading the configuration while serving (`SIGHUP`): the file is read
//! again and validated; if it is good, a new site table is built over the
//! same storage and metrics registry and put in place in one step
//! ([`Sites::replace`]); requests already routed finish on the sites they
//! were routed to. A bad file changes nothing and is reported in one line
//! (`configuration not reloaded, keeping those in force: …`).
//!
//! What a reload changes: the sites (hosts, origins, purge tokens, key
//! rules), `origin`, `purge_token`, `[cache_key]`, and every setting of
//! how the proxy behaves (`cache_name`, `cdn_cache_control`, the origin
//! and body timeouts, `collapse_timeout_ms`, `cache_set_cookie`,
//! `trusted_proxies`). What needs a restart, as the listening sockets and
//! the storage are opened once: `listen`, `cache_dir`, `memory`, `disk`,
//! `max_object_size`, `max_header_bytes`, `[connections]`, `[tls]`,
//! `[access_log]` and `[admin]`; a reload that changes one of them says so
//! in a warning and applies the rest. (The certificate and key files
//! themselves are read again on every `SIGHUP` by the TLS listener, and
//! the access log file is reopened, both without a restart.)

use std::sync::Arc;

use revalidate_listener::reload::{ApplyConfig, ReloadableConfig};

use super::Sites;
use crate::clock::Clock;
use crate::config::EdgeConfig;

/// Reads the configuration as at start (the file, then the command
/// line's flags over it).
pub type ReadConfig = revalidate_listener::reload::ReadConfig<EdgeConfig>;

/// The configuration's reload: [`Reload`](revalidate_listener::reload::Reload)
/// for [`revalidate_listener::reload::spawn_reloader`].
pub type ConfigReload = revalidate_listener::reload::ConfigReload<EdgeConfig, NewSites>;

/// Puts a reloaded configuration in force: a new site table over the same
/// storage and metrics registry, on the same clock.
pub struct NewSites {
    sites: Sites,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for NewSites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSites").finish_non_exhaustive()
    }
}

impl NewSites {
    /// New tables for `sites`, built on `clock`.
    pub fn new(sites: Sites, clock: Arc<dyn Clock>) -> Self {
        Self { sites, clock }
    }
}

impl ReloadableConfig for EdgeConfig {
    fn validate_for_reload(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }

    fn keep_restart_only(running: &Self, new: &mut Self) -> Vec<&'static str> {
        revalidate_listener::keep_restart_only!(
            running,
            new,
            [
                listen,
                cache_dir,
                memory,
                disk,
                max_object_size,
                max_header_bytes,
                connections,
                tls,
                access_log,
                admin
            ]
        )
    }
}

impl ApplyConfig<EdgeConfig> for NewSites {
    fn apply(&self, _running: &EdgeConfig, new: &EdgeConfig) -> Result<(), String> {
        let table = super::config::build(new, self.sites.storage(), &self.clock, self.sites.registry())
            .map_err(|e| e.to_string())?;
        self.sites.replace(table);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use revalidate_listener::reload::ReloadableConfig;

    use crate::config::EdgeConfig;

    #[test]
    fn restart_only_keys_keep_their_running_values_and_are_named() {
        let running: EdgeConfig = toml::from_str("origin = \"http://127.0.0.1:1\"").unwrap();
        let mut new: EdgeConfig =
            toml::from_str("origin = \"http://127.0.0.1:2\"\nlisten = \"127.0.0.1:1\"\nmemory = \"1MiB\"")
                .unwrap();
        assert_eq!(
            EdgeConfig::keep_restart_only(&running, &mut new),
            ["listen", "memory"]
        );
        assert_eq!((new.listen, &new.memory), (running.listen, &running.memory));
        assert_eq!(new.origin, "http://127.0.0.1:2", "origin reloads");
    }
}
