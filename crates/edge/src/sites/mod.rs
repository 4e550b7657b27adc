//! Several sites per edge, chosen by host: [`Sites`] routes each request
//! to the [`Edge`] of the site its host names ([`table`]), after the
//! site's key rules ([`key`]) are known to that edge. Every site has its
//! own origin, settings, purge token and metrics (`site` label); they
//! share the storage (keys hold the site's name,
//! [`crate::decide::primary_key`]), the listeners and the connection cap.
//!
//! - **Host**: the target URI's authority (absolute form, HTTP/2
//!   `:authority`), else `Host` ([RFC 9112 §3.2.2]). An HTTP/1.1 request
//!   without `Host`, with two, or with an invalid one gets `400` (RFC 9112
//!   §3.2 "MUST").
//! - **SNI** chooses the certificate ([`revalidate_listener::tls`]); the
//!   host chooses the site, as in nginx. A client that sends one name in
//!   SNI and another in `Host` reaches the site of `Host`, served under
//!   the certificate SNI chose.
//! - **Unknown host**: `421 Misdirected Request` with a problem document
//!   ([RFC 9110 §15.5.20]: the server "is not able to produce a response"
//!   for that target), never another site's content; a site with host
//!   `*` answers every host no other site names.
//!
//! The table is behind an [`ArcSwap`], so that a reload can replace it
//! while requests run: a request keeps the site it was routed to.
//!
//! [RFC 9112 §3.2.2]: https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2
//! [RFC 9110 §15.5.20]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.20

pub mod config;
pub mod key;
pub mod reload;
pub mod table;
pub mod ttl;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONNECTION, HeaderValue};
use http::{Request, StatusCode};
use http_body::Body;

pub use self::key::{KeyConfig, KeyRules, QueryMode};
pub use self::table::{BadHost, HostPattern, SiteTable, TableError, check_host, host_of_field, request_host};
pub use self::ttl::{TtlRuleConfig, TtlRules};
use crate::body::BoxError;
use crate::entry::DecodedEntry;
use crate::metrics::MetricsRegistry;
use crate::pool::health::HealthChecks;
use crate::problem::{IntoEdgeResponse, Problem};
use crate::proxy::{Edge, Responding};
use crate::storage::{AnyStorage, Storage};

/// One site's edge, for cleartext requests and for TLS ones (which reach
/// the origin with `X-Forwarded-Proto: https` and key under `https`).
#[derive(Clone, Debug)]
pub struct SiteEdges {
    plain: Edge,
    tls: Edge,
}

impl SiteEdges {
    /// Both faces of `edge`.
    pub fn new(edge: Edge) -> Self {
        Self {
            tls: edge.for_tls(),
            plain: edge,
        }
    }

    fn with_upstream_in_responses(&self, on: bool) -> Self {
        Self {
            plain: self.plain.clone().with_upstream_in_responses(on),
            tls: self.tls.clone().with_upstream_in_responses(on),
        }
    }

    /// The cleartext face.
    pub fn edge(&self) -> &Edge {
        &self.plain
    }
}

/// The sites of one edge process and what they share; cheap to clone.
#[derive(Clone, Debug)]
pub struct Sites {
    /// Shared by every clone: a reload through one is seen by all.
    table: Arc<ArcSwap<SiteTable<SiteEdges>>>,
    /// Whether responses carry what the access log says of the origin
    /// ([`Edge::with_upstream_in_responses`]), for every site's edge,
    /// those of tables put in later too.
    log_upstream: Arc<AtomicBool>,
    storage: AnyStorage<DecodedEntry>,
    registry: MetricsRegistry,
    /// The sites' active health checks once started
    /// ([`Sites::start_health_checks`]); `None` before.
    health_checks: Arc<Mutex<Option<Vec<HealthChecks>>>>,
}

impl Sites {
    /// Sites over one storage and one metrics registry (every edge in
    /// `table` must use both).
    pub fn new(
        table: SiteTable<SiteEdges>,
        storage: AnyStorage<DecodedEntry>,
        registry: MetricsRegistry,
    ) -> Self {
        Self {
            table: Arc::new(ArcSwap::from_pointee(table)),
            storage,
            registry,
            log_upstream: Arc::new(AtomicBool::new(false)),
            health_checks: Arc::new(Mutex::new(None)),
        }
    }

    /// Starts each site's active health checks (the server does; a table
    /// put in later by [`Sites::replace`] gets its own, and the old ones
    /// stop). Call it inside the runtime.
    pub fn start_health_checks(&self) {
        let table = self.table.load();
        let checks = table
            .sites()
            .iter()
            .filter_map(|site| site.plain.spawn_health_checks())
            .collect();
        let mut running = self.health_checks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = running.replace(checks) {
            stop_in_background(old);
        }
    }

    /// Stops the health checks (at shutdown).
    pub async fn stop_health_checks(&self) {
        let checks = self
            .health_checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for check in checks.into_iter().flatten() {
            check.stop().await;
        }
    }

    /// These sites, whose responses carry what the access log says of the
    /// origin when `on` (see [`Edge::with_upstream_in_responses`]); a table
    /// that [`Sites::replace`] puts in later gets the same.
    pub fn with_upstream_in_responses(self, on: bool) -> Self {
        self.log_upstream.store(on, Ordering::Relaxed);
        let table = self.table.load().map(|site| site.with_upstream_in_responses(on));
        self.table.store(Arc::new(table));
        self
    }

    /// Replaces the table (a reload): requests routed from now on see the
    /// new sites; those already routed finish with the old.
    pub fn replace(&self, table: SiteTable<SiteEdges>) {
        let on = self.log_upstream.load(Ordering::Relaxed);
        self.table
            .store(Arc::new(table.map(|site| site.with_upstream_in_responses(on))));
        let started = self
            .health_checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if started {
            self.start_health_checks();
        }
    }

    /// The table now.
    pub fn table(&self) -> Arc<SiteTable<SiteEdges>> {
        self.table.load_full()
    }

    /// The storage every site shares.
    pub fn storage(&self) -> &AnyStorage<DecodedEntry> {
        &self.storage
    }

    /// The registry every site counts into.
    pub fn registry(&self) -> &MetricsRegistry {
        &self.registry
    }

    /// Every site's metrics and the shared ones, the storage gauges read
    /// now (what the admin listener serves at `/metrics`).
    pub fn render_metrics(&self) -> String {
        for site in self.table.load().sites() {
            site.plain.publish_pool_state();
        }
        self.registry.render(&self.storage.stats())
    }

    /// Answers one request: routed to its site's edge
    /// ([`Edge::respond`]), or `400`/`421` here. `tls`: whether it came
    /// over TLS.
    pub fn respond<B>(&self, request: Request<B>, peer: Option<SocketAddr>, tls: bool) -> Responding
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let table = self.table.load();
        let (uri, headers, version) = (request.uri(), request.headers(), request.version());
        let site = match table.only_catch_all() {
            // One site for every host: the host is only checked.
            Some(site) => match check_host(uri, headers, version) {
                Ok(()) => site,
                Err(bad) => return self.bad_host(bad),
            },
            None => match request_host(uri, headers, version) {
                Err(bad) => return self.bad_host(bad),
                Ok(host) => match table.find(host.as_deref()) {
                    Some(site) => site,
                    None => {
                        self.registry.unrouted(true);
                        let detail = match host {
                            Some(host) => format!("This server does not serve the host {host:?}."),
                            None => "This server serves no site for requests without a host.".to_owned(),
                        };
                        return Responding::ready(
                            Problem::new(StatusCode::MISDIRECTED_REQUEST, "Misdirected Request")
                                .with_detail(detail)
                                .into_edge_response(),
                        );
                    }
                },
            },
        };
        let edge = if tls { &site.tls } else { &site.plain };
        edge.respond(request, peer)
    }
}

/// Stops health checks a reload replaced, without waiting for them.
fn stop_in_background(checks: Vec<HealthChecks>) {
    if checks.is_empty() {
        return;
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            for check in checks {
                check.stop().await;
            }
        });
    }
}

impl Sites {
    /// `400` for a request without one valid `Host` (RFC 9112 §3.2).
    fn bad_host(&self, bad: BadHost) -> Responding {
        self.registry.unrouted(false);
        Responding::ready(
            Problem::new(StatusCode::BAD_REQUEST, "Bad Request")
                .with_detail(bad.detail())
                .with_header(CONNECTION, HeaderValue::from_static("close"))
                .into_edge_response(),
        )
    }
}

impl From<Edge> for Sites {
    /// One site answering every host.
    fn from(edge: Edge) -> Self {
        let storage = edge.storage().clone();
        let registry = edge.metrics().registry().clone();
        Self::new(SiteTable::single(SiteEdges::new(edge)), storage, registry)
    }
}
