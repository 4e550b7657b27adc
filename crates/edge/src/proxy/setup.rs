//! The edge value: its settings, what it holds, how it is built, and the
//! small readings every room makes of it (the clock, the forwarding
//! fields, the purge API's share). The origin's URL and `Host` are the
//! pool's ([`crate::pool`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use http::{HeaderMap, Uri};
use revalidate_core::HttpDate;
use revalidate_core::cache::{CacheConfig, SetCookiePolicy};

use crate::clock::Clock;
use crate::entry::{DecodedEntry, EdgeId};
use crate::flight::Flights;
use crate::forward::Forwarding;
use crate::metrics::{EdgeMetrics, MetricsRegistry};
use crate::pool::health::HealthChecks;
use crate::pool::{Pool, PoolSettings};
use crate::purge::PurgeApi;
use crate::sites::{KeyRules, TtlRules};
use crate::storage::{AnyStorage, Storage};

/// The client's address, put into request extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How the edge behaves; see [`crate::config::EdgeConfig`] for the file form.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    /// The origin pool: its members (`http://host:port`,
    /// `https://host:port`), balancing, TLS, protocol, health checks and
    /// ejection.
    pub pool: PoolSettings,
    /// This cache's name in `Cache-Status` and `Via`.
    pub cache_name: String,
    /// Whether `CDN-Cache-Control` is honoured.
    pub cdn_cache_control: bool,
    /// The purge API's bearer token; `None` turns it off.
    pub purge_token: Option<String>,
    /// Connect timeout to the origin.
    pub connect_timeout: Duration,
    /// Response-head timeout from the origin, counted from the end of the
    /// request's upload (or from the last chunk of it that the origin took).
    pub response_timeout: Duration,
    /// The longest silence allowed between two chunks of a client's request
    /// body (nginx `client_body_timeout`); then `408`.
    pub client_body_timeout: Duration,
    /// The longest silence allowed between two chunks of an origin's
    /// response body (nginx `proxy_read_timeout`); then the response is
    /// aborted, not stored, and counted as an origin timeout.
    pub upstream_body_timeout: Duration,
    /// The longest a request waits for another request's origin fetch
    /// (nginx `proxy_cache_lock_timeout`) before it goes to the origin itself.
    pub collapse_timeout: Duration,
    /// Which responses carrying `Set-Cookie` are stored (the core's
    /// [`SetCookiePolicy`]); by default those with an explicit lifetime.
    pub cache_set_cookie: SetCookiePolicy,
    /// Peers whose `X-Forwarded-For` and `X-Forwarded-Proto` are passed on
    /// (appended to); every other client's forwarding fields are dropped.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The site this edge serves: its name is the host part of every
    /// cache key it makes (`https://<site>/path?query`), its purges reach
    /// only its own keys, and it labels the site's metrics.
    pub site: String,
    /// What the cache key keeps of a request's query ([`crate::sites`]).
    pub cache_key: KeyRules,
    /// Lifetimes by path ([`crate::sites::ttl`]).
    pub ttl: TtlRules,
    /// The token that purges every site's keys, and the sites' names
    /// (with several sites; see [`crate::sites`]).
    pub purge_all: Option<PurgeAll>,
}

/// The purge token that reaches every site, and which sites there are.
#[derive(Clone, Debug)]
pub struct PurgeAll {
    /// The bearer token.
    pub token: String,
    /// Every site's name.
    pub sites: Arc<[String]>,
}

/// The site name of an edge that serves every host as one site.
pub const DEFAULT_SITE: &str = "default";

impl EdgeSettings {
    /// Settings for a pool of one `origin` with the defaults of
    /// [`crate::config::EdgeConfig`].
    pub fn new(origin: Uri) -> Self {
        Self::with_pool(PoolSettings::new(origin))
    }

    /// Settings for `pool` with the defaults of [`crate::config::EdgeConfig`].
    pub fn with_pool(pool: PoolSettings) -> Self {
        Self {
            pool,
            cache_name: "revalidate-edge".into(),
            cdn_cache_control: true,
            purge_token: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(30),
            client_body_timeout: Duration::from_secs(30),
            upstream_body_timeout: Duration::from_secs(30),
            collapse_timeout: Duration::from_secs(5),
            cache_set_cookie: SetCookiePolicy::Explicit,
            trusted_proxies: Vec::new(),
            site: DEFAULT_SITE.to_owned(),
            cache_key: KeyRules::default(),
            ttl: TtlRules::default(),
            purge_all: None,
        }
    }
}

/// The edge cache; cheap to clone.
#[derive(Clone, Debug)]
pub struct Edge {
    pub(super) inner: Arc<Inner>,
    /// The scheme of the connection the requests it handles came on, for
    /// `X-Forwarded-Proto`: `http`, or `https` for a handle of the TLS
    /// listener ([`Edge::for_tls`]).
    client_scheme: &'static str,
    /// Whether responses carry an [`revalidate_listener::access_log::Upstream`]
    /// extension (the cache's verdict, the origin's status and time) for
    /// the access log: only when one is configured, so that without it
    /// no request reads the clock for the origin's time.
    pub(super) log_upstream: bool,
}

/// What an edge holds; the proxy's rooms read it.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) storage: AnyStorage<DecodedEntry>,
    /// The origins; it sets each request's URI and `Host` to the member
    /// it picks, never the client's `Host` (see the crate docs on the
    /// cache key).
    pub(super) pool: Arc<Pool>,
    pub(super) cache: CacheConfig,
    /// Lifetimes by path: which rule a path falls under, and the core's
    /// configuration for each rule ([`Edge::cache_for`]).
    pub(super) ttl: TtlRules,
    pub(super) ttl_configs: Vec<CacheConfig>,
    pub(super) name: String,
    pub(super) via: HeaderValue,
    pub(super) purge_token: Option<String>,
    pub(super) flights: Arc<Flights>,
    pub(super) metrics: EdgeMetrics,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) client_body_timeout: Duration,
    pub(super) upstream_body_timeout: Duration,
    pub(super) collapse_timeout: Duration,
    pub(super) cache_set_cookie: SetCookiePolicy,
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    /// The site's name, the host part of its cache keys.
    pub(super) site: String,
    /// `http://<site>` and `https://<site>`: the start of every key.
    pub(super) key_prefixes: [String; 2],
    /// What the key keeps of the query; applied to the target on arrival.
    pub(super) cache_key: KeyRules,
    pub(super) purge_all: Option<PurgeAll>,
    /// Tells the entries this edge derived from stored objects from those
    /// another edge over the same storage derived ([`EdgeId`]).
    pub(super) id: EdgeId,
}

impl Edge {
    /// An edge in front of the pool `settings.pool`, storing in `storage`,
    /// reading time from `clock`. Its health checks, if configured, start
    /// with [`Edge::spawn_health_checks`] (the server does).
    pub fn new(settings: EdgeSettings, storage: AnyStorage<DecodedEntry>, clock: Arc<dyn Clock>) -> Self {
        Self::in_registry(settings, storage, clock, &MetricsRegistry::new())
    }

    /// [`Edge::new`] counting into `registry`, beside the other sites of
    /// one edge process ([`crate::sites`]).
    pub fn in_registry(
        settings: EdgeSettings,
        storage: AnyStorage<DecodedEntry>,
        clock: Arc<dyn Clock>,
        registry: &MetricsRegistry,
    ) -> Self {
        let mut cache = CacheConfig::shared();
        if !settings.cdn_cache_control {
            cache.targeted_field = None;
        }
        let via = HeaderValue::from_str(&format!("1.1 {}", settings.cache_name))
            .unwrap_or_else(|_| HeaderValue::from_static("1.1 revalidate-edge"));
        let authorities: Vec<&str> = settings
            .pool
            .members
            .iter()
            .map(|uri| uri.authority().map_or("", |a| a.as_str()))
            .collect();
        let metrics = EdgeMetrics::for_site(registry, &settings.site, &authorities);
        let pool = Pool::new(
            settings.pool,
            settings.connect_timeout,
            settings.response_timeout,
            metrics.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                storage,
                pool: Arc::new(pool),
                ttl_configs: settings.ttl.configs(&cache),
                ttl: settings.ttl,
                cache,
                name: settings.cache_name,
                via,
                purge_token: settings.purge_token,
                flights: Arc::new(Flights::new(Arc::clone(&clock))),
                metrics,
                clock,
                client_body_timeout: settings.client_body_timeout,
                upstream_body_timeout: settings.upstream_body_timeout,
                collapse_timeout: settings.collapse_timeout,
                cache_set_cookie: settings.cache_set_cookie,
                trusted_proxies: settings.trusted_proxies,
                key_prefixes: crate::decide::KEY_SCHEMES
                    .map(|scheme| crate::decide::key_prefix(scheme, &settings.site)),
                site: settings.site,
                cache_key: settings.cache_key,
                purge_all: settings.purge_all,
                id: EdgeId::next(),
            }),
            client_scheme: "http",
            log_upstream: false,
        }
    }

    /// The same edge (same storage, flights and metrics) for requests that
    /// came over TLS: they reach the origin with `X-Forwarded-Proto:
    /// https`.
    pub fn for_tls(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            client_scheme: "https",
            log_upstream: self.log_upstream,
        }
    }

    /// This edge, whose responses carry what the access log says of the
    /// origin ([`revalidate_listener::access_log::Upstream`]) when `on`.
    pub fn with_upstream_in_responses(mut self, on: bool) -> Self {
        self.log_upstream = on;
        self
    }

    /// The storage.
    pub fn storage(&self) -> &AnyStorage<DecodedEntry> {
        &self.inner.storage
    }

    /// The metrics.
    pub fn metrics(&self) -> &EdgeMetrics {
        &self.inner.metrics
    }

    /// The Prometheus text exposition of the edge's metrics, the storage
    /// gauges read now (what its admin listener serves at `/metrics`).
    pub fn render_metrics(&self) -> String {
        self.publish_pool_state();
        self.inner.metrics.render(&self.inner.storage.stats())
    }

    /// Sets `revalidate_edge_origin_up` from the pool's members now (at
    /// scrape time).
    pub fn publish_pool_state(&self) {
        self.inner.pool.publish_state();
    }

    /// Starts the pool's active health checks, if it has any configured;
    /// the server starts them and stops them at shutdown.
    pub fn spawn_health_checks(&self) -> Option<HealthChecks> {
        HealthChecks::spawn(&self.inner.pool)
    }

    /// What the purge API needs of the edge, and no more.
    pub(super) fn purge_api(&self) -> PurgeApi<'_> {
        PurgeApi {
            token: self.inner.purge_token.as_deref(),
            all_sites: self
                .inner
                .purge_all
                .as_ref()
                .map(|all| (all.token.as_str(), &all.sites[..])),
            site: &self.inner.site,
            cache_key: &self.inner.cache_key,
            storage: &self.inner.storage,
            metrics: &self.inner.metrics,
            client_body_timeout: self.inner.client_body_timeout,
            upstream: &self.inner.pool,
        }
    }

    /// The primary cache key of a request target (already normalised by
    /// the site's rules) arriving on this edge's scheme.
    pub(super) fn primary_key(&self, uri: &Uri) -> String {
        let prefix = &self.inner.key_prefixes[usize::from(self.client_scheme == "https")];
        crate::decide::primary_key(prefix, uri.path_and_query().map_or("/", |pq| pq.as_str()))
    }

    /// The core's configuration for a request's path: its lifetime
    /// rule's, or the site's ([`crate::sites::ttl`]).
    pub(super) fn cache_for(&self, path: &str) -> &CacheConfig {
        if self.inner.ttl.is_empty() {
            return &self.inner.cache;
        }
        self.inner
            .ttl
            .rule_for(path)
            .and_then(|rule| self.inner.ttl_configs.get(rule))
            .unwrap_or(&self.inner.cache)
    }

    /// [`Edge::cache_for`] the path of a stored object's key
    /// (`scheme://site/path?query`).
    pub(super) fn cache_for_key(&self, key: &str) -> &CacheConfig {
        if self.inner.ttl.is_empty() {
            return &self.inner.cache;
        }
        let target = key.split_once("://").map_or(key, |(_, rest)| rest);
        let path = target.find('/').map_or("/", |at| &target[at..]);
        self.cache_for(path.split_once('?').map_or(path, |(path, _)| path))
    }

    /// The site's name.
    pub fn site(&self) -> &str {
        &self.inner.site
    }

    /// The target with the site's key rules applied ([`crate::sites::KeyRules`]).
    pub(super) fn normalised(&self, uri: Uri) -> Uri {
        if self.inner.cache_key.is_identity() {
            return uri;
        }
        let Some(pq) = uri.path_and_query() else {
            return uri;
        };
        match self.inner.cache_key.normalise(pq.as_str()) {
            std::borrow::Cow::Borrowed(_) => uri,
            std::borrow::Cow::Owned(target) => {
                let mut parts = uri.into_parts();
                match target.parse() {
                    Ok(pq) => {
                        parts.path_and_query = Some(pq);
                        Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
                    }
                    // A normalised target is made of the original's bytes,
                    // so it parses; keep the original if it somehow does not.
                    Err(_) => Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/")),
                }
            }
        }
    }

    /// A surrogate key as this site stores it: tags are per site, so that
    /// one site's tag purge never reaches another's objects.
    pub(super) fn site_tags(&self, headers: &HeaderMap) -> Vec<String> {
        crate::decide::surrogate_tags(headers)
            .into_iter()
            .map(|tag| crate::decide::site_tag(&self.inner.site, &tag))
            .collect()
    }

    /// The clock's reading.
    pub(super) fn now(&self) -> HttpDate {
        self.inner.clock.now()
    }

    /// Who a request to the origin is from, for its forwarding fields.
    pub(super) fn forwarding(&self, peer: Option<IpAddr>) -> Forwarding<'_> {
        let trusted_peer = peer.is_some_and(|peer| {
            let peer = peer.to_canonical();
            self.inner
                .trusted_proxies
                .iter()
                .any(|range| range.contains(&peer))
        });
        Forwarding {
            via: &self.inner.via,
            peer,
            trusted_peer,
            proto: self.client_scheme,
        }
    }
}
