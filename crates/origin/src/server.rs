//! Listeners, routing and graceful shutdown: the thin IO shell around the
//! static files and the resource API.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{Metrics, track};

/// Assembles the application: `/metrics` (unless it has its own listener),
/// the API under its prefix, everything else static; every request counted.
pub fn app(
    api: Router,
    api_prefix: &str,
    static_files: Router,
    metrics: &Metrics,
    metrics_inline: bool,
) -> Router {
    // `nest` takes the prefix without its trailing slash and serves both
    // `/api` and `/api/…` from the nested router.
    let prefix = api_prefix.trim_end_matches('/');
    let mut app = Router::new().nest(prefix, api).merge(static_files);
    if metrics_inline {
        let m = metrics.clone();
        app = app.route("/metrics", get(move || async move { m.response() }));
    }
    app.layer(axum::middleware::from_fn_with_state(metrics.clone(), track))
}

/// A router that serves only `/metrics`, for a separate listener.
pub fn metrics_app(metrics: &Metrics) -> Router {
    let m = metrics.clone();
    Router::new().route("/metrics", get(move || async move { m.response() }))
}

/// Serves `app` on `listener` (and `metrics` on its own listener, if any)
/// until `shutdown` resolves; then stops accepting and lets requests in
/// flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    metrics: Option<(TcpListener, Router)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let wait_for = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let metrics_task = metrics.map(|(listener, router)| {
        let rx = stop_rx.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(wait_for(rx))
                .await
        })
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(wait_for(stop_rx))
        .await;
    if let Some(task) = metrics_task {
        task.await.map_err(io::Error::other)??;
    }
    result
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
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
    /// A listener could not be bound, or serving failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// An origin ready to serve: the store is open and migrated, the static
/// tree indexed.
#[derive(Debug)]
pub struct Origin {
    app: Router,
    metrics_app: Option<Router>,
    store: revalidate_store::AnyStore,
    static_files: crate::static_files::StaticFiles,
}

impl Origin {
    /// Opens the store (running migrations), opens and indexes the static
    /// tree (a progress bar on a terminal for the first run), and builds
    /// the routes.
    pub async fn open(config: &crate::config::OriginConfig) -> Result<Self, StartError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", config.data.display())))?;
        let store = revalidate_store::open(&config.database_url()).await?;
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
        let settings = crate::api::ApiSettings {
            prefix: config.api.prefix.clone(),
            body_limit: config.api.body_limit,
            require_preconditions: config.api.require_preconditions.clone(),
        };
        let app = app(
            crate::api::router(store.clone(), settings),
            &config.api.prefix,
            static_files.router(),
            &metrics,
            config.metrics_listen.is_none(),
        );
        let metrics_app = config.metrics_listen.map(|_| metrics_app(&metrics));
        Ok(Self {
            app,
            metrics_app,
            store,
            static_files,
        })
    }

    /// The application router (for tests and embedding).
    pub fn router(&self) -> Router {
        self.app.clone()
    }

    /// Serves until `shutdown`, then saves the ETag index and closes the
    /// store.
    pub async fn serve(
        self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let metrics = match (metrics_listener, self.metrics_app) {
            (Some(listener), Some(app)) => Some((listener, app)),
            _ => None,
        };
        let served = serve(listener, self.app, metrics, shutdown).await;
        if let Err(e) = self.static_files.persist_index() {
            tracing::warn!(error = %e, "could not save the ETag index");
        }
        self.store.close().await;
        served
    }
}

/// `revalidate serve`: opens everything, binds the listeners, prints where
/// it listens, and serves until `shutdown`.
pub async fn run(
    config: crate::config::OriginConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let origin = Origin::open(&config).await?;
    let listener = bind(config.listen).await?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let addr = listener.local_addr()?;
    // The one line scripts and tests read to find the port of `--listen 127.0.0.1:0`.
    println!("revalidate: listening on http://{addr}");
    if let Some(metrics) = &metrics_listener {
        println!("revalidate: metrics on http://{}/metrics", metrics.local_addr()?);
    }
    tracing::info!(%addr, store = origin.store.backend(), "serving");
    origin.serve(listener, metrics_listener, shutdown).await?;
    Ok(())
}
