//! The admin listener of both servers: a separate plain-HTTP port for the
//! machines that watch a server rather than its clients, so that the
//! public listener answers every path as the site's own (an origin behind
//! the edge keeps its `/metrics`).
//!
//! | path | answer |
//! |---|---|
//! | `/metrics` | the server's Prometheus text exposition (`text/plain; version=0.0.4`) |
//! | `/healthz` | liveness for load balancers: `200 {"status":"serving"}`, and `503 {"status":"draining"}` from the moment graceful shutdown begins until the server exits, so a balancer takes the node out while it finishes the requests in flight |
//! | `/readyz` | readiness of what the server depends on ([`AdminTarget::readiness`]), bounded by [`READY_TIMEOUT`]: `200` with each check, or `503` problem details naming what failed; `503` while draining too |
//!
//! `GET` and `HEAD` only (else `405` with `Allow`), any other path `404`,
//! both as `application/problem+json`; every answer says `Cache-Control:
//! no-store`. The listener is a [`FrontDoor`] like the public one (the same
//! timeouts and header limit), with its own connection cap
//! ([`ADMIN_MAX_CONNECTIONS`]) and without TLS; it keeps answering while
//! the public listener drains and stops when the server stops
//! ([`serve_admin`]'s `stop`).
//!
//! Where it listens is the `[admin]` section ([`AdminSettings`]) or
//! `--admin-listen ADDR|off` ([`AdminListen`]); each server picks its
//! default (the edge on loopback `127.0.0.1:9081`, the origin off).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use revalidate_core::problem::Problem;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::accept::FrontDoor;
use crate::limits::ListenerConfig;
use crate::service::RequestBody;

/// The longest `/readyz` waits for the server's checks before it answers
/// `503`: a probe's own timeout is typically 1 s (Kubernetes'
/// `timeoutSeconds` default), and a database that takes longer to answer
/// `SELECT 1` is not ready to serve requests.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The admin listener's connection cap: a scraper and a few health
/// checkers need a handful, and the port must not take the descriptors
/// the public listener needs.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// The Prometheus text format's media type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where the admin listener listens, or that it is off: `ADDR` or `off`
/// (on the command line and in the config file alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminListen {
    /// No admin listener.
    Off,
    /// On this address (port 0: any free port, printed at start).
    On(SocketAddr),
}

impl AdminListen {
    /// The address, when on.
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::On(addr) => Some(addr),
        }
    }
}

/// Why an `--admin-listen` value or `[admin] listen` is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("admin listen must be an address such as 127.0.0.1:9081, or off; got {0:?}")]
pub struct AdminListenError(String);

impl FromStr for AdminListen {
    type Err = AdminListenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "off" {
            return Ok(Self::Off);
        }
        text.parse()
            .map(Self::On)
            .map_err(|_| AdminListenError(text.to_owned()))
    }
}

impl fmt::Display for AdminListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::On(addr) => addr.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for AdminListen {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The `[admin]` section of a server's config file.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// `"ADDR"` or `"off"` (`--admin-listen`).
    pub listen: AdminListen,
}

/// Whether the server is draining: set when graceful shutdown begins,
/// read by `/healthz` and `/readyz`. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Health {
    draining: Arc<AtomicBool>,
}

impl Health {
    /// Serving, not draining.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether graceful shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks the server as draining.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `shutdown`, which marks the server as draining the moment it
    /// resolves (before the front door stops accepting): give it to the
    /// public listener in place of `shutdown`.
    pub fn drain_on<F>(&self, shutdown: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let health = self.clone();
        async move {
            shutdown.await;
            health.start_draining();
        }
    }
}

/// One readiness check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked (`database`, `storage`, `origin`).
    pub name: &'static str,
    /// Whether it makes the server unready.
    pub ok: bool,
    /// What it found, for people: `"ok"`, or why not.
    pub detail: String,
}

impl Check {
    /// A check that passed.
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
        }
    }

    /// A check that failed, and why.
    pub fn failed(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// A boxed future of readiness checks (the trait stays object-safe).
pub type ChecksFuture<'a> = Pin<Box<dyn Future<Output = Vec<Check>> + Send + 'a>>;

/// What a server shows on its admin listener.
pub trait AdminTarget: Send + Sync + 'static {
    /// The Prometheus text exposition of its metrics.
    fn metrics(&self) -> String;

    /// Its readiness checks, each bounded by `budget` (the admin listener
    /// answers `503` at [`READY_TIMEOUT`] whatever they do).
    fn readiness(&self, budget: Duration) -> ChecksFuture<'_>;
}

/// What the admin listener does with a request, by method and path (pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    /// `/metrics`.
    Metrics,
    /// `/healthz`.
    Health,
    /// `/readyz`.
    Ready,
    /// A known path with a method other than `GET`/`HEAD`: `405`.
    MethodNotAllowed,
    /// Anything else: `404`.
    NotFound,
}

impl AdminRoute {
    /// Routes a request.
    pub fn of(method: &Method, path: &str) -> Self {
        let route = match path {
            "/metrics" => Self::Metrics,
            "/healthz" => Self::Health,
            "/readyz" => Self::Ready,
            _ => return Self::NotFound,
        };
        if *method == Method::GET || *method == Method::HEAD {
            route
        } else {
            Self::MethodNotAllowed
        }
    }
}

/// Serves the admin endpoints of `target` on `listener` until `stop`
/// resolves: give it a future that resolves after the public listener has
/// finished draining, so that `/healthz` says `503` throughout the drain.
pub async fn serve_admin<T: AdminTarget + ?Sized>(
    listener: TcpListener,
    config: ListenerConfig,
    target: Arc<T>,
    health: Health,
    stop: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut config = config;
    config.connections.max_connections = config.connections.max_connections.min(ADMIN_MAX_CONNECTIONS);
    let make_service = move |_| {
        let target = Arc::clone(&target);
        let health = health.clone();
        hyper::service::service_fn(move |request: Request<RequestBody>| {
            let target = Arc::clone(&target);
            let health = health.clone();
            async move { Ok::<_, Infallible>(respond(&*target, &health, &request).await) }
        })
    };
    FrontDoor::new(listener, config).serve(make_service, stop).await
}

/// An admin listener beside a server's public one: [`serve_admin`] on a
/// task of its own, stopped by [`AdminServer::stop`] once the public
/// listener has drained (`/healthz` says `503` in between, through
/// [`Health::drain_on`] on the server's shutdown).
#[derive(Debug)]
pub struct AdminServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl AdminServer {
    /// Starts serving `target` on `listener` with `config`'s limits.
    pub fn spawn<T: AdminTarget + ?Sized>(
        listener: TcpListener,
        config: ListenerConfig,
        target: Arc<T>,
        health: Health,
    ) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve_admin(listener, config, target, health, stopped));
        Self { stop, task }
    }

    /// Stops the admin listener and waits until it has: what serving it
    /// failed with, if anything (a panic of its task as an error too).
    pub async fn stop(self) -> io::Result<()> {
        drop(self.stop);
        self.task.await.map_err(io::Error::other)?
    }
}

/// The answer to one admin request.
pub async fn respond<T: AdminTarget + ?Sized, B>(
    target: &T,
    health: &Health,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    let mut response = match AdminRoute::of(request.method(), request.uri().path()) {
        AdminRoute::Metrics => {
            let mut response = Response::new(Full::new(Bytes::from(target.metrics())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        AdminRoute::Health => {
            let (status, word) = match health.is_draining() {
                false => (StatusCode::OK, "serving"),
                true => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
            };
            json(status, &serde_json::json!({ "status": word }))
        }
        AdminRoute::Ready => ready(target, health).await,
        AdminRoute::MethodNotAllowed => problem(
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .with_detail("The admin endpoints answer GET and HEAD.")
                .with_header(ALLOW, HeaderValue::from_static("GET, HEAD")),
        ),
        AdminRoute::NotFound => problem(
            Problem::new(StatusCode::NOT_FOUND, "Not Found")
                .with_detail("The admin listener serves /metrics, /healthz and /readyz."),
        ),
    };
    // Each answer describes this moment.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/readyz`: draining, the checks, or their time running out.
async fn ready<T: AdminTarget + ?Sized>(target: &T, health: &Health) -> Response<Full<Bytes>> {
    if health.is_draining() {
        return problem(
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Not Ready")
                .with_detail("The server is shutting down gracefully (draining).")
                .with_member("status", "draining"),
        );
    }
    // The checks get most of the time; the rest is a margin for answering.
    let budget = READY_TIMEOUT * 9 / 10;
    let Ok(checks) = tokio::time::timeout(READY_TIMEOUT, target.readiness(budget)).await else {
        return problem(
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Not Ready")
                .with_detail(format!(
                    "The readiness checks did not finish within {} ms.",
                    READY_TIMEOUT.as_millis()
                ))
                .with_member("status", "unready"),
        );
    };
    let members: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|check| (check.name.to_owned(), check.detail.clone().into()))
        .collect();
    let failed: Vec<String> = checks
        .iter()
        .filter(|check| !check.ok)
        .map(|check| format!("{}: {}", check.name, check.detail))
        .collect();
    if failed.is_empty() {
        return json(
            StatusCode::OK,
            &serde_json::json!({ "status": "ready", "checks": members }),
        );
    }
    problem(
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Not Ready")
            .with_detail(failed.join("; "))
            .with_member("status", "unready")
            .with_member("checks", members),
    )
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn problem(problem: Problem) -> Response<Full<Bytes>> {
    problem
        .into_response::<Vec<u8>>()
        .map(|body| Full::new(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn admin_routes() {
        let cases = [
            (Method::GET, "/metrics", AdminRoute::Metrics),
            (Method::HEAD, "/metrics", AdminRoute::Metrics),
            (Method::GET, "/healthz", AdminRoute::Health),
            (Method::HEAD, "/readyz", AdminRoute::Ready),
            (Method::POST, "/healthz", AdminRoute::MethodNotAllowed),
            (Method::DELETE, "/metrics", AdminRoute::MethodNotAllowed),
            (Method::GET, "/", AdminRoute::NotFound),
            (Method::GET, "/metrics/", AdminRoute::NotFound),
            (Method::POST, "/other", AdminRoute::NotFound),
        ];
        for (method, path, expected) in cases {
            assert_eq!(AdminRoute::of(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn admin_listen_is_an_address_or_off() {
        assert_eq!("off".parse::<AdminListen>(), Ok(AdminListen::Off));
        assert_eq!(
            "127.0.0.1:9081".parse::<AdminListen>(),
            Ok(AdminListen::On(SocketAddr::from(([127, 0, 0, 1], 9081))))
        );
        for bad in [
            "",
            "OFF",
            "localhost:9081",
            "127.0.0.1",
            "9081",
            "127.0.0.1:99999",
        ] {
            let error = bad.parse::<AdminListen>().unwrap_err().to_string();
            assert!(error.contains("or off"), "{bad}: {error}");
        }
        let settings: AdminSettings = toml::from_str("listen = \"off\"").unwrap();
        assert_eq!(settings.listen, AdminListen::Off);
        let error = toml::from_str::<AdminSettings>("listen = \"nowhere\"").unwrap_err();
        assert!(error.to_string().contains("or off"), "{error}");
    }
}
