//! One connection of a TLS listener, as the guard serves it
//! ([`TlsConnection`]): the handshake, then hyper with the protocol ALPN
//! chose. The guard's timers and orders cover both stages: the handshake
//! has its deadline (see `guard::verdict`), a shutdown or an eviction
//! during it closes the connection at once, and a handshake that fails is
//! counted as such, not as a protocol error.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio_rustls::server::TlsStream;

use crate::conn::ConnState;
use crate::guard::Serving;
use crate::io::WatchedStream;
use crate::metrics::CloseReason;
use crate::protocol::Builders;
use crate::service::{GuardedBody, GuardedService, RequestBody};

type BoxError = Box<dyn StdError + Send + Sync>;

/// hyper's connection over a TLS stream, serving `G` (a
/// [`GuardedService`]).
type Http<G> = auto::Connection<'static, TokioIo<TlsStream<WatchedStream>>, G, TokioExecutor>;

pin_project_lite::pin_project! {
    /// A TLS connection: its handshake, then its HTTP, served by `G` (a
    /// [`GuardedService`]).
    pub(crate) struct TlsConnection<G>
    where
        G: HttpService<Incoming>,
    {
        #[pin]
        stage: Stage<G>,
        builders: Arc<Builders>,
        conn: Arc<ConnState>,
    }
}

pin_project_lite::pin_project! {
    #[project = StageProjection]
    enum Stage<G>
    where
        G: HttpService<Incoming>,
    {
        Handshake {
            #[pin]
            accept: tokio_rustls::Accept<WatchedStream>,
            service: Option<G>,
            // Asked to close before it was up: it closes instead of serving.
            stop: bool,
        },
        Http {
            #[pin]
            connection: Http<G>,
        },
    }
}

impl<G: HttpService<Incoming>> TlsConnection<G> {
    pub(crate) fn new(
        accept: tokio_rustls::Accept<WatchedStream>,
        service: G,
        builders: Arc<Builders>,
        conn: Arc<ConnState>,
    ) -> Self {
        Self {
            stage: Stage::Handshake {
                accept,
                service: Some(service),
                stop: false,
            },
            builders,
            conn,
        }
    }
}

impl<S, B> Future for TlsConnection<GuardedService<S>>
where
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    GuardedBody<B>: Body<Data = B::Data, Error = B::Error>,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProjection::Handshake {
                    accept,
                    service,
                    stop,
                } => {
                    if *stop {
                        return Poll::Ready(Ok(()));
                    }
                    let tls = ready!(accept.poll(cx))?;
                    this.conn.handshake_done();
                    let Some(service) = service.take() else {
                        return Poll::Ready(Ok(()));
                    };
                    // RFC 7301 §3.2: the protocol the server selected.
                    let builder = this.builders.for_alpn(tls.get_ref().1.alpn_protocol());
                    let connection = builder.serve_connection(TokioIo::new(tls), service).into_owned();
                    this.stage.set(Stage::Http { connection });
                }
                StageProjection::Http { connection } => return connection.poll(cx),
            }
        }
    }
}

impl<S, B> Serving for TlsConnection<GuardedService<S>>
where
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    GuardedBody<B>: Body<Data = B::Data, Error = B::Error>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        match self.project().stage.project() {
            StageProjection::Handshake { stop, .. } => *stop = true,
            StageProjection::Http { connection } => auto::Connection::graceful_shutdown(connection),
        }
    }

    fn failure_reason(&self) -> CloseReason {
        match self.stage {
            Stage::Handshake { .. } => CloseReason::TlsHandshakeFailed,
            Stage::Http { .. } => CloseReason::Error,
        }
    }
}
