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

use std::sync::{Arc, Mutex, PoisonError};

use revalidate_listener::reload::Reload;

use super::Sites;
use crate::clock::Clock;
use crate::config::EdgeConfig;

/// Reads the configuration as at start (the file, then the command
/// line's flags over it).
pub type ReadConfig = Box<dyn Fn() -> Result<EdgeConfig, String> + Send + Sync>;

/// The configuration's reload: [`Reload`] for
/// [`revalidate_listener::reload::spawn_reloader`].
pub struct ConfigReload {
    sites: Sites,
    clock: Arc<dyn Clock>,
    read: ReadConfig,
    /// What is in force.
    running: Mutex<EdgeConfig>,
}

impl std::fmt::Debug for ConfigReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigReload").finish_non_exhaustive()
    }
}

impl ConfigReload {
    /// Reloads into `sites`, which `running` built on `clock`, reading the
    /// configuration with `read`.
    pub fn new(sites: Sites, clock: Arc<dyn Clock>, running: EdgeConfig, read: ReadConfig) -> Self {
        Self {
            sites,
            clock,
            read,
            running: Mutex::new(running),
        }
    }
}

/// The keys that differ between `running` and `new` but only change with
/// a restart; `new` gets the running values of them.
fn keep_restart_only(running: &EdgeConfig, new: &mut EdgeConfig) -> Vec<&'static str> {
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
        cache_dir,
        memory,
        disk,
        max_object_size,
        max_header_bytes,
        connections,
        tls,
        access_log,
        admin
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
        let kept = keep_restart_only(&running, &mut new);
        if !kept.is_empty() {
            tracing::warn!(
                keys = kept.join(", "),
                "these keys change only with a restart; their running values stay"
            );
        }
        if new == *running {
            return Ok(false);
        }
        let table = super::config::build(&new, self.sites.storage(), &self.clock, self.sites.registry())
            .map_err(|e| e.to_string())?;
        self.sites.replace(table);
        *running = new;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn restart_only_keys_keep_their_running_values_and_are_named() {
        let running: EdgeConfig = toml::from_str("origin = \"http://127.0.0.1:1\"").unwrap();
        let mut new: EdgeConfig =
            toml::from_str("origin = \"http://127.0.0.1:2\"\nlisten = \"127.0.0.1:1\"\nmemory = \"1MiB\"")
                .unwrap();
        assert_eq!(keep_restart_only(&running, &mut new), ["listen", "memory"]);
        assert_eq!((new.listen, &new.memory), (running.listen, &running.memory));
        assert_eq!(new.origin, "http://127.0.0.1:2", "origin reloads");
    }
}
