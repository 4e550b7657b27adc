//! Listener, connections and graceful shutdown: the IO shell around
//! [`Edge`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::clock::SystemClock;
use crate::config::{ConfigError, EdgeConfig};
use crate::proxy::{Edge, EdgeSettings};
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
    /// A listener could not be bound, or serving failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Opens the storage a configuration asks for: memory only, or memory in
/// front of disk with `cache_dir`.
pub async fn open_storage(config: &EdgeConfig) -> Result<AnyStorage, StartError> {
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
    let settings: EdgeSettings = config.edge_settings()?;
    Ok(Edge::new(settings, storage, Arc::new(SystemClock)))
}

/// Serves `edge` on `listener` until `shutdown` resolves; then stops
/// accepting, lets requests in flight finish and closes the storage.
/// A request head above `max_header_bytes` gets `431` from hyper.
pub async fn serve(
    listener: TcpListener,
    edge: Edge,
    max_header_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // hyper answers a head that does not fit with 431 (RFC 6585 §5).
    builder
        .http1()
        .max_buf_size(max_header_bytes.max(8192))
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let edge = edge.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let edge = edge.clone();
            async move { Ok::<_, Infallible>(edge.handle_from(request, Some(peer)).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    if let Err(e) = edge.storage().close().await {
        tracing::warn!(error = %e, "could not close the cache storage cleanly");
    }
    Ok(())
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
    let edge = open(&config).await?;
    let listener = bind(config.listen).await?;
    let addr = listener.local_addr()?;
    // The one line scripts and tests read to find the port of `--listen 127.0.0.1:0`.
    println!("revalidate: edge listening on http://{addr}");
    tracing::info!(%addr, origin = %config.origin, disk = config.cache_dir.is_some(), "edge serving");
    serve(listener, edge, config.max_header_bytes, shutdown).await?;
    Ok(())
}
