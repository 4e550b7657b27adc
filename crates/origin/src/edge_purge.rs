//! Purging the edges after a write: `revalidate serve` tells each
//! `revalidate edge` in front of it (or any cache with the same purge API)
//! to forget a resource's URL once a write to it committed, durably: the
//! purge is recorded in the database in the write's own transaction and
//! delivered by any origin node sharing that database.
//!
//! A write that goes through an edge invalidates that edge's copy itself
//! ([RFC 9111 §4.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.4)),
//! but a write sent to the origin directly, through another edge, or to
//! another node sharing the database, leaves every edge serving the old
//! version for as long as it may. With `[edge_purge]` configured, every
//! successful `PUT`, `PATCH`, `DELETE` and `POST` (create) makes each edge
//! receive a purge request naming the written resource's URL (`{"urls":
//! ["/api/notes/1"]}`): the edge's purge API, whose wire format is
//! [`revalidate_core::purge`] (the same [`PurgeRequest`] type the edge
//! reads), with the configured bearer token. So does a static file that
//! changes on disk (its URL, and `/dir/` for a `dir/index.html`).
//!
//! # Durable: a transactional outbox in the store
//!
//! The store (`revalidate_store`'s `outbox` module, SQLite and PostgreSQL
//! alike) keeps the edges in `purge_edges` and one row per purge owed to
//! one edge in `purge_outbox`. The API's writes insert their rows in the
//! write's transaction ([`revalidate_store::AnyStore::with_purge_outbox`]):
//! once a write returned, its purge exists in the database, whatever
//! happens to the node that took it. Static file changes are inserted when
//! the origin's file watcher sees them settle
//! ([`EdgePurger::purge_urls`]).
//!
//! # Delivery: any node, at least once, in order per URL
//!
//! Every node runs an [`EdgePurger`]: one task per edge registered in the
//! database (by any node), which claims the edge's oldest purges (up to a
//! batch; PostgreSQL: the edge's row `FOR UPDATE SKIP LOCKED`, held while
//! sending, so one node at a time delivers to an edge and a node that dies
//! drops its lock with its connection; SQLite: a lease; a node that finds
//! the edge taken looks again 25 ms later), sends them in one
//! request, and deletes them once the edge answered `2xx`. A failed
//! attempt keeps them; the task waits (exponential backoff with jitter,
//! from 100 ms up to 5 s, through `backon`) and tries again, forever: the
//! purges are durable, so giving up would only make the edge serve old
//! versions. A refusal a retry cannot fix (`401` for a wrong token, `404`
//! for an edge without a purge token) is logged and retried at the longest
//! pause, since a configuration reload may fix it. A purge may reach an
//! edge twice (a node dies between the edge's answer and its commit):
//! purges are idempotent. One node at a time per edge, oldest first, keeps
//! the purges of one URL in the order of their writes.
//!
//! Idle nodes are woken by the writer: on PostgreSQL by `NOTIFY
//! revalidate_purges` (sent by a trigger when the write commits; every
//! node `LISTEN`s), on SQLite by the writing process itself; every node
//! also polls each edge every [`PurgePolicy::poll`] (1 s), which bounds the
//! delay when a notification is lost. So a node that dies right after a
//! commit loses nothing: another node's deliverer, woken by the
//! notification, sends the purge.
//!
//! # Edges joining, leaving, missing purges
//!
//! The edges are registered in the database by the nodes that list them
//! in `[edge_purge] edges`, at start and on a configuration reload
//! ([`EdgePurger::replace`]); every node delivers to every registered
//! edge. A new edge owes nothing: purges recorded from then on are its
//! own, and it cannot hold anything older. An edge that is down keeps
//! its purges in the outbox and gets them, in order, when it answers
//! again. No edge may serve a version older than a purge it missed, so:
//!
//! - more than [`PurgePolicy::max_backlog`] purges owed to one edge (100 000:
//!   down for long under a write load): the oldest are dropped (logged,
//!   counted in `revalidate_edge_purges_dropped_total{edge}`) and the edge's
//!   next delivery first purges everything (`{"prefixes": ["/"]}`);
//! - an edge taken out of the configuration loses its pending purges; if
//!   it is listed again later, its first delivery purges everything too.
//!
//! A node removes an edge only when its own previous configuration listed
//! it; a node that still lists it registers it again at its next start or
//! reload, so roll a removal out to every node.
//!
//! # Bounds and observability
//!
//! Each request has the configured timeout (`timeout_ms`; keep it below
//! the database timeout, since on PostgreSQL the claim's transaction stays
//! open while the request runs); every database call is bounded by the
//! database timeout. The outbox holds at most `max_backlog` rows per edge.
//! Metrics ([`crate::metrics`]): `revalidate_edge_purges_sent_total{result}`
//! (`ok` per purge and edge acknowledged, `failed` per purge in a failed
//! attempt), `revalidate_edge_purge_backlog{edge}`,
//! `revalidate_edge_purge_oldest_age_seconds{edge}`, the lag histogram
//! `revalidate_edge_purge_lag_seconds` (write's commit to the edge's
//! acknowledgement) and `revalidate_edge_purges_dropped_total{edge}`.
//! Failures are logged (`warn`) when an edge starts failing and when it
//! recovers.
//!
//! Shutdown does not wait for purges: they stay in the outbox for the next
//! start or another node. On PostgreSQL it may wait for one request in
//! flight (at most `timeout_ms`), whose claim holds a pooled connection
//! the store's close waits for.
//!
//! `memory:` databases have no outbox: `[edge_purge]` needs SQLite or
//! PostgreSQL.
//!
//! With `cdn_max_age`, API reads also carry `CDN-Cache-Control:
//! max-age=<cdn_max_age>` ([RFC 9213](https://www.rfc-editor.org/rfc/rfc9213)):
//! the edges reuse them without asking the origin, and rely on these
//! purges; browsers and other caches still see `Cache-Control: no-cache`
//! and revalidate (with the edge). Without it every edge revalidates every
//! use, and a purge only frees the edge's storage sooner. (Read at start:
//! a reload changes the edges, the token and the timeout, not this.)
//!
//! A read that an edge forwarded before the purge arrived (the origin may
//! have answered it with the old version) is not kept past the purge:
//! `revalidate edge` stores a response as of when its fetch was sent, so
//! the purge covers it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use revalidate_core::purge::{PURGE_PATH, PurgeRequest};
use revalidate_store::{AnyStore, ClaimLimits, PurgeClaim, ResourceKey};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, EdgePurgeConfig};
use crate::metrics::Metrics;

// ----- pure parts ------------------------------------------------------------

/// What a successful write of `key`, under the API mounted at `api_prefix`
/// (such as `/api/`), makes stale at the edges: the resource's URL.
pub fn purge_for_write(api_prefix: &str, key: &ResourceKey) -> PurgeRequest {
    PurgeRequest::urls([resource_url(api_prefix, key)])
}

/// The URL a resource is read at: `{prefix}{collection}/{id}` (the store's
/// outbox records the same).
fn resource_url(api_prefix: &str, key: &ResourceKey) -> String {
    format!("{api_prefix}{}/{}", key.collection().as_str(), key.id())
}

/// The request that delivers a claim: its URLs, each once, in order, after
/// a purge of everything when the edge missed purges.
pub fn purge_for_claim<'a>(urls: impl IntoIterator<Item = &'a str>, purge_all: bool) -> PurgeRequest {
    let mut request = PurgeRequest::urls(urls.into_iter().map(str::to_owned));
    if purge_all {
        request.prefixes = vec!["/".to_owned()];
    }
    request
}

/// What became of one attempt to send a purge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The edge answered with this status.
    Answered(StatusCode),
    /// No answer: refused, reset, or timed out.
    NoAnswer,
}

/// What an attempt means for the purges it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged: delete them.
    Acknowledged,
    /// Not delivered (no answer, `408`, `429`, `5xx`): keep them and retry
    /// after a growing pause.
    Retry,
    /// Refused in a way a retry cannot fix (`401`, `404`, `400`): keep
    /// them, log, and retry at the longest pause (a reload may fix it).
    Refused,
}

/// Judges one attempt.
pub fn verdict(result: Attempt) -> Verdict {
    match result {
        Attempt::Answered(status) if status.is_success() => Verdict::Acknowledged,
        Attempt::Answered(status)
            if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS =>
        {
            Verdict::Retry
        }
        Attempt::Answered(_) => Verdict::Refused,
        Attempt::NoAnswer => Verdict::Retry,
    }
}

/// Timeouts, pauses and bounds of the delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgePolicy {
    /// How long one request may take.
    pub timeout: Duration,
    /// The pause after a first failed attempt; it grows (doubling, with
    /// jitter) up to [`max_backoff`](Self::max_backoff).
    pub first_backoff: Duration,
    /// The longest pause between attempts.
    pub max_backoff: Duration,
    /// How often an idle node looks for purges without being woken (and
    /// for edges other nodes registered).
    pub poll: Duration,
    /// Most purges in one request (the edge reads at most 64 KiB of body).
    pub batch: u32,
    /// Most purges kept per edge (see the module docs).
    pub max_backlog: u64,
}

impl PurgePolicy {
    /// The policy of `[edge_purge]`: its timeout, pauses from 100 ms to
    /// 5 s, a poll every second, 100 purges per request, 100 000 per edge.
    pub fn from_config(config: &EdgePurgeConfig) -> Self {
        Self {
            timeout: Duration::from_millis(config.timeout_ms),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            poll: Duration::from_secs(1),
            batch: 100,
            max_backlog: 100_000,
        }
    }

    /// The pauses between failed attempts, with jitter.
    fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let longest = self.max_backoff;
        ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(longest)
            .with_jitter()
            .without_max_times()
            .build()
            // The jitter adds up to the delay again: keep the bound.
            .map(move |pause| pause.min(longest))
    }

    fn claim_limits(&self) -> ClaimLimits {
        ClaimLimits {
            batch: self.batch.max(1),
            max_backlog: self.max_backlog.max(1),
            // A claim covers one attempt, and a little for the database.
            lease: self.timeout + Duration::from_secs(1),
        }
    }
}

/// The edge's purge endpoint, from its base URL (`http://host:port`).
fn endpoint(edge: &str) -> Result<Uri, String> {
    let base: Uri = edge.parse().map_err(|e| format!("{edge}: {e}"))?;
    Uri::builder()
        .scheme("http")
        .authority(base.authority().map_or("", http::uri::Authority::as_str))
        .path_and_query(PURGE_PATH)
        .build()
        .map_err(|e| format!("{edge}: {e}"))
}

/// The edges of a configuration as registered: `http://host:port`.
fn edge_names(config: &EdgePurgeConfig) -> Result<Vec<String>, ConfigError> {
    Ok(config
        .edge_uris()?
        .iter()
        .map(|uri| {
            format!(
                "http://{}",
                uri.authority().map_or("", http::uri::Authority::as_str)
            )
        })
        .collect())
}

// ----- the IO seam -----------------------------------------------------------

/// An edge's answer to a purge request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeAnswer {
    /// Its status.
    pub status: StatusCode,
    /// The start of its body, for the log when it refused.
    pub detail: String,
}

/// Why a purge request got no answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PurgeError(pub String);

/// Sends one purge request to one edge.
pub trait PurgeTransport: Send + Sync + 'static {
    /// `POST`s `body` to `endpoint` (the edge's [`PURGE_PATH`]).
    fn post(
        &self,
        endpoint: &Uri,
        body: Bytes,
    ) -> impl Future<Output = Result<PurgeAnswer, PurgeError>> + Send;
}

/// A [`PurgeTransport`] behind a pointer, so that a reload can swap it.
trait DynTransport: Send + Sync {
    fn post_boxed<'a>(
        &'a self,
        endpoint: &'a Uri,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<PurgeAnswer, PurgeError>> + Send + 'a>>;
}

impl<T: PurgeTransport> DynTransport for T {
    fn post_boxed<'a>(
        &'a self,
        endpoint: &'a Uri,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<PurgeAnswer, PurgeError>> + Send + 'a>> {
        Box::pin(self.post(endpoint, body))
    }
}

/// The HTTP/1.1 transport: a pooled hyper client with the bearer token.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    authorization: HeaderValue,
}

impl HttpTransport {
    /// A client that connects within `timeout` and sends `token`.
    pub fn new(token: &str, timeout: Duration) -> Result<Self, ConfigError> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            ConfigError::Invalid("edge_purge.token must be printable ASCII without spaces".into())
        })?;
        authorization.set_sensitive(true);
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            authorization,
        })
    }
}

impl PurgeTransport for HttpTransport {
    async fn post(&self, endpoint: &Uri, body: Bytes) -> Result<PurgeAnswer, PurgeError> {
        let request = Request::post(endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))
            .map_err(|e| PurgeError(e.to_string()))?;
        let response = self.client.request(request).await.map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            PurgeError(message)
        })?;
        let status = response.status();
        // Read the (small) answer so the connection can be reused, and keep
        // its start for the log.
        let body = Limited::new(response.into_body(), 4096)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        Ok(PurgeAnswer { status, detail })
    }
}

// ----- the purger ------------------------------------------------------------

/// Delivers the outbox's purges to the edges from this node, and wakes
/// when a write recorded some; cheap to clone. Its tasks end when the
/// last clone is dropped (or the store is closed, or the runtime ends).
#[derive(Clone)]
pub struct EdgePurger {
    inner: Arc<PurgerInner>,
    /// What the API's reads carry, and the store its writes go through
    /// (recording their purges under the API's prefix): per handle, so
    /// that a reload's new routes get new ones over the same deliverer.
    cdn_cache_control: Option<HeaderValue>,
    writing_store: AnyStore,
}

struct PurgerInner {
    store: AnyStore,
    metrics: Metrics,
    /// What a reload replaces.
    settings: RwLock<Arc<Settings>>,
    /// Bumped when purges were recorded: every edge task looks.
    wake: watch::Sender<u64>,
    /// Tells the supervisor to read the registered edges again.
    edges_changed: Arc<Notify>,
    /// Set when a reload removed `[edge_purge]`: the tasks end.
    retired: std::sync::atomic::AtomicBool,
}

struct Settings {
    policy: PurgePolicy,
    transport: Arc<dyn DynTransport>,
    /// The edges this node's configuration lists (it registered them).
    configured: Vec<String>,
}

impl std::fmt::Debug for EdgePurger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgePurger")
            .field("edges", &self.inner.settings().configured)
            .finish_non_exhaustive()
    }
}

impl PurgerInner {
    fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl EdgePurger {
    /// Registers the configured edges in `store`'s outbox and starts
    /// delivering, over HTTP; counts into `metrics`. The API must write
    /// through [`writing_store`](Self::writing_store) (its writes record
    /// their purges). Must run inside the server's tokio runtime.
    pub async fn start(
        config: &EdgePurgeConfig,
        api_prefix: &str,
        metrics: &Metrics,
        store: &AnyStore,
    ) -> Result<Self, StartPurgeError> {
        let policy = PurgePolicy::from_config(config);
        let transport = HttpTransport::new(&config.token, policy.timeout)?;
        Self::start_with(config, api_prefix, metrics, store, policy, transport).await
    }

    /// [`EdgePurger::start`] with another transport and policy (tests).
    pub async fn start_with<T: PurgeTransport>(
        config: &EdgePurgeConfig,
        api_prefix: &str,
        metrics: &Metrics,
        store: &AnyStore,
        policy: PurgePolicy,
        transport: T,
    ) -> Result<Self, StartPurgeError> {
        config.validate()?;
        let writing_store = store.clone().with_purge_outbox(api_prefix)?;
        let configured = edge_names(config)?;
        store.register_purge_edges(&configured, &[]).await?;
        let notifications = store.purge_notifications().await?;
        let inner = Arc::new(PurgerInner {
            store: store.clone(),
            metrics: metrics.clone(),
            settings: RwLock::new(Arc::new(Settings {
                policy,
                transport: Arc::new(transport),
                configured,
            })),
            wake: watch::Sender::new(0),
            edges_changed: Arc::new(Notify::new()),
            retired: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(supervise(Arc::downgrade(&inner)));
        if let Some(mut notifications) = notifications {
            let weak = Arc::downgrade(&inner);
            tokio::spawn(async move {
                loop {
                    let received = notifications.next().await;
                    let Some(inner) = weak.upgrade() else { return };
                    match received {
                        Ok(true) => inner.wake.send_modify(|n| *n = n.wrapping_add(1)),
                        // The server is stopping.
                        Ok(false) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "edge purge: lost the database's notifications; polling meanwhile");
                            drop(inner);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        Ok(Self {
            inner,
            cdn_cache_control: cdn_cache_control(config),
            writing_store,
        })
    }

    /// The store the API writes through: each committed write records the
    /// purge of its URL in the outbox.
    pub fn writing_store(&self) -> AnyStore {
        self.writing_store.clone()
    }

    /// Wakes this node's deliverer: a write through it recorded purges.
    /// Cheap (no allocation); returns at once.
    pub fn wake(&self) {
        self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records the purge of `urls` (changed outside the database, such as
    /// static files) in the outbox, then wakes the deliverer. A database
    /// that fails is retried a few times, then the purge is logged as lost.
    pub async fn purge_urls(&self, urls: Vec<String>) {
        let mut pauses = self.inner.settings().policy.backoff().take(5);
        loop {
            match self.inner.store.enqueue_purges(&urls, SystemTime::now()).await {
                Ok(()) => {
                    self.wake();
                    return;
                }
                Err(e) => match pauses.next() {
                    Some(pause) => {
                        tracing::debug!(error = %e, "edge purge: cannot record; retrying");
                        tokio::time::sleep(pause).await;
                    }
                    None => {
                        tracing::warn!(error = %e, ?urls, "edge purge: cannot record the purge of changed files");
                        return;
                    }
                },
            }
        }
    }

    /// A reload: registers the edges `config` lists, takes out those this
    /// node listed before and `config` does not (their pending purges are
    /// deleted; see the module docs), and uses its token and timeout from
    /// the next attempt on. New edges start at the end of the outbox. The
    /// handle returned carries `config`'s `cdn_max_age` and writes under
    /// `api_prefix`; the deliverer is the same.
    pub async fn replace(&self, config: &EdgePurgeConfig, api_prefix: &str) -> Result<Self, StartPurgeError> {
        config.validate()?;
        let writing_store = self.inner.store.clone().with_purge_outbox(api_prefix)?;
        let policy = PurgePolicy::from_config(config);
        let transport = HttpTransport::new(&config.token, policy.timeout)?;
        let configured = edge_names(config)?;
        let before = self.inner.settings();
        let removed: Vec<String> = before
            .configured
            .iter()
            .filter(|edge| !configured.contains(edge))
            .cloned()
            .collect();
        self.inner
            .store
            .register_purge_edges(&configured, &removed)
            .await?;
        for edge in &removed {
            self.inner.metrics.set_edge_purge_backlog(edge, 0, 0.0);
        }
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Settings {
            policy,
            transport: Arc::new(transport),
            configured,
        });
        self.inner.edges_changed.notify_one();
        self.wake();
        Ok(Self {
            inner: Arc::clone(&self.inner),
            cdn_cache_control: cdn_cache_control(config),
            writing_store,
        })
    }

    /// A reload removed `[edge_purge]`: takes this node's edges out (see
    /// [`replace`](Self::replace)) and stops delivering.
    pub async fn retire(&self) -> Result<(), StartPurgeError> {
        let configured = self.inner.settings().configured.clone();
        self.inner.store.register_purge_edges(&[], &configured).await?;
        for edge in &configured {
            self.inner.metrics.set_edge_purge_backlog(edge, 0, 0.0);
        }
        self.inner
            .retired
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.inner.edges_changed.notify_one();
        Ok(())
    }

    /// The `CDN-Cache-Control` value API reads carry, if configured.
    pub fn cdn_cache_control(&self) -> Option<&HeaderValue> {
        self.cdn_cache_control.as_ref()
    }
}

/// `max-age=<cdn_max_age>`, if configured.
fn cdn_cache_control(config: &EdgePurgeConfig) -> Option<HeaderValue> {
    config
        .cdn_max_age
        .and_then(|age| HeaderValue::try_from(format!("max-age={age}")).ok())
}

/// Why the purger could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum StartPurgeError {
    /// `[edge_purge]` is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database refused (or is `memory:`, which has no outbox).
    #[error("edge_purge: {0}")]
    Store(#[from] revalidate_store::StoreError),
}

impl From<StartPurgeError> for crate::server::StartError {
    fn from(error: StartPurgeError) -> Self {
        match error {
            StartPurgeError::Config(e) => Self::Config(e),
            StartPurgeError::Store(e) => Self::Store(e),
        }
    }
}

/// Watches the static tree and records the purge of the URLs of files that
/// change (created, modified, renamed, removed; `/dir/` too for a
/// `dir/index.html`), once they settle (200 ms), through `purger`. The
/// watch stops when the returned value is dropped. Must run inside the
/// server's runtime.
pub fn watch_static_files(
    static_files: &crate::static_files::StaticFiles,
    purger: &EdgePurger,
) -> std::io::Result<crate::static_files::StaticWatcher> {
    let runtime = tokio::runtime::Handle::current();
    let purger = purger.clone();
    static_files
        .watch_with_purges(move |urls| {
            let purger = purger.clone();
            runtime.spawn(async move { purger.purge_urls(urls).await });
        })
        .map_err(|e| std::io::Error::other(format!("cannot watch the static tree for edge purges: {e}")))
}

/// Keeps one delivery task per registered edge: reads the edges every
/// poll interval (others may have registered some) and when told.
async fn supervise(weak: std::sync::Weak<PurgerInner>) {
    // A task taken out is told to stop rather than aborted, so that it
    // never stops between a claim and its release.
    let mut tasks: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        let Some(inner) = weak.upgrade() else { break };
        if inner.retired.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        match inner.store.purge_edges().await {
            Ok(edges) => {
                tasks.retain(|edge, stop| {
                    let keep = edges.contains(edge);
                    if !keep {
                        stop.cancel();
                    }
                    keep
                });
                for edge in edges {
                    let weak = Arc::downgrade(&inner);
                    tasks.entry(edge.clone()).or_insert_with(|| {
                        let stop = CancellationToken::new();
                        tokio::spawn(deliver_to(weak, edge, stop.clone()));
                        stop
                    });
                }
            }
            Err(e) if e.is_closed() => break,
            Err(e) => tracing::warn!(error = %e, "edge purge: cannot read the edges"),
        }
        let poll = inner.settings().policy.poll;
        let edges_changed = Arc::clone(&inner.edges_changed);
        drop(inner);
        let _ = tokio::time::timeout(poll, edges_changed.notified()).await;
    }
    for stop in tasks.into_values() {
        stop.cancel();
    }
}

/// How soon a node looks again at an edge another node is delivering to.
const BUSY_RECHECK: Duration = Duration::from_millis(25);

/// What one round of delivery to an edge came to.
enum Round {
    /// Delivered, and more are waiting.
    More,
    /// Nothing (more) to send.
    Idle,
    /// Another node is delivering to the edge (or it was taken out).
    Busy,
    /// The attempt failed; pause before the next.
    Failed { refused: bool },
    /// The store was closed: the server is stopping.
    Closed,
}

/// One edge's task: delivers until the purger is gone or the edge is
/// taken out.
async fn deliver_to(weak: std::sync::Weak<PurgerInner>, edge: String, stop: CancellationToken) {
    let Some(mut woken) = weak.upgrade().map(|inner| inner.wake.subscribe()) else {
        return;
    };
    let mut pauses: Option<Box<dyn Iterator<Item = Duration> + Send>> = None;
    let mut failing = false;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        woken.borrow_and_update();
        let settings = inner.settings();
        let round = deliver_once(&inner, &settings, &edge, failing).await;
        drop(inner);
        match round {
            Round::More => {
                pauses = None;
                failing = false;
            }
            Round::Idle => {
                pauses = None;
                failing = false;
                // Woken by a write, or the poll.
                tokio::select! {
                    _ = tokio::time::timeout(settings.policy.poll, woken.changed()) => {}
                    () = stop.cancelled() => return,
                }
            }
            Round::Busy => {
                // Its delivery may not include what this node's writes
                // recorded meanwhile, and on SQLite it is not woken by
                // them: look again soon.
                tokio::select! {
                    () = tokio::time::sleep(BUSY_RECHECK) => {}
                    () = stop.cancelled() => return,
                }
            }
            Round::Closed => return,
            Round::Failed { refused } => {
                failing = true;
                let pause = if refused {
                    settings.policy.max_backoff
                } else {
                    pauses
                        .get_or_insert_with(|| Box::new(settings.policy.backoff()))
                        .next()
                        .unwrap_or(settings.policy.max_backoff)
                };
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Claims the edge's oldest purges, sends them, and acknowledges or
/// releases them.
async fn deliver_once(inner: &PurgerInner, settings: &Settings, edge: &str, failing: bool) -> Round {
    let policy = &settings.policy;
    let claim = match inner
        .store
        .claim_purges(edge, policy.claim_limits(), SystemTime::now())
        .await
    {
        Ok(Some(claim)) => claim,
        Ok(None) => return Round::Busy,
        Err(e) if e.is_closed() => return Round::Closed,
        Err(e) => {
            tracing::warn!(edge, error = %e, "edge purge: cannot read the outbox");
            return Round::Failed { refused: false };
        }
    };
    if claim.dropped() > 0 {
        tracing::warn!(
            edge,
            dropped = claim.dropped(),
            "edge purge: purges dropped past the backlog bound; the edge will be purged of everything"
        );
        inner.metrics.record_edge_purges_dropped(edge, claim.dropped());
    }
    let now = SystemTime::now();
    let age = |time: SystemTime| now.duration_since(time).unwrap_or_default().as_secs_f64();
    let oldest = claim.purges().first().map_or(0.0, |p| age(p.created_at));
    inner
        .metrics
        .set_edge_purge_backlog(edge, claim.backlog(), oldest);
    if claim.is_empty() {
        release(claim).await;
        return Round::Idle;
    }
    let endpoint = match endpoint(edge) {
        Ok(endpoint) => endpoint,
        Err(why) => {
            tracing::warn!(edge, reason = why, "edge purge: not an edge URL");
            release(claim).await;
            return Round::Failed { refused: true };
        }
    };
    let body = purge_for_claim(claim.purges().iter().map(|p| p.url.as_str()), claim.purge_all());
    let json = Bytes::from(body.to_json());
    let sent = claim.purges().len() as u64;
    let (result, why) =
        match tokio::time::timeout(policy.timeout, settings.transport.post_boxed(&endpoint, json)).await {
            Ok(Ok(answer)) => (
                Attempt::Answered(answer.status),
                format!("{}: {}", answer.status, answer.detail),
            ),
            Ok(Err(error)) => (Attempt::NoAnswer, error.to_string()),
            Err(_) => (
                Attempt::NoAnswer,
                format!("no answer within {} ms", policy.timeout.as_millis()),
            ),
        };
    match verdict(result) {
        Verdict::Acknowledged => {
            let created: Vec<SystemTime> = claim.purges().iter().map(|p| p.created_at).collect();
            let backlog = claim.backlog();
            if let Err(e) = claim.acknowledge().await {
                // Delivered, not recorded as such: sent again later.
                tracing::warn!(edge, error = %e, "edge purge: delivered, but cannot record it");
                return Round::Failed { refused: false };
            }
            if failing {
                tracing::info!(edge, "edge purge: the edge acknowledges purges again");
            }
            let acknowledged = SystemTime::now();
            inner.metrics.record_edge_purges(true, sent);
            inner.metrics.record_edge_purge_lags(created.iter().map(|time| {
                acknowledged
                    .duration_since(*time)
                    .unwrap_or_default()
                    .as_secs_f64()
            }));
            let left = backlog.saturating_sub(sent);
            if left > 0 {
                Round::More
            } else {
                inner.metrics.set_edge_purge_backlog(edge, 0, 0.0);
                Round::Idle
            }
        }
        verdict => {
            release(claim).await;
            inner.metrics.record_edge_purges(false, sent);
            let refused = verdict == Verdict::Refused;
            if failing {
                tracing::debug!(edge, reason = %why, "edge purge failed again; retrying");
            } else {
                tracing::warn!(
                    edge,
                    reason = %why,
                    refused,
                    "edge purge failed; kept and retried until the edge acknowledges"
                );
            }
            Round::Failed { refused }
        }
    }
}

async fn release(claim: PurgeClaim) {
    let edge = claim.edge().to_owned();
    if let Err(e) = claim.release().await {
        tracing::debug!(edge, error = %e, "edge purge: cannot release the claim (it expires)");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use revalidate_store::{Change, Store};

    use super::*;

    fn config(edges: &[&str]) -> EdgePurgeConfig {
        EdgePurgeConfig {
            edges: edges.iter().map(|&e| e.to_owned()).collect(),
            token: "0123456789abcdef".into(),
            timeout_ms: 1_000,
            cdn_max_age: Some(600),
        }
    }

    fn fast_policy() -> PurgePolicy {
        PurgePolicy {
            timeout: Duration::from_millis(200),
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            poll: Duration::from_millis(50),
            batch: 100,
            max_backlog: 1000,
        }
    }

    #[test]
    fn purge_body_for_a_write_names_the_resource_url() {
        let cases = [
            ("/api/", "notes", "a", r#"{"urls":["/api/notes/a"]}"#),
            (
                "/v1/",
                "orders",
                "2024-01.x~y",
                r#"{"urls":["/v1/orders/2024-01.x~y"]}"#,
            ),
        ];
        for (prefix, collection, id, json) in cases {
            let key = ResourceKey::new(collection, id).unwrap();
            let body = purge_for_write(prefix, &key);
            assert_eq!(body.to_json(), json, "{prefix}{collection}/{id}");
        }
    }

    #[test]
    fn a_claim_names_each_url_once_in_order_after_a_purge_of_everything() {
        let urls = ["/api/n/b", "/api/n/a", "/api/n/b", "/api/n/c", "/api/n/a"];
        assert_eq!(
            purge_for_claim(urls, false).to_json(),
            r#"{"urls":["/api/n/b","/api/n/a","/api/n/c"]}"#
        );
        assert_eq!(
            purge_for_claim(["/api/n/a"], true).to_json(),
            r#"{"urls":["/api/n/a"],"prefixes":["/"]}"#
        );
        assert_eq!(purge_for_claim([], true).to_json(), r#"{"prefixes":["/"]}"#);
    }

    #[test]
    fn the_verdict_on_each_kind_of_attempt() {
        let answered = |code: u16| Attempt::Answered(StatusCode::from_u16(code).unwrap());
        let cases = [
            ("acknowledged", answered(200), Verdict::Acknowledged),
            ("acknowledged without body", answered(204), Verdict::Acknowledged),
            ("edge storage busy", answered(503), Verdict::Retry),
            ("edge failed", answered(500), Verdict::Retry),
            ("refused connection", Attempt::NoAnswer, Verdict::Retry),
            ("rate limited", answered(429), Verdict::Retry),
            ("request timeout", answered(408), Verdict::Retry),
            ("wrong token", answered(401), Verdict::Refused),
            ("purge API off", answered(404), Verdict::Refused),
            ("body refused", answered(400), Verdict::Refused),
        ];
        for (case, result, expected) in cases {
            assert_eq!(verdict(result), expected, "{case}");
        }
    }

    #[test]
    fn the_pauses_grow_to_the_longest_and_go_on() {
        let policy = PurgePolicy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            ..fast_policy()
        };
        let pauses: Vec<Duration> = policy.backoff().take(20).collect();
        assert_eq!(pauses.len(), 20, "never gives up");
        assert!(pauses[0] >= Duration::from_millis(100), "{pauses:?}");
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(5)), "{pauses:?}");
        assert_eq!(pauses[19], Duration::from_secs(5), "{pauses:?}");
    }

    /// What a transport answers, call by call: a status, or no answer.
    type Script = &'static [Result<u16, &'static str>];

    /// Answers from a script, one entry per call (the last one repeats),
    /// and records what it was sent.
    #[derive(Clone, Default)]
    struct ScriptedTransport {
        script: Arc<Mutex<Vec<Result<u16, &'static str>>>>,
        sent: Arc<Mutex<Vec<(String, String)>>>,
    }

    impl ScriptedTransport {
        fn answering(script: &[Result<u16, &'static str>]) -> Self {
            Self {
                script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
                ..Self::default()
            }
        }

        fn sent(&self) -> Vec<(String, String)> {
            self.sent.lock().unwrap().clone()
        }
    }

    impl PurgeTransport for ScriptedTransport {
        async fn post(&self, endpoint: &Uri, body: Bytes) -> Result<PurgeAnswer, PurgeError> {
            self.sent
                .lock()
                .unwrap()
                .push((endpoint.to_string(), String::from_utf8(body.to_vec()).unwrap()));
            let next = {
                let mut script = self.script.lock().unwrap();
                if script.len() > 1 {
                    script.pop()
                } else {
                    script.last().copied()
                }
            };
            match next.unwrap_or(Ok(200)) {
                Ok(code) => Ok(PurgeAnswer {
                    status: StatusCode::from_u16(code).unwrap(),
                    detail: String::new(),
                }),
                Err(why) => Err(PurgeError(why.to_owned())),
            }
        }
    }

    fn series(metrics: &Metrics, result: &str) -> u64 {
        let text = metrics.render();
        let prefix = format!("revalidate_edge_purges_sent_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or(0)
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        for _ in 0..1000 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn sqlite() -> (AnyStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("purge.db").display());
        (revalidate_store::open(&url).await.unwrap(), dir)
    }

    async fn put(store: &AnyStore, id: &str) {
        store
            .write(&ResourceKey::new("notes", id).unwrap(), SystemTime::now(), |_| {
                Ok::<_, ()>(Change::Put(revalidate_store::JsonText::parse(b"{}").unwrap()))
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_write_purges_its_url_on_every_edge() {
        let (store, _dir) = sqlite().await;
        let metrics = Metrics::new();
        let transport = ScriptedTransport::answering(&[Ok(200)]);
        let purger = EdgePurger::start_with(
            &config(&["http://127.0.0.1:1", "http://edge-2:8081/"]),
            "/api/",
            &metrics,
            &store,
            fast_policy(),
            transport.clone(),
        )
        .await
        .unwrap();
        put(&purger.writing_store(), "a").await;
        purger.wake();
        until("both edges acknowledged", || series(&metrics, "ok") == 2).await;
        let mut sent = transport.sent();
        sent.sort();
        assert_eq!(
            sent,
            [
                (
                    "http://127.0.0.1:1/_revalidate/purge",
                    r#"{"urls":["/api/notes/a"]}"#
                ),
                (
                    "http://edge-2:8081/_revalidate/purge",
                    r#"{"urls":["/api/notes/a"]}"#
                ),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(purger.cdn_cache_control().unwrap(), "max-age=600");
        // A write through the store without the outbox records nothing.
        put(&store, "b").await;
        purger.wake();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(transport.sent().len(), 2);
    }

    #[tokio::test]
    async fn a_failing_edge_is_retried_until_it_acknowledges() {
        let cases: [(&str, Script, usize); 3] = [
            (
                "refused twice, then acknowledged",
                &[Err("refused"), Err("refused"), Ok(200)],
                3,
            ),
            (
                "busy, then acknowledged",
                &[Ok(503), Ok(503), Ok(503), Ok(204)],
                4,
            ),
            ("wrong token, then fixed", &[Ok(401), Ok(200)], 2),
        ];
        for (case, script, attempts) in cases {
            let (store, _dir) = sqlite().await;
            let metrics = Metrics::new();
            let transport = ScriptedTransport::answering(script);
            let purger = EdgePurger::start_with(
                &config(&["http://127.0.0.1:1"]),
                "/api/",
                &metrics,
                &store,
                fast_policy(),
                transport.clone(),
            )
            .await
            .unwrap();
            put(&purger.writing_store(), "a").await;
            purger.wake();
            until(case, || series(&metrics, "ok") == 1).await;
            assert_eq!(series(&metrics, "failed"), (attempts - 1) as u64, "{case}");
            assert_eq!(transport.sent().len(), attempts, "{case}");
        }
    }

    #[tokio::test]
    async fn memory_has_no_outbox() {
        let store = AnyStore::Memory(revalidate_store::MemoryStore::new());
        let error = EdgePurger::start_with(
            &config(&["http://127.0.0.1:1"]),
            "/api/",
            &Metrics::new(),
            &store,
            fast_policy(),
            ScriptedTransport::default(),
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("memory"), "{error}");
    }
}
