//! Purging the edges after a write: `revalidate serve` tells each
//! `revalidate edge` in front of it (or any cache with the same purge API)
//! to forget a resource's URL once a write to it succeeded.
//!
//! A write that goes through an edge invalidates that edge's copy itself
//! ([RFC 9111 §4.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.4)),
//! but a write sent to the origin directly, through another edge, or to
//! another node sharing the database, leaves every edge serving the old
//! version for as long as it may. With `[edge_purge]` configured, every
//! successful `PUT`, `PATCH`, `DELETE` and `POST` (create) sends each edge
//! a purge request naming the written resource's URL (`{"urls":
//! ["/api/notes/1"]}`): the edge's purge API, whose wire format is
//! [`revalidate_core::purge`] (the same [`PurgeRequest`] type the edge
//! reads), with the configured bearer token.
//!
//! - **What is purged**: the written resource's URL, which purges every
//!   stored variant of it. The API has no collection listing (`GET` of a
//!   collection is `405`), so there is no collection URL to purge. The URL
//!   is the canonical one (`{prefix}{collection}/{id}`; ids are unreserved
//!   characters only); a copy an edge stored under another spelling (a
//!   query string, percent-encoded letters) is not purged. URL purges
//!   rather than prefix purges keep the edge's lookups cheap: an edge
//!   checks prefix bans one by one, URL bans by hash.
//! - **Asynchronous**: the write's response is not delayed. Each edge has
//!   its own bounded queue and worker, so a slow or unreachable edge does
//!   not hold up the others; purges waiting in a queue are sent together
//!   in one request.
//! - **Bounded**: each request has a timeout and is retried with doubling
//!   backoff, a few times, on no answer, `408`, `429` and `5xx`; other
//!   answers (`401` for a wrong token, `404` for an edge without a purge
//!   token) are configuration errors that a retry cannot fix. A full queue
//!   (an edge down for long under a write load) drops the purge.
//! - **Observable**: every purge that was given up is logged (`warn`) and
//!   counted in `revalidate_edge_purges_sent_total{result="failed"}`, every
//!   acknowledged one in `{result="ok"}`, one per write and edge.
//! - **Shutdown** does not wait for purges: the workers are tasks on the
//!   server's runtime and end with it; purges still queued are lost (the
//!   edges keep those copies until they expire).
//!
//! With `cdn_max_age`, API reads also carry `CDN-Cache-Control:
//! max-age=<cdn_max_age>` ([RFC 9213](https://www.rfc-editor.org/rfc/rfc9213)):
//! the edges reuse them without asking the origin, and rely on these
//! purges; browsers and other caches still see `Cache-Control: no-cache`
//! and revalidate (with the edge). Without it every edge revalidates every
//! use, and a purge only frees the edge's storage sooner.
//!
//! A read that an edge forwarded before the purge arrived (the origin may
//! have answered it with the old version) is not kept past the purge:
//! `revalidate edge` stores a response as of when its fetch was sent, so
//! the purge covers it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use revalidate_core::purge::{PURGE_PATH, PurgeRequest};
use revalidate_store::ResourceKey;
use tokio::sync::mpsc;

use crate::config::{ConfigError, EdgePurgeConfig};
use crate::metrics::Metrics;

// ----- pure parts ------------------------------------------------------------

/// What a successful write of `key`, under the API mounted at `api_prefix`
/// (such as `/api/`), makes stale at the edges: the resource's URL.
pub fn purge_for_write(api_prefix: &str, key: &ResourceKey) -> PurgeRequest {
    PurgeRequest::urls([resource_url(api_prefix, key)])
}

/// The URL a resource is read at: `{prefix}{collection}/{id}`.
fn resource_url(api_prefix: &str, key: &ResourceKey) -> String {
    format!("{api_prefix}{}/{}", key.collection().as_str(), key.id())
}

/// What became of one attempt to send a purge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The edge answered with this status.
    Answered(StatusCode),
    /// No answer: refused, reset, or timed out.
    NoAnswer,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// The edge acknowledged the purge.
    Done,
    /// Try again after this pause.
    RetryAfter(Duration),
    /// Stop: retries are used up, or a retry cannot help.
    GiveUp,
}

/// Timeouts, retries and queue sizes of the purges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgePolicy {
    /// How long one request may take.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// The pause before the first retry; doubled before each next one.
    pub first_backoff: Duration,
    /// Purges waiting per edge before new ones are dropped.
    pub queue: usize,
    /// Most URLs in one request (the edge reads at most 64 KiB of body).
    pub batch: usize,
}

impl PurgePolicy {
    /// The policy of `[edge_purge]`: its timeout, three attempts 100 ms
    /// and 200 ms apart.
    pub fn from_config(config: &EdgePurgeConfig) -> Self {
        Self {
            timeout: Duration::from_millis(config.timeout_ms),
            attempts: 3,
            first_backoff: Duration::from_millis(100),
            queue: 4096,
            batch: 100,
        }
    }
}

/// Decides what follows attempt number `attempt` (from 1).
pub fn next_step(policy: &PurgePolicy, attempt: u32, result: Attempt) -> NextStep {
    let retryable = match result {
        Attempt::Answered(status) if status.is_success() => return NextStep::Done,
        Attempt::Answered(status) => {
            status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
        }
        Attempt::NoAnswer => true,
    };
    if !retryable || attempt >= policy.attempts {
        return NextStep::GiveUp;
    }
    NextStep::RetryAfter(policy.first_backoff.saturating_mul(1u32 << (attempt - 1).min(16)))
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

/// Queues a purge for every edge after each write; cheap to clone.
#[derive(Clone)]
pub struct EdgePurger {
    inner: Arc<PurgerInner>,
}

struct PurgerInner {
    api_prefix: String,
    edges: Vec<EdgeQueue>,
    cdn_cache_control: Option<HeaderValue>,
    metrics: Metrics,
}

struct EdgeQueue {
    edge: Uri,
    sender: mpsc::Sender<String>,
    /// Whether the last purge found the queue full, so that an edge down
    /// under a write load logs once per episode rather than per write.
    overflowing: AtomicBool,
}

impl std::fmt::Debug for EdgePurger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let edges: Vec<String> = self.inner.edges.iter().map(|q| q.edge.to_string()).collect();
        f.debug_struct("EdgePurger")
            .field("api_prefix", &self.inner.api_prefix)
            .field("edges", &edges)
            .finish_non_exhaustive()
    }
}

impl EdgePurger {
    /// Starts one worker per configured edge, sending over HTTP; counts
    /// into `metrics`. Must run inside the server's tokio runtime.
    pub fn start(config: &EdgePurgeConfig, api_prefix: &str, metrics: &Metrics) -> Result<Self, ConfigError> {
        let policy = PurgePolicy::from_config(config);
        let transport = HttpTransport::new(&config.token, policy.timeout)?;
        Self::start_with(config, api_prefix, metrics, policy, transport)
    }

    /// [`EdgePurger::start`] with another transport and policy (tests).
    pub fn start_with<T: PurgeTransport>(
        config: &EdgePurgeConfig,
        api_prefix: &str,
        metrics: &Metrics,
        policy: PurgePolicy,
        transport: T,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let transport = Arc::new(transport);
        let policy = Arc::new(policy);
        let mut edges = Vec::new();
        for base in config.edge_uris()? {
            let endpoint = Uri::builder()
                .scheme("http")
                .authority(base.authority().map_or("", http::uri::Authority::as_str))
                .path_and_query(PURGE_PATH)
                .build()
                .map_err(|e| ConfigError::Invalid(format!("edge_purge.edges: {base}: {e}")))?;
            let (sender, receiver) = mpsc::channel(policy.queue.max(1));
            tokio::spawn(run_queue(
                endpoint.clone(),
                receiver,
                Arc::clone(&transport),
                Arc::clone(&policy),
                metrics.clone(),
            ));
            edges.push(EdgeQueue {
                edge: endpoint,
                sender,
                overflowing: AtomicBool::new(false),
            });
        }
        let cdn_cache_control = config
            .cdn_max_age
            .and_then(|age| HeaderValue::try_from(format!("max-age={age}")).ok());
        Ok(Self {
            inner: Arc::new(PurgerInner {
                api_prefix: api_prefix.to_owned(),
                edges,
                cdn_cache_control,
                metrics: metrics.clone(),
            }),
        })
    }

    /// Queues the purge of what a successful write of `key` made stale, on
    /// every edge; returns at once.
    pub fn after_write(&self, key: &ResourceKey) {
        for url in purge_for_write(&self.inner.api_prefix, key).urls {
            for queue in &self.inner.edges {
                match queue.sender.try_send(url.clone()) {
                    Ok(()) => queue.overflowing.store(false, Ordering::Relaxed),
                    Err(error) => {
                        if !queue.overflowing.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                edge = %queue.edge,
                                url,
                                reason = %error,
                                "edge purge dropped: the queue for this edge is full (is it down?)"
                            );
                        }
                        self.inner.metrics.record_edge_purges(false, 1);
                    }
                }
            }
        }
    }

    /// The `CDN-Cache-Control` value API reads carry, if configured.
    pub fn cdn_cache_control(&self) -> Option<&HeaderValue> {
        self.inner.cdn_cache_control.as_ref()
    }
}

/// One edge's worker: takes the waiting purges (up to a batch), sends them
/// in one request with retries, counts the result; ends when the purger is
/// dropped and the queue is empty.
async fn run_queue<T: PurgeTransport>(
    endpoint: Uri,
    mut receiver: mpsc::Receiver<String>,
    transport: Arc<T>,
    policy: Arc<PurgePolicy>,
    metrics: Metrics,
) {
    let mut waiting: Vec<String> = Vec::new();
    while let Some(first) = receiver.recv().await {
        waiting.push(first);
        while waiting.len() < policy.batch.max(1) {
            match receiver.try_recv() {
                Ok(url) => waiting.push(url),
                Err(_) => break,
            }
        }
        let writes = waiting.len() as u64;
        // Several writes of one resource waiting together: one URL.
        let body = PurgeRequest::urls(waiting.drain(..));
        let ok = send_with_retries(&*transport, &endpoint, &body, &policy).await;
        metrics.record_edge_purges(ok, writes);
    }
}

/// Sends one purge request until [`next_step`] says to stop; whether the
/// edge acknowledged it.
async fn send_with_retries<T: PurgeTransport>(
    transport: &T,
    endpoint: &Uri,
    body: &PurgeRequest,
    policy: &PurgePolicy,
) -> bool {
    let json = Bytes::from(body.to_json());
    let mut attempt = 1;
    loop {
        let (result, why) =
            match tokio::time::timeout(policy.timeout, transport.post(endpoint, json.clone())).await {
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
        match next_step(policy, attempt, result) {
            NextStep::Done => return true,
            NextStep::RetryAfter(pause) => {
                tracing::debug!(edge = %endpoint, attempt, reason = %why, "edge purge failed; retrying");
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            NextStep::GiveUp => {
                tracing::warn!(
                    edge = %endpoint,
                    attempts = attempt,
                    urls = ?body.urls,
                    reason = %why,
                    "edge purge failed; the edge may serve the old version until it expires"
                );
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

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
            attempts: 3,
            first_backoff: Duration::from_millis(1),
            queue: 16,
            batch: 100,
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
    fn a_batch_names_each_url_once_in_order() {
        let urls = ["/api/n/b", "/api/n/a", "/api/n/b", "/api/n/c", "/api/n/a"].map(str::to_owned);
        assert_eq!(
            PurgeRequest::urls(urls).urls,
            ["/api/n/b", "/api/n/a", "/api/n/c"].map(str::to_owned)
        );
    }

    #[test]
    fn next_step_after_each_kind_of_attempt() {
        let policy = PurgePolicy {
            first_backoff: Duration::from_millis(100),
            ..fast_policy()
        };
        let ms = Duration::from_millis;
        let answered = |code: u16| Attempt::Answered(StatusCode::from_u16(code).unwrap());
        let cases = [
            ("acknowledged", 1, answered(200), NextStep::Done),
            ("acknowledged on a retry", 3, answered(204), NextStep::Done),
            (
                "edge storage busy",
                1,
                answered(503),
                NextStep::RetryAfter(ms(100)),
            ),
            (
                "second failure doubles",
                2,
                answered(500),
                NextStep::RetryAfter(ms(200)),
            ),
            ("retries used up", 3, answered(503), NextStep::GiveUp),
            (
                "refused connection",
                1,
                Attempt::NoAnswer,
                NextStep::RetryAfter(ms(100)),
            ),
            ("refused to the end", 3, Attempt::NoAnswer, NextStep::GiveUp),
            ("rate limited", 1, answered(429), NextStep::RetryAfter(ms(100))),
            ("wrong token", 1, answered(401), NextStep::GiveUp),
            ("purge API off", 1, answered(404), NextStep::GiveUp),
            ("body refused", 1, answered(400), NextStep::GiveUp),
        ];
        for (case, attempt, result, expected) in cases {
            assert_eq!(next_step(&policy, attempt, result), expected, "{case}");
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
        gate: Option<Arc<tokio::sync::Semaphore>>,
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
            if let Some(gate) = &self.gate {
                let _permit = gate.acquire().await.unwrap();
            }
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
        for _ in 0..500 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn a_write_purges_its_url_on_every_edge() {
        let metrics = Metrics::new();
        let transport = ScriptedTransport::answering(&[Ok(200)]);
        let purger = EdgePurger::start_with(
            &config(&["http://127.0.0.1:1", "http://edge-2:8081/"]),
            "/api/",
            &metrics,
            fast_policy(),
            transport.clone(),
        )
        .unwrap();
        purger.after_write(&ResourceKey::new("notes", "a").unwrap());
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
    }

    #[tokio::test]
    async fn a_failing_edge_is_retried_then_counted() {
        let cases: [(&str, Script, u64, usize); 4] = [
            (
                "refused twice, then acknowledged",
                &[Err("refused"), Err("refused"), Ok(200)],
                1,
                3,
            ),
            ("busy to the end", &[Ok(503)], 0, 3),
            ("wrong token: no retry", &[Ok(401)], 0, 1),
            ("unreachable", &[Err("connection refused")], 0, 3),
        ];
        for (case, script, ok, attempts) in cases {
            let metrics = Metrics::new();
            let transport = ScriptedTransport::answering(script);
            let purger = EdgePurger::start_with(
                &config(&["http://127.0.0.1:1"]),
                "/api/",
                &metrics,
                fast_policy(),
                transport.clone(),
            )
            .unwrap();
            purger.after_write(&ResourceKey::new("notes", "a").unwrap());
            until(case, || series(&metrics, "ok") + series(&metrics, "failed") == 1).await;
            assert_eq!(series(&metrics, "ok"), ok, "{case}");
            assert_eq!(transport.sent().len(), attempts, "{case}");
        }
    }

    #[tokio::test]
    async fn a_slow_edge_gets_one_request_for_the_writes_that_waited_and_a_full_queue_drops() {
        let metrics = Metrics::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let transport = ScriptedTransport {
            gate: Some(Arc::clone(&gate)),
            ..ScriptedTransport::answering(&[Ok(200)])
        };
        let policy = PurgePolicy {
            timeout: Duration::from_secs(10),
            queue: 3,
            ..fast_policy()
        };
        let purger = EdgePurger::start_with(
            &config(&["http://127.0.0.1:1"]),
            "/api/",
            &metrics,
            policy,
            transport.clone(),
        )
        .unwrap();
        // The first write's request waits at the gate...
        purger.after_write(&ResourceKey::new("notes", "first").unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        // ...while three more fill the queue and a fifth is dropped.
        for id in ["b", "c", "b", "d"] {
            purger.after_write(&ResourceKey::new("notes", id).unwrap());
        }
        assert_eq!(series(&metrics, "failed"), 1, "the fifth found the queue full");
        gate.add_permits(10);
        until("all acknowledged", || series(&metrics, "ok") == 4).await;
        assert_eq!(
            transport
                .sent()
                .into_iter()
                .map(|(_, body)| body)
                .collect::<Vec<_>>(),
            [
                r#"{"urls":["/api/notes/first"]}"#,
                r#"{"urls":["/api/notes/b","/api/notes/c"]}"#
            ]
        );
    }

    #[tokio::test]
    async fn a_silent_edge_times_out() {
        /// Never answers.
        struct Silent;
        impl PurgeTransport for Silent {
            async fn post(&self, _endpoint: &Uri, _body: Bytes) -> Result<PurgeAnswer, PurgeError> {
                std::future::pending().await
            }
        }
        let metrics = Metrics::new();
        let policy = PurgePolicy {
            timeout: Duration::from_millis(20),
            ..fast_policy()
        };
        let purger = EdgePurger::start_with(
            &config(&["http://127.0.0.1:1"]),
            "/api/",
            &metrics,
            policy,
            Silent,
        )
        .unwrap();
        purger.after_write(&ResourceKey::new("notes", "a").unwrap());
        until("the purge was given up", || series(&metrics, "failed") == 1).await;
    }
}
