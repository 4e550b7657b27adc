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
//! [`revalidate_core::purge`] (the same [`PurgeRequest`](revalidate_core::purge::PurgeRequest) type the edge
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
//!
//! # Rooms
//!
//! | module | what it holds |
//! |---|---|
//! | here | [`EdgePurger`]: registering the edges, recording purges, reloads, the static-file watch |
//! | `policy` | the pure parts: what a write or a claim purges, the verdict on an attempt, the pauses |
//! | `transport` | the IO seam: [`PurgeTransport`] and the HTTP/1.1 [`HttpTransport`] |
//! | `deliver` | one task per registered edge: claim, send, release |

mod deliver;
mod policy;
mod transport;

pub use policy::{Attempt, PurgePolicy, Verdict, purge_for_claim, purge_for_write, verdict};
pub use transport::{HttpTransport, PurgeAnswer, PurgeError, PurgeTransport};

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use http::Uri;
use http::header::HeaderValue;
use revalidate_core::purge::PURGE_PATH;
use revalidate_store::AnyStore;
use tokio::sync::{Notify, watch};

use crate::config::{ConfigError, EdgePurgeConfig};
use crate::metrics::Metrics;

use deliver::supervise;
use transport::DynTransport;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use bytes::Bytes;
    use http::StatusCode;
    use revalidate_store::{Change, ResourceKey, Store};

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

    /// A purger on a fresh SQLite store delivering to `edges` through a
    /// transport answering `script`.
    struct Scripted {
        store: AnyStore,
        metrics: Metrics,
        transport: ScriptedTransport,
        purger: EdgePurger,
        _dir: tempfile::TempDir,
    }

    async fn scripted(edges: &[&str], script: &[Result<u16, &'static str>]) -> Scripted {
        let (store, _dir) = sqlite().await;
        let metrics = Metrics::new();
        let transport = ScriptedTransport::answering(script);
        let purger = EdgePurger::start_with(
            &config(edges),
            "/api/",
            &metrics,
            &store,
            fast_policy(),
            transport.clone(),
        )
        .await
        .unwrap();
        Scripted {
            store,
            metrics,
            transport,
            purger,
            _dir,
        }
    }

    #[tokio::test]
    async fn a_write_purges_its_url_on_every_edge() {
        let Scripted {
            store,
            metrics,
            transport,
            purger,
            _dir,
        } = scripted(&["http://127.0.0.1:1", "http://edge-2:8081/"], &[Ok(200)]).await;
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
            let Scripted {
                metrics,
                transport,
                purger,
                _dir,
                ..
            } = scripted(&["http://127.0.0.1:1"], script).await;
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
