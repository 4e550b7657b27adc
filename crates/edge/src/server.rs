//! The listeners (through the front door of `revalidate-listener`) and
//! graceful shutdown: the IO shell around [`Edge`]. Beside the public
//! listener (and the TLS one) runs the admin listener
//! ([`revalidate_listener::admin`]: `/metrics`, `/healthz`, `/readyz`),
//! which keeps answering, `/healthz` with `503`, while the public one
//! drains.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use revalidate_listener::admin::ChecksFuture;
use revalidate_listener::{
    AccessLog, AdminServer, AdminTarget, Check, FrontDoor, Health, ListenerConfig, OperatorSignals, Peer,
    RequestBody, TlsListener,
};
use tokio::net::TcpListener;

use crate::clock::SystemClock;
use crate::config::{ConfigError, EdgeConfig};
use crate::entry::DecodedEntry;
use crate::proxy::Edge;
use crate::storage::{
    AnyStorage, HybridConfig, HybridStorage, MemoryConfig, MemoryStorage, Storage, StorageError,
};

/// Why the edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cache storage could not be opened.
    #[error("cannot open the cache: {0}")]
    Storage(#[from] StorageError),
    /// The TLS listener could not start (a certificate or key unusable).
    #[error(transparent)]
    Tls(#[from] revalidate_listener::TlsError),
    /// A listener could not be bound, or serving failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Opens the storage a configuration asks for: memory only, or memory in
/// front of disk with `cache_dir`.
pub async fn open_storage(config: &EdgeConfig) -> Result<AnyStorage<DecodedEntry>, StartError> {
    let sizes = config.sizes()?;
    Ok(match &config.cache_dir {
        Some(dir) => {
            let mut hybrid = HybridConfig::new(dir, sizes.memory, sizes.disk);
            hybrid.max_object_size = object_limit(sizes.max_object_size, sizes.memory);
            HybridStorage::open(hybrid).await?.into()
        }
        None => {
            let mut memory = MemoryConfig::new(sizes.memory);
            memory.max_object_size = object_limit(sizes.max_object_size, sizes.memory);
            MemoryStorage::new(memory)?.into()
        }
    })
}

/// One object may take at most an eighth of the memory tier, so that it
/// cannot flush a whole shard (see the storage docs).
fn object_limit(configured: u64, memory: u64) -> u64 {
    configured.min(memory / 8).max(1)
}

/// The edge a configuration describes, on the system clock.
pub async fn open(config: &EdgeConfig) -> Result<Edge, StartError> {
    config.validate()?;
    let storage = open_storage(config).await?;
    let settings = config.edge_settings()?;
    Ok(Edge::new(settings, storage, Arc::new(SystemClock)))
}

/// Serves `edge` on `listener` with the default connection limits and
/// `max_header_bytes` until `shutdown` resolves; see [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    edge: Edge,
    max_header_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let front_door = ListenerConfig {
        max_header_bytes,
        ..ListenerConfig::default()
    };
    serve_with(listener, edge, front_door, shutdown).await
}

/// Serves `edge` on `listener` through the front door
/// ([`revalidate_listener::FrontDoor`]: header, idle and send timeouts,
/// the connection cap, lingering close, counted in
/// `revalidate_edge_connections_*`) until `shutdown` resolves; then stops
/// accepting, lets requests in flight finish and closes the storage. A
/// request head above `max_header_bytes` gets `431` from hyper.
pub async fn serve_with(
    listener: TcpListener,
    edge: Edge,
    front_door: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_tls(listener, None, edge, front_door, shutdown).await
}

/// [`serve_with`], and the same edge on `tls` (HTTP/2 and HTTP/1.1 by
/// ALPN, see [`revalidate_listener::tls`]) when given, under the same
/// connection cap and counters; requests that came over TLS reach the
/// origin with `X-Forwarded-Proto: https`.
pub async fn serve_with_tls(
    listener: TcpListener,
    tls: Option<TlsListener>,
    edge: Edge,
    front_door: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_admin(listener, tls, None, edge, front_door, shutdown).await
}

/// [`serve_with_tls`], and the admin endpoints on `admin` when given (with
/// the front door's limits; see [`revalidate_listener::admin`]): `/healthz`
/// answers `503` from the moment `shutdown` resolves until the public
/// listener has drained, then the admin listener stops too.
pub async fn serve_with_admin(
    listener: TcpListener,
    tls: Option<TlsListener>,
    admin: Option<TcpListener>,
    edge: Edge,
    front_door: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_logged(listener, tls, admin, edge, front_door, None, shutdown).await
}

/// [`serve_with_admin`], logging each request to `access_log` (with the
/// cache status and the origin's status and time), which is written out
/// when serving ends.
pub async fn serve_logged(
    listener: TcpListener,
    tls: Option<TlsListener>,
    admin: Option<TcpListener>,
    edge: Edge,
    front_door: ListenerConfig,
    access_log: Option<AccessLog>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let edge = edge.with_upstream_in_responses(access_log.is_some());
    let health = Health::new();
    let admin = admin.map(|admin| {
        let target = Arc::new(EdgeAdmin { edge: edge.clone() });
        AdminServer::spawn(admin, front_door, target, health.clone())
    });
    edge.metrics().spawn_upkeep();
    let health_checks = edge.spawn_health_checks();
    let shutdown = health.drain_on(shutdown);
    let (plain, secure) = (edge.clone(), edge.for_tls());
    let make_service = move |peer: Peer| {
        let edge = if peer.tls { secure.clone() } else { plain.clone() };
        let addr: SocketAddr = peer.addr;
        hyper::service::service_fn(move |request: Request<RequestBody>| edge.respond(request, Some(addr)))
    };
    let mut door = FrontDoor::new(listener, front_door)
        .with_metrics(edge.metrics().connection_metrics())
        // A client's request may hold a connection to the origin as well.
        .with_fds_per_connection(2);
    if let Some(tls) = tls {
        door = door.with_tls(tls);
    }
    if let Some(log) = access_log {
        door = door.with_access_log(log);
    }
    let served = door.serve_peers(make_service, shutdown).await;
    if let Some(checks) = health_checks {
        checks.stop().await;
    }
    // The public listener has drained: the admin listener stops too.
    if let Some(admin) = admin
        && let Err(e) = admin.stop().await
    {
        tracing::warn!(error = %e, "the admin listener failed");
    }
    if let Err(e) = edge.storage().close().await {
        tracing::warn!(error = %e, "could not close the cache storage cleanly");
    }
    served
}

/// What the edge shows on its admin listener.
struct EdgeAdmin {
    edge: Edge,
}

impl AdminTarget for EdgeAdmin {
    fn metrics(&self) -> String {
        self.edge.render_metrics()
    }

    /// The storage answers (its statistics are read); the origin's last
    /// answer is reported but never fails readiness (see the config docs:
    /// an origin down would take every edge of a pool out at once, while
    /// each still serves what it holds).
    fn readiness(&self, _budget: Duration) -> ChecksFuture<'_> {
        Box::pin(async move {
            let stats = self.edge.storage().stats();
            let storage = Check::ok(
                "storage",
                format!(
                    "ok: {} objects, {} bytes in memory",
                    stats.memory_entries, stats.memory_bytes
                ),
            );
            let origin = match self.edge.metrics().last_origin_contact() {
                None => "no request sent yet".to_owned(),
                Some(contact) => format!(
                    "last answer {} ({} ms ago)",
                    contact.status_class,
                    contact.ago.as_millis()
                ),
            };
            vec![storage, Check::ok("origin", origin)]
        })
    }
}

/// Binds a listener, with the address in the error message.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// `revalidate edge`: opens the cache, binds, prints where it listens,
/// and serves until `shutdown`.
pub async fn run(
    config: EdgeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    config.validate()?;
    // SIGHUP and SIGUSR1 are handled only by a server that has something
    // to reload or reopen; otherwise they keep their default action.
    let signals = match config.tls.enabled() || config.access_log.enabled() {
        true => Some(OperatorSignals::install()?),
        false => None,
    };
    // Certificates and the log file first: a bad one is an error before
    // the cache is opened.
    let tls = match &signals {
        Some(signals) if config.tls.enabled() => Some(TlsListener::bind_with(&config.tls, signals).await?),
        _ => None,
    };
    let access_log = match config.access_log.enabled() {
        true => Some(AccessLog::open(&config.access_log, signals.as_ref())?),
        false => None,
    };
    let edge = open(&config).await?;
    let listener = bind(config.listen).await?;
    let admin = match config.admin.listen.addr() {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let addr = listener.local_addr()?;
    // The lines scripts and tests read to find the ports of `127.0.0.1:0`,
    // the public one first. One write, so that a reader that stops after
    // the first line has all of them in its buffer rather than leaving a
    // later `println!` to fail on a closed pipe.
    let mut lines = format!("revalidate: edge listening on http://{addr}\n");
    if let Some(tls) = &tls {
        lines += &format!("revalidate: edge listening on https://{}\n", tls.local_addr()?);
    }
    if let Some(admin) = &admin {
        lines += &format!(
            "revalidate: edge admin listening on http://{}\n",
            admin.local_addr()?
        );
    }
    print!("{lines}");
    tracing::info!(%addr, tls = ?tls.as_ref().and_then(|tls| tls.local_addr().ok()), admin = ?admin.as_ref().and_then(|admin| admin.local_addr().ok()), origins = ?config.pool().members(), disk = config.cache_dir.is_some(), "edge serving");
    serve_logged(
        listener,
        tls,
        admin,
        edge,
        config.listener(),
        access_log,
        shutdown,
    )
    .await?;
    Ok(())
}
