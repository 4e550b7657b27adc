//! Routing, and the listeners with their graceful shutdown (through the
//! front door of `revalidate-listener`): the thin IO shell around the
//! static files and the resource API. With an admin listener
//! ([`OriginAdmin`], [`revalidate_listener::admin`]) `/metrics`,
//! `/healthz` and `/readyz` (the database pinged) are served there, and
//! `/metrics` leaves the public listener.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{Method, Request, StatusCode};
use revalidate_listener::admin::ChecksFuture;
use revalidate_listener::reload::{ReloadRequests, spawn_reloader};
use revalidate_listener::{
    AccessLog, AdminServer, AdminTarget, Check, FrontDoor, Health, ListenerConfig, OperatorSignals,
    RequestBody, TlsListener,
};
use revalidate_store::Store;
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

use crate::metrics::{Metrics, Track, TrackLayer};
use crate::problem::Problem;
use crate::static_files::{Answer, StaticFiles};

/// Assembles the application: `/metrics` (unless it has its own listener),
/// the API under its prefix, everything else static (a 404 without a
/// static tree); every request counted.
pub fn app(
    api: Router,
    api_prefix: &str,
    static_files: Option<StaticFiles>,
    metrics: &Metrics,
    metrics_inline: bool,
) -> App {
    App {
        inner: Arc::new(AppInner {
            routes: ArcSwap::from_pointee(Routes::new(api, api_prefix, static_files)),
            metrics: metrics.clone(),
            metrics_inline,
        }),
    }
}

/// The whole origin as one tower service, cheap to clone.
///
/// The dispatch is two string comparisons rather than an axum router: a
/// static file answered from the index (the bulk of the traffic) goes from
/// hyper to [`StaticFiles::respond_now`] without a boxed future, a router
/// lookup or a body conversion. The API keeps its axum router.
///
/// The routes (the API, its prefix, the static files) can be replaced
/// while serving ([`App::reroute`], a configuration reload): each request
/// takes the routes in force when it arrives and finishes on them.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<AppInner>,
}

#[derive(Debug)]
struct AppInner {
    routes: ArcSwap<Routes>,
    metrics: Metrics,
    metrics_inline: bool,
}

/// What a configuration reload can change of the application.
#[derive(Debug)]
struct Routes {
    api: Router,
    prefix: Box<str>,
    static_files: Option<StaticFiles>,
}

impl Routes {
    fn new(api: Router, api_prefix: &str, static_files: Option<StaticFiles>) -> Self {
        // `nest` takes the prefix without its trailing slash and serves both
        // `/api` and `/api/…` from the nested router.
        let prefix = api_prefix.trim_end_matches('/');
        Self {
            api: Router::new().nest(prefix, api),
            prefix: prefix.into(),
            static_files,
        }
    }

    fn is_api(&self, path: &str) -> bool {
        path.strip_prefix(&*self.prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

impl App {
    /// Puts new routes in force (as [`app`] takes them): requests that
    /// arrive from now on take them; requests already running finish on
    /// the old ones.
    pub fn reroute(&self, api: Router, api_prefix: &str, static_files: Option<StaticFiles>) {
        self.inner
            .routes
            .store(Arc::new(Routes::new(api, api_prefix, static_files)));
    }

    /// Answers one request (the service without the request counting of
    /// [`App::into_service`]).
    fn dispatch<B>(&self, request: Request<B>) -> AppFuture
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let path = request.uri().path();
        let routes = self.inner.routes.load();
        if routes.is_api(path) {
            let api = routes.api.clone();
            return AppFuture::api(Box::pin(api.oneshot(request.map(axum::body::Body::new))));
        }
        if self.inner.metrics_inline && path == "/metrics" {
            let response = if matches!(*request.method(), Method::GET | Method::HEAD) {
                self.inner.metrics.response()
            } else {
                Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                    .with_header(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"))
                    .into_response()
            };
            return AppFuture::ready(response);
        }
        let Some(static_files) = &routes.static_files else {
            return AppFuture::ready(
                Problem::new(StatusCode::NOT_FOUND, "Not Found")
                    .with_detail("Nothing is served at this path.")
                    .into_response(),
            );
        };
        match static_files.respond_now_counting(
            request.method(),
            request.uri(),
            request.headers(),
            Some(&self.inner.metrics),
        ) {
            Answer::Ready(response) => AppFuture::ready(response),
            Answer::Blocking(blocking) => AppFuture::blocking(Box::pin(blocking.run())),
        }
    }

    /// The service to serve: [`App`] with every request counted.
    pub fn into_service(self) -> Track<App> {
        let metrics = self.inner.metrics.clone();
        TrackLayer::new(metrics).layer(self)
    }

    /// [`App::into_service`] as a hyper service, what [`serve`] runs:
    /// hyper calls it by reference, so a request costs no service clone
    /// and no readiness state machine (tower's `Oneshot`), a few percent
    /// of a 304.
    fn into_hyper_service(self) -> HyperApp {
        HyperApp { app: self }
    }
}

/// See [`App::into_hyper_service`].
#[derive(Clone, Debug)]
struct HyperApp {
    app: App,
}

impl hyper::service::Service<Request<RequestBody>> for HyperApp {
    type Response = Response;
    type Error = Infallible;
    type Future = crate::metrics::TrackFuture<AppFuture>;

    fn call(&self, request: Request<RequestBody>) -> Self::Future {
        let method = request.method().clone();
        self.app
            .inner
            .metrics
            .track(&method, || self.app.dispatch(request))
    }
}

impl<B> tower::Service<Request<B>> for App
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.dispatch(request)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`App`].
    pub struct AppFuture {
        #[pin]
        state: AppFutureState,
    }
}

pin_project_lite::pin_project! {
    #[project = AppFutureProjection]
    enum AppFutureState {
        // An API request in its router; boxed, as the router's future is
        // large and the static files' answers would otherwise move it
        // around too.
        Api { future: Pin<Box<tower::util::Oneshot<Router, Request<axum::body::Body>>>> },
        // Answered already; taken when polled.
        Ready { response: Option<Response> },
        // A static file on a blocking thread.
        Blocking { future: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl AppFuture {
    fn api(future: Pin<Box<tower::util::Oneshot<Router, Request<axum::body::Body>>>>) -> Self {
        Self {
            state: AppFutureState::Api { future },
        }
    }

    fn ready(response: Response) -> Self {
        Self {
            state: AppFutureState::Ready {
                response: Some(response),
            },
        }
    }

    fn blocking(future: Pin<Box<dyn Future<Output = Response> + Send>>) -> Self {
        Self {
            state: AppFutureState::Blocking { future },
        }
    }
}

impl std::fmt::Debug for AppFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppFuture")
    }
}

impl Future for AppFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            AppFutureProjection::Api { future } => future.as_mut().poll(cx),
            AppFutureProjection::Ready { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
            AppFutureProjection::Blocking { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

/// What the origin shows on its admin listener: its metrics, and whether
/// its database answers.
#[derive(Clone, Debug)]
pub struct OriginAdmin {
    metrics: Metrics,
    store: Option<revalidate_store::AnyStore>,
}

impl OriginAdmin {
    /// The admin endpoints of an origin counting into `metrics` with the
    /// database `store` (`None`: no database to check).
    pub fn new(metrics: &Metrics, store: Option<revalidate_store::AnyStore>) -> Self {
        Self {
            metrics: metrics.clone(),
            store,
        }
    }
}

impl AdminTarget for OriginAdmin {
    fn metrics(&self) -> String {
        self.metrics.render()
    }

    /// The database answers a trivial query (`SELECT 1`) within `budget`.
    fn readiness(&self, budget: Duration) -> ChecksFuture<'_> {
        Box::pin(async move {
            let Some(store) = &self.store else {
                return Vec::new();
            };
            let backend = store.backend();
            let check = match tokio::time::timeout(budget, store.ping()).await {
                Ok(Ok(())) => Check::ok("database", format!("ok ({backend})")),
                Ok(Err(e)) => Check::failed("database", format!("{backend}: {e}")),
                Err(_) => Check::failed(
                    "database",
                    format!("{backend}: no answer within {} ms", budget.as_millis()),
                ),
            };
            vec![check]
        })
    }
}

/// Serves `app` on `listener` (and the admin endpoints on their own
/// listener, if any) with the default connection limits until `shutdown`
/// resolves; see [`AppServer`] for the rest.
pub async fn serve(
    listener: TcpListener,
    app: App,
    admin: Option<(TcpListener, OriginAdmin)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    AppServer::new(listener, app).admin(admin).serve(shutdown).await
}

/// The application's listeners, set up one piece at a time: the public
/// one (and its front door's limits), a TLS one, the admin one, an access
/// log. [`AppServer::serve`] serves until shutdown.
#[must_use = "an AppServer does nothing until served"]
pub struct AppServer {
    listener: TcpListener,
    app: App,
    front_door: ListenerConfig,
    tls: Option<TlsListener>,
    admin: Option<(TcpListener, OriginAdmin)>,
    access_log: Option<AccessLog>,
}

impl AppServer {
    /// `app` on `listener`, with the default front door and nothing else.
    pub fn new(listener: TcpListener, app: App) -> Self {
        Self {
            listener,
            app,
            front_door: ListenerConfig::default(),
            tls: None,
            admin: None,
            access_log: None,
        }
    }

    /// The front door's limits ([`revalidate_listener::FrontDoor`]: header,
    /// idle and send timeouts, the connection cap, lingering close,
    /// counted in `revalidate_connections_*`).
    pub fn front_door(mut self, front_door: ListenerConfig) -> Self {
        self.front_door = front_door;
        self
    }

    /// The same application on `tls` too (HTTP/2 and HTTP/1.1 by ALPN, see
    /// [`revalidate_listener::tls`]), under the same connection cap and
    /// counters.
    pub fn tls(mut self, tls: Option<TlsListener>) -> Self {
        self.tls = tls;
        self
    }

    /// The admin endpoints on their own listener: its `/healthz` answers
    /// `503` from the moment shutdown begins until the public listener has
    /// drained, and it stops last.
    pub fn admin(mut self, admin: Option<(TcpListener, OriginAdmin)>) -> Self {
        self.admin = admin;
        self
    }

    /// Each request of the application's listeners (not the admin
    /// listener's) logged to `access_log`, written out when serving ends.
    pub fn access_log(mut self, access_log: Option<AccessLog>) -> Self {
        self.access_log = access_log;
        self
    }

    /// Serves until `shutdown` resolves; then stops accepting, closes idle
    /// connections and lets requests in flight finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Self {
            listener,
            app,
            front_door,
            tls,
            admin,
            access_log,
        } = self;
        let health = Health::new();
        let admin = admin.map(|(listener, target)| {
            AdminServer::spawn(listener, front_door, Arc::new(target), health.clone())
        });
        app.inner.metrics.spawn_upkeep();
        let counters = app.inner.metrics.connection_metrics();
        let service = app.into_hyper_service();
        let mut door = FrontDoor::new(listener, front_door).with_metrics(counters);
        if let Some(tls) = tls {
            door = door.with_tls(tls);
        }
        if let Some(log) = access_log {
            door = door.with_access_log(log);
        }
        let served = door
            .serve(move |_| service.clone(), health.drain_on(shutdown))
            .await;
        // The public listener has drained: the admin listener stops too.
        if let Some(admin) = admin {
            admin.stop().await?;
        }
        served
    }
}

/// Binds a listener, with the address in the error message.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened or migrated.
    #[error("cannot open the store: {0}")]
    Store(#[from] revalidate_store::StoreError),
    /// The static tree or the data directory is unusable.
    #[error(transparent)]
    Static(#[from] crate::static_files::StaticError),
    /// The TLS listener could not start (a certificate or key unusable).
    #[error(transparent)]
    Tls(#[from] revalidate_listener::TlsError),
    /// A listener could not be bound, or serving failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// An origin ready to serve: the store is open and migrated, the static
/// tree indexed.
#[derive(Debug)]
pub struct Origin {
    app: App,
    admin: Option<OriginAdmin>,
    front_door: ListenerConfig,
    parts: crate::reload::Parts,
    /// The configuration it was opened with, and its edge purger: what a
    /// reload starts from.
    config: crate::config::OriginConfig,
    edge_purge: Option<crate::edge_purge::EdgePurger>,
    access_log: Option<AccessLog>,
    /// With `[edge_purge]`: the watch that purges changed static files.
    _static_watch: Option<crate::static_files::StaticWatcher>,
}

/// The API's routes as `config` sets them, over the store and clock of
/// `parts`, purging through `edge_purge`: at start and at each reload.
pub(crate) fn api_router(
    config: &crate::config::OriginConfig,
    parts: &crate::reload::Parts,
    edge_purge: Option<crate::edge_purge::EdgePurger>,
) -> Router {
    let settings = crate::api::ApiSettings {
        prefix: config.api.prefix.clone(),
        body_limit: config.api.body_limit,
        require_preconditions: config.api.require_preconditions.clone(),
        body_read_timeout: Duration::from_millis(config.api.body_read_timeout_ms),
        clock: Arc::clone(&parts.clock),
    };
    // With edge purges, the writes record theirs in the store's outbox.
    let store = edge_purge.as_ref().map_or_else(
        || parts.store.clone(),
        crate::edge_purge::EdgePurger::writing_store,
    );
    crate::api::router_with_edge_purge(store, settings, edge_purge)
}

/// The edge purger of `config`'s `[edge_purge]`, started over `store`
/// (`None` without one).
pub(crate) async fn start_edge_purge(
    config: &crate::config::OriginConfig,
    metrics: &Metrics,
    store: &revalidate_store::AnyStore,
) -> Result<Option<crate::edge_purge::EdgePurger>, crate::edge_purge::StartPurgeError> {
    match &config.edge_purge {
        Some(edges) => Ok(Some(
            crate::edge_purge::EdgePurger::start(edges, &config.api.prefix, metrics, store).await?,
        )),
        None => Ok(None),
    }
}

impl Origin {
    /// Opens the store (running migrations), opens and indexes the static
    /// tree (a progress bar on a terminal for the first run), and builds
    /// the routes.
    pub async fn open(config: &crate::config::OriginConfig) -> Result<Self, StartError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", config.data.display())))?;
        let store = revalidate_store::open_with(&config.database_url(), config.store_options()).await?;
        let static_files = crate::static_files::StaticFiles::open(
            crate::static_files::StaticConfig::from_origin_config(config),
        )?;
        let indexing = static_files.clone();
        let summary = tokio::task::spawn_blocking(move || indexing.index_all(true))
            .await
            .map_err(io::Error::other)??;
        tracing::info!(
            files = summary.files,
            bytes = summary.bytes,
            hashed = summary.hashed,
            root = %static_files.root().display(),
            "static tree indexed"
        );
        let metrics = Metrics::new();
        let parts = crate::reload::Parts {
            store,
            static_files,
            metrics,
            clock: crate::clock::system_clock(),
        };
        let edge_purge = start_edge_purge(config, &parts.metrics, &parts.store).await?;
        // Changed static files are purged at the edges too.
        let static_watch = match &edge_purge {
            Some(purger) => Some(crate::edge_purge::watch_static_files(
                &parts.static_files,
                purger,
            )?),
            None => None,
        };
        let app = app(
            api_router(config, &parts, edge_purge.clone()),
            &config.api.prefix,
            Some(parts.static_files.clone()),
            &parts.metrics,
            config.admin_listen().is_none(),
        );
        let admin = config
            .admin_listen()
            .map(|_| OriginAdmin::new(&parts.metrics, Some(parts.store.clone())));
        Ok(Self {
            app,
            admin,
            front_door: config.listener(),
            parts,
            config: config.clone(),
            edge_purge,
            access_log: None,
            _static_watch: static_watch,
        })
    }

    /// The reload of its configuration, reading the new one with `read`
    /// ([`crate::reload`]), for
    /// [`spawn_reloader`].
    pub fn reloader(&self, read: crate::reload::ReadConfig) -> crate::reload::ConfigReload {
        crate::reload::ConfigReload::new(
            self.config.clone(),
            read,
            crate::reload::NewRoutes::new(self.app.clone(), self.parts.clone(), self.edge_purge.clone()),
        )
    }

    /// Logs the requests it serves to `log`.
    pub fn with_access_log(mut self, log: AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// The application (for tests and embedding); serve it with [`serve`].
    pub fn app(&self) -> App {
        self.app.clone()
    }

    /// Serves (with the configuration's connection limits) until
    /// `shutdown`, then saves the ETag index and closes the store; the
    /// admin endpoints on `admin_listener` when the configuration has an
    /// admin listener (otherwise `/metrics` is on `listener`).
    pub async fn serve(
        self,
        listener: TcpListener,
        admin_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        self.serve_tls(listener, None, admin_listener, shutdown).await
    }

    /// [`Origin::serve`], with a TLS listener beside the cleartext one.
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        tls: Option<TlsListener>,
        admin_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let admin = match (admin_listener, self.admin) {
            (Some(listener), Some(admin)) => Some((listener, admin)),
            _ => None,
        };
        let served = AppServer::new(listener, self.app)
            .front_door(self.front_door)
            .tls(tls)
            .admin(admin)
            .access_log(self.access_log)
            .serve(shutdown)
            .await;
        if let Err(e) = self.parts.static_files.persist_index() {
            tracing::warn!(error = %e, "could not save the ETag index");
        }
        self.parts.store.close().await;
        served
    }
}

/// `revalidate serve`: opens everything, binds the listeners, prints where
/// it listens, and serves until `shutdown`.
pub async fn run(
    config: crate::config::OriginConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_reloadable(config, None, shutdown).await
}

/// [`run`], and with `read` the configuration is read again with it and
/// put in force on each `SIGHUP` ([`crate::reload`]).
pub async fn run_reloadable(
    config: crate::config::OriginConfig,
    read: Option<crate::reload::ReadConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    config.validate()?;
    // SIGHUP and SIGUSR1 are handled only by a server that has something
    // to reload or reopen; otherwise they keep their default action.
    let signals = match config.tls.enabled() || config.access_log.enabled() || read.is_some() {
        true => Some(OperatorSignals::install()?),
        false => None,
    };
    // Certificates and the log file first: a bad one is an error before
    // the store is opened.
    let tls = match &signals {
        Some(signals) if config.tls.enabled() => Some(TlsListener::bind_with(&config.tls, signals).await?),
        _ => None,
    };
    let access_log = match config.access_log.enabled() {
        true => Some(AccessLog::open(&config.access_log, signals.as_ref())?),
        false => None,
    };
    let mut origin = Origin::open(&config).await?;
    if let Some(log) = access_log {
        origin = origin.with_access_log(log);
    }
    // Answers SIGHUP until serving ends (dropped with this function).
    let _reloader = match (read, &signals) {
        (Some(read), Some(signals)) => {
            let requests =
                ReloadRequests::install(Some(signals), &[], revalidate_listener::reload::DEBOUNCE)?;
            Some(spawn_reloader(requests, Arc::new(origin.reloader(read))))
        }
        _ => None,
    };
    let listener = bind(config.listen).await?;
    let admin_listener = match config.admin_listen() {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let addr = listener.local_addr()?;
    // The lines scripts and tests read to find the ports of `127.0.0.1:0`,
    // the public one first, in one write (see the edge's `run`).
    let mut lines = format!("revalidate: listening on http://{addr}\n");
    if let Some(tls) = &tls {
        lines += &format!("revalidate: listening on https://{}\n", tls.local_addr()?);
    }
    if let Some(admin) = &admin_listener {
        lines += &format!(
            "revalidate: origin admin listening on http://{}\n",
            admin.local_addr()?
        );
    }
    print!("{lines}");
    tracing::info!(%addr, tls = ?tls.as_ref().and_then(|tls| tls.local_addr().ok()), admin = ?admin_listener.as_ref().and_then(|admin| admin.local_addr().ok()), store = origin.parts.store.backend(), "serving");
    origin.serve_tls(listener, tls, admin_listener, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An idle keep-alive connection must not hold up the shutdown: its
    /// task registered for the stop signal on its first poll and is woken
    /// by it, without polling the signal on every request.
    #[tokio::test]
    async fn shutdown_closes_an_idle_keep_alive_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(Router::new(), "/api", None, &Metrics::new(), true);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, None, async move {
            let _ = stop_rx.await;
        }));

        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        for _ in 0..3 {
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            // Drain the rest of this response.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut rest = [0u8; 65536];
            let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut rest)).await;
        }

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returned although a keep-alive connection was idle")
            .unwrap()
            .unwrap();
        // Closed by the server: end of stream (or a reset), not a hang.
        let mut rest = Vec::new();
        let _closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .expect("the idle connection was not closed");
    }
}
