//! Prometheus metrics of the edge, served at `/metrics` on the admin
//! listener ([`revalidate_listener::admin`]; the public listener forwards
//! `/metrics` to the origin like any other path).
//!
//! | metric | what it counts |
//! |---|---|
//! | `revalidate_edge_requests_total{outcome}` | requests by how they were answered: `hit`, `miss`, `collapsed` (waited for another request's origin fetch), `revalidated`, `stale`, `pass` (not cacheable by method), `error` (answered by the edge for the origin's fault or an unusable `only-if-cached`), `client-error` (the client's own request was at fault: a broken or stalled upload, the asterisk form, `CONNECT`) |
//! | `revalidate_edge_revalidations_total{origin_status}` | conditional requests sent to the origin, by answer: `304`, `200`, `other`, `error` |
//! | `revalidate_edge_not_modified_total` | `304 Not Modified` sent to clients from the cache |
//! | `revalidate_edge_stale_total{reason}` | stale responses served: `max-stale`, `stale-while-revalidate`, `stale-if-error` |
//! | `revalidate_edge_bytes_saved_total{link}` | body bytes not transferred: `origin` (a hit or a 304 from the origin instead of a body), `client` (a 304 to the client instead of a body) |
//! | `revalidate_edge_origin_errors_total{origin, kind}` | origin failures by pool member (`origin`, its `host:port`): `connect`, `timeout` (no head in time, or a body silent for `upstream_body_timeout`), `protocol` (a broken head or body); each attempt counts, so a request that failed over to another member counts one here; never a fault of the client's request |
//! | `revalidate_edge_origin_up{origin}` | whether a pool member takes requests now (gauge, 1 or 0): neither ejected nor marked down by the health checks; set at scrape time (a pool whose members are all down still sends to the one down longest) |
//! | `revalidate_edge_origin_ejections_total{origin}` | times a member was ejected after `[ejection] consecutive_failures` failures in a row |
//! | `revalidate_edge_purges_total{kind}` | purge API calls: `url`, `prefix`, `tag`; and invalidations by unsafe methods: `invalidation` |
//! | `revalidate_edge_request_duration_seconds{outcome}` | histogram of the time from a request's arrival at the edge (its head parsed, when the edge starts on it) to its response head being ready (for a miss: the origin's head arrived and the edge's head built, before the body streams), by the same `outcome` as `requests_total`; its `_count` equals that counter's |
//! | `revalidate_edge_origin_duration_seconds{origin, status_class}` | histogram of the time from sending a request to the origin to its response head: `origin` is the pool member's authority (`host:port`), `status_class` `1xx`…`5xx`, or `error` (no head: refused, timed out, broken); background refreshes included |
//! | `revalidate_edge_unrouted_total{reason}` | requests no site answered: `unknown-host` (`421`), `bad-host` (`400`: no `Host` on HTTP/1.1, several, or an invalid one) |
//! | `revalidate_edge_storage_*` | what the storage holds (gauges, set at scrape time) |
//! | `revalidate_edge_connections_open` | client connections open now (gauge) |
//! | `revalidate_edge_connections_accepted_total` | client connections accepted |
//! | `revalidate_edge_connections_closed_total{reason}` | client connections closed: `finished`, `header_timeout`, `idle_timeout`, `send_timeout`, `evicted` (at the connection cap), `shutdown`, `error`, `tls_handshake_failed`, `tls_handshake_timeout` (see [`revalidate_listener::metrics`]) |
//! | `revalidate_edge_accept_errors_total` | failed accepts |
//! | `revalidate_edge_access_log_dropped_total` | access-log lines dropped because the writer's queue was full ([`revalidate_listener::access_log`]) |
//!
//! Both histograms have the buckets of the origin's
//! `revalidate_http_request_duration_seconds` (50 µs to 2.5 s); their
//! samples are drained into the buckets once a second
//! ([`EdgeMetrics::spawn_upkeep`]) and at each scrape. Per request the
//! cost is one monotonic clock read at arrival, one at the head, and one
//! sample pushed (an origin request: two reads and one sample more).
//!
//! Every per-request series carries a `site` label (the site's name;
//! `default` for an edge without `[[sites]]`). The storage, connection
//! and `unrouted` series are the process's, without it.
//!
//! The recorder ([`MetricsRegistry`]) is owned by the edge rather than
//! installed globally, so several edges in one process (the tests) keep
//! separate counts; the sites of one edge share it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use revalidate_listener::ConnectionMetrics;

use crate::storage::StorageStats;

/// How a request was answered, for `revalidate_edge_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// From the cache, without contacting the origin.
    Hit,
    /// Fetched from the origin (nothing usable stored).
    Miss,
    /// Answered from another request's origin fetch.
    Collapsed,
    /// A stored response validated with the origin.
    Revalidated,
    /// A stale stored response (max-stale, stale-while-revalidate, stale-if-error).
    Stale,
    /// Passed to the origin (method not cacheable).
    Pass,
    /// An error answered by the edge.
    Error,
    /// The client's own request was at fault (4xx from the edge).
    ClientError,
}

impl Outcome {
    /// Its label: in `revalidate_edge_requests_total{outcome}` and as the
    /// access log's `cache` field.
    pub fn label(self) -> &'static str {
        OUTCOMES[self as usize].1
    }

    /// The outcome at `index` in declaration order.
    pub(crate) fn from_index(index: usize) -> Option<Self> {
        OUTCOMES.get(index).map(|(outcome, _)| *outcome)
    }
}

// In declaration order: `Outcome::label` indexes it.
const OUTCOMES: [(Outcome, &str); 8] = [
    (Outcome::Hit, "hit"),
    (Outcome::Miss, "miss"),
    (Outcome::Collapsed, "collapsed"),
    (Outcome::Revalidated, "revalidated"),
    (Outcome::Stale, "stale"),
    (Outcome::Pass, "pass"),
    (Outcome::Error, "error"),
    (Outcome::ClientError, "client-error"),
];

const REQUEST_DURATION: &str = "revalidate_edge_request_duration_seconds";
const ORIGIN_DURATION: &str = "revalidate_edge_origin_duration_seconds";
/// The origin's `revalidate_http_request_duration_seconds` buckets, so
/// that the two servers' latencies compare bucket for bucket.
const DURATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// How often [`EdgeMetrics::spawn_upkeep`] drains histogram samples.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);
/// The `status_class` labels of the origin histogram; index 0 is no head.
const STATUS_CLASSES: [&str; 6] = ["error", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// The last answer the edge had from its origin, for `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginContact {
    /// The status class (`2xx`, …), or `error` when no head came.
    pub status_class: &'static str,
    /// How long ago it came.
    pub ago: Duration,
}

/// Why a stale response was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleReason {
    /// The request's `max-stale` allowed it.
    MaxStale,
    /// `stale-while-revalidate`: served while a background refresh runs.
    WhileRevalidate,
    /// `stale-if-error`: the origin failed.
    IfError,
}

/// The origin's answer to a revalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revalidation {
    /// `304 Not Modified`: the stored body was reused.
    NotModified,
    /// `200 OK`: a new body replaced the stored one.
    Replaced,
    /// Another status.
    Other,
    /// The origin could not be reached.
    Failed,
}

/// Kinds of origin failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginError {
    /// No connection.
    Connect,
    /// No answer in time.
    Timeout,
    /// A broken answer.
    Protocol,
}

/// Kinds of purge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeKind {
    /// By URL.
    Url,
    /// By prefix.
    Prefix,
    /// By tag.
    Tag,
    /// By an unsafe method's success (RFC 9111 §4.4).
    Invalidation,
}

/// What every site of one edge shares: the recorder, the storage and
/// connection series (one storage, one listener), and the exposition;
/// cheap to clone. Each site's [`EdgeMetrics`] registers its own series,
/// labelled `site`, into it, so one scrape shows every site and the
/// text stays one valid exposition (two recorders would repeat each
/// family's `# TYPE` line).
#[derive(Clone)]
pub struct MetricsRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    memory_bytes: Gauge,
    memory_entries: Gauge,
    bans: Gauge,
    disk_bytes_written: Gauge,
    connections: ConnectionMetrics,
    unrouted: [Counter; 2],
}

impl std::fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRegistry").finish_non_exhaustive()
    }
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRegistry {
    /// A new registry with the storage and connection series at zero.
    pub fn new() -> Self {
        let builder = [REQUEST_DURATION, ORIGIN_DURATION]
            .into_iter()
            .try_fold(PrometheusBuilder::new(), |builder, name| {
                builder.set_buckets_for_metric(Matcher::Full(name.into()), DURATION_BUCKETS)
            })
            // Only fails for an empty bucket list, which this is not.
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder: PrometheusRecorder = builder.build_recorder();
        let handle = recorder.handle();
        let (memory_bytes, memory_entries, bans, disk_bytes_written, connections, unrouted) =
            metrics::with_local_recorder(&recorder, || {
                describe();
                (
                    metrics::gauge!("revalidate_edge_storage_memory_bytes"),
                    metrics::gauge!("revalidate_edge_storage_memory_entries"),
                    metrics::gauge!("revalidate_edge_storage_bans"),
                    metrics::gauge!("revalidate_edge_storage_disk_written_bytes"),
                    ConnectionMetrics::register("revalidate_edge"),
                    ["unknown-host", "bad-host"].map(
                        |reason| metrics::counter!("revalidate_edge_unrouted_total", "reason" => reason),
                    ),
                )
            });
        Self {
            shared: Arc::new(Shared {
                recorder,
                handle,
                memory_bytes,
                memory_entries,
                bans,
                disk_bytes_written,
                connections,
                unrouted,
            }),
        }
    }

    /// Counts one request no site answered: its host is no site's
    /// (`421`), or it has no usable `Host` (`400`).
    pub fn unrouted(&self, unknown_host: bool) {
        self.shared.unrouted[usize::from(!unknown_host)].increment(1);
    }

    /// The handles the front door counts client connections into.
    pub fn connection_metrics(&self) -> ConnectionMetrics {
        self.shared.connections.clone()
    }

    /// The Prometheus text exposition, with the storage gauges set from `stats`.
    pub fn render(&self, stats: &StorageStats) -> String {
        let shared = &self.shared;
        shared.memory_bytes.set(stats.memory_bytes as f64);
        shared.memory_entries.set(stats.memory_entries as f64);
        shared.bans.set(stats.bans as f64);
        shared.disk_bytes_written.set(stats.disk_bytes_written as f64);
        shared.handle.run_upkeep();
        shared.handle.render()
    }

    /// Drains recorded histogram samples into their buckets every second
    /// until the last clone of this registry is dropped: the exporter keeps
    /// each sample until an upkeep runs, so without a scrape memory would
    /// grow with every request (as for the origin's histogram).
    pub fn spawn_upkeep(&self) {
        revalidate_listener::metrics::spawn_upkeep(
            Arc::downgrade(&self.shared),
            |shared| &shared.handle,
            UPKEEP_EVERY,
        );
    }

    /// Runs `register` with this registry's recorder installed, so that the
    /// `metrics` macros in it register here.
    pub fn register<T>(&self, register: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.shared.recorder, register)
    }
}

/// One site's series (labelled `site`) in a [`MetricsRegistry`]; cheap to
/// clone.
#[derive(Clone)]
pub struct EdgeMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: MetricsRegistry,
    requests: [Counter; 8],
    revalidations: [Counter; 4],
    not_modified: Counter,
    stale: [Counter; 3],
    saved_origin: Counter,
    saved_client: Counter,
    /// One set of series per pool member, in the pool's order.
    origins: Box<[OriginSeries]>,
    purges: [Counter; 4],
    request_durations: [Histogram; 8],
    /// When these metrics were made: [`Inner::last_contact`] counts from it.
    born: Instant,
    /// The last origin answer: milliseconds since `born` plus one, shifted
    /// left by 3, or'ed with the index into [`STATUS_CLASSES`]; 0: none yet.
    last_contact: AtomicU64,
}

/// One pool member's series.
struct OriginSeries {
    durations: [Histogram; 6],
    errors: [Counter; 3],
    up: Gauge,
    ejections: Counter,
}

impl OriginSeries {
    fn register(site: &str, authority: &str) -> Self {
        let site = || site.to_owned();
        let origin = || authority.to_owned();
        Self {
            durations: STATUS_CLASSES.map(|class| {
                metrics::histogram!(ORIGIN_DURATION, "site" => site(), "origin" => origin(), "status_class" => class)
            }),
            errors: ["connect", "timeout", "protocol"].map(|kind| {
                metrics::counter!("revalidate_edge_origin_errors_total", "site" => site(), "origin" => origin(), "kind" => kind)
            }),
            up: metrics::gauge!("revalidate_edge_origin_up", "site" => site(), "origin" => origin()),
            ejections: metrics::counter!("revalidate_edge_origin_ejections_total", "site" => site(), "origin" => origin()),
        }
    }
}

impl std::fmt::Debug for EdgeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeMetrics").finish_non_exhaustive()
    }
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl EdgeMetrics {
    /// A new registry of its own with one site, `default`, whose every
    /// series is registered (at zero), so a scrape shows them before the
    /// first event; the origin histogram's `origin` label is empty (see
    /// [`EdgeMetrics::for_site`]).
    pub fn new() -> Self {
        Self::for_site(&MetricsRegistry::new(), crate::proxy::DEFAULT_SITE, &[""])
    }

    /// The series of the site `site` in `registry`, in front of a pool of
    /// these members (`host:port` each): member `i` of the pool is
    /// `origin` label `authorities[i]`.
    pub fn for_site(registry: &MetricsRegistry, site: &str, authorities: &[&str]) -> Self {
        let site = site.to_owned();
        let inner = registry.register(|| Inner {
            registry: registry.clone(),
            requests: OUTCOMES.map(|(_, label)| {
                metrics::counter!("revalidate_edge_requests_total", "site" => site.clone(), "outcome" => label)
            }),
            revalidations: ["304", "200", "other", "error"].map(|label| {
                metrics::counter!("revalidate_edge_revalidations_total", "site" => site.clone(), "origin_status" => label)
            }),
            not_modified: metrics::counter!("revalidate_edge_not_modified_total", "site" => site.clone()),
            stale: ["max-stale", "stale-while-revalidate", "stale-if-error"]
                .map(|label| metrics::counter!("revalidate_edge_stale_total", "site" => site.clone(), "reason" => label)),
            saved_origin: metrics::counter!("revalidate_edge_bytes_saved_total", "site" => site.clone(), "link" => "origin"),
            saved_client: metrics::counter!("revalidate_edge_bytes_saved_total", "site" => site.clone(), "link" => "client"),
            origins: authorities
                .iter()
                .map(|authority| OriginSeries::register(&site, authority))
                .collect(),
            purges: ["url", "prefix", "tag", "invalidation"]
                .map(|label| metrics::counter!("revalidate_edge_purges_total", "site" => site.clone(), "kind" => label)),
            request_durations: OUTCOMES.map(|(_, label)| {
                metrics::histogram!(REQUEST_DURATION, "site" => site.clone(), "outcome" => label)
            }),
            born: Instant::now(),
            last_contact: AtomicU64::new(0),
        });
        for counter in inner
            .requests
            .iter()
            .chain(&inner.revalidations)
            .chain(&inner.stale)
        {
            counter.increment(0);
        }
        for series in &inner.origins {
            series.up.set(1.0);
            series.ejections.increment(0);
        }
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The registry these series are in.
    pub fn registry(&self) -> &MetricsRegistry {
        &self.inner.registry
    }

    /// The handles the front door counts client connections into.
    pub fn connection_metrics(&self) -> ConnectionMetrics {
        self.inner.registry.connection_metrics()
    }

    /// Counts one answered request, which arrived at `arrived`: its
    /// response head is ready now.
    pub fn request(&self, outcome: Outcome, arrived: Instant) {
        let index = OUTCOMES.iter().position(|(o, _)| *o == outcome).unwrap_or(0);
        self.inner.requests[index].increment(1);
        self.inner.request_durations[index].record(arrived.elapsed().as_secs_f64());
    }

    /// Records one request to pool member `member`, sent at `sent`, whose
    /// head (with `status`) came now, or that failed (`None`).
    pub fn origin_response(&self, member: usize, status: Option<http::StatusCode>, sent: Instant) {
        let now = Instant::now();
        let class = status.map_or(0, |status| usize::from(status.as_u16() / 100).clamp(1, 5));
        if let Some(series) = self.inner.origins.get(member) {
            series.durations[class].record(now.duration_since(sent).as_secs_f64());
        }
        let since_born =
            u64::try_from(now.duration_since(self.inner.born).as_millis()).unwrap_or(u64::MAX >> 4);
        // One relaxed store: the readiness probe reads it, nobody orders by it.
        self.inner
            .last_contact
            .store(((since_born + 1) << 3) | class as u64, Ordering::Relaxed);
    }

    /// The last answer from the origin (`None` before the first).
    pub fn last_origin_contact(&self) -> Option<OriginContact> {
        let packed = self.inner.last_contact.load(Ordering::Relaxed);
        if packed == 0 {
            return None;
        }
        let at = self.inner.born + Duration::from_millis((packed >> 3) - 1);
        Some(OriginContact {
            status_class: STATUS_CLASSES[(packed & 7) as usize % STATUS_CLASSES.len()],
            ago: Instant::now().saturating_duration_since(at),
        })
    }

    /// [`MetricsRegistry::spawn_upkeep`] of the registry these series are in.
    pub fn spawn_upkeep(&self) {
        self.inner.registry.spawn_upkeep();
    }

    /// Counts one revalidation.
    pub fn revalidation(&self, result: Revalidation) {
        let index = match result {
            Revalidation::NotModified => 0,
            Revalidation::Replaced => 1,
            Revalidation::Other => 2,
            Revalidation::Failed => 3,
        };
        self.inner.revalidations[index].increment(1);
    }

    /// Counts one 304 sent to a client from the cache, saving `body_len` bytes.
    pub fn not_modified(&self, body_len: u64) {
        self.inner.not_modified.increment(1);
        self.inner.saved_client.increment(body_len);
    }

    /// Counts one stale response served.
    pub fn stale(&self, reason: StaleReason) {
        let index = match reason {
            StaleReason::MaxStale => 0,
            StaleReason::WhileRevalidate => 1,
            StaleReason::IfError => 2,
        };
        self.inner.stale[index].increment(1);
    }

    /// Counts body bytes the origin did not have to send.
    pub fn saved_from_origin(&self, bytes: u64) {
        self.inner.saved_origin.increment(bytes);
    }

    /// Counts one failure of pool member `member`.
    pub fn origin_error(&self, member: usize, kind: OriginError) {
        let index = match kind {
            OriginError::Connect => 0,
            OriginError::Timeout => 1,
            OriginError::Protocol => 2,
        };
        if let Some(series) = self.inner.origins.get(member) {
            series.errors[index].increment(1);
        }
    }

    /// Sets whether pool member `member` takes requests now.
    pub fn origin_up(&self, member: usize, up: bool) {
        if let Some(series) = self.inner.origins.get(member) {
            series.up.set(if up { 1.0 } else { 0.0 });
        }
    }

    /// Counts one ejection of pool member `member`.
    pub fn origin_ejected(&self, member: usize) {
        if let Some(series) = self.inner.origins.get(member) {
            series.ejections.increment(1);
        }
    }

    /// Counts one purge.
    pub fn purge(&self, kind: PurgeKind) {
        let index = match kind {
            PurgeKind::Url => 0,
            PurgeKind::Prefix => 1,
            PurgeKind::Tag => 2,
            PurgeKind::Invalidation => 3,
        };
        self.inner.purges[index].increment(1);
    }

    /// [`MetricsRegistry::render`]: every site's series, not only these.
    pub fn render(&self, stats: &StorageStats) -> String {
        self.inner.registry.render(stats)
    }
}

fn describe() {
    metrics::describe_counter!(
        "revalidate_edge_requests_total",
        "Requests by how the edge answered them"
    );
    metrics::describe_counter!(
        "revalidate_edge_revalidations_total",
        "Conditional requests sent to the origin, by its answer"
    );
    metrics::describe_counter!(
        "revalidate_edge_not_modified_total",
        "304 Not Modified responses sent to clients from the cache"
    );
    metrics::describe_counter!("revalidate_edge_stale_total", "Stale responses served, by reason");
    metrics::describe_counter!(
        "revalidate_edge_bytes_saved_total",
        metrics::Unit::Bytes,
        "Body bytes not transferred thanks to the cache, by link"
    );
    metrics::describe_counter!(
        "revalidate_edge_origin_errors_total",
        "Origin failures by pool member and kind"
    );
    metrics::describe_gauge!(
        "revalidate_edge_origin_up",
        "Whether a pool member takes requests (1) or is ejected or down (0)"
    );
    metrics::describe_counter!(
        "revalidate_edge_origin_ejections_total",
        "Pool members ejected after consecutive failures"
    );
    metrics::describe_counter!("revalidate_edge_purges_total", "Purges and invalidations by kind");
    metrics::describe_counter!(
        "revalidate_edge_unrouted_total",
        "Requests no site answered: an unknown host (421) or no usable Host (400)"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its response head, by outcome"
    );
    metrics::describe_histogram!(
        ORIGIN_DURATION,
        metrics::Unit::Seconds,
        "Time from a request sent to the origin to its response head, by status class"
    );
}
