//! Configuration of `revalidate serve`: a TOML file whose every key has a
//! default, overridden by command-line flags.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! root = "public"                 # the static tree
//! data = "data"                   # embedded database and the ETag index
//! database = "sqlite://data/revalidate.db"   # or postgres://…
//! database_timeout_ms = 10000                # bound on each database operation (503 past it)
//! metrics_listen = "127.0.0.1:9090"          # optional; the same as [admin] listen (kept for old files)
//!
//! [api]
//! prefix = "/api/"
//! body_limit = 1048576
//! body_read_timeout_ms = 30000                # a body not received by then: 408
//! require_preconditions = ["orders"]          # collections whose writes must be conditional (428)
//!
//! [static]
//! directory_listing = false
//! follow_symlinks = false
//! [[static.cache_control]]
//! pattern = "**/*.pdf"
//! value = "public, max-age=600"
//!
//! [edge_purge]                                 # optional; see crate::edge_purge
//! edges = ["http://127.0.0.1:8081"]            # `revalidate edge` instances in front of this origin
//! token = "the edges' purge_token"
//! timeout_ms = 2000                            # per purge request
//! cdn_max_age = 86400                          # optional: API reads carry CDN-Cache-Control: max-age=86400
//!
//! # The front door (revalidate-listener): every key optional, defaults shown
//! max_header_bytes = 65536         # (top level, before any [section]) a bigger request head gets 431
//! [connections]
//! header_timeout_ms = 10000        # a whole request head, from the accept or its first byte (nginx client_header_timeout)
//! idle_timeout_ms = 15000          # a keep-alive connection without a request (nginx keepalive_timeout)
//! send_timeout_ms = 30000          # a client that stops reading its response (nginx send_timeout)
//! max_connections = 4096           # at the cap the connection idle longest is closed; clamped to the fd limit
//! lingering_timeout_ms = 2000      # after an early answer (413), read what the client still sends; 0: off
//! lingering_max_bytes = 16777216   # ... at most this much
//! drain_delay_ms = 0               # after SIGTERM, keep serving this long while the admin /healthz says 503
//!
//! [tls]                            # optional: a TLS listener beside `listen` (HTTP/2 and HTTP/1.1 by ALPN)
//! listen = "0.0.0.0:8443"          # --listen-tls
//! cert = "/etc/revalidate/fullchain.pem"   # --tls-cert: the default certificate, PEM, leaf then chain
//! key = "/etc/revalidate/privkey.pem"      # --tls-key: PEM, PKCS#8, RSA or SEC1
//! handshake_timeout_ms = 10000     # the handshake, from the accept (nginx ssl_handshake_timeout)
//! watch = true                     # reload on file changes; SIGHUP always reloads
//! [[tls.certificates]]             # more certificates, chosen by SNI
//! cert = "/etc/revalidate/api.pem"
//! key = "/etc/revalidate/api.key"
//! server_names = ["api.example.com"]   # default: the certificate's DNS names
//!
//! [access_log]                     # optional: one line per request (see revalidate_listener::access_log)
//! path = "/var/log/revalidate/access.log"   # --access-log; "-" for stdout; reopened on SIGHUP and SIGUSR1
//! format = "combined"              # --access-log-format: nginx's combined, or "json" (JSON lines)
//! queue_records = 65536            # lines waiting for the writer; more are dropped and counted
//! flush_ms = 1000                  # lines reach the file at most this late
//! [admin]                          # optional: the admin listener (/metrics, /healthz, /readyz)
//! listen = "127.0.0.1:9080"        # --admin-listen; default "off"
//! ```
//!
//! Without an admin listener `/metrics` is served on `listen`, as it
//! always was (it is the origin's own path: no proxy hides it); with one,
//! `/metrics` moves there and the public listener answers it `404`. The
//! admin listener's `/readyz` checks that the database answers a trivial
//! query within 0.9 s ([`revalidate_listener::admin`]).
//!
//! The `[connections]` keys, their defaults and the nginx/Varnish settings
//! they mirror are documented in [`revalidate_listener::limits`]; the
//! `[tls]` keys in [`revalidate_listener::tls`], the `[access_log]` keys
//! and formats in [`revalidate_listener::access_log`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use revalidate_core::purge::PURGE_PATH;
use serde::Deserialize;

/// Everything `revalidate serve` needs to start.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OriginConfig {
    /// Address of the HTTP listener.
    pub listen: SocketAddr,
    /// Root of the static tree.
    pub root: PathBuf,
    /// Directory for the embedded database and the static ETag index.
    pub data: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means `sqlite://<data>/revalidate.db`.
    pub database: Option<String>,
    /// The longest one database operation may take (a read, or a write
    /// with its retries), waiting for a connection and for locks included;
    /// past it the request gets `503` with `Retry-After` and nothing is
    /// written. Also SQLite's busy timeout (half of it, at most 5 s) and
    /// PostgreSQL's `statement_timeout`, `lock_timeout` and
    /// `idle_in_transaction_session_timeout`, so the database drops work
    /// nobody waits for. Between 10 and 600000.
    pub database_timeout_ms: u64,
    /// The admin listener's address, from files that predate `[admin]`:
    /// the same as `[admin] listen` (which wins when both are set).
    pub metrics_listen: Option<SocketAddr>,
    /// The `[admin]` section: the admin listener; off by default.
    pub admin: Option<revalidate_listener::AdminSettings>,
    /// The JSON resource API.
    pub api: ApiConfig,
    /// The static files.
    #[serde(rename = "static")]
    pub static_files: StaticSection,
    /// The edges to purge after each API write; `None`: no purges.
    pub edge_purge: Option<EdgePurgeConfig>,
    // The front door (revalidate-listener).
    /// The largest request head accepted; a bigger one gets `431`.
    pub max_header_bytes: usize,
    /// The `[connections]` section: timeouts, the connection cap,
    /// lingering close.
    pub connections: revalidate_listener::Limits,
    /// The `[tls]` section: the TLS listener and its certificates.
    pub tls: revalidate_listener::TlsSettings,
    /// The `[access_log]` section: where and how requests are logged.
    pub access_log: revalidate_listener::AccessLogSettings,
}

/// The `[edge_purge]` section: the `revalidate edge` instances (or any
/// cache with the same purge API) to tell about each successful API write.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EdgePurgeConfig {
    /// Base URLs of the edges, `http://host:port` without a path.
    pub edges: Vec<String>,
    /// The bearer token the edges were given as their `purge_token`.
    pub token: String,
    /// How long one purge request may take before it counts as failed
    /// (and is retried).
    #[serde(default = "default_purge_timeout_ms")]
    pub timeout_ms: u64,
    /// When set, API reads carry `CDN-Cache-Control: max-age=<this>`, so
    /// the edges keep them that long without asking the origin, relying on
    /// the purge after each write; without it they revalidate every use
    /// (`Cache-Control: no-cache`).
    #[serde(default)]
    pub cdn_max_age: Option<u64>,
}

fn default_purge_timeout_ms() -> u64 {
    2_000
}

/// The token stays out of logs and panic messages.
impl std::fmt::Debug for EdgePurgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgePurgeConfig")
            .field("edges", &self.edges)
            .field("token", &"<redacted>")
            .field("timeout_ms", &self.timeout_ms)
            .field("cdn_max_age", &self.cdn_max_age)
            .finish()
    }
}

/// The `[api]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Path prefix of the API, with leading and trailing `/`.
    pub prefix: String,
    /// Largest accepted request body, in bytes (larger gets 413).
    pub body_limit: usize,
    /// How long the body of a write may take to arrive, in milliseconds;
    /// a client that stops sending gets `408 Request Timeout` (and the
    /// connection is closed), and nothing is written. Between 1 and
    /// 3600000.
    pub body_read_timeout_ms: u64,
    /// Collections whose unsafe methods must carry a precondition that
    /// guards them against lost updates (`If-Match` with entity-tags,
    /// `If-Unmodified-Since` not in the future, or `If-None-Match: *` to
    /// create; not `If-Match: *`), or get `428 Precondition Required`
    /// ([RFC 6585 §3]). `"*"` means all.
    ///
    /// [RFC 6585 §3]: https://www.rfc-editor.org/rfc/rfc6585#section-3
    pub require_preconditions: Vec<String>,
}

/// The `[static]` section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StaticSection {
    /// Serve an HTML listing for directories without `index.html`.
    pub directory_listing: bool,
    /// Follow symbolic links that lead outside the root.
    pub follow_symlinks: bool,
    /// `Cache-Control` by path pattern, first match wins, before the defaults.
    pub cache_control: Vec<CacheControlRule>,
}

/// One `[[static.cache_control]]` rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CacheControlRule {
    /// A glob over the path relative to the root, e.g. `assets/**/*.js`.
    pub pattern: String,
    /// The `Cache-Control` field value to send.
    pub value: String,
}

impl Default for OriginConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            root: PathBuf::from("public"),
            data: PathBuf::from("data"),
            database: None,
            database_timeout_ms: 10_000,
            metrics_listen: None,
            admin: None,
            api: ApiConfig::default(),
            static_files: StaticSection::default(),
            edge_purge: None,
            max_header_bytes: revalidate_listener::ListenerConfig::DEFAULT_HEADER_BYTES,
            connections: revalidate_listener::Limits::default(),
            tls: revalidate_listener::TlsSettings::default(),
            access_log: revalidate_listener::AccessLogSettings::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            prefix: "/api/".into(),
            body_limit: 1024 * 1024,
            body_read_timeout_ms: 30_000,
            require_preconditions: Vec::new(),
        }
    }
}

pub use revalidate_listener::ConfigError;

impl OriginConfig {
    /// Reads a TOML file; missing keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = revalidate_listener::read_config_file(path)?;
        config.validate()?;
        Ok(config)
    }

    /// The options the store is opened with.
    pub fn store_options(&self) -> revalidate_store::StoreOptions {
        revalidate_store::StoreOptions {
            timeout: std::time::Duration::from_millis(self.database_timeout_ms),
            ..revalidate_store::StoreOptions::default()
        }
    }

    /// The database URL: the configured one, or SQLite inside `data`.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data.join("revalidate.db").display()))
    }

    /// Checks values that TOML types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let prefix = &self.api.prefix;
        if !(prefix.starts_with('/') && prefix.ends_with('/') && prefix.len() > 1) {
            return Err(ConfigError::Invalid(format!(
                "api.prefix must start and end with '/' and not be '/', got {prefix:?}"
            )));
        }
        if self.api.body_limit == 0 {
            return Err(ConfigError::Invalid(
                "api.body_limit must be at least 1 byte".into(),
            ));
        }
        if !(1..=ApiConfig::MAX_BODY_READ_TIMEOUT_MS).contains(&self.api.body_read_timeout_ms) {
            return Err(ConfigError::Invalid(format!(
                "api.body_read_timeout_ms must be between 1 and {}, got {}",
                ApiConfig::MAX_BODY_READ_TIMEOUT_MS,
                self.api.body_read_timeout_ms
            )));
        }
        self.store_options()
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("database_timeout_ms: {e}")))?;
        if let Some(db) = &self.database
            && !(db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(format!(
                "database must be a sqlite:// or postgres:// URL, got {db:?}"
            )));
        }
        if let Some(edge_purge) = &self.edge_purge {
            edge_purge.validate()?;
        }
        // The front door.
        if self.max_header_bytes < revalidate_listener::ListenerConfig::MIN_HEADER_BYTES {
            return Err(ConfigError::Invalid(format!(
                "max_header_bytes must be at least {}, got {}",
                revalidate_listener::ListenerConfig::MIN_HEADER_BYTES,
                self.max_header_bytes
            )));
        }
        self.connections.validate().map_err(ConfigError::Invalid)?;
        self.tls.validate().map_err(ConfigError::Invalid)?;
        self.access_log.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// Where the admin listener listens (`[admin] listen`, or the older
    /// `metrics_listen`); `None`: no admin listener, `/metrics` on `listen`.
    pub fn admin_listen(&self) -> Option<SocketAddr> {
        match self.admin {
            Some(admin) => admin.listen.addr(),
            None => self.metrics_listen,
        }
    }

    /// What the front door needs: `max_header_bytes` and `[connections]`.
    pub fn listener(&self) -> revalidate_listener::ListenerConfig {
        revalidate_listener::ListenerConfig {
            connections: self.connections,
            max_header_bytes: self.max_header_bytes,
        }
    }

    /// Whether writes to `collection` must carry a precondition.
    pub fn requires_preconditions(&self, collection: &str) -> bool {
        self.api
            .require_preconditions
            .iter()
            .any(|c| c == "*" || c == collection)
    }
}

impl ApiConfig {
    /// The longest `body_read_timeout_ms`: an hour.
    pub const MAX_BODY_READ_TIMEOUT_MS: u64 = 3_600_000;
}

impl EdgePurgeConfig {
    /// The shortest token an edge accepts as its `purge_token`.
    pub const MIN_TOKEN_LEN: usize = 16;
    /// The longest `timeout_ms`: a purge that takes longer is better retried.
    pub const MAX_TIMEOUT_MS: u64 = 60_000;

    /// The edges' base URIs, each checked to be `http://host:port` without
    /// a path (the purge API lives at a fixed path on the edge).
    pub fn edge_uris(&self) -> Result<Vec<http::Uri>, ConfigError> {
        let mut uris: Vec<http::Uri> = Vec::with_capacity(self.edges.len());
        for edge in &self.edges {
            let bad = |why: &str| {
                ConfigError::Invalid(format!(
                    "edge_purge.edges: {edge:?} {why}; expected http://host:port, such as \"http://127.0.0.1:8081\""
                ))
            };
            let uri: http::Uri = edge.parse().map_err(|_| bad("is not a URL"))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
                return Err(bad("is not an http:// URL with a host"));
            }
            if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
                return Err(bad(&format!(
                    "has a path or query (the purge API is always at {PURGE_PATH})"
                )));
            }
            if uris.iter().any(|u| u.authority() == uri.authority()) {
                return Err(bad("is listed twice"));
            }
            uris.push(uri);
        }
        Ok(uris)
    }

    /// Checks values that TOML types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.edges.is_empty() {
            return Err(ConfigError::Invalid(
                "edge_purge.edges is empty: list the edges to purge, or remove [edge_purge]".into(),
            ));
        }
        self.edge_uris()?;
        if self.token.len() < Self::MIN_TOKEN_LEN {
            return Err(ConfigError::Invalid(format!(
                "edge_purge.token must be at least {} characters (as the edges' purge_token)",
                Self::MIN_TOKEN_LEN
            )));
        }
        if !self.token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::Invalid(
                "edge_purge.token must be printable ASCII without spaces".into(),
            ));
        }
        if !(1..=Self::MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(ConfigError::Invalid(format!(
                "edge_purge.timeout_ms must be between 1 and {}, got {}",
                Self::MAX_TIMEOUT_MS,
                self.timeout_ms
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config: OriginConfig = toml::from_str("").unwrap();
        assert_eq!(config, OriginConfig::default());
        assert!(config.database_url().starts_with("sqlite://data/"));
    }

    #[test]
    fn the_admin_listener_is_off_by_default_and_admin_wins_over_metrics_listen() {
        let config: OriginConfig = toml::from_str("").unwrap();
        assert_eq!(config.admin_listen(), None);
        let addr = |text: &str| Some(text.parse::<SocketAddr>().unwrap());
        let config: OriginConfig = toml::from_str("metrics_listen = \"127.0.0.1:9090\"").unwrap();
        assert_eq!(config.admin_listen(), addr("127.0.0.1:9090"));
        let config: OriginConfig = toml::from_str("[admin]\nlisten = \"127.0.0.1:9080\"").unwrap();
        assert_eq!(config.admin_listen(), addr("127.0.0.1:9080"));
        let both = "metrics_listen = \"127.0.0.1:9090\"\n[admin]\nlisten = \"off\"";
        let config: OriginConfig = toml::from_str(both).unwrap();
        assert_eq!(config.admin_listen(), None);
        assert!(toml::from_str::<OriginConfig>("[admin]\nlisten = \"9080\"").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(toml::from_str::<OriginConfig>("lisen = \"127.0.0.1:1\"").is_err());
        let bad: OriginConfig = toml::from_str("[api]\nprefix = \"api\"").unwrap();
        assert!(bad.validate().is_err());
        let bad: OriginConfig = toml::from_str("database = \"mysql://x\"").unwrap();
        assert!(bad.validate().is_err());
        for (text, message) in [
            ("[api]\nbody_read_timeout_ms = 0", "api.body_read_timeout_ms"),
            (
                "[api]\nbody_read_timeout_ms = 3600001",
                "api.body_read_timeout_ms",
            ),
            ("database_timeout_ms = 0", "database_timeout_ms"),
            ("database_timeout_ms = 600001", "database_timeout_ms"),
        ] {
            let bad: OriginConfig = toml::from_str(text).unwrap();
            let error = bad.validate().unwrap_err().to_string();
            assert!(error.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn timeouts_have_safe_defaults_and_parse() {
        let defaults = OriginConfig::default();
        assert_eq!(defaults.api.body_read_timeout_ms, 30_000);
        assert_eq!(defaults.database_timeout_ms, 10_000);
        assert_eq!(
            defaults.store_options().timeout,
            std::time::Duration::from_secs(10)
        );
        let config: OriginConfig =
            toml::from_str("database_timeout_ms = 2500\n[api]\nbody_read_timeout_ms = 750").unwrap();
        config.validate().unwrap();
        assert_eq!(config.api.body_read_timeout_ms, 750);
        assert_eq!(
            config.store_options().timeout,
            std::time::Duration::from_millis(2500)
        );
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
            listen = "127.0.0.1:9999"
            root = "site"
            database = "postgres://u@127.0.0.1/db"
            [api]
            prefix = "/v1/"
            require_preconditions = ["orders"]
            [static]
            directory_listing = true
            [[static.cache_control]]
            pattern = "**/*.pdf"
            value = "public, max-age=600"
        "#;
        let config: OriginConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert!(config.requires_preconditions("orders") && !config.requires_preconditions("notes"));
        assert_eq!(config.static_files.cache_control[0].value, "public, max-age=600");
    }

    #[test]
    fn the_front_door_keys_parse_and_bad_values_are_one_line_errors() {
        let text = "max_header_bytes = 8192\n[connections]\nheader_timeout_ms = 500\nmax_connections = 64\n";
        let config: OriginConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        let listener = config.listener();
        assert_eq!(listener.max_header_bytes, 8192);
        assert_eq!(listener.connections.header_timeout_ms, 500);
        assert_eq!(
            listener.connections.idle_timeout_ms, 15_000,
            "unset keys keep their defaults"
        );
        assert_eq!(listener.connections.max_connections, 64);
        for (text, message) in [
            ("max_header_bytes = 100", "max_header_bytes must be at least 1024"),
            (
                "[connections]\nidle_timeout_ms = 0",
                "connections.idle_timeout_ms must be",
            ),
            (
                "[connections]\nmax_connections = 0",
                "connections.max_connections must be",
            ),
        ] {
            let config: OriginConfig = toml::from_str(text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(
                error.contains(message) && !error.contains('\n'),
                "{text}: {error}"
            );
        }
        assert!(toml::from_str::<OriginConfig>("[connections]\nheader_timeout = 1").is_err());
    }

    #[test]
    fn the_access_log_section_parses_and_bad_values_are_one_line_errors() {
        let config: OriginConfig =
            toml::from_str("[access_log]\npath = \"-\"\nformat = \"json\"\nflush_ms = 50\n").unwrap();
        config.validate().unwrap();
        assert!(config.access_log.enabled());
        assert_eq!(
            config.access_log.format,
            revalidate_listener::access_log::Format::Json
        );
        let off: OriginConfig = toml::from_str("").unwrap();
        assert!(!off.access_log.enabled(), "off by default");
        let config: OriginConfig =
            toml::from_str("[access_log]\npath = \"a.log\"\nqueue_records = 0\n").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("access_log.queue_records must be between 1 and") && !error.contains('\n'),
            "{error}"
        );
        assert!(toml::from_str::<OriginConfig>("[access_log]\nformat = \"common\"\n").is_err());
    }

    #[test]
    fn the_tls_section_parses_and_bad_values_are_one_line_errors() {
        let text = "[tls]\nlisten = \"127.0.0.1:8443\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n[[tls.certificates]]\ncert = \"a.pem\"\nkey = \"a.key\"\nserver_names = [\"api.example.com\"]\n";
        let config: OriginConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert!(config.tls.enabled());
        assert_eq!(config.tls.certificates[0].server_names, ["api.example.com"]);
        for (text, message) in [
            ("[tls]\nlisten = \"127.0.0.1:8443\"", "needs a certificate"),
            ("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"", "without tls.listen"),
        ] {
            let config: OriginConfig = toml::from_str(text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(
                error.contains(message) && !error.contains('\n'),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn edge_purge_section_parses_with_defaults() {
        let text = r#"
            [edge_purge]
            edges = ["http://127.0.0.1:8081", "http://edge-2.internal:80/"]
            token = "0123456789abcdef"
        "#;
        let config: OriginConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        let edge_purge = config.edge_purge.as_ref().unwrap();
        assert_eq!(edge_purge.timeout_ms, 2_000);
        assert_eq!(edge_purge.cdn_max_age, None);
        assert_eq!(edge_purge.edge_uris().unwrap()[1].port_u16(), Some(80));
        assert!(
            !format!("{config:?}").contains("0123456789abcdef"),
            "the token is not logged"
        );
    }

    #[test]
    fn edge_purge_bad_values_are_clear_errors() {
        let cases = [
            (
                "edges = []\ntoken = \"0123456789abcdef\"",
                "edge_purge.edges is empty",
            ),
            (
                "edges = [\"127.0.0.1:8081\"]\ntoken = \"0123456789abcdef\"",
                "not an http:// URL",
            ),
            (
                "edges = [\"https://e:443\"]\ntoken = \"0123456789abcdef\"",
                "not an http:// URL",
            ),
            (
                "edges = [\"not a url\"]\ntoken = \"0123456789abcdef\"",
                "is not a URL",
            ),
            (
                "edges = [\"http://e:1/purge\"]\ntoken = \"0123456789abcdef\"",
                "has a path",
            ),
            (
                "edges = [\"http://e:1\", \"http://e:1/\"]\ntoken = \"0123456789abcdef\"",
                "listed twice",
            ),
            (
                "edges = [\"http://e:1\"]\ntoken = \"short\"",
                "at least 16 characters",
            ),
            (
                "edges = [\"http://e:1\"]\ntoken = \"0123456789 abcdef\"",
                "without spaces",
            ),
            (
                "edges = [\"http://e:1\"]\ntoken = \"0123456789abcdef\"\ntimeout_ms = 0",
                "timeout_ms",
            ),
        ];
        for (section, message) in cases {
            let config: OriginConfig = toml::from_str(&format!("[edge_purge]\n{section}")).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(message), "{section}: {error}");
        }
        let missing_token = toml::from_str::<OriginConfig>("[edge_purge]\nedges = [\"http://e:1\"]");
        assert!(missing_token.unwrap_err().to_string().contains("token"));
    }
}
