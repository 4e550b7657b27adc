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
use revalidate_listener::reload::{ReloadRequests, spawn_reloader};
use revalidate_listener::{
    AccessLog, AdminServer, AdminTarget, Check, FrontDoor, Health, ListenerConfig, OperatorSignals, Peer,
    RequestBody, TlsListener,
};
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, EdgeConfig};
use crate::entry::DecodedEntry;
use crate::proxy::Edge;
use crate::sites::Sites;
use crate::sites::reload::{ConfigReload, NewSites, ReadConfig};
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

/// The edge a configuration describes (its sites over one storage), on
/// the system clock.
pub async fn open(config: &EdgeConfig) -> Result<Sites, StartError> {
    config.validate()?;
    let storage = open_storage(config).await?;
    Ok(crate::sites::config::open(
        config,
        storage,
        Arc::new(SystemClock),
    )?)
}

/// Serves `edge` on `listener` with the default connection limits and
/// `max_header_bytes` until `shutdown` resolves; see [`EdgeServer`] for
/// the rest.
pub async fn serve(
    listener: TcpListener,
    edge: impl Into<Sites>,
    max_header_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let front_door = ListenerConfig {
        max_header_bytes,
        ..ListenerConfig::default()
    };
    EdgeServer::new(listener, edge)
        .front_door(front_door)
        .serve(shutdown)
        .await
}

/// The edge's listeners, set up one piece at a time: the public one (and
/// its front door's limits), a TLS one, the admin one, an access log.
/// [`EdgeServer::serve`] serves until shutdown.
#[must_use = "an EdgeServer does nothing until served"]
pub struct EdgeServer {
    listener: TcpListener,
    sites: Sites,
    front_door: ListenerConfig,
    tls: Option<TlsListener>,
    admin: Option<TcpListener>,
    access_log: Option<AccessLog>,
}

impl EdgeServer {
    /// `edge` (one site, or [`Sites`]) on `listener`, with the default
    /// front door and nothing else.
    pub fn new(listener: TcpListener, edge: impl Into<Sites>) -> Self {
        Self {
            listener,
            sites: edge.into(),
            front_door: ListenerConfig::default(),
            tls: None,
            admin: None,
            access_log: None,
        }
    }

    /// The front door's limits ([`revalidate_listener::FrontDoor`]: header,
    /// idle and send timeouts, the connection cap, lingering close,
    /// counted in `revalidate_edge_connections_*`); a request head above
    /// `max_header_bytes` gets `431` from hyper.
    pub fn front_door(mut self, front_door: ListenerConfig) -> Self {
        self.front_door = front_door;
        self
    }

    /// The same sites on `tls` too (HTTP/2 and HTTP/1.1 by ALPN, see
    /// [`revalidate_listener::tls`]), under the same connection cap and
    /// counters; requests that came over TLS reach the origin with
    /// `X-Forwarded-Proto: https`.
    pub fn tls(mut self, tls: Option<TlsListener>) -> Self {
        self.tls = tls;
        self
    }

    /// The admin endpoints on `admin` (with the front door's limits; see
    /// [`revalidate_listener::admin`]): `/healthz` answers `503` from the
    /// moment shutdown begins until the public listener has drained, then
    /// the admin listener stops too.
    pub fn admin(mut self, admin: Option<TcpListener>) -> Self {
        self.admin = admin;
        self
    }

    /// Each request logged to `access_log` (with the cache status and the
    /// origin's status and time), written out when serving ends.
    pub fn access_log(mut self, access_log: Option<AccessLog>) -> Self {
        self.access_log = access_log;
        self
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets
    /// requests in flight finish and closes the storage.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let EdgeServer {
            listener,
            sites,
            front_door,
            tls,
            admin,
            access_log,
        } = self;
        let sites = sites.with_upstream_in_responses(access_log.is_some());
        let health = Health::new();
        let admin = admin.map(|admin| {
            let target = Arc::new(EdgeAdmin { sites: sites.clone() });
            AdminServer::spawn(admin, front_door, target, health.clone())
        });
        sites.registry().spawn_upkeep();
        // Each site's active health checks (its pool's `[health]`),
        // restarted with the sites on a reload, stopped below.
        sites.start_health_checks();
        let shutdown = health.drain_on(shutdown);
        let serving = sites.clone();
        let make_service = move |peer: Peer| {
            let sites = serving.clone();
            let (addr, tls): (SocketAddr, bool) = (peer.addr, peer.tls);
            hyper::service::service_fn(move |request: Request<RequestBody>| {
                sites.respond(request, Some(addr), tls)
            })
        };
        let mut door = FrontDoor::new(listener, front_door)
            .with_metrics(sites.registry().connection_metrics())
            // A client's request may hold a connection to the origin as well.
            .with_fds_per_connection(2);
        if let Some(tls) = tls {
            door = door.with_tls(tls);
        }
        if let Some(log) = access_log {
            door = door.with_access_log(log);
        }
        let served = door.serve_peers(make_service, shutdown).await;
        sites.stop_health_checks().await;
        // The public listener has drained: the admin listener stops too.
        if let Some(admin) = admin
            && let Err(e) = admin.stop().await
        {
            tracing::warn!(error = %e, "the admin listener failed");
        }
        if let Err(e) = sites.storage().close().await {
            tracing::warn!(error = %e, "could not close the cache storage cleanly");
        }
        served
    }
}

/// What the edge shows on its admin listener.
struct EdgeAdmin {
    sites: Sites,
}

impl AdminTarget for EdgeAdmin {
    fn metrics(&self) -> String {
        self.sites.render_metrics()
    }

    /// The storage answers (its statistics are read); the origin's last
    /// answer is reported but never fails readiness (see the config docs:
    /// an origin down would take every edge of a pool out at once, while
    /// each still serves what it holds).
    fn readiness(&self, _budget: Duration) -> ChecksFuture<'_> {
        Box::pin(async move {
            let stats = self.sites.storage().stats();
            let storage = Check::ok(
                "storage",
                format!(
                    "ok: {} objects, {} bytes in memory",
                    stats.memory_entries, stats.memory_bytes
                ),
            );
            let table = self.sites.table();
            let contact = |edge: &Edge| match edge.metrics().last_origin_contact() {
                None => "no request sent yet".to_owned(),
                Some(contact) => format!(
                    "last answer {} ({} ms ago)",
                    contact.status_class,
                    contact.ago.as_millis()
                ),
            };
            // One check for every site's origin: each check name appears once.
            let origin = match table.sites() {
                [site] => contact(site.edge()),
                sites => sites
                    .iter()
                    .map(|site| format!("{}: {}", site.edge().site(), contact(site.edge())))
                    .collect::<Vec<_>>()
                    .join("; "),
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
    run_reloadable(config, None, shutdown).await
}

/// [`run`], and with `read` the configuration is read again with it and
/// put in force on each `SIGHUP` ([`crate::sites::reload`]).
pub async fn run_reloadable(
    config: EdgeConfig,
    read: Option<ReadConfig>,
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
    // the cache is opened.
    let tls = match &signals {
        Some(signals) if config.tls.enabled() => Some(TlsListener::bind_with(&config.tls, signals).await?),
        _ => None,
    };
    let access_log = match config.access_log.enabled() {
        true => Some(AccessLog::open(&config.access_log, signals.as_ref())?),
        false => None,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sites = crate::sites::config::open(&config, open_storage(&config).await?, Arc::clone(&clock))?;
    // Answers SIGHUP until serving ends (dropped with this function).
    let _reloader = match (read, &signals) {
        (Some(read), Some(signals)) => {
            let requests =
                ReloadRequests::install(Some(signals), &[], revalidate_listener::reload::DEBOUNCE)?;
            let target = Arc::new(ConfigReload::new(
                config.clone(),
                read,
                NewSites::new(sites.clone(), clock),
            ));
            Some(spawn_reloader(requests, target))
        }
        _ => None,
    };
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
    tracing::info!(%addr, tls = ?tls.as_ref().and_then(|tls| tls.local_addr().ok()), admin = ?admin.as_ref().and_then(|admin| admin.local_addr().ok()), sites = config.sites.len().max(1), origin = %config.origin, disk = config.cache_dir.is_some(), "edge serving");
    EdgeServer::new(listener, sites)
        .front_door(config.listener())
        .tls(tls)
        .admin(admin)
        .access_log(access_log)
        .serve(shutdown)
        .await?;
    Ok(())
}
