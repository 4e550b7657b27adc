//! TLS for the front door: a second listener whose connections do a TLS
//! 1.3 or 1.2 handshake (rustls, [RFC 8446], [RFC 5246]) before HTTP,
//! with ALPN offering `h2` then `http/1.1` ([RFC 7301]), so HTTP/2 and
//! HTTP/1.1 share one port. The cleartext listener and its hot path are
//! untouched: this code runs only for connections accepted on a TLS
//! listener.
//!
//! - `settings`: the `[tls]` section ([`TlsSettings`]), validated pure;
//! - `certs`: one PEM chain and key read and checked ([`CertError`]);
//! - `store`: the certificates in force, chosen by SNI, swapped whole by a
//!   reload ([`CertStore`]);
//! - `serving`: one connection, its handshake then its HTTP, under the
//!   guard's timers.
//!
//! [`TlsListener::bind`] reads the certificates (a bad one is a start-up
//! error), binds, and starts reloading them on `SIGHUP` and on file
//! changes ([`crate::reload`]).
//!
//! [RFC 8446]: https://www.rfc-editor.org/rfc/rfc8446
//! [RFC 5246]: https://www.rfc-editor.org/rfc/rfc5246
//! [RFC 7301]: https://www.rfc-editor.org/rfc/rfc7301

mod certs;
mod serving;
mod settings;
mod store;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};

pub use certs::CertError;
pub(crate) use serving::TlsConnection;
pub use settings::{CertificateSettings, TlsSettings};
pub use store::{CertStore, Reloaded};

use crate::reload::{self, Reload, ReloadRequests, Reloader};
use crate::signals::OperatorSignals;

/// Why a TLS listener cannot start. The causes are part of the message,
/// not sources, so that it prints as one line however it is printed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The `[tls]` section is inconsistent.
    #[error("invalid TLS settings: {0}")]
    Settings(String),
    /// A certificate or key cannot be used.
    #[error("TLS: {0}")]
    Certificate(CertError),
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Rustls(rustls::Error),
    /// The listener could not be bound, or the reload plumbing installed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<CertError> for TlsError {
    fn from(error: CertError) -> Self {
        Self::Certificate(error)
    }
}

impl From<rustls::Error> for TlsError {
    fn from(error: rustls::Error) -> Self {
        Self::Rustls(error)
    }
}

/// The protocols offered in ALPN, the server's preference first: a
/// client offering both gets HTTP/2.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A bound TLS listener with its certificates, ready for
/// [`crate::FrontDoor::with_tls`].
pub struct TlsListener {
    pub(crate) listener: TcpListener,
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) handshake_timeout_ms: u64,
    certificates: Arc<CertStore>,
    // Reloads the certificates for as long as the listener lives.
    _reloader: Reloader,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("listener", &self.listener)
            .field("handshake_timeout_ms", &self.handshake_timeout_ms)
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Binds `settings.listen` and sets up TLS on it; see
    /// [`TlsListener::new`].
    ///
    /// # Errors
    ///
    /// As [`TlsListener::new`], or the address cannot be bound.
    pub async fn bind(settings: &TlsSettings) -> Result<Self, TlsError> {
        Self::bind_with(settings, &OperatorSignals::install()?).await
    }

    /// [`TlsListener::bind`], reloading on the `SIGHUP`s of `signals`
    /// (the server's one set of operator signal handlers).
    ///
    /// # Errors
    ///
    /// As [`TlsListener::bind`].
    pub async fn bind_with(settings: &TlsSettings, signals: &OperatorSignals) -> Result<Self, TlsError> {
        let Some(addr) = settings.listen else {
            return Err(TlsError::Settings("tls.listen is not set".into()));
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        Self::new_with(listener, settings, signals)
    }

    /// TLS on `listener`: reads and checks every certificate of
    /// `settings`, and installs the `SIGHUP` handler
    /// ([`OperatorSignals::install`]) and (with
    /// `settings.watch`) the file watcher that reload them. Call it inside
    /// the runtime, before saying where the server listens.
    ///
    /// # Errors
    ///
    /// The settings are inconsistent, a certificate or key cannot be read
    /// or used (expired, not yet valid, not matching, not PEM), or the
    /// reload plumbing cannot be installed: one line each.
    pub fn new(listener: TcpListener, settings: &TlsSettings) -> Result<Self, TlsError> {
        Self::new_with(listener, settings, &OperatorSignals::install()?)
    }

    /// [`TlsListener::new`], reloading on the `SIGHUP`s of `signals`.
    ///
    /// # Errors
    ///
    /// As [`TlsListener::new`].
    pub fn new_with(
        listener: TcpListener,
        settings: &TlsSettings,
        signals: &OperatorSignals,
    ) -> Result<Self, TlsError> {
        settings.validate().map_err(TlsError::Settings)?;
        let certificates = Arc::new(CertStore::load(settings)?);
        let config = server_config(Arc::clone(&certificates))?;
        let watched = if settings.watch {
            settings.files()
        } else {
            Vec::new()
        };
        let requests = ReloadRequests::install(Some(signals), &watched, reload::DEBOUNCE)?;
        let reloader = reload::spawn_reloader(requests, Arc::clone(&certificates) as Arc<dyn Reload>);
        Ok(Self {
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshake_timeout_ms: settings.handshake_timeout_ms,
            certificates,
            _reloader: reloader,
        })
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The certificates in force (to reload them by hand).
    pub fn certificates(&self) -> &Arc<CertStore> {
        &self.certificates
    }

    pub(crate) async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.listener.accept().await
    }
}

/// rustls's settings: TLS 1.3 and 1.2 with the aws-lc-rs provider's
/// default cipher suites, the certificate chosen per handshake by
/// `certificates`, ALPN `h2` and `http/1.1` (a client that offers ALPN
/// without either is refused with `no_application_protocol`, RFC 7301
/// §3.2), stateless session tickets (nginx's `ssl_session_tickets on`),
/// no 0-RTT data (it could be replayed, RFC 8446 §8).
fn server_config(certificates: Arc<CertStore>) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    config.max_early_data_size = 0;
    Ok(config)
}

impl Reload for CertStore {
    fn what(&self) -> &'static str {
        "TLS certificates"
    }

    fn reload(&self) -> Result<bool, String> {
        match CertStore::reload(self) {
            Ok(Reloaded::Changed) => Ok(true),
            Ok(Reloaded::Unchanged) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}
