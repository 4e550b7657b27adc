//! Configuration of `revalidate edge`: a TOML file whose every key has a
//! default, overridden by command-line flags.
//!
//! ```toml
//! listen = "127.0.0.1:8081"
//! origin = "http://127.0.0.1:8080"
//! cache_dir = "edge-cache"          # optional; default: memory only
//! memory = "256MiB"
//! disk = "4GiB"
//! max_object_size = "8MiB"
//! cache_name = "revalidate-edge"    # the Cache-Status member name (RFC 9211)
//! cdn_cache_control = true          # honour CDN-Cache-Control (RFC 9213)
//! purge_token = "…"                 # enables the purge API; default: off
//! connect_timeout_ms = 2000
//! response_timeout_ms = 30000
//! max_header_bytes = 65536          # a bigger request head gets 431
//!
//! # Towards clients and the origin: bounds between body chunks, request
//! # collapsing, and what a shared cache keeps and forwards.
//! client_body_timeout_ms = 30000    # silence allowed between two chunks of a
//!                                   # request body, then 408 (nginx client_body_timeout)
//! upstream_body_timeout_ms = 30000  # silence allowed between two chunks of an origin
//!                                   # body, then abort, store nothing (nginx proxy_read_timeout)
//! collapse_timeout_ms = 5000        # longest wait for another request's origin fetch,
//!                                   # then go to the origin (nginx proxy_cache_lock_timeout)
//! cache_set_cookie = "explicit"     # store responses carrying Set-Cookie: "never",
//!                                   # "explicit" (only with an explicit lifetime,
//!                                   # fresh on arrival) or "always" (false, true)
//! trusted_proxies = []              # CIDRs (or addresses) whose X-Forwarded-For and
//!                                   # X-Forwarded-Proto are passed on, e.g. ["10.0.0.0/8"]
//!
//! # The front door (revalidate-listener): every key optional, defaults shown
//! [connections]
//! header_timeout_ms = 10000        # a whole request head, from the accept or its first byte (nginx client_header_timeout)
//! idle_timeout_ms = 15000          # a keep-alive connection without a request (nginx keepalive_timeout, Varnish timeout_idle)
//! send_timeout_ms = 30000          # a client that stops reading its response (nginx send_timeout)
//! max_connections = 4096           # at the cap the connection idle longest is closed; clamped to half the fd limit
//! lingering_timeout_ms = 2000      # after an early answer, read what the client still sends; 0: off
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
//! cert = "/etc/revalidate/cdn.pem"
//! key = "/etc/revalidate/cdn.key"
//! server_names = ["cdn.example.com", "*.cdn.example.com"]   # default: the certificate's DNS names
//!
//! [access_log]                     # optional: one line per request (see revalidate_listener::access_log)
//! path = "/var/log/revalidate/access.log"   # --access-log; "-" for stdout; reopened on SIGHUP and SIGUSR1
//! format = "combined"              # --access-log-format: nginx's combined, or "json" (JSON lines)
//! queue_records = 65536            # lines waiting for the writer; more are dropped and counted
//! flush_ms = 1000                  # lines reach the file at most this late
//! [admin]                          # the admin listener: /metrics, /healthz, /readyz
//! listen = "127.0.0.1:9081"        # --admin-listen; the default (loopback only); "off" turns it off
//!
//! [cache_key]                      # optional, one site only (see revalidate_edge::sites::key)
//! query = "keep"                   # "keep", "sort" or "ignore"
//! drop = []                        # parameter names (globs) removed: ["utm_*", "fbclid"]
//! [[ttl]]                          # optional, repeatable, one site only (see revalidate_edge::sites::ttl)
//! path = "/static/*"               # the first rule whose glob matches the path applies
//! default_ttl_s = 86400            # lifetime of responses without one (a §4.2.2 heuristic)
//! override_ttl_s = 600             # DEVIATION(ttl-override): whatever the origin says
//!
//! # Several sites instead of `origin` (see revalidate_edge::sites::config):
//! # [[sites]]
//! # name = "www.example.com"
//! # hosts = ["www.example.com", "example.com"]
//! # origin = "http://10.0.0.5:8080"
//! # purge_token = "…"              # this site only; the top-level token purges every site
//! # [sites.cache_key]
//! # query = "sort"
//! ```
//!
//! The edge's own metrics, health and readiness are on the admin listener
//! ([`revalidate_listener::admin`]), on by default on loopback as
//! Varnish's and Envoy's admin interfaces are: the public listener answers
//! `/metrics` from the origin like any other path. `/readyz` checks that
//! the storage answers and reports the last origin answer without failing
//! on it: an unreachable origin makes every edge of a pool unready at
//! once, and the edge still serves what it holds (and `stale-if-error`),
//! so, as Envoy, HAProxy and Traefik do, readiness stays the node's own.
//!
//! Requests that came over TLS reach the origin with `X-Forwarded-Proto:
//! https`, and are stored under an `https` key: the scheme is part of the
//! cache key (as with a trusted load balancer's `X-Forwarded-Proto`), so
//! an origin whose answers differ by scheme (a redirect to `https`) needs
//! no `Vary`.
//!
//! `collapse_timeout_ms` defaults to nginx's 5 s: long enough for an
//! ordinary fill to land (so concurrent misses still cost the origin one
//! request), short enough that a leader whose origin stalls costs the
//! requests waiting for it 5 s rather than the origin timeouts (up to
//! 30 s for the head plus 30 s per silent gap in the body).
//!
//! The `[connections]` keys, their defaults and the nginx/Varnish settings
//! they mirror are documented in [`revalidate_listener::limits`], the
//! `[tls]` keys in [`revalidate_listener::tls`], the `[access_log]` keys
//! and formats in [`revalidate_listener::access_log`]. The
//! connection cap is clamped to half of what the file-descriptor limit
//! allows, since each client request may hold a connection to the origin.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use ipnet::IpNet;
use revalidate_core::cache::SetCookiePolicy;
use serde::Deserialize;

use crate::proxy::EdgeSettings;
use crate::storage::{DEFAULT_MAX_OBJECT_SIZE, parse_size};

/// Everything `revalidate edge` needs to start.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Address of the HTTP listener.
    pub listen: SocketAddr,
    /// The origin every request goes to: `http://host:port`, no path.
    pub origin: String,
    /// The disk tier's directory; `None` keeps the cache in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Memory tier capacity, such as `256MiB`.
    pub memory: String,
    /// Disk tier capacity, such as `4GiB` (used with `cache_dir`).
    pub disk: String,
    /// The largest response body (plus metadata) that is stored; bigger
    /// ones stream through uncached.
    pub max_object_size: String,
    /// This cache's name in `Cache-Status` and `Via`.
    pub cache_name: String,
    /// Whether `CDN-Cache-Control` replaces `Cache-Control` for this cache
    /// ([RFC 9213 §2.1](https://www.rfc-editor.org/rfc/rfc9213#section-2.1)).
    pub cdn_cache_control: bool,
    /// The bearer token of the purge API; `None` turns the API off.
    pub purge_token: Option<String>,
    /// How long to wait for a connection to the origin.
    pub connect_timeout_ms: u64,
    /// How long to wait for the origin's response head.
    pub response_timeout_ms: u64,
    /// The largest request head accepted; a bigger one gets `431`.
    pub max_header_bytes: usize,

    // Towards clients and the origin (see the module docs).
    /// Silence allowed between two chunks of a client's request body.
    pub client_body_timeout_ms: u64,
    /// Silence allowed between two chunks of an origin's response body.
    pub upstream_body_timeout_ms: u64,
    /// The longest a request waits for another request's origin fetch.
    pub collapse_timeout_ms: u64,
    /// Which responses carrying `Set-Cookie` are stored: `"never"`,
    /// `"explicit"` (the default: those whose explicit lifetime for this
    /// cache, `s-maxage`, `max-age`, `Expires` or the `CDN-Cache-Control`
    /// one, has not run out on arrival) or `"always"`; TOML `false` is
    /// `"never"` and `true` `"always"` (the older boolean form). See
    /// [`SetCookiePolicy`].
    #[serde(deserialize_with = "set_cookie_policy")]
    pub cache_set_cookie: SetCookiePolicy,
    /// Peers (CIDR ranges or single addresses) whose forwarding fields are
    /// passed on.
    pub trusted_proxies: Vec<String>,
    // The front door (revalidate-listener).
    /// The `[connections]` section: timeouts, the connection cap,
    /// lingering close.
    pub connections: revalidate_listener::Limits,
    /// The `[tls]` section: the TLS listener and its certificates.
    pub tls: revalidate_listener::TlsSettings,
    /// The `[access_log]` section: where and how requests are logged.
    pub access_log: revalidate_listener::AccessLogSettings,
    /// The `[admin]` section: where the admin listener listens.
    pub admin: revalidate_listener::AdminSettings,
    /// Without `[[sites]]`: what the cache key keeps of the query.
    pub cache_key: crate::sites::KeyConfig,
    /// Without `[[sites]]`: lifetimes by path ([`crate::sites::ttl`]).
    pub ttl: Vec<crate::sites::TtlRuleConfig>,
    /// `[[sites]]`: several sites chosen by host ([`crate::sites::config`]);
    /// empty: one site answering every host with `origin`.
    pub sites: Vec<crate::sites::config::SiteConfig>,
}

/// Where the edge's admin listener listens unless told otherwise:
/// loopback only, so that metrics and health are not public by default.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9081);

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            origin: String::new(),
            cache_dir: None,
            memory: "256MiB".into(),
            disk: "4GiB".into(),
            max_object_size: format!("{DEFAULT_MAX_OBJECT_SIZE}"),
            cache_name: "revalidate-edge".into(),
            cdn_cache_control: true,
            purge_token: None,
            connect_timeout_ms: 2_000,
            response_timeout_ms: 30_000,
            max_header_bytes: revalidate_listener::ListenerConfig::DEFAULT_HEADER_BYTES,
            client_body_timeout_ms: 30_000,
            upstream_body_timeout_ms: 30_000,
            collapse_timeout_ms: 5_000,
            cache_set_cookie: SetCookiePolicy::Explicit,
            trusted_proxies: Vec::new(),
            connections: revalidate_listener::Limits::default(),
            tls: revalidate_listener::TlsSettings::default(),
            access_log: revalidate_listener::AccessLogSettings::default(),
            admin: revalidate_listener::AdminSettings {
                listen: revalidate_listener::AdminListen::On(DEFAULT_ADMIN_LISTEN),
            },
            cache_key: crate::sites::KeyConfig::default(),
            ttl: Vec::new(),
            sites: Vec::new(),
        }
    }
}

pub use revalidate_listener::ConfigError;

/// An origin URL: `http://host:port`, no path or query.
pub fn parse_origin(origin: &str) -> Result<Uri, ConfigError> {
    let uri: Uri = origin
        .parse()
        .map_err(|e| ConfigError::Invalid(format!("origin {origin:?} is not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(ConfigError::Invalid(format!(
            "origin must be an http://host:port URL, got {origin:?}"
        )));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(ConfigError::Invalid(format!(
            "origin must not have a path or query, got {origin:?}"
        )));
    }
    Ok(uri)
}

/// `cache_set_cookie`: a policy name, or the older boolean (`false` is
/// `"never"`, `true` `"always"`).
fn set_cookie_policy<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SetCookiePolicy, D::Error> {
    struct Policy;
    impl serde::de::Visitor<'_> for Policy {
        type Value = SetCookiePolicy;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("\"never\", \"explicit\" or \"always\" (or true, false)")
        }
        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<SetCookiePolicy, E> {
            Ok(if value {
                SetCookiePolicy::Always
            } else {
                SetCookiePolicy::Never
            })
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<SetCookiePolicy, E> {
            value.parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_any(Policy)
}

/// The sizes of a validated configuration, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Memory tier capacity.
    pub memory: u64,
    /// Disk tier capacity.
    pub disk: u64,
    /// Largest stored object.
    pub max_object_size: u64,
}

impl EdgeConfig {
    /// Reads a TOML file; missing keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        revalidate_listener::read_config_file(path)
    }

    /// The origin as a URI with scheme and authority.
    pub fn origin_uri(&self) -> Result<Uri, ConfigError> {
        parse_origin(&self.origin)
    }

    /// The sizes, parsed.
    pub fn sizes(&self) -> Result<Sizes, ConfigError> {
        let size = |name: &str, value: &str| {
            parse_size(value).map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))
        };
        let sizes = Sizes {
            memory: size("memory", &self.memory)?,
            disk: size("disk", &self.disk)?,
            max_object_size: size("max_object_size", &self.max_object_size)?,
        };
        if sizes.memory == 0 {
            return Err(ConfigError::Invalid("memory must be more than 0 bytes".into()));
        }
        Ok(sizes)
    }

    /// Checks values that TOML types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::sites::config::validate(self)?;
        self.sizes()?;
        if self.cache_name.is_empty() {
            return Err(ConfigError::Invalid("cache_name must not be empty".into()));
        }
        if self.purge_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid(
                "purge_token must be at least 16 characters".into(),
            ));
        }
        if self.connect_timeout_ms == 0 || self.response_timeout_ms == 0 {
            return Err(ConfigError::Invalid("timeouts must be at least 1 ms".into()));
        }
        if self.max_header_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_header_bytes must be at least 1024".into(),
            ));
        }
        self.connections.validate().map_err(ConfigError::Invalid)?;
        self.tls.validate().map_err(ConfigError::Invalid)?;
        self.access_log.validate().map_err(ConfigError::Invalid)?;
        self.validate_towards_clients_and_origin()
    }

    /// The [`EdgeSettings`] of the proxy this configuration describes.
    pub fn edge_settings(&self) -> Result<EdgeSettings, ConfigError> {
        let mut settings = self.edge_settings_without_origin()?;
        settings.origin = self.origin_uri()?;
        settings.cache_key = crate::sites::KeyRules::new(&self.cache_key).map_err(ConfigError::Invalid)?;
        Ok(settings)
    }

    /// The settings every site shares; each site sets its origin, name,
    /// purge token and key rules ([`crate::sites::config`]).
    pub(crate) fn edge_settings_without_origin(&self) -> Result<EdgeSettings, ConfigError> {
        let mut settings = EdgeSettings::new(Uri::from_static("http://origin.invalid"));
        settings.cache_name = self.cache_name.clone();
        settings.cdn_cache_control = self.cdn_cache_control;
        settings.purge_token = self.purge_token.clone();
        settings.connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        settings.response_timeout = Duration::from_millis(self.response_timeout_ms);
        settings.client_body_timeout = Duration::from_millis(self.client_body_timeout_ms);
        settings.upstream_body_timeout = Duration::from_millis(self.upstream_body_timeout_ms);
        settings.collapse_timeout = Duration::from_millis(self.collapse_timeout_ms);
        settings.cache_set_cookie = self.cache_set_cookie;
        settings.trusted_proxies = self.trusted_proxy_ranges()?;
        Ok(settings)
    }

    fn validate_towards_clients_and_origin(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("client_body_timeout_ms", self.client_body_timeout_ms),
            ("upstream_body_timeout_ms", self.upstream_body_timeout_ms),
            ("collapse_timeout_ms", self.collapse_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1 ms")));
            }
        }
        self.trusted_proxy_ranges().map(drop)
    }

    /// `trusted_proxies` parsed: `10.0.0.0/8`, `::1/128`, or a single
    /// address (`192.0.2.7`, a /32 or /128).
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|text| {
                let text = text.trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map(|range| range.trunc())
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "trusted_proxies: {text:?} is neither a CIDR range (10.0.0.0/8) nor an IP address"
                        ))
                    })
            })
            .collect()
    }

    /// What the front door needs: `max_header_bytes` and `[connections]`.
    pub fn listener(&self) -> revalidate_listener::ListenerConfig {
        revalidate_listener::ListenerConfig {
            connections: self.connections,
            max_header_bytes: self.max_header_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_file_gives_defaults_which_need_an_origin() {
        let config: EdgeConfig = toml::from_str("").unwrap();
        assert_eq!(config, EdgeConfig::default());
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_admin_listener_is_on_loopback_by_default_and_can_be_moved_or_turned_off() {
        use revalidate_listener::AdminListen;
        let config: EdgeConfig = toml::from_str("").unwrap();
        assert_eq!(config.admin.listen, AdminListen::On(DEFAULT_ADMIN_LISTEN));
        assert_eq!(DEFAULT_ADMIN_LISTEN.to_string(), "127.0.0.1:9081");
        let config: EdgeConfig = toml::from_str("[admin]\nlisten = \"off\"").unwrap();
        assert_eq!(config.admin.listen, AdminListen::Off);
        let config: EdgeConfig = toml::from_str("[admin]\nlisten = \"0.0.0.0:9191\"").unwrap();
        assert_eq!(config.admin.listen.addr(), Some("0.0.0.0:9191".parse().unwrap()));
        let error = toml::from_str::<EdgeConfig>("[admin]\nlisten = \"anywhere\"").unwrap_err();
        assert!(error.to_string().contains("or off"), "{error}");
        assert!(toml::from_str::<EdgeConfig>("[admin]\nport = 1").is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(toml::from_str::<EdgeConfig>("orign = \"http://127.0.0.1:1\"").is_err());
        for (text, why) in [
            ("origin = \"ftp://127.0.0.1:1\"", "scheme"),
            ("origin = \"http://127.0.0.1:1/base\"", "path"),
            ("origin = \"http://127.0.0.1:1\"\nmemory = \"lots\"", "size"),
            (
                "origin = \"http://127.0.0.1:1\"\npurge_token = \"short\"",
                "token",
            ),
            (
                "origin = \"http://127.0.0.1:1\"\nmax_header_bytes = 10",
                "header limit",
            ),
            (
                "origin = \"http://127.0.0.1:1\"\nclient_body_timeout_ms = 0",
                "client body timeout",
            ),
            (
                "origin = \"http://127.0.0.1:1\"\nupstream_body_timeout_ms = 0",
                "upstream body timeout",
            ),
            (
                "origin = \"http://127.0.0.1:1\"\ncollapse_timeout_ms = 0",
                "collapse timeout",
            ),
            (
                "origin = \"http://127.0.0.1:1\"\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "prefix too long",
            ),
            (
                "origin = \"http://127.0.0.1:1\"\ntrusted_proxies = [\"lb.internal\"]",
                "a host name",
            ),
        ] {
            let config: EdgeConfig = toml::from_str(text).unwrap();
            assert!(config.validate().is_err(), "{why}");
        }
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
            listen = "127.0.0.1:9999"
            origin = "http://127.0.0.1:8080"
            cache_dir = "cache"
            memory = "64MiB"
            disk = "1GiB"
            max_object_size = "1MiB"
            cache_name = "edge-1"
            cdn_cache_control = false
            purge_token = "0123456789abcdef"
            connect_timeout_ms = 100
            response_timeout_ms = 200
            max_header_bytes = 8192
            client_body_timeout_ms = 1000
            upstream_body_timeout_ms = 2000
            collapse_timeout_ms = 300
            cache_set_cookie = "always"
            trusted_proxies = ["10.1.2.3/8", "192.0.2.7", "::1"]
            [connections]
            header_timeout_ms = 2000
            idle_timeout_ms = 5000
            send_timeout_ms = 9000
            max_connections = 100
            lingering_timeout_ms = 0
            lingering_max_bytes = 1024
        "#;
        let config: EdgeConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.sizes().unwrap().max_object_size, 1 << 20);
        assert_eq!(config.origin_uri().unwrap().port_u16(), Some(8080));
        let listener = config.listener();
        assert_eq!(listener.max_header_bytes, 8192);
        assert_eq!(listener.connections.header_timeout_ms, 2000);
        assert_eq!(listener.connections.lingering_timeout_ms, 0);
        let settings = config.edge_settings().unwrap();
        assert_eq!(settings.client_body_timeout, Duration::from_secs(1));
        assert_eq!(settings.upstream_body_timeout, Duration::from_secs(2));
        assert_eq!(settings.collapse_timeout, Duration::from_millis(300));
        assert_eq!(settings.cache_set_cookie, SetCookiePolicy::Always);
        let ranges: Vec<String> = settings.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(ranges, ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]);
    }

    #[test]
    fn defaults_of_the_settings_towards_clients_and_origin() {
        let config = EdgeConfig {
            origin: "http://127.0.0.1:8080".into(),
            ..EdgeConfig::default()
        };
        let settings = config.edge_settings().unwrap();
        assert_eq!(settings.client_body_timeout, Duration::from_secs(30));
        assert_eq!(settings.upstream_body_timeout, Duration::from_secs(30));
        assert_eq!(settings.collapse_timeout, Duration::from_secs(5));
        assert_eq!(settings.cache_set_cookie, SetCookiePolicy::Explicit);
        assert!(settings.trusted_proxies.is_empty());
    }

    #[test]
    fn cache_set_cookie_takes_a_policy_or_the_older_boolean() {
        for (text, expected) in [
            ("", SetCookiePolicy::Explicit),
            ("cache_set_cookie = \"never\"", SetCookiePolicy::Never),
            ("cache_set_cookie = \"explicit\"", SetCookiePolicy::Explicit),
            ("cache_set_cookie = \"always\"", SetCookiePolicy::Always),
            ("cache_set_cookie = false", SetCookiePolicy::Never),
            ("cache_set_cookie = true", SetCookiePolicy::Always),
        ] {
            let config: EdgeConfig = toml::from_str(text).unwrap();
            assert_eq!(config.cache_set_cookie, expected, "{text}");
        }
        for text in ["cache_set_cookie = \"sometimes\"", "cache_set_cookie = 1"] {
            let error = toml::from_str::<EdgeConfig>(text).unwrap_err().to_string();
            assert!(
                error.contains("\"never\", \"explicit\" or \"always\""),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn the_access_log_section_parses_and_bad_values_are_one_line_errors() {
        let config: EdgeConfig = toml::from_str(
            "origin = \"http://127.0.0.1:1\"\n[access_log]\npath = \"-\"\nformat = \"json\"\nflush_ms = 50\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert!(config.access_log.enabled());
        assert_eq!(
            config.access_log.format,
            revalidate_listener::access_log::Format::Json
        );
        let off: EdgeConfig = toml::from_str("origin = \"http://127.0.0.1:1\"\n").unwrap();
        assert!(!off.access_log.enabled(), "off by default");
        let config: EdgeConfig = toml::from_str(
            "origin = \"http://127.0.0.1:1\"\n[access_log]\npath = \"a.log\"\nqueue_records = 0\n",
        )
        .unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("access_log.queue_records must be between 1 and") && !error.contains('\n'),
            "{error}"
        );
        assert!(
            toml::from_str::<EdgeConfig>(
                "origin = \"http://127.0.0.1:1\"\n[access_log]\nformat = \"common\"\n"
            )
            .is_err()
        );
    }

    #[test]
    fn the_tls_section_parses_and_bad_values_are_one_line_errors() {
        let text = "origin = \"http://127.0.0.1:1\"\n[tls]\nlisten = \"127.0.0.1:8443\"\ncert = \"c.pem\"\nkey = \"k.pem\"\nhandshake_timeout_ms = 3000\n";
        let config: EdgeConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert!(config.tls.enabled());
        assert_eq!(config.tls.handshake_timeout_ms, 3000);
        let config: EdgeConfig = toml::from_str(
            "origin = \"http://127.0.0.1:1\"\n[tls]\nlisten = \"127.0.0.1:8443\"\ncert = \"c.pem\"",
        )
        .unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("without tls.key") && !error.contains('\n'),
            "{error}"
        );
    }

    #[test]
    fn bad_connection_limits_are_one_line_errors() {
        let config: EdgeConfig =
            toml::from_str("origin = \"http://127.0.0.1:1\"\n[connections]\nsend_timeout_ms = 5").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("connections.send_timeout_ms must be"), "{error}");
        assert!(
            toml::from_str::<EdgeConfig>("origin = \"http://127.0.0.1:1\"\n[connections]\nidle = 5").is_err()
        );
    }
}
