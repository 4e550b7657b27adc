//! The proxy: a thin async state machine around the core's decisions.
//!
//! ```text
//! GET/HEAD ─ lookup ─┬─ found ─ reuse_decision ─┬─ fresh / max-stale ────────────── serve stored
//!                    │                          ├─ stale-while-revalidate ───────── serve stored + background refresh
//!                    │                          ├─ only-if-cached, unusable ─────── 504
//!                    │                          └─ revalidate ─ (collapse) ─┬─ 304 ─ refresh headers, serve stored
//!                    │                                                      ├─ 5xx / down ─ stale-if-error? serve stale : pass / 502 / 504
//!                    │                                                      └─ other ─ replace (stream + store)
//!                    └─ miss ─ (collapse) ─ fetch ─ stream to the client while storing
//! other methods ───── forward ─ 2xx/3xx: invalidate target, Location, Content-Location (§4.4)
//! ```
//!
//! Every answer to a `GET`/`HEAD` follows [`decide::client_plan`]
//! (the client's `If-None-Match`, `If-Modified-Since`, `If-Match`,
//! `If-Unmodified-Since`, `If-Range` and `Range`) and carries `Age` when it
//! came from the cache, `Via` and `Cache-Status`.
//!
//! "(collapse)" is the `flight` module: a request follows an origin fetch
//! only if it was sent after the request arrived, waits at most
//! `collapse_timeout` for others' fetches, and otherwise goes itself.
//!
//! Rooms: this file holds the types, routing and the lookup and collapse
//! loop; `serve` answers from stored responses (and for a failed origin),
//! `fill` fetches, revalidates and stores, `pass` forwards other methods
//! and answers what the edge answers itself.

mod fill;
mod pass;
mod render;
mod serve;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use revalidate_core::cache::{
    CacheConfig, CacheStatus, Forward, RequestDirectives, Reuse, freshness, vary_matches,
};

use crate::body::{BoxError, EdgeBody};
use crate::clock::Clock;
use crate::decide::{self, Route, decorate, primary_key};
use crate::entry::{Entry, ResponseEntry, ResponseMeta, VaryIndex};
use crate::flight::{Flights, Join, Landed, Product};
use crate::forward::Forwarding;
use crate::metrics::{EdgeMetrics, Outcome, StaleReason};
use crate::problem::Problem;
use crate::purge::PurgeApi;
use crate::storage::{AnyStorage, Storage, StoredObject};
use crate::upstream::Upstream;

/// How many times a request looks the cache up and joins a flight before
/// it goes to the origin on its own: a wait, the next flight, and room for
/// a purge or another variant in between.
const MAX_ROUNDS: usize = 4;

/// The scheme of the connections the edge's listener serves, for
/// `X-Forwarded-Proto`.
const LISTENER_SCHEME: &str = "http";

/// Numbers the edges of this process.
static NEXT_EDGE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The client's address, put into request extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How the edge behaves; see [`crate::config::EdgeConfig`] for the file form.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    /// The origin, `http://host:port`.
    pub origin: Uri,
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
    /// Whether responses carrying `Set-Cookie` may be stored (as RFC 9111
    /// §3.1 allows); off by default, as in Varnish, nginx and most CDNs.
    pub cache_set_cookie: bool,
    /// Peers whose `X-Forwarded-For` and `X-Forwarded-Proto` are passed on
    /// (appended to); every other client's forwarding fields are dropped.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl EdgeSettings {
    /// Settings for `origin` with the defaults of [`crate::config::EdgeConfig`].
    pub fn new(origin: Uri) -> Self {
        Self {
            origin,
            cache_name: "revalidate-edge".into(),
            cdn_cache_control: true,
            purge_token: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(30),
            client_body_timeout: Duration::from_secs(30),
            upstream_body_timeout: Duration::from_secs(30),
            collapse_timeout: Duration::from_secs(5),
            cache_set_cookie: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The edge cache; cheap to clone.
#[derive(Clone, Debug)]
pub struct Edge {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: AnyStorage,
    upstream: Upstream,
    origin_scheme: String,
    origin_authority: String,
    /// `Host` on every request to the origin: the origin's own authority,
    /// never the client's (see the crate docs on the cache key).
    origin_host: Option<HeaderValue>,
    cache: CacheConfig,
    name: String,
    via: HeaderValue,
    purge_token: Option<String>,
    flights: Arc<Flights>,
    metrics: EdgeMetrics,
    clock: Arc<dyn Clock>,
    client_body_timeout: Duration,
    upstream_body_timeout: Duration,
    collapse_timeout: Duration,
    cache_set_cookie: bool,
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Tells the entries this edge derived from stored objects from those
    /// another edge over the same storage derived ([`ResponseEntry::built_by`]).
    id: u64,
}

/// One `GET`/`HEAD` as the proxy sees it.
#[derive(Clone, Debug)]
struct Ask {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<IpAddr>,
    key: String,
    /// When the request arrived (Unix seconds): the clock reading its
    /// first lookup is judged at.
    arrived_at: u64,
    /// A background refresh: no client waits, nothing is counted as a request.
    background: bool,
}

/// How a stored response served to a client is labelled in `Cache-Status`
/// (which then gets its `ttl`).
#[derive(Clone, Debug)]
enum Label {
    /// A plain hit, `<name>; hit`: the same for every client within one
    /// second of age, so its header sets are kept with the entry.
    Hit,
    /// Anything else (collapsed, stale, revalidated).
    Other(CacheStatus),
}

/// A stored response being served: the entry, its label, its current age
/// and its body length.
struct ServedAt<'a> {
    entry: &'a ResponseEntry,
    label: Label,
    age: u64,
    len: u64,
}

/// A stored response that matches the request.
#[derive(Clone, Debug)]
struct Found {
    storage_key: String,
    entry: Arc<ResponseEntry>,
    object: Arc<StoredObject>,
    index: Option<VaryIndex>,
}

enum Lookup {
    Found(Box<Found>),
    /// The primary key holds a `Vary` index but not this request's variant.
    VaryMiss(VaryIndex),
    Miss,
}

impl Edge {
    /// An edge in front of `settings.origin`, storing in `storage`, reading
    /// time from `clock`.
    pub fn new(settings: EdgeSettings, storage: AnyStorage, clock: Arc<dyn Clock>) -> Self {
        let mut cache = CacheConfig::shared();
        if !settings.cdn_cache_control {
            cache.targeted_field = None;
        }
        let via = HeaderValue::from_str(&format!("1.1 {}", settings.cache_name))
            .unwrap_or_else(|_| HeaderValue::from_static("1.1 revalidate-edge"));
        Self {
            inner: Arc::new(Inner {
                storage,
                upstream: Upstream::new(settings.connect_timeout, settings.response_timeout),
                origin_scheme: settings.origin.scheme_str().unwrap_or("http").to_owned(),
                origin_authority: settings
                    .origin
                    .authority()
                    .map_or_else(String::new, |a| a.as_str().to_owned()),
                origin_host: settings
                    .origin
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
                cache,
                name: settings.cache_name,
                via,
                purge_token: settings.purge_token,
                flights: Arc::new(Flights::new(Arc::clone(&clock))),
                metrics: EdgeMetrics::new(),
                clock,
                client_body_timeout: settings.client_body_timeout,
                upstream_body_timeout: settings.upstream_body_timeout,
                collapse_timeout: settings.collapse_timeout,
                cache_set_cookie: settings.cache_set_cookie,
                trusted_proxies: settings.trusted_proxies,
                id: NEXT_EDGE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            }),
        }
    }

    /// The storage.
    pub fn storage(&self) -> &AnyStorage {
        &self.inner.storage
    }

    /// The metrics.
    pub fn metrics(&self) -> &EdgeMetrics {
        &self.inner.metrics
    }

    /// What the purge API needs of the edge, and no more.
    fn purge_api(&self) -> PurgeApi<'_> {
        PurgeApi {
            token: self.inner.purge_token.as_deref(),
            storage: &self.inner.storage,
            metrics: &self.inner.metrics,
            client_body_timeout: self.inner.client_body_timeout,
        }
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Answers one request, from the client whose address is in the
    /// request's [`PeerAddr`] extension if any. Never fails: origin faults
    /// become 502/504 (or stale responses), bad input a 4xx.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let peer = request.extensions().get::<PeerAddr>().map(|p| p.0);
        self.handle_from(request, peer).await
    }

    /// [`Edge::handle`] with the client's address given (for
    /// `X-Forwarded-For`); the server passes it so that no request needs an
    /// extension map allocated for it.
    pub async fn handle_from<B>(&self, request: Request<B>, peer: Option<SocketAddr>) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let peer = peer.map(|peer| peer.ip());
        let route = decide::route(
            request.method(),
            request.uri().path(),
            self.inner.purge_token.is_some(),
        );
        match route {
            Route::Metrics | Route::Purge => {
                let mut response = if route == Route::Metrics {
                    metrics_page(self.inner.metrics.render(&self.inner.storage.stats()))
                } else {
                    crate::purge::handle(self.purge_api(), request).await
                };
                // The edge's own endpoints: answered here, never cached.
                let status = self.status(Some(Forward::Bypass)).detail("edge-endpoint");
                decorate(
                    response.headers_mut(),
                    None,
                    &status.to_header_value(),
                    &self.inner.via,
                );
                response
            }
            Route::Pass => self.pass(request, peer).await,
            Route::ServerOptions | Route::AsteriskTarget | Route::Connect => self.answer_itself(route),
            Route::Cacheable => {
                let (parts, _body) = request.into_parts();
                let ask = Ask {
                    key: primary_key(&parts.uri),
                    method: parts.method,
                    uri: parts.uri,
                    headers: parts.headers,
                    peer,
                    arrived_at: self.now(),
                    background: false,
                };
                self.cacheable(ask).await
            }
        }
    }

    fn count(&self, ask: &Ask, outcome: Outcome) {
        if !ask.background {
            self.inner.metrics.request(outcome);
        }
    }

    fn origin_uri(&self, uri: &Uri) -> Uri {
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!(
            "{}://{}{pq}",
            self.inner.origin_scheme, self.inner.origin_authority
        )
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
    }

    fn status(&self, forward: Option<Forward>) -> CacheStatus {
        match forward {
            None => CacheStatus::hit(self.inner.name.clone()),
            Some(why) => CacheStatus::forward(self.inner.name.clone(), why),
        }
    }

    /// Who a request to the origin is from, for its forwarding fields.
    fn forwarding(&self, peer: Option<IpAddr>) -> Forwarding<'_> {
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
            proto: LISTENER_SCHEME,
        }
    }

    fn ttl(&self, meta: &ResponseMeta, now: u64) -> i64 {
        let f = freshness(&self.inner.cache, &meta.stored(), now);
        ttl_of(f.lifetime, f.age)
    }

    async fn lookup(&self, ask: &Ask) -> Lookup {
        let Some(entry) = self.get(&ask.key).await else {
            return Lookup::Miss;
        };
        match entry {
            (Entry::Response(entry), object) => {
                if vary_matches(&entry.meta.headers, &entry.meta.vary_request, &ask.headers) {
                    Lookup::Found(Box::new(Found {
                        storage_key: ask.key.clone(),
                        entry,
                        object,
                        index: None,
                    }))
                } else {
                    Lookup::Miss
                }
            }
            (Entry::Vary(index), _) => {
                let Some(variant) = index.variant_key(&ask.key, &ask.headers) else {
                    return Lookup::Miss;
                };
                match self.get(&variant).await {
                    Some((Entry::Response(entry), object))
                        if vary_matches(&entry.meta.headers, &entry.meta.vary_request, &ask.headers) =>
                    {
                        Lookup::Found(Box::new(Found {
                            storage_key: variant,
                            entry,
                            object,
                            index: Some(index),
                        }))
                    }
                    _ => Lookup::VaryMiss(index),
                }
            }
        }
    }

    /// The object under `key` and what its meta bytes say, decoded on the
    /// object's first lookup and kept with it.
    async fn get(&self, key: &str) -> Option<(Entry, Arc<StoredObject>)> {
        match self.inner.storage.get(key).await {
            Ok(Some(object)) => Some((self.entry_of(&object)?, object)),
            Ok(None) => None,
            Err(e) => {
                // A storage fault is a miss, never an error for the client.
                tracing::warn!(error = %e, key, "cache lookup failed");
                None
            }
        }
    }

    /// What a stored object's meta bytes say, decoded on the object's first
    /// lookup and kept with it (again for another edge over the same
    /// storage).
    fn entry_of(&self, object: &StoredObject) -> Option<Entry> {
        let (cache, id) = (&self.inner.cache, self.inner.id);
        match object.derived(|object| Entry::decode(&object.meta, cache, id)) {
            Some(Some(Entry::Response(entry))) if !entry.built_by(id) => {
                Entry::decode(&object.meta, cache, id)
            }
            derived => derived.cloned().flatten(),
        }
    }

    async fn cacheable(&self, ask: Ask) -> Response<EdgeBody> {
        // When this request first needed the origin: read then rather than
        // on arrival, so that a hit reads no monotonic clock. It is at or
        // after the true arrival, so comparing flights with it errs towards
        // not sharing a fetch, never towards sharing an older one.
        let mut needed_origin_at: Option<Instant> = None;
        // How long it may wait for other requests' fetches in all.
        let mut wait_until: Option<tokio::time::Instant> = None;
        // The fetch this request waited for, if it stored something: why
        // that went forward and what the origin answered.
        let mut waited_for: Option<(Forward, StatusCode)> = None;
        for round in 0..MAX_ROUNDS {
            let (why, index, found) = match self.lookup(&ask).await {
                Lookup::Found(found) => {
                    // The first look is the request's arrival; later ones
                    // come after waiting for another request's fetch.
                    let now = if round == 0 { ask.arrived_at } else { self.now() };
                    match found.entry.reuse_decision(&self.inner.cache, &ask.headers, now) {
                        Reuse::Fresh { age } => {
                            let (outcome, label) = match waited_for {
                                None => (Outcome::Hit, Label::Hit),
                                Some((why, origin_status)) => (
                                    Outcome::Collapsed,
                                    Label::Other(self.collapsed_status(why, origin_status)),
                                ),
                            };
                            return self.serve_reused(&ask, &found, outcome, label, (now, age));
                        }
                        Reuse::StaleAllowed { age } => {
                            self.inner.metrics.stale(StaleReason::MaxStale);
                            // The same member as a fresh hit, `ttl` negative.
                            return self.serve_reused(&ask, &found, Outcome::Stale, Label::Hit, (now, age));
                        }
                        Reuse::StaleWhileRevalidate { age } => {
                            self.inner.metrics.stale(StaleReason::WhileRevalidate);
                            self.spawn_refresh(&ask, &found);
                            let status = self.status(None).detail("stale-while-revalidate");
                            let label = Label::Other(status);
                            return self.serve_reused(&ask, &found, Outcome::Stale, label, (now, age));
                        }
                        Reuse::GatewayTimeout => return self.only_if_cached(&ask),
                        Reuse::Revalidate => (Forward::Stale, found.index.clone(), Some(found)),
                    }
                }
                Lookup::VaryMiss(_) | Lookup::Miss
                    if RequestDirectives::from_headers(&ask.headers).only_if_cached =>
                {
                    return self.only_if_cached(&ask);
                }
                Lookup::VaryMiss(index) => (Forward::VaryMiss, Some(index), None),
                Lookup::Miss => (Forward::UriMiss, None, None),
            };
            let needed_origin_at = *needed_origin_at.get_or_insert_with(|| self.inner.clock.instant());
            let (wait, follows) = match self.inner.flights.join(&ask.key, needed_origin_at) {
                Join::Lead(flight) => return self.go_forward(&ask, found, index, why, Some(flight)).await,
                Join::Follow(wait) => (wait, true),
                Join::Queue(wait) => (wait, false),
            };
            let deadline =
                *wait_until.get_or_insert_with(|| tokio::time::Instant::now() + self.inner.collapse_timeout);
            let Ok(landed) = tokio::time::timeout_at(deadline, wait.landed()).await else {
                // Waited `collapse_timeout` for others (nginx's
                // `proxy_cache_lock_timeout`): go to the origin on its own.
                return self.go_forward(&ask, found, index, why, None).await;
            };
            match landed {
                // The leader was cancelled: start over.
                None => {}
                Some(Landed::Failed(failure)) => {
                    return self.failed(&ask, found.as_deref(), failure, why, true);
                }
                // Nothing to share: a miss goes forward itself, so it was
                // not collapsed (RFC 9211 §2.8); a revalidation looks again
                // (the leader may have removed what it found).
                Some(Landed::NotStored) if found.is_none() => {
                    return self.fetch(&ask, index, None, why).await;
                }
                Some(Landed::NotStored) => {}
                Some(Landed::Stored { status, product }) => {
                    waited_for = Some((why, status));
                    // A fetch sent after this request arrived is as new as
                    // what it would have fetched itself: its answer, even
                    // if already stale (`max-age=0`, `no-cache`). What a
                    // fetch sent before it stored answers it only if still
                    // fresh for it (the next round's lookup).
                    if follows && let Some(answer) = self.product_for(&ask, product) {
                        let label = Label::Other(self.collapsed_status(why, status));
                        let at = self.age_now(&answer);
                        return self.serve_reused(&ask, &answer, Outcome::Collapsed, label, at);
                    }
                }
            }
        }
        self.fetch(&ask, None, None, Forward::Miss).await
    }

    /// Goes to the origin: revalidates `found`, or fetches; `flight` when
    /// this request leads one.
    async fn go_forward(
        &self,
        ask: &Ask,
        found: Option<Box<Found>>,
        index: Option<VaryIndex>,
        why: Forward,
        flight: Option<crate::flight::Flight>,
    ) -> Response<EdgeBody> {
        match found {
            Some(found) => Box::pin(self.revalidate(ask, *found, flight)).await,
            None => self.fetch(ask, index, flight, why).await,
        }
    }

    /// A flight's product as the answer to `ask`, if it is the variant
    /// `ask` selects.
    fn product_for(&self, ask: &Ask, product: Product) -> Option<Found> {
        let entry = match product.entry {
            Some(entry) => entry,
            None => match self.entry_of(&product.object)? {
                Entry::Response(entry) => entry,
                Entry::Vary(_) => return None,
            },
        };
        vary_matches(&entry.meta.headers, &entry.meta.vary_request, &ask.headers).then(|| Found {
            storage_key: product.storage_key,
            entry,
            object: product.object,
            index: None,
        })
    }

    /// [RFC 9211 §2.8]: a request that waited for another's origin request
    /// and is answered from what that stored was "collapsed together with
    /// one or more other forward requests": it went forward (`fwd`, with
    /// the reason it would have gone and the status the origin answered,
    /// §2.2 and §2.3), so it is not a `hit`, which §2.1 keeps for requests
    /// that were "not forwarded" (as §3's example `fwd=uri-miss;
    /// collapsed`).
    ///
    /// [RFC 9211 §2.8]: https://www.rfc-editor.org/rfc/rfc9211#section-2.8
    fn collapsed_status(&self, why: Forward, origin_status: StatusCode) -> CacheStatus {
        self.status(Some(why))
            .collapsed(true)
            .forward_status(origin_status)
    }

    /// §5.2.1.7 only-if-cached: "respond with a 504 (Gateway Timeout)".
    fn only_if_cached(&self, ask: &Ask) -> Response<EdgeBody> {
        self.count(ask, Outcome::Error);
        let mut response = Problem::new(StatusCode::GATEWAY_TIMEOUT, "Not in cache")
            .with_detail("The request said only-if-cached and the edge holds no usable response for it.")
            .into_response();
        let status = self.status(Some(Forward::Miss)).detail("only-if-cached");
        decorate(
            response.headers_mut(),
            None,
            &status.to_header_value(),
            &self.inner.via,
        );
        response
    }
}

/// The `/metrics` response: the Prometheus text exposition.
fn metrics_page(text: String) -> Response<EdgeBody> {
    let mut response = Response::new(crate::body::full(text));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// RFC 9211 `ttl`: the freshness lifetime minus the current age, negative
/// once stale.
fn ttl_of(lifetime: u64, age: u64) -> i64 {
    i64::try_from(lifetime).unwrap_or(i64::MAX) - i64::try_from(age).unwrap_or(i64::MAX)
}
